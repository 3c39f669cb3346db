//! One task per PLC: scans on its own drift-free schedule, reads every block
//! of the poll plan, and sends a [`Scan`] downstream. A slow or dead PLC only
//! ever delays its own task.
//!
//! A block that fails while other blocks of the PLC answer is a failing
//! range, not a dead PLC: the connection is re-made at once, the scan goes
//! on, and the block rests on a slower retry schedule ([`Schedule`]). The
//! PLC is down when it cannot be connected, or nothing answers (two
//! timeouts in a row with no answer end the attempt); then it is retried
//! with capped backoff, and every tag keeps one quality code for the whole
//! outage.
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use plantgw_core::clock::PlantClock;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::decode::{decode_bit_tag, decode_register_tag};
use super::link::{BlockData, Link, LinkError};
use super::planner::{plan_limited, ReadBlock};
use super::schedule::Schedule;
use super::transport::{self, Lines, Transport};
use crate::config::Plc;
use crate::sample::{Quality, Reading, Scan, ScanStatus};

/// Reconnect backoff: first retry after `BACKOFF_MIN`, doubling to the cap.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Timeouts in a row, with no answer yet in the scan, that make an attempt
/// give up: one may be a silent range, two look like a hung PLC, and more
/// would cost a timeout each for nothing.
const STALL_TIMEOUTS: u32 = 2;

pub struct Poller {
    plc: Arc<Plc>,
    schedule: Schedule,
    clock: PlantClock,
    tx: mpsc::Sender<Scan>,
    transport: Box<dyn Transport>,
    link: Option<Link>,
    /// Earliest instant a reconnect may be tried.
    retry_at: Instant,
    backoff: Duration,
    /// Consecutive scans without a connection, for state-change logging.
    failed_scans: u32,
    was_up: Option<bool>,
    /// While the PLC is down: each tag's quality for the whole outage, fixed
    /// when it began, so codes do not flap between attempts and waits.
    outage: Option<Vec<Quality>>,
    last_ts_ms: i64,
    /// Scans so far: a tag of scan class n is read when n divides it.
    scans: u64,
}

/// What one scan saw.
struct Pass {
    readings: Vec<Reading>,
    status: ScanStatus,
    /// When the first request went out: the scan's acquisition time.
    first_request: Option<(Instant, Timestamp)>,
    /// Tags whose block answered (data or exception) in this scan.
    read: Vec<bool>,
    answered: bool,
    /// Blocks that failed and dropped the connection, with their tags' code.
    failed: Vec<(usize, Quality)>,
    /// Blocks answered with exception 2, to split.
    refused: Vec<usize>,
    /// Set when the attempt ended early: the code of the tags not asked.
    gave_up: Option<Quality>,
    /// Blocks tried.
    tried: usize,
    /// This scan's number, for the scan classes.
    scan_no: u64,
    error: Option<LinkError>,
}

impl Pass {
    fn new(plc: &Plc) -> Pass {
        Pass {
            readings: plc
                .tags
                .iter()
                .map(|t| Reading {
                    tag: t.id.clone(),
                    value: None,
                    quality: Quality::CommFailure,
                })
                .collect(),
            status: ScanStatus::default(),
            first_request: None,
            read: vec![false; plc.tags.len()],
            answered: false,
            failed: Vec::new(),
            refused: Vec::new(),
            gave_up: None,
            tried: 0,
            scan_no: 0,
            error: None,
        }
    }

    fn set(&mut self, block: &ReadBlock, q: Quality) {
        for &i in &block.tags {
            self.readings[i].value = None;
            self.readings[i].quality = q;
        }
    }

    /// The PLC is up if something answered, or nothing failed (no block
    /// was due). An attempt that gave up, or where every request failed,
    /// means it is down.
    fn up(&self) -> bool {
        self.gave_up.is_none() && (self.answered || self.failed.is_empty())
    }

    /// The code of a PLC that is down after this pass.
    fn outage_code(&self) -> Quality {
        self.gave_up.unwrap_or_else(|| {
            if self.failed.iter().any(|(_, q)| *q == Quality::Timeout) {
                Quality::Timeout
            } else {
                Quality::CommFailure
            }
        })
    }
}

