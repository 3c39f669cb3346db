//! One task per PLC: scans on its own drift-free schedule, reads every block
//! of the poll plan, and sends a [`Scan`] downstream. A slow or dead PLC only
//! ever delays its own task.
use std::sync::Arc;
use std::time::Duration;

use plantgw_core::clock::PlantClock;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::decode::{decode_bit_tag, decode_register_tag};
use super::link::{BlockData, Link, LinkError};
use super::planner::{plan, plan_subset, PollPlan, ReadBlock};
use crate::config::Plc;
use crate::sample::{Quality, Reading, Scan, ScanStatus};

/// Reconnect backoff: first retry after `BACKOFF_MIN`, doubling to the cap.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

pub struct Poller {
    plc: Arc<Plc>,
    plan: PollPlan,
    clock: PlantClock,
    tx: mpsc::Sender<Scan>,
    link: Option<Link>,
    /// Earliest instant a reconnect may be tried.
    retry_at: Instant,
    backoff: Duration,
    /// Consecutive scans without a connection, for state-change logging.
    failed_scans: u32,
    was_up: Option<bool>,
    last_ts_ms: i64,
}

impl Poller {
    pub fn new(plc: Arc<Plc>, clock: PlantClock, tx: mpsc::Sender<Scan>) -> Self {
        let plan = plan(&plc.tags, plc.max_gap);
        Poller {
            plc,
            plan,
            clock,
            tx,
            link: None,
            retry_at: Instant::now(),
            backoff: BACKOFF_MIN,
            failed_scans: 0,
            was_up: None,
            last_ts_ms: i64::MIN,
        }
    }

    /// Scans until `cancel`; returns when the downstream channel closes too.
    pub async fn run(mut self, cancel: CancellationToken) {
        let period = self.plc.scan;
        // Align the first scan to a multiple of the period on the wall clock,
        // so PLCs with equal scan rates sample at the same instants.
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let period_ms = period.as_millis().max(1) as i64;
        let wait = Duration::from_millis((period_ms - now_ms.rem_euclid(period_ms)) as u64);
        let mut ticker = tokio::time::interval_at(Instant::now() + wait, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let scan = tokio::select! {
                _ = cancel.cancelled() => break,
                scan = self.scan_once() => scan,
            };
            if self.tx.send(scan).await.is_err() {
                break;
            }
        }
    }

    /// Plant-clock timestamp of this scan, strictly increasing per PLC even
    /// if the wall clock steps backwards (NTP), so series never go back in time.
    fn timestamp(&mut self) -> i64 {
        let ts = self
            .clock
            .now()
            .as_millisecond()
            .max(self.last_ts_ms.saturating_add(1));
        self.last_ts_ms = ts;
        ts
    }

    pub async fn scan_once(&mut self) -> Scan {
        let started = Instant::now();
        let ts_ms = self.timestamp();
        let plc = self.plc.clone();
        let mut status = ScanStatus::default();
        let mut readings: Vec<Reading> = plc
            .tags
            .iter()
            .map(|t| Reading {
                tag: t.id.clone(),
                value: None,
                quality: Quality::CommFailure,
            })
            .collect();
        if self.link.is_none() && Instant::now() >= self.retry_at {
            match Link::connect(&plc.address, plc.unit_id, plc.timeout).await {
                Ok(link) => self.link = Some(link),
                Err(e) => {
                    status.errors += 1;
                    if matches!(e, LinkError::Timeout(_)) {
                        status.timeouts += 1;
                        readings
                            .iter_mut()
                            .for_each(|r| r.quality = Quality::Timeout);
                    }
                    self.note_failure(&e);
                }
            }
        }
        let mut split: Vec<usize> = Vec::new();
        let plan = std::mem::take(&mut self.plan);
        if self.link.is_some() {
            for (bi, block) in plan.blocks.iter().enumerate() {
                let Some(link) = self.link.as_mut() else {
                    // The connection dropped earlier in this scan: the rest
                    // of the blocks stay comm_failure until the next scan.
                    break;
                };
                status.requests += 1;
                match link
                    .read(block.table, block.start, block.count, plc.timeout)
                    .await
                {
                    Ok(data) => fill(&plc, block, &data, &mut readings),
                    Err(e) => {
                        status.errors += 1;
                        let q = match &e {
                            LinkError::Timeout(_) => {
                                status.timeouts += 1;
                                Quality::Timeout
                            }
                            LinkError::Exception(n) => Quality::Exception(*n),
                            LinkError::Length { .. } => Quality::DecodeError,
                            _ => Quality::CommFailure,
                        };
                        for &i in &block.tags {
                            readings[i].quality = q;
                        }
                        // An illegal-address answer for a merged block may
                        // come from a hole bridged across a gap: re-plan it
                        // without gaps so the good ranges are read.
                        if matches!(e, LinkError::Exception(2)) && block.tags.len() > 1 {
                            split.push(bi);
                        }
                        if !e.keeps_connection() {
                            self.link = None;
                            self.note_failure(&e);
                        }
                    }
                }
            }
        }
        self.plan = plan;
        if !split.is_empty() {
            self.split_blocks(&split);
        }
        status.connected = self.link.is_some();
        if status.connected {
            self.note_success();
        }
        status.duration = started.elapsed();
        record_metrics(&plc.name, &status);
        Scan {
            plc: plc.name.clone(),
            area: plc.area.clone(),
            ts_ms,
            readings,
            status,
        }
    }

