//! `[kpi]`: the production-day KPI engine's inputs and targets.
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use jiff::civil::Time;

use super::Issues;
use crate::config::kpi_inputs::{three_product_keys, InputRole, KPI_INPUTS};
use crate::config::raw::{KpiConfig, ReconcileConfig};
use crate::config::settings::{Kpi, Moisture, Plc, Reconcile, Spool, ThreeProductTags};

pub(super) fn validate(
    k: &KpiConfig,
    plcs: &[Plc],
    spool: &Option<Spool>,
    issues: &mut Issues,
) -> Option<Kpi> {
    let before = issues.len();
    check_inputs(k, plcs, issues);
    let day_start = parse_hhmm(&k.day_start);
    if day_start.is_none() {
        issues.add("kpi.day_start", format!("{:?} is not HH:MM", k.day_start));
    }
    let year_start = parse_mmdd(&k.year_start);
    if year_start.is_none() {
        issues.add("kpi.year_start", format!("{:?} is not MM-DD", k.year_start));
    }
    check_numbers(k, issues);
    let moisture = moisture(k, issues);
    let three_product = three_product(k, issues);
    let reconcile = k
        .reconcile
        .as_ref()
        .and_then(|r| reconcile(k, r, three_product.is_some(), issues));
    if issues.len() > before {
        return None;
    }
    Some(Kpi {
        day_start: day_start?,
        interval: Duration::from_secs(k.interval_s),
        target_tpd: k.target_tpd,
        target_oz_year: k.target_oz_year,
        year_start: year_start?,
        moisture: moisture?,
        ore_totaliser: k.ore_totaliser.clone(),
        totaliser_rollover: k.totaliser_rollover,
        ore_rate: k.ore_rate.clone(),
        mill_power: k.mill_power.clone(),
        mill_running_kw: k.mill_running_kw,
        feed_ag: k.feed_ag.clone(),
        conc_ag: k.conc_ag.clone(),
        tail_ag: k.tail_ag.clone(),
        three_product,
        zn_conc_ag: k.zn_conc_ag.clone(),
        reconcile,
        state_file: state_file(k, spool),
    })
}

/// Each input must name exactly one configured tag (`equipment.name`).
fn check_inputs(k: &KpiConfig, plcs: &[Plc], issues: &mut Issues) {
    let mut paths: HashMap<String, usize> = HashMap::new();
    for p in plcs {
        for t in &p.tags {
            *paths.entry(t.id.path()).or_default() += 1;
        }
    }
    for input in &KPI_INPUTS {
        let key = input.key;
        let Some(v) = k.input(input.input) else {
            continue;
        };
        match paths.get(v) {
            None => issues.add(
                format!("kpi.{key}"),
                format!("{v:?} is not a configured tag (equipment.name)"),
            ),
            Some(n) if *n > 1 => issues.add(
                format!("kpi.{key}"),
                format!("{v:?} is ambiguous: {n} PLCs have a tag with that equipment and name"),
            ),
            Some(_) => {}
        }
    }
}

fn check_numbers(k: &KpiConfig, issues: &mut Issues) {
    if k.interval_s == 0 {
        issues.add("kpi.interval_s", "must be > 0");
    }
    for (key, v) in [
        ("target_tpd", k.target_tpd),
        ("target_oz_year", k.target_oz_year),
    ] {
        if !(v.is_finite() && v > 0.0) {
            issues.add(format!("kpi.{key}"), "must be a positive number");
        }
    }
    if !k.mill_running_kw.is_finite() || k.mill_running_kw < 0.0 {
        issues.add("kpi.mill_running_kw", "must be ≥ 0");
    }
    if let Some(r) = k.totaliser_rollover {
        if !(r.is_finite() && r > 0.0) {
            issues.add("kpi.totaliser_rollover", "must be a positive number");
        }
    }
}

