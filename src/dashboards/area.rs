//! One dashboard per plant area: a row per equipment with a panel per
//! engineering unit (one axis each), a state timeline of the equipment's
//! bool tags, and the area's string tags as stats.
use serde_json::{json, Value};

use super::grafana::{
    bool_timeline, dashboard, plain, plc_variable, ref_id, site_variable, stat, target, timeseries,
    Grid, Meta,
};
use super::influxql::{ident, literal, PLANT_FILTER};
use super::{humanize, short_title};
use crate::config::{DataType, TagConfig};

fn is_number(t: &TagConfig) -> bool {
    !matches!(t.data_type, DataType::Bool | DataType::String)
}

/// `equipment.name`.
fn path(t: &TagConfig) -> String {
    format!("{}.{}", t.equipment, t.name)
}

/// `equipment.name: description (unit)`, a panel's description line.
fn about(t: &TagConfig) -> String {
    let mut s = path(t);
    if let Some(d) = &t.description {
        s.push_str(": ");
        s.push_str(d);
    }
    if let Some(u) = &t.unit {
        s.push_str(&format!(" ({u})"));
    }
    s
}

fn select(agg: &str, t: &TagConfig) -> String {
    format!(
        "SELECT {agg}({f}) AS {f} FROM {m} WHERE {PLANT_FILTER} GROUP BY time($__interval) fill(null)",
        f = ident(&t.name),
        m = ident(&t.equipment),
    )
}

/// The values of `items` in first-seen order, each once.
fn distinct<'a, T: PartialEq + 'a>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Grafana unit id for a configured unit: Grafana's own where it has one,
/// else the unit as a suffix.
fn grafana_unit(unit: Option<&str>) -> String {
    match unit {
        None => "none".into(),
        Some("%") => "percent".into(),
        Some("°C") => "celsius".into(),
        Some("kW") => "kwatt".into(),
        Some("kWh") => "kwatth".into(),
        Some("A") => "amp".into(),
        Some("kPa") => "pressurekpa".into(),
        Some("mm") => "lengthmm".into(),
        Some("m/s") => "velocityms".into(),
        Some("s") => "s".into(),
        Some("t") => "masst".into(),
        Some(other) => format!("suffix:{other}"),
    }
}

pub fn area_dashboard(area: &str, tags: &[&TagConfig], tz: &str) -> Value {
    // Rows for equipment with measurements, in the order of their first
    // one; equipment with only bool tags shares a status row after them.
    let measured = distinct(
        tags.iter()
            .filter(|t| is_number(t))
            .map(|t| t.equipment.as_str()),
    );
    let bool_only = distinct(
        tags.iter()
            .filter(|t| t.data_type == DataType::Bool)
            .map(|t| t.equipment.as_str())
            .filter(|eq| !measured.contains(eq)),
    );
    let mut g = Grid::default();
    for eq in measured {
        g.row(&humanize(eq));
        let mine: Vec<&TagConfig> = tags
            .iter()
            .copied()
            .filter(|t| t.equipment == eq && is_number(t))
            .collect();
        // One panel per unit, so each panel has one axis.
        for unit in distinct(mine.iter().map(|t| t.unit.as_deref())) {
            let group: Vec<&TagConfig> = mine
                .iter()
                .copied()
                .filter(|t| t.unit.as_deref() == unit)
                .collect();
            g.add(8, 8, unit_panel(eq, unit, &group));
        }
        bool_panel(&mut g, tags, eq);
    }
    if !bool_only.is_empty() {
        g.row("Equipment status");
        for eq in bool_only {
            bool_panel(&mut g, tags, eq);
        }
    }
    let strings: Vec<&TagConfig> = tags
        .iter()
        .copied()
        .filter(|t| t.data_type == DataType::String)
        .collect();
    if !strings.is_empty() {
        g.row("Identification");
        for t in strings {
            g.add(6, 4, string_panel(t));
        }
    }
    let (uid, title) = (format!("plantgw-area-{area}"), humanize(area));
    let description = format!("Trends of every configured tag of the {area} area's PLCs, with units, one row per equipment. Generated from the gateway configuration.");
    dashboard(
        Meta {
            uid: &uid,
            title: &title,
            description: &description,
            tags: &["plantgw", "area", area],
            timezone: tz,
            from: "now-12h",
        },
        vec![
            site_variable(),
            plc_variable(&format!(
                r#"SHOW TAG VALUES WITH KEY = "plc" WHERE "area" = {} AND "site" =~ /^$site$/"#,
                literal(area)
            )),
        ],
        g.panels,
    )
}

/// The numeric tags of one equipment that share a unit.
fn unit_panel(eq: &str, unit: Option<&str>, group: &[&TagConfig]) -> Value {
    let name = match group {
        [one] => short_title(one),
        _ => humanize(eq),
    };
    let title = match unit {
        Some(u) => format!("{name} ({u})"),
        None => name,
    };
    let targets = group
        .iter()
        .enumerate()
        .map(|(i, t)| target(&ref_id(i), select("mean", t), &path(t)))
        .collect();
    let description = group
        .iter()
        .map(|t| about(t))
        .collect::<Vec<_>>()
        .join("\n");
    timeseries(&title, &description, &grafana_unit(unit), targets)
}

/// The bool tags of one equipment as a state timeline, if it has any.
fn bool_panel(g: &mut Grid, tags: &[&TagConfig], eq: &str) {
    let bools: Vec<&TagConfig> = tags
        .iter()
        .copied()
        .filter(|t| t.equipment == eq && t.data_type == DataType::Bool)
        .collect();
    if bools.is_empty() {
        return;
    }
    let targets = bools
        .iter()
        .enumerate()
        .map(|(i, t)| target(&ref_id(i), select("last", t), &path(t)))
        .collect();
    let names: Vec<String> = bools.iter().map(|t| path(t)).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let description = bools
        .iter()
        .map(|t| about(t))
        .collect::<Vec<_>>()
        .join("\n");
    g.add(
        8,
        (3 + bools.len() as u64).max(5),
        bool_timeline(
            &format!("{} status", humanize(eq)),
            &description,
            targets,
            &names,
        ),
    );
}

/// A string tag's latest value.
fn string_panel(t: &TagConfig) -> Value {
    let query = format!(
        "SELECT last({f}) AS {f} FROM {m} WHERE {PLANT_FILTER}",
        f = ident(&t.name),
        m = ident(&t.equipment),
    );
    let mut panel = stat(
        &short_title(t),
        &about(t),
        "string",
        vec![target("A", query, &path(t))],
        plain(),
    );
    panel["options"]["reduceOptions"]["fields"] = json!("/.*/");
    panel["options"]["graphMode"] = json!("none");
    panel["options"]["colorMode"] = json!("none");
    panel
}
