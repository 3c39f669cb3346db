use super::*;
use crate::config::{ByteOrder, DataType, Table, TagExtras};
use crate::sample::ScanStatus;
use crate::sink::influxdb::encoder::{encode_point, FieldValue, Point};
use influxdb_line_protocol::parse_lines;
use proptest::prelude::*;
use std::time::Duration;

fn tag(
    plc: &str,
    equipment: &str,
    name: &str,
    deadband: Option<f64>,
    max_interval_ms: Option<u64>,
) -> Tag {
    Tag {
        id: Arc::new(TagId::new(plc, plc, equipment, name)),
        table: Table::Holding,
        address: 0,
        data_type: DataType::F32,
        order: ByteOrder::ABCD,
        bit: None,
        count: 2,
        scale: 1.0,
        offset: 0.0,
        extras: None,
        scan_every: 1,
    }
    .with_extras(TagExtras {
        deadband,
        max_interval: max_interval_ms.map(Duration::from_millis),
        ..Default::default()
    })
}

fn plc(name: &str, tags: Vec<Tag>) -> Plc {
    Plc {
        name: name.into(),
        area: name.into(),
        address: "127.0.0.1:502".into(),
        unit_id: 1,
        scan: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        max_gap: 0,
        tags,
        link: Default::default(),
    }
}

fn scan(p: &Plc, ts_ms: i64, values: Vec<(Option<Value>, Quality)>) -> Scan {
    Scan {
        plc: p.name.clone(),
        area: p.area.clone(),
        ts_ms,
        readings: p
            .tags
            .iter()
            .zip(values)
            .map(|(t, (value, quality))| Reading {
                tag: t.id.clone(),
                value,
                quality,
            })
            .collect(),
        status: ScanStatus {
            connected: true,
            duration: Duration::from_micros(12_500),
            requests: 3,
            errors: 0,
            timeouts: 0,
        },
    }
}

fn good(v: Value) -> (Option<Value>, Quality) {
    (Some(v), Quality::Good)
}

fn encode(e: &mut ScanEncoder, s: &Scan) -> (usize, String) {
    let mut out = Vec::new();
    let n = e.encode(s, &mut out);
    (n, String::from_utf8(out).unwrap())
}

fn grinding() -> Plc {
    plc(
        "grinding",
        vec![
            tag("grinding", "ball_mill", "power_kw", None, None),
            tag("grinding", "mill_feed_belt", "total_t", None, None),
            tag("grinding", "ball_mill", "running", None, None),
            tag("grinding", "ball_mill", "starts", None, None),
            tag("grinding", "ball_mill", "mode", None, None),
        ],
    )
}

#[test]
fn golden_first_scan() {
    let p = grinding();
    let mut e = ScanEncoder::new("caylloma", std::slice::from_ref(&p));
    let s = scan(
        &p,
        1_700_000_000_000,
        vec![
            good(Value::Float(412.5)),
            good(Value::Float(1234.567)),
            good(Value::Bool(true)),
            good(Value::Int(7)),
            good(Value::text("auto \"remote\"")),
        ],
    );
    let (n, text) = encode(&mut e, &s);
    let q = |eq: &str, t: &str| {
        format!("tag_quality,equipment={eq},plc=grinding,site=caylloma,tag={t} code=\"good\" 1700000000000\n")
    };
    let want = [
        q("ball_mill", "power_kw"),
        q("mill_feed_belt", "total_t"),
        q("ball_mill", "running"),
        q("ball_mill", "starts"),
        q("ball_mill", "mode"),
        "ball_mill,area=grinding,plc=grinding,site=caylloma \
         mode=\"auto \\\"remote\\\"\",power_kw=412.5,running=true,starts=7i 1700000000000\n"
            .into(),
        "mill_feed_belt,area=grinding,plc=grinding,site=caylloma total_t=1234.567 1700000000000\n"
            .into(),
        "plc_status,plc=grinding,site=caylloma \
         connected=true,errors=0i,requests=3i,scan_ms=12.5,timeouts=0i 1700000000000\n"
            .into(),
    ]
    .concat();
    assert_eq!(text, want);
    assert_eq!(n, 8);

    // Second scan: no quality change, values only.
    let (n, text) = encode(&mut e, &s);
    assert_eq!(n, 3);
    assert!(!text.contains("tag_quality"));
}

