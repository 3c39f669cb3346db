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
pub mod route;
pub mod svg;

pub use data::{gather, last_closed_day, DayStatus, Figures, Reconciled, ReportData};
pub use html::render;
pub use mill::{MillState, Stop};

/// Why there is no report on a gateway whose only sink is `[nats]`: the
/// page is read back from InfluxDB.
pub const NEEDS_INFLUXDB: &str = "plantgw report needs [influxdb] to read the day from";

/// The causes are `source()`s, not repeated in the message: print the
/// chain ([`ReportError::chain`]).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("report query")]
    Query(#[from] crate::sink::influxdb::QueryError),
    #[error("production calendar")]
    Calendar(#[from] crate::kpi::KpiError),
    #[error("no closed production day found in InfluxDB for site {site}")]
    NoClosedDay { site: String },
}

impl ReportError {
    /// This error and its causes, `: `-separated.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
}
