//! One register range that never answers must not take its PLC down: the
//! pymodbus fixture swallows every read touching holding registers 64..69
//! while answering everything else on the same connection. The range's tags
//! report `timeout` (and nothing else), it is retried on a slower schedule,
//! and the PLC's other tags are delivered on (nearly) every scan.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use plantgw::sink::influxdb::query::QueryClient;
use serde_json::Value;

use super::{
    assert_ascending, equipment_rows, holes, pymodbus_tags, quality_codes, query_client,
    start_gateway, status_ts, stop_gateway, tags, wait_for_scans, GatewayToml, PlcToml,
};
use crate::common::influx::InfluxD;
use crate::common::pymodbus::PymodbusPlc;

const SCAN_MS: i64 = 500;
const SCANS: usize = 24;
/// The good tags of [`pymodbus_tags`], with the fixture's value of the first.
const GOOD_FIELDS: [&str; 5] = ["u16", "f32", "in_u16", "coil0", "di1"];

/// Timestamps of the rows of `equipment` carrying every one of `fields`.
async fn complete_rows(q: &QueryClient, equipment: &str, fields: &[&str]) -> BTreeSet<i64> {
    equipment_rows(q, equipment)
        .await
        .into_iter()
        .filter(|(_, row)| fields.iter().all(|f| row.contains_key(*f)))
        .map(|(t, _)| t)
        .collect()
}

/// Sum of an integer `plc_status` field over the run.
async fn status_sum(q: &QueryClient, plc: &str, field: &str) -> i64 {
    let series = q
        .query(&format!(
            "SELECT \"{field}\" FROM \"plc_status\" WHERE \"plc\"='{plc}'"
        ))
        .await
        .expect("query plc_status");
    series
        .iter()
        .flat_map(|s| s.values.iter())
        .filter_map(|r| r.get(1).and_then(Value::as_i64))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_register_range_leaves_the_rest_of_the_plc_scanning() {
    let plc = PymodbusPlc::start_with(&["silent=holding:64:70"]);
    let influx = InfluxD::start();
    let q = query_client(&influx.url).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = GatewayToml::new(
        &influx.url,
        &dir.path().join("spool"),
        vec![PlcToml {
            name: "mixed".into(),
            address: format!("127.0.0.1:{}", plc.port),
            scan_ms: SCAN_MS as u64,
            // Well inside the scan, so a retry of the silent range costs
            // time but no scan.
            timeout_ms: 200,
            // Good tags in four requests, two silent ones in a fifth (48
            // registers from the nearest good tag: never merged with it).
            tags: pymodbus_tags("mixed_dev") + &tags("mute_dev", "holding", "u16", "mute", 64, 2),
        }],
    )
    .write_and_load(&dir.path().join("gw.toml"));
    let (gw, cancel) = start_gateway(settings).await;
    wait_for_scans(&q, &["mixed"], SCANS, Duration::from_secs(50)).await;
    stop_gateway(gw, cancel).await;

    let ts = status_ts(&q, "mixed").await;
    assert_ascending(&ts, "mixed plc_status");
    let gaps = holes(&ts, SCAN_MS * 3 / 2);
    assert!(gaps.is_empty(), "scans skipped: {gaps:?}");
    let good = complete_rows(&q, "mixed_dev", &GOOD_FIELDS).await;
    let delivered = ts.iter().filter(|t| good.contains(t)).count();
    let share = delivered as f64 / ts.len() as f64;
    assert!(
        share >= 0.95,
        "good tags delivered on {delivered} of {} scans ({:.0} %), want ≥ 95 %",
        ts.len(),
        share * 100.0
    );
    // Delivered values are the fixture's, not placeholders.
    let u16s = q
        .query("SELECT \"u16\" FROM \"mixed_dev\"")
        .await
        .expect("query u16");
    assert!(
        u16s.iter()
            .flat_map(|s| s.values.iter())
            .all(|r| r.get(1) == Some(&Value::from(54321))),
        "u16 values: {u16s:?}"
    );

    // The silent range: timeout, only timeout, and no value ever.
    let codes: BTreeMap<String, Vec<String>> = quality_codes(&q, "mixed")
        .await
        .into_iter()
        .map(|(tag, rows)| (tag, rows.into_iter().map(|(_, code)| code).collect()))
        .collect();
    for tag in ["mute000", "mute001"] {
        assert_eq!(
            codes.get(tag).map(Vec::as_slice),
            Some(&["timeout".to_string()][..]),
            "{tag}: quality codes {codes:?}"
        );
    }
    for f in GOOD_FIELDS {
        assert_eq!(
            codes.get(f).map(Vec::as_slice),
            Some(&["good".to_string()][..]),
            "{f}: quality codes {codes:?}"
        );
    }
    let mute_rows = complete_rows(&q, "mute_dev", &[]).await;
    assert!(
        mute_rows.is_empty(),
        "silent tags got values at {mute_rows:?}"
    );

    // Retried on a slower schedule: far fewer timeouts than scans, but
    // more than one (it is retried at all).
    let timeouts = status_sum(&q, "mixed", "timeouts").await;
    assert!(
        (2..=ts.len() as i64 / 3).contains(&timeouts),
        "{timeouts} timeouts in {} scans",
        ts.len()
    );
    eprintln!(
        "silent range: good tags on {delivered}/{} scans, {timeouts} timeouts (slow retries of the silent range)",
        ts.len()
    );
}
