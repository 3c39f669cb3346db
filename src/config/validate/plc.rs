//! `[[plc]]`: one Modbus server and its tags. Tags are [`super::tag`], their
//! register overlaps [`super::overlap`].
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::{check_name, names, overlap, tag, Issues};
use crate::config::raw::PlcConfig;
use crate::config::settings::{Plc, Tag};

/// Every valid PLC; an invalid one adds its issues and is left out.
pub(super) fn validate_all(raw: &[PlcConfig], issues: &mut Issues) -> Vec<Plc> {
    let mut plcs = Vec::with_capacity(raw.len());
    let mut plc_names = HashSet::new();
    for (i, p) in raw.iter().enumerate() {
        if !plc_names.insert(p.name.as_str()) {
            issues.add(
                format!("plc[{i}].name"),
                format!("duplicate PLC name {:?}", p.name),
            );
        }
        if let Some(plc) = validate(i, p, issues) {
            plcs.push(plc);
        }
    }
    if raw.is_empty() {
        issues.add("plc", "no [[plc]] configured: nothing to poll");
    }
    plcs
}

fn validate(i: usize, p: &PlcConfig, issues: &mut Issues) -> Option<Plc> {
    let before = issues.len();
    let k = |f: &str| format!("plc[{i}].{f}");
    check_identity(&k, p, issues);
    check_link(&k, p, issues);
    if p.tag.is_empty() {
        issues.add(k("tag"), format!("PLC {:?} has no tags", p.name));
    }
    let plc_name: Arc<str> = Arc::from(p.name.as_str());
    let area: Arc<str> = Arc::from(p.area.as_str());
    let tags = validate_tags(i, p, &plc_name, &area, issues);
    overlap::check(i, &tags, issues);
    if issues.len() > before {
        return None;
    }
    Some(Plc {
        name: plc_name,
        area,
        address: p.address.clone(),
        unit_id: p.unit_id,
        scan: Duration::from_millis(p.scan_ms),
        timeout: Duration::from_millis(p.timeout_ms),
        max_gap: p.max_gap,
        tags: tags.into_iter().map(|(_, t)| t).collect(),
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

fn check_link(k: &impl Fn(&str) -> String, p: &PlcConfig, issues: &mut Issues) {
    match p.address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
        _ => issues.add(k("address"), format!("{:?} is not host:port", p.address)),
    }
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
    plc_name: &Arc<str>,
    area: &Arc<str>,
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
        if let Some(tag) = tag::validate(&key, t, plc_name, area, issues) {
            tags.push((j, tag));
        }
    }
    tags
}
