//! The v2 write API (`/api/v2/write`, token header, gzip) against
//! VictoriaMetrics, which stores measurement+field as `measurement_field`
//! with the line's tags as labels.
use std::time::Duration;

use plantgw::sample::Value;
use plantgw::sink::influxdb::{deliver_with, Delivery, InfluxClient, ScanEncoder};
use serde_json::{json, Value as Json};
use tokio_util::sync::CancellationToken;

use super::{fast_policy, grinding, now_ms, scan};
use crate::common::eventually;
use crate::common::influx::{v2_settings, VictoriaMetrics};

fn find<'a>(series: &'a [Json], name: &str) -> &'a Json {
    series
        .iter()
        .find(|s| s["metric"]["__name__"] == name)
        .unwrap_or_else(|| panic!("no series {name} in {series:#?}"))
}

#[tokio::test]
async fn scans_written_over_v2_are_stored_with_labels_and_values() {
    let vm = VictoriaMetrics::start();
    let client = InfluxClient::new(&v2_settings(&vm.url, "any-token")).unwrap();
    let p = grinding();
    let mut enc = ScanEncoder::new("caylloma", std::slice::from_ref(&p));
    let t0 = now_ms() - 10_000;
    let mut body = Vec::new();
    let mut n = 0;
    for (k, power) in [412.5, 413.25].into_iter().enumerate() {
        n += enc.encode(
            &scan(
                &p,
                t0 + 1000 * k as i64,
                vec![
                    Some(Value::Float(power)),
                    Some(Value::Bool(k == 0)),
                    Some(Value::Int(7 + k as i64)),
                    Some(Value::text("auto")),
                    Some(Value::Float(31.0)),
                ],
            ),
            &mut body,
        );
    }
    let d = deliver_with(&client, &body, &CancellationToken::new(), &fast_policy()).await;
    assert_eq!(
        d,
        Delivery::Delivered {
            lines: n,
            requests: 1
        },
        "{}",
        vm.log_tail()
    );

    let series = eventually(
        Duration::from_secs(20),
        "series in VictoriaMetrics",
        || async {
            vm.flush().await;
            let s = vm
                .export(r#"{__name__=~"ball_mill_.*|plc_status_.*|mill_feed_belt_.*"}"#)
                .await;
            (s.len() >= 8).then_some(s)
        },
    )
    .await;

    let power = find(&series, "ball_mill_power_kw");
    assert_eq!(power["metric"]["area"], "grinding");
    assert_eq!(power["metric"]["plc"], "grinding");
    assert_eq!(power["metric"]["site"], "caylloma");
    assert_eq!(power["values"], json!([412.5, 413.25]));
    assert_eq!(power["timestamps"], json!([t0, t0 + 1000]));
    assert_eq!(find(&series, "ball_mill_running")["values"], json!([1, 0]));
    assert_eq!(find(&series, "ball_mill_starts")["values"], json!([7, 8]));
    assert_eq!(
        find(&series, "mill_feed_belt_feed_rate_tph")["values"],
        json!([31, 31])
    );
    let scan_ms = find(&series, "plc_status_scan_ms");
    assert_eq!(scan_ms["values"], json!([42, 42]));
    assert_eq!(scan_ms["metric"]["plc"], "grinding");
}