/// Whether a tag of scan class `every` is read in scan `scan_no`.
fn is_due(every: u32, scan_no: u64) -> bool {
    scan_no % u64::from(every.max(1)) == 0
}

/// The code the tags of a block get for a failed request.
fn quality_of(e: &LinkError) -> Quality {
    match e {
        LinkError::Timeout(_) => Quality::Timeout,
        LinkError::Exception(n) => Quality::Exception(*n),
        LinkError::Length { .. } => Quality::DecodeError,
        _ => Quality::CommFailure,
    }
}

/// The code of a PLC that could not be connected.
fn connect_code(e: &LinkError) -> Quality {
    if matches!(e, LinkError::Timeout(_)) {
        Quality::Timeout
    } else {
        Quality::CommFailure
    }
}

impl Poller {
    /// A poller over the transport the PLC's settings ask for.
    pub fn new(plc: Arc<Plc>, clock: PlantClock, tx: mpsc::Sender<Scan>) -> Self {
        let transport = transport::for_plc(&plc);
        Self::with_transport(plc, transport, clock, tx)
    }

    /// A poller on its place in `lines`: PLCs naming one connection share it.
    pub fn on_lines(
        plc: Arc<Plc>,
        lines: &Lines,
        clock: PlantClock,
        tx: mpsc::Sender<Scan>,
    ) -> Self {
        let transport = lines.for_plc(&plc);
        Self::with_transport(plc, transport, clock, tx)
    }

