//! A site gateway with no local InfluxDB: `[nats]` is its only sink.
//! `plantgw run` polls a pymodbus PLC and publishes every spool record to
//! a token-protected R3 stream; `/healthz` lists only the `nats` sink;
//! `plantgw check` describes `[nats]` without the token, before and after
//! the stream exists; `plantgw report` and `/report` say they need
//! `[influxdb]`; the KPI engine's rows go to the stream like the scans.
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::procs::Proc;
use super::{assert_contiguous, nats_section, seqs_by_gateway, status_ts_in, stream_messages};
use crate::common::nats::NatsCluster;
use crate::common::pymodbus::PymodbusPlc;
use crate::common::{eventually, free_port, plantgw_check};
use crate::reliability::{pymodbus_plc, GatewayToml};

const TOKEN: &str = "n4ts-t0ken-never-shown";
const NEEDS_INFLUXDB: &str = "plantgw report needs [influxdb] to read the day from";

/// KPIs on the fixture's values (meaningless as metallurgy, but a row a
/// second of the engine's output all the same).
const KPI: &str = "\n[kpi]\ninterval_s = 1\nmoisture_pct = 8.0\nore_totaliser = \"fix_dev.f32\"\n\
                   feed_ag = \"fix_dev.u16\"\nconc_ag = \"fix_dev.in_u16\"\ntail_ag = \"fix_dev.u16\"\n";

/// The generated gateway file without its `[influxdb]` section.
fn without_influxdb(text: &str) -> String {
    let start = text
        .find("[influxdb]")
        .expect("[influxdb] in the generated file");
    let end = start
        + text[start..]
            .find("\n\n")
            .expect("a blank line ends [influxdb]");
    let out = format!("{}{}", &text[..start], &text[end + 2..]);
    assert!(!out.contains("influx"), "{out}");
    out
}

