//! `[[plc.tag]]`: one value read from a PLC. Checks run in a fixed order so
//! a config with several mistakes always lists them the same way.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{check_name, names, Issues};
use crate::config::raw::{DataType, TagConfig};
use crate::config::settings::{PlcNames, Tag, TagExtras, TagId};

/// Heartbeat default: a deadbanded value is still written every minute, so a
/// flat line in Grafana is distinguishable from a dead gateway.
const DEFAULT_MAX_INTERVAL_MS: u64 = 60_000;

/// Where a tag's issues go: `key` is `plc[i].tag[j]`, and `what` names the
/// tag in messages about its register layout and numbers.
struct At<'a> {
    key: &'a str,
    what: String,
}

impl At<'_> {
    fn key(&self, field: &str) -> String {
        format!("{}.{field}", self.key)
    }

    /// Adds an issue whose reason ends with the tag's name.
    fn add(&self, issues: &mut Issues, field: &str, reason: impl std::fmt::Display) {
        issues.add(self.key(field), format!("{reason} {}", self.what));
    }
}

/// One shared copy of each equipment and tag name of the file: identical
/// machines on several PLCs repeat the same names, and equipment names
/// repeat across a PLC's tags. Lives for one validation.
#[derive(Default)]
pub(super) struct Names(HashSet<Arc<str>>);

impl Names {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(a.clone());
        a
    }
}

/// The PLC a tag belongs to, as its `TagId` names it.
pub(super) struct Owner<'a> {
    pub plc: &'a Arc<PlcNames>,
    pub names: &'a mut Names,
}

pub(super) fn validate(
    key: &str,
    t: &TagConfig,
    owner: &mut Owner<'_>,
    issues: &mut Issues,
) -> Option<Tag> {
    let before = issues.len();
    let at = At {
        key,
        what: format!("(tag {}.{})", t.equipment, t.name),
    };
    check_names(&at, t, issues);
    check_bit(&at, t, issues);
    let length = string_length(&at, t, issues);
    let count = if t.table.is_bits() {
        1
    } else {
        t.data_type.registers(length)
    };
    check_layout(&at, t, count, issues);
    check_scaling(&at, t, issues);
    check_range(&at, t, issues);
    if issues.len() > before {
        return None;
    }
    Some(build(t, owner, count))
}

/// `equipment` is the measurement and `name` the field.
fn check_names(at: &At, t: &TagConfig, issues: &mut Issues) {
    check_name(issues, &at.key("name"), &t.name);
    check_name(issues, &at.key("equipment"), &t.equipment);
    // InfluxDB's own rules (reserved keys, comments, trailing backslash).
    if let Err(e) = names::check_measurement(&t.equipment) {
        issues.add(at.key("equipment"), e.to_string());
    }
    if let Err(e) = names::check_key(&t.equipment, "field", &t.name) {
        issues.add(at.key("name"), e.to_string());
    }
}

/// Bit tables hold only bools; a bool in a register table is one bit of it.
fn check_bit(at: &At, t: &TagConfig, issues: &mut Issues) {
    let dt = t.data_type;
    if t.table.is_bits() && dt != DataType::Bool {
        at.add(
            issues,
            "type",
            format!(
                "{} table holds bits; type must be \"bool\", not {:?}",
                t.table.as_str(),
                dt.as_str()
            ),
        );
    }
    match (dt, t.bit) {
        (DataType::Bool, None) if !t.table.is_bits() => at.add(
            issues,
            "bit",
            format!("a bool in the {} table needs bit = 0–15", t.table.as_str()),
        ),
        (DataType::Bool, Some(_)) if t.table.is_bits() => {
            at.add(issues, "bit", "bit only applies to register tables")
        }
        (DataType::Bool, Some(b)) if b > 15 => {
            at.add(issues, "bit", format!("bit {b} is out of range 0–15"))
        }
        (DataType::Bool, _) => {}
        (_, Some(_)) => at.add(issues, "bit", "bit only applies to type = \"bool\""),
        (_, None) => {}
    }
}

