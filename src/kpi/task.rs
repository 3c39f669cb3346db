//! The async driver around the pure engine, for `plantgw run`: feeds it
//! scans, ticks it on the plant clock, forwards its points to the historian,
//! publishes the latest snapshot and keeps the state file current.
//!
//! A day close is ordered for crashes: the closing `kpi_daily` row is
//! spooled (appended and fsynced) first, and only then is the state saying
//! the day is closed written. A crash in between leaves a state in which the
//! day is still open, so the restarted engine closes it again; the row is
//! stamped with the day's start, so the second close lands on the same
//! series and timestamp and InfluxDB keeps one point. If the row cannot be
//! spooled, the state file is left as it was until it is, for
//! the same re-close on the next start.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plantgw_core::clock::PlantClock;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::engine::KpiEngine;
use super::report::{KpiSnapshot, DAILY_MEASUREMENT};
use super::state::{load_state, save_state, KpiState};
use super::KpiError;
use crate::config::{Kpi, Site};
use crate::pipeline::HistorianInput;
use crate::sample::Scan;
use crate::sink::influxdb::encoder::Point;

/// Wall time between state saves while running (a day close saves at once).
const SAVE_EVERY: Duration = Duration::from_secs(5);

/// Read access to the engine's latest `kpi` row (demo display, tests).
#[derive(Debug, Clone)]
pub struct KpiHandle {
    rx: watch::Receiver<Option<KpiSnapshot>>,
}

impl KpiHandle {
    pub fn latest(&self) -> Option<KpiSnapshot> {
        self.rx.borrow().clone()
    }

    /// Waits for the next row; `Err` once the task has ended.
    pub async fn changed(&mut self) -> Result<Option<KpiSnapshot>, KpiError> {
        self.rx
            .changed()
            .await
            .map_err(|_| KpiError::Task("KPI task ended".into()))?;
        Ok(self.rx.borrow_and_update().clone())
    }
}

pub struct KpiTask {
    tx: mpsc::Sender<Arc<Scan>>,
    handle: KpiHandle,
    join: JoinHandle<Result<(), KpiError>>,
}

impl KpiTask {
    /// Restores the state file (a corrupt or foreign-version file is moved
    /// aside and the engine starts fresh, so KPIs keep running) and spawns
    /// the task. Must be called inside a tokio runtime.
    pub fn start(
        settings: &Kpi,
        site: &Site,
        clock: PlantClock,
        out: mpsc::Sender<HistorianInput>,
    ) -> Result<KpiTask, KpiError> {
        let path = settings.state_file.clone();
        let restored = match load_state(&path) {
            Ok(s) => s,
            Err(e @ KpiError::StateIo { .. }) => return Err(e),
            Err(e) => {
                let aside = aside_name(&path);
                tracing::error!(error = %e, moved_to = %aside.display(), "KPI: unusable state file, starting fresh");
                std::fs::rename(&path, &aside).map_err(|source| KpiError::StateIo {
                    path: path.clone(),
                    source,
                })?;
                None
            }
        };
        if let Some(s) = &restored {
            tracing::info!(file = %path.display(), calendar = %s.calendar, "KPI: state restored");
        }
        let engine = KpiEngine::new(settings, site, restored);
        let (tx, rx) = mpsc::channel(1024);
        let (snap_tx, snap_rx) = watch::channel(None);
        // Tick often enough that a row is never late by more than a quarter
        // interval of plant time, whatever the clock speed.
        let speed = if clock.speed().is_finite() && clock.speed() > 0.0 {
            clock.speed()
        } else {
            1.0
        };
        let period = Duration::from_secs_f64(
            (settings.interval.as_secs_f64() / speed / 4.0).clamp(0.02, 1.0),
        );
        let join = tokio::spawn(run(engine, rx, out, snap_tx, clock, period, path));
        Ok(KpiTask {
            tx,
            handle: KpiHandle { rx: snap_rx },
            join,
        })
    }

    pub fn handle(&self) -> KpiHandle {
        self.handle.clone()
    }

    /// Where scans go. The task ends when every sender is dropped.
    pub fn sender(&self) -> mpsc::Sender<Arc<Scan>> {
        self.tx.clone()
    }

    /// Waits for the task to take its last scans, emit a final row and save
    /// its state. Callers drop their senders first.
    pub async fn finish(self) -> Result<(), KpiError> {
        drop(self.tx);
        self.join.await.map_err(|e| KpiError::Task(e.to_string()))?
    }
}