    fn split_blocks(&mut self, which: &[usize]) {
        let mut blocks = Vec::with_capacity(self.plan.blocks.len() + which.len());
        for (bi, b) in std::mem::take(&mut self.plan.blocks)
            .into_iter()
            .enumerate()
        {
            if which.contains(&bi) {
                let sub = plan_subset(&self.plc.tags, b.tags.iter().copied(), 0);
                tracing::warn!(
                    plc = %self.plc.name, table = b.table.as_str(), start = b.start, count = b.count,
                    into = sub.blocks.len(),
                    "PLC refused a merged read with illegal address; splitting it at its gaps"
                );
                blocks.extend(sub.blocks);
            } else {
                blocks.push(b);
            }
        }
        self.plan.blocks = blocks;
    }

    fn note_failure(&mut self, e: &LinkError) {
        self.failed_scans = self.failed_scans.saturating_add(1);
        self.retry_at = Instant::now() + self.backoff;
        if self.was_up != Some(false) {
            tracing::warn!(plc = %self.plc.name, address = %self.plc.address, error = %e, "PLC down");
            self.was_up = Some(false);
        }
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        metrics::gauge!("plantgw_plc_connected", "plc" => self.plc.name.to_string()).set(0.0);
    }

    fn note_success(&mut self) {
        if self.was_up != Some(true) {
            tracing::info!(plc = %self.plc.name, address = %self.plc.address, after_failed_scans = self.failed_scans, "PLC up");
            self.was_up = Some(true);
        }
        self.failed_scans = 0;
        self.backoff = BACKOFF_MIN;
        metrics::gauge!("plantgw_plc_connected", "plc" => self.plc.name.to_string()).set(1.0);
    }
}

fn fill(plc: &Plc, block: &ReadBlock, data: &BlockData, readings: &mut [Reading]) {
    for &i in &block.tags {
        let tag = &plc.tags[i];
        let (value, quality) = match data {
            BlockData::Words(w) => decode_register_tag(tag, block.start, w),
            BlockData::Bits(b) => decode_bit_tag(tag, block.start, b),
        };
        readings[i].value = value;
        readings[i].quality = quality;
    }
}

fn record_metrics(plc: &str, s: &ScanStatus) {
    let plc = plc.to_string();
    metrics::counter!("plantgw_plc_scans_total", "plc" => plc.clone()).increment(1);
    metrics::counter!("plantgw_plc_requests_total", "plc" => plc.clone())
        .increment(u64::from(s.requests));
    metrics::counter!("plantgw_plc_errors_total", "plc" => plc.clone())
        .increment(u64::from(s.errors));
    metrics::counter!("plantgw_plc_timeouts_total", "plc" => plc.clone())
        .increment(u64::from(s.timeouts));
    metrics::histogram!("plantgw_plc_scan_duration_seconds", "plc" => plc)
        .record(s.duration.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::{SignedDuration, Timestamp};

    /// A plant clock that stands still at `at` (speed 1e-12: a year of wall
    /// time moves it by 32 µs), so timestamps are exact.
    fn frozen(at: Timestamp) -> PlantClock {
        PlantClock::new(at, Timestamp::now(), 1e-12)
    }

    fn poller(clock: PlantClock) -> Poller {
        // Nothing listens there: scans fail fast, timestamps are still taken.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let plc = Plc {
            name: "p".into(),
            area: "a".into(),
            address: format!("127.0.0.1:{port}"),
            unit_id: 1,
            scan: Duration::from_millis(100),
            timeout: Duration::from_millis(200),
            max_gap: 0,
            tags: Vec::new(),
        };
        Poller::new(Arc::new(plc), clock, mpsc::channel(1).0)
    }

    #[tokio::test]
    async fn timestamps_strictly_increase_across_plant_clock_jumps() {
        let t0: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let ms = t0.as_millisecond();
        let mut p = poller(frozen(t0));
        let mut ts = Vec::new();
        for _ in 0..3 {
            ts.push(p.scan_once().await.ts_ms);
        }
        // The clock steps back an hour (NTP, an operator, a restarted
        // simulator): scans keep going forward by the smallest step.
        p.clock = frozen(t0.checked_sub(SignedDuration::from_hours(1)).unwrap());
        for _ in 0..3 {
            ts.push(p.scan_once().await.ts_ms);
        }
        // Forward again past the clamped stamps: the clock rules again.
        p.clock = frozen(t0.checked_add(SignedDuration::from_secs(10)).unwrap());
        ts.push(p.scan_once().await.ts_ms);
        // And a second jump back lands just after that.
        p.clock = frozen(t0.checked_sub(SignedDuration::from_hours(24)).unwrap());
        ts.push(p.scan_once().await.ts_ms);
        assert_eq!(
            ts,
            [
                ms,
                ms + 1,
                ms + 2,
                ms + 3,
                ms + 4,
                ms + 5,
                ms + 10_000,
                ms + 10_001
            ]
        );
    }
}
