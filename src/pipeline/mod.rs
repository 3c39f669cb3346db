//! The generic pipeline from producers to sinks (DESIGN §5, §7):
//!
//! ```text
//! scans, KPI points, ─▶ [writer task] encode ─▶ batch ─▶ spool.append (fsync)
//! gateway_status                                            │
//!                         Sink ◀─ write ◀─ [sender task] peek / ack when done
//! ```
//!
//! A batch leaves the spool only after the sink is done with it (stored,
//! or refused as bad data, which is counted and logged); an outage only
//! grows the spool.
//!
//! - [`batcher`]: encoded lines into batches by size and age;
//! - [`writer`]: the writer task; [`backlog`]: what it does while the disk
//!   refuses the spool; [`SharedSpool`]: the spool both tasks use;
//! - [`sender`]: the sender task, generic over [`crate::sink::Sink`];
//! - [`self_status`]: the gateway's own `gateway_status` series.
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::sample::Scan;
use crate::sink::influxdb::encoder::Point;
use crate::spool::SpoolError;

pub mod backlog;
pub mod batcher;
pub mod self_status;
pub mod sender;
mod shared;
pub mod writer;

pub use sender::sender_task;
pub use shared::SharedSpool;
pub use writer::writer_task;

/// What the writer task accepts.
#[derive(Debug)]
pub enum HistorianInput {
    Scan(Arc<Scan>),
    Points(Vec<Point>),
    /// Points the producer must know are on disk before it goes on (a KPI
    /// day close): spooled at once with what is batched before them, then
    /// `spooled` fires. Dropped unfired if spooling fails.
    Durable {
        points: Vec<Point>,
        spooled: oneshot::Sender<()>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("spool: {0}")]
    Spool(#[from] SpoolError),
    #[error("spool task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("spool lock poisoned")]
    Poisoned,
}
