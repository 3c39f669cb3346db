//! The supervisor owns the gateway's task set: it starts it, applies a
//! reload by replacing only what changed, restarts panicked pollers, and
//! turns the failure of any critical task into an error for `plantgw run`
//! (a non-zero exit, so the service manager restarts the gateway).
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use plantgw_core::clock::PlantClock;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::critical::{Critical, Ended, Watch};
use super::historian::{open_spool, sink_names, Historian, Parts};
use super::pollers::Pollers;
use super::router::{Router, RouterCmd};
use super::{same, same_influx, AppError, RunOptions};
use crate::config::Settings;
use crate::http::{self, Health};
use crate::kpi::KpiHandle;
use crate::pipeline::SharedSpool;
use crate::report;
use crate::sink::influxdb::InfluxClient;

/// How long an orderly stop may take after a task failed; past it the
/// process exits anyway (something may be stuck, which is why it failed).
const FAILED_STOP_LIMIT: Duration = Duration::from_secs(30);

struct HttpServer {
    listen: SocketAddr,
    addr: SocketAddr,
    cancel: CancellationToken,
    task: Critical,
}

impl HttpServer {
    async fn bind(
        listen: SocketAddr,
        health: &Arc<Health>,
        watch: &Watch,
        report: Result<report::route::ReportSource, String>,
    ) -> Result<Self, AppError> {
        let cancel = CancellationToken::new();
        let router =
            http::router(http::prometheus(), health.clone()).merge(report::route::routes(report));
        let (addr, handle) = http::serve(listen, router, cancel.clone()).await?;
        let task = Critical::spawn("http server", watch, async move {
            handle.await.map_err(|e| e.to_string())
        });
        Ok(HttpServer {
            listen,
            addr,
            cancel,
            task,
        })
    }

    async fn stop(self) -> Result<(), AppError> {
        self.task.plan_end();
        self.cancel.cancel();
        self.task.join().await
    }
}

/// What a reload builds before it touches the running tasks.
struct Prepared {
    http: Option<Option<HttpServer>>,
    spool: Option<SharedSpool>,
    client: Option<InfluxClient>,
}

pub(crate) struct Supervisor {
    settings: Settings,
    clock: PlantClock,
    opts: RunOptions,
    health: Arc<Health>,
    watch: Watch,
    ended: mpsc::UnboundedReceiver<Ended>,
    pollers: Pollers,
    router: Critical,
    router_ctl: mpsc::Sender<RouterCmd>,
    historian: Historian,
    /// Historians on a spool directory the configuration no longer names,
    /// delivering what they hold before they end.
    retiring: Vec<tokio::task::JoinHandle<Result<(), AppError>>>,
    http: Option<HttpServer>,
    #[cfg(test)]
    injected: Vec<Critical>,
}

/// What callers of `start` can look at.
pub(crate) struct Started {
    pub http_addr: Option<SocketAddr>,
    pub health: Arc<Health>,
    pub spool: SharedSpool,
    pub kpi: Option<KpiHandle>,
}

impl Supervisor {
    pub async fn start(
        settings: Settings,
        clock: PlantClock,
        opts: RunOptions,
    ) -> Result<(Supervisor, Started), AppError> {
        let (watch, ended) = mpsc::unbounded_channel();
        let spool = open_spool(&settings.spool, sink_names(&settings)).await?;
        let client = settings
            .influx
            .as_ref()
            .map(InfluxClient::new)
            .transpose()?;
        if settings.influx.is_some() {
            // Field types InfluxDB already holds that the configuration contradicts: warned about, not fatal.
            tokio::spawn(crate::check::warn_field_type_conflicts(settings.clone()));
        } else if let Some(k) = &settings.kpi {
            // The engine never reads InfluxDB back, but with it a lost state
            // file can be repaired by re-closing days; here it cannot.
            tracing::info!(
                state_file = %k.state_file.display(),
                "KPI: no [influxdb], so the state file is the only record of the open days across restarts; \
                 `plantgw kpi` and `plantgw report` need [influxdb] and are not available on this gateway"
            );
        }
        let health = Arc::new(Health::default());
        let http = match settings.http_listen {
            Some(addr) => Some(
                HttpServer::bind(
                    addr,
                    &health,
                    &watch,
                    report::route::ReportSource::new(&settings),
                )
                .await?,
            ),
            None => None,
        };
        let parts = Parts {
            settings: &settings,
            clock,
            opts: &opts,
            health: &health,
            watch: &watch,
        };
        let (historian, input) = Historian::start(spool.clone(), client, &parts);
        tokio::spawn(crate::memory::trim_every(
            crate::memory::TRIM_FIRST,
            crate::memory::TRIM_PERIOD,
        ));

        let (scan_tx, scan_rx) = mpsc::channel(1024);
        let (router_ctl, ctl_rx) = mpsc::channel(4);
        let (router, kpi) = Router::new(
            scan_rx,
            ctl_rx,
            input,
            health.clone(),
            clock,
            settings.site.clone(),
            settings.kpi.as_ref(),
        )?;
        let router = Critical::spawn("router", &watch, router.run());
        let mut pollers = Pollers::new(clock, scan_tx, opts.poller_fault.clone());
        for plc in &settings.plcs {
            pollers.start(plc, &health);
        }
        let started = Started {
            http_addr: http.as_ref().map(|h| h.addr),
            health: health.clone(),
            spool,
            kpi,
        };
        Ok((
            Supervisor {
                settings,
                clock,
                opts,
                health,
                watch,
                ended,
                pollers,
                router,
                router_ctl,
                historian,
                retiring: Vec::new(),
                http,
                #[cfg(test)]
                injected: Vec::new(),
            },
            started,
        ))
    }