async fn run(
    mut engine: KpiEngine,
    mut rx: mpsc::Receiver<Arc<Scan>>,
    out: mpsc::Sender<HistorianInput>,
    snap: watch::Sender<Option<KpiSnapshot>>,
    clock: PlantClock,
    period: Duration,
    path: PathBuf,
) -> Result<(), KpiError> {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut saver = Saver {
        path,
        last: Instant::now(),
        held: false,
    };
    loop {
        tokio::select! {
            scan = rx.recv() => match scan {
                Some(scan) => engine.observe(&scan),
                None => break,
            },
            _ = ticker.tick() => {
                let points = engine.tick(clock.now().as_millisecond());
                if !points.is_empty() {
                    let _ = snap.send(engine.snapshot().cloned());
                }
                if let Err(e) = forward(points, &engine, &out, &mut saver, false).await {
                    tracing::warn!(error = %e, "KPI: cannot save state");
                }
            }
        }
    }
    let points = engine.tick(clock.now().as_millisecond());
    forward(points, &engine, &out, &mut saver, true).await
}

/// Where and when the state is saved.
struct Saver {
    path: PathBuf,
    last: Instant,
    /// A closing row is not confirmed on disk (the spool's disk refused it
    /// and it waits in memory): the file keeps the state from before the
    /// close until everything the writer holds has reached the disk.
    held: bool,
}

/// Sends a tick's points to the historian and saves the state when due:
/// after a day close (once its row is spooled), every [`SAVE_EVERY`], and
/// on the `last` call.
async fn forward(
    points: Vec<Point>,
    engine: &KpiEngine,
    out: &mpsc::Sender<HistorianInput>,
    saver: &mut Saver,
    last: bool,
) -> Result<(), KpiError> {
    let closed_day = points.iter().any(|p| p.measurement == DAILY_MEASUREMENT);
    if closed_day {
        match spool_durably(out, points).await {
            Ok(()) => {
                // Everything before this row is on disk too.
                saver.held = false;
                crash_point(CrashPoint::CloseSpooled);
            }
            Err(e) => {
                tracing::error!(error = %e,
                    "KPI: closing row not confirmed on disk; the state file keeps the day open so the next start closes it again");
                saver.held = true;
            }
        }
    } else if !points.is_empty() && out.send(HistorianInput::Points(points)).await.is_err() {
        tracing::warn!("KPI: historian gone, points dropped");
    }
    if !(closed_day || last || saver.last.elapsed() >= SAVE_EVERY) {
        return Ok(());
    }
    if saver.held && !closed_day {
        // An empty durable batch is a barrier: the writer confirms it once
        // everything handed to it before, the held closing row included,
        // is on disk.
        saver.held = spool_durably(out, Vec::new()).await.is_err();
        if !saver.held {
            tracing::info!("KPI: the closing row reached the disk; the state is saved again");
        }
    }
    if saver.held {
        return Ok(());
    }
    saver.last = Instant::now();
    save(&saver.path, engine.state()).await?;
    if closed_day {
        crash_point(CrashPoint::CloseSaved);
    }
    Ok(())
}

/// Hands `points` to the historian and waits until they are spooled.
async fn spool_durably(
    out: &mpsc::Sender<HistorianInput>,
    points: Vec<Point>,
) -> Result<(), KpiError> {
    let (spooled, done) = oneshot::channel();
    out.send(HistorianInput::Durable { points, spooled })
        .await
        .map_err(|_| KpiError::Task("historian gone".into()))?;
    done.await
        .map_err(|_| KpiError::Task("historian could not spool the points".into()))
}

async fn save(path: &Path, state: KpiState) -> Result<(), KpiError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || save_state(&path, &state))
        .await
        .map_err(|e| KpiError::Task(e.to_string()))?
}

/// Test hook: where a test asks the process to die during a day close,
/// from the `KPI_TEST_CRASH_AT` environment variable. (Not `PLANTGW_*`:
/// that prefix is taken by configuration overrides.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CrashPoint {
    /// The closing `kpi_daily` row is spooled, the state is not yet saved.
    CloseSpooled,
    /// The state saying the day is closed has been saved.
    CloseSaved,
}

/// Aborts the process, as a power cut or kill -9 would end it, when the
/// environment asks for a crash at `at`. Nothing else reads the variable,
/// and a release build (what a plant installs) ignores it.
fn crash_point(at: CrashPoint) {
    if !cfg!(debug_assertions) {
        return;
    }
    let wanted = match std::env::var("KPI_TEST_CRASH_AT").as_deref() {
        Ok("close-spooled") => CrashPoint::CloseSpooled,
        Ok("close-saved") => CrashPoint::CloseSaved,
        _ => return,
    };
    if wanted == at {
        tracing::error!(?at, "KPI: KPI_TEST_CRASH_AT set, aborting");
        std::process::abort();
    }
}

