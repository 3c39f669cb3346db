//! The spool shared by the writer and the sender, with the memory backlog
//! that bridges a disk refusing writes.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::watch;

use super::backlog::{memory_limit, Backlog, Flushed};
use super::batcher::Batch;
use super::PipelineError;
use crate::http::Health;
use crate::spool::{Spool, SpoolError, SpoolRecord, SpoolStats};

/// The spool shared by the writer (append) and the sender (peek/ack), with
/// the memory backlog that bridges a disk refusing writes. A std mutex is
/// right here: it is only held inside `spawn_blocking`, never across an
/// await.
#[derive(Clone)]
pub struct SharedSpool {
    inner: Arc<Mutex<Guarded>>,
    /// Bumped on every append: each sink's sender watches it, so none
    /// misses new data however many there are.
    appended: Arc<watch::Sender<u64>>,
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
            appended: Arc::new(watch::Sender::new(0)),
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
            self.appended.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(on_disk)
    }

    /// Batches waiting in memory for the disk.
    pub fn held(&self) -> usize {
        self.inner.lock().map_or(0, |g| g.backlog.held())
    }

    /// Tells of every append from now on.
    pub fn appended(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// The oldest record not acknowledged by every sink.
    pub async fn peek(&self) -> Result<Option<SpoolRecord>, PipelineError> {
        self.with(|g| g.spool.peek()).await
    }

    /// The oldest record `sink` has not acknowledged.
    pub async fn peek_for(&self, sink: &'static str) -> Result<Option<SpoolRecord>, PipelineError> {
        self.with(move |g| g.spool.peek_for(sink)).await
    }

    /// The oldest records `sink` has not acknowledged, consecutive, the
    /// first always and more while their payloads total at most
    /// `max_bytes` (see [`Spool::peek_many_for`]).
    pub async fn peek_many_for(
        &self,
        sink: &'static str,
        max_bytes: usize,
    ) -> Result<Vec<SpoolRecord>, PipelineError> {
        self.with(move |g| g.spool.peek_many_for(sink, max_bytes))
            .await
    }

    pub async fn ack_for(&self, sink: &'static str, seq: u64) -> Result<(), PipelineError> {
        self.with(move |g| g.spool.ack_for(sink, seq)).await
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