    pub fn with_transport(
        plc: Arc<Plc>,
        transport: Box<dyn Transport>,
        clock: PlantClock,
        tx: mpsc::Sender<Scan>,
    ) -> Self {
        let schedule = Schedule::new(
            plan_limited(&plc.tags, plc.max_gap, plc.link.max_registers),
            plc.scan,
        );
        Poller {
            plc,
            schedule,
            clock,
            tx,
            transport,
            link: None,
            retry_at: Instant::now(),
            backoff: BACKOFF_MIN,
            failed_scans: 0,
            was_up: None,
            outage: None,
            last_ts_ms: i64::MIN,
            scans: 0,
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

    /// Plant-clock timestamp `at`, made strictly increasing per PLC even if
    /// the wall clock steps backwards (NTP), so series never go back in time.
    fn timestamp(&mut self, at: Timestamp) -> i64 {
        let ts = at.as_millisecond().max(self.last_ts_ms.saturating_add(1));
        self.last_ts_ms = ts;
        ts
    }

    pub async fn scan_once(&mut self) -> Scan {
        let begun = (Instant::now(), self.clock.now());
        let plc = self.plc.clone();
        let scan_no = self.scans;
        self.scans = self.scans.wrapping_add(1);
        let mut pass = Pass::new(&plc);
        pass.scan_no = scan_no;
        let waiting = self.link.is_none() && begun.0 < self.retry_at;
        if !waiting {
            self.read_blocks(&plc, &mut pass).await;
        }
        let up = !waiting && pass.up();
        if up {
            self.settle_blocks(&pass);
            self.note_success();
        } else {
            self.hold_outage(&mut pass, waiting);
        }
        if !pass.refused.is_empty() {
            for (b, parts) in self.schedule.split_refused(&pass.refused, &plc.tags) {
                tracing::warn!(
                    plc = %plc.name, table = b.table.as_str(), start = b.start, count = b.count,
                    into = parts,
                    "PLC refused a read with illegal address; splitting it"
                );
            }
        }
        let (started, at) = pass.first_request.unwrap_or(begun);
        if plc.tags.iter().any(|t| t.scan_every > 1) {
            // Tags of a slower class not due in this scan are not in it:
            // no value, and no quality either.
            let mut due = plc.tags.iter().map(|t| is_due(t.scan_every, scan_no));
            pass.readings.retain(|_| due.next().unwrap_or(true));
        }
        pass.status.connected = up;
        pass.status.duration = started.elapsed();
        record_metrics(&plc.name, &pass.status);
        Scan {
            plc: plc.name.clone(),
            area: plc.area.clone(),
            ts_ms: self.timestamp(at),
            readings: pass.readings,
            status: pass.status,
        }
    }

    /// Reads the blocks due now, reconnecting whenever a failure dropped
    /// the connection, until all are read or the PLC looks down.
    async fn read_blocks(&mut self, plc: &Plc, pass: &mut Pass) {
        let now = Instant::now();
        for (block, code) in self.schedule.resting(now) {
            pass.set(block, code);
        }
        let mut timeouts_in_row = 0;
        for bi in self.schedule.due(now) {
            let every = self
                .schedule
                .block(bi)
                .tags
                .first()
                .map_or(1, |&i| plc.tags[i].scan_every);
            if !is_due(every, pass.scan_no) {
                continue;
            }
            if self.link.is_none() {
                match Link::connect(self.transport.as_ref(), plc.timeout).await {
                    Ok(link) => self.link = Some(link),
                    Err(e) => {
                        pass.status.errors += 1;
                        if matches!(e, LinkError::Timeout(_)) {
                            pass.status.timeouts += 1;
                        }
                        pass.gave_up = Some(connect_code(&e));
                        pass.error = Some(e);
                        break;
                    }
                }
            }
            let Some(link) = self.link.as_mut() else {
                break;
            };
            if pass.first_request.is_none() {
                pass.first_request = Some((Instant::now(), self.clock.now()));
            }
            let block = self.schedule.block(bi);
            pass.tried += 1;
            pass.status.requests += 1;
            let result = link
                .read(block.table, block.start, block.count, plc.timeout)
                .await;
            let answered = match result {
                Ok(data) => {
                    fill(plc, block, &data, &mut pass.readings);
                    true
                }
                Err(LinkError::Exception(n)) => {
                    pass.status.errors += 1;
                    pass.set(block, Quality::Exception(n));
                    if n == 2 && block.tags.len() > 1 {
                        pass.refused.push(bi);
                    }
                    true
                }
                Err(e) => {
                    pass.status.errors += 1;
                    let q = quality_of(&e);
                    pass.set(block, q);
                    // Only an exception leaves the stream in step; after a
                    // timeout the late answer may still arrive (see
                    // `LinkError::Timeout`).
                    self.link = None;
                    pass.failed.push((bi, q));
                    if matches!(e, LinkError::Timeout(_)) {
                        pass.status.timeouts += 1;
                        timeouts_in_row += 1;
                    } else {
                        timeouts_in_row = STALL_TIMEOUTS;
                    }
                    pass.error = Some(e);
                    // Go on while the PLC shows life: it answered in this
                    // scan, or this timeout may be one silent range.
                    if !pass.answered && timeouts_in_row >= STALL_TIMEOUTS {
                        pass.gave_up = Some(pass.outage_code());
                        break;
                    }
                    false
                }
            };
            if answered {
                for &i in &block.tags {
                    pass.read[i] = true;
                }
                pass.answered = true;
                timeouts_in_row = 0;
                if self.schedule.answered(bi) {
                    let b = self.schedule.block(bi);
                    tracing::info!(
                        plc = %plc.name, table = b.table.as_str(), start = b.start, count = b.count,
                        "register range answers again; back to every scan"
                    );
                }
            }
        }
    }

    /// After a scan the PLC answered: blocks that failed rest.
    fn settle_blocks(&mut self, pass: &Pass) {
        let now = Instant::now();
        for &(bi, code) in &pass.failed {
            let (rest, again) = self.schedule.failed(bi, code, now);
            let b = self.schedule.block(bi);
            if !again {
                tracing::warn!(
                    plc = %self.plc.name, table = b.table.as_str(), start = b.start, count = b.count,
                    code = %code.code(), retry_in = ?rest.wait,
                    "register range fails while the rest of the PLC answers; retrying it less often"
                );
            } else {
                tracing::debug!(
                    plc = %self.plc.name, start = b.start, retry_in = ?rest.wait,
                    "register range still fails"
                );
            }
        }
        self.schedule.unrotate();
        self.outage = None;
    }

    /// The PLC is down: the tags not read in this scan get the outage's
    /// codes, fixed by the scan that began it.
    fn hold_outage(&mut self, pass: &mut Pass, waiting: bool) {
        if self.outage.is_none() {
            let mut held = vec![pass.outage_code(); pass.readings.len()];
            for &(bi, q) in &pass.failed {
                for &i in &self.schedule.block(bi).tags {
                    held[i] = q;
                }
            }
            self.outage = Some(held);
        }
        if let Some(held) = &self.outage {
            for (i, r) in pass.readings.iter_mut().enumerate() {
                if !pass.read[i] {
                    r.value = None;
                    r.quality = held[i];
                }
            }
        }
        if !waiting {
            // Next attempt probes other blocks first.
            self.schedule.rotate(pass.tried);
            let e = pass
                .error
                .take()
                .unwrap_or(LinkError::Protocol("no answer".into()));
            self.note_failure(&e);
        }
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
    use crate::config::{DataType, Table};
    use crate::source::modbus::planner;
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
            link: Default::default(),
        };
        Poller::new(Arc::new(plc), clock, mpsc::channel(1).0)
    }

    /// A PLC whose TCP stack accepts connections and whose application never
    /// answers: every request times out.
    async fn stalled_peer() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        addr.to_string()
    }

