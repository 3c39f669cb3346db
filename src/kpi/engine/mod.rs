//! The KPI engine: pure, no I/O, time injected. Scans go in through
//! [`KpiEngine::observe`]; [`KpiEngine::tick`] closes finished production
//! days and emits `kpi` rows.
//!
//! One engine, three jobs, each in its own file:
//! - `booking`: samples into the day accumulators (the booking rules);
//! - `values`: the KPI fields computed from an accumulator (the
//!   projections);
//! - `close`: finished days into `kpi_daily` rows and the year to date.
//!
//! This file holds the engine's state, its configuration (roles taken from
//! the declared KPI inputs, [`crate::config::KPI_INPUTS`]) and the entry
//! points.
mod booking;
mod close;
mod values;

use std::collections::HashMap;
use std::time::Duration;

use super::day::Calendar;
use super::recovery::RecoveryMethod;
use super::report::KpiSnapshot;
use super::state::{EngineState, KpiState, STATE_VERSION};
use super::track::{HoldCap, Track};
use crate::config::{InputRole, Kpi, KpiInput, Moisture, Site};
use crate::sample::{Quality, Reading, Scan};
use crate::sink::influxdb::encoder::Point;

const HOUR_MS: f64 = 3_600_000.0;

/// How long restored open days wait for the first totaliser sample.
pub const RESTORE_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
struct Config {
    interval_ms: i64,
    target_tpd: f64,
    target_oz_year: f64,
    moisture: Moisture,
    totaliser: String,
    rollover: Option<f64>,
    rate: Option<String>,
    running_kw: f64,
    assays: Vec<(KpiInput, String)>,
    three_product: bool,
    reconcile: Option<crate::config::Reconcile>,
    /// Per tag path, what the engine does with it (from the declared KPI
    /// inputs; one tag may serve several).
    roles: HashMap<String, Vec<InputRole>>,
    /// Every configured path once, sorted: the good-data denominator.
    paths: Vec<String>,
}

pub struct KpiEngine {
    cal: Calendar,
    calendar_key: String,
    site: String,
    cfg: Config,
    hold: HoldCap,
    st: EngineState,
    last_method: Option<RecoveryMethod>,
    snapshot: Option<KpiSnapshot>,
    restore_wait: RestoreWait,
}

/// Whether restored open days still wait for the first totaliser sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RestoreWait {
    No,
    /// Waiting; since the first tick after the restore, once ticked.
    Waiting {
        since_ms: Option<i64>,
    },
}

impl KpiEngine {
    /// Builds the engine, continuing from `restored` when given.
    pub fn new(settings: &Kpi, site: &Site, restored: Option<KpiState>) -> Self {
        let cfg = Config::from_settings(settings);
        let (m, d) = settings.year_start;
        let calendar_key = format!(
            "{} {} {m:02}-{d:02}",
            site.timezone_name,
            settings.day_start.strftime("%H:%M")
        );
        let st = match restored {
            None => EngineState::default(),
            Some(s) => restore(s, &calendar_key, &cfg),
        };
        let restore_wait = if st.days.is_empty() {
            RestoreWait::No
        } else {
            tracing::info!(
                days = st.days.len(),
                "KPI: restored open days wait for the first totaliser reading before closing"
            );
            RestoreWait::Waiting { since_ms: None }
        };
        KpiEngine {
            cal: Calendar::new(
                site.timezone.clone(),
                settings.day_start,
                settings.year_start,
            ),
            calendar_key,
            site: site.name.to_string(),
            cfg,
            hold: HoldCap::Inferred,
            st,
            last_method: None,
            snapshot: None,
            restore_wait,
        }
    }

    /// Trust held values for a fixed time instead of 3 × the observed scan
    /// spacing (recompute uses this: stored series are deadbanded).
    pub fn with_hold_cap(mut self, cap: Duration) -> Self {
        self.hold = HoldCap::Fixed {
            ms: i64::try_from(cap.as_millis()).unwrap_or(i64::MAX),
        };
        self
    }

    /// Takes the configured KPI tags' readings from a scan. Only good,
    /// finite values count; anything else marks the tag bad from this scan.
    pub fn observe(&mut self, scan: &Scan) {
        let readings: Vec<(String, Option<f64>)> = scan
            .readings
            .iter()
            .filter_map(|r| {
                let path = r.tag.path();
                self.cfg
                    .roles
                    .contains_key(&path)
                    .then(|| (path, good_value(r)))
            })
            .collect();
        self.observe_values(scan.ts_ms, &readings);
    }

