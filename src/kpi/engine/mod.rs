//! The KPI engine: pure, no I/O, time injected. Scans go in through
//! [`KpiEngine::observe`]; [`KpiEngine::tick`] closes finished production
//! days and emits `kpi` rows.
//!
//! Booking rules (DESIGN §6):
//! - Tonnes come from the totaliser delta between consecutive good
//!   readings, spread pro-rata over the time between them, so a day
//!   boundary inside that interval splits the delta by time.
//! - While the totaliser is bad the integrated belt rate is booked as
//!   *provisional* tonnes. When the totaliser comes back with a usable
//!   delta, the provisional tonnes of the still-open days are taken out and
//!   the delta (which covers the whole outage) is booked instead; after a
//!   reset the provisional tonnes stand. Provisional tonnes of a day that
//!   closed during the outage are final; the delta's share for that day is
//!   settled against them and any excess is booked to the earliest open day.
//! - Tonnage that belongs to an already closed day (a late sample, or the
//!   delta across a restart after the day was closed) is booked to the
//!   earliest open day, with a warning, so the year's tonnes stay whole.
//! - After a restore, open days are not closed before the first totaliser
//!   sample: the first good reading's delta covers the downtime and is
//!   split by time like any other (the share up to `day_start` goes to the
//!   day the downtime started in, the rest to the new day), then the old
//!   day closes. A bad first sample starts an outage and the outage rules
//!   apply as without the restart. With no totaliser sample at all for
//!   [`RESTORE_WAIT`] of plant time after the restart, the days close on
//!   what they have, so a PLC that is not being read cannot stall them.
//! - Other tags are held between readings for at most 3 scan intervals
//!   ([`HoldCap`]); time without a good held value is unknown and counts
//!   neither way (availability = running / known time).
//!
//! Projections, documented here because they are choices:
//! - `projected_day_t` = dry tonnes so far + the last interval's throughput
//!   × hours left in the day, so a mill stop shows at once; pro-rata
//!   (so far × day length / elapsed) when no throughput is known.
//! - `ag_projected_oz_year` = ounces year to date + the year-to-date pace
//!   (oz per hour since the later of the year start and the first reading
//!   the gateway ever saw) × hours left in the year; omitted in the first
//!   hour, where a pace is noise.
use std::collections::HashMap;
use std::time::Duration;

use jiff::civil::Date;

use super::accum::{Assay, Composite, DayAccum, Ore};
use super::day::{next_day, Calendar};
use super::recovery::{self, RecoveryMethod, Streams};
use super::report::{DailyKpi, KpiSnapshot, KpiValues};
use super::state::{EngineState, KpiState, Outage, RowMark, Ytd, STATE_VERSION};
use super::totaliser::{self, Step};
use super::track::{HoldCap, Track};
use super::KpiError;
use crate::config::{KpiSettings, Moisture, Site};
use crate::historian::line::Point;
use crate::sample::{Quality, Reading, Scan};

const HOUR_MS: f64 = 3_600_000.0;

