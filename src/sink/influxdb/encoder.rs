//! InfluxDB line protocol, appended into a caller-owned buffer.
//!
//! Pure and tokio-free. One set of token writers (`push_*`) does all
//! escaping and value formatting: [`encode_point`] writes one generic
//! [`Point`] (KPI results, `gateway_status`) with them, and the scan
//! encoder ([`scan`]) keeps its per-tag state (names escaped once,
//! deadbands, quality changes) and writes through the same functions.
//!
//! Rules enforced here, because InfluxDB would otherwise reject a whole batch
//! or silently lose a line:
//! - non-finite floats are dropped (InfluxDB cannot store NaN/inf and answers
//!   400 for the entire request);
//! - a line needs at least one field;
//! - in string field values CR/LF are replaced by spaces (the batch is split
//!   on newlines);
//! - names follow the naming rules of [`crate::config::names`].

mod float;
pub mod scan;

use std::borrow::Cow;
use std::fmt::Display;
use std::io::Write as _;
use std::ops::Range;

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

/// Borrowed field value, so sorting the fields clones nothing.
enum FieldRef<'a> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

fn push_field(out: &mut Vec<u8>, v: &FieldRef<'_>) {
    match v {
        FieldRef::Bool(b) => push_bool(out, *b),
        FieldRef::Int(i) => push_i64(out, *i),
        FieldRef::Float(x) => push_f64(out, *x),
        FieldRef::Str(s) => push_str_value(out, s),
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
            FieldValue::Str(s) => FieldRef::Str(s),
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
    if fields.is_empty() {
        return Err(LineError::NoFields {
            measurement: m.to_string(),
            non_finite,
        });
    }

    push_series(out, m, &tags);
    for (i, (k, v)) in fields.iter().enumerate() {
        out.push(if i == 0 { b' ' } else { b',' });
        push_key(out, k);
        out.push(b'=');
        push_field(out, v);
    }
    out.push(b' ');
    push_display(out, p.ts_ms);
    out.push(b'\n');
    Ok(())
}

// ---- token writers, shared by points and scans ----
//
// Escaping follows the line protocol reference (measurement: comma, space,
// backslash; keys and tag values: comma, equals, space, backslash; string
// values: quote, backslash). The tests check it against
// `influxdb_line_protocol`'s builder and parser. All special characters
// are ASCII, so scanning bytes is UTF-8 safe.

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

/// Writes `v` as the shortest decimal that reads back as the same float,
/// laid out like Rust's `Display` for `f64` (never an exponent, no `.0`);
/// callers guarantee it is finite.
///
/// The digits come from `zmij` (Schubfach), several times faster than
/// `Display`'s Grisu/Dragon at the one float per tag sample the gateway
/// writes; [`float::layout`] only moves the decimal point. Both find the
/// shortest digits closest to the value, so the text is the same except
/// for a value exactly halfway between two such (rare, beyond 15
/// significant digits), where `zmij` rounds to even and `Display` up: the
/// same float either way (the property tests in `float` pin both).
pub(crate) fn push_f64(out: &mut Vec<u8>, v: f64) {
    let mut buf = zmij::Buffer::new();
    float::layout(out, buf.format_finite(v));
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
/// skipped), leaving the line open for fields.
pub(crate) fn push_series(out: &mut Vec<u8>, measurement: &str, sorted_tags: &[(&str, &str)]) {
    push_escaped(out, measurement, b", ");
    for (k, v) in sorted_tags.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(b',');
        push_key(out, k);
        out.push(b'=');
        push_key(out, v);
    }
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
mod tests;
