//! Sinks: where spooled batches go (DESIGN §5, §7). The pipeline
//! ([`crate::pipeline`]) batches, spools and hands each spooled batch to a
//! [`Sink`]; what the sink answers decides whether the batch leaves the
//! spool. Only the sink knows its protocol; the pipeline knows only the
//! outcomes below.
//!
//! - [`influxdb`]: InfluxDB 1.x/2.x over HTTP line protocol.
//! - [`nats`]: a NATS JetStream stream, one message per spool record.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::http::Health;

pub mod influxdb;
pub mod nats;

/// What became of one batch handed to [`Sink::write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkOutcome {
    /// Every line stored: the batch may leave the spool.
    Accepted { lines: usize },
    /// Nothing stored for good; send the same batch again after the wait.
    RetryAfter(Duration),
    /// Done, but `lines` were refused as bad data (or too large on their
    /// own) and dropped; the other `delivered` lines were stored. The batch
    /// may leave the spool.
    DropBadLines {
        lines: usize,
        delivered: usize,
        /// The sink's code for the first refusal (HTTP status for InfluxDB).
        status: u16,
        first_bad_line: String,
        message: String,
    },
    /// The sink refuses in a way a person must fix (credentials, wrong
    /// endpoint): the batch stays spooled and is retried, and the alarm is
    /// raised.
    KeepAndAlarm { reason: String },
}

impl SinkOutcome {
    /// True when the batch may leave the spool.
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            SinkOutcome::Accepted { .. } | SinkOutcome::DropBadLines { .. }
        )
    }
}

/// A destination for spooled batches (newline-separated line protocol).
///
/// `write` may take as long as it needs (a sink can retry, split or wait
/// for its server inside); the sender stops waiting by dropping the
/// future, which must leave nothing half-done that a resend of the whole
/// batch would not repair.
pub trait Sink: Send + Sync + 'static {
    /// Short stable name, used for metrics labels, logs and the spool cursor.
    fn name(&self) -> &'static str;

    /// `seq` is the spool record's sequence number, unique for the
    /// gateway's life: a sink that deduplicates resends keys on it. For
    /// records merged into one batch (see [`Sink::merge_budget`]) it is
    /// the last one's.
    fn write(&self, seq: u64, batch: &[u8]) -> impl Future<Output = SinkOutcome> + Send;

    /// While a backlog waits, consecutive spool records whose payloads
    /// total at most this many bytes are merged into one `write` (0: one
    /// record per write). Only a sink whose writes mean the same merged
    /// or not may say more than 0: NATS keys deduplication on each
    /// record's seq, InfluxDB stores points whatever request they came in.
    fn merge_budget(&self) -> usize {
        0
    }

    /// Where to count written lines and refused requests for the
    /// `gateway_status` series; called once when a sender starts.
    fn report_to(&self, _health: &Arc<Health>) {}
}
