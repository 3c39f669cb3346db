//! `[[plc.tag]] scan_ms`: a tag of a slower scan class is read (and
//! written) only in its own scans, on its own request.
use std::time::Duration;

use super::peers::{write_gateway, InProcess};
use crate::common::influx::InfluxD;
use crate::common::pymodbus::PymodbusPlc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_scan_class_is_read_once_in_five_scans() {
    let plc = PymodbusPlc::start();
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let (path, query) = write_gateway(
        dir.path(),
        &influx.url,
        &[format!(
            r#"
[[plc]]
name = "classes"
area = "lab"
address = "127.0.0.1:{}"
scan_ms = 200

[[plc.tag]]
name = "fast"
equipment = "dev"
table = "holding"
address = 0
type = "u16"

[[plc.tag]]
name = "slow"
equipment = "dev"
table = "holding"
address = 1
type = "i16"
scan_ms = 1000
"#,
            plc.port
        )],
    )
    .await;
    let check = crate::common::plantgw_check(false, &path);
    assert!(
        check.contains("scan class 1000 ms:\n  holding       1     1  dev.slow"),
        "check does not show the slow class's request:\n{check}"
    );
    let gw = InProcess::start(&path).await;
    let counts = crate::common::eventually(Duration::from_secs(30), "25 fast scans", || async {
        let s = query
            .query(r#"SELECT count("fast"), count("slow"), last("slow") FROM "dev""#)
            .await
            .ok()?;
        let row = s.first()?.values.first()?.clone();
        (row[1].as_i64()? >= 25).then_some(row)
    })
    .await;
    gw.stop().await;
    let (fast, slow) = (counts[1].as_i64().unwrap(), counts[2].as_i64().unwrap());
    assert_eq!(counts[3], serde_json::json!(-1234), "the slow tag's value");
    // One slow read per five scans, give or take the scan in flight.
    assert!(
        (fast / 5..=fast / 5 + 2).contains(&slow),
        "{fast} fast readings and {slow} slow ones: expected one slow read in five scans"
    );
}