#[test]
fn bad_quality_writes_no_value_and_one_quality_line_per_change() {
    let p = plc(
        "flotation",
        vec![tag("flotation", "cell", "level_mm", None, None)],
    );
    let mut e = ScanEncoder::new("s", std::slice::from_ref(&p));
    let ok = scan(&p, 1000, vec![good(Value::Float(120.0))]);
    let bad = scan(&p, 2000, vec![(None, Quality::Exception(2))]);
    let timeout = scan(&p, 3000, vec![(None, Quality::Timeout)]);
    encode(&mut e, &ok);
    let (n, text) = encode(&mut e, &bad);
    assert_eq!(
        text,
        "tag_quality,equipment=cell,plc=flotation,site=s,tag=level_mm code=\"exception_2\" 2000\n\
         plc_status,plc=flotation,site=s connected=true,errors=0i,requests=3i,scan_ms=12.5,timeouts=0i 2000\n"
    );
    assert_eq!(n, 2);
    let (n, _) = encode(&mut e, &bad);
    assert_eq!(n, 1, "no change, only plc_status");
    let (_, text) = encode(&mut e, &timeout);
    assert!(text.contains("code=\"timeout\" 3000"));
    let (_, text) = encode(&mut e, &ok);
    assert!(text.contains("code=\"good\" 1000"));
    assert!(text.contains("cell,area=flotation,plc=flotation,site=s level_mm=120 1000"));
}

#[test]
fn non_finite_good_value_is_out_of_range() {
    let p = plc("g", vec![tag("g", "e", "v", None, None)]);
    let mut e = ScanEncoder::new("s", std::slice::from_ref(&p));
    let (_, text) = encode(&mut e, &scan(&p, 5, vec![good(Value::Float(f64::NAN))]));
    assert!(text.contains("code=\"out_of_range\""), "{text}");
    assert!(!text.contains("NaN") && !text.contains("nan"));
}

#[test]
fn deadband_heartbeat_and_reset_after_bad_quality() {
    let p = plc(
        "g",
        vec![
            tag("g", "belt", "rate", Some(0.5), Some(10_000)),
            tag("g", "belt", "always", None, None),
        ],
    );
    let mut e = ScanEncoder::new("s", std::slice::from_ref(&p));
    let mut written = |ts: i64, v: f64, q: Quality| {
        let value = q.is_good().then_some(Value::Float(v));
        let (_, text) = encode(&mut e, &scan(&p, ts, vec![(value, q), good(Value::Int(1))]));
        text.contains(&format!("rate={v}"))
    };
    assert!(written(0, 30.0, Quality::Good), "first value");
    assert!(!written(1000, 30.4, Quality::Good), "within deadband");
    assert!(
        !written(2000, 30.5, Quality::Good),
        "exactly deadband is not more than d"
    );
    assert!(
        written(3000, 30.6, Quality::Good),
        "beyond deadband of last written"
    );
    assert!(
        !written(4000, 30.2, Quality::Good),
        "compared with 30.6, not 30.5"
    );
    assert!(!written(12_999, 30.6, Quality::Good));
    assert!(
        written(13_000, 30.6, Quality::Good),
        "heartbeat after max_interval"
    );
    assert!(!written(14_000, 30.6, Quality::Good));
    assert!(!written(15_000, 0.0, Quality::CommFailure));
    assert!(
        written(16_000, 30.6, Quality::Good),
        "first good value after bad quality"
    );
    assert!(written(1_000, 30.6, Quality::Good), "clock went backwards");
}

#[test]
fn unknown_and_cloned_tag_ids_are_handled() {
    let p = plc("g", vec![tag("g", "e", "v", Some(100.0), None)]);
    let mut e = ScanEncoder::new("s", std::slice::from_ref(&p));
    // A TagId equal in value but a different allocation keeps its deadband.
    let cloned = Arc::new((*p.tags[0].id).clone());
    let stranger = Arc::new(TagId::new("g", "g", "other", "x"));
    let mk = |ts, v| Scan {
        plc: "g".into(),
        area: "g".into(),
        ts_ms: ts,
        readings: vec![
            Reading {
                tag: cloned.clone(),
                value: Some(Value::Float(v)),
                quality: Quality::Good,
            },
            Reading {
                tag: stranger.clone(),
                value: Some(Value::Int(v as i64)),
                quality: Quality::Good,
            },
        ],
        status: ScanStatus::default(),
    };
    let (_, t1) = encode(&mut e, &mk(1, 1.0));
    let (_, t2) = encode(&mut e, &mk(2, 2.0));
    assert!(t1.contains("e,area=g,plc=g,site=s v=1 1"));
    assert!(!t2.contains("v=2"), "deadband applies to the cloned id");
    assert!(
        t2.contains("other,area=g,plc=g,site=s x=2i 2"),
        "unknown tag written every scan"
    );
}

