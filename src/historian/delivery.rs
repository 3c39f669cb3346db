//! Delivering one spooled batch: retry, split and bisect until every line
//! is either accepted or known bad, or until shutdown.
//!
//! - 204: done.
//! - 400/422: a batch of several lines is bisected so one bad line does not
//!   cost the plant the whole batch; only lines rejected on their own are
//!   dropped (counted, logged with the first one). Bisection is bounded by
//!   [`RetryPolicy::bisect_budget`]; past it a rejected part is dropped whole.
//! - 400 "field type conflict" (a tag's scale or type changed): the field,
//!   when of the refused type, is left out of this and every later line of
//!   that measurement (see [`super::conflict`]) and the lines are resent;
//!   a line left with no field is dropped like bad data.
//! - 413: split in two at a line boundary and deliver each half; a single
//!   line still too large is dropped like bad data.
//! - 401/403/404, or a 2xx other than 204 (not InfluxDB answering): alarm
//!   once per episode, keep the data, retry with backoff.
//! - 429/503: wait `Retry-After` (bounded), then retry.
//! - network errors (refused, reset, timed out): if `/ping` does not answer
//!   either, InfluxDB is away: ask `/ping` every
//!   [`RetryPolicy::probe_interval`] and resend as soon as it answers, so
//!   the newest data is written within a second or two of its return, not
//!   after a backoff grown during a long outage. If `/ping` answers (a
//!   write timed out on a loaded server), back off like a 5xx.
//! - other 5xx: retry with capped backoff, forever.
//!
//! Cancellation stops waiting and abandons a request in flight; the caller
//! keeps the batch. Parts already accepted are sent again next time, which
//! InfluxDB treats as an overwrite of identical points (same series and
//! timestamp), so a replay duplicates nothing.
//!
//! Logging is per state change (up → down, down → up, credentials
//! rejected), not per attempt: an outage of hours is two log lines.
use std::borrow::Cow;
use std::future::Future;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::InfluxClient;
use super::conflict::{parse_conflict, FieldConflicts, Stripped};
use super::line::line_ranges;
use super::retry::{truncate, RetryPolicy, WriteOutcome};

/// What happened to a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Every line accepted.
    Delivered { lines: usize, requests: u32 },
    /// Done, but `lines` were rejected (bad data, or a single line too
    /// large) and dropped; the other `delivered` lines were accepted.
    Dropped {
        lines: usize,
        delivered: usize,
        requests: u32,
        /// HTTP status of the first rejection (400, 422 or 413).
        status: u16,
        first_bad_line: String,
        /// The server's explanation of the first rejection.
        message: String,
    },
    /// Shutdown while trying: the batch must be kept and delivered later.
    Cancelled,
}

impl Delivery {
    /// True when the batch may leave the spool.
    pub fn is_done(&self) -> bool {
        !matches!(self, Delivery::Cancelled)
    }
}

/// Something that can attempt a write; [`InfluxClient`] in production,
/// scripted fakes in tests.
pub trait LineWriter: Sync {
    fn write_once(&self, body: &[u8]) -> impl Future<Output = WriteOutcome> + Send;

    fn health(&self) -> &WriterHealth;

    /// Fields InfluxDB holds as another type, left out of every line.
    fn conflicts(&self) -> &FieldConflicts;

    /// Whether the server answers at all (any HTTP answer to a cheap
    /// request). A writer that cannot tell says true, which keeps the
    /// plain backoff.
    fn reachable(&self) -> impl Future<Output = bool> + Send {
        std::future::ready(true)
    }

    /// Waits between attempts. Tests override it to observe the waits
    /// without spending real time.
    fn pause(&self, d: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }
}

/// Delivers `body` (newline-separated line protocol) with the default
/// [`RetryPolicy`].
pub async fn deliver(client: &InfluxClient, body: &[u8], cancel: &CancellationToken) -> Delivery {
    deliver_with(client, body, cancel, &RetryPolicy::default()).await
}

/// Why a line was dropped before sending: all its fields conflict.
const KNOWN_CONFLICT: &str =
    "field type conflict (reported by InfluxDB earlier): every field of the line was left out";

/// Longest bad line kept for the log.
const MAX_LOGGED_LINE: usize = 512;

