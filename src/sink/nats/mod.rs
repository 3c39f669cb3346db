//! The JetStream sink (DESIGN §10): one message per spool record on the
//! gateway's subject, with `Nats-Msg-Id: <gateway_id>-<seq>` so a resend
//! (after a crash, or an ack lost to a node failing) is stored once. A
//! record is done for this sink on the stream's PubAck, which a replicated
//! stream sends only once a quorum of nodes has it.
mod connect;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use async_nats::HeaderMap;
use tokio::sync::Mutex;

pub use connect::{connect, ConnectError};

use super::{Sink, SinkOutcome};
use crate::config::Nats;
use crate::crash_point::CountedCrash;

/// Fault tests: die after the n-th PubAck, before the spool's cursor for
/// this sink moves, so the next start publishes that record again.
static CRASH_AFTER_PUBACK: CountedCrash = CountedCrash::new("SINK_TEST_CRASH_AFTER_PUBACK");

/// How long the stream remembers message ids: a resend within it is
/// dropped by the stream. Covers a gateway restart or a node failover
/// comfortably; a resend after longer still lands as the same points.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);

/// Waits after a failed publish: short at first (a node failover takes a
/// few seconds), never long enough to leave a recovered cluster idle.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(5));

pub struct NatsSink {
    settings: Nats,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    js: Option<jetstream::Context>,
    /// The stream was found or created on this connection.
    stream_ready: bool,
    delay: Duration,
    /// The last failure, logged once per kind of failure.
    failing: Option<String>,
}

/// Why a publish did not end in a PubAck.
enum Failure {
    /// Try again soon: the cluster is down, has no quorum, or is electing.
    Retry(String),
    /// A person must act (credentials, a stream that cannot be made).
    Alarm(String),
}

impl NatsSink {
    pub fn new(settings: Nats) -> Self {
        NatsSink {
            settings,
            state: Mutex::new(State::default()),
        }
    }

    pub fn subject(&self) -> &str {
        &self.settings.subject
    }

    async fn publish(&self, st: &mut State, seq: u64, batch: &[u8]) -> Result<bool, Failure> {
        let js = match &st.js {
            Some(js) => js.clone(),
            None => {
                let name = format!("plantgw {}", self.settings.gateway_id);
                let client = connect(&self.settings.conn, &name)
                    .await
                    .map_err(|e| match e {
                        ConnectError::Refused { .. } => Failure::Alarm(e.to_string()),
                        ConnectError::Unreachable { .. } => Failure::Retry(e.to_string()),
                    })?;
                let mut js = jetstream::new(client);
                js.set_timeout(self.settings.conn.timeout);
                st.js = Some(js.clone());
                st.stream_ready = false;
                js
            }
        };
        if !st.stream_ready {
            self.ensure_stream(&js).await?;
            st.stream_ready = true;
        }
        let max = js.client().server_info().max_payload;
        if max > 0 && batch.len() > max {
            // The server would close the connection on it, record after
            // record: alarm instead, with the two ways out.
            return Err(Failure::Alarm(format!(
                "a spool record of {} bytes exceeds the server's max_payload of {max} bytes; \
                 raise max_payload on the NATS servers, or lower influxdb.batch_size where \
                 [influxdb] is configured",
                batch.len()
            )));
        }
        let mut headers = HeaderMap::new();
        let id = format!("{}-{seq}", self.settings.gateway_id);
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        let subject = self.settings.subject.clone();
        let ack = js
            .publish_with_headers(subject, headers, batch.to_vec().into())
            .await
            .map_err(|e| publish_failure(&self.settings, e.kind(), e.to_string()))?
            .await;
        match ack {
            Ok(ack) => Ok(ack.duplicate),
            Err(e) => {
                if e.kind() == PublishErrorKind::StreamNotFound {
                    // Perhaps deleted under us: look for it again next time.
                    st.stream_ready = false;
                }
                Err(publish_failure(&self.settings, e.kind(), e.to_string()))
            }
        }
    }

