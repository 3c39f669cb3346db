//! `/metrics` and `/healthz` of a gateway polling the simulated plant:
//! every documented metric is there, in valid Prometheus text; `/healthz`
//! answers 200 while the PLCs answer and 503 with the reason once they are
//! gone. The InfluxDB side is the in-test InfluxDB 2 server, refusing the
//! first write so the write-error counter has a status label to show.
use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use plantgw::app::{self, RunOptions};
use plantsim::clock::PlantClock;
use plantsim::map::PlantMap;
use plantsim::simulator::{SimOptions, Simulator};
use tokio_util::sync::CancellationToken;

use crate::common::influx::{http_client, MockInflux, MockReply};

/// One sample of the Prometheus text format.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the exposition format strictly enough to catch a malformed line.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            assert!(
                rest.starts_with("HELP ") || rest.starts_with("TYPE "),
                "bad comment line {line:?}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                let l = l
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("bad labels in {line:?}"));
                let mut map = BTreeMap::new();
                for pair in l.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("bad label in {line:?}"));
                    map.insert(k.to_string(), v.trim_end_matches('"').to_string());
                }
                (n.to_string(), map)
            }
            None => (series.to_string(), BTreeMap::new()),
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// KPI gauges that must be there once the engine has run a while.
const KPI_GAUGES: [&str; 12] = [
    "ore_dry_t",
    "ore_wet_t",
    "throughput_tph",
    "projected_day_t",
    "target_tpd",
    "mill_availability_pct",
    "ag_head_gpt",
    "ag_recovery_pct",
    "ag_oz",
    "ag_oz_ytd",
    "ag_oz_pace_year",
    "target_oz_year",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_healthz_report_the_gateway_and_a_lost_plc() {
    let influx = MockInflux::start().await;
    // The first write is refused with a 500: retried, and counted by status.
    influx.with(|s| {
        s.script_writes_only = true;
        s.script.push_back(MockReply::internal_error());
    });
    let dir = tempfile::tempdir().unwrap();
    // Mid-morning on a normal production day, a day in two minutes.
    let start: Timestamp = "2026-03-02T09:00:00-05:00".parse().unwrap();
    let clock = PlantClock::new(start, Timestamp::now(), 720.0);
    let sim = Simulator::start(SimOptions {
        clock,
        map: PlantMap::caylloma().on_ephemeral_ports(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let cfg = crate::common::sim_gateway_config(
        &sim.gateway_config_toml(),
        &influx.url,
        200,
        "127.0.0.1:0",
    );
    let settings = crate::common::write_gateway_config(&dir.path().join("gw.toml"), &cfg);
    let plcs: Vec<String> = settings.plcs.iter().map(|p| p.name.to_string()).collect();
    let cancel = CancellationToken::new();
    let gw = app::start(settings, clock, cancel.clone(), RunOptions::default())
        .await
        .unwrap();
    let base = format!("http://{}", gw.http_addr.expect("http listener bound"));
    let http = http_client();

    // Wait until every PLC scanned, a write was refused and one accepted,
    // and the KPI engine has reported.
    // What was still missing at the last look, for the failure message.
    let missing = std::sync::Mutex::new(String::new());
    let samples = crate::common::eventually(Duration::from_secs(60), "a full /metrics", || async {
        let text = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let s = parse_prometheus(&text);
        let scanned = plcs.iter().all(|p| {
            find(&s, "plantgw_plc_scans_total", &[("plc", p)])
                .first()
                .is_some_and(|x| x.value >= 2.0)
        });
        let written = find(&s, "plantgw_points_written_total", &[])
            .first()
            .is_some_and(|x| x.value > 0.0);
        let refused = !find(&s, "plantgw_write_errors_total", &[("status", "500")]).is_empty();
        let absent: Vec<&str> = KPI_GAUGES
            .iter()
            .filter(|k| find(&s, &format!("plantgw_kpi_{k}"), &[]).is_empty())
            .copied()
            .collect();
        let kpi = absent.is_empty()
            && find(&s, "plantgw_kpi_ore_dry_t", &[])
                .first()
                .is_some_and(|x| x.value > 0.0);
        let gaps: Vec<&str> = [
            (scanned, "scans of every PLC"),
            (written, "points written"),
            (refused, "the refused write"),
            (kpi, "a KPI gauge"),
        ]
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, what)| *what)
        .collect();
        *missing.lock().unwrap() = format!(
            "missing: {gaps:?} {absent:?}; InfluxDB saw {:?}",
            influx
                .requests()
                .iter()
                .map(|r| r.path.clone())
                .collect::<Vec<_>>()
        );
        if !gaps.is_empty() {
            eprintln!("{}", missing.lock().unwrap());
        }
        (scanned && written && refused && kpi).then_some(s)
    })
    .await;

    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    for p in &plcs {
        for name in [
            "plantgw_plc_scans_total",
            "plantgw_plc_requests_total",
            "plantgw_plc_errors_total",
            "plantgw_plc_timeouts_total",
            "plantgw_plc_connected",
            "plantgw_plc_scan_duration_seconds_count",
            "plantgw_plc_scan_duration_seconds_sum",
        ] {
            assert!(
                !find(&samples, name, &[("plc", p)]).is_empty(),
                "no {name}{{plc={p:?}}}:\n{text}"
            );
        }
        assert!(find(&samples, "plantgw_plc_requests_total", &[("plc", p)])[0].value >= 2.0);
        assert_eq!(
            find(&samples, "plantgw_plc_connected", &[("plc", p)])[0].value,
            1.0
        );
        // A real histogram: cumulative buckets ending in +Inf = _count.
        let mut buckets: Vec<(f64, f64)> = find(
            &samples,
            "plantgw_plc_scan_duration_seconds_bucket",
            &[("plc", p)],
        )
        .iter()
        .map(|s| {
            let le = match s.labels["le"].as_str() {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap(),
            };
            (le, s.value)
        })
        .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            buckets.len() >= 10,
            "scan duration buckets for {p}: {buckets:?}"
        );
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
        let count = find(
            &samples,
            "plantgw_plc_scan_duration_seconds_count",
            &[("plc", p)],
        )[0]
        .value;
        assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, count));
    }
    for (name, kind) in [
        ("plantgw_points_written_total", "counter"),
        ("plantgw_write_requests_total", "counter"),
        ("plantgw_write_errors_total", "counter"),
        ("plantgw_spool_bytes", "gauge"),
        ("plantgw_spool_records", "gauge"),
        ("plantgw_spool_dropped_records_total", "counter"),
        ("plantgw_spool_dropped_bytes_total", "counter"),
        ("plantgw_influx_up", "gauge"),
        ("plantgw_plc_scan_duration_seconds", "histogram"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "no TYPE line for {name}:\n{text}"
        );
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
    }
    // The recorder is the process's: other tests in this binary shed spool
    // records at the same time, so only the counter's presence is this
    // gateway's to check.
    assert!(!find(&samples, "plantgw_spool_dropped_records_total", &[]).is_empty());
    assert!(find(&samples, "plantgw_write_requests_total", &[])[0].value >= 2.0);
    assert_eq!(
        find(&samples, "plantgw_kpi_target_tpd", &[])[0].value,
        700.0
    );

    // The same events, counted for the gateway_status series.
    let counts = gw.health.delivery_counts();
    assert!(
        counts.write_errors >= 1 && counts.points_written > 0,
        "{counts:?}"
    );

    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&health.text().await.unwrap()).unwrap();
    assert_eq!(body["healthy"], serde_json::json!(true), "{body}");
    assert_eq!(body["reasons"], serde_json::json!([]), "{body}");
    // Only the configured sink, acknowledged moments ago, nothing waiting.
    let sinks = body["sinks"].as_object().expect("sinks in /healthz");
    assert_eq!(sinks.keys().collect::<Vec<_>>(), ["influxdb"], "{body}");
    assert!(
        body["sinks"]["influxdb"]["last_ack_s"]
            .as_f64()
            .is_some_and(|s| s < 10.0),
        "{body}"
    );
    assert!(body["sinks"]["influxdb"]["waiting_s"].is_null(), "{body}");

    // The plant goes away: after 10 s without an answer (three scans, at
    // least 10 s) every PLC is reported, and the status is 503.
    sim.shutdown().await.unwrap();
    let lost = std::time::Instant::now();
    let body = crate::common::eventually(Duration::from_secs(40), "/healthz 503", || async {
        let r = http.get(format!("{base}/healthz")).send().await.ok()?;
        if r.status() != 503 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&r.text().await.ok()?).ok()?;
        (v["reasons"].as_array()?.len() == plcs.len()).then_some(v)
    })
    .await;
    assert!(
        lost.elapsed() >= Duration::from_secs(9),
        "unhealthy after only {:?}",
        lost.elapsed()
    );
    assert_eq!(body["healthy"], false);
    for p in &plcs {
        assert!(
            body["reasons"].as_array().unwrap().iter().any(|r| r
                .as_str()
                .unwrap()
                .starts_with(&format!("plc {p}: no answer for "))),
            "{body}"
        );
    }
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let after = parse_prometheus(&text);
    for p in &plcs {
        assert_eq!(
            find(&after, "plantgw_plc_connected", &[("plc", p)])[0].value,
            0.0,
            "{p}"
        );
    }

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), gw.wait())
        .await
        .unwrap()
        .unwrap();
}