/// Registers of a string; 0 for every other type (and for a bad length,
/// which has added an issue).
fn string_length(at: &At, t: &TagConfig, issues: &mut Issues) -> u16 {
    match (t.data_type, t.length) {
        (DataType::String, None) => {
            at.add(issues, "length", "a string needs length (registers)");
            0
        }
        (DataType::String, Some(l)) if l == 0 || l > 125 => {
            at.add(
                issues,
                "length",
                format!("length {l} is outside 1–125 registers"),
            );
            0
        }
        (DataType::String, Some(l)) => l,
        (_, Some(_)) => {
            at.add(issues, "length", "length only applies to type = \"string\"");
            0
        }
        (_, None) => 0,
    }
}

/// Byte order and the address range the tag's `count` registers occupy.
fn check_layout(at: &At, t: &TagConfig, count: u16, issues: &mut Issues) {
    let dt = t.data_type;
    if t.order.is_some() && count < 2 && dt != DataType::String {
        at.add(
            issues,
            "order",
            format!(
                "order only applies to multi-register types, not {}",
                dt.as_str()
            ),
        );
    }
    if u32::from(t.address) + u32::from(count) > 65536 {
        at.add(
            issues,
            "address",
            format!(
                "{} + {count} registers runs past the last Modbus address 65535",
                t.address
            ),
        );
    }
}

fn is_numeric(dt: DataType) -> bool {
    !matches!(dt, DataType::Bool | DataType::String)
}

/// `value = raw × scale + offset`, for numbers only.
fn check_scaling(at: &At, t: &TagConfig, issues: &mut Issues) {
    if !t.scale.is_finite() || t.scale == 0.0 {
        at.add(
            issues,
            "scale",
            format!("{} must be finite and non-zero", t.scale),
        );
    }
    if !t.offset.is_finite() {
        at.add(issues, "offset", "must be finite");
    }
    if !is_numeric(t.data_type) && (t.scale != 1.0 || t.offset != 0.0) {
        at.add(
            issues,
            "scale",
            format!(
                "scale/offset apply to numbers, not {}",
                t.data_type.as_str()
            ),
        );
    }
}

/// Plausible range, deadband and heartbeat, for numbers only.
fn check_range(at: &At, t: &TagConfig, issues: &mut Issues) {
    if !is_numeric(t.data_type) && (t.min.is_some() || t.max.is_some() || t.deadband.is_some()) {
        at.add(
            issues,
            "min",
            format!(
                "min/max/deadband apply to numbers, not {}",
                t.data_type.as_str()
            ),
        );
    }
    for (f, v) in [("min", t.min), ("max", t.max), ("deadband", t.deadband)] {
        if v.is_some_and(|v| !v.is_finite()) {
            at.add(issues, f, "must be finite");
        }
    }
    if let (Some(lo), Some(hi)) = (t.min, t.max) {
        if lo >= hi {
            at.add(
                issues,
                "max",
                format!("max {hi} must be greater than min {lo}"),
            );
        }
    }
    if t.deadband.is_some_and(|d| d < 0.0) {
        at.add(issues, "deadband", "must be ≥ 0");
    }
    if let Some(ms) = t.max_interval_ms {
        if t.deadband.is_none() {
            at.add(
                issues,
                "max_interval_ms",
                "a heartbeat needs a deadband; without one every scan is written",
            );
        } else if ms == 0 {
            at.add(issues, "max_interval_ms", "must be > 0");
        }
    }
}

fn build(t: &TagConfig, owner: &mut Owner<'_>, count: u16) -> Tag {
    Tag {
        id: Arc::new(TagId {
            owner: owner.plc.clone(),
            equipment: owner.names.get(&t.equipment),
            name: owner.names.get(&t.name),
        }),
        table: t.table,
        address: t.address,
        data_type: t.data_type,
        order: t.order.unwrap_or_default(),
        bit: t.bit,
        count,
        scale: t.scale,
        offset: t.offset,
        extras: None,
        // Set against the PLC's scan by the PLC's validation.
        scan_every: 1,
    }
    .with_extras(TagExtras {
        deadband: t.deadband,
        max_interval: t
            .deadband
            .map(|_| Duration::from_millis(t.max_interval_ms.unwrap_or(DEFAULT_MAX_INTERVAL_MS))),
        min: t.min,
        max: t.max,
    })
}
