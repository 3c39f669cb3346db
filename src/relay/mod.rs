//! `plantgw relay` (DESIGN §10): a durable pull consumer on the fleet's
//! stream, shared by any number of relays, writing the messages (each one
//! gateway spool record, a line-protocol batch) of each fetch to InfluxDB
//! in one request, with §7's answer rules per message. A message is acked only after InfluxDB stored it (204) or
//! refused it as bad data (counted, never redelivered for ever); a relay
//! killed mid-batch leaves its messages unacked, and the server hands them
//! to another relay after `ack_wait`. A point written twice is the same
//! point, so a redelivery changes nothing in InfluxDB.
mod batch;
mod message;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::config::RelaySettings;
use crate::crash_point::CountedCrash;
use crate::http::Health;
use crate::sink::influxdb::InfluxClient;
use crate::sink::nats::{connect, ConnectError};
pub use message::{classify, Kind};

/// Health and `/metrics` name for the relay's one delivery path.
pub const SINK: &str = "relay";

/// Fault tests: die after the n-th write to InfluxDB, before its messages
/// are acked, as a relay killed mid-batch would.
static CRASH_BEFORE_ACK: CountedCrash = CountedCrash::new("RELAY_TEST_CRASH_BEFORE_ACK");

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
        let fetched = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            b = consumer.fetch().max_messages(n.fetch_batch).expires(Duration::from_secs(1)).messages() => b,
        };
        let mut fetched = fetched.map_err(|e| format!("fetch from {}: {e}", n.durable))?;
        // The whole fetch goes to InfluxDB together: one request for up to
        // fetch_batch messages instead of one each.
        let mut msgs = Vec::new();
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                m = fetched.next() => m,
            };
            match next {
                Some(m) => msgs.push(m.map_err(|e| format!("fetch from {}: {e}", n.durable))?),
                None => break,
            }
        }
        if msgs.is_empty() {
            continue;
        }
        health.sink_pending(SINK, true);
        let redelivered = msgs
            .iter()
            .filter(|m| m.info().is_ok_and(|i| i.delivered > 1))
            .count();
        if redelivered > 0 {
            // Another relay (or this one, before a reconnect) took these
            // and did not ack them within ack_wait.
            metrics::counter!("plantgw_relay_redelivered_total").increment(redelivered as u64);
        }
        let sizes: Vec<usize> = msgs.iter().map(|m| m.payload.len()).collect();
        for run in batch::runs(&sizes, batch::MAX_WRITE_BYTES) {
            let run = &msgs[run];
            let done = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                d = batch::write(influx, run) => d,
            };
            if !done {
                return Ok(());
            }
            CRASH_BEFORE_ACK.tick();
            for msg in run {
                ack(msg).await;
            }
            health.sink_acked(SINK);
        }
        health.sink_pending(SINK, false);
    }
}

/// Acks one message the server must not deliver again; an ack the server
/// does not confirm only means the same points are written once more.
async fn ack(msg: &jetstream::Message) {
    match msg.double_ack().await {
        Ok(()) => metrics::counter!("plantgw_relay_acked_total").increment(1),
        Err(e) => {
            metrics::counter!("plantgw_relay_ack_errors_total").increment(1);
            tracing::warn!(error = %e, "ack not confirmed; the message will come again");
        }
    }
}
