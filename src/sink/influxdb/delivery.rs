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
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::conflict::{parse_conflict, FieldConflicts, Stripped};
use super::encoder::line_ranges;
use super::health::WriterHealth;
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

    /// What became of a batch sent in two parts: done when both are, with
    /// the counts of both and the first rejection.
    pub fn and(self, other: Delivery) -> Delivery {
        if !self.is_done() || !other.is_done() {
            return Delivery::Cancelled;
        }
        let (a, b) = (self.counts(), other.counts());
        let (lines, delivered, requests) = (a.0 + b.0, a.1 + b.1, a.2.saturating_add(b.2));
        match self.rejection().or_else(|| other.rejection()) {
            None => Delivery::Delivered {
                lines: delivered,
                requests,
            },
            Some((status, first_bad_line, message)) => Delivery::Dropped {
                lines,
                delivered,
                requests,
                status,
                first_bad_line,
                message,
            },
        }
    }

    /// Lines dropped, lines delivered, requests made.
    fn counts(&self) -> (usize, usize, u32) {
        match *self {
            Delivery::Delivered { lines, requests } => (0, lines, requests),
            Delivery::Dropped {
                lines,
                delivered,
                requests,
                ..
            } => (lines, delivered, requests),
            Delivery::Cancelled => (0, 0, 0),
        }
    }

    /// Status, first bad line and message of a rejection.
    fn rejection(self) -> Option<(u16, String, String)> {
        match self {
            Delivery::Dropped {
                status,
                first_bad_line,
                message,
                ..
            } => Some((status, first_bad_line, message)),
            _ => None,
        }
    }
}

/// Something that can attempt a write; the InfluxDB client in production,
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

#[cfg(test)]
mod tests;
