//! `plantgw run`: wires the stages together and shuts them down in order.
//!
//! ```text
//! pollers ─scan─▶ router ─┬─▶ KPI engine ─points─┐
//!                         └───────────scans──────┴─▶ writer ─▶ spool ─┬─▶ sender ─▶ InfluxDB
//!                                                                    └─▶ sender ─▶ JetStream
//! ```
//!
//! One sender per configured sink (`[influxdb]`, `[nats]`, at least one),
//! each with its own cursor in the spool.
//!
//! Shutdown runs front to back: pollers stop, each stage drains its input
//! and drops its output, the writer spools its last batch, and the senders
//! get a short grace period to deliver before the rest waits in the spool.
//!
//! A [`supervisor`] owns these tasks. A reload replaces only what changed
//! (unchanged PLCs keep polling on their schedule), a panicked poller is
//! restarted, and any other task that fails or ends on its own stops the
//! gateway with an error, so `plantgw run` exits non-zero.
mod critical;
mod historian;
mod pollers;
mod router;
mod supervisor;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plantgw_core::clock::PlantClock;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Influx, InfluxTarget, Settings};
use crate::http::{self, Health};
use crate::pipeline::{PipelineError, SharedSpool};

pub use pollers::FaultHook;
use supervisor::Supervisor;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("spool {dir}: {source}")]
    Spool {
        dir: String,
        #[source]
        source: crate::spool::SpoolError,
    },
    #[error("InfluxDB client: {0}")]
    Influx(#[from] crate::sink::influxdb::SetupError),
    #[error(transparent)]
    Http(#[from] http::BindError),
    #[error("historian: {0}")]
    Pipeline(#[from] PipelineError),
    #[error("KPI: {0}")]
    Kpi(#[from] crate::kpi::KpiError),
    #[error("{task} failed: {reason}")]
    Task { task: &'static str, reason: String },
    /// A reload adding or removing `[influxdb]` or `[nats]`.
    #[error("the sinks would change from {from} to {to}, which takes a restart (each sink has its own place in the spool)")]
    SinksChanged { from: String, to: String },
}

/// Knobs that are not configuration: tests and the demo set them.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How long the sender may keep delivering after shutdown was requested.
    pub drain_grace: Duration,
    /// Wall time between two `gateway_status` points.
    pub status_interval: Duration,
    /// Tests only: runs at the start of every poller task (see [`FaultHook`]).
    #[doc(hidden)]
    pub poller_fault: Option<FaultHook>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            drain_grace: Duration::from_secs(10),
            status_interval: crate::pipeline::self_status::DEFAULT_INTERVAL,
            poller_fault: None,
        }
    }
}

/// A running gateway, for callers that need to look inside (demo, tests).
pub struct Running {
    pub http_addr: Option<SocketAddr>,
    pub health: Arc<Health>,
    pub spool: SharedSpool,
    pub kpi: Option<crate::kpi::KpiHandle>,
    done: tokio::task::JoinHandle<Result<(), AppError>>,
}

impl Running {
    /// Waits for the gateway to finish after `cancel` fired.
    pub async fn wait(self) -> Result<(), AppError> {
        match self.done.await {
            Ok(r) => r,
            Err(e) => Err(AppError::Pipeline(PipelineError::Join(e))),
        }
    }

    /// True once the gateway has stopped (after `cancel`, or a failure).
    pub fn is_finished(&self) -> bool {
        self.done.is_finished()
    }
}

/// Runs until `stop`; each message on `reload` re-reads the configuration
/// from `path`. A valid new configuration replaces only what changed while
/// the rest keeps running (unchanged PLCs keep their scan schedule); one
/// that is invalid, or cannot start (a port in use, an unusable spool
/// directory), is refused with a log line and the running one stays.
/// Returns an error when a task of the gateway fails.
pub async fn run_with_reload(
    path: &Path,
    settings: Settings,
    clock: PlantClock,
    stop: CancellationToken,
    reload: mpsc::Receiver<()>,
) -> Result<(), AppError> {
    let (supervisor, _) = Supervisor::start(settings, clock, RunOptions::default()).await?;
    supervisor
        .run(stop, Some((path.to_path_buf(), reload)))
        .await
}

/// Starts the gateway; it runs until `cancel` (or a task fails) and
/// [`Running::wait`] then returns how it ended.
pub async fn start(
    settings: Settings,
    clock: PlantClock,
    cancel: CancellationToken,
    opts: RunOptions,
) -> Result<Running, AppError> {
    let (supervisor, started) = Supervisor::start(settings, clock, opts).await?;
    let done = tokio::spawn(supervisor.run(cancel, None));
    Ok(Running {
        http_addr: started.http_addr,
        health: started.health,
        spool: started.spool,
        kpi: started.kpi,
        done,
    })
}

/// Equal as configured. Every settings type prints all its fields with
/// `Debug` except secrets, which [`same_influx`] compares on their own.
fn same<T: Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn same_influx(a: &Influx, b: &Influx) -> bool {
    fn secret(t: &InfluxTarget) -> Option<&str> {
        match t {
            InfluxTarget::V1 { password, .. } => password.as_ref().map(|p| p.expose()),
            InfluxTarget::V2 { token, .. } => Some(token.expose()),
        }
    }
    same(a, b) && secret(&a.target) == secret(&b.target)
}