struct Rejected {
    lines: usize,
    status: u16,
    first_bad_line: String,
    message: String,
}

pub async fn deliver_with<W: LineWriter>(
    w: &W,
    body: &[u8],
    cancel: &CancellationToken,
    policy: &RetryPolicy,
) -> Delivery {
    let lines = line_ranges(body);
    if lines.is_empty() {
        return Delivery::Delivered {
            lines: 0,
            requests: 0,
        };
    }
    // Line-index ranges still to send; LIFO with the left half pushed last,
    // so lines go out in their original order.
    let mut todo: Vec<Range<usize>> = Vec::with_capacity(16);
    todo.push(0..lines.len());
    let mut backoff = policy.backoff();
    let mut requests = 0u32;
    let mut delivered = 0usize;
    let mut splits_left = policy.bisect_budget;
    let mut rejected: Option<Rejected> = None;

    while let Some(chunk) = todo.pop() {
        let mut n = chunk.len();
        let mut bytes = Cow::Borrowed(&body[lines[chunk.start].start..lines[chunk.end - 1].end]);
        if let Some(s) = w.conflicts().strip(&bytes) {
            leave_out(&mut bytes, &mut n, s, &mut rejected, KNOWN_CONFLICT);
        }
        loop {
            if n == 0 {
                break;
            }
            let outcome = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Delivery::Cancelled,
                o = w.write_once(&bytes) => o,
            };
            requests = requests.saturating_add(1);
            metrics::counter!("plantgw_write_requests_total").increment(1);
            if let Some(label) = outcome.status_label() {
                metrics::counter!("plantgw_write_errors_total", "status" => label).increment(1);
            }
            let wait = match outcome {
                WriteOutcome::Written => {
                    w.health().answered();
                    backoff.reset();
                    delivered += n;
                    metrics::counter!("plantgw_points_written_total").increment(n as u64);
                    break;
                }
                WriteOutcome::BadData { status, message } => {
                    w.health().answered();
                    backoff.reset();
                    // One field of a line changed type: resend the lines
                    // without it rather than lose them whole.
                    if let Some(c) = parse_conflict(&message) {
                        w.conflicts().add(&c);
                        if let Some(s) = w.conflicts().strip(&bytes) {
                            leave_out(&mut bytes, &mut n, s, &mut rejected, &message);
                            continue;
                        }
                    }
                    if n > 1 && splits_left > 0 {
                        splits_left -= 1;
                        split(&mut todo, chunk);
                    } else {
                        let first = if n == 1 {
                            String::from_utf8_lossy(&bytes).into_owned()
                        } else {
                            quoted_line(&message).unwrap_or_else(|| {
                                String::from_utf8_lossy(line_at(body, &lines, chunk.start))
                                    .into_owned()
                            })
                        };
                        reject(&mut rejected, n, status, first, message, "bad_data");
                    }
                    break;
                }
                WriteOutcome::TooLarge => {
                    w.health().answered();
                    backoff.reset();
                    if n > 1 {
                        split(&mut todo, chunk);
                    } else {
                        let line = String::from_utf8_lossy(&bytes).into_owned();
                        let message = format!(
                            "a single line of {} bytes exceeds the server's request size limit",
                            bytes.len()
                        );
                        reject(&mut rejected, 1, 413, line, message, "too_large");
                    }
                    break;
                }
                WriteOutcome::Unauthorized { status, message } => {
                    w.health().auth_failed(status, &message);
                    backoff.next_delay()
                }
                WriteOutcome::Misdirected { status, message } => {
                    w.health().misdirected(status, &message);
                    backoff.next_delay()
                }
                WriteOutcome::RetryAfter { status, after } => {
                    let wait = policy.retry_after_wait(after, &mut backoff);
                    w.health()
                        .down(&format!("HTTP {status}, retry after {wait:?}"));
                    wait
                }
                WriteOutcome::Retry {
                    status: None,
                    reason,
                } => {
                    w.health().down(&reason);
                    let answering = tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return Delivery::Cancelled,
                        up = w.reachable() => up,
                    };
                    if answering {
                        backoff.next_delay()
                    } else {
                        loop {
                            let up = tokio::select! {
                                biased;
                                _ = cancel.cancelled() => return Delivery::Cancelled,
                                up = async {
                                    w.pause(policy.probe_interval).await;
                                    w.reachable().await
                                } => up,
                            };
                            if up {
                                break;
                            }
                        }
                        tracing::debug!(lines = n, "InfluxDB answers /ping again; resending");
                        continue;
                    }
                }
                WriteOutcome::Retry { reason, .. } => {
                    w.health().down(&reason);
                    backoff.next_delay()
                }
            };
            tracing::debug!(wait = ?wait, lines = n, "InfluxDB write not accepted; retrying");
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Delivery::Cancelled,
                _ = w.pause(wait) => {}
            }
        }
    }

    match rejected {
        None => Delivery::Delivered {
            lines: delivered,
            requests,
        },
        Some(r) => {
            tracing::warn!(
                dropped = r.lines,
                delivered,
                status = r.status,
                first_bad_line = %r.first_bad_line,
                message = %r.message,
                "InfluxDB rejected lines; they are dropped, the rest of the batch was written"
            );
            Delivery::Dropped {
                lines: r.lines,
                delivered,
                requests,
                status: r.status,
                first_bad_line: r.first_bad_line,
                message: r.message,
            }
        }
    }
}

