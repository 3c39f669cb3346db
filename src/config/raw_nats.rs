//! `[nats]` as written (DESIGN §10): the JetStream sink of a gateway and
//! the source of a relay share the connection keys; `gateway_id`/`subject`
//! are the gateway's, `durable`/`filter_subject` the relay's.
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::secret::Secret;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// Any nodes of the cluster, `nats://host:4222` or `tls://…`; the
    /// client learns the rest from the cluster. Required.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Stream name, created if missing. Default `PLANT`.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// Copies the cluster keeps of each message (1–5). Default 3.
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// Gateway: subject its records go to. Default `plant.<site>.<gateway_id>`.
    pub subject: Option<String>,
    /// Gateway: unique per gateway, the prefix of every `Nats-Msg-Id`. Required
    /// in a gateway.
    pub gateway_id: Option<String>,
    /// Token auth. Prefer `token_file` or `PLANTGW_NATS__TOKEN`.
    pub token: Option<Secret>,
    /// File holding the token (trimmed). Relative to the config file.
    pub token_file: Option<PathBuf>,
    /// NATS credentials file (JWT + nkey seed). Relative to the config file.
    pub creds_file: Option<PathBuf>,
    /// Extra PEM CA certificate(s) for `tls://` servers; setting it requires TLS.
    pub ca_file: Option<PathBuf>,
    /// Per request (publish ack, fetch), in milliseconds. Default 5000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Relay: the shared durable consumer's name. Default `historian`.
    #[serde(default = "default_durable")]
    pub durable: String,
    /// Relay: subjects it takes. Default `plant.>`.
    #[serde(default = "default_filter")]
    pub filter_subject: String,
    /// Relay: most messages fetched per pull, 1–10000. Default 100.
    #[serde(default = "default_fetch")]
    pub fetch_batch: usize,
    /// Relay: how long the server waits for a relay's ack before another
    /// relay gets the message, in milliseconds. Default 30000.
    #[serde(default = "default_ack_wait_ms")]
    pub ack_wait_ms: u64,
}

fn default_stream() -> String {
    "PLANT".into()
}
fn default_replicas() -> usize {
    3
}
fn default_timeout_ms() -> u64 {
    5000
}
fn default_durable() -> String {
    "historian".into()
}
fn default_filter() -> String {
    "plant.>".into()
}
fn default_ack_wait_ms() -> u64 {
    30_000
}
fn default_fetch() -> usize {
    100
}
