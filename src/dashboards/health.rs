//! The gateway's own health: PLC connections and Modbus errors
//! (`plc_status`), tag quality (`tag_quality`), and the spool and InfluxDB
//! writes (`gateway_status`).
use serde_json::{json, Value};

use super::grafana::{
    dashboard, site_and_plc_variables, target, target_fmt, timeseries, Grid, Look, Meta,
};
use super::influxql::{per_plc_t, site_select_t, PLANT_FILTER};
use super::overview::plc_connection_timeline;

/// A `plc_status` trend, one series per PLC.
fn plc_trend(title: &str, description: &str, unit: &str, select: &str, fill: &str) -> Value {
    timeseries(
        title,
        description,
        unit,
        vec![target(
            "A",
            per_plc_t("plc_status", select, fill),
            "$tag_plc",
        )],
    )
}

/// A `gateway_status` trend, one series per column.
fn status_trend(title: &str, description: &str, unit: &str, select: &str, look: Look) -> Value {
    look.apply(timeseries(
        title,
        description,
        unit,
        vec![target("A", site_select_t("gateway_status", select), "$col")],
    ))
}

const TEN_S: Option<&str> = Some("10s");

pub fn gateway_health(tz: &str) -> Value {
    let mut g = Grid::default();
    g.row("PLCs");
    g.add(12, 7, plc_connection_timeline());
    g.add(
        12,
        7,
        plc_trend(
            "Scan time",
            "Wall time from a scan's first request to its last answer (plc_status.scan_ms), mean per interval.",
            "ms",
            r#"mean("scan_ms") AS "scan""#,
            "null",
        ),
    );
    g.add(
        12,
        7,
        plc_trend(
            "Modbus requests",
            "Requests sent per interval (sum of plc_status.requests).",
            "short",
            r#"sum("requests") AS "requests""#,
            "none",
        ),
    );
    let errors = timeseries(
        "Modbus errors and timeouts",
        "Failed and timed-out requests per interval (sums of plc_status.errors and plc_status.timeouts).",
        "short",
        vec![target(
            "A",
            per_plc_t("plc_status", r#"sum("errors") AS "errors", sum("timeouts") AS "timeouts""#, "none"),
            "$tag_plc $col",
        )],
    );
    g.add(
        12,
        7,
        Look {
            bars: true,
            ..Look::default()
        }
        .apply(errors),
    );

    g.row("Tag quality");
    g.add(12, 10, quality_table());
    let changes = timeseries(
        "Quality changes",
        "tag_quality points per interval and PLC: a tag flapping between good and bad shows up here.",
        "short",
        vec![target(
            "A",
            per_plc_t("tag_quality", r#"count("code") AS "changes""#, "none"),
            "$tag_plc",
        )],
    );
    g.add(
        12,
        10,
        Look {
            bars: true,
            ..Look::default()
        }
        .apply(changes),
    );

    g.row("Historian: spool and InfluxDB writes");
    g.add(
        12,
        8,
        status_trend(
            "Spool depth",
            "Data waiting for InfluxDB (gateway_status.spool_bytes, spool_records). It grows while InfluxDB is unreachable and drains after.",
            "bytes",
            r#"last("spool_bytes") AS "bytes", last("spool_records") AS "batches""#,
            Look { right_axis: Some(("batches", "short")), ..Look::default() },
        ),
    );
    g.add(
        12,
        8,
        status_trend(
            "Points written to InfluxDB",
            "Lines InfluxDB accepted per minute (rate of gateway_status.points_written; restarts are skipped).",
            "short",
            r#"non_negative_derivative(last("points_written"), 1m) AS "points/min""#,
            Look { interval: TEN_S, ..Look::default() },
        ),
    );
    g.add(
        12,
        8,
        status_trend(
            "InfluxDB write errors",
            "Write requests InfluxDB did not accept per interval (gateway_status.write_errors). /metrics has them by HTTP status (plantgw_write_errors_total).",
            "short",
            r#"non_negative_difference(last("write_errors")) AS "write errors""#,
            Look { interval: TEN_S, bars: true, ..Look::default() },
        ),
    );
    let mut dropped = status_trend(
        "Spool overflow: batches dropped",
        "Undelivered batches deleted because the spool reached spool.max_bytes (gateway_status.spool_dropped_records). Anything above 0 is lost data.",
        "short",
        r#"non_negative_difference(last("spool_dropped_records")) AS "dropped""#,
        Look { interval: TEN_S, bars: true, ..Look::default() },
    );
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
        site_and_plc_variables(),
        g.panels,
    )
}

/// The latest quality code of every tag, coloured good/bad.
fn quality_table() -> Value {
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
    table
}