/// Sends `s` instead of `bytes`, counting what it left out; lines left
/// with no field count as rejected with InfluxDB's `message`.
fn leave_out(
    bytes: &mut Cow<'_, [u8]>,
    n: &mut usize,
    s: Stripped,
    rejected: &mut Option<Rejected>,
    message: &str,
) {
    metrics::counter!("plantgw_field_values_dropped_total", "reason" => "field_type_conflict")
        .increment(s.values as u64);
    if s.lines_dropped > 0 {
        let first = s.first_dropped.unwrap_or_default();
        reject(
            rejected,
            s.lines_dropped,
            400,
            first,
            message.to_string(),
            "field_type_conflict",
        );
    }
    *n = n.saturating_sub(s.lines_dropped);
    *bytes = Cow::Owned(s.body);
}

fn split(todo: &mut Vec<Range<usize>>, chunk: Range<usize>) {
    let mid = chunk.start + chunk.len() / 2;
    todo.push(mid..chunk.end);
    todo.push(chunk.start..mid);
}

fn line_at<'a>(body: &'a [u8], lines: &[Range<usize>], i: usize) -> &'a [u8] {
    &body[lines[i].clone()]
}

fn reject(
    acc: &mut Option<Rejected>,
    n: usize,
    status: u16,
    line: String,
    message: String,
    reason: &'static str,
) {
    metrics::counter!("plantgw_points_dropped_total", "reason" => reason).increment(n as u64);
    match acc {
        Some(r) => r.lines += n,
        None => {
            *acc = Some(Rejected {
                lines: n,
                status,
                first_bad_line: truncate(line, MAX_LOGGED_LINE),
                message,
            })
        }
    }
}

/// InfluxDB quotes the line it could not parse: `unable to parse '…': …`.
fn quoted_line(message: &str) -> Option<String> {
    let start = message.find("unable to parse '")? + "unable to parse '".len();
    let rest = &message[start..];
    let end = rest.find("': ").or_else(|| rest.rfind('\''))?;
    Some(rest[..end].to_string())
}

/// Whether InfluxDB is taking writes, shared between the sender and
/// `/healthz`. Cheap to clone.
#[derive(Clone, Default)]
pub struct WriterHealth {
    inner: Arc<Mutex<HealthInner>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriterState {
    /// Last request answered (or none made yet).
    #[default]
    Up,
    /// Unreachable, overloaded or failing; data waits in the spool.
    Down,
    /// Credentials, org, bucket or database rejected (401/403/404), or the
    /// URL answered like something other than InfluxDB: needs a person;
    /// data waits in the spool.
    AuthFailed,
}

#[derive(Default)]
struct HealthInner {
    state: WriterState,
    since: Option<Instant>,
    failed_requests: u64,
}

impl std::fmt::Debug for WriterHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WriterHealth").field(&self.state()).finish()
    }
}

impl WriterHealth {
    pub fn state(&self) -> WriterState {
        self.lock().state
    }

    /// True while writes are failing: the writer is stuck and the spool grows.
    pub fn is_stuck(&self) -> bool {
        self.state() != WriterState::Up
    }