/// How long restored open days wait for the first totaliser sample.
pub const RESTORE_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Totaliser,
    Rate,
    MillPower,
    Moisture,
    Assay(Assay),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A `kpi` row of the open day.
    Live,
    /// The `kpi_daily` row of a day being closed.
    Closing,
    /// A day rebuilt from history: no year-to-date context.
    Recompute,
}

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
    assays: Vec<(Assay, String)>,
    three_product: bool,
    roles: HashMap<String, Vec<Role>>,
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
    pub fn new(settings: &KpiSettings, site: &Site, restored: Option<KpiState>) -> Self {
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
    pub(crate) fn observe_values(&mut self, ts_ms: i64, readings: &[(String, Option<f64>)]) {
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
        let (kpi, fallback) = self.values(idx, now_ms, Mode::Live);
        self.log_method(today, kpi.recovery_method, fallback);
        self.st.last_row = Some(RowMark {
            lifetime_wet_t: self.st.lifetime_wet_t,
            tonnes_until_ms: self.st.tonnes_until_ms,
        });
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

    /// Closes `day` as of its end, for a recompute from history.
    pub(crate) fn finish_day(&mut self, day: Date) -> Result<DailyKpi, KpiError> {
        let start_ms = self.cal.start_ms(day)?;
        let end_ms = self.cal.end_ms(day)?;
        self.advance_all(end_ms);
        if self.open_day(day).is_none() {
            return Err(KpiError::Calendar(format!("day {day} is already closed")));
        }
        let idx = self
            .day_index(day)
            .ok_or_else(|| KpiError::Calendar(format!("day {day} not open")))?;
        let (kpi, fallback) = self.values(idx, end_ms, Mode::Recompute);
        self.log_method(day, kpi.recovery_method, fallback);
        Ok(DailyKpi {
            day,
            start_ms,
            end_ms,
            kpi,
        })
    }

    fn close_finished(&mut self, now_ms: i64, out: &mut Vec<Point>) -> Result<(), KpiError> {
        if let RestoreWait::Waiting { since_ms } = &mut self.restore_wait {
            let since = *since_ms.get_or_insert(now_ms);
            let limit = i64::try_from(RESTORE_WAIT.as_millis()).unwrap_or(i64::MAX);
            if now_ms < since.saturating_add(limit) {
                return Ok(());
            }
            tracing::warn!(
                waited_s = RESTORE_WAIT.as_secs(),
                "KPI: no totaliser reading since the restart; closing the restored days on what they have"
            );
            self.restore_wait = RestoreWait::No;
        }
        while let Some(first) = self.st.days.first() {
            let day = first.day;
            let end = self.cal.end_ms(day)?;
            let booked = self.st.tonnes_until_ms.is_some_and(|t| t >= end);
            if now_ms < end || !(booked || now_ms >= end.saturating_add(self.cfg.interval_ms)) {
                break;
            }
            self.advance_all(end);
            let daily = self.close_front(end)?;
            out.extend(daily.to_points(&self.site));
        }
        Ok(())
    }

    fn close_front(&mut self, end_ms: i64) -> Result<DailyKpi, KpiError> {
        let (kpi, fallback) = self.values(0, end_ms, Mode::Closing);
        let acc = self.st.days.remove(0);
        self.log_method(acc.day, kpi.recovery_method, fallback);
        if let Some(o) = &mut self.st.outage {
            o.closed_wet_t += acc.provisional.wet_t;
        }
        let year = self.cal.year_of(acc.day)?;
        let ytd = self.st.ytd.get_or_insert(Ytd {
            year,
            closed_oz: 0.0,
        });
        if ytd.year != year {
            *ytd = Ytd {
                year,
                closed_oz: 0.0,
            };
        }
        ytd.closed_oz += kpi.ag_oz.unwrap_or(0.0);
        self.st.closed_through = Some(acc.day);
        cross_check(&acc);
        tracing::info!(
            day = %acc.day,
            dry_t = kpi.ore_dry_t,
            ag_oz = kpi.ag_oz,
            good_data_pct = kpi.good_data_pct,
            "KPI: production day closed"
        );
        let start_ms = self.cal.start_ms(acc.day)?;
        Ok(DailyKpi {
            day: acc.day,
            start_ms,
            end_ms,
            kpi,
        })
    }

    fn log_method(&mut self, day: Date, method: Option<RecoveryMethod>, fallback: Option<String>) {
        if method == self.last_method {
            return;
        }
        self.last_method = method;
        match (method, fallback) {
            (Some(RecoveryMethod::TwoProductFallback), Some(why)) => {
                tracing::warn!(%day, reason = %why, "KPI: three-product recovery refused, using two-product")
            }
            (Some(m), _) => tracing::info!(%day, method = m.as_str(), "KPI: recovery method"),
            (None, why) => {
                tracing::warn!(%day, reason = why.as_deref(), "KPI: recovery unknown (no usable assays)")
            }
        }
    }

    // ---- bookings -------------------------------------------------------

    fn on_totaliser(&mut self, ts_ms: i64, value: Option<f64>) {
        let Some(v) = value else {
            if self.st.outage.is_none() {
                tracing::warn!(ts_ms, tag = %self.cfg.totaliser, "KPI: totaliser bad, belt rate stands in");
                self.st.outage = Some(Outage::default());
            }
            return;
        };
        let prev = self
            .st
            .tracks
            .get(&self.cfg.totaliser)
            .and_then(|t| t.last_good);
        let outage = self.st.outage.take();
        self.st.tonnes_until_ms = Some(self.st.tonnes_until_ms.map_or(ts_ms, |t| t.max(ts_ms)));
        let Some((pv, pts)) = prev else {
            // Nothing to take a delta from: what the rate booked stands.
            self.settle_provisional(false);
            return;
        };
        let held_rate = self.cfg.rate.as_ref().and_then(|p| self.held(p, pts));
        let max_rate = (self.cfg.target_tpd / 24.0).max(held_rate.unwrap_or(0.0));
        let step = totaliser::step(pv, v, ts_ms - pts, self.cfg.rollover, max_rate);
        match step {
            Step::Production { wet_t } | Step::Rollover { wet_t } => {
                if matches!(step, Step::Rollover { .. }) {
                    tracing::info!(prev = pv, next = v, wet_t, "KPI: totaliser rolled over");
                }
                if outage.is_some() {
                    self.settle_provisional(true);
                }
                let closed = self.book_ore(pts, ts_ms, wet_t, pts);
                let excess = match &outage {
                    Some(o) => (closed - o.closed_wet_t).max(0.0),
                    None => closed,
                };
                if excess > 0.0 {
                    self.carry(excess, ts_ms, pts);
                }
            }
            Step::Reset { reason } => {
                tracing::warn!(prev = pv, next = v, ?reason, tag = %self.cfg.totaliser,
                    "KPI: totaliser reset, counting from the new value");
                metrics::counter!("plantgw_kpi_totaliser_resets_total").increment(1);
                self.settle_provisional(false);
                if let Some(day) = self.target_day(ts_ms) {
                    day.totaliser_resets += 1;
                }
            }
        }
    }

    /// Ends an outage: provisional tonnes are either replaced (`remove`) by
    /// the totaliser delta about to be booked, or kept as final.
    fn settle_provisional(&mut self, remove: bool) {
        for d in &mut self.st.days {
            if remove {
                d.ore.sub(&d.provisional);
                self.st.lifetime_wet_t -= d.provisional.wet_t;
            }
            d.provisional = Ore::default();
        }
    }

    /// Books `wet_t` over `[from, to)` pro-rata into open days, with assays
    /// and moisture as held at `at`. Returns the wet tonnes whose share fell
    /// in days already closed.
    fn book_ore(&mut self, from: i64, to: i64, wet_t: f64, at: i64) -> f64 {
        let pieces = match self.cal.split(from, to) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "KPI: cannot split interval by day; booked to its end");
                return self.book_ore(to, to, wet_t, at);
            }
        };
        let mut closed = 0.0;
        for p in pieces {
            let ore = self.ore_for(wet_t * p.frac, at);
            match self.open_day(p.day) {
                Some(day) => {
                    day.ore.add(&ore);
                    self.st.lifetime_wet_t += ore.wet_t;
                }
                None => closed += ore.wet_t,
            }
        }
        closed
    }

    /// Books tonnes whose day is closed into the earliest open day.
    fn carry(&mut self, wet_t: f64, ts_ms: i64, at: i64) {
        let ore = self.ore_for(wet_t, at);
        let Some(day) = self.target_day(ts_ms) else {
            return;
        };
        tracing::warn!(wet_t, into = %day.day, "KPI: tonnage of a closed day booked to the earliest open day");
        day.ore.add(&ore);
        self.st.lifetime_wet_t += ore.wet_t;
    }

    /// The earliest open day, opening the day of `ts_ms` (or the day after
    /// the last closed one) when none is.
    fn target_day(&mut self, ts_ms: i64) -> Option<&mut DayAccum> {
        if self.st.days.is_empty() {
            let day = self.cal.day_of(ts_ms).ok()?;
            let day = match self.st.closed_through {
                Some(c) if day <= c => next_day(c).ok()?,
                _ => day,
            };
            self.st.days.push(DayAccum::new(day));
        }
        self.st.days.first_mut()
    }

    /// Wet tonnes as a day contribution: moisture and assays held at `at`.
    fn ore_for(&self, wet_t: f64, at: i64) -> Ore {
        let moisture = match &self.cfg.moisture {
            Moisture::Constant(c) => Some(*c),
            Moisture::Tag(p) => self.held(p, at),
        };
        let dry_w = wet_t * (1.0 - moisture.or(self.st.last_moisture).unwrap_or(0.0) / 100.0);
        let mut ore = Ore {
            wet_t,
            ..Ore::default()
        };
        if let Some(m) = moisture {
            ore.moist_wet_t = wet_t;
            ore.moist_wt = wet_t * m;
        }
        for (a, path) in &self.cfg.assays {
            if let Some(v) = self.held(path, at) {
                ore.assays.insert(
                    *a,
                    Composite {
                        wv: dry_w * v,
                        w: dry_w,
                    },
                );
            }
        }
        ore
    }

    fn held(&self, path: &str, at: i64) -> Option<f64> {
        self.st.tracks.get(path).and_then(|t| t.held(at, self.hold))
    }

    // ---- time integration ----------------------------------------------

    fn advance_all(&mut self, to_ms: i64) {
        let paths: Vec<String> = self.st.tracks.keys().cloned().collect();
        for p in paths {
            self.advance_track(&p, to_ms);
        }
    }

    /// Integrates the held value of `path` up to `to_ms` into the days.
    fn advance_track(&mut self, path: &str, to_ms: i64) {
        let cap = self.hold;
        let Some((from, until, v)) = self
            .st
            .tracks
            .get_mut(path)
            .and_then(|t| t.advance(to_ms, cap))
        else {
            return;
        };
        let Some(roles) = self.cfg.roles.get(path).cloned() else {
            return;
        };
        let pieces = match self.cal.split(from, until) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "KPI: cannot split interval by day");
                return;
            }
        };
        for p in pieces {
            let dt = p.to_ms - p.from_ms;
            let h = dt as f64 / HOUR_MS;
            let fallback = (roles.contains(&Role::Rate) && self.st.outage.is_some())
                .then(|| self.ore_for(v.max(0.0) * h, p.from_ms));
            let running_kw = self.cfg.running_kw;
            let Some(day) = self.open_day(p.day) else {
                continue;
            };
            *day.good_ms.entry(path.to_string()).or_default() += dt;
            for r in &roles {
                match r {
                    Role::MillPower => {
                        day.mill_known_ms += dt;
                        if v > running_kw {
                            day.mill_running_ms += dt;
                        }
                    }
                    Role::Rate => day.rate_wet_t += v.max(0.0) * h,
                    _ => {}
                }
            }
            if let Some(ore) = fallback {
                day.ore.add(&ore);
                day.provisional.add(&ore);
                self.st.lifetime_wet_t += ore.wet_t;
                self.st.tonnes_until_ms =
                    Some(self.st.tonnes_until_ms.map_or(p.to_ms, |t| t.max(p.to_ms)));
            }
        }
    }

    /// The accumulator of `day`, opened if needed; None once it is closed.
    fn open_day(&mut self, day: Date) -> Option<&mut DayAccum> {
        if self.st.closed_through.is_some_and(|c| day <= c) {
            return None;
        }
        let idx = match self.st.days.binary_search_by(|d| d.day.cmp(&day)) {
            Ok(i) => i,
            Err(i) => {
                self.st.days.insert(i, DayAccum::new(day));
                i
            }
        };
        self.st.days.get_mut(idx)
    }

    fn day_index(&self, day: Date) -> Option<usize> {
        self.st.days.iter().position(|d| d.day == day)
    }

    // ---- reporting ------------------------------------------------------

    /// KPI values of open day `idx` as of `now_ms`, and why three-product
    /// was refused if it was.
    fn values(&self, idx: usize, now_ms: i64, mode: Mode) -> (KpiValues, Option<String>) {
        let acc = &self.st.days[idx];
        let (start, end) = match (self.cal.start_ms(acc.day), self.cal.end_ms(acc.day)) {
            (Ok(s), Ok(e)) => (s, e),
            _ => (now_ms, now_ms),
        };
        let fallback_m = self.fallback_moisture(&acc.ore);
        let dry = acc.ore.dry_t(fallback_m);
        let day_h = (end - start) as f64 / HOUR_MS;
        let throughput = match mode {
            Mode::Live => self.row_throughput(acc.ore.mean_moisture().or(fallback_m)),
            Mode::Closing | Mode::Recompute => dry.map(|d| d / day_h),
        };
        let projected_day_t = match mode {
            Mode::Live => dry.and_then(|d| match throughput {
                Some(tph) => Some(d + tph * (end - now_ms).max(0) as f64 / HOUR_MS),
                None => (now_ms > start)
                    .then(|| d * (end - start) as f64 / (now_ms.min(end) - start) as f64),
            }),
            Mode::Closing | Mode::Recompute => dry,
        };
        let (recovery, method, fallback) = self.recovery(&acc.ore);
        let head = acc.ore.assay(Assay::FeedAg);
        let ag_oz = self.day_oz(acc);
        let elapsed = (now_ms.min(end) - start).max(0);
        let good_data_pct = if elapsed > 0 && !self.cfg.paths.is_empty() {
            let covered: i64 = self
                .cfg
                .paths
                .iter()
                .map(|p| acc.good_ms.get(p).copied().unwrap_or(0).min(elapsed))
                .sum();
            100.0 * covered as f64 / (elapsed as f64 * self.cfg.paths.len() as f64)
        } else {
            0.0
        };
        let (ag_oz_ytd, ag_projected_oz_year) = match mode {
            Mode::Recompute => (None, None),
            Mode::Live | Mode::Closing => self.year_to_date(idx, now_ms),
        };
        let kpi = KpiValues {
            ore_wet_t: acc.ore.wet_t,
            ore_dry_t: dry,
            throughput_tph: throughput,
            projected_day_t,
            target_tpd: self.cfg.target_tpd,
            mill_availability_pct: (acc.mill_known_ms > 0)
                .then(|| 100.0 * acc.mill_running_ms as f64 / acc.mill_known_ms as f64),
            ag_head_gpt: head,
            ag_recovery_pct: recovery.map(|r| 100.0 * r),
            recovery_method: method,
            ag_oz,
            ag_oz_ytd,
            ag_projected_oz_year,
            target_oz_year: self.cfg.target_oz_year,
            good_data_pct,
            totaliser_resets: acc.totaliser_resets,
        };
        (kpi, fallback)
    }

    /// Moisture for tonnes booked while it was unknown: the constant, else
    /// the day's tonnage-weighted mean, else the last value ever seen.
    fn fallback_moisture(&self, ore: &Ore) -> Option<f64> {
        match &self.cfg.moisture {
            Moisture::Constant(c) => Some(*c),
            Moisture::Tag(_) => ore.mean_moisture().or(self.st.last_moisture),
        }
    }

    fn day_oz(&self, acc: &DayAccum) -> Option<f64> {
        let dry = acc.ore.dry_t(self.fallback_moisture(&acc.ore))?;
        let head = acc.ore.assay(Assay::FeedAg)?;
        let (r, _, _) = self.recovery(&acc.ore);
        Some(recovery::recovered_oz(dry, head, r?))
    }

    /// Dry t/h since the last row, over the time the booked tonnes cover
    /// (after an outage the delta is spread over the outage, not over one
    /// interval).
    fn row_throughput(&self, moisture: Option<f64>) -> Option<f64> {
        let mark = self.st.last_row?;
        let span = self.st.tonnes_until_ms? - mark.tonnes_until_ms?;
        if span <= 0 {
            return None;
        }
        let wet_tph =
            (self.st.lifetime_wet_t - mark.lifetime_wet_t).max(0.0) / (span as f64 / HOUR_MS);
        Some(wet_tph * (1.0 - moisture? / 100.0))
    }

    /// Recovery to the Pb concentrate, the method used, and why
    /// three-product was refused if it was configured but not used.
    fn recovery(&self, ore: &Ore) -> (Option<f64>, Option<RecoveryMethod>, Option<String>) {
        let mut refused = None;
        if self.cfg.three_product {
            match three_product(ore) {
                Ok(r) => return (Some(r), Some(RecoveryMethod::ThreeProduct), None),
                Err(why) => refused = Some(why),
            }
        }
        let method = if refused.is_some() {
            RecoveryMethod::TwoProductFallback
        } else {
            RecoveryMethod::TwoProduct
        };
        let (Some(f), Some(c), Some(t)) = (
            ore.assay(Assay::FeedAg),
            ore.assay(Assay::ConcAg),
            ore.assay(Assay::TailAg),
        ) else {
            return (
                None,
                None,
                refused.or_else(|| Some("no good Ag assays".into())),
            );
        };
        match recovery::two_product(f, c, t) {
            Ok(r) => (Some(r.recovery), Some(method), refused),
            Err(e) => (None, None, Some(e.to_string())),
        }
    }

    /// Ounces year to date up to open day `idx` as of `now_ms`, and the
    /// projection for the year.
    fn year_to_date(&self, idx: usize, now_ms: i64) -> (Option<f64>, Option<f64>) {
        let Ok(year) = self.cal.year_of(self.st.days[idx].day) else {
            return (None, None);
        };
        let mut oz = match &self.st.ytd {
            Some(y) if y.year == year => y.closed_oz,
            _ => 0.0,
        };
        for d in &self.st.days[..=idx] {
            if self.cal.year_of(d.day).is_ok_and(|y| y == year) {
                oz += self.day_oz(d).unwrap_or(0.0);
            }
        }
        let (Ok(year_start), Ok(year_end)) = (
            self.cal.start_ms(year),
            self.cal.next_year(year).and_then(|n| self.cal.start_ms(n)),
        ) else {
            return (Some(oz), None);
        };
        let since = year_start.max(self.st.first_seen_ms.unwrap_or(year_start));
        let elapsed = now_ms - since;
        let projected = (elapsed as f64 >= HOUR_MS)
            .then(|| oz + oz / elapsed as f64 * (year_end - now_ms).max(0) as f64);
        (Some(oz), projected)
    }
}

