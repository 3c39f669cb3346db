//! Rebuilds one production day's KPIs from the historian's raw series, by
//! replaying them through the same [`KpiEngine`] that runs live.
//!
//! Differences from the live engine, and why:
//! - held values are trusted for [`HOLD_CAP`] rather than 3 scans: the
//!   stored series are deadbanded (written on change, at least every
//!   heartbeat, 60 s by default), so a quiet stretch means "unchanged";
//!   bad spans are explicit in `tag_quality` instead;
//! - there is no year-to-date context, so `ag_oz_ytd` and
//!   `ag_projected_oz_year` are left out (a `--write` of the row then
//!   overwrites the day's own fields and keeps the stored year-to-date
//!   ones, since InfluxDB merges fields of a point with the same series
//!   and timestamp).
//!
//! Each tag's series is read for the day `[start, end)` plus the last
//! sample before and the first after, so the totaliser delta across each
//! boundary is split by time exactly as it was live.
use std::collections::HashSet;
use std::time::Duration;

use jiff::civil::Date;

use super::day::Calendar;
use super::engine::KpiEngine;
use super::report::DailyKpi;
use super::KpiError;
use crate::config::{Kpi, Site};
use crate::sink::influxdb::query::{QueryClient, Series};

/// Three default heartbeats.
pub const HOLD_CAP: Duration = Duration::from_secs(180);

/// One raw sample of a KPI tag: `value` is `None` for a bad-quality span
/// starting at `ts_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSample {
    pub ts_ms: i64,
    /// `equipment.name`
    pub path: String,
    pub value: Option<f64>,
}

/// Replays `samples` (any order; sorted here, stable for equal times) and
/// returns production day `day` as it would have closed.
pub fn recompute_day(
    settings: &Kpi,
    site: &Site,
    day: Date,
    samples: &[RawSample],
) -> Result<DailyKpi, KpiError> {
    let mut engine = KpiEngine::new(settings, site, None).with_hold_cap(HOLD_CAP);
    let mut sorted: Vec<&RawSample> = samples.iter().collect();
    sorted.sort_by_key(|s| s.ts_ms);
    let mut batch: Vec<(String, Option<f64>)> = Vec::new();
    let mut batch_ts = None;
    for s in sorted {
        if batch_ts.is_some_and(|t| t != s.ts_ms) {
            engine.observe_values(batch_ts.unwrap_or(s.ts_ms), &batch);
            batch.clear();
        }
        batch_ts = Some(s.ts_ms);
        batch.push((s.path.clone(), s.value));
    }
    if let Some(ts) = batch_ts {
        engine.observe_values(ts, &batch);
    }
    engine.finish_day(day)
}

/// Reads the KPI tags' raw series for production day `day` from InfluxDB
/// (InfluxQL) and recomputes the day.
pub async fn fetch_and_recompute(
    client: &QueryClient,
    settings: &Kpi,
    site: &Site,
    day: Date,
) -> Result<DailyKpi, KpiError> {
    let cal = Calendar::new(
        site.timezone.clone(),
        settings.day_start,
        settings.year_start,
    );
    let (start, end) = (cal.start_ms(day)?, cal.end_ms(day)?);
    let mut samples = Vec::new();
    for path in kpi_paths(settings) {
        let Some((equipment, field)) = path.split_once('.') else {
            continue;
        };
        let tag = TagRef {
            site: &site.name,
            equipment,
            field,
        };
        let quality = client.query(&tag.quality_query(start, end)).await?;
        let bad_spans = bad_spans(&quality);
        let values = client.query(&tag.value_query(start, end)).await?;
        samples.extend(merge(&path, field, &values, &bad_spans));
    }
    tracing::info!(%day, samples = samples.len(), "KPI recompute: raw samples read");
    recompute_day(settings, site, day, &samples)
}

/// The configured input tags, each once, in the declared order.
fn kpi_paths(s: &Kpi) -> Vec<String> {
    let mut seen = HashSet::new();
    s.inputs()
        .map(|(_, path)| path.to_string())
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

struct TagRef<'a> {
    site: &'a str,
    equipment: &'a str,
    field: &'a str,
}

/// How far before the day the last value is looked for: a tag that wrote
/// nothing for a day had no value to hold into it (the historian writes at
/// least every heartbeat), and an unbounded `last()` scans every shard.
const VALUE_LOOK_MS: i64 = 86_400_000;
/// Quality is written only on change, so its state at the start may be old.
const QUALITY_LOOKBACK_MS: i64 = 7 * 86_400_000;

impl TagRef<'_> {
    /// Last sample before the day, the day's samples, first sample after.
    fn value_query(&self, start: i64, end: i64) -> String {
        let (f, m, site) = (ident(self.field), ident(self.equipment), literal(self.site));
        let (before, s, e, after) = (
            ns(start - VALUE_LOOK_MS),
            ns(start),
            ns(end),
            ns(end + VALUE_LOOK_MS),
        );
        format!(
            "SELECT last({f}) FROM {m} WHERE \"site\" = {site} AND time >= {before} AND time < {s}; \
             SELECT {f} FROM {m} WHERE \"site\" = {site} AND time >= {s} AND time < {e}; \
             SELECT first({f}) FROM {m} WHERE \"site\" = {site} AND time >= {e} AND time < {after}"
        )
    }

    /// The quality in force at the start, and every change during the day.
    fn quality_query(&self, start: i64, end: i64) -> String {
        let cond = format!(
            "\"site\" = {} AND \"equipment\" = {} AND \"tag\" = {}",
            literal(self.site),
            literal(self.equipment),
            literal(self.field)
        );
        let (before, s, e) = (ns(start - QUALITY_LOOKBACK_MS), ns(start), ns(end));
        format!(
            "SELECT last(\"code\") FROM \"tag_quality\" WHERE {cond} AND time >= {before} AND time < {s}; \
             SELECT \"code\" FROM \"tag_quality\" WHERE {cond} AND time >= {s} AND time < {e}"
        )
    }
}

