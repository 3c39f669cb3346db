//! `[nats]`, validated (see [`super::raw_nats`]).
use std::path::PathBuf;
use std::time::Duration;

use super::secret::Secret;

/// How to reach the cluster and which stream to use.
#[derive(Debug, Clone)]
pub struct NatsConn {
    pub servers: Vec<String>,
    pub stream: String,
    pub replicas: usize,
    pub auth: NatsAuth,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NatsAuth {
    None,
    Token(Secret),
    Creds(PathBuf),
}

/// A gateway's JetStream sink.
#[derive(Debug, Clone)]
pub struct Nats {
    pub conn: NatsConn,
    pub subject: String,
    pub gateway_id: String,
}

/// A relay's source.
#[derive(Debug, Clone)]
pub struct RelayNats {
    pub conn: NatsConn,
    pub durable: String,
    pub filter_subject: String,
    pub fetch_batch: usize,
    pub ack_wait: Duration,
}
