//! End to end: a pymodbus PLC holding known values → `plantgw` poller →
//! spool → a real influxd 1.x → InfluxQL. Every type, every byte order,
//! all four tables, bits of a register, scaling, and the DESIGN §5 names.
use std::time::Duration;

use plantgw::app::{self, RunOptions};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::common::influx::InfluxD;
use crate::common::pymodbus::PymodbusPlc;

const SCAN_MS: i64 = 500;

/// (table, address, type, order, extra keys, field, expected JSON value)
pub(crate) fn tags() -> Vec<(
    &'static str,
    u16,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Value,
)> {
    vec![
        ("holding", 0, "u16", "", "", "u16", json!(54321)),
        ("holding", 1, "i16", "", "", "i16", json!(-1234)),
        (
            "holding",
            2,
            "u32",
            "ABCD",
            "",
            "u32_abcd",
            json!(3000000000u64),
        ),
        (
            "holding",
            4,
            "i32",
            "CDAB",
            "",
            "i32_cdab",
            json!(-123456789),
        ),
        (
            "holding",
            6,
            "u64",
            "BADC",
            "",
            "u64_badc",
            json!(12345678901234567u64),
        ),
        (
            "holding",
            10,
            "i64",
            "DCBA",
            "",
            "i64_dcba",
            json!(-9876543210123i64),
        ),
        (
            "holding",
            14,
            "f32",
            "ABCD",
            "",
            "f32_abcd",
            json!(f64::from(123.456f32)),
        ),
        ("holding", 16, "f32", "CDAB", "", "f32_cdab", json!(-0.5)),
        (
            "holding",
            18,
            "f32",
            "BADC",
            "",
            "f32_badc",
            json!(f64::from(31.7f32)),
        ),
        ("holding", 20, "f32", "DCBA", "", "f32_dcba", json!(700.25)),
        (
            "holding",
            22,
            "f64",
            "ABCD",
            "",
            "f64_abcd",
            json!(4294967.295),
        ),
        ("holding", 26, "f64", "CDAB", "", "f64_cdab", json!(-273.15)),
        ("holding", 30, "f64", "BADC", "", "f64_badc", json!(1.9e6)),
        ("holding", 34, "f64", "DCBA", "", "f64_dcba", json!(0.1)),
        (
            "holding",
            38,
            "string",
            "",
            "length = 4",
            "name",
            json!("JC-01"),
        ),
        (
            "holding",
            42,
            "u16",
            "",
            "scale = 0.01",
            "u16_scaled",
            json!(2915.0 * 0.01),
        ),
        (
            "holding",
            43,
            "i16",
            "",
            "scale = 0.1\noffset = 10.0",
            "i16_scaled",
            json!(-250.0 * 0.1 + 10.0),
        ),
        (
            "holding",
            44,
            "u32",
            "ABCD",
            "scale = 0.001",
            "u32_scaled",
            json!(123456789.0 * 0.001),
        ),
        (
            "holding",
            46,
            "bool",
            "",
            "bit = 0",
            "status_b0",
            json!(true),
        ),
        (
            "holding",
            46,
            "bool",
            "",
            "bit = 1",
            "status_b1",
            json!(false),
        ),
        (
            "holding",
            46,
            "bool",
            "",
            "bit = 13",
            "status_b13",
            json!(true),
        ),
        (
            "holding",
            46,
            "bool",
            "",
            "bit = 15",
            "status_b15",
            json!(true),
        ),
        (
            "holding",
            48,
            "u32",
            "CDAB",
            "",
            "u32_cdab",
            json!(4000000001u64),
        ),
        ("holding", 50, "i32", "BADC", "", "i32_badc", json!(-2)),
        ("holding", 52, "u32", "DCBA", "", "u32_dcba", json!(65536)),
        ("holding", 54, "i64", "ABCD", "", "i64_abcd", json!(-1)),
        (
            "holding",
            58,
            "u64",
            "CDAB",
            "",
            "u64_cdab",
            json!(1u64 << 40),
        ),
        (
            "holding",
            62,
            "i32",
            "DCBA",
            "",
            "i32_dcba",
            json!(2147483647),
        ),
        ("input", 0, "u16", "", "", "in_u16", json!(777)),
        ("input", 1, "f32", "CDAB", "", "in_f32_cdab", json!(28.5)),
        ("input", 100, "i16", "", "", "in_i16_far", json!(-32768)),
        (
            "input",
            10,
            "string",
            "BADC",
            "length = 3",
            "in_name_badc",
            json!("JC-02"),
        ),
        ("coil", 0, "bool", "", "", "coil0", json!(true)),
        ("coil", 1, "bool", "", "", "coil1", json!(false)),
        ("coil", 2, "bool", "", "", "coil2", json!(true)),
        ("discrete", 0, "bool", "", "", "di0", json!(false)),
        ("discrete", 1, "bool", "", "", "di1", json!(true)),
        ("discrete", 5, "bool", "", "", "di5", json!(true)),
    ]
}

