//! Turns a PLC [`Scan`] into line protocol per DESIGN §5.
//!
//! Per scan it writes:
//! - one line per equipment with every written tag of that equipment as a
//!   field (`equipment,area=…,plc=…,site=… name=value,… ts`): the same
//!   series as one line per tag, in far fewer lines;
//! - a `tag_quality` line for each tag whose quality changed (the first scan
//!   counts as a change);
//! - one `plc_status` line.
//!
//! Deadband: a tag with `deadband = d` is written when |v − last written| > d,
//! on its first good value (also after bad quality), when `max_interval` has
//! passed since its last write (by scan timestamps: a heartbeat, so Grafana
//! and "last value" queries keep seeing it), or when the plant clock went
//! backwards. Tags without a deadband are written every scan.
//!
//! Names are escaped once, when a tag is first seen, and kept as bytes; the
//! per-scan work is lookups, comparisons and number formatting. This is the
//! gateway's hottest loop (every tag of every scan), so its state is laid out
//! for it: a reading is matched to its tag by position (the poller hands out
//! readings in configuration order) and confirmed by pointer, field keys sit
//! back to back in one buffer, fields are ordered by a precomputed rank
//! instead of comparing names, and the rarely needed `tag_quality` series key
//! is built only when a quality changes.
use std::collections::HashMap;
use std::sync::Arc;

use super::line::{self, LineError};
use crate::config::{Plc, Tag, TagId};
use crate::sample::{Quality, Reading, Scan, Value};

/// Stateful encoder: one per gateway, fed every scan of every PLC.
pub struct ScanEncoder {
    site: Arc<str>,
    tags: Vec<TagState>,
    /// Escaped field keys of every tag, back to back (see `TagState::key`).
    keys: Vec<u8>,
    deadbands: Vec<Deadband>,
    /// Every tag by identity: for readings not where `PlcEntry::slots` expects
    /// them, and for the same tag in another allocation.
    by_id: HashMap<Arc<TagId>, usize>,
    groups: Vec<Group>,
    group_ix: HashMap<GroupKey, usize>,
    plc_ix: HashMap<Arc<str>, usize>,
    plcs: Vec<PlcEntry>,
    /// False after a tag was added: `TagState::rank` must be recomputed.
    ranks_valid: bool,
    /// Reused per scan: (group << 32 | name rank, tag index, reading index)
    /// of values to write.
    pending: Vec<(u64, u32, u32)>,
    /// Reused per scan: the scan's timestamp, formatted once.
    ts_text: Vec<u8>,
}

/// (plc, area, equipment).
type GroupKey = (Arc<str>, Arc<str>, Arc<str>);

/// One line per (plc, area, equipment): the escaped series key.
struct Group {
    prefix: Vec<u8>,
}

struct PlcEntry {
    /// `plc_status,plc=…,site=…`; None when a name is unwritable.
    status: Option<Vec<u8>>,
    /// The tag index of each reading position, as last seen: reading `i`
    /// of this PLC's scans is `tags[slots[i]]` when the pointers agree.
    slots: Vec<u32>,
}

/// Deadband state, kept apart: few tags have one, every tag has a `TagState`.
struct Deadband {
    band: f64,
    max_interval_ms: Option<i64>,
    /// Last written numeric value and its scan time.
    last: Option<(f64, i64)>,
}

struct TagState {
    id: Arc<TagId>,
    group: u32,
    /// Position of the name in byte order among all tags (equal names
    /// share a rank): fields of a line are written in this order.
    rank: u32,
    /// Escaped field key: `keys[key.0..key.0 + key.1]`.
    key: (u32, u32),
    /// Index into `ScanEncoder::deadbands`, for a tag with a deadband.
    deadband: Option<u32>,
    quality: Option<Quality>,
    /// Set when the name cannot be written; the tag is skipped.
    invalid: bool,
}

