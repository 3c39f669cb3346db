//! `[[plc]]`: one Modbus server and its tags. Tags are [`super::tag`], their
//! register overlaps [`super::overlap`].
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{check_name, names, overlap, tag, Issues};
use crate::config::raw::{PlcConfig, TransportKind};
use crate::config::settings::{LinkKind, Parity, Plc, PlcLink, PlcNames, SerialLine, Tag};

/// The PLCs of a file, validated one at a time as they are read, so only
/// one raw PLC need exist at once. Their issues are kept apart until
/// [`PlcValidator::finish`]: a file read in one pass meets its PLCs before
/// the sections after them, yet the PLCs' issues are listed after those.
#[derive(Default)]
pub(in crate::config) struct PlcValidator {
    /// Every valid PLC so far; an invalid one added its issues instead.
    plcs: Vec<Plc>,
    /// How many were pushed: the next one's index in the file.
    pushed: usize,
    /// Each PLC name with its index (a duplicated name, its last), which
    /// line messages cite.
    index: HashMap<String, usize>,
    names: tag::Names,
    issues: Issues,
}

impl PlcValidator {
    /// Validates the next `[[plc]]` of the file.
    pub(in crate::config) fn push(&mut self, p: &PlcConfig) {
        let i = self.pushed;
        self.pushed += 1;
        if self.index.insert(p.name.clone(), i).is_some() {
            self.issues.add(
                format!("plc[{i}].name"),
                format!("duplicate PLC name {:?}", p.name),
            );
        }
        if let Some(plc) = validate(i, p, &mut self.names, &mut self.issues) {
            self.plcs.push(plc);
        }
    }

    /// Every valid PLC, the issues of all of them added after `issues`.
    pub(super) fn finish(mut self, issues: &mut Issues) -> Vec<Plc> {
        issues.0.append(&mut self.issues.0);
        if self.pushed == 0 {
            issues.add("plc", "no [[plc]] configured: nothing to poll");
        }
        check_lines(&self.index, &mut self.plcs, issues);
        self.plcs
    }
}

/// PLCs on one connection must agree on how it is driven; each learns
/// whether it shares its line.
fn check_lines(index: &HashMap<String, usize>, plcs: &mut [Plc], issues: &mut Issues) {
    let mut first: HashMap<&str, (usize, &Plc)> = HashMap::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for p in plcs.iter() {
        *counts.entry(p.line_key()).or_default() += 1;
        let i = index.get(&*p.name).copied().unwrap_or(0);
        match first.get(p.address.as_str()) {
            None => {
                first.insert(p.address.as_str(), (i, p));
            }
            Some((j, q)) => {
                let field = if matches!(p.link.transport, LinkKind::Rtu(_)) {
                    "device"
                } else {
                    "address"
                };
                if q.link.transport != p.link.transport {
                    issues.add(
                        format!("plc[{i}].transport"),
                        format!(
                            "{:?} is shared with plc[{j}] ({}), which is driven as {} {}; \
                             PLCs on one {field} share its connection and must agree",
                            p.address,
                            q.name,
                            q.link.transport.as_str(),
                            match &q.link.transport {
                                LinkKind::Rtu(line) => line.to_string(),
                                _ => String::new(),
                            }
                        ),
                    );
                } else if q.link.request_gap != p.link.request_gap {
                    issues.add(
                        format!("plc[{i}].request_gap_ms"),
                        format!(
                            "{} ms, but plc[{j}] ({}) on the same {field} has {} ms; the gap is the line's",
                            p.link.request_gap.as_millis(),
                            q.name,
                            q.link.request_gap.as_millis()
                        ),
                    );
                }
            }
        }
    }
    for p in plcs.iter_mut() {
        p.link.shared = counts.get(&p.line_key()).is_some_and(|&n| n > 1);
    }
}

