//! The daily report (DESIGN §10): one production day read back from
//! InfluxDB into a plain [`ReportData`], rendered as one self-contained
//! HTML page (inline CSS and SVG, no external assets) that prints on one
//! A4 sheet. Used by `plantgw report` and `GET /report` alike.
//!
//! Everything comes from the historian, never from the running engine, so
//! any past day can be reported and the page equals what was stored.
pub mod data;
pub mod html;
pub mod mill;
pub mod svg;

use jiff::civil::Date;

pub use data::{gather, last_closed_day, DayStatus, Figures, Reconciled, ReportData};
pub use html::render;
pub use mill::{MillState, Stop};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("report query: {0}")]
    Query(#[from] crate::historian::QueryError),
    #[error("production calendar: {0}")]
    Calendar(#[from] crate::kpi::KpiError),
    #[error("no closed production day found in InfluxDB for site {site}")]
    NoClosedDay { site: String },
    #[error("bad time in the report for {day}: {reason}")]
    Time { day: Date, reason: String },
}