#[test]
fn unwritable_names_are_skipped_not_fatal() {
    let p = plc(
        "g",
        vec![
            tag("g", "#bad", "v", None, None),
            tag("g", "ok", "time", None, None),
        ],
    );
    let mut e = ScanEncoder::new("s", std::slice::from_ref(&p));
    let (n, text) = encode(
        &mut e,
        &scan(&p, 1, vec![good(Value::Int(1)), good(Value::Int(2))]),
    );
    assert_eq!(n, 1);
    assert!(text.starts_with("plc_status"));

    let p = plc("bad\\", vec![tag("bad\\", "e", "v", None, None)]);
    let mut e = ScanEncoder::new("s", std::slice::from_ref(&p));
    let (n, text) = encode(&mut e, &scan(&p, 1, vec![good(Value::Int(1))]));
    assert_eq!((n, text.as_str()), (0, ""));
}

#[test]
fn escapes_names_once_like_the_builder() {
    let p = plc("pl c", vec![tag("pl c", "mill, 1", "a=b", None, None)]);
    let mut e = ScanEncoder::new("cay lloma", std::slice::from_ref(&p));
    let (_, text) = encode(&mut e, &scan(&p, 9, vec![good(Value::Float(1.5))]));
    assert!(
        text.contains("mill\\,\\ 1,area=pl\\ c,plc=pl\\ c,site=cay\\ lloma a\\=b=1.5 9\n"),
        "{text}"
    );
}

// ---- the hot path and encode_point agree, and everything parses ----

fn arb_value() -> impl Strategy<Value = (Option<Value>, Quality)> {
    prop_oneof![
        4 => any::<f64>().prop_map(|x| (Some(Value::Float(x)), Quality::Good)),
        2 => any::<i64>().prop_map(|x| (Some(Value::Int(x)), Quality::Good)),
        1 => any::<bool>().prop_map(|x| (Some(Value::Bool(x)), Quality::Good)),
        1 => "[ -~\n]{0,8}".prop_map(|x| (Some(Value::text(x)), Quality::Good)),
        1 => Just((None, Quality::CommFailure)),
        1 => any::<u8>().prop_map(|n| (None, Quality::Exception(n))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn scan_lines_parse_and_match_encode_point(
        names in prop::collection::vec(("[a-c ,=\\\\\"]{0,3}[a-c]", "[a-z ,=]{1,5}"), 1..8),
        scans in prop::collection::vec(prop::collection::vec(arb_value(), 8), 1..4),
    ) {
        let tags: Vec<Tag> = names.iter().map(|(eq, n)| tag("p l", eq, n, None, None)).collect();
        // Duplicate (equipment, name) pairs are refused by config validation.
        let mut seen = std::collections::HashSet::new();
        let tags: Vec<Tag> = tags
            .into_iter()
            .filter(|t| t.id.name.as_ref() != "time" && seen.insert(t.id.path()))
            .collect();
        let p = plc("p l", tags);
        let mut e = ScanEncoder::new("site,x", std::slice::from_ref(&p));
        for (k, values) in scans.into_iter().enumerate() {
            let s = scan(&p, 1000 * k as i64, values);
            let mut out = Vec::new();
            let n = e.encode(&s, &mut out);
            let text = String::from_utf8(out).unwrap();
            let parsed: Vec<_> = parse_lines(&text).collect();
            prop_assert_eq!(parsed.len(), n);
            for l in &parsed {
                let l = l.as_ref().map_err(|err| TestCaseError::fail(format!("{err}: {text:?}")))?;
                for (_, v) in l.field_set.iter() {
                    if let influxdb_line_protocol::FieldValue::F64(x) = v {
                        prop_assert!(x.is_finite());
                    }
                }
            }
            // Rebuild each equipment line with encode_point: same bytes.
            let mut by_eq: std::collections::BTreeMap<&str, Vec<(String, FieldValue)>> = Default::default();
            for r in &s.readings {
                let v = match &r.value {
                    Some(Value::Float(x)) if x.is_finite() => FieldValue::Float(*x),
                    Some(Value::Int(i)) => FieldValue::Int(*i),
                    Some(Value::Bool(b)) => FieldValue::Bool(*b),
                    Some(Value::Text(t)) => FieldValue::Str(t.to_string()),
                    _ => continue,
                };
                by_eq.entry(&r.tag.equipment).or_default().push((r.tag.name.to_string(), v));
            }
            for (eq, fields) in by_eq {
                let mut want = Vec::new();
                encode_point(&Point {
                    measurement: eq.to_string(),
                    tags: vec![("site".into(), "site,x".into()), ("plc".into(), "p l".into()), ("area".into(), "p l".into())],
                    fields,
                    ts_ms: s.ts_ms,
                }, &mut want).unwrap();
                let want = String::from_utf8(want).unwrap();
                prop_assert!(text.contains(&want), "missing {want:?} in {text:?}");
            }
        }
    }
}

#[test]
fn per_tag_state_stays_at_32_bytes() {
    // One per configured tag: 3.2 MB at 100 000 tags.
    assert_eq!(std::mem::size_of::<TagState>(), 32);
}