impl ScanEncoder {
    /// `site` becomes the `site` tag of every line. Configured tags with
    /// names InfluxDB would reject are logged and skipped (configuration
    /// validation should have refused them; see [`line::check_key`]).
    pub fn new(site: &str, plcs: &[Plc]) -> Self {
        let mut e = ScanEncoder {
            site: Arc::from(site),
            tags: Vec::new(),
            keys: Vec::new(),
            deadbands: Vec::new(),
            by_id: HashMap::new(),
            groups: Vec::new(),
            group_ix: HashMap::new(),
            plc_ix: HashMap::new(),
            plcs: Vec::new(),
            ranks_valid: false,
            pending: Vec::new(),
            ts_text: Vec::new(),
        };
        let total: usize = plcs.iter().map(|p| p.tags.len()).sum();
        e.tags.reserve_exact(total);
        for plc in plcs {
            e.status_prefix(&plc.name);
            let slots = plc
                .tags
                .iter()
                .map(|tag| e.register(&tag.id, Some(tag)) as u32)
                .collect();
            if let Some(&pi) = e.plc_ix.get(&plc.name) {
                e.plcs[pi].slots = slots;
            }
        }
        e.rank_tags();
        e
    }

    /// Appends the scan's lines to `out` and returns how many were written.
    pub fn encode(&mut self, scan: &Scan, out: &mut Vec<u8>) -> usize {
        let ts = scan.ts_ms;
        let mut lines = 0;
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        let mut ts_text = std::mem::take(&mut self.ts_text);
        ts_text.clear();
        line::push_display(&mut ts_text, ts);
        let pi = self.plc_ix.get(&scan.plc).copied();
        let mut slots = match pi {
            Some(pi) => std::mem::take(&mut self.plcs[pi].slots),
            None => Vec::new(),
        };

        for (ri, r) in scan.readings.iter().enumerate() {
            let slot = slots.get(ri).map(|&ti| ti as usize);
            let ti = match slot {
                Some(ti)
                    if self
                        .tags
                        .get(ti)
                        .is_some_and(|t| Arc::ptr_eq(&t.id, &r.tag)) =>
                {
                    ti
                }
                _ => {
                    let ti = self.lookup(&r.tag);
                    if pi.is_some() {
                        if slots.len() <= ri {
                            slots.resize(ri + 1, u32::MAX);
                        }
                        slots[ri] = ti as u32;
                    }
                    ti
                }
            };
            let st = &mut self.tags[ti];
            if st.invalid {
                continue;
            }
            let (quality, value) = effective(r);
            if st.quality != Some(quality) {
                st.quality = Some(quality);
                line::push_series(
                    out,
                    "tag_quality",
                    &[
                        ("equipment", &st.id.equipment),
                        ("plc", &st.id.plc),
                        ("site", &self.site),
                        ("tag", &st.id.name),
                    ],
                );
                out.extend_from_slice(b" code=\"");
                push_quality(out, quality);
                out.extend_from_slice(b"\" ");
                out.extend_from_slice(&ts_text);
                out.push(b'\n');
                lines += 1;
            }
            let deadband = st.deadband.map(|d| &mut self.deadbands[d as usize]);
            let Some(value) = value else {
                if let Some(d) = deadband {
                    d.last = None;
                }
                continue;
            };
            if deadband.is_none_or(|d| d.should_write(value, ts)) {
                pending.push((0, ti as u32, ri as u32));
            }
        }
        if let Some(pi) = pi {
            self.plcs[pi].slots = slots;
        }

        if !self.ranks_valid {
            self.rank_tags();
        }
        let tags = &self.tags;
        for p in pending.iter_mut() {
            let t = &tags[p.1 as usize];
            p.0 = (u64::from(t.group) << 32) | u64::from(t.rank);
        }
        // By equipment, then field name; the first reading of a tag wins.
        pending.sort_unstable_by_key(|&(key, _, ri)| (key, ri));
        let mut i = 0;
        while i < pending.len() {
            let group = pending[i].0 >> 32;
            out.extend_from_slice(&self.groups[group as usize].prefix);
            let mut sep = b' ';
            let mut prev_tag = u32::MAX;
            while i < pending.len() && pending[i].0 >> 32 == group {
                let (_, ti, ri) = pending[i];
                i += 1;
                // The same tag twice in one scan would be a duplicate field.
                if ti == prev_tag {
                    continue;
                }
                prev_tag = ti;
                out.push(sep);
                sep = b',';
                let (at, len) = tags[ti as usize].key;
                out.extend_from_slice(&self.keys[at as usize..(at + len) as usize]);
                out.push(b'=');
                if let Some(v) = &scan.readings[ri as usize].value {
                    push_value(out, v);
                }
            }
            out.push(b' ');
            out.extend_from_slice(&ts_text);
            out.push(b'\n');
            lines += 1;
        }
        self.pending = pending;

        let Some(prefix) = self.status_prefix(&scan.plc) else {
            self.ts_text = ts_text;
            return lines;
        };
        out.extend_from_slice(prefix);
        let s = &scan.status;
        out.extend_from_slice(b" connected=");
        line::push_bool(out, s.connected);
        out.extend_from_slice(b",errors=");
        line::push_i64(out, i64::from(s.errors));
        out.extend_from_slice(b",requests=");
        line::push_i64(out, i64::from(s.requests));
        out.extend_from_slice(b",scan_ms=");
        line::push_f64(out, s.duration.as_secs_f64() * 1000.0);
        out.extend_from_slice(b",timeouts=");
        line::push_i64(out, i64::from(s.timeouts));
        out.push(b' ');
        out.extend_from_slice(&ts_text);
        out.push(b'\n');
        self.ts_text = ts_text;
        lines + 1
    }