    /// Runs until `stop` (then stops in order and returns the first error)
    /// or until a critical task fails (then returns that failure). Each
    /// message on `reload` re-reads the configuration file.
    pub async fn run(
        mut self,
        stop: CancellationToken,
        mut reload: Option<(PathBuf, mpsc::Receiver<()>)>,
    ) -> Result<(), AppError> {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return self.shutdown().await,
                Some(ended) = self.ended.recv() => {
                    tracing::error!(task = ended.task, reason = %ended.reason, "a gateway task failed; stopping so the service manager restarts the gateway");
                    match tokio::time::timeout(FAILED_STOP_LIMIT, self.shutdown()).await {
                        Ok(Err(e)) => tracing::error!(error = %e, "while stopping after the failure"),
                        Err(_) => tracing::error!(limit_s = FAILED_STOP_LIMIT.as_secs(), "stopping after the failure took too long; exiting anyway"),
                        Ok(Ok(())) => {}
                    }
                    return Err(AppError::Task { task: ended.task, reason: ended.reason });
                }
                msg = next_reload(&mut reload) => {
                    let Some(path) = msg else {
                        reload = None;
                        continue;
                    };
                    match crate::config::load(&path) {
                        Ok(next) => {
                            tracing::info!(config = %path.display(), plcs = next.plcs.len(), "reloading configuration");
                            if let Err(e) = self.reload(next).await {
                                tracing::error!(error = %e, "reload failed: the running configuration stays in effect");
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "reload refused: the running configuration stays in effect"),
                    }
                }
                _ = self.pollers.supervise() => {}
            }
        }
    }

    /// Builds what the new configuration needs (listener, spool, client)
    /// before touching the running tasks; a failure there leaves them as
    /// they are. Then swaps only what changed: unchanged PLCs keep polling.
    async fn reload(&mut self, next: Settings) -> Result<(), AppError> {
        let cur = &self.settings;
        // Each sink has its own cursor in the spool, fixed when it opens.
        let (was, now) = (sink_names(cur), sink_names(&next));
        if was != now {
            return Err(AppError::SinksChanged {
                from: was.join(" and "),
                to: now.join(" and "),
            });
        }
        let mut prepared = Prepared {
            http: None,
            spool: None,
            client: None,
        };
        if next.http_listen != self.http.as_ref().map(|h| h.listen) {
            prepared.http = Some(match next.http_listen {
                Some(addr) => Some(
                    HttpServer::bind(
                        addr,
                        &self.health,
                        &self.watch,
                        report::route::ReportSource::new(&next),
                    )
                    .await?,
                ),
                None => None,
            });
        }
        let spool_moved = next.spool.dir != self.historian.spool_settings.dir;
        if spool_moved {
            match open_spool(&next.spool, sink_names(&next)).await {
                Ok(s) => prepared.spool = Some(s),
                Err(e) => {
                    if let Some(Some(h)) = prepared.http.take() {
                        let _ = h.stop().await;
                    }
                    return Err(e);
                }
            }
        } else if next.spool.max_bytes != cur.spool.max_bytes {
            tracing::warn!(dir = %next.spool.dir.display(), "spool.max_bytes changes when the gateway restarts; the spool keeps its current bound");
        }
        if format!("{:?}", next.nats) != format!("{:?}", cur.nats) {
            tracing::warn!("[nats] changes take effect when the gateway restarts");
        }
        let influx_changed = match (&next.influx, &cur.influx) {
            (Some(n), Some(c)) => !same_influx(n, c),
            _ => false,
        };
        if let Some(influx) = next
            .influx
            .as_ref()
            .filter(|_| influx_changed || spool_moved)
        {
            match InfluxClient::new(influx) {
                Ok(c) => prepared.client = Some(c),
                Err(e) => {
                    if let Some(Some(h)) = prepared.http.take() {
                        let _ = h.stop().await;
                    }
                    return Err(e.into());
                }
            }
        }
        self.commit(next, prepared).await;
        Ok(())
    }

    async fn commit(&mut self, next: Settings, prepared: Prepared) {
        let (clock, opts, health, watch) = (
            self.clock,
            self.opts.clone(),
            self.health.clone(),
            self.watch.clone(),
        );
        let parts = Parts {
            settings: &next,
            clock,
            opts: &opts,
            health: &health,
            watch: &watch,
        };
        let cur = &self.settings;
        let site_changed = !same(&next.site, &cur.site);
        let writer_changed =
            site_changed || !same(&next.plcs, &cur.plcs) || next.batching() != cur.batching();
        let kpi_changed = site_changed || !same(&next.kpi, &cur.kpi);

        let mut parts_changed: Vec<&str> = Vec::new();
        let Prepared {
            http: new_http,
            spool: new_spool,
            client: new_client,
        } = prepared;
        match new_spool {
            Some(spool) => {
                let (historian, input) = Historian::start(spool, new_client, &parts);
                let old = std::mem::replace(&mut self.historian, historian);
                old.plan_end();
                self.route(RouterCmd::Writer(input)).await;
                tracing::info!(from = %old.spool_settings.dir.display(), to = %next.spool.dir.display(), "spool directory changed; what the old one holds is delivered from there until the drain grace ends, the rest waits there");
                self.retiring.retain(|h| !h.is_finished());
                self.retiring.push(tokio::spawn(old.shutdown()));
                parts_changed.push("spool");
            }
            None => {
                if writer_changed {
                    let input = self.historian.replace_writer(&parts);
                    self.route(RouterCmd::Writer(input)).await;
                    parts_changed.push("writer");
                }
                if let Some(client) = new_client {
                    self.historian.replace_sender(client, &parts).await;
                    parts_changed.push("sender");
                }
                if site_changed {
                    self.historian.replace_status(&parts);
                }
            }
        }
        if kpi_changed {
            let (reply, answer) = oneshot::channel();
            self.route(RouterCmd::Kpi {
                settings: next.kpi.clone().map(Box::new),
                site: next.site.clone(),
                reply,
            })
            .await;
            match answer.await {
                Ok(Ok(_)) => parts_changed.push("kpi"),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "KPI: the new settings cannot start; the previous KPI settings stay in effect")
                }
                // The router ended; its failure is reported on its own.
                Err(_) => {}
            }
        }
        let changes = self.pollers.reconcile(&next.plcs, &self.health);
        if let Some(http) = new_http {
            if let Some(old) = std::mem::replace(&mut self.http, http) {
                if let Err(e) = old.stop().await {
                    tracing::warn!(error = %e, "the previous http listener ended with an error");
                }
            }
            parts_changed.push("http");
        }
        tracing::info!(
            plcs_kept = changes.kept,
            plcs_added = changes.added,
            plcs_changed = changes.changed,
            plcs_removed = changes.removed,
            replaced = ?parts_changed,
            "configuration reloaded"
        );
        self.settings = next;
    }

    async fn route(&self, cmd: RouterCmd) {
        // A closed router has failed and says so through its own report.
        let _ = self.router_ctl.send(cmd).await;
    }

    /// Front to back: pollers, router (and KPI), writers, sender, listener.
    async fn shutdown(self) -> Result<(), AppError> {
        tracing::info!("shutting down: stopping pollers");
        let Supervisor {
            pollers,
            router,
            router_ctl,
            historian,
            retiring,
            http,
            ..
        } = self;
        router.plan_end();
        historian.plan_end();
        pollers.shutdown().await;
        drop(router_ctl);
        let routed = router.join().await;
        let stored = historian.shutdown().await;
        for old in retiring {
            match old.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the historian of the previous spool directory ended with an error")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the historian of the previous spool directory failed")
                }
            }
        }
        let served = match http {
            Some(h) => h.stop().await,
            None => Ok(()),
        };
        routed?;
        stored?;
        served?;
        tracing::info!("shutdown complete");
        Ok(())
    }

    /// Adds a critical task, as a component of the gateway would be.
    #[cfg(test)]
    pub fn inject<F, E>(&mut self, name: &'static str, work: F)
    where
        F: std::future::Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        self.injected.push(Critical::spawn(name, &self.watch, work));
    }
}