    #[tokio::test]
    async fn a_stalled_plc_has_one_quality_code_for_the_whole_outage() {
        let p = poller(frozen(Timestamp::now()));
        let mut plc = (*p.plc).clone();
        plc.address = stalled_peer().await;
        plc.timeout = Duration::from_millis(100);
        // Two requests: far apart in one table, and another table.
        plc.tags = vec![
            planner::tests::tag(Table::Holding, 0, DataType::U16, 0),
            planner::tests::tag(Table::Holding, 100, DataType::U16, 0),
            planner::tests::tag(Table::Coil, 0, DataType::Bool, 0),
        ];
        let mut p = Poller::new(Arc::new(plc), p.clock, mpsc::channel(1).0);
        // Attempts and the scans in between while backing off (250 ms).
        let mut seen = Vec::new();
        let until = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < until {
            let scan = p.scan_once().await;
            assert!(!scan.status.connected);
            seen.push(scan.readings.iter().map(|r| r.quality).collect::<Vec<_>>());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(seen.len() >= 5, "{} scans", seen.len());
        for (k, codes) in seen.iter().enumerate() {
            assert_eq!(
                codes,
                &vec![Quality::Timeout; 3],
                "scan {k} of the outage: {seen:?}"
            );
        }
    }

    /// Answers one read-holding-registers request on `stream` with zeros.
    async fn answer_one_read(stream: &mut tokio::net::TcpStream) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut req = [0u8; 12];
        stream.read_exact(&mut req).await.unwrap();
        let count = u16::from_be_bytes([req[10], req[11]]);
        let mut out = req[..4].to_vec();
        out.extend_from_slice(&(3 + 2 * count).to_be_bytes());
        out.extend_from_slice(&[req[6], 3, (2 * count) as u8]);
        out.extend(std::iter::repeat_n(0u8, 2 * usize::from(count)));
        stream.write_all(&out).await.unwrap();
    }

    #[tokio::test]
    async fn the_scan_is_stamped_when_its_first_request_goes_out_after_connecting() {
        // A listener whose accept queue is full: the kernel drops the
        // poller's SYN and the connect only completes on its retransmission,
        // about a second later.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let _filler = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut plc = (*poller(PlantClock::wall()).plc).clone();
        plc.address = addr.to_string();
        plc.timeout = Duration::from_secs(5);
        plc.tags = vec![planner::tests::tag(Table::Holding, 0, DataType::U16, 0)];
        let mut p = Poller::new(Arc::new(plc), PlantClock::wall(), mpsc::channel(1).0);
        let called = Timestamp::now().as_millisecond();
        let (scan, ()) = tokio::join!(p.scan_once(), async {
            // Let the poller's SYN be dropped, then make room and serve it.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (_first, _) = listener.accept().await.unwrap();
            let (mut conn, _) = listener.accept().await.unwrap();
            answer_one_read(&mut conn).await;
        });
        let connected_after = scan.ts_ms - called;
        assert_eq!(scan.readings[0].quality, Quality::Good, "{scan:?}");
        assert!(
            connected_after >= 700,
            "scan stamped {connected_after} ms after it began: before the slow connect completed"
        );
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
