//! The library's top-level error.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::from_config::ConfigError;
use crate::scenario::ScenarioError;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },
    #[error("unknown time zone {name:?}: {error}")]
    TimeZone { name: String, error: jiff::Error },
    #[error("plc {plc}: cannot listen on {addr}: {error}")]
    Bind {
        plc: String,
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("RTU bus pty {}: {error}", link.display())]
    Pty {
        link: PathBuf,
        error: std::io::Error,
    },
    #[error("truth log {}: {error}", path.display())]
    TruthLog {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot start the model thread: {0}")]
    Spawn(std::io::Error),
    #[error("the model thread ended without reporting")]
    ModelLost,
}
