//! The v2 write path end to end: `plantgw` with `api = "v2"` (org, bucket,
//! token) polling the pymodbus PLC into VictoriaMetrics' `/api/v2/write`.
use std::time::Duration;

use plantgw::app::{self, RunOptions};
use tokio_util::sync::CancellationToken;

use crate::common::influx::VictoriaMetrics;
use crate::common::pymodbus::PymodbusPlc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_api_writes_scaled_and_raw_values() {
    let plc = PymodbusPlc::start();
    let vm = VictoriaMetrics::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[site]
name = "testsite"
[influxdb]
url = "{}"
api = "v2"
org = "fortuna"
bucket = "plant"
token = "test-token"
flush_interval_ms = 100
[spool]
dir = "spool"
[http]
listen = ""
[[plc]]
name = "fixture"
area = "lab"
address = "127.0.0.1:{}"
scan_ms = 200
[[plc.tag]]
name = "f32_cdab"
equipment = "fixture_dev"
table = "holding"
address = 16
type = "f32"
order = "CDAB"
[[plc.tag]]
name = "u32_scaled"
equipment = "fixture_dev"
table = "holding"
address = 44
type = "u32"
scale = 0.001
"#,
            vm.url, plc.port
        ),
    )
    .unwrap();
    let settings = plantgw::config::load(&path).unwrap();
    let cancel = CancellationToken::new();
    let gw = app::start(
        settings,
        plantsim::clock::PlantClock::wall(),
        cancel.clone(),
        RunOptions::default(),
    )
    .await
    .unwrap();
    let rows = crate::common::eventually(
        Duration::from_secs(20),
        "series in VictoriaMetrics",
        || async {
            vm.flush().await;
            let rows = vm.export(r#"{__name__=~"fixture_dev_.*"}"#).await;
            (rows.len() == 2).then_some(rows)
        },
    )
    .await;
    for row in rows {
        let name = row["metric"]["__name__"].as_str().unwrap().to_string();
        assert_eq!(row["metric"]["plc"], "fixture");
        assert_eq!(row["metric"]["site"], "testsite");
        let v = row["values"][0].as_f64().unwrap();
        match name.as_str() {
            "fixture_dev_f32_cdab" => assert_eq!(v, -0.5),
            "fixture_dev_u32_scaled" => assert_eq!(v, 123456789.0 * 0.001),
            other => panic!("unexpected series {other}"),
        }
    }
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), gw.wait())
        .await
        .unwrap()
        .unwrap();
}
