//! Reloading the configuration (SIGHUP) while the PLC list stays the same
//! must not cost acquisition: at most one missed scan per PLC per reload,
//! even while InfluxDB is down (the old pipeline used to drain for its whole
//! grace period before the new one started polling).
use std::path::Path;
use std::time::Duration;

use plantgw::config::Settings;
use plantsim::map::PlantMap;
use plantsim::simulator::{SimOptions, Simulator};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    assert_ascending, blocking, holes, join_within, now_ms, pymodbus_plc, query_client, status_ts,
    wait_for_scans, GatewayToml,
};
use crate::common::eventually;
use crate::common::influx::InfluxD;
use crate::common::pymodbus::PymodbusPlc;

const SCAN_MS: i64 = 500;
const PLCS: [&str; 2] = ["north", "south"];

fn config(influx_url: &str, spool: &Path, plc_port: u16, extra: &str) -> String {
    let toml = GatewayToml::new(
        influx_url,
        spool,
        PLCS.iter()
            .map(|name| pymodbus_plc(name, plc_port, SCAN_MS as u64))
            .collect(),
    );
    format!("{}\n{extra}\n", toml.render())
}

/// Runs `run_with_reload` in this process, as `plantgw run` does.
fn spawn_gateway(
    path: &Path,
    settings: Settings,
) -> (
    tokio::task::JoinHandle<Result<(), plantgw::app::AppError>>,
    CancellationToken,
    mpsc::Sender<()>,
) {
    let stop = CancellationToken::new();
    let (reload_tx, reload_rx) = mpsc::channel(1);
    let task = {
        let (path, stop) = (path.to_path_buf(), stop.clone());
        tokio::spawn(async move {
            plantgw::app::run_with_reload(
                &path,
                settings,
                plantsim::clock::PlantClock::wall(),
                stop,
                reload_rx,
            )
            .await
        })
    };
    (task, stop, reload_tx)
}