fn config(plc_port: u16, influx_url: &str, spool: &std::path::Path) -> String {
    let mut s = format!(
        r#"
[site]
name = "testsite"
timezone = "America/Lima"

[influxdb]
url = "{influx_url}"
api = "v1"
database = "plant"
flush_interval_ms = 200
gzip = true

[spool]
dir = "{}"

[http]
listen = ""

[[plc]]
name = "fixture"
area = "lab"
address = "127.0.0.1:{plc_port}"
scan_ms = {SCAN_MS}
timeout_ms = 1000
"#,
        spool.display()
    );
    s.push_str(&tag_tables("fixture_dev"));
    s
}

/// The `[[plc.tag]]` tables of [`tags`], all of equipment `equipment`.
pub(crate) fn tag_tables(equipment: &str) -> String {
    let mut s = String::new();
    for (table, address, ty, order, extra, field, _) in tags() {
        s.push_str(&format!(
            "\n[[plc.tag]]\nname = \"{field}\"\nequipment = \"{equipment}\"\ntable = \"{table}\"\naddress = {address}\ntype = \"{ty}\"\n"
        ));
        if !order.is_empty() {
            s.push_str(&format!("order = \"{order}\"\n"));
        }
        if !extra.is_empty() {
            s.push_str(extra);
            s.push('\n');
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_and_byte_order_lands_in_influxdb_exactly() {
    let plc = PymodbusPlc::start();
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    std::fs::write(
        &path,
        config(plc.port, &influx.url, &dir.path().join("spool")),
    )
    .unwrap();
    let settings = plantgw::config::load(&path).unwrap();
    let query =
        crate::common::influx::plant_database(settings.influx.as_ref().expect("[influxdb]")).await;

    let started_ms = jiff::Timestamp::now().as_millisecond();
    let cancel = CancellationToken::new();
    let gw = app::start(
        settings,
        plantsim::clock::PlantClock::wall(),
        cancel.clone(),
        RunOptions::default(),
    )
    .await
    .unwrap();

    // All fields of one equipment share a line, so one query reads them all.
    let series = crate::common::eventually(
        Duration::from_secs(20),
        "fixture values in InfluxDB",
        || async {
            let s = query
            .query(r#"SELECT * FROM "fixture_dev" WHERE "plc"='fixture' ORDER BY time ASC LIMIT 1"#)
            .await
            .ok()?;
            s.into_iter().next().filter(|s| !s.values.is_empty())
        },
    )
    .await;
    let first_ts = series.values[0][0].as_i64().unwrap();
    // The first row comes from the first or second scan after start (the
    // first scan is aligned to the next multiple of scan_ms).
    assert!(
        first_ts - started_ms <= 2 * SCAN_MS + 50,
        "first sample at +{} ms, later than two scans",
        first_ts - started_ms
    );
    let mut mismatches = Vec::new();
    for (table, address, _, _, _, field, expected) in tags() {
        let idx = series
            .column(field)
            .unwrap_or_else(|| panic!("field {field} missing; columns {:?}", series.columns));
        let got = &series.values[0][idx];
        // InfluxDB prints a whole float without ".0"; types are checked below.
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
        "values differ:\n{}",
        mismatches.join("\n")
    );
    // Field types per DESIGN §5: floats and scaled values float, unscaled
    // integers integer, bools boolean.
    let keys = query
        .query(r#"SHOW FIELD KEYS FROM "fixture_dev""#)
        .await
        .unwrap();
    let types: std::collections::HashMap<String, String> = keys[0]
        .values
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (_, _, ty, _, extra, field, expected) in tags() {
        let want = match (ty, expected) {
            ("bool", _) => "boolean",
            ("string", _) => "string",
            (_, e) if e.is_f64() || extra.contains("scale") => "float",
            _ => "integer",
        };
        assert_eq!(
            types.get(field).map(String::as_str),
            Some(want),
            "field type of {field}"
        );
    }
    for tag in ["site", "area", "plc"] {
        assert!(series.column(tag).is_some(), "tag key {tag} missing");
    }

    // Quality and status series per DESIGN §5.
    let q = query
        .query(r#"SELECT "code" FROM "tag_quality" WHERE "plc"='fixture' AND "equipment"='fixture_dev' AND "tag"='f64_dcba'"#)
        .await
        .unwrap();
    assert_eq!(q[0].values[0][1], json!("good"));
    let st = crate::common::eventually(Duration::from_secs(10), "plc_status", || async {
        let s = query
            .query(r#"SELECT "connected","requests","errors","timeouts","scan_ms" FROM "plc_status" WHERE "plc"='fixture' ORDER BY time DESC LIMIT 1"#)
            .await
            .ok()?;
        s.into_iter().next()
    })
    .await;
    assert_eq!(st.values[0][1], json!(true));
    // holding 0..63 (one request: gaps ≤ 16), input 0..2 and 100 (two), coils, discrete.
    assert_eq!(st.values[0][2], json!(5), "requests per scan");
    assert_eq!(st.values[0][3], json!(0));

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), gw.wait())
        .await
        .unwrap()
        .unwrap();
}

/// A register range the PLC refuses (exception 2) marks only its own tags
/// `exception_2`; every other request of the PLC keeps delivering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_range_is_isolated_with_its_own_quality_code() {
    let plc = PymodbusPlc::start();
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    let mut text = config(plc.port, &influx.url, &dir.path().join("spool"));
    // Far past the fixture's 70 holding registers: its own request, refused.
    text.push_str("\n[[plc.tag]]\nname = \"missing\"\nequipment = \"fixture_dev\"\ntable = \"holding\"\naddress = 500\ntype = \"u16\"\n");
    std::fs::write(&path, text).unwrap();
    let settings = plantgw::config::load(&path).unwrap();
    let query =
        crate::common::influx::plant_database(settings.influx.as_ref().expect("[influxdb]")).await;
    let cancel = CancellationToken::new();
    let gw = app::start(
        settings,
        plantsim::clock::PlantClock::wall(),
        cancel.clone(),
        RunOptions::default(),
    )
    .await
    .unwrap();
    let code = crate::common::eventually(
        Duration::from_secs(20),
        "quality of the refused tag",
        || async {
            let s = query
                .query(r#"SELECT last("code") FROM "tag_quality" WHERE "tag"='missing'"#)
                .await
                .ok()?;
            s.into_iter().next().map(|s| s.values[0][1].clone())
        },
    )
    .await;
    assert_eq!(code, json!("exception_2"));
    // The other requests of the same PLC keep delivering good values.
    let rows = crate::common::eventually(Duration::from_secs(10), "several scans", || async {
        let s = query
            .query(r#"SELECT count("u16"), count("missing") FROM "fixture_dev""#)
            .await
            .ok()?;
        let s = s.into_iter().next()?;
        (s.values[0][1].as_i64()? >= 3).then_some(s)
    })
    .await;
    // The field was never written: InfluxDB counts it as null (no such field).
    assert!(
        rows.values[0][2].is_null() || rows.values[0][2] == json!(0),
        "a refused tag must never get a value: {:?}",
        rows.values[0]
    );
    let good = query
        .query(r#"SELECT last("code") FROM "tag_quality" WHERE "tag"='f64_dcba'"#)
        .await
        .unwrap();
    assert_eq!(good[0].values[0][1], json!("good"));
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), gw.wait())
        .await
        .unwrap()
        .unwrap();
}
