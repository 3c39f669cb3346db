//! Values: the KPI fields of a day, computed from its accumulator (dry
//! tonnes, throughput, projections, availability, head grade, recovery,
//! ounces, year to date). Nothing here changes the accumulators.
//!
//! Projections, documented here because they are choices:
//! - `throughput_tph` (live) = dry t/h over the last plant-hour of booked
//!   tonnes, from the row marks: a rate a person can read, steady between
//!   totaliser readings, and a mill stop halves it within half an hour.
//! - `projected_day_t` = dry tonnes so far + that throughput × hours left
//!   in the day; pro-rata (so far × day length / elapsed) when no
//!   throughput is known.
//! - `ag_oz_pace_year` = mean ounces of the last (up to 7) whole closed
//!   days × 365; today's ounces scaled to its projected tonnage × 365 while
//!   none has closed.
//! - `ag_projected_oz_year` = ounces year to date + the year-to-date pace
//!   (oz per hour since the later of the year start and the first reading
//!   the gateway ever saw) × hours left in the year; omitted in the first
//!   hour, where a pace is noise.
use jiff::civil::Date;

use super::{KpiEngine, HOUR_MS};

/// The live throughput is a rate over this much plant time.
const THROUGHPUT_WINDOW_MS: i64 = 3_600_000;
/// A day of one-minute rows.
const MAX_ROW_MARKS: usize = 1_440;
use crate::config::{KpiInput, Moisture};
use crate::kpi::accum::{DayAccum, Ore};
use crate::kpi::reconcile::{self, Reconciled};
use crate::kpi::recovery::{self, RecoveryMethod, Streams};
use crate::kpi::report::KpiValues;
use crate::kpi::state::{RowMark, PACE_DAYS};

/// A day counts for the pace when booking began within this of its start
/// (a demo's or an installation's first scans come a little late).
const WHOLE_DAY_SLACK_MS: i64 = 30 * 60_000;

/// The pace's year: a calendar year of production days.
const DAYS_PER_YEAR: f64 = 365.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// A `kpi` row of the open day.
    Live,
    /// The `kpi_daily` row of a day being closed.
    Closing,
    /// A day rebuilt from history: no year-to-date context.
    Recompute,
}

impl KpiEngine {
    /// The open day's `kpi` row values as of `now_ms`; marks where the row
    /// was taken, so the next row's throughput starts there.
    pub(super) fn live_values(&mut self, idx: usize, day: Date, now_ms: i64) -> KpiValues {
        let (kpi, fallback) = self.values(idx, now_ms, Mode::Live);
        self.log_method(day, kpi.recovery_method, fallback);
        self.st.row_marks.push_back(RowMark {
            lifetime_wet_t: self.st.lifetime_wet_t,
            tonnes_until_ms: self.st.tonnes_until_ms,
        });
        // Keep the newest mark at least an hour old, and nothing older.
        let marks = &mut self.st.row_marks;
        marks.retain(|m| m.tonnes_until_ms.is_some());
        if let Some(n) = self.st.tonnes_until_ms {
            while marks.len() > 1
                && marks[1]
                    .tonnes_until_ms
                    .is_some_and(|t| n - t >= THROUGHPUT_WINDOW_MS)
            {
                marks.pop_front();
            }
        }
        // While the totaliser is silent the marks do not age; bound them.
        while marks.len() > MAX_ROW_MARKS {
            marks.pop_front();
        }
        kpi
    }

