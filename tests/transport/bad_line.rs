//! Bad input on a serial line: units answering with a broken CRC, another
//! unit's frame, or garbage, and a PLC whose serial device is missing. Each
//! gets a clear quality code and log line, nothing panics, and the healthy
//! unit on the same line keeps delivering.
use std::time::Duration;

use serde_json::json;

use super::peers::{rtu_u16_plc, write_gateway, Pty, RtuUnits};
use crate::common::influx::InfluxD;

fn plc(name: &str, unit: u8, device: &std::path::Path) -> String {
    rtu_u16_plc(name, unit, device, 300, 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_frames_and_a_missing_device_get_codes_and_spare_the_healthy_unit() {
    let pty = Pty::open();
    let _units = RtuUnits::serial(&pty.bus_end, "1,2:crc,3:foreign,4:garbage,6:busy");
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("ttyUSB9");
    let (path, query) = write_gateway(
        dir.path(),
        &influx.url,
        &[
            plc("healthy", 1, &pty.gateway_end),
            plc("bad_crc", 2, &pty.gateway_end),
            plc("foreign", 3, &pty.gateway_end),
            plc("garbage", 4, &pty.gateway_end),
            plc("unplugged", 1, &missing),
            plc("busy", 6, &pty.gateway_end),
        ],
    )
    .await;
    let gw = crate::gateway::Running::start(&path, &[("RUST_LOG", "info")]);

    let code = |plc: &'static str| {
        let query = &query;
        async move {
            let q = format!(r#"SELECT last("code") FROM "tag_quality" WHERE "plc"='{plc}'"#);
            let s = query.query(&q).await.ok()?;
            s.first()?.values.first()?.get(1).cloned()
        }
    };
    for (plc, want) in [
        // Bytes came but no frame with a valid CRC: not a silent unit.
        ("bad_crc", "comm_failure"),
        // Another unit's frame is refused on its address byte.
        ("foreign", "comm_failure"),
        ("garbage", "comm_failure"),
        ("unplugged", "comm_failure"),
    ] {
        let got = crate::common::eventually(
            Duration::from_secs(20),
            &format!("a quality code for {plc}"),
            || code(plc),
        )
        .await;
        assert_eq!(got, json!(want), "quality of {plc}");
    }
    // The healthy unit delivers scan after scan all the while.
    let good = crate::common::eventually(
        Duration::from_secs(20),
        "ten good scans of the healthy unit",
        || async {
            let s = query
                .query(r#"SELECT count("u16") FROM "healthy_dev""#)
                .await
                .ok()?;
            let n = s.first()?.values.first()?.get(1)?.as_i64()?;
            (n >= 10).then_some(n)
        },
    )
    .await;
    assert!(good >= 10);
    let last = query
        .query(r#"SELECT last("u16") FROM "healthy_dev""#)
        .await
        .unwrap();
    assert_eq!(last[0].values[0][1], json!(54321));
    assert_eq!(code("healthy").await, Some(json!("good")));
    // A unit busy on every other request is asked again within the scan:
    // its tags never show the exception.
    let busy = query
        .query(r#"SELECT "code" FROM "tag_quality" WHERE "plc"='busy'"#)
        .await
        .unwrap();
    let codes: Vec<_> = busy
        .first()
        .map(|s| s.values.iter().map(|r| r[1].clone()).collect())
        .unwrap_or_default();
    assert_eq!(codes, [json!("good")], "quality codes of the busy unit");

    let (status, log) = gw.stop(Duration::from_secs(20));
    assert!(status.success(), "plantgw run exited {status}:\n{log}");
    assert!(!log.contains("panicked"), "a panic on bad input:\n{log}");
    for line in [
        "line cannot be opened",
        "ttyUSB9",
        "answer discarded",
        "no frame with a valid CRC",
    ] {
        assert!(log.contains(line), "no log line with {line:?}:\n{log}");
    }
}
