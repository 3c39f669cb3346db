//! Day close durability and restarts across `day_start`, with the `plantgw`
//! binary against the simulator at 720× (an hour in five seconds) and a real
//! influxd:
//! - the process dies during a day close (the `KPI_TEST_CRASH_AT` hook
//!   aborts it right after the closing row is spooled, or right after the
//!   state saying the day is closed is saved); after a restart InfluxDB
//!   holds exactly one `kpi_daily` row for the day, with the day's values;
//! - the gateway is stopped before `day_start` and started after it: the
//!   downtime's tonnes go to the two days by time.
//!
//! "The day's values" are what `plantgw kpi --day` recomputes from the raw
//! series the same run stored, which splits a gap by time as the live engine
//! must.
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use plantgw::config::Settings;
use plantgw::sink::influxdb::query::QueryClient;
use plantsim::clock::PlantClock;
use plantsim::map::PlantMap;
use plantsim::simulator::{RunningSim, SimOptions, Simulator};

use super::Gw;
use crate::common::influx::InfluxD;

const SPEED: f64 = 720.0;
/// The production day under test: 07:00 Lima 2026-03-02 → 07:00 2026-03-03.
const DAY: &str = "2026-03-02";

/// One test's servers and configuration.
struct Rig {
    influx: InfluxD,
    sim: RunningSim,
    clock: PlantClock,
    dir: tempfile::TempDir,
    config: PathBuf,
    settings: Settings,
    query: QueryClient,
}

impl Rig {
    /// The simulator from `plant_start` (local), the gateway's config
    /// pointed at a fresh influxd.
    async fn start(plant_start: &str) -> Rig {
        let influx = InfluxD::start();
        let dir = tempfile::tempdir().unwrap();
        let start: Timestamp = plant_start.parse().unwrap();
        let clock = PlantClock::new(start, Timestamp::now(), SPEED);
        let sim = Simulator::start(SimOptions {
            clock,
            seed: 7,
            map: PlantMap::caylloma().on_ephemeral_ports(),
            ..SimOptions::default()
        })
        .await
        .unwrap();
        // Batches are cut every second, so an unspooled row waits that long;
        // 250 ms wall = 3 min of plant time between scans.
        let cfg = crate::common::sim_gateway_config_scanning(
            &sim.gateway_config_toml(),
            &influx.url,
            1000,
            250,
        );
        let config = dir.path().join("caylloma.toml");
        let settings = crate::common::write_gateway_config(&config, &cfg);
        let query =
            crate::common::influx::plant_database(settings.influx.as_ref().expect("[influxdb]"))
                .await;
        Rig {
            influx,
            sim,
            clock,
            dir,
            config,
            settings,
            query,
        }
    }

