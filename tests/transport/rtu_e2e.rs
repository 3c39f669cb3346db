//! Every type, order and table of the pymodbus fixture read over RTU, on a
//! serial line and through a serial gateway's TCP port, lands in InfluxDB
//! exactly.
use std::time::Duration;

use serde_json::{json, Value};

use super::peers::{write_gateway, InProcess, Pty, RtuUnits};
use crate::common::influx::{InfluxD, Query};
use crate::gateway::pymodbus_e2e::{tag_tables, tags};

/// A `[[plc]]` named `name` for unit `unit`, reached by `link` (transport
/// keys), with all the fixture's tags under equipment `<name>_dev`.
fn plc(name: &str, unit: u8, link: &str, scan_ms: u64) -> String {
    format!(
        "\n[[plc]]\nname = \"{name}\"\narea = \"lab\"\nunit_id = {unit}\nscan_ms = {scan_ms}\ntimeout_ms = 1000\n{link}\n{}",
        tag_tables(&format!("{name}_dev"))
    )
}

/// Waits for the first row of `<plc>_dev` and checks every field against
/// the fixture's values, unit `unit`'s holding register 0 included.
pub async fn assert_exact(query: &Query, plc: &str, unit: u8) {
    let q = format!(r#"SELECT * FROM "{plc}_dev" WHERE "plc"='{plc}' ORDER BY time ASC LIMIT 1"#);
    let series = crate::common::eventually(
        Duration::from_secs(30),
        &format!("{plc}'s values in InfluxDB"),
        || async {
            let s = query.query(&q).await.ok()?;
            s.into_iter().next().filter(|s| !s.values.is_empty())
        },
    )
    .await;
    let mut mismatches = Vec::new();
    for (table, address, _, _, _, field, expected) in tags() {
        let expected = if field == "u16" {
            json!(54320 + u32::from(unit))
        } else {
            expected
        };
        let idx = series.column(field).unwrap_or_else(|| {
            panic!("{plc}: field {field} missing; columns {:?}", series.columns)
        });
        let got: &Value = &series.values[0][idx];
        let same = match (got.as_f64(), expected.as_f64()) {
            (Some(g), Some(e)) if expected.is_f64() => g.to_bits() == e.to_bits(),
            _ => got == &expected,
        };
        if !same {
            mismatches.push(format!(
                "{field} ({table} {address}): got {got}, expected {expected}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{plc} (unit {unit}) values differ:\n{}",
        mismatches.join("\n")
    );
}

/// pymodbus RTU unit on a pty → `plantgw run` (the binary) → InfluxDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_on_a_serial_line_lands_in_influxdb_exactly() {
    let pty = Pty::open();
    let _units = RtuUnits::serial(&pty.bus_end, "5");
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let link = format!(
        "transport = \"rtu\"\ndevice = \"{}\"\nbaud = 19200\nparity = \"N\"\ndata_bits = 8\nstop_bits = 1",
        pty.gateway_end.display()
    );
    let (path, query) =
        write_gateway(dir.path(), &influx.url, &[plc("meter", 5, &link, 500)]).await;
    let check = crate::common::plantgw_check(false, &path);
    assert!(
        check.contains(&format!(
            "line rtu://{} 19200 8N1: its own connection",
            pty.gateway_end.display()
        )),
        "check does not name the serial line:\n{check}"
    );
    let gw = crate::gateway::Running::start(&path, &[]);
    assert_exact(&query, "meter", 5).await;
    let q = query
        .query(r#"SELECT last("code") FROM "tag_quality" WHERE "plc"='meter' AND "tag"='f64_dcba'"#)
        .await
        .unwrap();
    assert_eq!(q[0].values[0][1], json!("good"));
    let (status, log) = gw.stop(Duration::from_secs(20));
    assert!(status.success(), "plantgw run exited {status}:\n{log}");
}

/// Two units behind one serial gateway port: both exact, over one TCP
/// connection the gateway saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_over_tcp_units_share_one_connection() {
    let units = RtuUnits::rtu_over_tcp("1,2");
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let link = format!(
        "transport = \"rtu_over_tcp\"\naddress = \"127.0.0.1:{}\"",
        units.port
    );
    let (path, query) = write_gateway(
        dir.path(),
        &influx.url,
        &[
            plc("dosing_a", 1, &link, 300),
            plc("dosing_b", 2, &link, 300),
        ],
    )
    .await;
    let check = crate::common::plantgw_check(false, &path);
    assert!(
        check.contains(&format!(
            "line rtu_over_tcp://127.0.0.1:{}: shared with dosing_b (unit 2), requests one at a time",
            units.port
        )),
        "check does not show the shared line:\n{check}"
    );
    let gw = InProcess::start(&path).await;
    assert_exact(&query, "dosing_a", 1).await;
    assert_exact(&query, "dosing_b", 2).await;
    // Several scans of both, each with its own good plc_status.
    for plc in ["dosing_a", "dosing_b"] {
        let q = format!(
            r#"SELECT count("connected") FROM "plc_status" WHERE "plc"='{plc}' AND "connected"=true AND "errors"=0"#
        );
        crate::common::eventually(
            Duration::from_secs(20),
            &format!("five good scans of {plc}"),
            || async {
                let s = query.query(&q).await.ok()?;
                (s.first()?.values.first()?.get(1)?.as_i64()? >= 5).then_some(())
            },
        )
        .await;
    }
    assert_eq!(
        units.connections(),
        1,
        "the gateway saw more than one TCP connection for two units on one line"
    );
    gw.stop().await;
}
