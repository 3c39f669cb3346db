//! Historian: scans and KPI points to InfluxDB (DESIGN §5, §7).
//!
//! - [`line`]: line protocol encoding of generic points (pure);
//! - [`scan_encoder`]: scans to lines, with deadbands and quality changes;
//! - [`retry`]: what each InfluxDB answer means, and backoff;
//! - [`client`]: the HTTP writer; [`delivery`]: retry/split/bisect of one batch;
//! - [`conflict`]: fields InfluxDB holds as another type, left out of lines;
//! - [`query`]: InfluxQL reads (tests, KPI recompute);
//! - `batcher`, `pipeline`: batching, the spool and the two historian tasks;
//!   [`backlog`]: what the writer does while the disk refuses the spool;
//! - [`self_status`]: the gateway's own `gateway_status` series.
use std::path::PathBuf;

pub mod backlog;
pub mod batcher;
pub mod client;
pub mod conflict;
pub mod delivery;
pub mod line;
pub mod pipeline;
pub mod query;
pub mod retry;
pub mod scan_encoder;
pub mod self_status;

pub use client::InfluxClient;
pub use delivery::{deliver, deliver_with, Delivery, LineWriter, WriterHealth, WriterState};
pub use line::{encode_point, FieldValue, LineError, Point};
pub use query::{QueryClient, QueryError, Series};
pub use retry::{classify, Backoff, RetryPolicy, WriteOutcome};
pub use scan_encoder::ScanEncoder;

/// Setting up the InfluxDB client failed. Messages name the setting and
/// never contain a token or password.
#[derive(Debug, thiserror::Error)]
pub enum HistorianError {
    #[error("influxdb.url {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("influxdb.ca_file {}: cannot read: {source}", path.display())]
    CaFileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("influxdb.ca_file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("influxdb.token contains characters that cannot be sent in an HTTP header")]
    InvalidToken,
    #[error("cannot set up the HTTP client: {0}")]
    Http(String),
}
