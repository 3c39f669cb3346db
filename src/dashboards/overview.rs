//! The plant overview: the `kpi`, `kpi_daily` and `kpi_reconciled` series
//! against the `[kpi]` targets, and PLC status.
use serde_json::{json, Value};

use super::grafana::{
    bool_timeline, dashboard, plain, site_and_plc_variables, stat, steps, target, timeseries, Grid,
    Look, Meta,
};
use super::influxql::{per_plc_t, site_select, site_select_t, PLANT_FILTER, SITE_FILTER};
use crate::config::RawConfig;

/// A stat of the latest value of one `kpi` field: `select` is
/// `last("field") AS "alias"`, and the alias names the series.
fn kpi_stat(
    title: &str,
    description: &str,
    unit: &str,
    (select, alias): (&str, &str),
    thresholds: Value,
) -> Value {
    stat(
        title,
        description,
        unit,
        vec![target("A", site_select("kpi", select), alias)],
        thresholds,
    )
}

/// A time series of `kpi` fields per `$__interval`, one series per column.
fn kpi_trend(title: &str, description: &str, unit: &str, select: &str, look: Look) -> Value {
    look.apply(timeseries(
        title,
        description,
        unit,
        vec![target("A", site_select_t("kpi", select), "$col")],
    ))
}

const MINUTE: Option<&str> = Some("1m");