/// Quality changes as `(ts, good)`, time-ordered.
fn bad_spans(series: &[Series]) -> Vec<(i64, bool)> {
    let mut changes: Vec<(i64, bool)> = Vec::new();
    for s in series {
        let (Some(ti), Some(ci)) = (
            s.column("time"),
            s.column("code").or_else(|| s.column("last")),
        ) else {
            continue;
        };
        for row in &s.values {
            let ts = row.get(ti).and_then(serde_json::Value::as_i64);
            let code = row.get(ci).and_then(serde_json::Value::as_str);
            if let (Some(ts), Some(code)) = (ts, code) {
                changes.push((ts, code == "good"));
            }
        }
    }
    changes.sort_by_key(|c| c.0);
    changes
}

/// Value samples with those inside a bad span dropped, plus one bad sample
/// at the start of each bad span.
fn merge(path: &str, field: &str, values: &[Series], quality: &[(i64, bool)]) -> Vec<RawSample> {
    let good_at = |ts: i64| match quality.partition_point(|(t, _)| *t <= ts) {
        0 => true,
        i => quality[i - 1].1,
    };
    let mut out: Vec<RawSample> = quality
        .iter()
        .filter(|(_, good)| !good)
        .map(|(ts, _)| RawSample {
            ts_ms: *ts,
            path: path.to_string(),
            value: None,
        })
        .collect();
    for s in values {
        let Some(ti) = s.column("time") else { continue };
        // Selector functions name their column after the function.
        let Some(vi) = s
            .column(field)
            .or_else(|| s.column("last"))
            .or_else(|| s.column("first"))
        else {
            continue;
        };
        for row in &s.values {
            let Some(ts) = row.get(ti).and_then(serde_json::Value::as_i64) else {
                continue;
            };
            let value = match row.get(vi) {
                Some(serde_json::Value::Number(n)) => n.as_f64(),
                Some(serde_json::Value::Bool(b)) => Some(if *b { 1.0 } else { 0.0 }),
                _ => None,
            };
            if let Some(v) = value.filter(|v| v.is_finite()) {
                if good_at(ts) {
                    out.push(RawSample {
                        ts_ms: ts,
                        path: path.to_string(),
                        value: Some(v),
                    });
                }
            }
        }
    }
    out
}

/// A double-quoted InfluxQL identifier.
fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A single-quoted InfluxQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// An epoch-nanosecond time literal (InfluxQL's default precision).
fn ns(ms: i64) -> i64 {
    ms.saturating_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn series(name: &str, columns: &[&str], values: Vec<Vec<serde_json::Value>>) -> Series {
        Series {
            name: name.into(),
            tags: Default::default(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            values,
        }
    }

    #[test]
    fn queries_quote_names_and_use_ns_epochs() {
        let t = TagRef {
            site: "cay'lloma",
            equipment: "mill \"feed\" belt",
            field: "total_t",
        };
        let q = t.value_query(1_000, 2_000);
        assert!(
            q.contains(r#"SELECT last("total_t") FROM "mill \"feed\" belt" WHERE "site" = 'cay\'lloma' AND time >= "#),
            "{q}"
        );
        assert!(q.contains("time >= 1000000000 AND time < 2000000000"));
        assert!(q.contains("SELECT first(\"total_t\")"));
        let q = t.quality_query(1_000, 2_000);
        assert!(
            q.contains(r#""tag" = 'total_t'"#) && q.contains("FROM \"tag_quality\""),
            "{q}"
        );
    }

    #[test]
    fn values_inside_a_bad_span_are_bad() {
        let quality = bad_spans(&[
            series(
                "tag_quality",
                &["time", "last"],
                vec![vec![json!(0), json!("good")]],
            ),
            series(
                "tag_quality",
                &["time", "code"],
                vec![
                    vec![json!(3_000), json!("comm_failure")],
                    vec![json!(6_000), json!("good")],
                ],
            ),
        ]);
        assert_eq!(quality, vec![(0, true), (3_000, false), (6_000, true)]);
        let values = [
            series("b", &["time", "last"], vec![vec![json!(500), json!(10.0)]]),
            series(
                "b",
                &["time", "total_t"],
                vec![
                    vec![json!(1_000), json!(10.5)],
                    vec![json!(4_000), json!(11.0)],
                    vec![json!(6_000), json!(12)],
                    vec![json!(7_000), json!(null)],
                ],
            ),
        ];
        let got = merge("b.total_t", "total_t", &values, &quality);
        let v: Vec<(i64, Option<f64>)> = got.iter().map(|s| (s.ts_ms, s.value)).collect();
        assert_eq!(
            v,
            vec![
                (3_000, None),
                (500, Some(10.0)),
                (1_000, Some(10.5)),
                (6_000, Some(12.0))
            ]
        );
    }
}