/// Three reloads of an unchanged PLC list (a comment, then InfluxDB down,
/// then an `[influxdb]` change while it is down): every scan of the run is
/// in InfluxDB afterwards, with at most one missing per PLC per reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_with_an_unchanged_plc_list_misses_at_most_one_scan() {
    let plc = PymodbusPlc::start();
    let mut influx = InfluxD::start();
    let q = query_client(&influx.url).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, spool) = (dir.path().join("gw.toml"), dir.path().join("spool"));
    std::fs::write(&path, config(&influx.url, &spool, plc.port, "")).unwrap();
    let settings = plantgw::config::load(&path).unwrap();
    let (task, stop, reload) = spawn_gateway(&path, settings);

    wait_for_scans(&q, &PLCS, 4, Duration::from_secs(30)).await;
    let from_ms = now_ms();
    let reloads = [
        "# reload 1: only a comment changed".to_string(),
        "# reload 2: InfluxDB is down".to_string(),
        // Appended after the PLC tables, so it is a plain comment too; the
        // `[influxdb]` change is made in place below.
        "# reload 3: InfluxDB timeout changed while it is down".to_string(),
    ];
    for (i, extra) in reloads.iter().enumerate() {
        let mut text = config(&influx.url, &spool, plc.port, extra);
        if i == 1 {
            blocking(|| influx.stop());
        }
        if i == 2 {
            text = text.replacen("timeout_ms = 2000", "timeout_ms = 3000", 1);
        }
        std::fs::write(&path, text).unwrap();
        reload.send(()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!task.is_finished(), "gateway ended after reload {}", i + 1);
    }
    blocking(|| influx.restart());
    let to_ms = now_ms();
    eventually(
        Duration::from_secs(40),
        "the scans of the reloads delivered",
        || async {
            for plc in PLCS {
                if *status_ts(&q, plc).await.last()? < to_ms + SCAN_MS {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    stop.cancel();
    join_within(task, Duration::from_secs(30), "gateway").await;

    for plc in PLCS {
        assert_at_most_missed(&q, plc, from_ms, to_ms, reloads.len() as i64).await;
    }
}

/// Asserts `plc` missed at most `allowed` scans in `from_ms..=to_ms`, and
/// never two in a row.
async fn assert_at_most_missed(
    q: &plantgw::sink::influxdb::query::QueryClient,
    plc: &str,
    from_ms: i64,
    to_ms: i64,
    allowed: i64,
) {
    let ts: Vec<i64> = status_ts(q, plc)
        .await
        .into_iter()
        .filter(|t| (from_ms..=to_ms).contains(t))
        .collect();
    assert_ascending(&ts, plc);
    // The window's ends stand in for scans, so a gap at either end counts
    // too. Scans sit on multiples of the period: a hole of more than 1.5
    // periods is one missed scan, of more than 2.5 two or more.
    let framed: Vec<i64> = std::iter::once(from_ms)
        .chain(ts.iter().copied())
        .chain(std::iter::once(to_ms))
        .collect();
    let gaps: Vec<i64> = holes(&framed, SCAN_MS * 3 / 2)
        .iter()
        .map(|(a, b)| b - a)
        .collect();
    let missed: i64 = gaps
        .iter()
        .map(|g| (*g as f64 / SCAN_MS as f64).round() as i64 - 1)
        .sum();
    println!(
        "{plc}: {} scans over {} ms, {missed} missed, holes (ms): {gaps:?}",
        ts.len(),
        to_ms - from_ms
    );
    assert!(
        gaps.iter().all(|g| *g <= SCAN_MS * 5 / 2) && missed <= allowed,
        "{plc}: {missed} scans missed (at most {allowed} allowed), {} scans in {} ms; holes (ms): {gaps:?}",
        ts.len(),
        to_ms - from_ms
    );
}

/// A reload that changes only the KPI interval on the shipped config
/// (simulated plant, three PLCs, KPIs on): the KPI task is replaced (rows
/// now come every 2 s instead of every minute) while no PLC misses more
/// than one scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_of_the_kpi_interval_keeps_the_plcs_polling() {
    let influx = InfluxD::start();
    let q = query_client(&influx.url).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = plantsim::clock::PlantClock::wall();
    let sim = Simulator::start(SimOptions {
        clock,
        seed: 7,
        map: PlantMap::caylloma().on_ephemeral_ports(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let mut cfg = crate::common::sim_gateway_config_scanning(
        &sim.gateway_config_toml(),
        &influx.url,
        200,
        SCAN_MS,
    );
    let path = dir.path().join("caylloma.toml");
    let settings = crate::common::write_gateway_config(&path, &cfg);
    let plcs: Vec<String> = settings.plcs.iter().map(|p| p.name.to_string()).collect();
    let names: Vec<&str> = plcs.iter().map(String::as_str).collect();
    let (task, stop, reload) = spawn_gateway(&path, settings);
    wait_for_scans(&q, &names, 4, Duration::from_secs(30)).await;

    cfg["kpi"]
        .as_table_mut()
        .unwrap()
        .insert("interval_s".into(), 2.into());
    std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
    let from_ms = now_ms();
    reload.send(()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let to_ms = now_ms();
    let kpi_rows = || async {
        q.query(&format!(
            "SELECT \"throughput_tph\" FROM \"kpi\" WHERE time > {from_ms}ms"
        ))
        .await
        .ok()
        .map(|s| s.iter().map(|s| s.values.len()).sum::<usize>())
        .unwrap_or(0)
    };
    eventually(
        Duration::from_secs(30),
        "KPI rows at the new interval and every PLC's scans delivered",
        || async {
            for plc in &names {
                if *status_ts(&q, plc).await.last()? < to_ms + SCAN_MS {
                    return None;
                }
            }
            (kpi_rows().await >= 3).then_some(())
        },
    )
    .await;
    assert!(!task.is_finished(), "gateway ended after the reload");
    stop.cancel();
    join_within(task, Duration::from_secs(30), "gateway").await;
    for plc in &names {
        assert_at_most_missed(&q, plc, from_ms, to_ms, 1).await;
    }
}
