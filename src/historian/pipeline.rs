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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::backlog::{memory_limit, Backlog, Flushed};
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

/// The spool shared by the writer (append) and the sender (peek/ack), with
/// the memory backlog that bridges a disk refusing writes. A std mutex is
/// right here: it is only held inside `spawn_blocking`, never across an
/// await.
#[derive(Clone)]
pub struct SharedSpool {
    inner: Arc<Mutex<Guarded>>,
    appended: Arc<Notify>,
    /// Mirrors "the backlog holds batches", so the writer's retry tick
    /// costs nothing while the disk is fine.
    degraded: Arc<AtomicBool>,
    /// Told when the spool becomes degraded or recovers (`/healthz`).
    health: Arc<OnceLock<Arc<Health>>>,
}

struct Guarded {
    spool: Spool,
    backlog: Backlog,
}

impl SharedSpool {
    pub fn new(spool: Spool) -> Self {
        let backlog = Backlog::new(memory_limit(spool.max_bytes()));
        SharedSpool {
            inner: Arc::new(Mutex::new(Guarded { spool, backlog })),
            appended: Arc::new(Notify::new()),
            degraded: Arc::new(AtomicBool::new(false)),
            health: Arc::new(OnceLock::new()),
        }
    }

    /// Where to report the spool's trouble; the first call wins.
    pub fn report_to(&self, health: Arc<Health>) {
        let _ = self.health.set(health);
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Guarded) -> Result<T, SpoolError> + Send + 'static,
    ) -> Result<T, PipelineError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut g = inner.lock().map_err(|_| PipelineError::Poisoned)?;
            f(&mut g).map_err(PipelineError::from)
        })
        .await?
    }

    /// Spools a batch, or keeps it in memory while the disk refuses
    /// writes (see [`super::backlog`]). Fails only when the spool itself is
    /// unusable (a panic while it was held).
    /// Spools `batch` after everything already waiting. `Ok(true)` when it
    /// and everything before it is on disk (fsynced); `Ok(false)` when the
    /// disk refused and batches wait in memory.
    pub async fn append(&self, batch: Batch) -> Result<bool, PipelineError> {
        self.backlog_op(move |g| g.backlog.append(&mut g.spool, batch.body))
            .await
    }

    /// Retries the disk if batches wait in memory and the backoff has
    /// passed; with `force`, regardless of the backoff.
    pub async fn retry(&self, force: bool) -> Result<bool, PipelineError> {
        if !self.degraded.load(Ordering::Relaxed) {
            return Ok(true);
        }
        self.backlog_op(move |g| g.backlog.flush(&mut g.spool, force))
            .await
    }

    async fn backlog_op(
        &self,
        f: impl FnOnce(&mut Guarded) -> Flushed + Send + 'static,
    ) -> Result<bool, PipelineError> {
        let (done, trouble, on_disk) = self
            .with(move |g| {
                let done = f(g);
                Ok((done, g.backlog.trouble(), g.backlog.held() == 0))
            })
            .await?;
        self.degraded.store(trouble.is_some(), Ordering::Relaxed);
        if let Some(h) = self.health.get() {
            h.spool_trouble(trouble);
        }
        if done.spooled > 0 {
            self.appended.notify_one();
        }
        Ok(on_disk)
    }

    /// Batches waiting in memory for the disk.
    pub fn held(&self) -> usize {
        self.inner.lock().map_or(0, |g| g.backlog.held())
    }

    pub async fn peek(&self) -> Result<Option<SpoolRecord>, PipelineError> {
        self.with(|g| g.spool.peek()).await
    }

    pub async fn ack(&self, seq: u64) -> Result<(), PipelineError> {
        self.with(move |g| g.spool.ack(seq)).await
    }

    /// The spool's stats, with batches waiting or dropped in memory counted
    /// as records like spooled ones.
    pub fn stats(&self) -> Option<SpoolStats> {
        self.inner.lock().ok().map(|g| {
            let mut s = g.spool.stats();
            s.records += g.backlog.held() as u64;
            s.dropped_records += g.backlog.dropped();
            s
        })
    }

    /// True while the disk refuses writes.
    pub fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }
}

/// How often the writer retries the disk while batches wait in memory and
/// no new input arrives; the backlog's own backoff decides whether it does.
const RETRY_TICK: Duration = Duration::from_millis(250);

/// Encodes, batches and spools everything sent on `rx` until the channel
/// closes (all producers gone), then spools what is left and returns. A
/// disk refusing writes does not stop it (see [`super::backlog`]).
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
        let retry = spool
            .degraded()
            .then(|| tokio::time::Instant::now() + RETRY_TICK);
        let input = tokio::select! {
            input = rx.recv() => input,
            _ = sleep_until_opt(deadline) => {
                if let Some(b) = batcher.take() {
                    spool.append(b).await?;
                }
                continue;
            }
            _ = sleep_until_opt(retry) => {
                spool.retry(false).await?;
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
            // A durable batch tries the disk now rather than after the backoff.
            let on_disk = spool.retry(true).await?;
            // Held in memory is not durable: the dropped sender tells the
            // KPI task so, and the day is closed again after a restart.
            if on_disk {
                let _ = spooled.send(());
            }
        }
    }
    if let Some(b) = batcher.take() {
        spool.append(b).await?;
    }
    spool.retry(true).await?;
    let held = spool.held();
    if held > 0 {
        tracing::error!(
            batches = held,
            "shutting down while the disk refuses the spool: batches held in memory are lost"
        );
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
    spool.report_to(health.clone());
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
        let Some(next) = persist("read", &stop, || spool.peek()).await? else {
            break;
        };
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
                if persist("acknowledge", &stop, || spool.ack(record.seq))
                    .await?
                    .is_none()
                {
                    // Unacknowledged, the batch is delivered again next start.
                    break;
                }
                health.writer_acked();
            }
            Delivery::Cancelled => break,
        }
    }
    Ok(())
}

/// Runs a spool operation until it succeeds or `stop` fires (`None`): a
/// disk error must not end delivery. Logs once per failing episode. Only a
/// spool that cannot be used at all (poisoned, task panicked) is an error.
async fn persist<T, F, Fut>(
    what: &str,
    stop: &CancellationToken,
    mut op: F,
) -> Result<Option<T>, PipelineError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, PipelineError>>,
{
    let mut delay = Duration::from_millis(250);
    let mut failing = false;
    loop {
        match op().await {
            Ok(v) => {
                if failing {
                    tracing::info!(op = what, "spool works again");
                }
                return Ok(Some(v));
            }
            Err(PipelineError::Spool(e)) => {
                if !failing {
                    tracing::warn!(op = what, error = %e, "spool operation failed; retrying with backoff");
                    failing = true;
                }
                tokio::select! {
                    _ = stop.cancelled() => return Ok(None),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
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
