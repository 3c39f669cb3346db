//! Production KPIs (DESIGN §5, §6): tonnes milled per production day against
//! `target_tpd`, mill availability, silver head grade, recovery to the Pb-Ag
//! concentrate and recovered ounces, year to date and projected.
//!
//! - [`day`]: the production calendar (days start at `day_start` local time);
//! - [`totaliser`]: what a step of the belt-scale totaliser means (delta,
//!   rollover, reset);
//! - [`recovery`]: two- and three-product formulas, ounces;
//! - `track`, `accum`: held tag values and per-day accumulators;
//! - [`engine`]: [`KpiEngine`], pure, time injected: `observe` scans,
//!   `tick(now)` for `kpi` rows and `kpi_daily` rows; split into booking
//!   (samples → accumulators), values (accumulator → KPI fields) and day
//!   close;
//! - the tags it reads are the declared inputs,
//!   [`crate::config::KPI_INPUTS`], shared with validation and recompute;
//! - [`report`]: [`KpiValues`], [`DailyKpi`], [`KpiSnapshot`] → points,
//!   table, gauges;
//! - [`reconcile`]: the closed day's flotation balance reconciled
//!   (`[kpi.reconcile]`, series `kpi_reconciled`);
//! - [`state`]: [`KpiState`], atomic [`save_state`] / [`load_state`]
//!   (`date_serde` writes its days, and the reports', as `YYYY-MM-DD`);
//! - [`recompute`]: rebuild a day from InfluxDB's raw series;
//! - [`task`]: the async driver `plantgw run` uses.
//!
//! Choices worth knowing when reading the numbers:
//! - a `kpi_daily` row is stamped with its production day's *start* instant
//!   (07:00 local), so it sits on the day it describes and a recompute
//!   overwrites it (same series, same timestamp);
//! - `throughput_tph` in `kpi` is dry t/h over the last plant-hour of booked
//!   tonnes (known on every row once two totaliser readings are in, even
//!   when several rows pass between readings); in `kpi_daily` the day mean;
//! - `projected_day_t` = dry t so far + that throughput × hours left; in
//!   `kpi_daily` it is the final dry tonnage;
//! - `ag_oz_pace_year` ("on pace for 1.9 Moz?") = mean ounces of the last
//!   (up to 7) whole closed days × 365, today's projected day × 365 while
//!   none has closed; the gateway's first, partial day is never averaged in
//!   (its own close scales it to a whole day);
//! - `ag_projected_oz_year` = oz year to date + year-to-date pace × time
//!   left in the metallurgical year (pace measured from the later of the
//!   year start and the gateway's first reading), omitted in the first hour:
//!   a running-total view that reads low for a gateway installed mid-year,
//!   which is why the pace above is the headline;
//! - a `kpi_reconciled` row is written with each `kpi_daily` (same tags and
//!   timestamp) when `[kpi.reconcile]` is on and the day's twelve composite
//!   assays balance to a physical split;
//! - unknown time (bad quality, or a held value older than 3 scans) counts
//!   neither for nor against availability; `good_data_pct` is the share of
//!   the day's elapsed time, averaged over the configured KPI tags, that was
//!   covered by good data;
//! - days during which the gateway saw nothing at all get no `kpi_daily` row;
//! - a day close survives a crash at any point: the closing row is spooled
//!   (fsynced) before the state saying the day is closed is saved, and a
//!   crash in between closes the day again on restart onto the same series
//!   and timestamp, so InfluxDB holds one row ([`task`]);
//! - after a restart, the restored open days stay open until the first
//!   totaliser sample: a good reading's delta over the downtime is split by
//!   time, the share up to `day_start` to the day the downtime started in and
//!   the rest to the new day, and only then does the old day close (a bad
//!   first sample starts an outage as without the restart; with no sample
//!   at all for [`engine::RESTORE_WAIT`] the days close on what they have).
mod accum;
mod date_serde;
pub mod day;
pub mod engine;
pub mod recompute;
pub mod reconcile;
pub mod recovery;
pub mod report;
pub mod state;
pub mod task;
pub mod totaliser;
mod track;

#[cfg(test)]
mod pace_tests;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use engine::KpiEngine;
pub use recompute::{fetch_and_recompute, recompute_day, RawSample};
pub use reconcile::{Reconciled, RECONCILED_MEASUREMENT};
pub use recovery::RecoveryMethod;
pub use report::{DailyKpi, KpiSnapshot, KpiValues};
pub use state::{load_state, save_state, KpiState, STATE_VERSION};
pub use task::{KpiHandle, KpiTask};

#[derive(Debug, thiserror::Error)]
pub enum KpiError {
    #[error("KPI state {}: {source}", path.display())]
    StateIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("KPI state {}: not a valid state file: {source}", path.display())]
    StateFormat {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("KPI state {}: format version {found}, this build reads {expected}", path.display())]
    StateVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("production calendar: {0}")]
    Calendar(String),
    #[error("recompute query: {0}")]
    Query(#[from] crate::sink::influxdb::QueryError),
    #[error("KPI task: {0}")]
    Task(String),
}
