//! InfluxDB field type conflicts.
//!
//! A field's type is fixed by its first write to a shard. Changing a tag's
//! `scale` or `type` flips its field between integer and float, and
//! InfluxDB then rejects every line carrying it (1.x and 2.x answer 400
//! `partial write: field type conflict: input field "f" on measurement "m"
//! is type float, already exists as type integer dropped=1`). Such a line
//! is not bad as a whole: only that one field is. So the conflict is
//! remembered and the field, when it has the refused type, is stripped
//! from this and every later line of that measurement; the rest of the
//! equipment keeps being written, and values of the stored type (older
//! lines spooled before the change) still go through.
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

/// One conflict as InfluxDB reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    pub measurement: String,
    pub field: String,
    /// The type we sent.
    pub input: String,
    /// The type InfluxDB already holds.
    pub existing: String,
}

/// Reads InfluxDB's conflict message (same wording in 1.x and 2.x).
pub fn parse_conflict(message: &str) -> Option<FieldConflict> {
    let rest = &message[message.find("field type conflict")?..];
    let rest = &rest[rest.find("input field \"")? + "input field \"".len()..];
    let end = rest.find("\" on measurement \"")?;
    let field = &rest[..end];
    let rest = &rest[end + "\" on measurement \"".len()..];
    let end = rest.find("\" is type ")?;
    let measurement = &rest[..end];
    let rest = &rest[end + "\" is type ".len()..];
    let (input, rest) = rest.split_once(", already exists as type ")?;
    let existing = rest.split([' ', ',', '"']).next()?;
    Some(FieldConflict {
        measurement: measurement.to_string(),
        field: field.to_string(),
        input: input.to_string(),
        existing: existing.to_string(),
    })
}

/// (measurement, field, refused type).
type Key = (String, String, String);

/// The fields known to conflict, by (measurement, field, refused type).
/// Shared by every delivery of one writer; cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct FieldConflicts {
    inner: Arc<Mutex<HashSet<Key>>>,
}

/// A body with the conflicting fields taken out.
#[derive(Debug, PartialEq, Eq)]
pub struct Stripped {
    pub body: Vec<u8>,
    /// Field values removed.
    pub values: usize,
    /// Lines left with no field, hence dropped.
    pub lines_dropped: usize,
    /// The first of those, for the log.
    pub first_dropped: Option<String>,
}

impl FieldConflicts {
    /// A std mutex held for a lookup or an insert, never across an await;
    /// a poisoned lock still holds a consistent set.
    fn lock(&self) -> MutexGuard<'_, HashSet<Key>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers `c`; true (and one log line with the fix) the first time.
    pub fn add(&self, c: &FieldConflict) -> bool {
        let new = self
            .lock()
            .insert((c.measurement.clone(), c.field.clone(), c.input.clone()));
        if new {
            metrics::counter!("plantgw_field_conflicts_total").increment(1);
            tracing::error!(
                measurement = %c.measurement,
                field = %c.field,
                sent_as = %c.input,
                stored_as = %c.existing,
                "InfluxDB holds this field as another type (a tag's scale or type changed?); \
                 the field is left out of every line from now on and the equipment's other fields \
                 are still written. Fix: rename the field (the tag) or write to a new measurement \
                 (or database), then restart the gateway"
            );
        }
        new
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Every known conflict as (measurement, field, refused type), sorted.
    pub fn list(&self) -> Vec<(String, String, String)> {
        let mut v: Vec<Key> = self.lock().iter().cloned().collect();
        v.sort();
        v
    }

    /// `body` without the known conflicting fields, or None when no line
    /// carries one. Lines that do not parse are kept as they are: InfluxDB
    /// will say what is wrong with them.
    pub fn strip(&self, body: &[u8]) -> Option<Stripped> {
        let set = self.lock();
        if set.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(body.len());
        let (mut values, mut lines_dropped) = (0, 0);
        let mut first_dropped = None;
        for line in body.split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Some(parts) = split_line(line) else {
                push_line(&mut out, line);
                continue;
            };
            let measurement = unescape(&line[..parts.measurement_end]);
            // Only a measurement with a known conflict has fields to look at;
            // the set holds a handful of entries, so a scan beats hashing.
            if !set.iter().any(|(m, _, _)| *m == measurement) {
                push_line(&mut out, line);
                continue;
            }
            let mut kept: Vec<&[u8]> = Vec::with_capacity(parts.fields.len());
            for f in &parts.fields {
                let key = unescape(&line[f.start..f.key_end]);
                let ty = value_type(&line[f.key_end + 1..f.end]);
                if set
                    .iter()
                    .any(|(m, k, t)| *m == measurement && *k == key && t == ty)
                {
                    values += 1;
                } else {
                    kept.push(&line[f.start..f.end]);
                }
            }
            if kept.len() == parts.fields.len() {
                push_line(&mut out, line);
            } else if kept.is_empty() {
                lines_dropped += 1;
                first_dropped.get_or_insert_with(|| String::from_utf8_lossy(line).into_owned());
            } else {
                if !out.is_empty() {
                    out.push(b'\n');
                }
                out.extend_from_slice(&line[..parts.fields_start]);
                out.extend_from_slice(&kept.join(&b","[..]));
                out.extend_from_slice(&line[parts.fields_end..]);
            }
        }
        (values > 0).then_some(Stripped {
            body: out,
            values,
            lines_dropped,
            first_dropped,
        })
    }
}

