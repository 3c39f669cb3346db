use super::*;
use influxdb_line_protocol::builder::LineProtocolBuilder;
use influxdb_line_protocol::{parse_lines, FieldValue as PV};
use proptest::prelude::*;

fn point(m: &str, tags: &[(&str, &str)], fields: Vec<(&str, FieldValue)>) -> Point {
    Point {
        measurement: m.into(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        fields: fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        ts_ms: 1_700_000_000_123,
    }
}

fn enc(p: &Point) -> Result<String, LineError> {
    let mut out = Vec::new();
    encode_point(p, &mut out).map(|_| String::from_utf8(out).unwrap())
}

#[test]
fn golden_basic_types_sorted() {
    let p = point(
        "ball_mill",
        &[
            ("site", "caylloma"),
            ("plc", "grinding"),
            ("area", "grinding"),
        ],
        vec![
            ("running", FieldValue::Bool(true)),
            ("power_kw", FieldValue::Float(412.5)),
            ("starts", FieldValue::Int(-3)),
            ("mode", FieldValue::Str("auto".into())),
            ("whole", FieldValue::Float(42.0)),
        ],
    );
    assert_eq!(
        enc(&p).unwrap(),
        "ball_mill,area=grinding,plc=grinding,site=caylloma \
         mode=\"auto\",power_kw=412.5,running=true,starts=-3i,whole=42 1700000000123\n"
    );
}

#[test]
fn golden_escaping() {
    let p = point(
        "mill, no 1=x",
        &[("tag key", "a,b=c d"), ("eq=k", "back\\slash")],
        vec![
            ("field, key=1", FieldValue::Str(r#"say "hi" \ bye"#.into())),
            ("x", FieldValue::Int(1)),
        ],
    );
    let want = r#"mill\,\ no\ 1=x,eq\=k=back\\slash,tag\ key=a\,b\=c\ d field\,\ key\=1="say \"hi\" \\ bye",x=1i 1700000000123"#;
    assert_eq!(enc(&p).unwrap(), format!("{want}\n"));
}

#[test]
fn golden_line_breaks_in_string_values_become_spaces() {
    let p = point("m", &[], vec![("s", FieldValue::Str("a\nb\r\nc".into()))]);
    assert_eq!(enc(&p).unwrap(), "m s=\"a b  c\" 1700000000123\n");
}

#[test]
fn empty_tag_values_are_omitted_and_non_finite_dropped() {
    let p = point(
        "m",
        &[("site", ""), ("plc", "p")],
        vec![
            ("nan", FieldValue::Float(f64::NAN)),
            ("inf", FieldValue::Float(f64::INFINITY)),
            ("ok", FieldValue::Float(-0.25)),
        ],
    );
    assert_eq!(enc(&p).unwrap(), "m,plc=p ok=-0.25 1700000000123\n");
}

#[test]
fn rejects_and_appends_nothing() {
    let one = || vec![("v", FieldValue::Int(1))];
    let cases = [
        (point("", &[], one()), "empty"),
        (point("#hash", &[], one()), "comment"),
        (point("a\nb", &[], one()), "line break"),
        (point("m", &[("", "x")], one()), "tag key is empty"),
        (point("m", &[("t", "x\ny")], one()), "line break"),
        (point("m\\", &[], one()), "backslash"),
        (point("m", &[("t", "x\\")], one()), "backslash"),
        (
            point("m", &[], vec![("v\\", FieldValue::Int(1))]),
            "backslash",
        ),
        (
            point("m", &[], vec![("", FieldValue::Int(1))]),
            "field key is empty",
        ),
        (
            point("m", &[], vec![("time", FieldValue::Int(1))]),
            "reserved",
        ),
        (point("m", &[("time", "x")], one()), "reserved"),
        (
            point("m", &[("a", "1"), ("a", "2")], one()),
            "duplicate tag",
        ),
        (
            point(
                "m",
                &[],
                vec![("v", FieldValue::Int(1)), ("v", FieldValue::Int(2))],
            ),
            "duplicate field",
        ),
        (
            point("m", &[], vec![("v", FieldValue::Float(f64::NAN))]),
            "no field left",
        ),
        (point("m", &[], vec![]), "no field left"),
    ];
    for (p, want) in cases {
        let mut out = b"keep\n".to_vec();
        let err = encode_point(&p, &mut out).unwrap_err();
        assert!(err.to_string().contains(want), "{p:?}: {err}");
        assert_eq!(out, b"keep\n");
    }
}

#[test]
fn appends_to_existing_buffer() {
    let mut out = b"first v=1i 1\n".to_vec();
    encode_point(
        &point("m", &[], vec![("v", FieldValue::Bool(false))]),
        &mut out,
    )
    .unwrap();
    assert_eq!(out, b"first v=1i 1\nm v=false 1700000000123\n");
}

#[test]
fn hot_path_writers_match_the_builder() {
    for s in [
        "plain",
        "a b",
        "a,b",
        "a=b",
        "a\\b",
        "\\lead",
        "ünï côdé",
        "\"q\"",
    ] {
        let mut mine = Vec::new();
        push_series(&mut mine, s, &[("k", s)]);
        mine.push(b' ');
        push_key(&mut mine, s);
        mine.push(b'=');
        push_str_value(&mut mine, s);
        mine.push(b'\n');
        let theirs = LineProtocolBuilder::new()
            .measurement(s)
            .tag("k", s)
            .field(s, s)
            .close_line()
            .build();
        assert_eq!(
            String::from_utf8(mine).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
    }
}

/// `encode_point` no longer goes through the builder: it must still
/// write what the builder writes, for every kind of name and value.
#[test]
fn encode_point_matches_the_builder() {
    for s in [
        "plain",
        "a b",
        "a,b",
        "a=b",
        "a\\b",
        "\\lead",
        "ünï côdé",
        "\"q\"",
    ] {
        let p = Point {
            measurement: s.to_string(),
            tags: vec![("k".into(), s.into()), (s.into(), "v".into())],
            fields: vec![
                ("b".into(), FieldValue::Bool(true)),
                ("f".into(), FieldValue::Float(-0.1)),
                ("i".into(), FieldValue::Int(i64::MIN)),
                (s.into(), FieldValue::Str(s.into())),
            ],
            ts_ms: 1_700_000_000_123,
        };
        let mut mine = Vec::new();
        encode_point(&p, &mut mine).unwrap();
        let mut tags = [("k", s), (s, "v")];
        tags.sort_unstable();
        let mut fields: Vec<(&str, u8)> = vec![("b", 0), ("f", 1), ("i", 2), (s, 3)];
        fields.sort_unstable();
        let b = LineProtocolBuilder::new().measurement(s);
        let b = tags.iter().fold(b, |b, (k, v)| b.tag(k, v));
        let (k0, w0) = fields[0];
        let first = match w0 {
            0 => b.field(k0, true),
            1 => b.field(k0, -0.1),
            2 => b.field(k0, i64::MIN),
            _ => b.field(k0, s),
        };
        let b = fields[1..].iter().fold(first, |b, (k, w)| match w {
            0 => b.field(k, true),
            1 => b.field(k, -0.1),
            2 => b.field(k, i64::MIN),
            _ => b.field(k, s),
        });
        let theirs = b.timestamp(1_700_000_000_123).close_line().build();
        assert_eq!(
            String::from_utf8(mine).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
    }
}

#[test]
fn line_ranges_skip_blank_lines_and_crlf() {
    let body = b"a v=1 1\n\n  \nb v=2 2\r\nc v=3 3";
    let r = line_ranges(body);
    let lines: Vec<&[u8]> = r.iter().map(|r| &body[r.clone()]).collect();
    assert_eq!(lines, vec![&b"a v=1 1"[..], b"b v=2 2", b"c v=3 3"]);
    assert_eq!(count_lines(b""), 0);
    assert_eq!(count_lines(b"x v=1 1\n"), 1);
}

// ---- property: whatever we emit parses back to the same values ----

fn name() -> impl Strategy<Value = String> {
    // Printable ASCII (every special character), plus non-ASCII.
    prop::string::string_regex("[ -~äñ€]{1,12}").unwrap()
}

fn field_value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        any::<bool>().prop_map(FieldValue::Bool),
        any::<i64>().prop_map(FieldValue::Int),
        any::<f64>().prop_map(FieldValue::Float),
        prop::string::string_regex("[ -~\n\rñ]{0,16}")
            .unwrap()
            .prop_map(FieldValue::Str),
    ]
}

fn arb_point() -> impl Strategy<Value = Point> {
    let tag_value = prop::string::string_regex("[ -~ñ]{0,10}").unwrap();
    (
        name(),
        prop::collection::vec((name(), tag_value), 0..4),
        prop::collection::vec((name(), field_value()), 1..5),
        any::<i64>(),
    )
        .prop_map(|(measurement, tags, fields, ts_ms)| Point {
            measurement,
            tags,
            fields,
            ts_ms,
        })
}

pub(crate) fn same_value(expected: &FieldValue, got: &PV<'_>) -> bool {
    match (expected, got) {
        (FieldValue::Bool(a), PV::Boolean(b)) => a == b,
        (FieldValue::Int(a), PV::I64(b)) => a == b,
        (FieldValue::Float(a), PV::F64(b)) => a == b,
        (FieldValue::Str(a), PV::String(b)) => sanitize_str(a) == b.as_str(),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn emitted_lines_parse_back_identically(p in arb_point()) {
        let mut out = Vec::new();
        match encode_point(&p, &mut out) {
            Err(_) => prop_assert!(out.is_empty()),
            Ok(()) => {
                let text = std::str::from_utf8(&out).unwrap();
                prop_assert!(text.ends_with('\n'));
                prop_assert_eq!(text.matches('\n').count(), 1);
                let lines: Vec<_> = parse_lines(text).collect();
                prop_assert_eq!(lines.len(), 1);
                let line = lines
                    .into_iter()
                    .next()
                    .unwrap()
                    .map_err(|e| TestCaseError::fail(format!("{e}: {text:?}")))?;
                prop_assert_eq!(line.series.measurement.as_str(), p.measurement.as_str());
                let mut want_tags: Vec<(&str, &str)> = p
                    .tags
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                want_tags.sort();
                let got_tags: Vec<(&str, &str)> = line
                    .series
                    .tag_set
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                prop_assert_eq!(got_tags, want_tags);
                let want_fields: Vec<&(String, FieldValue)> = p
                    .fields
                    .iter()
                    .filter(|(_, v)| !matches!(v, FieldValue::Float(x) if !x.is_finite()))
                    .collect();
                prop_assert_eq!(line.field_set.len(), want_fields.len());
                for (k, v) in want_fields {
                    let got = line
                        .field_value(k)
                        .ok_or_else(|| TestCaseError::fail(format!("field {k:?} missing in {text:?}")))?;
                    prop_assert!(same_value(v, got), "{k:?}: {v:?} vs {got:?} in {text:?}");
                }
                prop_assert_eq!(line.timestamp, Some(p.ts_ms));
            }
        }
    }

    #[test]
    fn non_finite_floats_are_never_emitted(
        p in arb_point(),
        bad in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)],
    ) {
        let mut p = p;
        p.fields.push(("zz_bad".into(), FieldValue::Float(bad)));
        let mut out = Vec::new();
        if encode_point(&p, &mut out).is_ok() {
            let text = String::from_utf8(out).unwrap();
            let line = parse_lines(&text).next().unwrap().unwrap();
            prop_assert!(line.field_value("zz_bad").is_none());
            for (_, v) in line.field_set.iter() {
                if let PV::F64(x) = v {
                    prop_assert!(x.is_finite(), "{text:?}");
                }
            }
        }
    }
}
