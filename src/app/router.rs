//! The router: every scan goes to the KPI engine and the historian writer.
//! Both can be swapped while it runs (a reload changed tags or KPI
//! settings); scans keep queueing on its input meanwhile, so none is lost.
use std::sync::Arc;

use plantgw_core::clock::PlantClock;
use tokio::sync::{mpsc, oneshot};

use crate::config::{self, Site};
use crate::http::Health;
use crate::kpi::{KpiError, KpiHandle, KpiTask};
use crate::pipeline::HistorianInput;
use crate::sample::Scan;

pub(crate) enum RouterCmd {
    /// Send to this writer from now on; the old one drains and ends.
    Writer(mpsc::Sender<HistorianInput>),
    /// Replace the KPI task (the old one saves its state first, the new one
    /// restores it). The reply carries the new task's handle.
    Kpi {
        settings: Option<Box<config::Kpi>>,
        site: Site,
        reply: oneshot::Sender<Result<Option<KpiHandle>, KpiError>>,
    },
}

struct Kpi {
    task: KpiTask,
    tx: mpsc::Sender<Arc<Scan>>,
    settings: config::Kpi,
}

pub(crate) struct Router {
    pub scans: mpsc::Receiver<Scan>,
    pub ctl: mpsc::Receiver<RouterCmd>,
    pub out: mpsc::Sender<HistorianInput>,
    pub health: Arc<Health>,
    pub clock: PlantClock,
    pub site: Site,
    kpi: Option<Kpi>,
    /// The KPI task's output; forwarded to `out` so that the KPI task does
    /// not have to follow a writer swap.
    points_tx: mpsc::Sender<HistorianInput>,
    points_rx: mpsc::Receiver<HistorianInput>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RouterError {
    #[error("the historian writer is gone")]
    WriterGone,
    #[error("KPI: {0}")]
    Kpi(#[from] KpiError),
}

impl Router {
    /// Starts the KPI task (if configured) feeding this router.
    pub fn new(
        scans: mpsc::Receiver<Scan>,
        ctl: mpsc::Receiver<RouterCmd>,
        out: mpsc::Sender<HistorianInput>,
        health: Arc<Health>,
        clock: PlantClock,
        site: Site,
        kpi: Option<&config::Kpi>,
    ) -> Result<(Router, Option<KpiHandle>), KpiError> {
        let (points_tx, points_rx) = mpsc::channel(1024);
        let kpi = match kpi {
            Some(k) => Some(start_kpi(k, &site, clock, &points_tx)?),
            None => None,
        };
        let handle = kpi.as_ref().map(|k| k.task.handle());
        Ok((
            Router {
                scans,
                ctl,
                out,
                health,
                clock,
                site,
                kpi,
                points_tx,
                points_rx,
            },
            handle,
        ))
    }

    /// Routes until every scan producer is gone, then lets the KPI task
    /// emit its last row and save its state.
    pub async fn run(mut self) -> Result<(), RouterError> {
        let mut ctl_open = true;
        loop {
            tokio::select! {
                // A swap is applied before any scan queued after it.
                biased;
                cmd = self.ctl.recv(), if ctl_open => match cmd {
                    Some(cmd) => self.apply(cmd).await?,
                    None => ctl_open = false,
                },
                Some(points) = self.points_rx.recv() => self.forward(points).await?,
                scan = self.scans.recv() => match scan {
                    Some(scan) => self.route(scan).await?,
                    None => break,
                },
            }
        }
        if let Some(k) = self.kpi.take() {
            let done = finish_kpi(k, &mut self.points_rx, &self.out).await;
            self.forward_pending().await?;
            done?;
        }
        self.forward_pending().await
    }

    async fn route(&mut self, scan: Scan) -> Result<(), RouterError> {
        self.health.plc_scanned(&scan.plc, scan.status.connected);
        let scan = Arc::new(scan);
        if let Some(k) = &self.kpi {
            // The KPI engine must see every scan, so this waits rather than
            // drops; it only blocks on a stalled engine.
            let _ = k.tx.send(scan.clone()).await;
        }
        self.forward(HistorianInput::Scan(scan)).await
    }

    async fn forward(&self, input: HistorianInput) -> Result<(), RouterError> {
        self.out
            .send(input)
            .await
            .map_err(|_| RouterError::WriterGone)
    }

    async fn forward_pending(&mut self) -> Result<(), RouterError> {
        while let Ok(points) = self.points_rx.try_recv() {
            self.forward(points).await?;
        }
        Ok(())
    }

    async fn apply(&mut self, cmd: RouterCmd) -> Result<(), RouterError> {
        match cmd {
            RouterCmd::Writer(out) => self.out = out,
            RouterCmd::Kpi {
                settings,
                site,
                reply,
            } => {
                let old = self.kpi.take();
                let old_settings = old.as_ref().map(|k| k.settings.clone());
                if let Some(k) = old {
                    if let Err(e) = finish_kpi(k, &mut self.points_rx, &self.out).await {
                        tracing::error!(error = %e, "KPI: the replaced task ended with an error");
                    }
                }
                let started = match settings.as_deref() {
                    Some(k) => start_kpi(k, &site, self.clock, &self.points_tx).map(Some),
                    None => Ok(None),
                };
                match started {
                    Ok(kpi) => {
                        let handle = kpi.as_ref().map(|k| k.task.handle());
                        self.kpi = kpi;
                        self.site = site;
                        let _ = reply.send(Ok(handle));
                    }
                    Err(e) => {
                        // Back to what ran before; if even that fails the
                        // gateway cannot compute KPIs and must say so.
                        let _ = reply.send(Err(e));
                        if let Some(k) = &old_settings {
                            self.kpi = Some(start_kpi(k, &self.site, self.clock, &self.points_tx)?);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn start_kpi(
    settings: &config::Kpi,
    site: &Site,
    clock: PlantClock,
    out: &mpsc::Sender<HistorianInput>,
) -> Result<Kpi, KpiError> {
    let task = KpiTask::start(settings, site, clock, out.clone())?;
    Ok(Kpi {
        tx: task.sender(),
        task,
        settings: settings.clone(),
    })
}

/// Lets the KPI task finish while still forwarding what it emits, so its
/// last row never waits on a full channel nobody reads.
async fn finish_kpi(
    kpi: Kpi,
    points: &mut mpsc::Receiver<HistorianInput>,
    out: &mpsc::Sender<HistorianInput>,
) -> Result<(), KpiError> {
    let Kpi { task, tx, .. } = kpi;
    drop(tx);
    let finish = task.finish();
    tokio::pin!(finish);
    loop {
        tokio::select! {
            done = &mut finish => return done,
            Some(p) = points.recv() => {
                let _ = out.send(p).await;
            }
        }
    }
}
