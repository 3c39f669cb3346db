//! A full production day end to end: the simulator at 720× (a day in two
//! minutes), the `plantgw` binary writing to a real influxd, killed with
//! SIGKILL mid-day and restarted. The closed day's `kpi_daily` must match
//! the simulator's ground truth, and `plantgw kpi --day` must reproduce it
//! from the raw series in InfluxDB.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use plantsim::clock::PlantClock;
use plantsim::map::PlantMap;
use plantsim::simulator::{SimOptions, Simulator};

use super::Gw;
use crate::common::influx::InfluxD;

const SPEED: f64 = 720.0;
/// Production day under test: 07:00 Lima 2026-03-02 → 07:00 2026-03-03.
const DAY: &str = "2026-03-02";
/// Plant time at the anchor: shortly before the day starts.
const PLANT_START: &str = "2026-03-02T06:40:00-05:00";

fn gateway(config: &Path, clock: &PlantClock) -> Gw {
    let child = super::run_on_plant_clock(config, clock, SPEED)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start plantgw run");
    Gw(child)
}

/// Sleeps until the plant clock reaches `t`.
async fn until_plant(clock: &PlantClock, t: Timestamp) {
    let now = clock.now();
    if t > now {
        let plant = t.duration_since(now).as_secs_f64();
        tokio::time::sleep(Duration::from_secs_f64(plant / SPEED)).await;
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_through_a_crash_matches_ground_truth_and_recomputes() {
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let start: Timestamp = PLANT_START.parse().unwrap();
    let clock = PlantClock::new(start, Timestamp::now(), SPEED);
    let sim = Simulator::start(SimOptions {
        clock,
        seed: 42,
        map: PlantMap::caylloma().on_ephemeral_ports(),
        truth_log: Some(dir.path().join("truth.jsonl")),
        ..SimOptions::default()
    })
    .await
    .unwrap();

    // The shipped configuration, pointed at this test's servers; 250 ms
    // wall = 3 min of plant time between scans.
    let cfg = crate::common::sim_gateway_config_scanning(
        &sim.gateway_config_toml(),
        &influx.url,
        250,
        250,
    );
    let config = dir.path().join("caylloma.toml");
    let settings = crate::common::write_gateway_config(&config, &cfg);
    let query =
        crate::common::influx::plant_database(settings.influx.as_ref().expect("[influxdb]")).await;

    let mut gw = gateway(&config, &clock);
    // Crash mid-day (15:10 local), stay down ~30 plant-minutes, restart.
    let crash_at = start
        .checked_add(SignedDuration::from_mins(8 * 60 + 30))
        .unwrap();
    until_plant(&clock, crash_at).await;
    gw.kill().unwrap(); // SIGKILL
    gw.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut gw = gateway(&config, &clock);

    // Past the end of the day, plus time for the day to close and spool out.
    let day_end: Timestamp = "2026-03-03T07:00:00-05:00".parse().unwrap();
    until_plant(
        &clock,
        day_end.checked_add(SignedDuration::from_mins(20)).unwrap(),
    )
    .await;
    let q = format!(
        r#"SELECT "ore_dry_t","ore_wet_t","ag_oz","ag_head_gpt","ag_recovery_pct","mill_availability_pct","totaliser_resets","ag_oz_pace_year" FROM "kpi_daily" WHERE "day"='{DAY}'"#
    );
    let daily = crate::common::eventually(Duration::from_secs(30), "kpi_daily row", || async {
        query.query(&q).await.ok()?.into_iter().next()
    })
    .await;
    let rq = format!(
        r#"SELECT "ag_recovery_pct","ag_recovery_ci95_pp","ag_oz","ag_oz_ci95","chi2","dof","p_value","gross_error","adj_zn_conc_ag" FROM "kpi_reconciled" WHERE "day"='{DAY}'"#
    );
    let reconciled =
        crate::common::eventually(Duration::from_secs(30), "kpi_reconciled row", || async {
            query.query(&rq).await.ok()?.into_iter().next()
        })
        .await;
    let _ = Command::new("kill")
        .args(["-TERM", &gw.id().to_string()])
        .status();
    let exit = gw.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "gateway exit after SIGTERM");

    let truth = sim.truth();
    let day = truth
        .closed_days
        .iter()
        .find(|d| d.day.to_string() == DAY)
        .unwrap_or_else(|| panic!("simulator has not closed {DAY}: {:?}", truth.closed_days));
    let col = |name: &str| {
        daily.values[0][daily.column(name).unwrap()]
            .as_f64()
            .unwrap()
    };
    let (dry, oz) = (col("ore_dry_t"), col("ag_oz"));
    eprintln!(
        "{DAY}: gateway dry {dry:.2} t, {oz:.1} oz, head {:.1} g/t, rec {:.2} % | truth dry {:.2} t, {:.1} oz, head {:.1} g/t, rec {:.2} %",
        col("ag_head_gpt"),
        col("ag_recovery_pct"),
        day.dry_t,
        day.ag_oz,
        day.ag_head_gpt,
        day.ag_recovery_pct
    );
    assert!(
        day.dry_t > 600.0,
        "a normal day mills ~700 t: {}",
        day.dry_t
    );
    assert!(
        rel(dry, day.dry_t) < 0.005,
        "dry tonnes {dry} vs truth {} (> 0.5 %)",
        day.dry_t
    );
    assert!(
        rel(oz, day.ag_oz) < 0.02,
        "ounces {oz} vs truth {} (> 2 %)",
        day.ag_oz
    );
    assert_eq!(
        col("totaliser_resets"),
        0.0,
        "the restart must not look like a totaliser reset"
    );
    // The first whole day closed: the pace is its ounces × 365 (the
    // 20 minutes before it, the gateway's partial first day, do not count).
    assert!(
        rel(col("ag_oz_pace_year"), oz * 365.0) < 1e-9,
        "pace {} vs {oz} oz × 365",
        col("ag_oz_pace_year")
    );

    // The reconciled balance of the same day, written at the close.
    assert_eq!(reconciled.values.len(), 1, "{reconciled:?}");
    let rc = |name: &str| reconciled.values[0][reconciled.column(name).unwrap()].clone();
    let rf = |name: &str| rc(name).as_f64().unwrap();
    let (r, ci) = (rf("ag_recovery_pct"), rf("ag_recovery_ci95_pp"));
    eprintln!(
        "{DAY}: reconciled rec {r:.2} ± {ci:.2} pp, {:.1} ± {:.1} oz, χ² {:.4}, p {:.3} | truth rec {:.2} %, {:.1} oz",
        rf("ag_oz"),
        rf("ag_oz_ci95"),
        rf("chi2"),
        rf("p_value"),
        day.ag_recovery_pct,
        day.ag_oz
    );
    assert!(
        (r - day.ag_recovery_pct).abs() <= ci,
        "truth {} outside reconciled {r} ± {ci}",
        day.ag_recovery_pct
    );
    assert!(
        (rf("ag_oz") - day.ag_oz).abs() <= rf("ag_oz_ci95"),
        "truth oz outside the interval"
    );
    assert_eq!(rc("dof").as_i64(), Some(1));
    assert!(rf("p_value") > 0.05, "the simulator's assays balance");
    assert_eq!(rc("gross_error").as_str(), Some(""));
    assert!(rf("adj_zn_conc_ag") > 100.0);

    // Recompute the day from the raw series, as `plantgw kpi --day` does.
    let k = settings.kpi.as_ref().unwrap();
    let re = plantgw::kpi::fetch_and_recompute(&query, k, &settings.site, DAY.parse().unwrap())
        .await
        .unwrap();
    let re_dry = re.kpi.ore_dry_t.unwrap();
    let re_oz = re.kpi.ag_oz.unwrap();
    eprintln!("{DAY}: recomputed dry {re_dry:.2} t, {re_oz:.1} oz");
    assert!(
        rel(re_dry, day.dry_t) < 0.005,
        "recomputed dry {re_dry} vs truth {}",
        day.dry_t
    );
    assert!(
        rel(re_oz, day.ag_oz) < 0.02,
        "recomputed oz {re_oz} vs truth {}",
        day.ag_oz
    );

    // And the command itself prints the table and can re-close the day.
    let out = Command::new(env!("CARGO_BIN_EXE_plantgw"))
        .args(["kpi", "--config"])
        .arg(&config)
        .args(["--day", DAY, "--write"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "plantgw kpi failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(DAY)
            && text.contains("ore dry")
            && text.contains("reconciled (χ²")
            && text.contains("kpi_daily and kpi_reconciled for 2026-03-02 written"),
        "{text}"
    );
    // Re-closed onto the same series and timestamp: still one row each.
    for m in ["kpi_daily", "kpi_reconciled"] {
        let n = query
            .query(&format!(
                r#"SELECT count("ag_recovery_pct") FROM "{m}" WHERE "day"='{DAY}'"#
            ))
            .await
            .unwrap();
        assert_eq!(n[0].values[0][1].as_i64(), Some(1), "{m}: {n:?}");
    }
    sim.shutdown().await.unwrap();
}
