//! The v1 write API and InfluxQL against a real InfluxDB 1.x (`influxd`).
use plantgw::sample::Value;
use plantgw::sink::influxdb::{
    deliver_with, encode_point, Delivery, FieldValue, InfluxClient, LineWriter as _, Point,
    QueryClient, QueryError, ScanEncoder, Series, WriteOutcome,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{fast_policy, grinding, scan};
use crate::common::influx::{v1_settings, InfluxD};

const T0: i64 = 1_700_000_000_000;

/// A query client and a writer on `influx`'s `plant` database, created.
async fn plant_clients(influx: &InfluxD) -> (QueryClient, InfluxClient) {
    let s = v1_settings(&influx.url, "plant", None);
    let q = crate::common::influx::plant_database(&s).await;
    (q, InfluxClient::new(&s).unwrap())
}

fn one(series: Vec<Series>, what: &str) -> Series {
    assert_eq!(series.len(), 1, "{what}: {series:?}");
    series.into_iter().next().unwrap()
}

#[tokio::test]
async fn scans_and_points_round_trip_with_exact_values_and_types() {
    let influx = InfluxD::start();
    let (q, client) = plant_clients(&influx).await;

    let p = grinding();
    let mut enc = ScanEncoder::new("caylloma", std::slice::from_ref(&p));
    let mut body = Vec::new();
    let mut n = enc.encode(
        &scan(
            &p,
            T0,
            vec![
                Some(Value::Float(412.5)),
                Some(Value::Bool(true)),
                Some(Value::Int(7)),
                Some(Value::text("auto \"remote\", x=1 \\ end")),
                Some(Value::Float(31.25)),
            ],
        ),
        &mut body,
    );
    n += enc.encode(
        &scan(
            &p,
            T0 + 1000,
            vec![
                Some(Value::Float(-0.001)),
                Some(Value::Bool(false)),
                Some(Value::Int(i64::MAX)),
                None,
                Some(Value::Float(1e300)),
            ],
        ),
        &mut body,
    );
    let kpi = Point {
        measurement: "kpi".into(),
        tags: vec![
            ("site".into(), "caylloma".into()),
            ("day".into(), "2023-11-14".into()),
        ],
        fields: vec![
            ("ore_dry_t".into(), FieldValue::Float(654.321)),
            ("ag_recovery_pct".into(), FieldValue::Float(f64::NAN)),
            ("scans".into(), FieldValue::Int(-42)),
        ],
        ts_ms: T0,
    };
    encode_point(&kpi, &mut body).unwrap();
    n += 1;

    let d = deliver_with(&client, &body, &CancellationToken::new(), &fast_policy()).await;
    assert_eq!(
        d,
        Delivery::Delivered {
            lines: n,
            requests: 1
        },
        "{}",
        influx.log_tail()
    );

    let mill = one(
        q.query("SELECT * FROM ball_mill").await.unwrap(),
        "ball_mill",
    );
    assert_eq!(
        mill.column_values("time"),
        vec![json!(T0), json!(T0 + 1000)]
    );
    assert_eq!(
        mill.column_values("power_kw"),
        vec![json!(412.5), json!(-0.001)]
    );
    assert_eq!(
        mill.column_values("running"),
        vec![json!(true), json!(false)]
    );
    assert_eq!(
        mill.column_values("starts"),
        vec![json!(7), json!(i64::MAX)]
    );
    assert_eq!(
        mill.column_values("mode"),
        vec![
            json!("auto \"remote\", x=1 \\ end"),
            serde_json::Value::Null
        ]
    );
    for tag in ["area", "plc"] {
        assert_eq!(
            mill.column_values(tag),
            vec![json!("grinding"), json!("grinding")]
        );
    }
    assert_eq!(
        mill.column_values("site"),
        vec![json!("caylloma"), json!("caylloma")]
    );

    let types = one(
        q.query("SHOW FIELD KEYS FROM ball_mill").await.unwrap(),
        "field keys",
    );
    assert_eq!(
        types.values,
        vec![
            vec![json!("mode"), json!("string")],
            vec![json!("power_kw"), json!("float")],
            vec![json!("running"), json!("boolean")],
            vec![json!("starts"), json!("integer")],
        ]
    );

    let belt = one(
        q.query("SELECT feed_rate_tph FROM mill_feed_belt")
            .await
            .unwrap(),
        "belt",
    );
    assert_eq!(
        belt.column_values("feed_rate_tph"),
        vec![json!(31.25), json!(1e300)]
    );

    let quality = one(
        q.query("SELECT code FROM tag_quality WHERE \"tag\" = 'mode'")
            .await
            .unwrap(),
        "quality",
    );
    assert_eq!(
        quality.column_values("code"),
        vec![json!("good"), json!("timeout")]
    );
    assert_eq!(
        quality.column_values("time"),
        vec![json!(T0), json!(T0 + 1000)]
    );

    let status = one(
        q.query("SELECT * FROM plc_status").await.unwrap(),
        "plc_status",
    );
    assert_eq!(
        status.column_values("connected"),
        vec![json!(true), json!(true)]
    );
    assert_eq!(
        status.column_values("scan_ms"),
        vec![json!(42), json!(42)],
        "InfluxDB prints whole floats without a decimal point"
    );
    assert_eq!(status.column_values("requests"), vec![json!(2), json!(2)]);
    assert_eq!(status.column_values("timeouts"), vec![json!(0), json!(0)]);

    let k = one(q.query("SELECT * FROM kpi").await.unwrap(), "kpi");
    assert_eq!(k.column_values("ore_dry_t"), vec![json!(654.321)]);
    assert_eq!(k.column_values("scans"), vec![json!(-42)]);
    assert_eq!(k.column_values("day"), vec![json!("2023-11-14")]);
    assert!(k.column("ag_recovery_pct").is_none(), "NaN never sent");
}

#[tokio::test]
async fn a_type_conflict_drops_only_the_conflicting_line() {
    let influx = InfluxD::start();
    let (q, client) = plant_clients(&influx).await;
    let cancel = CancellationToken::new();

    let first = format!("ball_mill,plc=g power_kw=400.5 {T0}\n");
    assert!(matches!(
        deliver_with(&client, first.as_bytes(), &cancel, &fast_policy()).await,
        Delivery::Delivered { lines: 1, .. }
    ));

    let mut lines: Vec<String> = (1..=9)
        .map(|i| format!("ball_mill,plc=g power_kw={i}.25 {}", T0 + i))
        .collect();
    let bad = format!("ball_mill,plc=g power_kw=\"not a number\" {}", T0 + 100);
    lines.insert(6, bad.clone());
    let d = deliver_with(
        &client,
        lines.join("\n").as_bytes(),
        &cancel,
        &fast_policy(),
    )
    .await;
    let Delivery::Dropped {
        lines: dropped,
        delivered,
        status,
        first_bad_line,
        message,
        ..
    } = d
    else {
        panic!("{d:?}")
    };
    assert_eq!((dropped, delivered, status), (1, 9, 400));
    assert_eq!(first_bad_line, bad);
    assert!(message.contains("field type conflict"), "{message}");

    let count = one(
        q.query("SELECT count(power_kw) FROM ball_mill")
            .await
            .unwrap(),
        "count",
    );
    assert_eq!(count.column_values("count"), vec![json!(10)]);
}

/// A tag given a `scale` turns its integer field into a float one, which
/// InfluxDB refuses: only that field may be lost, never the equipment.
#[tokio::test]
async fn a_field_whose_type_changed_is_left_out_and_the_equipment_still_written() {
    let influx = InfluxD::start();
    let (q, client) = plant_clients(&influx).await;
    let cancel = CancellationToken::new();
    let p = grinding();

    let mut body = Vec::new();
    let n = ScanEncoder::new("caylloma", std::slice::from_ref(&p)).encode(
        &scan(
            &p,
            T0,
            vec![
                Some(Value::Float(412.5)),
                Some(Value::Bool(true)),
                Some(Value::Int(7)),
                Some(Value::text("auto")),
                Some(Value::Float(31.25)),
            ],
        ),
        &mut body,
    );
    let d = deliver_with(&client, &body, &cancel, &fast_policy()).await;
    assert!(
        matches!(d, Delivery::Delivered { lines, .. } if lines == n),
        "{d:?}"
    );

    // Restarted with `scale = 0.1` on `starts`: it is a float from now on.
    let mut enc = ScanEncoder::new("caylloma", std::slice::from_ref(&p));
    let mut body = Vec::new();
    let mut n = 0;
    for (i, power) in [(1, 400.5), (2, 399.25)] {
        n += enc.encode(
            &scan(
                &p,
                T0 + i * 1000,
                vec![
                    Some(Value::Float(power)),
                    Some(Value::Bool(false)),
                    Some(Value::Float(0.7 * i as f64)),
                    Some(Value::text("manual")),
                    Some(Value::Float(30.0)),
                ],
            ),
            &mut body,
        );
    }
    let d = deliver_with(&client, &body, &cancel, &fast_policy()).await;
    assert!(
        matches!(d, Delivery::Delivered { lines, .. } if lines == n),
        "every line delivered, without the one field: {d:?}\n{}",
        influx.log_tail()
    );
    assert_eq!(
        client.conflicts().list(),
        vec![("ball_mill".into(), "starts".into(), "float".into())]
    );

    let mill = one(
        q.query("SELECT power_kw, running, starts, \"mode\" FROM ball_mill")
            .await
            .unwrap(),
        "ball_mill",
    );
    assert_eq!(
        mill.column_values("power_kw"),
        vec![json!(412.5), json!(400.5), json!(399.25)]
    );
    assert_eq!(
        mill.column_values("mode"),
        vec![json!("auto"), json!("manual"), json!("manual")]
    );
    assert_eq!(
        mill.column_values("starts"),
        vec![json!(7), serde_json::Value::Null, serde_json::Value::Null]
    );
}

#[tokio::test]
async fn missing_database_keeps_data_and_query_errors_carry_the_server_message() {
    let influx = InfluxD::start();
    let s = v1_settings(&influx.url, "absent", None);
    let client = InfluxClient::new(&s).unwrap();
    let o = client.write_once(b"m v=1 1").await;
    assert!(
        matches!(&o, WriteOutcome::Unauthorized { status: 404, message } if message.contains("database not found")),
        "{o:?}"
    );

    let q = QueryClient::new(&s).unwrap();
    let e = q.query("SELECT * FROM m").await.unwrap_err();
    assert!(
        matches!(&e, QueryError::Statement(m) if m.contains("database not found: absent")),
        "{e}"
    );
    let e = q.query("SELEKT nonsense").await.unwrap_err();
    assert!(
        matches!(&e, QueryError::Status { status: 400, message } if message.contains("error parsing query")),
        "{e}"
    );
}

/// `plantgw check` compares the configured field types with InfluxDB's
/// `SHOW FIELD KEYS` and explains a conflict; an unreachable InfluxDB is a
/// note, not an error.
#[tokio::test]
async fn check_names_a_field_whose_stored_type_differs() {
    let influx = InfluxD::start();
    let (_, client) = plant_clients(&influx).await;
    // Written as floats before: `u16` is an unscaled integer tag now.
    let d = deliver_with(
        &client,
        format!("fixture_dev u16=1.5,f32=2.5 {T0}\n").as_bytes(),
        &CancellationToken::new(),
        &fast_policy(),
    )
    .await;
    assert!(matches!(d, Delivery::Delivered { lines: 1, .. }), "{d:?}");

    let dir = tempfile::tempdir().unwrap();
    let check = |url: &str| {
        let toml = crate::reliability::GatewayToml {
            influx_url: url,
            spool_dir: &dir.path().join("spool"),
            spool_max_bytes: None,
            flush_interval_ms: 1000,
            http_listen: String::new(),
            plcs: vec![crate::reliability::PlcToml {
                name: "fixture".into(),
                address: "127.0.0.1:1502".into(),
                scan_ms: 1000,
                timeout_ms: 1000,
                tags: crate::reliability::pymodbus_tags("fixture_dev"),
            }],
        }
        .render();
        let path = dir.path().join("gw.toml");
        std::fs::write(&path, toml).unwrap();
        crate::common::plantgw_check(false, &path)
    };

    // Blocking is fine here: nothing else runs on this test's runtime.
    let text = check(&influx.url);
    let conflicts: Vec<&str> = text.lines().filter(|l| l.contains("conflict:")).collect();
    assert_eq!(conflicts.len(), 1, "{text}");
    for part in [
        "field \"u16\" of measurement \"fixture_dev\"",
        "configured as integer but InfluxDB holds it as float",
        "rename the tag",
        "new measurement",
    ] {
        assert!(conflicts[0].contains(part), "{part:?} missing in:\n{text}");
    }

    let nobody = format!("http://127.0.0.1:{}", crate::common::free_port());
    let text = check(&nobody);
    assert!(
        text.contains("field types not checked") && text.contains("did not answer"),
        "{text}"
    );
    assert!(!text.contains("conflict:"), "{text}");
}
