//! The `plantgw` binary as users run it: `check` output and exit codes,
//! `run` stopped by SIGTERM flushing what it holds and exiting 0.
use std::time::Duration;

use plantgw::sink::influxdb::query::QueryClient;

use super::{plantgw, Running};

use crate::common::influx::InfluxD;
use crate::common::pymodbus::PymodbusPlc;
use crate::common::{plantgw_check, repo_path};

#[test]
fn check_prints_the_poll_plan_of_the_shipped_config() {
    let text = plantgw_check(false, &repo_path("config/caylloma.toml"));
    assert!(
        text.contains("plc grinding (area grinding) 127.0.0.1:5021 unit 1"),
        "{text}"
    );
    assert!(text.contains("table     start count  tags"), "{text}");

    let json = plantgw_check(true, &repo_path("config/caylloma.toml"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let plcs = v["plcs"].as_array().unwrap();
    assert_eq!(plcs.len(), 3);
    for p in plcs {
        for r in p["requests"].as_array().unwrap() {
            let count = r["count"].as_u64().unwrap();
            let limit = if matches!(r["table"].as_str(), Some("coil" | "discrete")) {
                2000
            } else {
                125
            };
            assert!(count >= 1 && count <= limit, "{r}");
        }
        assert!(
            p["requests"].as_array().unwrap().len() >= p["lower_bound"].as_u64().unwrap() as usize
        );
    }
}

#[test]
fn check_refuses_a_bad_config_with_exit_2_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(repo_path("config/caylloma.toml"))
        .unwrap()
        .replacen(
            "timezone = \"America/Lima\"",
            "timezone = \"America/Lmia\"",
            1,
        )
        .replacen(
            "[influxdb]\n",
            "[influxdb]\ntoken = \"never-print-me\"\n",
            1,
        );
    std::fs::write(&path, text).unwrap();
    let out = plantgw()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("bad.toml") && err.contains("site.timezone") && err.contains("America/Lmia"),
        "{err}"
    );
    assert!(
        err.contains("influxdb.token"),
        "v1 config with a token must be refused: {err}"
    );
    assert!(!err.contains("never-print-me"), "secret printed: {err}");

    let out = plantgw()
        .args(["check", "--config", "/nonexistent/plant.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/plant.toml"));
}

