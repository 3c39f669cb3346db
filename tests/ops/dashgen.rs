//! Generates the Grafana dashboards of grafana/dashboards/ from a gateway
//! configuration, so the area dashboards trend exactly the configured tags.
//!
//! - Plant overview: the `kpi` / `kpi_daily` series against the `[kpi]`
//!   targets, and PLC status;
//! - one dashboard per PLC area (Crushing, Grinding, Flotation at Caylloma):
//!   a row per equipment, a panel per unit with every numeric tag of that
//!   unit, a state timeline of its bool tags, and the area's string tags;
//! - Gateway health: `plc_status`, `tag_quality`, `gateway_status`.
//!
//! Every query is raw InfluxQL against the provisioned data source
//! (`plantgw-influxdb`) and filters on `$site`, `$plc` (where the series has
//! a `plc` tag) and `$timeFilter`; aggregates are grouped by `$__interval`.
//!
//! `dashboards::dashboards_match_the_shipped_config` regenerates them from
//! config/caylloma.toml and compares; `UPDATE_DASHBOARDS=1` rewrites
//! the files instead.
use plantgw::config::{DataType, RawConfig, TagConfig};
use serde_json::{json, Value};

pub const DS_UID: &str = "plantgw-influxdb";

pub struct Dashboard {
    pub file: String,
    pub json: Value,
}

fn ds() -> Value {
    json!({ "type": "influxdb", "uid": DS_UID })
}

/// An InfluxQL identifier, double-quoted.
fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// An InfluxQL string literal, single-quoted.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `Mill feed belt` from `mill_feed_belt`.
fn humanize(s: &str) -> String {
    let words = s.replace('_', " ");
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A panel title from a tag's description, cut at its first `:` or `,`
/// when long (the whole description is the panel's description).
fn short_title(t: &TagConfig) -> String {
    let Some(d) = t.description.as_deref() else {
        return humanize(&t.name);
    };
    if d.chars().count() <= 48 {
        return d.to_string();
    }
    match d.find([':', ',']) {
        Some(i) if i >= 10 => d[..i].to_string(),
        _ => humanize(&t.name),
    }
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

fn target(ref_id: &str, query: String, alias: &str) -> Value {
    target_fmt(ref_id, query, alias, "time_series")
}

fn target_fmt(ref_id: &str, query: String, alias: &str, format: &str) -> Value {
    json!({
        "refId": ref_id,
        "datasource": ds(),
        "rawQuery": true,
        "query": query,
        "resultFormat": format,
        "alias": alias,
    })
}

fn ref_id(i: usize) -> String {
    char::from(b'A' + (i % 26) as u8).to_string()
}

/// Panels placed left to right on Grafana's 24-column grid, wrapping, with
/// full-width row headers; ids are unique within the dashboard.
#[derive(Default)]
struct Grid {
    panels: Vec<Value>,
    x: u64,
    y: u64,
    line_h: u64,
}

impl Grid {
    fn newline(&mut self) {
        if self.x > 0 {
            self.y += self.line_h;
            self.x = 0;
            self.line_h = 0;
        }
    }

    fn row(&mut self, title: &str) {
        self.newline();
        let id = self.panels.len() + 1;
        self.panels.push(json!({
            "type": "row",
            "id": id,
            "title": title,
            "collapsed": false,
            "gridPos": { "h": 1, "w": 24, "x": 0, "y": self.y },
            "panels": [],
        }));
        self.y += 1;
    }

    fn add(&mut self, w: u64, h: u64, mut panel: Value) {
        if self.x + w > 24 {
            self.newline();
        }
        panel["id"] = json!(self.panels.len() + 1);
        panel["gridPos"] = json!({ "h": h, "w": w, "x": self.x, "y": self.y });
        panel["datasource"] = ds();
        self.panels.push(panel);
        self.x += w;
        self.line_h = self.line_h.max(h);
    }
}

fn timeseries(title: &str, description: &str, unit: &str, targets: Vec<Value>) -> Value {
    json!({
        "type": "timeseries",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "color": { "mode": "palette-classic" },
                "custom": {
                    "drawStyle": "line",
                    "lineWidth": 1,
                    "fillOpacity": 10,
                    "showPoints": "never",
                    "spanNulls": false,
                },
            },
            "overrides": [],
        },
        "options": {
            "legend": { "displayMode": "list", "placement": "bottom", "showLegend": true },
            "tooltip": { "mode": "multi", "sort": "none" },
        },
    })
}

