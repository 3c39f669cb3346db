//! Values: the KPI fields of a day, computed from its accumulator (dry
//! tonnes, throughput, projections, availability, head grade, recovery,
//! ounces, year to date). Nothing here changes the accumulators.
//!
//! Projections, documented here because they are choices:
//! - `projected_day_t` = dry tonnes so far + the last interval's throughput
//!   × hours left in the day, so a mill stop shows at once; pro-rata
//!   (so far × day length / elapsed) when no throughput is known.
//! - `ag_projected_oz_year` = ounces year to date + the year-to-date pace
//!   (oz per hour since the later of the year start and the first reading
//!   the gateway ever saw) × hours left in the year; omitted in the first
//!   hour, where a pace is noise.
use jiff::civil::Date;

use super::{KpiEngine, HOUR_MS};
use crate::config::{KpiInput, Moisture};
use crate::kpi::accum::{DayAccum, Ore};
use crate::kpi::recovery::{self, RecoveryMethod, Streams};
use crate::kpi::report::KpiValues;
use crate::kpi::state::RowMark;

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
        self.st.last_row = Some(RowMark {
            lifetime_wet_t: self.st.lifetime_wet_t,
            tonnes_until_ms: self.st.tonnes_until_ms,
        });
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
        let head = acc.ore.assay(KpiInput::FeedAg)?;
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
