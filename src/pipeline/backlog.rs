//! What the writer does when the disk refuses the spool (full, quota, I/O
//! error): acquisition goes on. Batches wait in a bounded memory queue, in
//! order; a full disk gets space back by dropping the oldest spooled
//! segments; the disk is retried with capped backoff, and the queue goes to
//! the spool, oldest first, as soon as it accepts writes again.
//!
//! Bounds: the queue holds at most [`memory_limit`] bytes (a quarter of
//! `spool.max_bytes`, between 1 and 64 MiB); beyond that its oldest batches
//! are dropped. Every dropped batch, spooled or in memory, counts in
//! `plantgw_spool_dropped_records_total` (one batch is one spool record).
//! An episode logs one warning when it starts and one info line with the
//! totals when it ends; `/healthz` and `gateway_status` show it meanwhile.
//!
//! Only a lack of space is answered by dropping spooled data: after an EIO
//! or a read-only remount, deleting would lose data without helping, so
//! the memory queue alone bridges until the disk recovers.
use crate::http::health::SpoolTrouble;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::spool::{Spool, SpoolError};

const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// An episode ends only after this long without a refused write: on a full
/// disk the spool sheds a segment, writes into the space it freed until the
/// disk is full again, and sheds the next; that is one episode, not many.
pub const QUIET: Duration = Duration::from_secs(30);
const MIN_MEMORY: u64 = 1 << 20;
const MAX_MEMORY: u64 = 64 << 20;

/// Bytes of batches held in memory while the disk refuses writes.
pub fn memory_limit(max_bytes: u64) -> usize {
    usize::try_from((max_bytes / 4).clamp(MIN_MEMORY, MAX_MEMORY)).unwrap_or(usize::MAX)
}

#[derive(Debug)]
struct Episode {
    since: Instant,
    last: Instant,
    error: String,
    shed_records: u64,
    memory_dropped: u64,
    peak: usize,
}

/// What one call did, for the caller to wake the sender.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Batches that reached the spool.
    pub spooled: usize,
}

#[derive(Debug)]
pub struct Backlog {
    batches: VecDeque<Vec<u8>>,
    bytes: usize,
    limit: usize,
    episode: Option<Episode>,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Batches dropped from memory since start.
    dropped: u64,
}

impl Backlog {
    pub fn new(limit: usize) -> Backlog {
        Backlog {
            batches: VecDeque::new(),
            bytes: 0,
            limit,
            episode: None,
            retry_at: None,
            backoff: FIRST_RETRY,
            dropped: 0,
        }
    }

    /// Spools `body` after everything already waiting; when the disk
    /// refuses, it waits in memory. A first failure is acted on at once, a
    /// retry only once the backoff has passed.
    pub fn append(&mut self, spool: &mut Spool, body: Vec<u8>) -> Flushed {
        let first = self.batches.is_empty();
        self.push(body);
        self.flush(spool, first)
    }

    /// Moves waiting batches into the spool, oldest first; without `force`
    /// only when the backoff has passed.
    pub fn flush(&mut self, spool: &mut Spool, force: bool) -> Flushed {
        let now = Instant::now();
        let mut done = Flushed::default();
        if !force && self.retry_at.is_some_and(|t| now < t) {
            return done;
        }
        while let Some(front) = self.batches.front() {
            match spool.append(front) {
                Ok(_) => {
                    self.pop();
                    done.spooled += 1;
                }
                Err(e @ SpoolError::TooLarge { .. }) => {
                    // Can never fit: waiting would block everything behind it.
                    tracing::error!(error = %e, "batch dropped");
                    self.pop();
                    self.count_dropped(1);
                }
                Err(e) => {
                    self.begin(&e, now);
                    if e.is_out_of_space() {
                        match spool.shed_oldest() {
                            Ok(Some(records)) => {
                                if let Some(ep) = self.episode.as_mut() {
                                    ep.shed_records += records;
                                }
                                continue;
                            }
                            Ok(None) => {}
                            Err(e) => {
                                tracing::debug!(error = %e, "could not shed the oldest spool segment")
                            }
                        }
                    }
                    self.retry_at = Some(now + self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_RETRY);
                    return done;
                }
            }
        }
        self.retry_at = None;
        self.backoff = FIRST_RETRY;
        if let Some(ep) = self
            .episode
            .take_if(|ep| now.duration_since(ep.last) >= QUIET)
        {
            tracing::info!(
                dir = %spool.dir().display(),
                seconds = ep.since.elapsed().as_secs_f64(),
                dropped_spooled_records = ep.shed_records,
                dropped_memory_batches = ep.memory_dropped,
                peak_memory_batches = ep.peak,
                "spool accepts writes again; batches held in memory are spooled"
            );
        }
        done
    }

