//! `plantgw check`'s `[nats]` part: where the gateway publishes, as whom
//! (the kind of credentials, never the token or the creds file's
//! contents), and, where the cluster answers, whether the stream exists
//! and takes the gateway's subject.
use std::time::Duration;

use async_nats::jetstream::{self, context::GetStreamErrorKind, ErrorCode};
use serde::Serialize;

use crate::config::{Nats, NatsAuth};
use crate::sink::nats::{connect, stream_filter, subject_matches};

/// Longest wait for the cluster: `check` must answer promptly even when
/// NATS is away.
const STREAM_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Serialize)]
pub struct NatsSummary {
    pub servers: Vec<String>,
    pub stream: String,
    pub replicas: usize,
    pub subject: String,
    pub gateway_id: String,
    /// `token set`, `creds_file <path>` or `none`.
    pub auth: String,
    pub ca_file: Option<String>,
    pub timeout_ms: u64,
    /// Filled in by [`stream_check`] when the cluster was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_check: Option<String>,
}

pub fn summary(n: &Nats) -> NatsSummary {
    let c = &n.conn;
    NatsSummary {
        servers: c.servers.clone(),
        stream: c.stream.clone(),
        replicas: c.replicas,
        subject: n.subject.clone(),
        gateway_id: n.gateway_id.clone(),
        auth: match &c.auth {
            NatsAuth::None => "none".into(),
            NatsAuth::Token(_) => "token set".into(),
            NatsAuth::Creds(path) => format!("creds_file {}", path.display()),
        },
        ca_file: c.ca_file.as_ref().map(|p| p.display().to_string()),
        timeout_ms: c.timeout.as_millis() as u64,
        stream_check: None,
    }
}

impl NatsSummary {
    /// The `[nats]` lines of `check`'s text.
    pub fn to_text(&self) -> String {
        let mut o = format!(
            "nats {} stream {} (replicas {}) subject {} gateway_id {} ({}{}), timeout {} ms\n",
            self.servers.join(","),
            self.stream,
            self.replicas,
            self.subject,
            self.gateway_id,
            if self.auth == "none" {
                "no credentials"
            } else {
                &self.auth
            },
            self.ca_file
                .as_deref()
                .map(|c| format!(", ca_file {c}"))
                .unwrap_or_default(),
            self.timeout_ms
        );
        if let Some(s) = &self.stream_check {
            o.push_str(&format!("  {s}\n"));
        }
        o
    }
}

/// Asks the cluster about the stream, as the gateway will find it. Never
/// fails: an unreachable cluster or refused credentials give a note.
pub async fn stream_check(n: &Nats) -> String {
    let mut conn = n.conn.clone();
    conn.timeout = conn.timeout.min(STREAM_CHECK_TIMEOUT);
    let asked = async {
        let client = match connect(&conn, "plantgw check").await {
            Ok(c) => c,
            Err(e) => return format!("stream not checked: {e}"),
        };
        let mut js = jetstream::new(client);
        js.set_timeout(conn.timeout);
        describe(n, js.get_stream(&conn.stream).await)
    };
    // Connecting tries each server in turn; bound the whole question.
    tokio::time::timeout(STREAM_CHECK_TIMEOUT * 2, asked)
        .await
        .unwrap_or_else(|_| {
            format!(
                "stream not checked: NATS {} did not answer within {} s",
                conn.servers.join(","),
                (STREAM_CHECK_TIMEOUT * 2).as_secs()
            )
        })
}

fn describe(
    n: &Nats,
    found: Result<jetstream::stream::Stream, jetstream::context::GetStreamError>,
) -> String {
    let name = &n.conn.stream;
    match found {
        Ok(stream) => {
            let info = stream.cached_info();
            let subjects = &info.config.subjects;
            if subjects.iter().any(|f| subject_matches(f, &n.subject)) {
                format!(
                    "stream {name} exists ({} replicas, {} messages) and takes subject {}",
                    info.config.num_replicas, info.state.messages, n.subject
                )
            } else {
                format!(
                    "stream {name} exists but does not take subject {} (its subjects: {}); \
                     the gateway will keep its data spooled and alarm",
                    n.subject,
                    subjects.join(", ")
                )
            }
        }
        Err(e) => match e.kind() {
            GetStreamErrorKind::JetStream(je) if je.error_code() == ErrorCode::STREAM_NOT_FOUND => {
                format!(
                    "stream {name} does not exist yet; the gateway creates it (subjects {}, {} replicas) when it first publishes",
                    stream_filter(&n.subject),
                    n.conn.replicas
                )
            }
            _ => format!("stream not checked: stream {name}: {e}"),
        },
    }
}