    /// A std mutex held for a few assignments, never across an await; a
    /// poisoned lock still holds consistent plain data.
    fn lock(&self) -> MutexGuard<'_, HealthInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The server answered (2xx, or rejected data, which also proves it up).
    fn answered(&self) {
        let mut h = self.lock();
        if h.state != WriterState::Up {
            let down_for = h.since.map(|s| s.elapsed()).unwrap_or_default();
            tracing::info!(
                down_for = ?down_for,
                failed_requests = h.failed_requests,
                "InfluxDB is accepting writes again; spooled data is being delivered"
            );
            h.state = WriterState::Up;
            h.since = Some(Instant::now());
            h.failed_requests = 0;
        }
        drop(h);
        set_gauges(WriterState::Up);
    }

    fn down(&self, reason: &str) {
        let mut h = self.lock();
        h.failed_requests += 1;
        if h.state != WriterState::Down {
            tracing::warn!(
                reason = %reason,
                "InfluxDB is not accepting writes; data stays in the spool and is retried with backoff"
            );
            h.state = WriterState::Down;
            h.since = Some(Instant::now());
        }
        drop(h);
        set_gauges(WriterState::Down);
    }

    fn auth_failed(&self, status: u16, message: &str) {
        let mut h = self.lock();
        h.failed_requests += 1;
        if h.state != WriterState::AuthFailed {
            tracing::error!(
                status,
                message = %message,
                "InfluxDB refused the writes (check influxdb token, username/password, org, bucket or database); \
                 data stays in the spool and is retried"
            );
            h.state = WriterState::AuthFailed;
            h.since = Some(Instant::now());
        }
        drop(h);
        set_gauges(WriterState::AuthFailed);
    }

    fn misdirected(&self, status: u16, message: &str) {
        let mut h = self.lock();
        h.failed_requests += 1;
        if h.state != WriterState::AuthFailed {
            tracing::error!(
                status,
                message = %message,
                "the server at influxdb.url is not InfluxDB's write endpoint (InfluxDB answers 204); \
                 check influxdb.url and any proxy in front of it; data stays in the spool and is retried"
            );
            h.state = WriterState::AuthFailed;
            h.since = Some(Instant::now());
        }
        drop(h);
        set_gauges(WriterState::AuthFailed);
    }
}

