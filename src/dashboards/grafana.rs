//! Grafana's dashboard JSON, piece by piece: panels, their queries, the
//! 24-column grid they are laid out on, template variables and the
//! dashboard envelope (schema 39). Pure data; nothing here knows the plant.
use serde_json::{json, Value};

/// The uid of the provisioned InfluxDB data source every query uses
/// (`grafana/provisioning/datasources/plantgw.yaml`).
pub const DS_UID: &str = "plantgw-influxdb";

fn ds() -> Value {
    json!({ "type": "influxdb", "uid": DS_UID })
}

/// A raw InfluxQL query drawn as a time series.
pub fn target(ref_id: &str, query: String, alias: &str) -> Value {
    target_fmt(ref_id, query, alias, "time_series")
}

/// A raw InfluxQL query with Grafana's `resultFormat` (`time_series`, `table`).
pub fn target_fmt(ref_id: &str, query: String, alias: &str, format: &str) -> Value {
    json!({
        "refId": ref_id,
        "datasource": ds(),
        "rawQuery": true,
        "query": query,
        "resultFormat": format,
        "alias": alias,
    })
}

/// `A`, `B`, … for the i-th query of a panel.
pub fn ref_id(i: usize) -> String {
    char::from(b'A' + (i % 26) as u8).to_string()
}

/// Panels placed left to right on Grafana's 24-column grid, wrapping, with
/// full-width row headers; ids are unique within the dashboard.
#[derive(Default)]
pub struct Grid {
    pub panels: Vec<Value>,
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

    pub fn row(&mut self, title: &str) {
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

    /// Places `panel` `w` columns wide and `h` rows high.
    pub fn add(&mut self, w: u64, h: u64, mut panel: Value) {
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

pub fn timeseries(title: &str, description: &str, unit: &str, targets: Vec<Value>) -> Value {
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

/// Options that recur on time series panels.
#[derive(Default)]
pub struct Look {
    /// Grafana's minimum query interval (`1m`, `10s`).
    pub interval: Option<&'static str>,
    /// Bars instead of lines.
    pub bars: bool,
    /// A series drawn as a dashed red reference line (a target).
    pub dashed: Option<&'static str>,
    /// A series drawn against a right-hand axis with its own unit.
    pub right_axis: Option<(&'static str, &'static str)>,
}

impl Look {
    pub fn apply(&self, mut panel: Value) -> Value {
        if let Some(i) = self.interval {
            panel["interval"] = json!(i);
        }
        if self.bars {
            panel["fieldConfig"]["defaults"]["custom"]["drawStyle"] = json!("bars");
        }
        let mut overrides = Vec::new();
        if let Some(name) = self.dashed {
            overrides.push(dashed(name));
        }
        if let Some((name, unit)) = self.right_axis {
            overrides.push(json!({
                "matcher": { "id": "byName", "options": name },
                "properties": [
                    { "id": "unit", "value": unit },
                    { "id": "custom.axisPlacement", "value": "right" },
                ],
            }));
        }
        if !overrides.is_empty() {
            panel["fieldConfig"]["overrides"] = Value::Array(overrides);
        }
        panel
    }
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

pub fn stat(
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

/// Absolute thresholds: `base` below the first step.
pub fn steps(base: &str, steps: &[(f64, &str)]) -> Value {
    let mut out = vec![json!({ "color": base, "value": null })];
    out.extend(steps.iter().map(|(v, c)| json!({ "color": c, "value": v })));
    json!({ "mode": "absolute", "steps": out })
}

/// No thresholds: the value in the text colour.
pub fn plain() -> Value {
    steps("text", &[])
}

/// A state timeline of bool series: on/off, alarms red when true, `_ok`
/// signals red when false.
pub fn bool_timeline(title: &str, description: &str, targets: Vec<Value>, names: &[&str]) -> Value {
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

/// `$site`: one site at a time.
pub fn site_variable() -> Value {
    variable(
        "site",
        "Site",
        r#"SHOW TAG VALUES FROM "plc_status" WITH KEY = "site""#,
        false,
    )
}

/// `$plc`: any number of PLCs, from `query`.
pub fn plc_variable(query: &str) -> Value {
    variable("plc", "PLC", query, true)
}

/// `$site`, and `$plc` over every PLC of that site (from `plc_status`):
/// the variables of the site-wide dashboards.
pub fn site_and_plc_variables() -> Vec<Value> {
    vec![
        site_variable(),
        plc_variable(
            r#"SHOW TAG VALUES FROM "plc_status" WITH KEY = "plc" WHERE "site" =~ /^$site$/"#,
        ),
    ]
}

/// What identifies a dashboard and its default view.
pub struct Meta<'a> {
    pub uid: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub tags: &'a [&'a str],
    pub timezone: &'a str,
    /// Default time range start, e.g. `now-24h`.
    pub from: &'a str,
}

pub fn dashboard(m: Meta<'_>, variables: Vec<Value>, panels: Vec<Value>) -> Value {
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