    /// Batches waiting in memory.
    pub fn held(&self) -> usize {
        self.batches.len()
    }

    /// Batches dropped from memory since start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn trouble(&self) -> Option<SpoolTrouble> {
        self.episode.as_ref().map(|ep| SpoolTrouble {
            since: ep.since,
            last: ep.last,
            error: ep.error.clone(),
            held: self.batches.len(),
        })
    }

    fn begin(&mut self, e: &SpoolError, now: Instant) {
        match self.episode.as_mut() {
            Some(ep) => {
                ep.last = now;
                ep.error = e.to_string();
            }
            None => {
                tracing::warn!(
                    error = %e,
                    memory_limit_bytes = self.limit,
                    "spool refuses writes: acquisition goes on, the newest batches wait in memory \
                     and, while the disk is full, the oldest spooled data is dropped"
                );
                self.episode = Some(Episode {
                    since: now,
                    last: now,
                    error: e.to_string(),
                    shed_records: 0,
                    memory_dropped: 0,
                    peak: self.batches.len(),
                });
            }
        }
    }

    fn push(&mut self, body: Vec<u8>) {
        let mut evicted = 0;
        // The newest batch always stays, even one larger than the bound.
        while !self.batches.is_empty() && self.bytes + body.len() > self.limit {
            self.pop();
            evicted += 1;
        }
        if evicted > 0 {
            self.count_dropped(evicted);
        }
        self.bytes += body.len();
        self.batches.push_back(body);
        if let Some(ep) = self.episode.as_mut() {
            ep.peak = ep.peak.max(self.batches.len());
        }
    }

    fn pop(&mut self) {
        if let Some(b) = self.batches.pop_front() {
            self.bytes -= b.len();
        }
    }

    fn count_dropped(&mut self, batches: u64) {
        self.dropped += batches;
        if let Some(ep) = self.episode.as_mut() {
            ep.memory_dropped += batches;
        }
        metrics::counter!("plantgw_spool_dropped_records_total").increment(batches);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_bound_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Backlog::new(10);
        b.episode = Some(Episode {
            since: Instant::now() - QUIET,
            last: Instant::now() - QUIET,
            error: "test".into(),
            shed_records: 0,
            memory_dropped: 0,
            peak: 0,
        });
        for i in 0..5u8 {
            b.push(vec![i; 4]);
        }
        assert_eq!(b.held(), 2);
        assert_eq!(b.dropped(), 3);
        let mut spool = Spool::open(&dir.path().join("s"), 1 << 20).unwrap();
        assert_eq!(b.flush(&mut spool, true).spooled, 2);
        assert!(b.trouble().is_none());
        assert_eq!(spool.peek().unwrap().unwrap().payload, vec![3u8; 4]);
    }

    #[test]
    fn limit_is_a_quarter_of_max_bytes_within_bounds() {
        assert_eq!(memory_limit(1 << 20), 1 << 20);
        assert_eq!(memory_limit(64 << 20), 16 << 20);
        assert_eq!(memory_limit(1 << 40), 64 << 20);
    }
}