fn check_json(path: &Path) -> Value {
    serde_json::from_str(&plantgw_check(true, path)).expect("check --json is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_only_gateway_publishes_every_record_and_check_describes_it() {
    let cluster = NatsCluster::start_with(3, Some(TOKEN));
    cluster.wait_ready(3).await;
    let plc = PymodbusPlc::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let http = format!("127.0.0.1:{}", free_port());
    let mut gw = GatewayToml::new(
        "http://unused",
        &spool,
        vec![pymodbus_plc("fix", plc.port, 200)],
    );
    gw.http_listen = http.clone();
    let text = without_influxdb(&gw.render())
        + KPI
        + &nats_section(&cluster, "gw1", &format!("token = \"{TOKEN}\""));
    let path = dir.path().join("gw.toml");
    std::fs::write(&path, &text).expect("write config");

    // check, before any gateway made the stream.
    let before = plantgw_check(false, &path);
    assert!(!before.contains(TOKEN), "token in check output:\n{before}");
    for part in [
        "no [influxdb]: records go to [nats] only, in batches of at most 5000 lines / 1000 ms",
        &format!("nats {} stream PLANT (replicas 3) subject plant.reliab.gw1 gateway_id gw1 (token set), timeout 2000 ms", cluster.urls().join(",")),
        "stream PLANT does not exist yet; the gateway creates it (subjects plant.>, 3 replicas)",
    ] {
        assert!(before.contains(part), "{part:?} missing in:\n{before}");
    }
    assert!(!before.contains("field types"), "{before}");
    let json = check_json(&path);
    assert!(json["influxdb"].is_null(), "{json}");
    assert_eq!(json["nats"]["auth"], "token set", "{json}");
    assert_eq!(json["nats"]["servers"].as_array().map(Vec::len), Some(3));

    // report needs InfluxDB to read a day from.
    let out = Command::new(env!("CARGO_BIN_EXE_plantgw"))
        .args(["report", "--day", "2026-03-02", "--out"])
        .arg(dir.path().join("day.html"))
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run plantgw report");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "plantgw report succeeded: {stderr}");
    assert!(stderr.contains(NEEDS_INFLUXDB), "{stderr}");

    let mut run = Proc::spawn("run", &path, &dir.path().join("gw.log"));
    let client = crate::common::influx::http_client();
    let base = format!("http://{http}");
    let health = eventually(
        Duration::from_secs(30),
        "/healthz healthy with the nats sink delivering",
        || {
            let (client, url) = (client.clone(), format!("{base}/healthz"));
            async move {
                let r = client.get(url).send().await.ok()?;
                let ok = r.status().is_success();
                let v: Value = serde_json::from_str(&r.text().await.ok()?).ok()?;
                (ok && !v["sinks"]["nats"]["last_ack_s"].is_null()).then_some(v)
            }
        },
    )
    .await;
    run.assert_running();
    let sinks: Vec<&String> = health["sinks"]
        .as_object()
        .expect("sinks object")
        .keys()
        .collect();
    assert_eq!(sinks, ["nats"], "{health}");
    let report = client
        .get(format!("{base}/report"))
        .send()
        .await
        .expect("GET /report");
    assert_eq!(report.status().as_u16(), 404);
    let body = report.text().await.unwrap_or_default();
    assert!(body.contains(NEEDS_INFLUXDB), "{body}");

    // A record a second (the default flush interval without [influxdb]).
    tokio::time::sleep(Duration::from_secs(6)).await;
    run.assert_running();
    run.terminate(Duration::from_secs(30));

    let js = cluster.jetstream().await;
    let msgs = stream_messages(&js, "PLANT").await;
    let seqs = seqs_by_gateway(&msgs);
    assert_eq!(seqs.keys().collect::<Vec<_>>(), ["gw1"]);
    assert_contiguous("gw1", &seqs["gw1"]);
    assert!(
        msgs.iter().all(|(_, s, _)| s == "plant.reliab.gw1"),
        "a message on another subject"
    );
    let scans = status_ts_in(msgs.iter().map(|m| m.2.clone()), "fix");
    assert!(
        scans.len() >= 15,
        "too few scans in the stream: {}",
        scans.len()
    );
    // The PLC's values, as pymodbus holds them, arrived in the stream.
    let lines: Vec<&str> = msgs.iter().flat_map(|m| m.2.lines()).collect();
    let with = |field: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with("fix_dev,"))
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|fields| fields.split(',').any(|f| f == field))
            .count()
    };
    let (held, input) = (with("u16=54321i"), with("in_u16=777i"));
    assert!(
        held >= scans.len() / 2 && input >= scans.len() / 2,
        "{held} and {input} readings for {} scans",
        scans.len()
    );
    let kpi_rows = lines.iter().filter(|l| l.starts_with("kpi,")).count();
    assert!(kpi_rows >= 3, "{kpi_rows} kpi rows in the stream");
    let log = std::fs::read_to_string(dir.path().join("gw.log")).unwrap_or_default();
    assert!(!log.contains(TOKEN), "token in the gateway log");
    assert_eq!(
        log.matches("KPI: no [influxdb], so the state file is the only record")
            .count(),
        1,
        "{log}"
    );
    assert!(
        dir.path().join("kpi-state.json").is_file(),
        "no KPI state file"
    );

    // check, now that the gateway made the stream.
    let after = plantgw_check(false, &path);
    assert!(!after.contains(TOKEN), "token in check output:\n{after}");
    assert!(
        after.contains(&format!(
            "stream PLANT exists (3 replicas, {} messages) and takes subject plant.reliab.gw1",
            msgs.len()
        )),
        "{after}"
    );
    println!(
        "nats only: {} records, seqs {}..={}, {} scans, {kpi_rows} kpi rows; /healthz {health}",
        msgs.len(),
        seqs["gw1"].first().copied().unwrap_or(0),
        seqs["gw1"].last().copied().unwrap_or(0),
        scans.len()
    );
}