/// A dashed reference line for a target series (plan, capacity).
fn dashed(name: &str) -> Value {
    json!({
        "matcher": { "id": "byName", "options": name },
        "properties": [
            { "id": "custom.lineStyle", "value": { "fill": "dash", "dash": [10, 10] } },
            { "id": "custom.fillOpacity", "value": 0 },
            { "id": "color", "value": { "mode": "fixed", "fixedColor": "red" } },
        ],
    })
}

fn stat(
    title: &str,
    description: &str,
    unit: &str,
    targets: Vec<Value>,
    thresholds: Value,
) -> Value {
    json!({
        "type": "stat",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "decimals": 1,
                "color": { "mode": "thresholds" },
                "thresholds": thresholds,
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false },
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
            "justifyMode": "auto",
            "orientation": "auto",
        },
    })
}

fn steps(base: &str, steps: &[(f64, &str)]) -> Value {
    let mut out = vec![json!({ "color": base, "value": null })];
    out.extend(steps.iter().map(|(v, c)| json!({ "color": c, "value": v })));
    json!({ "mode": "absolute", "steps": out })
}

fn plain() -> Value {
    steps("text", &[])
}

/// A state timeline of bool series: on/off, alarms red when true, `_ok`
/// signals red when false.
fn bool_timeline(title: &str, description: &str, targets: Vec<Value>, names: &[&str]) -> Value {
    let map = |t: (&str, &str), f: (&str, &str)| {
        json!([{ "type": "value", "options": {
            "true": { "text": t.0, "color": t.1, "index": 0 },
            "false": { "text": f.0, "color": f.1, "index": 1 },
        }}])
    };
    let overrides: Vec<Value> = names
        .iter()
        .filter_map(|n| {
            let lower = n.to_lowercase();
            let m = if ["alarm", "trip", "fault", "horn"]
                .iter()
                .any(|w| lower.contains(w))
            {
                map(("ALARM", "red"), ("ok", "green"))
            } else if lower.ends_with("_ok") {
                map(("ok", "green"), ("FAULT", "red"))
            } else {
                return None;
            };
            Some(json!({
                "matcher": { "id": "byName", "options": n },
                "properties": [{ "id": "mappings", "value": m }],
            }))
        })
        .collect();
    json!({
        "type": "state-timeline",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "color": { "mode": "fixed", "fixedColor": "text" },
                "custom": { "fillOpacity": 80, "lineWidth": 0 },
                "mappings": map(("on", "green"), ("off", "#808080")),
            },
            "overrides": overrides,
        },
        "options": {
            "showValue": "never",
            "mergeValues": true,
            "rowHeight": 0.8,
            "alignValue": "left",
            "legend": { "showLegend": false, "displayMode": "list", "placement": "bottom" },
            "tooltip": { "mode": "single", "sort": "none" },
        },
    })
}

fn variable(name: &str, label: &str, query: &str, multi: bool) -> Value {
    json!({
        "name": name,
        "label": label,
        "type": "query",
        "datasource": ds(),
        "query": query,
        "definition": query,
        "refresh": 1,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
        "hide": 0,
    })
}

fn site_variable() -> Value {
    variable(
        "site",
        "Site",
        r#"SHOW TAG VALUES FROM "plc_status" WITH KEY = "site""#,
        false,
    )
}

fn plc_variable(query: &str) -> Value {
    variable("plc", "PLC", query, true)
}

/// What identifies a dashboard and its default view.
struct Meta<'a> {
    uid: &'a str,
    title: &'a str,
    description: &'a str,
    tags: &'a [&'a str],
    timezone: &'a str,
    /// Default time range start, e.g. `now-24h`.
    from: &'a str,
}