    /// The slow path of `encode`: a tag found by value (a reading out of
    /// its usual position, or the same tag in another allocation, which the
    /// slot check never confirms since it compares pointers), or a new one.
    fn lookup(&mut self, id: &Arc<TagId>) -> usize {
        if let Some(&ti) = self.by_id.get(id) {
            return ti;
        }
        self.register(id, None)
    }

    /// Adds a tag, configured or first seen in a scan (then written every
    /// scan, without deadband).
    fn register(&mut self, id: &Arc<TagId>, tag: Option<&Tag>) -> usize {
        if let Some(&ti) = self.by_id.get(id) {
            return ti;
        }
        let invalid = match check_tag(id, &self.site) {
            Ok(()) => false,
            Err(e) => {
                tracing::error!(
                    plc = %id.plc, tag = %id.path(), error = %e,
                    "tag cannot be written to InfluxDB; it is skipped"
                );
                true
            }
        };
        let group = self.group(id);
        let at = self.keys.len();
        line::push_key(&mut self.keys, &id.name);
        let deadband = tag.and_then(|t| t.deadband).map(|band| {
            self.deadbands.push(Deadband {
                band,
                max_interval_ms: tag
                    .and_then(|t| t.max_interval)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                last: None,
            });
            (self.deadbands.len() - 1) as u32
        });
        let ti = self.tags.len();
        self.tags.push(TagState {
            id: id.clone(),
            group: group as u32,
            rank: 0,
            key: (at as u32, (self.keys.len() - at) as u32),
            deadband,
            quality: None,
            invalid,
        });
        self.ranks_valid = false;
        self.by_id.insert(id.clone(), ti);
        ti
    }

    /// Ranks every tag by name (byte order), equal names sharing a rank.
    fn rank_tags(&mut self) {
        let mut order: Vec<u32> = (0..self.tags.len() as u32).collect();
        let tags = &self.tags;
        order.sort_unstable_by(|&a, &b| tags[a as usize].id.name.cmp(&tags[b as usize].id.name));
        let mut rank = 0;
        for k in 0..order.len() {
            let t = order[k] as usize;
            if k > 0 && self.tags[t].id.name != self.tags[order[k - 1] as usize].id.name {
                rank = k as u32;
            }
            self.tags[t].rank = rank;
        }
        self.ranks_valid = true;
    }

    fn group(&mut self, id: &TagId) -> usize {
        let key = (id.plc.clone(), id.area.clone(), id.equipment.clone());
        if let Some(&g) = self.group_ix.get(&key) {
            return g;
        }
        let mut prefix = Vec::new();
        line::push_series(
            &mut prefix,
            &id.equipment,
            &[("area", &id.area), ("plc", &id.plc), ("site", &self.site)],
        );
        let g = self.groups.len();
        self.groups.push(Group { prefix });
        self.group_ix.insert(key, g);
        g
    }

