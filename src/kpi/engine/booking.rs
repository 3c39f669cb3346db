//! Booking: samples into the day accumulators. Totaliser deltas become
//! tonnes, the belt rate stands in while the totaliser is bad, and the held
//! values of the other tags are integrated over time into availability,
//! good-data time and the assays that go with each tonne.
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
//!   [`RESTORE_WAIT`](super::RESTORE_WAIT) of plant time after the
//!   restart, the days close on what they have (`close`), so a PLC that is
//!   not being read cannot stall them.
//! - Other tags are held between readings for at most 3 scan intervals
//!   (`HoldCap`); time without a good held value is unknown and counts
//!   neither way (availability = running / known time).
use jiff::civil::Date;

use super::{KpiEngine, HOUR_MS};
use crate::config::{InputRole, Moisture};
use crate::kpi::accum::{Composite, DayAccum, Ore};
use crate::kpi::day::next_day;
use crate::kpi::state::Outage;
use crate::kpi::totaliser::{self, Step};

impl KpiEngine {
    pub(super) fn on_totaliser(&mut self, ts_ms: i64, value: Option<f64>) {
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

    pub(super) fn advance_all(&mut self, to_ms: i64) {
        let paths: Vec<String> = self.st.tracks.keys().cloned().collect();
        for p in paths {
            self.advance_track(&p, to_ms);
        }
    }

    /// Integrates the held value of `path` up to `to_ms` into the days.
    pub(super) fn advance_track(&mut self, path: &str, to_ms: i64) {
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
            let fallback = (roles.contains(&InputRole::Rate) && self.st.outage.is_some())
                .then(|| self.ore_for(v.max(0.0) * h, p.from_ms));
            let running_kw = self.cfg.running_kw;
            let Some(day) = self.open_day(p.day) else {
                continue;
            };
            *day.good_ms.entry(path.to_string()).or_default() += dt;
            for r in &roles {
                match r {
                    InputRole::MillPower => {
                        day.mill_known_ms += dt;
                        if v > running_kw {
                            day.mill_running_ms += dt;
                        }
                    }
                    InputRole::Rate => day.rate_wet_t += v.max(0.0) * h,
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
    pub(super) fn open_day(&mut self, day: Date) -> Option<&mut DayAccum> {
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

    pub(super) fn day_index(&self, day: Date) -> Option<usize> {
        self.st.days.iter().position(|d| d.day == day)
    }
}