/// InfluxDB's name for the type of a line-protocol field value.
fn value_type(v: &[u8]) -> &'static str {
    match v {
        [b'"', ..] => "string",
        [.., b'i'] => "integer",
        [.., b'u'] => "unsigned",
        b"t" | b"T" | b"true" | b"True" | b"TRUE" | b"f" | b"F" | b"false" | b"False"
        | b"FALSE" => "boolean",
        _ => "float",
    }
}

fn push_line(out: &mut Vec<u8>, line: &[u8]) {
    if !out.is_empty() {
        out.push(b'\n');
    }
    out.extend_from_slice(line);
}

struct FieldSpan {
    start: usize,
    key_end: usize,
    end: usize,
}

struct LineParts {
    measurement_end: usize,
    fields_start: usize,
    fields_end: usize,
    fields: Vec<FieldSpan>,
}

/// Where the measurement and each field of a line-protocol line are.
/// Backslash escapes a character in names; string values are quoted.
fn split_line(line: &[u8]) -> Option<LineParts> {
    let mut i = 0;
    let mut measurement_end = None;
    // Series key: measurement[,tag=value…] up to the first unescaped space.
    loop {
        match *line.get(i)? {
            b'\\' => i += 2,
            b',' => {
                measurement_end.get_or_insert(i);
                i += 1;
            }
            b' ' => break,
            _ => i += 1,
        }
    }
    let measurement_end = measurement_end.unwrap_or(i);
    let fields_start = i + 1;
    let mut fields = Vec::new();
    i = fields_start;
    loop {
        let start = i;
        // Key, up to an unescaped '='.
        loop {
            match *line.get(i)? {
                b'\\' => i += 2,
                b'=' => break,
                b' ' | b',' => return None,
                _ => i += 1,
            }
        }
        let key_end = i;
        i += 1;
        if line.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match *line.get(i)? {
                    b'\\' => i += 2,
                    b'"' => {
                        i += 1;
                        break;
                    }
                    _ => i += 1,
                }
            }
        } else {
            while let Some(&b) = line.get(i) {
                if b == b',' || b == b' ' {
                    break;
                }
                i += 1;
            }
        }
        fields.push(FieldSpan {
            start,
            key_end,
            end: i,
        });
        match line.get(i) {
            Some(b',') => i += 1,
            _ => break,
        }
    }
    Some(LineParts {
        measurement_end,
        fields_start,
        fields_end: i,
        fields,
    })
}

fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            if let Some(&n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(b);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_1x_and_2x_messages() {
        let v1 = "partial write: field type conflict: input field \"power_kw\" on measurement \"ball_mill\" is type float, already exists as type integer dropped=1";
        assert_eq!(
            parse_conflict(v1),
            Some(FieldConflict {
                measurement: "ball_mill".into(),
                field: "power_kw".into(),
                input: "float".into(),
                existing: "integer".into(),
            })
        );
        let v2 = "failure writing points to database: partial write: field type conflict: input field \"x y\" on measurement \"m,1\" is type integer, already exists as type float dropped=3";
        let c = parse_conflict(v2).unwrap();
        assert_eq!(
            (
                c.measurement.as_str(),
                c.field.as_str(),
                c.input.as_str(),
                c.existing.as_str()
            ),
            ("m,1", "x y", "integer", "float")
        );
        assert_eq!(parse_conflict("unable to parse 'x': missing fields"), None);
        assert_eq!(parse_conflict("partial write: field type conflict"), None);
    }

    #[test]
    fn strips_only_the_conflicting_field_of_that_measurement() {
        let c = FieldConflicts::default();
        assert_eq!(c.strip(b"m a=1i 1"), None, "nothing known yet");
        c.add(&FieldConflict {
            measurement: "ball mill".into(),
            field: "power,kw".into(),
            input: "float".into(),
            existing: "integer".into(),
        });
        let body = "ball\\ mill,plc=g\\ 1 mode=\"a, b=\\\"c\\\" d\",power\\,kw=1.5,starts=3i 100\n\
                    other power\\,kw=2.5 100\n\
                    ball\\ mill,plc=g\\ 1 power\\,kw=1.5 200\n\
                    ball\\ mill,plc=g\\ 1 starts=4i,power\\,kw=1.5 300\n\
                    ball\\ mill,plc=g\\ 1 power\\,kw=2i 400\n\
                    not line protocol\n";
        let s = c.strip(body.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(s.body).unwrap(),
            "ball\\ mill,plc=g\\ 1 mode=\"a, b=\\\"c\\\" d\",starts=3i 100\n\
             other power\\,kw=2.5 100\n\
             ball\\ mill,plc=g\\ 1 starts=4i 300\n\
             ball\\ mill,plc=g\\ 1 power\\,kw=2i 400\n\
             not line protocol"
        );
        assert_eq!((s.values, s.lines_dropped), (3, 1));
        assert_eq!(
            s.first_dropped.as_deref(),
            Some("ball\\ mill,plc=g\\ 1 power\\,kw=1.5 200")
        );
        assert_eq!(c.strip(b"other power\\,kw=2.5 1\n"), None);
    }
}