/// The next reload request's config path; `None` once no more can come.
async fn next_reload(reload: &mut Option<(PathBuf, mpsc::Receiver<()>)>) -> Option<PathBuf> {
    match reload {
        Some((path, rx)) => rx.recv().await.map(|()| path.clone()),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gateway whose PLC and InfluxDB both refuse connections (loopback
    /// ports nothing listens on): it runs, retries, and acquires nothing,
    /// which is enough to watch its supervision.
    async fn quiet_gateway(dir: &std::path::Path) -> Supervisor {
        let path = dir.join("gw.toml");
        let toml = format!(
            "[site]\nname = \"t\"\n[influxdb]\nurl = \"http://127.0.0.1:1\"\napi = \"v1\"\ndatabase = \"plant\"\n\
             [spool]\ndir = \"{}\"\n[http]\nlisten = \"\"\n\
             [[plc]]\nname = \"p\"\narea = \"a\"\naddress = \"127.0.0.1:1\"\nscan_ms = 200\n\
             [[plc.tag]]\nname = \"u\"\nequipment = \"e\"\ntable = \"holding\"\naddress = 0\ntype = \"u16\"\n",
            dir.join("spool").display()
        );
        std::fs::write(&path, toml).unwrap();
        let settings = crate::config::load(&path).unwrap();
        let opts = RunOptions {
            drain_grace: Duration::from_secs(1),
            ..RunOptions::default()
        };
        Supervisor::start(settings, PlantClock::wall(), opts)
            .await
            .unwrap()
            .0
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reload_that_adds_or_removes_a_sink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut sup = quiet_gateway(dir.path()).await;
        let path = dir.path().join("gw.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let nats_only = text.replace(
            "[influxdb]\nurl = \"http://127.0.0.1:1\"\napi = \"v1\"\ndatabase = \"plant\"\n",
            "[nats]\nservers = [\"nats://127.0.0.1:1\"]\ngateway_id = \"gw1\"\n",
        );
        assert_ne!(nats_only, text);
        std::fs::write(&path, nats_only).unwrap();
        let next = crate::config::load(&path).unwrap();
        let e = sup.reload(next).await.expect_err("the sinks changed");
        assert!(
            e.to_string()
                .contains("from influxdb to nats, which takes a restart"),
            "{e}"
        );
        assert!(sup.settings.influx.is_some() && sup.settings.nats.is_none());
        sup.shutdown().await.unwrap();
    }

    async fn ends_with_failure(
        mut sup: Supervisor,
        work: impl std::future::Future<Output = Result<(), String>> + Send + 'static,
    ) -> AppError {
        sup.inject("injected stage", work);
        let stop = CancellationToken::new();
        let ran = tokio::time::timeout(Duration::from_secs(40), sup.run(stop.clone(), None)).await;
        assert!(!stop.is_cancelled());
        match ran {
            Ok(Err(e)) => e,
            Ok(Ok(())) => panic!("the gateway ended without error after a failed task"),
            Err(_) => panic!("the gateway kept running (acquiring nothing) after a failed task"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_task_stops_the_gateway_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let sup = quiet_gateway(dir.path()).await;
        let e = ends_with_failure(sup, async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Err("disk on fire".to_string())
        })
        .await;
        let text = e.to_string();
        assert!(
            text.contains("injected stage") && text.contains("disk on fire"),
            "{text}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_or_vanishing_task_stops_the_gateway() {
        let dir = tempfile::tempdir().unwrap();
        let sup = quiet_gateway(dir.path()).await;
        let e = ends_with_failure(sup, async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            panic!("stage bug");
        })
        .await;
        assert!(e.to_string().contains("panicked: stage bug"), "{e}");

        // A task that simply returns while nobody asked it to stop leaves
        // the gateway just as unable to work.
        let dir = tempfile::tempdir().unwrap();
        let sup = quiet_gateway(dir.path()).await;
        let e = ends_with_failure(sup, async { Ok(()) }).await;
        assert!(e.to_string().contains("ended on its own"), "{e}");
    }
}