fn dashboard(m: Meta<'_>, variables: Vec<Value>, panels: Vec<Value>) -> Value {
    json!({
        "id": null,
        "uid": m.uid,
        "title": m.title,
        "description": m.description,
        "tags": m.tags,
        "timezone": m.timezone,
        "editable": true,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": { "from": m.from, "to": "now" },
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": false,
        "annotations": { "list": [] },
        "links": [{
            "type": "dashboards",
            "title": "plantgw",
            "tags": ["plantgw"],
            "asDropdown": true,
            "includeVars": true,
            "keepTime": true,
        }],
        "templating": { "list": variables },
        "panels": panels,
    })
}

/// WHERE clause of plant series (tags site, area, plc).
const PLANT_FILTER: &str = r#""site" =~ /^$site$/ AND "plc" =~ /^$plc$/ AND $timeFilter"#;
/// WHERE clause of site-wide series (kpi, gateway_status).
const SITE_FILTER: &str = r#""site" =~ /^$site$/ AND $timeFilter"#;

pub fn generate(cfg: &RawConfig) -> Vec<Dashboard> {
    let tz = cfg.site.timezone.as_str();
    let mut out = vec![Dashboard {
        file: "plantgw-overview.json".into(),
        json: overview(cfg, tz),
    }];
    let mut areas: Vec<&str> = Vec::new();
    for p in &cfg.plc {
        if !areas.contains(&p.area.as_str()) {
            areas.push(&p.area);
        }
    }
    for area in areas {
        let tags: Vec<&TagConfig> = cfg
            .plc
            .iter()
            .filter(|p| p.area == area)
            .flat_map(|p| p.tag.iter())
            .collect();
        out.push(Dashboard {
            file: format!("plantgw-area-{area}.json"),
            json: area_dashboard(area, &tags, tz),
        });
    }
    out.push(Dashboard {
        file: "plantgw-gateway-health.json".into(),
        json: gateway_health(tz),
    });
    out
}

