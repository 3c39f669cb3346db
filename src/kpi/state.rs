//! What the KPI engine keeps across restarts, and how it is stored.
//!
//! The state is the engine's complete memory (per-tag last values, the open
//! days' accumulators, year-to-date ounces, the last totaliser reading), so
//! an engine rebuilt from it continues exactly where the saved one was: the
//! totaliser delta across the downtime is booked once, when the first
//! reading after the restart arrives. A kill -9 loses only what happened
//! since the last save, and for tonnage not even that (the totaliser kept
//! counting).
//!
//! On disk: pretty JSON, written to a temp file beside the target, fsynced,
//! renamed over the target, then the directory fsynced, so a crash leaves
//! either the old or the new file, never a torn one.
use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::accum::DayAccum;
use super::date_serde::{date_format, opt_date_format};
use super::track::Track;
use super::KpiError;

pub const STATE_VERSION: u32 = 1;

/// The persisted KPI state (versioned).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiState {
    pub version: u32,
    /// Time zone, day start and year start the days were cut with; a state
    /// cut with another calendar keeps its tag memory but not its days.
    pub calendar: String,
    pub(crate) engine: EngineState,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct EngineState {
    /// Keyed by tag path (`equipment.name`).
    pub tracks: BTreeMap<String, Track>,
    /// Open production days, oldest first.
    pub days: Vec<DayAccum>,
    #[serde(with = "opt_date_format")]
    pub closed_through: Option<Date>,
    /// Set while the totaliser is bad and the rate stands in for it.
    pub outage: Option<Outage>,
    pub ytd: Option<Ytd>,
    /// First reading ever seen: the start of the year-to-date pace window
    /// when the gateway was installed mid-year.
    pub first_seen_ms: Option<i64>,
    pub last_moisture: Option<f64>,
    /// Every wet tonne ever booked (net of settled provisional tonnes); its
    /// difference between rows gives the throughput.
    pub lifetime_wet_t: f64,
    /// Tonnage has been booked up to this instant.
    pub tonnes_until_ms: Option<i64>,
    /// Where recent `kpi` rows were taken, oldest first, reaching just
    /// over one plant-hour back: the live throughput is the rate over it.
    #[serde(default)]
    pub row_marks: VecDeque<RowMark>,
    pub next_row_ms: Option<i64>,
    /// Ounces of the last (up to [`PACE_DAYS`]) closed days, oldest first:
    /// the pace to the year target.
    #[serde(default)]
    pub recent_oz: VecDeque<f64>,
}

/// Closed days the ounce pace averages over.
pub const PACE_DAYS: usize = 7;

/// A totaliser outage in progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Outage {
    /// Provisional wet tonnes already frozen into days that closed during
    /// the outage (they cannot be restated).
    pub closed_wet_t: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ytd {
    /// First production day of the metallurgical year.
    #[serde(with = "date_format")]
    pub year: Date,
    /// Ounces of the year's closed days.
    pub closed_oz: f64,
}

/// Where a `kpi` row was taken, for later rows' throughput.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct RowMark {
    pub lifetime_wet_t: f64,
    pub tonnes_until_ms: Option<i64>,
}

/// Writes the state atomically (temp file, fsync, rename, fsync dir).
pub fn save_state(path: &Path, state: &KpiState) -> Result<(), KpiError> {
    let io = |source| KpiError::StateIo {
        path: path.to_path_buf(),
        source,
    };
    let body = serde_json::to_vec_pretty(state).map_err(|source| KpiError::StateFormat {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(io)?;
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "kpi-state".into());
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    fs::rename(&tmp, path).map_err(io)?;
    sync_dir(&dir).map_err(io)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    // Directory handles cannot be fsynced portably; the rename is atomic.
    Ok(())
}

/// Reads a saved state. A missing file is `Ok(None)` (first start).
pub fn load_state(path: &Path) -> Result<Option<KpiState>, KpiError> {
    let body = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(KpiError::StateIo {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    // Read the version first so a newer format gets a clear error rather
    // than a serde message about a missing field.
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let v: Version = serde_json::from_slice(&body).map_err(|source| KpiError::StateFormat {
        path: path.to_path_buf(),
        source,
    })?;
    if v.version != STATE_VERSION {
        return Err(KpiError::StateVersion {
            path: path.to_path_buf(),
            found: v.version,
            expected: STATE_VERSION,
        });
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|source| KpiError::StateFormat {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn sample() -> KpiState {
        let mut engine = EngineState::default();
        engine.days.push(DayAccum::new(date(2026, 3, 1)));
        engine.closed_through = Some(date(2026, 2, 28));
        engine.tracks.insert(
            "mill_feed_belt.total_t".into(),
            Track {
                last_good: Some((1234.567, 42)),
                ..Track::default()
            },
        );
        KpiState {
            version: STATE_VERSION,
            calendar: "America/Lima 07:00 01-01".into(),
            engine,
        }
    }

    #[test]
    fn save_then_load_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("kpi-state.json");
        assert_eq!(load_state(&path).unwrap(), None);
        save_state(&path, &sample()).unwrap();
        save_state(&path, &sample()).unwrap();
        assert_eq!(load_state(&path).unwrap(), Some(sample()));
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("kpi-state.json")]);
    }

    #[test]
    fn wrong_version_and_garbage_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, br#"{"version": 99, "calendar": "x"}"#).unwrap();
        assert!(matches!(
            load_state(&path),
            Err(KpiError::StateVersion { found: 99, .. })
        ));
        fs::write(&path, b"{ torn").unwrap();
        assert!(matches!(
            load_state(&path),
            Err(KpiError::StateFormat { .. })
        ));
    }
}