fn set_gauges(s: WriterState) {
    metrics::gauge!("plantgw_influx_up").set(if s == WriterState::Up { 1.0 } else { 0.0 });
    metrics::gauge!("plantgw_influx_auth_failed").set(if s == WriterState::AuthFailed {
        1.0
    } else {
        0.0
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// Scripted writer: answers from `script` first, then by `rule`; records
    /// every request body and every wait.
    struct Fake {
        script: Mutex<VecDeque<WriteOutcome>>,
        rule: Box<dyn Fn(&str) -> WriteOutcome + Send + Sync>,
        sent: Mutex<Vec<String>>,
        waits: Mutex<Vec<Duration>>,
        /// Answers to `reachable`, then true.
        pings: Mutex<VecDeque<bool>>,
        conflicts: FieldConflicts,
        health: WriterHealth,
        cancel_after_waits: Option<(usize, CancellationToken)>,
    }

    impl Fake {
        fn new(rule: impl Fn(&str) -> WriteOutcome + Send + Sync + 'static) -> Self {
            Fake {
                script: Mutex::new(VecDeque::new()),
                rule: Box::new(rule),
                sent: Mutex::new(Vec::new()),
                waits: Mutex::new(Vec::new()),
                pings: Mutex::new(VecDeque::new()),
                conflicts: FieldConflicts::default(),
                health: WriterHealth::default(),
                cancel_after_waits: None,
            }
        }
        fn script(self, s: Vec<WriteOutcome>) -> Self {
            *self.script.lock().unwrap() = s.into();
            self
        }
        fn sent(&self) -> Vec<String> {
            self.sent.lock().unwrap().clone()
        }
        fn waits(&self) -> Vec<Duration> {
            self.waits.lock().unwrap().clone()
        }
    }

    impl LineWriter for Fake {
        fn write_once(&self, body: &[u8]) -> impl Future<Output = WriteOutcome> + Send {
            // Nothing happens until polled, like a real request.
            let text = String::from_utf8(body.to_vec()).unwrap();
            async move {
                self.sent.lock().unwrap().push(text.clone());
                let scripted = self.script.lock().unwrap().pop_front();
                scripted.unwrap_or_else(|| (self.rule)(&text))
            }
        }
        fn health(&self) -> &WriterHealth {
            &self.health
        }
        fn conflicts(&self) -> &FieldConflicts {
            &self.conflicts
        }
        fn reachable(&self) -> impl Future<Output = bool> + Send {
            std::future::ready(self.pings.lock().unwrap().pop_front().unwrap_or(true))
        }
        fn pause(&self, d: Duration) -> impl Future<Output = ()> + Send {
            let mut w = self.waits.lock().unwrap();
            w.push(d);
            if let Some((n, c)) = &self.cancel_after_waits {
                if w.len() >= *n {
                    c.cancel();
                }
            }
            std::future::ready(())
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        }
    }

    fn body(n: usize) -> String {
        (0..n).map(|i| format!("m v={i}i {i}\n")).collect()
    }

    fn ok(_: &str) -> WriteOutcome {
        WriteOutcome::Written
    }

    async fn run(f: &Fake, body: &str) -> Delivery {
        deliver_with(f, body.as_bytes(), &CancellationToken::new(), &policy()).await
    }

    fn bad(status: u16) -> WriteOutcome {
        WriteOutcome::BadData {
            status,
            message: "partial write: unable to parse 'x': bad".into(),
        }
    }

    #[tokio::test]
    async fn delivers_in_one_request() {
        let f = Fake::new(ok);
        assert_eq!(
            run(&f, &body(3)).await,
            Delivery::Delivered {
                lines: 3,
                requests: 1
            }
        );
        assert_eq!(f.sent(), vec!["m v=0i 0\nm v=1i 1\nm v=2i 2".to_string()]);
        assert_eq!(
            run(&f, "\n\n").await,
            Delivery::Delivered {
                lines: 0,
                requests: 0
            }
        );
    }

    #[tokio::test]
    async fn bisects_bad_data_and_keeps_good_lines_in_order() {
        let f = Fake::new(|b| {
            if b.contains("v=5i") || b.contains("v=6i") {
                bad(400)
            } else {
                WriteOutcome::Written
            }
        });
        let d = run(&f, &body(8)).await;
        let Delivery::Dropped {
            lines,
            delivered,
            status,
            first_bad_line,
            ..
        } = d
        else {
            panic!("{d:?}")
        };
        assert_eq!((lines, delivered, status), (2, 6, 400));
        assert_eq!(first_bad_line, "m v=5i 5");
        let accepted: Vec<String> = f
            .sent()
            .into_iter()
            .filter(|b| !b.contains("v=5i") && !b.contains("v=6i"))
            .flat_map(|b| b.lines().map(str::to_string).collect::<Vec<_>>())
            .collect();
        assert_eq!(
            accepted,
            body(8)
                .lines()
                .filter(|l| !l.contains("v=5i") && !l.contains("v=6i"))
                .collect::<Vec<_>>()
        );
        assert!(f.waits().is_empty(), "bad data is not retried with waits");
    }

    #[tokio::test]
    async fn bisection_is_bounded_by_the_budget() {
        let f = Fake::new(|_| bad(422));
        let p = RetryPolicy {
            bisect_budget: 3,
            ..policy()
        };
        let d = deliver_with(&f, body(64).as_bytes(), &CancellationToken::new(), &p).await;
        assert!(
            matches!(d, Delivery::Dropped { lines: 64, delivered: 0, status: 422, ref first_bad_line, .. } if first_bad_line == "x")
        );
        assert!(
            f.sent().len() <= 1 + 2 * 3 + 1,
            "{} requests",
            f.sent().len()
        );
    }

    #[tokio::test]
    async fn splits_on_413_until_it_fits_and_drops_a_lone_giant() {
        let f = Fake::new(|b| {
            if b.len() > 20 || b.contains("giant") {
                WriteOutcome::TooLarge
            } else {
                WriteOutcome::Written
            }
        });
        let mut text = body(6);
        text.push_str("giant v=1i 9\n");
        let d = run(&f, &text).await;
        assert!(
            matches!(d, Delivery::Dropped { lines: 1, delivered: 6, status: 413, ref first_bad_line, .. } if first_bad_line == "giant v=1i 9"),
            "{d:?}"
        );
    }

    #[tokio::test]
    async fn honours_retry_after_and_backs_off_on_server_errors() {
        let f = Fake::new(ok).script(vec![
            WriteOutcome::RetryAfter {
                status: 429,
                after: Some(Duration::from_secs(7)),
            },
            WriteOutcome::RetryAfter {
                status: 503,
                after: None,
            },
            WriteOutcome::Retry {
                status: Some(500),
                reason: "HTTP 500".into(),
            },
            WriteOutcome::Retry {
                status: None,
                reason: "connection refused".into(),
            },
            WriteOutcome::RetryAfter {
                status: 503,
                after: Some(Duration::from_secs(100_000)),
            },
        ]);
        assert_eq!(
            run(&f, &body(2)).await,
            Delivery::Delivered {
                lines: 2,
                requests: 6
            }
        );
        assert_eq!(
            f.waits(),
            vec![
                Duration::from_secs(7),
                Duration::from_millis(100),
                Duration::from_millis(200),
                Duration::from_millis(400),
                Duration::from_secs(300),
            ]
        );
        assert_eq!(f.health.state(), WriterState::Up);
    }

    #[tokio::test]
    async fn unauthorized_keeps_the_data_and_retries_until_fixed() {
        let unauthorized = || WriteOutcome::Unauthorized {
            status: 401,
            message: "unauthorized access".into(),
        };
        let f = Fake::new(ok).script((0..12).map(|_| unauthorized()).collect());
        assert_eq!(
            run(&f, &body(4)).await,
            Delivery::Delivered {
                lines: 4,
                requests: 13
            }
        );
        assert!(
            f.sent().iter().all(|b| b == body(4).trim_end()),
            "whole batch every time"
        );
        let waits = f.waits();
        assert_eq!(waits.len(), 12);
        assert_eq!(waits[11], Duration::from_secs(30), "capped backoff");
    }

    #[tokio::test]
    async fn health_tracks_episodes() {
        let f = Fake::new(ok).script(vec![WriteOutcome::Unauthorized {
            status: 403,
            message: "forbidden".into(),
        }]);
        let cancel = CancellationToken::new();
        let f = Fake {
            cancel_after_waits: Some((1, cancel.clone())),
            ..f
        };
        assert_eq!(
            deliver_with(&f, body(1).as_bytes(), &cancel, &policy()).await,
            Delivery::Cancelled
        );
        assert_eq!(f.health.state(), WriterState::AuthFailed);
        assert!(f.health.is_stuck());
        let f2 = Fake::new(|_| WriteOutcome::Retry {
            status: None,
            reason: "down".into(),
        });
        let f2 = Fake {
            health: f.health.clone(),
            cancel_after_waits: Some((3, CancellationToken::new())),
            ..f2
        };
        let c2 = f2.cancel_after_waits.as_ref().unwrap().1.clone();
        assert_eq!(
            deliver_with(&f2, b"m v=1 1", &c2, &policy()).await,
            Delivery::Cancelled
        );
        assert_eq!(f.health.state(), WriterState::Down, "shared between clones");
        assert_eq!(
            run(
                &Fake {
                    health: f.health.clone(),
                    ..Fake::new(ok)
                },
                "m v=1 1"
            )
            .await,
            Delivery::Delivered {
                lines: 1,
                requests: 1
            }
        );
        assert_eq!(f.health.state(), WriterState::Up);
    }

    #[tokio::test]
    async fn a_misdirected_answer_alarms_and_keeps_the_batch() {
        let cancel = CancellationToken::new();
        let f = Fake {
            cancel_after_waits: Some((2, cancel.clone())),
            ..Fake::new(|_| WriteOutcome::Misdirected {
                status: 200,
                message: "HTTP 200".into(),
            })
        };
        assert_eq!(
            deliver_with(&f, body(2).as_bytes(), &cancel, &policy()).await,
            Delivery::Cancelled
        );
        assert_eq!(f.health.state(), WriterState::AuthFailed);
        assert_eq!(
            f.waits(),
            vec![Duration::from_millis(100), Duration::from_millis(200)],
            "backs off like a rejected credential"
        );
    }

    #[tokio::test]
    async fn while_unreachable_probes_every_interval_and_resends_once_it_answers() {
        let refused = || WriteOutcome::Retry {
            status: None,
            reason: "connection refused".into(),
        };
        // Long enough an outage that a backoff would have reached its cap.
        let f = Fake::new(ok).script(vec![refused()]);
        *f.pings.lock().unwrap() = std::iter::repeat_n(false, 120).collect();
        assert_eq!(
            run(&f, &body(2)).await,
            Delivery::Delivered {
                lines: 2,
                requests: 2
            },
            "one failed write, then the resend as soon as /ping answers"
        );
        assert_eq!(f.waits(), vec![Duration::from_secs(1); 120]);
        assert_eq!(f.health.state(), WriterState::Up);

        // /ping answers but the write failed (timed out on a loaded
        // server): back off as for a 5xx instead of hammering it.
        let f = Fake::new(ok).script(vec![refused(), refused(), refused()]);
        assert_eq!(
            run(&f, &body(2)).await,
            Delivery::Delivered {
                lines: 2,
                requests: 4
            }
        );
        assert_eq!(
            f.waits(),
            vec![
                Duration::from_millis(100),
                Duration::from_millis(200),
                Duration::from_millis(400)
            ]
        );

        // Shutdown while probing keeps the batch.
        let cancel = CancellationToken::new();
        let f = Fake {
            cancel_after_waits: Some((3, cancel.clone())),
            ..Fake::new(|_| WriteOutcome::Retry {
                status: None,
                reason: "connection refused".into(),
            })
        };
        *f.pings.lock().unwrap() = std::iter::repeat_n(false, 10).collect();
        assert_eq!(
            deliver_with(&f, body(1).as_bytes(), &cancel, &policy()).await,
            Delivery::Cancelled
        );
        assert_eq!(f.sent().len(), 1);
    }

    #[tokio::test]
    async fn a_field_type_conflict_costs_only_that_field() {
        let f = Fake::new(|b| {
            if b.lines()
                .any(|l| l.starts_with("ball_mill ") && l.contains("power_kw="))
            {
                WriteOutcome::BadData {
                    status: 400,
                    message: "partial write: field type conflict: input field \"power_kw\" on measurement \"ball_mill\" is type float, already exists as type integer dropped=2".into(),
                }
            } else {
                WriteOutcome::Written
            }
        });
        let batch = "ball_mill power_kw=1.5,starts=3i 1\n\
                     belt power_kw=2.5 1\n\
                     ball_mill power_kw=1.5 2\n\
                     ball_mill starts=4i,power_kw=1.5 3\n";
        let d = run(&f, batch).await;
        assert!(
            matches!(&d, Delivery::Dropped { lines: 1, delivered: 3, requests: 2, status: 400, first_bad_line, message }
                if first_bad_line == "ball_mill power_kw=1.5 2" && message.contains("power_kw")),
            "resent once without the field; the line left empty is not sent: {d:?}"
        );
        assert_eq!(
            f.sent()[1],
            "ball_mill starts=3i 1\nbelt power_kw=2.5 1\nball_mill starts=4i 3"
        );
        assert!(f.waits().is_empty());

        // Later batches leave the field out before sending.
        assert_eq!(
            run(&f, "ball_mill power_kw=7.5,starts=5i 4\n").await,
            Delivery::Delivered {
                lines: 1,
                requests: 1
            }
        );
        assert_eq!(f.sent()[2], "ball_mill starts=5i 4");
    }

    #[tokio::test]
    async fn cancelled_before_start_sends_nothing() {
        let f = Fake::new(ok);
        let c = CancellationToken::new();
        c.cancel();
        assert_eq!(
            deliver_with(&f, b"m v=1 1", &c, &policy()).await,
            Delivery::Cancelled
        );
        assert!(f.sent().is_empty());
    }

    #[test]
    fn finds_the_quoted_line_in_influx_messages() {
        assert_eq!(
            quoted_line("partial write: unable to parse 'cpu value=': missing field value")
                .as_deref(),
            Some("cpu value=")
        );
        assert_eq!(
            quoted_line("unable to parse 'a 'b' c'").as_deref(),
            Some("a 'b' c")
        );
        assert_eq!(quoted_line("field type conflict"), None);
    }
}