    fn status_prefix(&mut self, plc: &Arc<str>) -> Option<&[u8]> {
        let pi = match self.plc_ix.get(plc) {
            Some(&pi) => pi,
            None => {
                let site = &self.site;
                let status = match line::check_tag_value(plc)
                    .and_then(|()| line::check_tag_value(site))
                {
                    Ok(()) => {
                        let mut p = Vec::new();
                        line::push_series(&mut p, "plc_status", &[("plc", plc), ("site", site)]);
                        Some(p)
                    }
                    Err(e) => {
                        tracing::error!(plc = %plc, error = %e, "plc_status cannot be written to InfluxDB; it is skipped");
                        None
                    }
                };
                let pi = self.plcs.len();
                self.plcs.push(PlcEntry {
                    status,
                    slots: Vec::new(),
                });
                self.plc_ix.insert(plc.clone(), pi);
                pi
            }
        };
        self.plcs[pi].status.as_deref()
    }
}

fn check_tag(id: &TagId, site: &str) -> Result<(), LineError> {
    line::check_measurement(&id.equipment)?;
    line::check_key(&id.equipment, "field", &id.name)?;
    line::check_tag_value(&id.plc)?;
    line::check_tag_value(&id.area)?;
    line::check_tag_value(site)?;
    Ok(())
}

impl Deadband {
    /// Deadband and heartbeat decision; records the write when it says yes.
    fn should_write(&mut self, value: &Value, ts: i64) -> bool {
        let d = self.band;
        let Some(v) = value.as_f64() else {
            return true;
        };
        let write = match self.last {
            None => true,
            Some((last, last_ts)) => {
                (v - last).abs() > d
                    || ts < last_ts
                    || self.max_interval_ms.is_some_and(|m| ts - last_ts >= m)
            }
        };
        if write {
            self.last = Some((v, ts));
        }
        write
    }
}

/// The quality the historian acts on: a "good" reading carrying a
/// non-finite float is out of range (never written), and a good reading
/// without a value has nothing to write.
fn effective(r: &Reading) -> (Quality, Option<&Value>) {
    match (&r.quality, &r.value) {
        (Quality::Good, Some(Value::Float(x))) if !x.is_finite() => (Quality::OutOfRange, None),
        (Quality::Good, v) => (Quality::Good, v.as_ref()),
        (q, _) => (*q, None),
    }
}

fn push_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Bool(b) => line::push_bool(out, *b),
        Value::Int(i) => line::push_i64(out, *i),
        Value::Float(x) => line::push_f64(out, *x),
        Value::Text(s) => line::push_str_value(out, s),
    }
}

fn push_quality(out: &mut Vec<u8>, q: Quality) {
    match q {
        Quality::Exception(n) => {
            out.extend_from_slice(b"exception_");
            line::push_display(out, n);
        }
        q => out.extend_from_slice(q.code().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ByteOrder, DataType, Table};
    use crate::historian::line::{encode_point, FieldValue, Point};
    use crate::sample::ScanStatus;
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
            id: Arc::new(TagId {
                plc: plc.into(),
                area: plc.into(),
                equipment: equipment.into(),
                name: name.into(),
            }),
            table: Table::Holding,
            address: 0,
            data_type: DataType::F32,
            order: ByteOrder::ABCD,
            bit: None,
            count: 2,
            scale: 1.0,
            offset: 0.0,
            unit: None,
            deadband,
            max_interval: max_interval_ms.map(Duration::from_millis),
            min: None,
            max: None,
            scan_every: 1,
        }
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
                good(Value::Text("auto \"remote\"".into())),
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
            "mill_feed_belt,area=grinding,plc=grinding,site=caylloma total_t=1234.567 1700000000000\n".into(),
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
        let stranger = Arc::new(TagId {
            plc: "g".into(),
            area: "g".into(),
            equipment: "other".into(),
            name: "x".into(),
        });
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
            1 => "[ -~\n]{0,8}".prop_map(|x| (Some(Value::Text(x)), Quality::Good)),
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
                        Some(Value::Text(t)) => FieldValue::Str(t.clone()),
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
}
