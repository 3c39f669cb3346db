//! `plantgw relay` (DESIGN §10): a durable pull consumer on the fleet's
//! stream, shared by any number of relays, writing each message (one
//! gateway spool record, a line-protocol batch) to InfluxDB with §7's
//! answer rules. A message is acked only after InfluxDB stored it (204) or
//! refused it as bad data (counted, never redelivered for ever); a relay
//! killed mid-batch leaves its messages unacked, and the server hands them
//! to another relay after `ack_wait`. A point written twice is the same
//! point, so a redelivery changes nothing in InfluxDB.
mod message;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::config::RelaySettings;
use crate::http::Health;
use crate::sink::influxdb::{deliver, Delivery, InfluxClient};
use crate::sink::nats::{connect, ConnectError};
pub use message::{classify, Kind};

/// Health and `/metrics` name for the relay's one delivery path.
pub const SINK: &str = "relay";

/// Waits between attempts to reach the cluster or find the stream.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(10));

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("InfluxDB client for {url}: {source}")]
    Influx {
        url: String,
        #[source]
        source: crate::sink::influxdb::SetupError,
    },
}

/// Runs until `cancel`: consume, write, ack. Connection and stream
/// trouble is logged once per episode and retried; only a client that
/// cannot be built at all is an error.
pub async fn run(
    s: RelaySettings,
    health: Arc<Health>,
    cancel: CancellationToken,
) -> Result<(), RelayError> {
    let influx = InfluxClient::new(&s.influx).map_err(|source| RelayError::Influx {
        url: s.influx.url.clone(),
        source,
    })?;
    health.register_sink(SINK);
    let mut delay = Duration::ZERO;
    let mut failing: Option<String> = None;
    while !cancel.is_cancelled() {
        let why = match consume(&s, &influx, &health, &cancel).await {
            Ok(()) => return Ok(()),
            Err(why) => why,
        };
        if failing.as_deref() != Some(why.as_str()) {
            tracing::warn!(reason = %why, "relay cannot consume; retrying with backoff");
            failing = Some(why);
        }
        delay = (delay * 2).clamp(BACKOFF.0, BACKOFF.1);
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    Ok(())
}

/// One connection's life: returns `Ok` on cancel, `Err(reason)` when the
/// connection, stream or consumer needs setting up again.
async fn consume(
    s: &RelaySettings,
    influx: &InfluxClient,
    health: &Health,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let n = &s.nats;
    let client = connect(&n.conn, &format!("plantgw relay {}", n.durable))
        .await
        .map_err(|e| match e {
            ConnectError::Refused { .. } => format!("{e} (fix the config)"),
            ConnectError::Unreachable { .. } => e.to_string(),
        })?;
    let mut js = jetstream::new(client);
    js.set_timeout(n.conn.timeout);
    let stream = js
        .get_stream(&n.conn.stream)
        .await
        .map_err(|e| format!("stream {}: {e}", n.conn.stream))?;
    let consumer = stream
        .get_or_create_consumer(
            &n.durable,
            pull::Config {
                durable_name: Some(n.durable.clone()),
                filter_subject: n.filter_subject.clone(),
                ack_policy: AckPolicy::Explicit,
                ack_wait: n.ack_wait,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("durable consumer {} on {}: {e}", n.durable, n.conn.stream))?;
    tracing::info!(stream = %n.conn.stream, durable = %n.durable, filter = %n.filter_subject, "relay consuming");
    loop {
        let batch = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            b = consumer.fetch().max_messages(n.fetch_batch).expires(Duration::from_secs(1)).messages() => b,
        };
        let mut batch = batch.map_err(|e| format!("fetch from {}: {e}", n.durable))?;
        while let Some(msg) = batch.next().await {
            let msg = msg.map_err(|e| format!("fetch from {}: {e}", n.durable))?;
            health.sink_pending(SINK, true);
            let done = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                d = handle(influx, &msg) => d,
            };
            if !done {
                return Ok(());
            }
            match msg.double_ack().await {
                Ok(()) => {
                    health.sink_acked(SINK);
                    metrics::counter!("plantgw_relay_acked_total").increment(1);
                }
                Err(e) => {
                    // Redelivered after ack_wait: the same points again.
                    metrics::counter!("plantgw_relay_ack_errors_total").increment(1);
                    tracing::warn!(error = %e, "ack not confirmed; the message will come again");
                }
            }
            health.sink_pending(SINK, false);
        }
    }
}

/// Writes one message; true when it may be acked.
async fn handle(influx: &InfluxClient, msg: &jetstream::Message) -> bool {
    let started = Instant::now();
    let body = match classify(msg.headers.as_ref(), &msg.payload) {
        Kind::Foreign(why) => {
            metrics::counter!("plantgw_relay_messages_total", "result" => "foreign").increment(1);
            tracing::warn!(subject = %msg.subject, reason = why, "a message that is not a plantgw batch; acked and skipped");
            return true;
        }
        Kind::Batch(body) => body,
    };
    let never = CancellationToken::new();
    match deliver(influx, body, &never).await {
        Delivery::Delivered { lines, .. } => {
            metrics::counter!("plantgw_relay_messages_total", "result" => "written").increment(1);
            metrics::counter!("plantgw_relay_points_written_total").increment(lines as u64);
            metrics::histogram!("plantgw_relay_write_seconds")
                .record(started.elapsed().as_secs_f64());
            if let Some(lag) = message::age_of_newest(body) {
                metrics::gauge!("plantgw_relay_lag_seconds").set(lag.as_secs_f64());
            }
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