fn overview(cfg: &RawConfig, tz: &str) -> Value {
    let tpd = cfg.kpi.as_ref().map_or(700.0, |k| k.target_tpd);
    let oz = cfg.kpi.as_ref().map_or(1_900_000.0, |k| k.target_oz_year);
    let kpi = |fields: &str| format!(r#"SELECT {fields} FROM "kpi" WHERE {SITE_FILTER}"#);
    let kpi_t = |fields: &str| {
        format!(
            r#"SELECT {fields} FROM "kpi" WHERE {SITE_FILTER} GROUP BY time($__interval) fill(none)"#
        )
    };
    let mut g = Grid::default();
    g.row("Production day");
    g.add(
        4,
        6,
        stat(
            "Dry tonnes today",
            "Dry tonnes milled so far in the current production day (kpi.ore_dry_t).",
            "masst",
            vec![target("A", kpi(r#"last("ore_dry_t") AS "dry t""#), "dry t")],
            plain(),
        ),
    );
    g.add(
        4,
        6,
        stat(
            "Projected day",
            &format!("Dry tonnes the production day is on course for (kpi.projected_day_t), against {tpd} t/d."),
            "masst",
            vec![target(
                "A",
                kpi(r#"last("projected_day_t") AS "projected t""#),
                "projected t",
            )],
            steps("red", &[(0.9 * tpd, "orange"), (tpd, "green")]),
        ),
    );
    let mut day = timeseries(
        &format!("Dry tonnes today vs {tpd} t/d"),
        "Dry tonnes milled in the production day, the projection for the whole day, and the plant capacity target.",
        "masst",
        vec![target(
            "A",
            kpi_t(r#"last("ore_dry_t") AS "dry t today", last("projected_day_t") AS "projected day", last("target_tpd") AS "target""#),
            "$col",
        )],
    );
    day["fieldConfig"]["overrides"] = json!([dashed("target")]);
    day["interval"] = json!("1m");
    g.add(16, 6, day);
    let mut daily = timeseries(
        "Closed production days: dry tonnes vs target",
        "One bar per closed production day (kpi_daily, stamped at the day's start).",
        "masst",
        vec![target(
            "A",
            format!(
                r#"SELECT "ore_dry_t" AS "dry t", "target_tpd" AS "target" FROM "kpi_daily" WHERE {SITE_FILTER}"#
            ),
            "$col",
        )],
    );
    daily["fieldConfig"]["defaults"]["custom"]["drawStyle"] = json!("bars");
    daily["fieldConfig"]["defaults"]["custom"]["fillOpacity"] = json!(60);
    daily["fieldConfig"]["overrides"] = json!([{
        "matcher": { "id": "byName", "options": "target" },
        "properties": [
            { "id": "custom.drawStyle", "value": "line" },
            { "id": "custom.lineStyle", "value": { "fill": "dash", "dash": [10, 10] } },
            { "id": "color", "value": { "mode": "fixed", "fixedColor": "red" } },
        ],
    }]);
    g.add(24, 7, daily);

    g.row("Throughput and mill availability");
    let mut tph = timeseries(
        &format!("Mill throughput vs {:.1} t/h", tpd / 24.0),
        "Dry t/h through the mill (kpi.throughput_tph) against the capacity target spread over 24 h.",
        "suffix:t/h",
        vec![target(
            "A",
            kpi_t(r#"mean("throughput_tph") AS "throughput", mean("target_tpd") / 24 AS "target""#),
            "$col",
        )],
    );
    tph["fieldConfig"]["overrides"] = json!([dashed("target")]);
    tph["interval"] = json!("1m");
    g.add(12, 8, tph);
    g.add(
        4,
        8,
        stat(
            "Mill availability today",
            "Share of the production day with mill power above kpi.mill_running_kw. The plant is designed for 92 %.",
            "percent",
            vec![target(
                "A",
                kpi(r#"last("mill_availability_pct") AS "availability""#),
                "availability",
            )],
            steps("red", &[(85.0, "orange"), (92.0, "green")]),
        ),
    );
    let mut avail = timeseries(
        "Mill availability",
        "kpi.mill_availability_pct through each production day.",
        "percent",
        vec![target(
            "A",
            kpi_t(r#"mean("mill_availability_pct") AS "availability""#),
            "$col",
        )],
    );
    avail["interval"] = json!("1m");
    avail["fieldConfig"]["defaults"]["min"] = json!(0);
    avail["fieldConfig"]["defaults"]["max"] = json!(100);
    g.add(8, 8, avail);

    g.row("Silver");
    g.add(
        4,
        6,
        stat(
            "Ag recovery today",
            "Silver reporting to the Pb-Ag concentrate (kpi.ag_recovery_pct).",
            "percent",
            vec![target(
                "A",
                kpi(r#"last("ag_recovery_pct") AS "recovery""#),
                "recovery",
            )],
            steps("red", &[(80.0, "orange"), (85.0, "green")]),
        ),
    );
    g.add(
        4,
        6,
        stat(
            "Ag today",
            "Troy ounces of silver recovered in the production day (kpi.ag_oz).",
            "suffix:oz",
            vec![target("A", kpi(r#"last("ag_oz") AS "oz""#), "oz")],
            plain(),
        ),
    );
    g.add(
        4,
        6,
        stat(
            "Ag year to date",
            "Troy ounces recovered since kpi.year_start (kpi.ag_oz_ytd).",
            "suffix:oz",
            vec![target(
                "A",
                kpi(r#"last("ag_oz_ytd") AS "oz ytd""#),
                "oz ytd",
            )],
            plain(),
        ),
    );
    g.add(
        4,
        6,
        stat(
            &format!("Ag pace vs {:.1} Moz/yr", oz / 1e6),
            "The year's projected ounces at the current pace (kpi.ag_projected_oz_year).",
            "suffix:oz",
            vec![target(
                "A",
                kpi(r#"last("ag_projected_oz_year") AS "projected oz/yr""#),
                "projected oz/yr",
            )],
            steps("red", &[(0.95 * oz, "orange"), (oz, "green")]),
        ),
    );
    let mut grade = timeseries(
        "Ag head grade and recovery",
        "Tonnage-weighted head grade (kpi.ag_head_gpt, left axis) and recovery (kpi.ag_recovery_pct, right axis).",
        "suffix:g/t",
        vec![target(
            "A",
            kpi_t(r#"mean("ag_head_gpt") AS "head g/t", mean("ag_recovery_pct") AS "recovery""#),
            "$col",
        )],
    );
    grade["interval"] = json!("1m");
    grade["fieldConfig"]["overrides"] = json!([{
        "matcher": { "id": "byName", "options": "recovery" },
        "properties": [
            { "id": "unit", "value": "percent" },
            { "id": "custom.axisPlacement", "value": "right" },
        ],
    }]);
    g.add(8, 6, grade);
    let mut pace = timeseries(
        &format!("Silver pace vs {:.1} Moz/year", oz / 1e6),
        "Ounces projected for the year at the current pace against the annual target; ounces recovered in the year so far.",
        "suffix:oz",
        vec![target(
            "A",
            kpi_t(r#"last("ag_projected_oz_year") AS "projected year", last("target_oz_year") AS "target", last("ag_oz_ytd") AS "year to date""#),
            "$col",
        )],
    );
    pace["interval"] = json!("1m");
    pace["fieldConfig"]["overrides"] = json!([dashed("target")]);
    g.add(24, 8, pace);

    g.row("Plant areas");
    let mut status = stat(
        "PLCs",
        "Whether each PLC answered its latest scan (plc_status.connected).",
        "none",
        vec![target(
            "A",
            format!(
                r#"SELECT last("connected") AS "connected" FROM "plc_status" WHERE {PLANT_FILTER} GROUP BY "plc""#
            ),
            "$tag_plc",
        )],
        plain(),
    );
    status["fieldConfig"]["defaults"]["mappings"] = json!([{ "type": "value", "options": {
        "true": { "text": "online", "color": "green", "index": 0 },
        "false": { "text": "OFFLINE", "color": "red", "index": 1 },
    }}]);
    status["options"]["graphMode"] = json!("none");
    status["options"]["colorMode"] = json!("background");
    g.add(8, 6, status);
    g.add(
        16,
        6,
        bool_timeline(
            "PLC connection",
            "plc_status.connected per PLC, scan by scan.",
            vec![target(
                "A",
                format!(r#"SELECT last("connected") AS "connected" FROM "plc_status" WHERE {PLANT_FILTER} GROUP BY time($__interval), "plc" fill(null)"#),
                "$tag_plc",
            )],
            &[],
        ),
    );
    dashboard(
        Meta {
            uid: "plantgw-overview",
            title: "Plant overview",
            description: "Production KPIs against the plant's targets (dry tonnes per production day, silver recovery and ounces) and PLC status.",
            tags: &["plantgw", "kpi"],
            timezone: tz,
            from: "now-7d",
        },
        vec![
            site_variable(),
            plc_variable(r#"SHOW TAG VALUES FROM "plc_status" WITH KEY = "plc" WHERE "site" =~ /^$site$/"#),
        ],
        g.panels,
    )
}

fn area_dashboard(area: &str, tags: &[&TagConfig], tz: &str) -> Value {
    let select = |agg: &str, t: &TagConfig| {
        format!(
            "SELECT {agg}({f}) AS {f} FROM {m} WHERE {PLANT_FILTER} GROUP BY time($__interval) fill(null)",
            f = ident(&t.name),
            m = ident(&t.equipment),
        )
    };
    let path = |t: &TagConfig| format!("{}.{}", t.equipment, t.name);
    let about = |t: &TagConfig| {
        let mut s = path(t);
        if let Some(d) = &t.description {
            s.push_str(": ");
            s.push_str(d);
        }
        if let Some(u) = &t.unit {
            s.push_str(&format!(" ({u})"));
        }
        s
    };
    // Rows for equipment with measurements, in the order of their first
    // one; equipment with only bool tags shares a status row after them.
    fn is_number(t: &&&TagConfig) -> bool {
        !matches!(t.data_type, DataType::Bool | DataType::String)
    }
    let mut measured: Vec<&str> = Vec::new();
    for t in tags.iter().filter(is_number) {
        if !measured.contains(&t.equipment.as_str()) {
            measured.push(&t.equipment);
        }
    }
    let mut bool_only: Vec<&str> = Vec::new();
    for t in tags.iter().filter(|t| t.data_type == DataType::Bool) {
        let eq = t.equipment.as_str();
        if !measured.contains(&eq) && !bool_only.contains(&eq) {
            bool_only.push(eq);
        }
    }
    let bool_panel = |g: &mut Grid, eq: &str| {
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
    };
    let mut g = Grid::default();
    for eq in measured {
        g.row(&humanize(eq));
        let mine: Vec<&TagConfig> = tags
            .iter()
            .copied()
            .filter(|t| t.equipment == eq && is_number(&t))
            .collect();
        // One panel per unit, so each panel has one axis.
        let mut units: Vec<Option<&str>> = Vec::new();
        for t in &mine {
            if !units.contains(&t.unit.as_deref()) {
                units.push(t.unit.as_deref());
            }
        }
        for unit in units {
            let group: Vec<&TagConfig> = mine
                .iter()
                .copied()
                .filter(|t| t.unit.as_deref() == unit)
                .collect();
            let name = match group.as_slice() {
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
            g.add(
                8,
                8,
                timeseries(&title, &description, &grafana_unit(unit), targets),
            );
        }
        bool_panel(&mut g, eq);
    }
    if !bool_only.is_empty() {
        g.row("Equipment status");
        for eq in bool_only {
            bool_panel(&mut g, eq);
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
            g.add(6, 4, panel);
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

fn gateway_health(tz: &str) -> Value {
    let status = |fields: &str| {
        format!(
            r#"SELECT {fields} FROM "gateway_status" WHERE {SITE_FILTER} GROUP BY time($__interval) fill(none)"#
        )
    };
    let mut g = Grid::default();
    g.row("PLCs");
    g.add(
        12,
        7,
        bool_timeline(
            "PLC connection",
            "plc_status.connected per PLC, scan by scan.",
            vec![target(
                "A",
                format!(r#"SELECT last("connected") AS "connected" FROM "plc_status" WHERE {PLANT_FILTER} GROUP BY time($__interval), "plc" fill(null)"#),
                "$tag_plc",
            )],
            &[],
        ),
    );
    g.add(
        12,
        7,
        timeseries(
            "Scan time",
            "Wall time from a scan's first request to its last answer (plc_status.scan_ms), mean per interval.",
            "ms",
            vec![target(
                "A",
                format!(r#"SELECT mean("scan_ms") AS "scan" FROM "plc_status" WHERE {PLANT_FILTER} GROUP BY time($__interval), "plc" fill(null)"#),
                "$tag_plc",
            )],
        ),
    );
    g.add(
        12,
        7,
        timeseries(
            "Modbus requests",
            "Requests sent per interval (sum of plc_status.requests).",
            "short",
            vec![target(
                "A",
                format!(r#"SELECT sum("requests") AS "requests" FROM "plc_status" WHERE {PLANT_FILTER} GROUP BY time($__interval), "plc" fill(none)"#),
                "$tag_plc",
            )],
        ),
    );
    let mut errs = timeseries(
        "Modbus errors and timeouts",
        "Failed and timed-out requests per interval (sums of plc_status.errors and plc_status.timeouts).",
        "short",
        vec![target(
            "A",
            format!(r#"SELECT sum("errors") AS "errors", sum("timeouts") AS "timeouts" FROM "plc_status" WHERE {PLANT_FILTER} GROUP BY time($__interval), "plc" fill(none)"#),
            "$tag_plc $col",
        )],
    );
    errs["fieldConfig"]["defaults"]["custom"]["drawStyle"] = json!("bars");
    g.add(12, 7, errs);

    g.row("Tag quality");
    let mut table = json!({
        "type": "table",
        "title": "Tag quality now",
        "description": "The latest tag_quality code of every tag (written when a tag's quality changes): good, comm_failure, timeout, exception_<n>, out_of_range, decode_error.",
        "targets": [target_fmt(
            "A",
            format!(r#"SELECT last("code") AS "code" FROM "tag_quality" WHERE {PLANT_FILTER} GROUP BY "plc", "equipment", "tag""#),
            "",
            "table",
        )],
        "fieldConfig": {
            "defaults": {
                "custom": { "align": "auto", "cellOptions": { "type": "auto" }, "filterable": true },
            },
            "overrides": [{
                "matcher": { "id": "byName", "options": "code" },
                "properties": [
                    { "id": "custom.cellOptions", "value": { "type": "color-background" } },
                    { "id": "mappings", "value": [
                        { "type": "value", "options": { "good": { "color": "green", "index": 0 } } },
                        { "type": "regex", "options": { "pattern": ".+", "result": { "color": "red", "index": 1 } } },
                    ]},
                ],
            }],
        },
        "options": { "showHeader": true, "sortBy": [{ "displayName": "code", "desc": false }] },
    });
    table["transformations"] =
        json!([{ "id": "organize", "options": { "excludeByName": { "Time": true } } }]);
    g.add(12, 10, table);
    let mut changes = timeseries(
        "Quality changes",
        "tag_quality points per interval and PLC: a tag flapping between good and bad shows up here.",
        "short",
        vec![target(
            "A",
            format!(r#"SELECT count("code") AS "changes" FROM "tag_quality" WHERE {PLANT_FILTER} GROUP BY time($__interval), "plc" fill(none)"#),
            "$tag_plc",
        )],
    );
    changes["fieldConfig"]["defaults"]["custom"]["drawStyle"] = json!("bars");
    g.add(12, 10, changes);

    g.row("Historian: spool and InfluxDB writes");
    let mut spool = timeseries(
        "Spool depth",
        "Data waiting for InfluxDB (gateway_status.spool_bytes, spool_records). It grows while InfluxDB is unreachable and drains after.",
        "bytes",
        vec![target(
            "A",
            status(r#"last("spool_bytes") AS "bytes", last("spool_records") AS "batches""#),
            "$col",
        )],
    );
    spool["fieldConfig"]["overrides"] = json!([{
        "matcher": { "id": "byName", "options": "batches" },
        "properties": [
            { "id": "unit", "value": "short" },
            { "id": "custom.axisPlacement", "value": "right" },
        ],
    }]);
    g.add(12, 8, spool);
    let mut written = timeseries(
        "Points written to InfluxDB",
        "Lines InfluxDB accepted per minute (rate of gateway_status.points_written; restarts are skipped).",
        "short",
        vec![target(
            "A",
            status(r#"non_negative_derivative(last("points_written"), 1m) AS "points/min""#),
            "$col",
        )],
    );
    written["interval"] = json!("10s");
    g.add(12, 8, written);
    let mut werr = timeseries(
        "InfluxDB write errors",
        "Write requests InfluxDB did not accept per interval (gateway_status.write_errors). /metrics has them by HTTP status (plantgw_write_errors_total).",
        "short",
        vec![target(
            "A",
            status(r#"non_negative_difference(last("write_errors")) AS "write errors""#),
            "$col",
        )],
    );
    werr["interval"] = json!("10s");
    werr["fieldConfig"]["defaults"]["custom"]["drawStyle"] = json!("bars");
    g.add(12, 8, werr);
    let mut dropped = timeseries(
        "Spool overflow: batches dropped",
        "Undelivered batches deleted because the spool reached spool.max_bytes (gateway_status.spool_dropped_records). Anything above 0 is lost data.",
        "short",
        vec![target(
            "A",
            status(r#"non_negative_difference(last("spool_dropped_records")) AS "dropped""#),
            "$col",
        )],
    );
    dropped["interval"] = json!("10s");
    dropped["fieldConfig"]["defaults"]["custom"]["drawStyle"] = json!("bars");
    dropped["fieldConfig"]["defaults"]["color"] = json!({ "mode": "fixed", "fixedColor": "red" });
    g.add(12, 8, dropped);
    dashboard(
        Meta {
            uid: "plantgw-gateway-health",
            title: "Gateway health",
            description: "The gateway itself: PLC connections and Modbus errors, tag quality, and the spool and InfluxDB writes (gateway_status).",
            tags: &["plantgw", "gateway"],
            timezone: tz,
            from: "now-24h",
        },
        vec![
            site_variable(),
            plc_variable(r#"SHOW TAG VALUES FROM "plc_status" WITH KEY = "plc" WHERE "site" =~ /^$site$/"#),
        ],
        g.panels,
    )
}
