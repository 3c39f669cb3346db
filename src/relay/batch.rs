//! Writing one fetch of messages to InfluxDB: all of them in one request
//! when they are good, one by one when InfluxDB refuses part of them, so
//! one bad message costs only its own lines (DESIGN §7 per message).
use std::ops::Range;
use std::time::Instant;

use async_nats::jetstream;
use tokio_util::sync::CancellationToken;

use super::message::{age_of_newest, classify, Kind};
use crate::sink::influxdb::{deliver, deliver_with, Delivery, InfluxClient, RetryPolicy};

/// Most bytes of line protocol the relay puts in one InfluxDB request; a
/// fetch beyond it is written in several. Well under InfluxDB's default
/// request limit (25 MB for 1.x), and a gateway's record (≤ its batch
/// size) is far smaller.
pub const MAX_WRITE_BYTES: usize = 8 << 20;

/// Splits messages of payload sizes `sizes` into index runs of at most
/// `budget` bytes (a single larger message is a run of its own).
pub fn runs(sizes: &[usize], budget: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, len) in sizes.iter().enumerate() {
        let len = len + 1;
        if i > start && bytes + len > budget {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// Writes the plantgw batches among `msgs` and counts the rest as foreign;
/// true when every message may be acked (stored, or refused as bad data).
pub async fn write(influx: &InfluxClient, msgs: &[jetstream::Message]) -> bool {
    let started = Instant::now();
    let mut bodies = Vec::with_capacity(msgs.len());
    for msg in msgs {
        match classify(msg.headers.as_ref(), &msg.payload) {
            Kind::Foreign(why) => {
                metrics::counter!("plantgw_relay_messages_total", "result" => "foreign")
                    .increment(1);
                tracing::warn!(subject = %msg.subject, reason = why, "a message that is not a plantgw batch; acked and skipped");
            }
            Kind::Batch(body) => bodies.push((msg, body)),
        }
    }
    if bodies.is_empty() {
        return true;
    }
    let mut joined = Vec::with_capacity(bodies.iter().map(|(_, b)| b.len() + 1).sum());
    for (_, body) in &bodies {
        joined.extend_from_slice(body);
        if !body.ends_with(b"\n") {
            joined.push(b'\n');
        }
    }
    // No bisection across messages: on a refusal each message is written
    // on its own below, with the full budget, and answers for itself.
    let whole = RetryPolicy {
        bisect_budget: 0,
        ..RetryPolicy::default()
    };
    let never = CancellationToken::new();
    match deliver_with(influx, &joined, &never, &whole).await {
        Delivery::Delivered { lines, .. } => {
            metrics::counter!("plantgw_relay_messages_total", "result" => "written")
                .increment(bodies.len() as u64);
            metrics::counter!("plantgw_relay_points_written_total").increment(lines as u64);
            written(started, &joined);
            true
        }
        Delivery::Dropped { .. } => {
            tracing::debug!(
                messages = bodies.len(),
                "InfluxDB refused part of a combined write; writing its messages one by one"
            );
            for (msg, body) in bodies {
                if !one(influx, msg, body).await {
                    return false;
                }
            }
            true
        }
        Delivery::Cancelled => false,
    }
}

/// One message's lines with §7's rules: true when it may be acked.
async fn one(influx: &InfluxClient, msg: &jetstream::Message, body: &[u8]) -> bool {
    let started = Instant::now();
    let never = CancellationToken::new();
    match deliver(influx, body, &never).await {
        Delivery::Delivered { lines, .. } => {
            metrics::counter!("plantgw_relay_messages_total", "result" => "written").increment(1);
            metrics::counter!("plantgw_relay_points_written_total").increment(lines as u64);
            written(started, body);
            true
        }
        Delivery::Dropped {
            lines,
            delivered,
            status,
            first_bad_line,
            message,
            ..
        } => {
            metrics::counter!("plantgw_relay_messages_total", "result" => "rejected").increment(1);
            metrics::counter!("plantgw_relay_points_written_total").increment(delivered as u64);
            metrics::counter!("plantgw_relay_points_rejected_total").increment(lines as u64);
            tracing::warn!(subject = %msg.subject, status, lines, first_bad_line = %first_bad_line, message = %message,
                "InfluxDB refused lines of a relayed batch as bad data; dropped and acked");
            true
        }
        Delivery::Cancelled => false,
    }
}

fn written(started: Instant, body: &[u8]) {
    metrics::histogram!("plantgw_relay_write_seconds").record(started.elapsed().as_secs_f64());
    if let Some(lag) = age_of_newest(body) {
        metrics::gauge!("plantgw_relay_lag_seconds").set(lag.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn runs_stay_within_the_budget_and_keep_order() {
        assert!(runs(&[], 10).is_empty());
        // Each message costs its payload and a newline.
        assert_eq!(runs(&[4, 4, 4], 10), [0..2, 2..3]);
        let one = runs(&[4, 4, 4], 15);
        assert_eq!((one.len(), one.first()), (1, Some(&(0..3))));
        // A message over the budget alone is a run of its own.
        assert_eq!(runs(&[2, 30, 2], 10), [0..1, 1..2, 2..3]);
    }
}
