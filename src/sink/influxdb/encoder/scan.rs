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
use std::num::NonZeroU32;
use std::sync::Arc;

use super::{self as line, LineError};
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
    /// them, and for the same tag in another allocation. Built on the first
    /// such reading: with every reading in place (no scan classes, no
    /// foreign scans) it is never needed, and at 100 000 tags it is 2 MB.
    by_id: Option<HashMap<Arc<TagId>, usize>>,
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
    /// Index + 1 into `ScanEncoder::deadbands`, for a tag with a deadband:
    /// four bytes instead of eight keep the state at 32 bytes a tag.
    deadband: Option<NonZeroU32>,
    quality: Option<Quality>,
    /// Set when the name cannot be written; the tag is skipped.
    invalid: bool,
}

impl ScanEncoder {
    /// `site` becomes the `site` tag of every line. Configured tags with
    /// names InfluxDB would reject are logged and skipped (configuration
    /// validation should have refused them; see [`line::check_key`]).
    pub fn new<P: std::borrow::Borrow<Plc>>(site: &str, plcs: &[P]) -> Self {
        let mut e = ScanEncoder {
            site: Arc::from(site),
            tags: Vec::new(),
            keys: Vec::new(),
            deadbands: Vec::new(),
            by_id: None,
            groups: Vec::new(),
            group_ix: HashMap::new(),
            plc_ix: HashMap::new(),
            plcs: Vec::new(),
            ranks_valid: false,
            pending: Vec::new(),
            ts_text: Vec::new(),
        };
        let total: usize = plcs.iter().map(|p| p.borrow().tags.len()).sum();
        e.tags.reserve_exact(total);
        // For the configured list only (a tag named twice is one tag); one
        // large allocation, so dropping it returns the memory at once.
        e.by_id = Some(HashMap::with_capacity(total));
        for plc in plcs.iter().map(std::borrow::Borrow::borrow) {
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
        e.by_id = None;
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
                        ("plc", st.id.plc()),
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
            let deadband = st
                .deadband
                .map(|d| &mut self.deadbands[d.get() as usize - 1]);
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
        let tags = &self.tags;
        let by_id = self.by_id.get_or_insert_with(|| {
            let mut m = HashMap::with_capacity(tags.len());
            for (ti, t) in tags.iter().enumerate() {
                m.entry(t.id.clone()).or_insert(ti);
            }
            m
        });
        if let Some(&ti) = by_id.get(id) {
            return ti;
        }
        self.register(id, None)
    }

    /// Adds a tag, configured or first seen in a scan (then written every
    /// scan, without deadband).
    fn register(&mut self, id: &Arc<TagId>, tag: Option<&Tag>) -> usize {
        if let Some(&ti) = self.by_id.as_ref().and_then(|m| m.get(id)) {
            return ti;
        }
        let invalid = match check_tag(id, &self.site) {
            Ok(()) => false,
            Err(e) => {
                tracing::error!(
                    plc = %id.plc(), tag = %id.path(), error = %e,
                    "tag cannot be written to InfluxDB; it is skipped"
                );
                true
            }
        };
        let group = self.group(id);
        let at = self.keys.len();
        line::push_key(&mut self.keys, &id.name);
        let deadband = tag.and_then(Tag::deadband).map(|band| {
            self.deadbands.push(Deadband {
                band,
                max_interval_ms: tag
                    .and_then(Tag::max_interval)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                last: None,
            });
            NonZeroU32::new(self.deadbands.len() as u32).unwrap_or(NonZeroU32::MAX)
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
        if let Some(m) = &mut self.by_id {
            m.insert(id.clone(), ti);
        }
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
        let key = (id.plc().clone(), id.area().clone(), id.equipment.clone());
        if let Some(&g) = self.group_ix.get(&key) {
            return g;
        }
        let mut prefix = Vec::new();
        line::push_series(
            &mut prefix,
            &id.equipment,
            &[("area", id.area()), ("plc", id.plc()), ("site", &self.site)],
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
    line::check_tag_value(id.plc())?;
    line::check_tag_value(id.area())?;
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
mod tests;