    async fn ensure_stream(&self, js: &jetstream::Context) -> Result<(), Failure> {
        let c = &self.settings.conn;
        let config = stream::Config {
            name: c.stream.clone(),
            subjects: vec![stream_filter(&self.settings.subject)],
            num_replicas: c.replicas,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        match js.get_or_create_stream(config).await {
            Ok(s) => {
                let info = s.cached_info();
                let takes = info
                    .config
                    .subjects
                    .iter()
                    .any(|f| subject_matches(f, &self.settings.subject));
                if !takes {
                    return Err(Failure::Alarm(format!(
                        "stream {} does not take subject {} (its subjects: {:?})",
                        c.stream, self.settings.subject, info.config.subjects
                    )));
                }
                Ok(())
            }
            Err(e) => {
                use async_nats::jetstream::context::CreateStreamErrorKind as K;
                let reason = format!("stream {}: {e}", c.stream);
                match e.kind() {
                    K::TimedOut | K::JetStreamUnavailable => Err(Failure::Retry(reason)),
                    // Overlapping subjects, too many replicas for the
                    // cluster, no permission: the config must change.
                    K::JetStream(je) if je.code() == 503 => Err(Failure::Retry(reason)),
                    _ => Err(Failure::Alarm(reason)),
                }
            }
        }
    }
}

fn publish_failure(s: &Nats, kind: PublishErrorKind, msg: String) -> Failure {
    match kind {
        PublishErrorKind::StreamNotFound => Failure::Alarm(format!(
            "no stream takes subject {} (stream {} expected): {msg}",
            s.subject, s.conn.stream
        )),
        _ => Failure::Retry(format!("publish to {}: {msg}", s.subject)),
    }
}

/// The subjects a stream this gateway creates takes: every gateway of the
/// fleet (`plant.>`), so the first gateway to start makes it for all.
pub fn stream_filter(subject: &str) -> String {
    let root = subject.split('.').next().unwrap_or("plant");
    format!("{root}.>")
}

/// Whether `subject` falls under the stream filter `filter` (`*`, `>`).
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl Sink for NatsSink {
    fn name(&self) -> &'static str {
        "nats"
    }

    async fn write(&self, seq: u64, batch: &[u8]) -> SinkOutcome {
        let mut st = self.state.lock().await;
        let lines = batch
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        let failure = match self.publish(&mut st, seq, batch).await {
            Ok(duplicate) => {
                CRASH_AFTER_PUBACK.tick();
                if let Some(was) = st.failing.take() {
                    tracing::info!(subject = %self.settings.subject, after = %was, "JetStream takes the data again");
                }
                st.delay = Duration::ZERO;
                metrics::counter!("plantgw_nats_published_total").increment(1);
                if duplicate {
                    metrics::counter!("plantgw_nats_duplicates_total").increment(1);
                }
                metrics::gauge!("plantgw_nats_up").set(1.0);
                return SinkOutcome::Accepted { lines };
            }
            Err(f) => f,
        };
        metrics::counter!("plantgw_nats_publish_errors_total").increment(1);
        metrics::gauge!("plantgw_nats_up").set(0.0);
        match failure {
            Failure::Alarm(reason) => {
                st.failing = Some(reason.clone());
                SinkOutcome::KeepAndAlarm { reason }
            }
            Failure::Retry(reason) => {
                if st.failing.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(reason = %reason, "JetStream is not taking data; it stays in the spool and is retried");
                    st.failing = Some(reason);
                }
                st.delay = (st.delay * 2).clamp(BACKOFF.0, BACKOFF.1);
                SinkOutcome::RetryAfter(st.delay)
            }
        }
    }
}

/// For tests and the relay: the same sink behind an `Arc`.
pub type SharedNatsSink = Arc<NatsSink>;

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn filters_match_like_nats() {
        assert!(subject_matches("plant.>", "plant.caylloma.gw1"));
        assert!(subject_matches("plant.*.gw1", "plant.caylloma.gw1"));
        assert!(!subject_matches("plant.*", "plant.caylloma.gw1"));
        assert!(!subject_matches("other.>", "plant.caylloma.gw1"));
        assert!(subject_matches("plant.caylloma.gw1", "plant.caylloma.gw1"));
    }
}