/// Plants report dry tonnes, so one moisture source is required.
fn moisture(k: &KpiConfig, issues: &mut Issues) -> Option<Moisture> {
    match (k.moisture_pct, &k.moisture_tag) {
        (Some(_), Some(_)) => {
            issues.add(
                "kpi.moisture_tag",
                "give moisture_pct or moisture_tag, not both",
            );
            None
        }
        (Some(m), None) if !(0.0..100.0).contains(&m) => {
            issues.add("kpi.moisture_pct", format!("{m} is outside 0–100 %"));
            None
        }
        (Some(m), None) => Some(Moisture::Constant(m)),
        (None, Some(t)) => Some(Moisture::Tag(t.clone())),
        (None, None) => {
            issues.add(
                "kpi.moisture_pct",
                "plants report dry tonnes: give moisture_pct or moisture_tag",
            );
            None
        }
    }
}

/// All three-product assays or none; a partial set adds an issue.
fn three_product(k: &KpiConfig, issues: &mut Issues) -> Option<ThreeProductTags> {
    let given = three_product_keys()
        .filter(|s| k.input(s.input).is_some())
        .count();
    match given {
        0 => None,
        n if n == three_product_keys().count() => Some(ThreeProductTags::from_inputs(|i| {
            k.input(i).cloned().unwrap_or_default()
        })),
        n => {
            let keys: Vec<&str> = three_product_keys().map(|s| s.key).collect();
            issues.add(
                "kpi.feed_pb",
                format!(
                    "three-product recovery needs all {} of {}; {n} given",
                    keys.len(),
                    keys.join(", ")
                ),
            );
            None
        }
    }
}

/// `[kpi.reconcile]` balances the four streams' Ag, Pb and Zn: it needs the
/// whole three-product set and the Zn concentrate's silver, and its
/// precisions must name assay keys.
fn reconcile(
    k: &KpiConfig,
    r: &ReconcileConfig,
    three_product: bool,
    issues: &mut Issues,
) -> Option<Reconcile> {
    let before = issues.len();
    if !three_product && three_product_keys().all(|s| k.input(s.input).is_none()) {
        let keys: Vec<&str> = three_product_keys().map(|s| s.key).collect();
        issues.add(
            "kpi.reconcile",
            format!(
                "the reconciled balance needs the three-product keys ({})",
                keys.join(", ")
            ),
        );
    }
    if k.zn_conc_ag.is_none() {
        issues.add(
            "kpi.reconcile",
            "the reconciled balance needs zn_conc_ag (the Zn concentrate's Ag assay)",
        );
    }
    let mut sd_rel_pct = std::collections::BTreeMap::new();
    for (key, v) in &r.sd_rel_pct {
        let input = KPI_INPUTS
            .iter()
            .find(|s| s.key == key && s.role == InputRole::Assay)
            .map(|s| s.input);
        match input {
            None => issues.add(
                format!("kpi.reconcile.sd_rel_pct.{key}"),
                "not an assay key (feed_ag, conc_ag, zn_conc_ag, tail_ag, feed_pb, ... tail_zn)",
            ),
            Some(_) if !(v.is_finite() && *v > 0.0 && *v < 100.0) => issues.add(
                format!("kpi.reconcile.sd_rel_pct.{key}"),
                format!("{v} must be a percentage above 0 and below 100"),
            ),
            Some(i) => {
                sd_rel_pct.insert(i, *v);
            }
        }
    }
    (issues.len() == before).then_some(Reconcile { sd_rel_pct })
}

/// Default: next to the spool directory, so one data directory holds both.
fn state_file(k: &KpiConfig, spool: &Option<Spool>) -> PathBuf {
    k.state_file.clone().unwrap_or_else(|| match spool {
        Some(s) => s.dir.with_file_name("kpi-state.json"),
        None => PathBuf::from("var/kpi-state.json"),
    })
}

fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

fn parse_mmdd(s: &str) -> Option<(i8, i8)> {
    let (m, d) = s.split_once('-')?;
    let (m, d): (i8, i8) = (m.parse().ok()?, d.parse().ok()?);
    // 2024 is a leap year, so 02-29 is accepted; the engine clamps it.
    jiff::civil::Date::new(2024, m, d).ok()?;
    Some((m, d))
}
