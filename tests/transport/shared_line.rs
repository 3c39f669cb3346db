//! A unit that never answers on a line shared with one that does: the
//! line pays only the silent unit's own timeouts, and the other unit keeps
//! (nearly) every scan.
use std::time::Duration;

use serde_json::json;

use super::peers::{rtu_u16_plc, write_gateway, InProcess, Pty, RtuUnits};
use crate::common::influx::InfluxD;

const SCAN_MS: i64 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_unit_costs_the_shared_line_only_its_own_timeouts() {
    let pty = Pty::open();
    // Unit 1 answers; unit 2 is on the config but not on the bus.
    let _units = RtuUnits::serial(&pty.bus_end, "1");
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let plc = |name, unit| rtu_u16_plc(name, unit, &pty.gateway_end, SCAN_MS, 150);
    let (path, query) = write_gateway(
        dir.path(),
        &influx.url,
        &[plc("talker", 1), plc("silent", 2)],
    )
    .await;
    let gw = InProcess::start(&path).await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    gw.stop().await;

    // Every scan of the talker is a plc_status row; count the good ones
    // between its first and last, against the scans its schedule had.
    let rows = query
        .query(r#"SELECT "connected","errors" FROM "plc_status" WHERE "plc"='talker' ORDER BY time ASC"#)
        .await
        .unwrap();
    let values = &rows.first().expect("talker's plc_status rows").values;
    let first = values[0][0].as_i64().unwrap();
    let last = values[values.len() - 1][0].as_i64().unwrap();
    // Stamps are taken at the first request, so they jitter around the grid.
    let scheduled = (last - first + SCAN_MS / 2) / SCAN_MS + 1;
    let good = values
        .iter()
        .filter(|r| r[1] == json!(true) && r[2] == json!(0))
        .count() as i64;
    eprintln!(
        "talker beside a silent unit: {good} good scans of {scheduled} ({:.1} %)",
        good as f64 * 100.0 / scheduled as f64
    );
    assert!(
        scheduled >= 40,
        "only {scheduled} scans in the run: the test did not run long enough"
    );
    assert!(
        good * 100 >= scheduled * 95,
        "the talker kept {good} good scans of {scheduled} ({:.1} %) beside a silent unit",
        good as f64 * 100.0 / scheduled as f64
    );
    let silent = query
        .query(r#"SELECT last("code") FROM "tag_quality" WHERE "plc"='silent'"#)
        .await
        .unwrap();
    assert_eq!(silent[0].values[0][1], json!("timeout"));
    let talker = query
        .query(r#"SELECT last("u16") FROM "talker_dev""#)
        .await
        .unwrap();
    assert_eq!(talker[0].values[0][1], json!(54321));
}
