//! InfluxDB line protocol, appended into a caller-owned buffer.
//!
//! Pure and tokio-free. [`encode_point`] writes one generic [`Point`] (the
//! KPI engine's output) through `influxdb_line_protocol`'s builder; the scan
//! encoder uses the `push_*` helpers here to write pre-escaped tokens without
//! re-escaping names every scan. Both must produce identical bytes for the
//! same data, which the tests check.
//!
//! Rules enforced here, because InfluxDB would otherwise reject a whole batch
//! or silently lose a line:
//! - non-finite floats are dropped (InfluxDB cannot store NaN/inf and answers
//!   400 for the entire request);
//! - a line needs at least one field;
//! - in string field values CR/LF are replaced by spaces (the batch is split
//!   on newlines);
//! - names follow the naming rules of [`crate::config::names`].
use std::borrow::Cow;
use std::fmt::{self, Display};
use std::io::Write as _;
use std::ops::Range;

use influxdb_line_protocol::builder::{self, LineProtocolBuilder};

// The naming rules belong to configuration, which reports a bad name at
// start-up; the encoder applies the same ones at write time.
pub use crate::config::names::{check_key, check_measurement, check_tag_value, NameError};

/// A field value of a generic point.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// One line of line protocol, with a millisecond timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, FieldValue)>,
    pub ts_ms: i64,
}

/// Why a point cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("measurement {measurement:?}: duplicate {kind} key {key:?}")]
    DuplicateKey {
        measurement: String,
        kind: &'static str,
        key: String,
    },
    #[error("measurement {measurement:?}: no field left to write ({non_finite} non-finite float(s) dropped)")]
    NoFields {
        measurement: String,
        non_finite: usize,
    },
}

/// Borrowed field value, so the builder can format without cloning.
enum FieldRef<'a> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
}

impl builder::FieldValue for &FieldRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldRef::Bool(b) => builder::FieldValue::fmt(b, f),
            FieldRef::Int(i) => builder::FieldValue::fmt(i, f),
            FieldRef::Float(x) => builder::FieldValue::fmt(x, f),
            FieldRef::Str(s) => builder::FieldValue::fmt(&s.as_ref(), f),
        }
    }
}

/// CR/LF inside a string field would split the line when a batch is cut on
/// newlines, and InfluxDB 2 does not accept them in field values.
pub(crate) fn sanitize_str(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b == b'\n' || b == b'\r') {
        Cow::Owned(s.replace(['\n', '\r'], " "))
    } else {
        Cow::Borrowed(s)
    }
}

/// Appends `p` as one newline-terminated line. Tags and fields are written
/// sorted by key; empty tag values are omitted; non-finite floats are
/// dropped. On error nothing is appended.
pub fn encode_point(p: &Point, out: &mut Vec<u8>) -> Result<(), LineError> {
    check_measurement(&p.measurement)?;
    let m = p.measurement.as_str();

    let mut tags: Vec<(&str, &str)> = Vec::with_capacity(p.tags.len());
    for (k, v) in &p.tags {
        check_key(m, "tag", k)?;
        check_tag_value(v)?;
        if !v.is_empty() {
            tags.push((k, v));
        }
    }
    tags.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if let Some(w) = tags.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(LineError::DuplicateKey {
            measurement: m.to_string(),
            kind: "tag",
            key: w[0].0.to_string(),
        });
    }

    let mut non_finite = 0;
    let mut fields: Vec<(&str, FieldRef<'_>)> = Vec::with_capacity(p.fields.len());
    for (k, v) in &p.fields {
        check_key(m, "field", k)?;
        let v = match v {
            FieldValue::Bool(b) => FieldRef::Bool(*b),
            FieldValue::Int(i) => FieldRef::Int(*i),
            FieldValue::Float(x) if x.is_finite() => FieldRef::Float(*x),
            FieldValue::Float(_) => {
                non_finite += 1;
                continue;
            }
            FieldValue::Str(s) => FieldRef::Str(sanitize_str(s)),
        };
        fields.push((k, v));
    }
    fields.sort_by(|a, b| a.0.cmp(b.0));
    if let Some(w) = fields.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(LineError::DuplicateKey {
            measurement: m.to_string(),
            kind: "field",
            key: w[0].0.to_string(),
        });
    }
    let Some(((k0, v0), rest)) = fields.split_first() else {
        return Err(LineError::NoFields {
            measurement: m.to_string(),
            non_finite,
        });
    };

    let b = LineProtocolBuilder::new_with(&mut *out).measurement(m);
    let b = tags.iter().fold(b, |b, (k, v)| b.tag(k, v));
    let b = b.field(k0, v0);
    let b = rest.iter().fold(b, |b, (k, v)| b.field(k, v));
    b.timestamp(p.ts_ms).close_line();
    Ok(())
}

// ---- pre-escaped token writers for the scan encoder's hot path ----
//
// The escaping below mirrors `influxdb_line_protocol::builder` exactly
// (measurement: comma, space, backslash; keys and tag values: comma, equals,
// space, backslash; string values: quote, backslash) so both paths agree.
// All special characters are ASCII, so scanning bytes is UTF-8 safe.

fn push_escaped(out: &mut Vec<u8>, s: &str, special: &[u8]) {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|b| *b == b'\\' || special.contains(b)) {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        if b == b'\\' || special.contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// Escapes a tag key, tag value or field key.
pub(crate) fn push_key(out: &mut Vec<u8>, s: &str) {
    push_escaped(out, s, b",= ");
}

/// Writes a quoted string field value (CR/LF replaced, quotes escaped).
pub(crate) fn push_str_value(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_escaped(out, &sanitize_str(s), b"\"");
    out.push(b'"');
}

/// Writes `v` with Rust's shortest round-trip formatting, which InfluxDB
/// reads back as the same float; callers guarantee it is finite.
pub(crate) fn push_f64(out: &mut Vec<u8>, v: f64) {
    push_display(out, v);
}

pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    push_display(out, v);
    out.push(b'i');
}

pub(crate) fn push_bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

pub(crate) fn push_display(out: &mut Vec<u8>, v: impl Display) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{v}");
}

/// Writes `measurement,tag=value,…` (sorted input expected, empty values
/// skipped) through the builder, leaving the line open for fields.
pub(crate) fn push_series(out: &mut Vec<u8>, measurement: &str, sorted_tags: &[(&str, &str)]) {
    let b = LineProtocolBuilder::new_with(&mut *out).measurement(measurement);
    // The builder is dropped mid-line on purpose: its bytes are already in
    // `out`, and the caller appends the fields itself.
    let _open = sorted_tags
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .fold(b, |b, (k, v)| b.tag(k, v));
}

// ---- batch bodies ----

/// Byte ranges of the non-empty lines of a body, without their line ending.
pub fn line_ranges(body: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in body.iter().enumerate() {
        if *b == b'\n' {
            push_line(body, start..i, &mut out);
            start = i + 1;
        }
    }
    push_line(body, start..body.len(), &mut out);
    out
}

fn push_line(body: &[u8], mut r: Range<usize>, out: &mut Vec<Range<usize>>) {
    while r.end > r.start && body[r.end - 1] == b'\r' {
        r.end -= 1;
    }
    if body[r.clone()].iter().any(|b| !b.is_ascii_whitespace()) {
        out.push(r);
    }
}

/// Number of non-empty lines in a body.
pub fn count_lines(body: &[u8]) -> usize {
    line_ranges(body).len()
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