fn validate(i: usize, p: &PlcConfig, names: &mut tag::Names, issues: &mut Issues) -> Option<Plc> {
    let before = issues.len();
    let k = |f: &str| format!("plc[{i}].{f}");
    check_identity(&k, p, issues);
    check_link(&k, p, issues);
    let (address, link) = transport(&k, p, issues);
    if p.tag.is_empty() {
        issues.add(k("tag"), format!("PLC {:?} has no tags", p.name));
    }
    let plc_name: Arc<str> = Arc::from(p.name.as_str());
    let area: Arc<str> = Arc::from(p.area.as_str());
    let shared = Arc::new(PlcNames {
        plc: plc_name.clone(),
        area: area.clone(),
    });
    let mut owner = tag::Owner {
        plc: &shared,
        names,
    };
    let tags = validate_tags(i, p, &mut owner, issues);
    overlap::check(i, &tags, issues);
    let mut tags = tags;
    scan_classes(i, p, &mut tags, issues);
    for (j, t) in &tags {
        if !t.table.is_bits() && t.count > link.max_registers {
            issues.add(
                format!("plc[{i}].tag[{j}].length"),
                format!(
                    "takes {} registers, more than max_registers = {}",
                    t.count, link.max_registers
                ),
            );
        }
    }
    if issues.len() > before {
        return None;
    }
    Some(Plc {
        name: plc_name,
        area,
        address,
        unit_id: p.unit_id,
        scan: Duration::from_millis(p.scan_ms),
        timeout: Duration::from_millis(p.timeout_ms),
        max_gap: p.max_gap,
        tags: {
            // Collected in place, the list would keep the capacity of the
            // wider (index, tag) pairs for the whole run.
            let mut tags: Vec<Tag> = tags.into_iter().map(|(_, t)| t).collect();
            tags.shrink_to_fit();
            tags
        },
        link,
    })
}

/// `name` and `area` become the `plc` and `area` tag values of every series.
fn check_identity(k: &impl Fn(&str) -> String, p: &PlcConfig, issues: &mut Issues) {
    check_name(issues, &k("name"), &p.name);
    check_name(issues, &k("area"), &p.area);
    for (f, v) in [("name", &p.name), ("area", &p.area)] {
        if let Err(e) = names::check_tag_value(v) {
            issues.add(k(f), e.to_string());
        }
    }
}

/// `[[plc.tag]] scan_ms`: a whole multiple of the PLC's scan.
fn scan_classes(i: usize, p: &PlcConfig, tags: &mut [(usize, Tag)], issues: &mut Issues) {
    for (j, t) in tags.iter_mut() {
        let Some(ms) = p.tag.get(*j).and_then(|raw| raw.scan_ms) else {
            continue;
        };
        let every = if p.scan_ms > 0 && ms % p.scan_ms == 0 {
            u32::try_from(ms / p.scan_ms).ok().filter(|&n| n >= 1)
        } else {
            None
        };
        match every {
            Some(n) => t.scan_every = n,
            None => issues.add(
                format!("plc[{i}].tag[{j}].scan_ms"),
                format!(
                    "{ms} is not a whole multiple of the PLC's scan_ms = {}",
                    p.scan_ms
                ),
            ),
        }
    }
}

/// The PLC's address (the device for `rtu`) and its link settings.
fn transport(k: &impl Fn(&str) -> String, p: &PlcConfig, issues: &mut Issues) -> (String, PlcLink) {
    let serial_keys = [
        ("baud", p.baud.is_some()),
        ("parity", p.parity.is_some()),
        ("data_bits", p.data_bits.is_some()),
        ("stop_bits", p.stop_bits.is_some()),
        ("device", p.device.is_some()),
    ];
    if p.transport != TransportKind::Rtu {
        for (key, set) in serial_keys {
            if set {
                issues.add(
                    k(key),
                    format!(
                        "only for transport = \"rtu\" (a serial line); this PLC is on {:?}",
                        p.address
                    ),
                );
            }
        }
    }
    if p.transport != TransportKind::Tcp && p.unit_id == 0 {
        issues.add(
            k("unit_id"),
            "0 is broadcast on a serial line: no unit answers it, and plantgw never sends it",
        );
    }
    if !(1..=125).contains(&p.max_registers) {
        issues.add(
            k("max_registers"),
            format!("{} is outside 1–125", p.max_registers),
        );
    }
    if p.request_gap_ms > 10_000 {
        issues.add(
            k("request_gap_ms"),
            format!("{} is outside 0–10000 ms", p.request_gap_ms),
        );
    }
    let (address, transport) = match p.transport {
        TransportKind::Tcp | TransportKind::RtuOverTcp => {
            check_address(k, p, issues);
            let t = if p.transport == TransportKind::Tcp {
                LinkKind::Tcp
            } else {
                LinkKind::RtuOverTcp
            };
            (p.address.clone(), t)
        }
        TransportKind::Rtu => (
            serial_device(k, p, issues),
            LinkKind::Rtu(serial(k, p, issues)),
        ),
    };
    let link = PlcLink {
        transport,
        request_gap: Duration::from_millis(p.request_gap_ms),
        max_registers: p.max_registers.clamp(1, 125),
        shared: false,
    };
    (address, link)
}

