//! The historian's two tasks and the spool between them:
//!
//! ```text
//! scans, KPI points ─▶ [writer task] encode ─▶ batch ─▶ spool.append (fsync)
//!                                                           │
//!                        InfluxDB ◀─ deliver ◀─ [sender task] peek / ack after 204
//! ```
//!
//! A batch leaves the spool only after InfluxDB accepted it (or rejected it
//! as bad data, which is counted and logged); an outage only grows the spool.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::batcher::{Batch, Batcher};
use super::client::{Delivery, InfluxClient};
use super::delivery::{deliver_with, LineWriter, WriterHealth};
use super::line::{count_lines, encode_point, Point};
use super::retry::{RetryPolicy, WriteOutcome};
use super::scan_encoder::ScanEncoder;
use crate::http::Health;
use crate::sample::Scan;
use crate::spool::{Spool, SpoolError, SpoolRecord, SpoolStats};

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

/// The spool shared by the writer (append) and the sender (peek/ack). A std
/// mutex is right here: it is only held inside `spawn_blocking`, never across
/// an await.
#[derive(Clone)]
pub struct SharedSpool {
    inner: Arc<Mutex<Spool>>,
    appended: Arc<Notify>,
}

impl SharedSpool {
    pub fn new(spool: Spool) -> Self {
        SharedSpool {
            inner: Arc::new(Mutex::new(spool)),
            appended: Arc::new(Notify::new()),
        }
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Spool) -> Result<T, SpoolError> + Send + 'static,
    ) -> Result<T, PipelineError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut g = inner.lock().map_err(|_| PipelineError::Poisoned)?;
            f(&mut g).map_err(PipelineError::from)
        })
        .await?
    }

    pub async fn append(&self, batch: Batch) -> Result<u64, PipelineError> {
        let seq = self.with(move |s| s.append(&batch.body)).await?;
        self.appended.notify_one();
        Ok(seq)
    }

    pub async fn peek(&self) -> Result<Option<SpoolRecord>, PipelineError> {
        self.with(|s| s.peek()).await
    }

    pub async fn ack(&self, seq: u64) -> Result<(), PipelineError> {
        self.with(move |s| s.ack(seq)).await
    }

    pub fn stats(&self) -> Option<SpoolStats> {
        self.inner.lock().ok().map(|s| s.stats())
    }
}

/// Encodes, batches and spools everything sent on `rx` until the channel
/// closes (all producers gone), then spools what is left and returns.
pub async fn writer_task(
    mut rx: mpsc::Receiver<HistorianInput>,
    mut encoder: ScanEncoder,
    spool: SharedSpool,
    batch_size: usize,
    flush_interval: Duration,
) -> Result<(), PipelineError> {
    let mut batcher = Batcher::new(batch_size, flush_interval);
    loop {
        let deadline = batcher.deadline();
        let input = tokio::select! {
            input = rx.recv() => input,
            _ = sleep_until_opt(deadline) => {
                if let Some(b) = batcher.take() {
                    spool.append(b).await?;
                }
                continue;
            }
        };
        let Some(input) = input else { break };
        let (full, spooled) = match input {
            HistorianInput::Scan(scan) => (batcher.append(|out| encoder.encode(&scan, out)), None),
            HistorianInput::Points(points) => {
                (batcher.append(|out| encode_points(&points, out)), None)
            }
            HistorianInput::Durable { points, spooled } => (
                batcher.append(|out| encode_points(&points, out)),
                Some(spooled),
            ),
        };
        if let Some(b) = full {
            spool.append(b).await?;
        }
        if let Some(spooled) = spooled {
            if let Some(b) = batcher.take() {
                spool.append(b).await?;
            }
            let _ = spooled.send(());
        }
    }
    if let Some(b) = batcher.take() {
        spool.append(b).await?;
    }
    Ok(())
}

fn encode_points(points: &[Point], out: &mut Vec<u8>) -> usize {
    let mut n = 0;
    for p in points {
        match encode_point(p, out) {
            Ok(()) => n += 1,
            Err(e) => tracing::warn!(measurement = %p.measurement, error = %e, "point not written"),
        }
    }
    n
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Delivers spooled batches in order. Stops when `cancel` fires and, after
/// `drain` is signalled (the writer has spooled its last batch), once the
/// spool is empty or `drain_grace` has passed: whatever is left stays spooled
/// for the next start.
pub async fn sender_task(
    client: InfluxClient,
    spool: SharedSpool,
    health: Arc<Health>,
    drain: CancellationToken,
    drain_grace: Duration,
) -> Result<(), PipelineError> {
    // `stop` fires drain_grace after drain: the last chance to deliver.
    let stop = CancellationToken::new();
    {
        let (drain, stop) = (drain.clone(), stop.clone());
        tokio::spawn(async move {
            drain.cancelled().await;
            tokio::time::sleep(drain_grace).await;
            stop.cancel();
        });
    }
    loop {
        if stop.is_cancelled() {
            break;
        }
        let next = spool.peek().await?;
        health.writer_pending(next.is_some());
        let Some(record) = next else {
            if drain.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = spool.appended.notified() => {}
                _ = drain.cancelled() => {}
                // Belt and braces: a notify can race a peek.
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            continue;
        };
        let counted = Counted {
            client: &client,
            health: &health,
        };
        match deliver_with(&counted, &record.payload, &stop, &RetryPolicy::default()).await {
            Delivery::Delivered { .. } | Delivery::Dropped { .. } => {
                spool.ack(record.seq).await?;
                health.writer_acked();
            }
            Delivery::Cancelled => break,
        }
    }
    Ok(())
}

/// The InfluxDB client, also counting accepted lines and refused requests
/// into [`Health`] for the `gateway_status` series. Prometheus counts the
/// same events inside `delivery`; both see every attempt.
struct Counted<'a> {
    client: &'a InfluxClient,
    health: &'a Health,
}

impl LineWriter for Counted<'_> {
    async fn write_once(&self, body: &[u8]) -> WriteOutcome {
        let outcome = LineWriter::write_once(self.client, body).await;
        match outcome {
            WriteOutcome::Written => self.health.count_written(count_lines(body) as u64),
            _ => self.health.count_write_error(),
        }
        outcome
    }

    fn health(&self) -> &WriterHealth {
        LineWriter::health(self.client)
    }

    fn conflicts(&self) -> &super::conflict::FieldConflicts {
        LineWriter::conflicts(self.client)
    }

    async fn reachable(&self) -> bool {
        LineWriter::reachable(self.client).await
    }
}