impl Config {
    fn from_settings(s: &KpiSettings) -> Self {
        let mut roles: HashMap<String, Vec<Role>> = HashMap::new();
        let mut add = |p: &str, r: Role| roles.entry(p.to_string()).or_default().push(r);
        add(&s.ore_totaliser, Role::Totaliser);
        if let Some(p) = &s.ore_rate {
            add(p, Role::Rate);
        }
        if let Some(p) = &s.mill_power {
            add(p, Role::MillPower);
        }
        if let Moisture::Tag(p) = &s.moisture {
            add(p, Role::Moisture);
        }
        let mut assays = vec![
            (Assay::FeedAg, s.feed_ag.clone()),
            (Assay::ConcAg, s.conc_ag.clone()),
            (Assay::TailAg, s.tail_ag.clone()),
        ];
        if let Some(t) = &s.three_product {
            assays.extend([
                (Assay::FeedPb, t.feed_pb.clone()),
                (Assay::FeedZn, t.feed_zn.clone()),
                (Assay::ConcPb, t.conc_pb.clone()),
                (Assay::ConcZn, t.conc_zn.clone()),
                (Assay::ZnConcPb, t.zn_conc_pb.clone()),
                (Assay::ZnConcZn, t.zn_conc_zn.clone()),
                (Assay::TailPb, t.tail_pb.clone()),
                (Assay::TailZn, t.tail_zn.clone()),
            ]);
        }
        for (a, p) in &assays {
            add(p, Role::Assay(*a));
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

fn three_product(ore: &Ore) -> Result<f64, String> {
    let get = |a: Assay| ore.assay(a).ok_or_else(|| format!("no good {a:?} assay"));
    let pb = Streams {
        feed: get(Assay::FeedPb)?,
        conc1: get(Assay::ConcPb)?,
        conc2: get(Assay::ZnConcPb)?,
        tail: get(Assay::TailPb)?,
    };
    let zn = Streams {
        feed: get(Assay::FeedZn)?,
        conc1: get(Assay::ConcZn)?,
        conc2: get(Assay::ZnConcZn)?,
        tail: get(Assay::TailZn)?,
    };
    recovery::three_product(pb, zn, get(Assay::FeedAg)?, get(Assay::ConcAg)?)
        .map(|r| r.recovery)
        .map_err(|e| e.to_string())
}

/// The belt-scale rate integral is the totaliser's cross-check: a large
/// disagreement over a day means a calibration or configuration problem.
fn cross_check(acc: &DayAccum) {
    let (tot, rate) = (acc.ore.wet_t, acc.rate_wet_t);
    if tot.max(rate) > 10.0 && (tot - rate).abs() > 0.1 * tot.max(rate) {
        tracing::warn!(day = %acc.day, totaliser_wet_t = tot, rate_wet_t = rate,
            "KPI: totaliser and integrated belt rate disagree by more than 10 %");
    }
}