pub fn overview(cfg: &RawConfig, tz: &str) -> Value {
    let tpd = cfg.kpi.as_ref().map_or(700.0, |k| k.target_tpd);
    let oz = cfg.kpi.as_ref().map_or(1_900_000.0, |k| k.target_oz_year);
    let mut g = Grid::default();
    g.row("Production day");
    g.add(
        4,
        6,
        kpi_stat(
            "Dry tonnes today",
            "Dry tonnes milled so far in the current production day (kpi.ore_dry_t).",
            "masst",
            (r#"last("ore_dry_t") AS "dry t""#, "dry t"),
            plain(),
        ),
    );
    g.add(
        4,
        6,
        kpi_stat(
            "Projected day",
            &format!("Dry tonnes the production day is on course for (kpi.projected_day_t), against {tpd} t/d."),
            "masst",
            (r#"last("projected_day_t") AS "projected t""#, "projected t"),
            steps("red", &[(0.9 * tpd, "orange"), (tpd, "green")]),
        ),
    );
    g.add(
        16,
        6,
        kpi_trend(
            &format!("Dry tonnes today vs {tpd} t/d"),
            "Dry tonnes milled in the production day, the projection for the whole day, and the plant capacity target.",
            "masst",
            r#"last("ore_dry_t") AS "dry t today", last("projected_day_t") AS "projected day", last("target_tpd") AS "target""#,
            Look { interval: MINUTE, dashed: Some("target"), ..Look::default() },
        ),
    );
    g.add(24, 7, closed_days());

    g.row("Throughput and mill availability");
    g.add(
        12,
        8,
        kpi_trend(
            &format!("Mill throughput vs {:.1} t/h", tpd / 24.0),
            "Dry t/h through the mill (kpi.throughput_tph) against the capacity target spread over 24 h.",
            "suffix:t/h",
            r#"mean("throughput_tph") AS "throughput", mean("target_tpd") / 24 AS "target""#,
            Look { interval: MINUTE, dashed: Some("target"), ..Look::default() },
        ),
    );
    g.add(
        4,
        8,
        kpi_stat(
            "Mill availability today",
            "Share of the production day with mill power above kpi.mill_running_kw. The plant is designed for 92 %.",
            "percent",
            (r#"last("mill_availability_pct") AS "availability""#, "availability"),
            steps("red", &[(85.0, "orange"), (92.0, "green")]),
        ),
    );
    let mut avail = kpi_trend(
        "Mill availability",
        "kpi.mill_availability_pct through each production day.",
        "percent",
        r#"mean("mill_availability_pct") AS "availability""#,
        Look {
            interval: MINUTE,
            ..Look::default()
        },
    );
    avail["fieldConfig"]["defaults"]["min"] = json!(0);
    avail["fieldConfig"]["defaults"]["max"] = json!(100);
    g.add(8, 8, avail);

    g.row("Silver");
    let silver_stats = [
        (
            "Ag recovery today".to_string(),
            "Silver reporting to the Pb-Ag concentrate (kpi.ag_recovery_pct).",
            "percent",
            (r#"last("ag_recovery_pct") AS "recovery""#, "recovery"),
            steps("red", &[(80.0, "orange"), (85.0, "green")]),
        ),
        (
            "Ag today".to_string(),
            "Troy ounces of silver recovered in the production day (kpi.ag_oz).",
            "suffix:oz",
            (r#"last("ag_oz") AS "oz""#, "oz"),
            plain(),
        ),
        (
            "Ag year to date".to_string(),
            "Troy ounces recovered since kpi.year_start (kpi.ag_oz_ytd).",
            "suffix:oz",
            (r#"last("ag_oz_ytd") AS "oz ytd""#, "oz ytd"),
            plain(),
        ),
        (
            format!("Ag pace vs {:.1} Moz/yr", oz / 1e6),
            "On pace for the year's target? Mean ounces of the last 7 closed production days × 365; today's projected day × 365 before any day has closed (kpi.ag_oz_pace_year).",
            "suffix:oz",
            (
                r#"last("ag_oz_pace_year") AS "pace oz/yr""#,
                "pace oz/yr",
            ),
            steps("red", &[(0.95 * oz, "orange"), (oz, "green")]),
        ),
    ];
    for (title, description, unit, select, thresholds) in silver_stats {
        g.add(
            4,
            6,
            kpi_stat(&title, description, unit, select, thresholds),
        );
    }
    g.add(
        8,
        6,
        kpi_trend(
            "Ag head grade and recovery",
            "Tonnage-weighted head grade (kpi.ag_head_gpt, left axis) and recovery (kpi.ag_recovery_pct, right axis).",
            "suffix:g/t",
            r#"mean("ag_head_gpt") AS "head g/t", mean("ag_recovery_pct") AS "recovery""#,
            Look { interval: MINUTE, right_axis: Some(("recovery", "percent")), ..Look::default() },
        ),
    );
    g.add(
        24,
        8,
        kpi_trend(
            &format!("Silver pace vs {:.1} Moz/year", oz / 1e6),
            "The pace (last 7 closed days × 365, kpi.ag_oz_pace_year) against the annual target; the year-to-date projection and the ounces recovered in the year so far.",
            "suffix:oz",
            r#"last("ag_oz_pace_year") AS "pace", last("target_oz_year") AS "target", last("ag_projected_oz_year") AS "projected year", last("ag_oz_ytd") AS "year to date""#,
            Look { interval: MINUTE, dashed: Some("target"), ..Look::default() },
        ),
    );

    // Only a config that reconciles has the series.
    if cfg.kpi.as_ref().is_some_and(|k| k.reconcile.is_some()) {
        g.add(24, 8, reconciled_days());
    }

    g.row("Plant areas");
    g.add(8, 6, plc_online());
    g.add(16, 6, plc_connection_timeline());
    dashboard(
        Meta {
            uid: "plantgw-overview",
            title: "Plant overview",
            description: "Production KPIs against the plant's targets (dry tonnes per production day, silver recovery and ounces) and PLC status.",
            tags: &["plantgw", "kpi"],
            timezone: tz,
            from: "now-7d",
        },
        site_and_plc_variables(),
        g.panels,
    )
}

/// One bar per closed production day against the target line.
fn closed_days() -> Value {
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
    daily
}

/// Per closed day: the raw recovery (kpi_daily) against the reconciled one
/// (kpi_reconciled) with its 95 % band, and the balance's p-value.
fn reconciled_days() -> Value {
    let mut panel = timeseries(
        "Closed days: Ag recovery, raw and reconciled",
        "Raw recovery from the day's composite assays (kpi_daily.ag_recovery_pct) and the reconciled balance's (kpi_reconciled.ag_recovery_pct) with its 95 % interval. p below 0.05 (right axis) means the assays do not balance within their stated precision: kpi_reconciled.gross_error names the likely culprit.",
        "percent",
        vec![
            target(
                "A",
                format!(
                    r#"SELECT "ag_recovery_pct" AS "raw" FROM "kpi_daily" WHERE {SITE_FILTER}"#
                ),
                "$col",
            ),
            target(
                "B",
                format!(
                    r#"SELECT "ag_recovery_pct" AS "reconciled", "ag_recovery_pct" - "ag_recovery_ci95_pp" AS "low 95 %", "ag_recovery_pct" + "ag_recovery_ci95_pp" AS "high 95 %", "p_value" AS "p" FROM "kpi_reconciled" WHERE {SITE_FILTER}"#
                ),
                "$col",
            ),
        ],
    );
    panel["fieldConfig"]["defaults"]["custom"]["drawStyle"] = json!("points");
    panel["fieldConfig"]["defaults"]["custom"]["pointSize"] = json!(8);
    panel["fieldConfig"]["overrides"] = json!([
        {
            "matcher": { "id": "byRegexp", "options": "(low|high) 95 %" },
            "properties": [
                { "id": "custom.drawStyle", "value": "line" },
                { "id": "custom.lineStyle", "value": { "fill": "dash", "dash": [4, 4] } },
                { "id": "color", "value": { "mode": "fixed", "fixedColor": "blue" } },
            ],
        },
        {
            "matcher": { "id": "byName", "options": "p" },
            "properties": [
                { "id": "unit", "value": "none" },
                { "id": "min", "value": 0 },
                { "id": "max", "value": 1 },
                { "id": "custom.axisPlacement", "value": "right" },
                { "id": "color", "value": { "mode": "fixed", "fixedColor": "orange" } },
            ],
        },
    ]);
    panel
}

/// Whether each PLC answered its latest scan.
fn plc_online() -> Value {
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
    status
}

/// `plc_status.connected` per PLC, scan by scan (overview and gateway health).
pub fn plc_connection_timeline() -> Value {
    bool_timeline(
        "PLC connection",
        "plc_status.connected per PLC, scan by scan.",
        vec![target(
            "A",
            per_plc_t("plc_status", r#"last("connected") AS "connected""#, "null"),
            "$tag_plc",
        )],
        &[],
    )
}