    /// One scan's worth of `(path, value)`; `None` is a bad-quality sample.
    /// Public so a day can be fed from plain values (replays, tests).
    pub fn observe_values(&mut self, ts_ms: i64, readings: &[(String, Option<f64>)]) {
        let readings: Vec<&(String, Option<f64>)> = readings
            .iter()
            .filter(|(p, _)| self.cfg.roles.contains_key(p))
            .collect();
        if readings.is_empty() {
            return;
        }
        if let Err(e) = self.cal.day_of(ts_ms) {
            tracing::warn!(ts_ms, error = %e, "KPI: scan timestamp outside the calendar, ignored");
            return;
        }
        self.st.first_seen_ms.get_or_insert(ts_ms);
        // Integrate what was held up to this scan before anything changes,
        // so the totaliser delta is booked with the assays and moisture
        // that were valid during the interval it covers.
        for (path, _) in &readings {
            match self.st.tracks.get_mut(path.as_str()) {
                Some(t) => t.seen(ts_ms),
                None => {
                    let mut t = Track::default();
                    t.seen(ts_ms);
                    self.st.tracks.insert(path.clone(), t);
                }
            }
            self.advance_track(path, ts_ms);
        }
        for (path, v) in &readings {
            if *path == self.cfg.totaliser {
                self.on_totaliser(ts_ms, *v);
                self.restore_wait = RestoreWait::No;
            }
        }
        for (path, v) in &readings {
            if let Some(t) = self.st.tracks.get_mut(path) {
                t.apply(ts_ms, *v);
            }
            if let (Some(v), Moisture::Tag(m)) = (v, &self.cfg.moisture) {
                if m == path {
                    self.st.last_moisture = Some(*v);
                }
            }
        }
    }

    /// Closes finished days (one `kpi_daily` point each) and, once per
    /// interval, emits the open day's `kpi` row and sets the gauges.
    ///
    /// A day closes once `now` is past its end and either tonnage has been
    /// booked past the end (the boundary delta is split) or one interval of
    /// grace has gone by (the totaliser is silent). Days restored from a
    /// state wait for the first totaliser sample first (module docs).
    pub fn tick(&mut self, now_ms: i64) -> Vec<Point> {
        let mut out = Vec::new();
        if let Err(e) = self.close_finished(now_ms, &mut out) {
            tracing::warn!(now_ms, error = %e, "KPI: cannot close production day");
        }
        let Ok(today) = self.cal.day_of(now_ms) else {
            return out;
        };
        let due = self
            .st
            .next_row_ms
            .is_none_or(|n| now_ms >= n || now_ms < n - 2 * self.cfg.interval_ms);
        if !due || self.open_day(today).is_none() {
            return out;
        }
        self.advance_all(now_ms);
        let Some(idx) = self.day_index(today) else {
            return out;
        };
        let kpi = self.live_values(idx, today, now_ms);
        let iv = self.cfg.interval_ms;
        self.st.next_row_ms = Some((now_ms.div_euclid(iv) + 1) * iv);
        kpi.set_gauges();
        let snap = KpiSnapshot {
            day: today,
            ts_ms: now_ms,
            kpi,
        };
        out.push(snap.to_point(&self.site));
        self.snapshot = Some(snap);
        out
    }

    /// Everything needed to continue after a restart.
    pub fn state(&self) -> KpiState {
        KpiState {
            version: STATE_VERSION,
            calendar: self.calendar_key.clone(),
            engine: self.st.clone(),
        }
    }

    /// The latest `kpi` row (None before the first one).
    pub fn snapshot(&self) -> Option<&KpiSnapshot> {
        self.snapshot.as_ref()
    }
}

impl Config {
    fn from_settings(s: &Kpi) -> Self {
        let mut roles: HashMap<String, Vec<InputRole>> = HashMap::new();
        let mut assays = Vec::new();
        for (spec, path) in s.inputs() {
            roles.entry(path.to_string()).or_default().push(spec.role);
            if spec.role == InputRole::Assay {
                assays.push((spec.input, path.to_string()));
            }
        }
        let mut paths: Vec<String> = roles.keys().cloned().collect();
        paths.sort();
        Config {
            interval_ms: i64::try_from(s.interval.as_millis())
                .unwrap_or(i64::MAX)
                .max(1),
            target_tpd: s.target_tpd,
            target_oz_year: s.target_oz_year,
            moisture: s.moisture.clone(),
            totaliser: s.ore_totaliser.clone(),
            rollover: s.totaliser_rollover,
            rate: s.ore_rate.clone(),
            running_kw: s.mill_running_kw,
            assays,
            three_product: s.three_product.is_some(),
            reconcile: s.reconcile.clone(),
            roles,
            paths,
        }
    }
}

/// Restores saved state, keeping only what still applies to this config.
fn restore(s: KpiState, calendar_key: &str, cfg: &Config) -> EngineState {
    let mut st = s.engine;
    st.tracks.retain(|p, _| cfg.roles.contains_key(p));
    if s.calendar != calendar_key {
        tracing::warn!(saved = %s.calendar, now = %calendar_key,
            "KPI: production calendar changed; keeping tag memory, restarting the day and year accumulators");
        st = EngineState {
            tracks: st.tracks,
            first_seen_ms: st.first_seen_ms,
            last_moisture: st.last_moisture,
            lifetime_wet_t: st.lifetime_wet_t,
            tonnes_until_ms: st.tonnes_until_ms,
            ..EngineState::default()
        };
    }
    st
}

fn good_value(r: &Reading) -> Option<f64> {
    if r.quality != Quality::Good {
        return None;
    }
    r.value.as_ref()?.as_f64().filter(|v| v.is_finite())
}