    /// KPI values of open day `idx` as of `now_ms`, and why three-product
    /// was refused if it was.
    pub(super) fn values(
        &self,
        idx: usize,
        now_ms: i64,
        mode: Mode,
    ) -> (KpiValues, Option<String>) {
        let acc = &self.st.days[idx];
        let (start, end) = match (self.cal.start_ms(acc.day), self.cal.end_ms(acc.day)) {
            (Ok(s), Ok(e)) => (s, e),
            _ => (now_ms, now_ms),
        };
        let fallback_m = self.fallback_moisture(&acc.ore);
        let dry = acc.ore.dry_t(fallback_m);
        let day_h = (end - start) as f64 / HOUR_MS;
        let throughput = match mode {
            Mode::Live => self.hour_throughput(acc.ore.mean_moisture().or(fallback_m)),
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
        let head = acc.ore.assay(KpiInput::FeedAg);
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
        let ag_oz_pace_year = match mode {
            Mode::Recompute => None,
            Mode::Closing => match self.counted_from(start) {
                Some(_) => self.pace(ag_oz),
                // The gateway's first, partial day: scaled to a whole day
                // when nothing better is known, never averaged in.
                None => self.pace(None).or_else(|| {
                    let seen = self.st.first_seen_ms?.clamp(start, end);
                    let oz = ag_oz?;
                    (end > seen)
                        .then(|| oz * (end - start) as f64 / (end - seen) as f64 * DAYS_PER_YEAR)
                }),
            },
            Mode::Live => self.pace(None).or_else(|| {
                let (oz, proj, dry) = (ag_oz?, projected_day_t?, dry?);
                (dry > 0.0).then(|| oz * proj / dry * DAYS_PER_YEAR)
            }),
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
            ag_oz_pace_year,
            target_oz_year: self.cfg.target_oz_year,
            good_data_pct,
            totaliser_resets: acc.totaliser_resets,
        };
        (kpi, fallback)
    }

    /// Mean ounces of the last closed days (and `closing`, the day being
    /// closed) × 365; None before any day has closed.
    fn pace(&self, closing: Option<f64>) -> Option<f64> {
        let skip = usize::from(closing.is_some());
        let keep = PACE_DAYS - skip;
        let from = self.st.recent_oz.len().saturating_sub(keep);
        let days: Vec<f64> = self
            .st
            .recent_oz
            .iter()
            .skip(from)
            .copied()
            .chain(closing)
            .collect();
        (!days.is_empty()).then(|| days.iter().sum::<f64>() / days.len() as f64 * DAYS_PER_YEAR)
    }

    /// Whether a day starting at `start_ms` was booked from (about) its
    /// start, so its ounces are a whole day's: the gateway's first day,
    /// begun mid-day, is not. Some(()) when it counts.
    pub(super) fn counted_from(&self, start_ms: i64) -> Option<()> {
        let first = self.st.first_seen_ms?;
        (first <= start_ms + WHOLE_DAY_SLACK_MS).then_some(())
    }

    /// The day's balance reconciled, when `[kpi.reconcile]` is on; a day
    /// that cannot be reconciled is logged and gets no row.
    pub(super) fn reconcile_day(&self, idx: usize, dry_t: Option<f64>) -> Option<Reconciled> {
        let settings = self.cfg.reconcile.as_ref()?;
        let acc = &self.st.days[idx];
        match reconcile::reconcile(|i| acc.ore.assay(i), |i| settings.sd_rel_pct(i), dry_t) {
            Ok(r) => {
                if let Some(g) = r.gross_error {
                    tracing::warn!(day = %acc.day, chi2 = r.chi2, p_value = r.p_value, likely = g.key(),
                        "KPI: the day's assays do not balance within their precision");
                }
                Some(r)
            }
            Err(e) => {
                tracing::warn!(day = %acc.day, error = %e, "KPI: day not reconciled");
                None
            }
        }
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
        let head = acc.ore.assay(KpiInput::FeedAg)?;
        let (r, _, _) = self.recovery(&acc.ore);
        Some(recovery::recovered_oz(dry, head, r?))
    }

    /// Dry t/h over the last plant-hour of booked tonnes (from the newest
    /// row mark at least an hour back, or the oldest there is), over the
    /// time the booked tonnes cover: after an outage the delta is spread
    /// over the outage, and at high demo speeds, where several rows pass
    /// between two totaliser readings, the rate is still known.
    fn hour_throughput(&self, moisture: Option<f64>) -> Option<f64> {
        let until = self.st.tonnes_until_ms?;
        let mark = self
            .st
            .row_marks
            .iter()
            .rev()
            .find(|m| {
                m.tonnes_until_ms
                    .is_some_and(|t| until - t >= THROUGHPUT_WINDOW_MS)
            })
            .or_else(|| {
                self.st
                    .row_marks
                    .iter()
                    .find(|m| m.tonnes_until_ms.is_some_and(|t| t < until))
            })?;
        let span = until - mark.tonnes_until_ms?;
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
            ore.assay(KpiInput::FeedAg),
            ore.assay(KpiInput::ConcAg),
            ore.assay(KpiInput::TailAg),
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

    pub(super) fn log_method(
        &mut self,
        day: Date,
        method: Option<RecoveryMethod>,
        fallback: Option<String>,
    ) {
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
}

fn three_product(ore: &Ore) -> Result<f64, String> {
    let get = |a: KpiInput| ore.assay(a).ok_or_else(|| format!("no good {a:?} assay"));
    let pb = Streams {
        feed: get(KpiInput::FeedPb)?,
        conc1: get(KpiInput::ConcPb)?,
        conc2: get(KpiInput::ZnConcPb)?,
        tail: get(KpiInput::TailPb)?,
    };
    let zn = Streams {
        feed: get(KpiInput::FeedZn)?,
        conc1: get(KpiInput::ConcZn)?,
        conc2: get(KpiInput::ZnConcZn)?,
        tail: get(KpiInput::TailZn)?,
    };
    recovery::three_product(pb, zn, get(KpiInput::FeedAg)?, get(KpiInput::ConcAg)?)
        .map(|r| r.recovery)
        .map_err(|e| e.to_string())
}
