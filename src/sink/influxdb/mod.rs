//! The InfluxDB sink (DESIGN §5, §7).
//!
//! - [`encoder`]: line protocol encoding of points, and of scans with
//!   deadbands and quality changes ([`encoder::scan`]), one escaping;
//! - [`config`]: endpoint URLs, the HTTP client, credentials;
//! - [`client`]: one write request; [`retry`]: what each answer means, and
//!   backoff;
//! - [`delivery`]: retry/split/bisect of one batch until every line is
//!   accepted or known bad; [`health`]: whether InfluxDB takes writes;
//! - [`conflict`]: fields InfluxDB holds as another type, left out of lines;
//! - [`lanes`]: a large (replay) write split by series into two sent at once;
//! - [`query`]: InfluxQL reads (tests, KPI recompute, checks).
//!
//! Dependencies run one way: `delivery` drives any
//! [`LineWriter`](delivery::LineWriter) and `client` implements it.
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{Sink, SinkOutcome};
use crate::http::Health;

pub mod client;
pub mod config;
pub mod conflict;
pub mod delivery;
pub mod encoder;
pub mod health;
pub mod lanes;
pub mod query;
pub mod retry;

pub use client::InfluxClient;
pub use delivery::{deliver_with, Delivery, LineWriter};
pub use encoder::scan::ScanEncoder;
pub use encoder::{encode_point, FieldValue, LineError, Point};
pub use health::{WriterHealth, WriterState};
pub use query::{QueryClient, QueryError, Series};
pub use retry::{classify, Backoff, RetryPolicy, WriteOutcome};

/// Setting up the InfluxDB client failed. Messages name the setting and
/// never contain a token or password.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
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

/// Most payload bytes merged into one write while the sender replays a
/// backlog: about 18,000 lines of the gateway's (~234 bytes each), in the
/// 10–20k range InfluxDB 1.x is known to take best (not swept here, see
/// BENCHMARKS.md, "Spool replay against the live rate"), and far below
/// its 25 MB default request limit (a 413 would split the write anyway).
pub const MERGE_BYTES: usize = 4 << 20;

/// Delivers `body` (newline-separated line protocol) with the default
/// [`RetryPolicy`].
pub async fn deliver(client: &InfluxClient, body: &[u8], cancel: &CancellationToken) -> Delivery {
    deliver_with(client, body, cancel, &RetryPolicy::default()).await
}

/// The pipeline's view of InfluxDB: a batch is resolved inside `write`
/// (retried, split, bisected, waiting out outages), so the answers are
/// only [`SinkOutcome::Accepted`] and [`SinkOutcome::DropBadLines`];
/// credential and endpoint trouble is alarmed through [`WriterHealth`]
/// while the batch waits.
impl Sink for InfluxClient {
    fn name(&self) -> &'static str {
        "influxdb"
    }

    async fn write(&self, _seq: u64, batch: &[u8]) -> SinkOutcome {
        if batch.len() < lanes::SPLIT_FROM {
            return self.deliver_whole(batch).await.into();
        }
        let [a, b] = lanes::split(batch);
        let (a, b) = tokio::join!(self.deliver_whole(&a), self.deliver_whole(&b));
        a.and(b).into()
    }

    fn report_to(&self, health: &Arc<Health>) {
        self.count_into(health);
    }

    fn merge_budget(&self) -> usize {
        MERGE_BYTES
    }
}

impl InfluxClient {
    /// One body through [`deliver_with`], counted into `gateway_status`
    /// when a sender reports there.
    async fn deliver_whole(&self, body: &[u8]) -> Delivery {
        // Nothing cancels this token: the sender stops a delivery by
        // dropping this future, which abandons the request in flight alike.
        let never = CancellationToken::new();
        let policy = RetryPolicy::default();
        match self.counts() {
            Some(health) => {
                let counted = Counted {
                    client: self,
                    health,
                };
                deliver_with(&counted, body, &never, &policy).await
            }
            None => deliver_with(self, body, &never, &policy).await,
        }
    }
}

impl From<Delivery> for SinkOutcome {
    fn from(d: Delivery) -> Self {
        match d {
            Delivery::Delivered { lines, .. } => SinkOutcome::Accepted { lines },
            Delivery::Dropped {
                lines,
                delivered,
                status,
                first_bad_line,
                message,
                ..
            } => SinkOutcome::DropBadLines {
                lines,
                delivered,
                status,
                first_bad_line,
                message,
            },
            // Only a cancelled delivery ends undecided; the batch stays.
            Delivery::Cancelled => SinkOutcome::RetryAfter(std::time::Duration::ZERO),
        }
    }
}

/// The client, also counting accepted lines and refused requests into
/// [`Health`] for the `gateway_status` series. Prometheus counts the same
/// events inside `delivery`; both see every attempt.
struct Counted<'a> {
    client: &'a InfluxClient,
    health: &'a Health,
}

impl LineWriter for Counted<'_> {
    async fn write_once(&self, body: &[u8]) -> WriteOutcome {
        let outcome = LineWriter::write_once(self.client, body).await;
        match outcome {
            WriteOutcome::Written => self.health.count_written(encoder::count_lines(body) as u64),
            _ => self.health.count_write_error(),
        }
        outcome
    }

    fn health(&self) -> &WriterHealth {
        LineWriter::health(self.client)
    }

    fn conflicts(&self) -> &conflict::FieldConflicts {
        LineWriter::conflicts(self.client)
    }

    async fn reachable(&self) -> bool {
        LineWriter::reachable(self.client).await
    }
}
