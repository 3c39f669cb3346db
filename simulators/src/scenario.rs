//! Scenarios: timed sequences of plant events and communication faults.
//!
//! Built-in scenarios are named (`--scenario NAME`); users write their own as
//! TOML (`--scenario-file FILE`):
//!
//! ```toml
//! name = "rollover and a trip"      # optional, for logs
//! base = "normal"                   # optional built-in whose events come first
//! totaliser_start_t = 4294900.0     # optional belt-scale totaliser start value, wet t
//!
//! [[event]]
//! kind = "crusher_trip"             # crusher_trip | mill_stop | low_grade | analyser_fault
//!                                   # | comms_fault | totaliser_set
//! offset = "2h"                     # plant time after --start, or instead:
//! # at = "2026-03-01T09:00:00-05:00"  (absolute plant time)
//! duration = "6h"                   # required except for totaliser_set
//! # repeat_every = "24h"            # optional: the event recurs
//!
//! [[event]]
//! kind = "comms_fault"
//! offset = "30m"
//! duration = "10m"
//! plc = "grinding"                  # which listener
//! mode = "slow"                     # silent | slow | exception | disconnect
//! delay_ms = 1500                   # slow: wall-clock delay before each answer
//! # exception = 6                   # exception: the code returned (default 6, busy)
//! ```
//!
//! Other parameters: `low_grade` takes `ag_gpt`, `pb_pct`, `zn_pct` (default
//! 190 g/t, 1.25 %, 2.3 %); `analyser_fault` takes `freeze` (how long results
//! stay frozen before going out of range; default half the duration);
//! `totaliser_set` takes `value_t`. Durations use "90s", "15m", "2h", "1h30m"
//! or ISO 8601 ("PT2H"). Comms-fault delays are wall-clock milliseconds,
//! because client timeouts are.

use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::model::{AnalyserMode, Disturbances, Grade};

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("unknown scenario {name:?} (built-in: {})", BUILTIN.join(", "))]
    UnknownName { name: String },
    #[error("cannot read scenario file {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("scenario file {}: {error}", path.display())]
    Parse {
        path: PathBuf,
        error: toml::de::Error,
    },
    #[error("scenario event {index} ({kind}): {reason}")]
    Invalid {
        index: usize,
        kind: String,
        reason: String,
    },
}

/// Names accepted by `--scenario`.
pub const BUILTIN: [&str; 6] = [
    "normal",
    "crusher_trip",
    "mill_stop",
    "low_grade",
    "analyser_fault",
    "comms_faults",
];

