//! `plantgw run`: wires the stages together and shuts them down in order.
//!
//! ```text
//! pollers ─scan─▶ router ─┬─▶ KPI engine ─points─┐
//!                         └───────────scans──────┴─▶ writer ─▶ spool ─▶ sender ─▶ InfluxDB
//! ```
//!
//! Shutdown runs front to back: pollers stop, each stage drains its input
//! and drops its output, the writer spools its last batch, and the sender
//! gets a short grace period to deliver before the rest waits in the spool.
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plantgw_core::clock::PlantClock;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::historian::client::InfluxClient;
use crate::historian::pipeline::{
    sender_task, writer_task, HistorianInput, PipelineError, SharedSpool,
};
use crate::historian::scan_encoder::ScanEncoder;
use crate::http::{self, Health};
use crate::kpi::KpiTask;
use crate::modbus::poller::Poller;
use crate::spool::Spool;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("spool {dir}: {source}")]
    Spool {
        dir: String,
        #[source]
        source: crate::spool::SpoolError,
    },
    #[error("InfluxDB client: {0}")]
    Influx(#[from] crate::historian::HistorianError),
    #[error(transparent)]
    Http(#[from] http::BindError),
    #[error("historian: {0}")]
    Pipeline(#[from] PipelineError),
    #[error("KPI: {0}")]
    Kpi(#[from] crate::kpi::KpiError),
}

/// Knobs that are not configuration: tests and the demo set them.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How long the sender may keep delivering after shutdown was requested.
    pub drain_grace: Duration,
    /// Wall time between two `gateway_status` points.
    pub status_interval: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            drain_grace: Duration::from_secs(10),
            status_interval: crate::historian::self_status::DEFAULT_INTERVAL,
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
}

/// Runs until `stop`; each message on `reload` re-reads the configuration
/// from `path`. A valid new configuration replaces the running one (the old
/// pipeline drains into the spool, the new one replays it: nothing is lost);
/// an invalid one is refused with a log line and the old one keeps running.
pub async fn run_with_reload(
    path: &Path,
    mut settings: Settings,
    clock: PlantClock,
    stop: CancellationToken,
    mut reload: mpsc::Receiver<()>,
) -> Result<(), AppError> {
    loop {
        let cancel = stop.child_token();
        let running = start(
            settings.clone(),
            clock,
            cancel.clone(),
            RunOptions::default(),
        )
        .await?;
        let next = loop {
            tokio::select! {
                _ = stop.cancelled() => return running.wait().await,
                msg = reload.recv() => {
                    if msg.is_none() {
                        // No reload request can come any more: run until stopped.
                        stop.cancelled().await;
                        return running.wait().await;
                    }
                    match crate::config::load(path) {
                        Ok(new) => break new,
                        Err(e) => tracing::error!(error = %e, "reload refused: the running configuration stays in effect"),
                    }
                }
            }
        };
        tracing::info!(config = %path.display(), plcs = next.plcs.len(), "reloading configuration");
        cancel.cancel();
        running.wait().await?;
        settings = next;
    }
}

pub async fn start(
    settings: Settings,
    clock: PlantClock,
    cancel: CancellationToken,
    opts: RunOptions,
) -> Result<Running, AppError> {
    let spool_dir = settings.spool.dir.clone();
    let spool = {
        let (dir, max) = (spool_dir.clone(), settings.spool.max_bytes);
        tokio::task::spawn_blocking(move || Spool::open(&dir, max))
            .await
            .map_err(PipelineError::from)?
            .map_err(|source| AppError::Spool {
                dir: spool_dir.display().to_string(),
                source,
            })?
    };
    let spool = SharedSpool::new(spool);
    let client = InfluxClient::new(&settings.influx)?;
    let health = Arc::new(Health::default());
    let http_cancel = CancellationToken::new();
    let (http_addr, http_task) = match settings.http_listen {
        Some(addr) => {
            let router = http::router(http::prometheus(), health.clone());
            let (addr, task) = http::serve(addr, router, http_cancel.clone()).await?;
            (Some(addr), Some(task))
        }
        None => (None, None),
    };

    let (scan_tx, mut scan_rx) = mpsc::channel(1024);
    let (hist_tx, hist_rx) = mpsc::channel::<HistorianInput>(1024);
    let mut pollers = JoinSet::new();
    for plc in &settings.plcs {
        health.register_plc(&plc.name, plc.scan);
        let poller = Poller::new(Arc::new(plc.clone()), clock, scan_tx.clone());
        pollers.spawn(poller.run(cancel.child_token()));
    }
    drop(scan_tx);

    let kpi = match &settings.kpi {
        Some(k) => Some(KpiTask::start(k, &settings.site, clock, hist_tx.clone())?),
        None => None,
    };
    let kpi_handle = kpi.as_ref().map(|k| k.handle());
    let kpi_tx = kpi.as_ref().map(|k| k.sender());

    let router = {
        let (health, hist_tx) = (health.clone(), hist_tx.clone());
        tokio::spawn(async move {
            while let Some(scan) = scan_rx.recv().await {
                health.plc_scanned(&scan.plc, scan.status.connected);
                let scan = Arc::new(scan);
                if let Some(k) = &kpi_tx {
                    // The KPI engine must see every scan, so this waits
                    // rather than drops; it only blocks on a stalled engine.
                    let _ = k.send(scan.clone()).await;
                }
                if hist_tx.send(HistorianInput::Scan(scan)).await.is_err() {
                    break;
                }
            }
        })
    };
    drop(hist_tx);

    let encoder = ScanEncoder::new(&settings.site.name, &settings.plcs);
    let writer = tokio::spawn(writer_task(
        hist_rx,
        encoder,
        spool.clone(),
        settings.influx.batch_size,
        settings.influx.flush_interval,
    ));
    let drain = CancellationToken::new();
    let sender = tokio::spawn(sender_task(
        client,
        spool.clone(),
        health.clone(),
        drain.clone(),
        opts.drain_grace,
    ));

    // The gateway's own health as an InfluxDB series, for the Gateway health dashboard.
    tokio::spawn(crate::historian::self_status::run(
        settings.site.name.clone(),
        clock,
        spool.clone(),
        health.clone(),
        opts.status_interval,
        cancel.child_token(),
    ));
    let done = tokio::spawn(async move {
        cancel.cancelled().await;
        tracing::info!("shutting down: stopping pollers");
        while pollers.join_next().await.is_some() {}
        let _ = router.await;
        if let Some(k) = kpi {
            k.finish().await?;
        }
        // The writer ends when its last producer is gone; what it held is now spooled.
        let written = writer.await.map_err(PipelineError::from).and_then(|r| r);
        drain.cancel();
        let sent = sender.await.map_err(PipelineError::from).and_then(|r| r);
        http_cancel.cancel();
        if let Some(t) = http_task {
            let _ = t.await;
        }
        written?;
        sent?;
        tracing::info!("shutdown complete");
        Ok(())
    });
    Ok(Running {
        http_addr,
        health,
        spool,
        kpi: kpi_handle,
        done,
    })
}