fn aside_name(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "kpi-state".into());
    name.push(".unusable");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Moisture, TagId};
    use crate::sample::{Quality, Reading, ScanStatus, Value};
    use jiff::Timestamp;

    fn settings(state_file: PathBuf) -> Kpi {
        Kpi {
            day_start: jiff::civil::time(7, 0, 0, 0),
            interval: Duration::from_secs(60),
            target_tpd: 700.0,
            target_oz_year: 1_900_000.0,
            year_start: (1, 1),
            moisture: Moisture::Constant(4.0),
            ore_totaliser: "mill_feed_belt.total_t".into(),
            totaliser_rollover: None,
            ore_rate: None,
            mill_power: None,
            mill_running_kw: 100.0,
            feed_ag: "flotation_feed.ag_gpt".into(),
            conc_ag: "pb_concentrate.ag_gpt".into(),
            tail_ag: "final_tailings.ag_gpt".into(),
            three_product: None,
            zn_conc_ag: None,
            reconcile: None,
            state_file,
        }
    }

    fn site() -> Site {
        Site {
            name: "caylloma".into(),
            timezone_name: "America/Lima".into(),
            timezone: jiff::tz::TimeZone::get("America/Lima").unwrap(),
        }
    }

    fn total(ts_ms: i64, t: f64) -> Arc<Scan> {
        let tag = Arc::new(TagId::new(
            "grinding",
            "grinding",
            "mill_feed_belt",
            "total_t",
        ));
        Arc::new(Scan {
            plc: "grinding".into(),
            area: "grinding".into(),
            ts_ms,
            readings: vec![Reading {
                tag,
                value: Some(Value::Float(t)),
                quality: Quality::Good,
            }],
            status: ScanStatus::default(),
        })
    }

    #[tokio::test]
    async fn runs_on_the_plant_clock_and_saves_its_state_on_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kpi-state.json");
        // 600× speed: a 60 s KPI interval passes every 0.1 s of wall time.
        let start: Timestamp = "2026-03-01T14:00:00Z".parse().unwrap();
        let clock = PlantClock::new(start, Timestamp::now(), 600.0);
        let (out_tx, mut out_rx) = mpsc::channel(64);
        let task = KpiTask::start(&settings(path.clone()), &site(), clock, out_tx).unwrap();
        let handle = task.handle();
        let scans = task.sender();
        let t0 = clock.now().as_millisecond();
        scans.send(total(t0, 100.0)).await.unwrap();
        scans.send(total(t0 + 60_000, 100.5)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        drop(scans);
        task.finish().await.unwrap();

        let mut rows = 0;
        while let Ok(input) = out_rx.try_recv() {
            if let HistorianInput::Points(p) = input {
                rows += p.iter().filter(|p| p.measurement == "kpi").count();
            }
        }
        assert!(rows >= 2, "{rows} rows");
        let snap = handle.latest().unwrap();
        assert_eq!(snap.kpi.ore_wet_t, 0.5);
        let saved = load_state(&path).unwrap().unwrap();
        let resumed = KpiEngine::new(&settings(path.clone()), &site(), Some(saved));
        assert_eq!(resumed.state().engine.lifetime_wet_t, 0.5);
    }

    #[tokio::test]
    async fn a_day_close_is_saved_only_after_its_row_is_spooled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kpi-state.json");
        // 06:50 Lima at 600×: the day ends a second of wall time from now.
        let start: Timestamp = "2026-03-02T11:50:00Z".parse().unwrap();
        let clock = PlantClock::new(start, Timestamp::now(), 600.0);
        let (out_tx, mut out_rx) = mpsc::channel(64);
        let task = KpiTask::start(&settings(path.clone()), &site(), clock, out_tx).unwrap();
        let scans = task.sender();
        let t0 = clock.now().as_millisecond();
        scans.send(total(t0, 100.0)).await.unwrap();
        scans.send(total(t0 + 12 * 60_000, 106.0)).await.unwrap();
        let closed = || {
            load_state(&path)
                .unwrap()
                .and_then(|s| s.engine.closed_through)
        };
        let spooled = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match out_rx.recv().await {
                    Some(HistorianInput::Durable { points, spooled }) => {
                        assert!(points.iter().any(|p| p.measurement == "kpi_daily"));
                        return spooled;
                    }
                    Some(_) => {}
                    None => panic!("KPI task ended without closing the day"),
                }
            }
        })
        .await
        .expect("a durable kpi_daily row");
        // The writer has not confirmed: the state must still say open.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            closed(),
            None,
            "state saved as closed before the row was spooled"
        );
        spooled.send(()).unwrap();
        let day = jiff::civil::date(2026, 3, 1);
        tokio::time::timeout(Duration::from_secs(10), async {
            while closed() != Some(day) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("state saved as closed once the row was spooled");
        drop(scans);
        let finish = tokio::spawn(task.finish());
        while out_rx.recv().await.is_some() {}
        finish.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_unusable_state_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kpi-state.json");
        std::fs::write(&path, b"{ torn").unwrap();
        let (out_tx, _out_rx) = mpsc::channel(64);
        let task =
            KpiTask::start(&settings(path.clone()), &site(), PlantClock::wall(), out_tx).unwrap();
        task.finish().await.unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("kpi-state.json.unusable")).unwrap(),
            b"{ torn"
        );
        assert!(
            load_state(&path).unwrap().is_some(),
            "a fresh state was saved"
        );
    }
}