/// How a PLC misbehaves on the wire during a comms fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommsMode {
    /// Requests are read and never answered (clients time out).
    Silent,
    /// Every answer is delayed by this many wall-clock milliseconds.
    Slow { delay_ms: u64 },
    /// Every request is answered with this exception code.
    Exception { code: u8 },
    /// Connections are closed and new ones refused.
    Disconnect,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    CrusherTrip,
    MillStop,
    LowGrade(Grade),
    AnalyserFault { freeze: SignedDuration },
    CommsFault { plc: String, mode: CommsMode },
    TotaliserSet { value_t: f64 },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::CrusherTrip => "crusher_trip",
            EventKind::MillStop => "mill_stop",
            EventKind::LowGrade(_) => "low_grade",
            EventKind::AnalyserFault { .. } => "analyser_fault",
            EventKind::CommsFault { .. } => "comms_fault",
            EventKind::TotaliserSet { .. } => "totaliser_set",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    /// Plant time after the simulation start.
    Offset(SignedDuration),
    At(Timestamp),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub when: When,
    /// Zero for one-shot events (totaliser_set).
    pub duration: SignedDuration,
    pub repeat_every: Option<SignedDuration>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scenario {
    pub name: String,
    pub events: Vec<Event>,
    /// Belt-scale totaliser value at the start, wet tonnes.
    pub totaliser_start_t: Option<f64>,
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn at_offset(kind: EventKind, offset: SignedDuration, duration: SignedDuration) -> Event {
    Event {
        kind,
        when: When::Offset(offset),
        duration,
        repeat_every: None,
    }
}

pub const LOW_GRADE: Grade = Grade {
    ag_gpt: 190.0,
    pb_pct: 1.25,
    zn_pct: 2.3,
};

impl Scenario {
    pub fn normal() -> Scenario {
        Scenario {
            name: "normal".into(),
            ..Scenario::default()
        }
    }

    pub fn builtin(name: &str) -> Result<Scenario, ScenarioError> {
        let events = match name {
            "normal" => vec![],
            // Long enough for the mill to empty the bin and stop.
            "crusher_trip" => vec![at_offset(EventKind::CrusherTrip, hours(1), hours(20))],
            "mill_stop" => vec![at_offset(EventKind::MillStop, hours(2), hours(8))],
            // One 12-hour shift mining a low-grade stope.
            "low_grade" => vec![at_offset(
                EventKind::LowGrade(LOW_GRADE),
                hours(2),
                hours(12),
            )],
            "analyser_fault" => vec![at_offset(
                EventKind::AnalyserFault { freeze: hours(1) },
                hours(1),
                hours(3),
            )],
            "comms_faults" => {
                let fault = |plc: &str, mode, start, len| Event {
                    kind: EventKind::CommsFault {
                        plc: plc.into(),
                        mode,
                    },
                    when: When::Offset(mins(start)),
                    duration: mins(len),
                    repeat_every: Some(hours(1)),
                };
                vec![
                    fault("grinding", CommsMode::Silent, 5, 10),
                    fault("flotation", CommsMode::Slow { delay_ms: 1500 }, 20, 10),
                    fault("crushing", CommsMode::Exception { code: 6 }, 35, 10),
                    fault("grinding", CommsMode::Disconnect, 50, 5),
                ]
            }
            other => {
                return Err(ScenarioError::UnknownName {
                    name: other.to_string(),
                })
            }
        };
        Ok(Scenario {
            name: name.to_string(),
            events,
            totaliser_start_t: None,
        })
    }

    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let raw: ScenarioFile = toml::from_str(&text).map_err(|error| ScenarioError::Parse {
            path: path.to_path_buf(),
            error,
        })?;
        let mut scenario = match &raw.base {
            Some(base) => Scenario::builtin(base)?,
            None => Scenario::normal(),
        };
        scenario.name = raw
            .name
            .clone()
            .unwrap_or_else(|| path.display().to_string());
        scenario.totaliser_start_t = raw.totaliser_start_t;
        if let Some(t) = raw.totaliser_start_t {
            if !(t.is_finite() && t >= 0.0) {
                return Err(ScenarioError::Invalid {
                    index: 0,
                    kind: "totaliser_start_t".into(),
                    reason: format!("must be a finite number >= 0, got {t}"),
                });
            }
        }
        for (i, e) in raw.event.into_iter().enumerate() {
            scenario.events.push(e.validate(i + 1)?);
        }
        Ok(scenario)
    }

    /// Fix every event to absolute plant seconds, relative to the model start.
    pub fn resolve(&self, start: Timestamp) -> Timeline {
        let t0 = start.as_second();
        let events = self
            .events
            .iter()
            .map(|e| ResolvedEvent {
                kind: e.kind.clone(),
                start_s: match e.when {
                    When::Offset(d) => t0.saturating_add(d.as_secs()),
                    When::At(ts) => ts.as_second(),
                },
                duration_s: e.duration.as_secs().max(0),
                period_s: e.repeat_every.map(|p| p.as_secs()).filter(|p| *p > 0),
            })
            .collect();
        Timeline { events }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: Option<String>,
    base: Option<String>,
    totaliser_start_t: Option<f64>,
    #[serde(default)]
    event: Vec<EventFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFile {
    kind: String,
    offset: Option<String>,
    at: Option<String>,
    duration: Option<String>,
    repeat_every: Option<String>,
    plc: Option<String>,
    mode: Option<String>,
    delay_ms: Option<u64>,
    exception: Option<u8>,
    ag_gpt: Option<f64>,
    pb_pct: Option<f64>,
    zn_pct: Option<f64>,
    freeze: Option<String>,
    value_t: Option<f64>,
}

impl EventFile {
    fn validate(self, index: usize) -> Result<Event, ScenarioError> {
        let kind_name = self.kind.clone();
        let bad = |reason: String| ScenarioError::Invalid {
            index,
            kind: kind_name.clone(),
            reason,
        };
        let duration_of = |key: &str, s: &str| -> Result<SignedDuration, ScenarioError> {
            let d: SignedDuration = s.parse().map_err(|e| bad(format!("{key} = {s:?}: {e}")))?;
            if d.is_negative() {
                return Err(bad(format!("{key} = {s:?} is negative")));
            }
            Ok(d)
        };
        let when = match (&self.offset, &self.at) {
            (Some(o), None) => When::Offset(duration_of("offset", o)?),
            (None, Some(a)) => When::At(
                a.parse()
                    .map_err(|e| bad(format!("at = {a:?} is not an RFC 3339 time: {e}")))?,
            ),
            _ => return Err(bad("give exactly one of `offset` or `at`".into())),
        };
        let repeat_every = match &self.repeat_every {
            Some(r) => {
                let d = duration_of("repeat_every", r)?;
                if d.is_zero() {
                    return Err(bad("repeat_every must be longer than 0".into()));
                }
                Some(d)
            }
            None => None,
        };
        let duration = match (&self.duration, self.kind.as_str()) {
            (_, "totaliser_set") => SignedDuration::ZERO,
            (Some(d), _) => duration_of("duration", d)?,
            (None, _) => return Err(bad("`duration` is required".into())),
        };
        let kind = match self.kind.as_str() {
            "crusher_trip" => EventKind::CrusherTrip,
            "mill_stop" => EventKind::MillStop,
            "low_grade" => {
                let grade = Grade {
                    ag_gpt: self.ag_gpt.unwrap_or(LOW_GRADE.ag_gpt),
                    pb_pct: self.pb_pct.unwrap_or(LOW_GRADE.pb_pct),
                    zn_pct: self.zn_pct.unwrap_or(LOW_GRADE.zn_pct),
                };
                let ok = |v: f64| v.is_finite() && v > 0.0;
                if !(ok(grade.ag_gpt) && ok(grade.pb_pct) && ok(grade.zn_pct)) {
                    return Err(bad("grades must be finite and > 0".into()));
                }
                EventKind::LowGrade(grade)
            }
            "analyser_fault" => {
                let freeze = match &self.freeze {
                    Some(f) => duration_of("freeze", f)?,
                    None => duration / 2,
                };
                EventKind::AnalyserFault { freeze }
            }
            "comms_fault" => {
                let plc = self
                    .plc
                    .clone()
                    .ok_or_else(|| bad("`plc` is required".into()))?;
                let mode = match self.mode.as_deref() {
                    Some("silent") => CommsMode::Silent,
                    Some("slow") => CommsMode::Slow {
                        delay_ms: self
                            .delay_ms
                            .ok_or_else(|| bad("mode \"slow\" needs `delay_ms`".into()))?,
                    },
                    Some("exception") => {
                        let code = self.exception.unwrap_or(6);
                        if code == 0 || code >= 0x80 {
                            return Err(bad(format!("exception code {code} is not 1..=127")));
                        }
                        CommsMode::Exception { code }
                    }
                    Some("disconnect") => CommsMode::Disconnect,
                    Some(other) => {
                        return Err(bad(format!(
                            "mode {other:?} is not silent, slow, exception or disconnect"
                        )))
                    }
                    None => return Err(bad("`mode` is required".into())),
                };
                EventKind::CommsFault { plc, mode }
            }
            "totaliser_set" => {
                let value_t = self
                    .value_t
                    .ok_or_else(|| bad("`value_t` is required".into()))?;
                if !(value_t.is_finite() && value_t >= 0.0) {
                    return Err(bad(format!("value_t must be >= 0, got {value_t}")));
                }
                EventKind::TotaliserSet { value_t }
            }
            other => {
                return Err(bad(format!(
                    "unknown kind {other:?} (crusher_trip, mill_stop, low_grade, analyser_fault, \
                     comms_fault, totaliser_set)"
                )))
            }
        };
        Ok(Event {
            kind,
            when,
            duration,
            repeat_every,
        })
    }
}

#[derive(Debug, Clone)]
struct ResolvedEvent {
    kind: EventKind,
    start_s: i64,
    duration_s: i64,
    period_s: Option<i64>,
}

impl ResolvedEvent {
    /// Seconds into the current occurrence, if one is under way at `t`.
    fn phase(&self, t: i64) -> Option<i64> {
        if t < self.start_s {
            return None;
        }
        let since = t - self.start_s;
        let into = match self.period_s {
            Some(p) => since % p,
            None => since,
        };
        (into < self.duration_s).then_some(into)
    }

    /// One-shot events fire on the step that starts at their time.
    fn fires_at(&self, t: i64) -> bool {
        if t < self.start_s {
            return false;
        }
        match self.period_s {
            Some(p) => (t - self.start_s) % p == 0,
            None => t == self.start_s,
        }
    }
}

/// A scenario pinned to plant time.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    events: Vec<ResolvedEvent>,
}

impl Timeline {
    /// What the process feels during the step starting at plant second `t`.
    pub fn disturbances(&self, t: i64) -> Disturbances {
        let mut d = Disturbances::default();
        for e in &self.events {
            let Some(phase) = e.phase(t) else { continue };
            match &e.kind {
                EventKind::CrusherTrip => d.crusher_trip = true,
                EventKind::MillStop => d.mill_stop = true,
                EventKind::LowGrade(g) => d.grade = Some(*g),
                EventKind::AnalyserFault { freeze } => {
                    d.analyser = if phase < freeze.as_secs() {
                        AnalyserMode::Frozen
                    } else {
                        AnalyserMode::OutOfRange
                    }
                }
                EventKind::CommsFault { .. } | EventKind::TotaliserSet { .. } => {}
            }
        }
        d
    }

    /// The totaliser value to load at plant second `t`, if an event says so.
    pub fn totaliser_set(&self, t: i64) -> Option<f64> {
        self.events.iter().rev().find_map(|e| match e.kind {
            EventKind::TotaliserSet { value_t } if e.fires_at(t) => Some(value_t),
            _ => None,
        })
    }

    /// The comms fault in force on `plc` at plant second `t` (the latest
    /// listed wins when several overlap).
    pub fn comms_fault(&self, plc: &str, t: i64) -> Option<CommsMode> {
        self.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::CommsFault { plc: p, mode } if p == plc && e.phase(t).is_some() => {
                Some(*mode)
            }
            _ => None,
        })
    }

    /// PLC names that comms faults refer to.
    pub fn comms_targets(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::CommsFault { plc, .. } => Some(plc.as_str()),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Timestamp {
        "2026-03-01T12:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn every_builtin_name_resolves() {
        for name in BUILTIN {
            assert!(Scenario::builtin(name).is_ok(), "{name}");
        }
        assert!(matches!(
            Scenario::builtin("nope"),
            Err(ScenarioError::UnknownName { .. })
        ));
    }

    #[test]
    fn analyser_fault_freezes_then_goes_out_of_range() {
        let tl = Scenario::builtin("analyser_fault")
            .map(|s| s.resolve(t0()))
            .unwrap_or_default();
        let s0 = t0().as_second();
        assert_eq!(tl.disturbances(s0 + 1800).analyser, AnalyserMode::Normal);
        assert_eq!(tl.disturbances(s0 + 5400).analyser, AnalyserMode::Frozen);
        assert_eq!(
            tl.disturbances(s0 + 9000).analyser,
            AnalyserMode::OutOfRange
        );
        assert_eq!(tl.disturbances(s0 + 15000).analyser, AnalyserMode::Normal);
    }

    #[test]
    fn comms_faults_repeat_hourly() {
        let tl = Scenario::builtin("comms_faults")
            .map(|s| s.resolve(t0()))
            .unwrap_or_default();
        let s0 = t0().as_second();
        for hour in [0, 1, 5] {
            let base = s0 + hour * 3600;
            assert_eq!(
                tl.comms_fault("grinding", base + 6 * 60),
                Some(CommsMode::Silent)
            );
            assert_eq!(
                tl.comms_fault("crushing", base + 40 * 60),
                Some(CommsMode::Exception { code: 6 })
            );
            assert_eq!(tl.comms_fault("crushing", base + 50 * 60), None);
        }
    }

    #[test]
    fn file_format_parses_and_reports_errors_by_event() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("tempdir") };
        let path = dir.path().join("s.toml");
        let good = r#"
            name = "rollover"
            totaliser_start_t = 4294960.0
            [[event]]
            kind = "totaliser_set"
            offset = "2h"
            value_t = 4294900.5
            [[event]]
            kind = "comms_fault"
            at = "2026-03-01T08:00:00-05:00"
            duration = "15m"
            plc = "flotation"
            mode = "exception"
            exception = 4
        "#;
        std::fs::write(&path, good).ok();
        let s = Scenario::from_file(&path);
        assert!(s.is_ok(), "{s:?}");
        let s = s.unwrap_or_default();
        assert_eq!(s.totaliser_start_t, Some(4294960.0));
        let tl = s.resolve(t0());
        assert_eq!(tl.totaliser_set(t0().as_second() + 7200), Some(4294900.5));
        assert_eq!(
            tl.comms_fault("flotation", t0().as_second() + 3600 + 60),
            Some(CommsMode::Exception { code: 4 })
        );

        std::fs::write(&path, "[[event]]\nkind = \"mill_stop\"\noffset = \"1h\"\n").ok();
        let err = Scenario::from_file(&path)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("event 1 (mill_stop)") && err.contains("duration"),
            "{err}"
        );

        std::fs::write(
            &path,
            "[[event]]\nkind = \"x\"\noffset = \"1h\"\nbogus = 1\n",
        )
        .ok();
        let err = Scenario::from_file(&path)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus"), "{err}");
    }
}