    fn gateway(&self, crash_at: Option<&str>) -> Gw {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let mut cmd = super::run_on_plant_clock(&self.config, &self.clock, SPEED);
        cmd.env("RUST_LOG", "plantgw::kpi=info,warn")
            .env_remove("KPI_TEST_CRASH_AT")
            .stdout(Stdio::null())
            .stderr(log.try_clone().unwrap());
        if let Some(at) = crash_at {
            cmd.env("KPI_TEST_CRASH_AT", at);
        }
        Gw(cmd.spawn().expect("start plantgw run"))
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("gateway.log")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// Sleeps until the plant clock reaches `t` (local time string).
    async fn until_plant(&self, t: &str) {
        let t: Timestamp = t.parse().unwrap();
        let now = self.clock.now();
        if t > now {
            let plant = t.duration_since(now).as_secs_f64();
            tokio::time::sleep(Duration::from_secs_f64(plant / SPEED)).await;
        }
    }

    /// The last production day the state file says is closed.
    fn closed_through(&self) -> Option<String> {
        let path = &self.settings.kpi.as_ref().unwrap().state_file;
        let text = std::fs::read_to_string(path).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["engine"]["closed_through"].as_str().map(str::to_string)
    }

    /// Waits until a running gateway's state file says `DAY` is closed,
    /// then for its row to reach InfluxDB (a flush plus a delivery).
    async fn wait_closed(&self, gw: &mut Gw) {
        let deadline = Instant::now() + Duration::from_secs(40);
        while self.closed_through().as_deref() != Some(DAY) {
            if let Ok(Some(s)) = gw.try_wait() {
                panic!("plantgw exited ({s}); log:\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "the restarted gateway did not close {DAY}; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    /// Every `kpi_daily` row InfluxDB holds for `DAY`: (time ms, ore_wet_t).
    async fn daily_rows(&self) -> Vec<(i64, f64)> {
        let q = format!(r#"SELECT "ore_wet_t" FROM "kpi_daily" WHERE "day"='{DAY}'"#);
        let Some(s) = self.query.query(&q).await.unwrap().into_iter().next() else {
            return Vec::new();
        };
        let (t, w) = (s.column("time").unwrap(), s.column("ore_wet_t").unwrap());
        s.values
            .iter()
            .map(|r| (r[t].as_i64().unwrap(), r[w].as_f64().unwrap()))
            .collect()
    }

    /// `DAY`'s wet tonnes as recomputed from the stored raw series.
    async fn recomputed_wet_t(&self) -> f64 {
        let k = self.settings.kpi.as_ref().unwrap();
        plantgw::kpi::fetch_and_recompute(&self.query, k, &self.settings.site, DAY.parse().unwrap())
            .await
            .unwrap()
            .kpi
            .ore_wet_t
    }

    async fn stop(self, mut gw: Gw) {
        let _ = Command::new("kill")
            .args(["-TERM", &gw.id().to_string()])
            .status();
        let exit = gw.wait().unwrap();
        assert_eq!(exit.code(), Some(0), "gateway exit after SIGTERM");
        self.sim.shutdown().await.unwrap();
        drop(self.influx);
    }
}

/// Waits for a gateway run with a crash hook to abort.
fn wait_crashed(rig: &Rig, gw: &mut Gw) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(s) = gw.try_wait().unwrap() {
            assert!(
                !s.success(),
                "plantgw exited cleanly; expected the crash hook to abort it"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "plantgw never reached the crash hook; log:\n{}",
            rig.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One row, stamped at the day's start, with the recomputed tonnage.
async fn assert_one_right_row(rig: &Rig, tolerance: f64) {
    let rows = rig.daily_rows().await;
    assert_eq!(
        rows.len(),
        1,
        "kpi_daily rows for {DAY}: {rows:?}; log:\n{}",
        rig.log_text()
    );
    let day_start: Timestamp = "2026-03-02T07:00:00-05:00".parse().unwrap();
    assert_eq!(
        rows[0].0,
        day_start.as_millisecond(),
        "stamped at 07:00 local"
    );
    let wet = rows[0].1;
    let re = rig.recomputed_wet_t().await;
    eprintln!("{DAY}: kpi_daily wet {wet:.2} t, recomputed {re:.2} t");
    assert!(re > 20.0, "the day's last hours milled ore: {re}");
    assert!(
        (wet - re).abs() / re < tolerance,
        "kpi_daily wet {wet} t vs recomputed {re} t"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_just_after_the_close_is_saved_keeps_the_kpi_daily_row() {
    let rig = Rig::start("2026-03-03T05:30:00-05:00").await;
    let mut gw = rig.gateway(Some("close-saved"));
    wait_crashed(&rig, &mut gw);
    assert_eq!(rig.closed_through().as_deref(), Some(DAY));
    let mut gw = rig.gateway(None);
    // Generous time for the restarted gateway to deliver its spool.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut rows = Vec::new();
    while rows.is_empty() && Instant::now() < deadline {
        if let Ok(Some(s)) = gw.try_wait() {
            panic!("plantgw exited ({s}); log:\n{}", rig.log_text());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        rows = rig.daily_rows().await;
    }
    assert!(
        !rows.is_empty(),
        "the closing kpi_daily row of {DAY} was lost: the state said closed before the row was spooled"
    );
    assert_one_right_row(&rig, 0.005).await;
    rig.stop(gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_spooling_the_close_and_saving_it_writes_the_row_once() {
    let rig = Rig::start("2026-03-03T05:30:00-05:00").await;
    let mut gw = rig.gateway(Some("close-spooled"));
    wait_crashed(&rig, &mut gw);
    assert_ne!(
        rig.closed_through().as_deref(),
        Some(DAY),
        "the state must not say closed yet"
    );
    let mut gw = rig.gateway(None);
    rig.wait_closed(&mut gw).await;
    // The spooled row and the re-close share series and timestamp.
    assert_one_right_row(&rig, 0.02).await;
    rig.stop(gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_across_day_start_splits_the_downtime_by_time() {
    let rig = Rig::start("2026-03-03T05:00:00-05:00").await;
    let gw = rig.gateway(None);
    // Stopped at 06:00, back at 08:00: the day's last hour is in the gap.
    rig.until_plant("2026-03-03T06:00:00-05:00").await;
    let _ = Command::new("kill")
        .args(["-TERM", &gw.id().to_string()])
        .status();
    let mut gw = gw;
    assert_eq!(gw.wait().unwrap().code(), Some(0));
    rig.until_plant("2026-03-03T08:00:00-05:00").await;
    let mut gw = rig.gateway(None);
    rig.wait_closed(&mut gw).await;
    assert_one_right_row(&rig, 0.02).await;
    rig.stop(gw).await;
}