/// With batches cut only by a long flush interval, everything acquired is
/// still held in memory when SIGTERM arrives: the gateway must spool and
/// deliver it, then exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_what_it_holds_and_exits_0() {
    let plc = PymodbusPlc::start();
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    std::fs::write(&path, fixture_config(&influx.url, plc.port, 600_000, "")).unwrap();
    let settings = plantgw::config::load(&path).unwrap();
    let query =
        crate::common::influx::plant_database(settings.influx.as_ref().expect("[influxdb]")).await;

    let child = Running::start(&path, &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = query
        .query(r#"SELECT count("u16") FROM "fixture_dev""#)
        .await
        .unwrap();
    assert!(
        before.is_empty(),
        "nothing should be written before the flush interval: {before:?}"
    );
    let (code, stderr) = child.stop(Duration::from_secs(20));
    assert_eq!(
        code.code(),
        Some(0),
        "exit status after SIGTERM; log:\n{stderr}"
    );
    let after = query
        .query(r#"SELECT count("u16") FROM "fixture_dev""#)
        .await
        .unwrap();
    let n = after[0].values[0][1].as_i64().unwrap();
    // ~3 s at 200 ms: about 15 scans, all of them delivered at shutdown.
    assert!(
        n >= 10,
        "only {n} samples delivered at shutdown; log:\n{stderr}"
    );
    assert!(stderr.contains("shutdown complete"), "{stderr}");
}

/// The one-PLC fixture config with batches cut only by `flush_ms`;
/// `extra` appends TOML.
fn fixture_config(influx_url: &str, port: u16, flush_ms: u64, extra: &str) -> String {
    let influxdb = format!("flush_interval_ms = {flush_ms}\nbatch_size = 1000000");
    crate::common::fixture_config(influx_url, port, &influxdb, extra)
}

/// How many samples of `fixture_dev`'s `field` InfluxDB holds (0 before
/// the first, or while it does not answer).
async fn samples(query: &QueryClient, field: &str) -> i64 {
    query
        .query(&format!(r#"SELECT count("{field}") FROM "fixture_dev""#))
        .await
        .ok()
        .and_then(|s| s.into_iter().next())
        .and_then(|s| s.values[0][1].as_i64())
        .unwrap_or(0)
}

/// SIGHUP re-reads the config: a valid one takes effect (a new tag
/// appears), an invalid one is refused and the running config keeps
/// polling; SIGTERM still exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_valid_config_and_refuses_an_invalid_one() {
    let plc = PymodbusPlc::start();
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    std::fs::write(&path, fixture_config(&influx.url, plc.port, 100, "")).unwrap();
    let settings = plantgw::config::load(&path).unwrap();
    let query =
        crate::common::influx::plant_database(settings.influx.as_ref().expect("[influxdb]")).await;
    let mut child = Running::start(&path, &[]);
    let count = |field| samples(&query, field);
    crate::common::eventually(Duration::from_secs(20), "first samples", || async {
        (count("u16").await > 0).then_some(())
    })
    .await;

    let more = "[[plc.tag]]\nname = \"i16\"\nequipment = \"fixture_dev\"\ntable = \"holding\"\naddress = 1\ntype = \"i16\"\n";
    std::fs::write(&path, fixture_config(&influx.url, plc.port, 100, more)).unwrap();
    child.signal("-HUP");
    crate::common::eventually(Duration::from_secs(20), "the reloaded tag", || async {
        (count("i16").await > 0).then_some(())
    })
    .await;

    std::fs::write(
        &path,
        fixture_config(&influx.url, plc.port, 100, "[[plc.tag]]\nname = \"oops\"\n"),
    )
    .unwrap();
    child.signal("-HUP");
    let before = count("i16").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        count("i16").await > before,
        "the running config must keep polling after a refused reload"
    );
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "gateway exited after a refused reload"
    );

    let (status, stderr) = child.stop(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("reloading configuration"), "{stderr}");
    assert!(stderr.contains("reload refused"), "{stderr}");
}

/// A reload whose config is valid but cannot start (its http port is taken,
/// then its spool dir cannot be created) is refused with an error line,
/// and the running pipeline keeps acquiring and delivering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_that_cannot_start_keeps_the_running_pipeline() {
    let plc = PymodbusPlc::start();
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    let base = fixture_config(&influx.url, plc.port, 100, "");
    std::fs::write(&path, &base).unwrap();
    let settings = plantgw::config::load(&path).unwrap();
    let query =
        crate::common::influx::plant_database(settings.influx.as_ref().expect("[influxdb]")).await;
    let mut child = Running::start(&path, &[]);
    let count = || samples(&query, "u16");
    crate::common::eventually(Duration::from_secs(20), "first samples", || async {
        (count().await > 0).then_some(())
    })
    .await;

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port_in_use = base.replacen(
        "listen = \"\"",
        &format!("listen = \"{}\"", taken.local_addr().unwrap()),
        1,
    );
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "a file where the spool's parent should be").unwrap();
    let bad_spool = base.replacen(
        "dir = \"spool\"",
        &format!("dir = \"{}\"", blocker.join("spool").display()),
        1,
    );
    for (what, text) in [("http port in use", port_in_use), ("spool dir", bad_spool)] {
        std::fs::write(&path, text).unwrap();
        child.signal("-HUP");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = count().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "gateway exited after a reload that could not start ({what})"
        );
        let after = count().await;
        assert!(
            after > before + 5,
            "acquisition stopped after a reload that could not start ({what}): {before} then {after} samples"
        );
    }

    let (status, stderr) = child.stop(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("reload failed").count(),
        2,
        "one error line per failed reload:\n{stderr}"
    );
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert!(stderr.contains("not-a-dir"), "{stderr}");
    drop(taken);
}
