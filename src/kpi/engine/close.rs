//! Day close: a finished production day becomes its `kpi_daily` row, its
//! ounces roll into the year to date and the next day becomes the front.
//! Restored open days first wait for the first totaliser sample (see
//! `booking`); recompute closes one day as of its end.
use jiff::civil::Date;

use super::values::Mode;
use super::{KpiEngine, RestoreWait, RESTORE_WAIT};
use crate::kpi::accum::DayAccum;
use crate::kpi::report::DailyKpi;
use crate::kpi::state::{Ytd, PACE_DAYS};
use crate::kpi::KpiError;
use crate::sink::influxdb::encoder::Point;

impl KpiEngine {
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
        let reconciled = self.reconcile_day(idx, kpi.ore_dry_t);
        Ok(DailyKpi {
            day,
            start_ms,
            end_ms,
            kpi,
            reconciled,
        })
    }

    pub(super) fn close_finished(
        &mut self,
        now_ms: i64,
        out: &mut Vec<Point>,
    ) -> Result<(), KpiError> {
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
        let reconciled = self.reconcile_day(0, kpi.ore_dry_t);
        let whole = self.counted_from(self.cal.start_ms(self.st.days[0].day)?);
        let acc = self.st.days.remove(0);
        if let Some(oz) = kpi.ag_oz.filter(|v| v.is_finite() && whole.is_some()) {
            self.st.recent_oz.push_back(oz);
            while self.st.recent_oz.len() > PACE_DAYS {
                self.st.recent_oz.pop_front();
            }
        }
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
            reconciled,
        })
    }
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