fn serial_device(k: &impl Fn(&str) -> String, p: &PlcConfig, issues: &mut Issues) -> String {
    if !p.address.is_empty() {
        issues.add(
            k("address"),
            "a serial line has no address: name its `device` (e.g. \"/dev/ttyUSB0\")",
        );
    }
    match p.device.as_deref() {
        Some(d) if d.starts_with('/') => d.to_string(),
        Some(d) => {
            issues.add(k("device"), format!("{d:?} is not an absolute device path"));
            String::new()
        }
        None => {
            issues.add(
                k("device"),
                "transport = \"rtu\" needs the serial device, e.g. device = \"/dev/ttyUSB0\"",
            );
            String::new()
        }
    }
}

fn serial(k: &impl Fn(&str) -> String, p: &PlcConfig, issues: &mut Issues) -> SerialLine {
    let baud = p.baud.unwrap_or(19_200);
    if !(300..=1_000_000).contains(&baud) {
        issues.add(k("baud"), format!("{baud} is outside 300–1000000"));
    }
    let parity = match p.parity.as_deref().unwrap_or("E") {
        "N" | "n" => Parity::None,
        "E" | "e" => Parity::Even,
        "O" | "o" => Parity::Odd,
        other => {
            issues.add(k("parity"), format!("{other:?} is not N, E or O"));
            Parity::Even
        }
    };
    let data_bits = p.data_bits.unwrap_or(8);
    if !(7..=8).contains(&data_bits) {
        issues.add(k("data_bits"), format!("{data_bits} is not 7 or 8"));
    }
    let stop_bits = p.stop_bits.unwrap_or(1);
    if !(1..=2).contains(&stop_bits) {
        issues.add(k("stop_bits"), format!("{stop_bits} is not 1 or 2"));
    }
    SerialLine {
        baud,
        parity,
        data_bits,
        stop_bits,
    }
}

fn check_address(k: &impl Fn(&str) -> String, p: &PlcConfig, issues: &mut Issues) {
    match p.address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
        _ => issues.add(k("address"), format!("{:?} is not host:port", p.address)),
    }
}

fn check_link(k: &impl Fn(&str) -> String, p: &PlcConfig, issues: &mut Issues) {
    if !(10..=3_600_000).contains(&p.scan_ms) {
        issues.add(
            k("scan_ms"),
            format!("{} is outside 10–3600000 ms", p.scan_ms),
        );
    }
    if !(10..=60_000).contains(&p.timeout_ms) {
        issues.add(
            k("timeout_ms"),
            format!("{} is outside 10–60000 ms", p.timeout_ms),
        );
    }
}

/// Valid tags with their index in the file, which overlap messages cite.
fn validate_tags(
    i: usize,
    p: &PlcConfig,
    owner: &mut tag::Owner<'_>,
    issues: &mut Issues,
) -> Vec<(usize, Tag)> {
    let mut tags = Vec::with_capacity(p.tag.len());
    let mut ids = HashMap::new();
    for (j, t) in p.tag.iter().enumerate() {
        let key = format!("plc[{i}].tag[{j}]");
        if let Some(prev) = ids.insert((t.equipment.as_str(), t.name.as_str()), j) {
            issues.add(
                format!("{key}.name"),
                format!(
                    "{}.{} is already defined at plc[{i}].tag[{prev}]",
                    t.equipment, t.name
                ),
            );
        }
        if let Some(tag) = tag::validate(&key, t, owner, issues) {
            tags.push((j, tag));
        }
    }
    tags
}
