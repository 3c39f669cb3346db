//! Reads one production day back from InfluxDB into a [`ReportData`]: the
//! closed day's `kpi_daily` row (or the latest `kpi` row of a day still
//! open), hourly tonnage from the `kpi` interval rows, `kpi_reconciled`,
//! the pace, the mill's stops from its power tag and the data quality from
//! `plc_status` and `tag_quality`.
use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::Value;

use super::mill::{mill_states, MillState, Stop, POWER_HOLD_MS};
use super::ReportError;
use crate::config::{Kpi, Site};
use crate::kpi::day::Calendar;
use crate::sink::influxdb::query::{QueryClient, Series};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Days behind the pace when `ag_oz_pace_year` is not stored (DESIGN §10).
const PACE_DAYS: usize = 7;

/// Whether the day is over and closed by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayStatus {
    /// A `kpi_daily` row exists: the figures are final.
    Closed,
    /// No `kpi_daily` row yet, but `kpi` rows: figures so far, as of `as_of_ms`.
    Open { as_of_ms: i64 },
    /// Nothing stored for the day.
    NoData,
}

/// The KPI fields of one `kpi_daily` (or `kpi`) row; `None` = not stored,
/// i.e. not known (the engine leaves out what it has no good data for).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub ore_dry_t: Option<f64>,
    pub ore_wet_t: Option<f64>,
    pub throughput_tph: Option<f64>,
    pub projected_day_t: Option<f64>,
    pub mill_availability_pct: Option<f64>,
    pub ag_head_gpt: Option<f64>,
    pub ag_recovery_pct: Option<f64>,
    pub recovery_method: Option<String>,
    pub ag_oz: Option<f64>,
    pub ag_oz_ytd: Option<f64>,
    pub ag_projected_oz_year: Option<f64>,
    pub ag_oz_pace_year: Option<f64>,
    pub good_data_pct: Option<f64>,
    pub totaliser_resets: Option<f64>,
}

/// The day's `kpi_reconciled` row (DESIGN §10, `[kpi.reconcile]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciled {
    pub ag_recovery_pct: Option<f64>,
    pub ag_recovery_ci95_pp: Option<f64>,
    pub ag_oz: Option<f64>,
    pub ag_oz_ci95: Option<f64>,
    pub chi2: Option<f64>,
    pub dof: Option<f64>,
    pub p_value: Option<f64>,
    pub gross_error: Option<String>,
}

/// Where the pace figure came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Pace {
    /// `ag_oz_pace_year` as the engine stored it.
    Stored(f64),
    /// Mean `kpi_daily` ounces of the closed `days` (day, oz) × 365.
    FromDaily {
        oz_year: f64,
        days: Vec<(String, f64)>,
    },
    Unknown,
}

/// Scan outcomes of one PLC over the day.
#[derive(Debug, Clone, PartialEq)]
pub struct PlcQuality {
    pub plc: String,
    pub scans: u64,
    pub connected: u64,
    pub bad_quality_events: u64,
}

#[derive(Debug, Clone)]
pub struct ReportData {
    pub site: String,
    pub day: Date,
    pub tz: TimeZone,
    pub start_ms: i64,
    pub end_ms: i64,
    pub target_tpd: f64,
    pub target_oz_year: f64,
    pub status: DayStatus,
    pub figures: Figures,
    /// Dry tonnes milled in each hour of the day; `None` for an hour with
    /// no `kpi` row.
    pub hourly_t: Vec<Option<f64>>,
    pub reconciled: Option<Reconciled>,
    pub pace: Pace,
    pub mill: Vec<(i64, i64, MillState)>,
    pub stops: Vec<Stop>,
    pub plcs: Vec<PlcQuality>,
}

impl ReportData {
    /// No good assay all day: the figures that need one are unknown.
    pub fn analyser_down(&self) -> bool {
        self.status != DayStatus::NoData
            && self.figures.ag_head_gpt.is_none()
            && self.figures.ag_recovery_pct.is_none()
    }
}

/// Reads production day `day` from InfluxDB.
pub async fn gather(
    client: &QueryClient,
    kpi: &Kpi,
    site: &Site,
    day: Date,
) -> Result<ReportData, ReportError> {
    let cal = Calendar::new(site.timezone.clone(), kpi.day_start, kpi.year_start);
    let (start, end) = (cal.start_ms(day)?, cal.end_ms(day)?);
    let q = Q {
        site: literal(&site.name),
        day: literal(&day.to_string()),
        start,
        end,
    };

    let daily = last_row(&client.query(&q.daily()).await?);
    let (status, figures) = match daily {
        Some((_, row)) => (DayStatus::Closed, figures(&row)),
        None => match last_row(&client.query(&q.latest_interval()).await?) {
            Some((ts, row)) => (DayStatus::Open { as_of_ms: ts }, figures(&row)),
            None => (DayStatus::NoData, Figures::default()),
        },
    };
    let hourly_t = hourly(&client.query(&q.interval_tonnes()).await?, start, end);
    let reconciled = last_row(&client.query(&q.reconciled()).await?).map(|(_, r)| reconciled(&r));
    let pace = match figures.ag_oz_pace_year {
        Some(p) => Pace::Stored(p),
        None if status == DayStatus::Closed => {
            pace_from_daily(&client.query(&q.recent_daily_oz()).await?)
        }
        None => Pace::Unknown,
    };
    let (mill, stops) = match &kpi.mill_power {
        Some(path) => match path.split_once('.') {
            Some((equipment, field)) => {
                let s = client.query(&q.power(equipment, field)).await?;
                mill_states(&samples(&s), start, end, kpi.mill_running_kw)
            }
            None => (Vec::new(), Vec::new()),
        },
        None => (Vec::new(), Vec::new()),
    };
    let plcs = plc_quality(&client.query(&q.plc_quality()).await?);
    Ok(ReportData {
        site: site.name.to_string(),
        day,
        tz: site.timezone.clone(),
        start_ms: start,
        end_ms: end,
        target_tpd: kpi.target_tpd,
        target_oz_year: kpi.target_oz_year,
        status,
        figures,
        hourly_t,
        reconciled,
        pace,
        mill,
        stops,
        plcs,
    })
}

/// The newest production day with a `kpi_daily` row: `GET /report`'s default.
pub async fn last_closed_day(
    client: &QueryClient,
    kpi: &Kpi,
    site: &Site,
) -> Result<Date, ReportError> {
    let q = format!(
        "SELECT last(\"ore_wet_t\") FROM \"kpi_daily\" WHERE \"site\" = {}",
        literal(&site.name)
    );
    let series = client.query(&q).await?;
    let ts = series
        .first()
        .and_then(|s| Some((s, s.column("time")?)))
        .and_then(|(s, i)| s.values.first()?.get(i)?.as_i64())
        .ok_or_else(|| ReportError::NoClosedDay {
            site: site.name.to_string(),
        })?;
    let cal = Calendar::new(site.timezone.clone(), kpi.day_start, kpi.year_start);
    Ok(cal.day_of(ts)?)
}

/// The day's queries; `site` and `day` are quoted InfluxQL literals.
struct Q {
    site: String,
    day: String,
    start: i64,
    end: i64,
}

impl Q {
    fn daily(&self) -> String {
        format!(
            "SELECT * FROM \"kpi_daily\" WHERE \"site\" = {} AND \"day\" = {}",
            self.site, self.day
        )
    }

    fn latest_interval(&self) -> String {
        format!(
            "SELECT * FROM \"kpi\" WHERE \"site\" = {} AND \"day\" = {} AND time >= {} AND time <= {} ORDER BY time DESC LIMIT 1",
            self.site,
            self.day,
            ns(self.start - HOUR_MS),
            ns(self.end + HOUR_MS)
        )
    }

    fn interval_tonnes(&self) -> String {
        format!(
            "SELECT \"ore_dry_t\" FROM \"kpi\" WHERE \"site\" = {} AND \"day\" = {} AND time >= {} AND time <= {}",
            self.site,
            self.day,
            ns(self.start - HOUR_MS),
            ns(self.end + HOUR_MS)
        )
    }

    fn reconciled(&self) -> String {
        format!(
            "SELECT * FROM \"kpi_reconciled\" WHERE \"site\" = {} AND \"day\" = {}",
            self.site, self.day
        )
    }

    /// `kpi_daily` rows are stamped with their day's start.
    fn recent_daily_oz(&self) -> String {
        format!(
            "SELECT \"ag_oz\", \"day\" FROM \"kpi_daily\" WHERE \"site\" = {} AND time > {} AND time <= {}",
            self.site,
            ns(self.start - (PACE_DAYS as i64) * DAY_MS),
            ns(self.start)
        )
    }

    fn power(&self, equipment: &str, field: &str) -> String {
        let (f, m) = (ident(field), ident(equipment));
        format!(
            "SELECT last({f}) FROM {m} WHERE \"site\" = {s} AND time >= {b} AND time < {st}; \
             SELECT {f} FROM {m} WHERE \"site\" = {s} AND time >= {st} AND time < {e}; \
             SELECT first({f}) FROM {m} WHERE \"site\" = {s} AND time >= {e} AND time < {a}",
            s = self.site,
            b = ns(self.start - POWER_HOLD_MS),
            st = ns(self.start),
            e = ns(self.end),
            a = ns(self.end + POWER_HOLD_MS),
        )
    }

    fn plc_quality(&self) -> String {
        let range = format!(
            "\"site\" = {} AND time >= {} AND time < {}",
            self.site,
            ns(self.start),
            ns(self.end)
        );
        format!(
            "SELECT count(\"connected\") AS \"scans\" FROM \"plc_status\" WHERE {range} GROUP BY \"plc\"; \
             SELECT count(\"connected\") AS \"connected\" FROM \"plc_status\" WHERE {range} AND \"connected\" = true GROUP BY \"plc\"; \
             SELECT count(\"code\") AS \"bad\" FROM \"tag_quality\" WHERE {range} AND \"code\" != 'good' GROUP BY \"plc\""
        )
    }
}

fn ns(ms: i64) -> String {
    format!("{}", i128::from(ms) * 1_000_000)
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The newest row of all series, as column → value.
fn last_row(series: &[Series]) -> Option<(i64, BTreeMap<String, Value>)> {
    let mut best: Option<(i64, BTreeMap<String, Value>)> = None;
    for s in series {
        let Some(ti) = s.column("time") else { continue };
        for row in &s.values {
            let Some(ts) = row.get(ti).and_then(Value::as_i64) else {
                continue;
            };
            if best.as_ref().is_some_and(|(b, _)| *b > ts) {
                continue;
            }
            let map = s
                .columns
                .iter()
                .zip(row)
                .filter(|(_, v)| !v.is_null())
                .map(|(c, v)| (c.clone(), v.clone()))
                .collect();
            best = Some((ts, map));
        }
    }
    best
}

fn num(row: &BTreeMap<String, Value>, key: &str) -> Option<f64> {
    row.get(key)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
}

fn text(row: &BTreeMap<String, Value>, key: &str) -> Option<String> {
    row.get(key).and_then(Value::as_str).map(str::to_string)
}

fn figures(row: &BTreeMap<String, Value>) -> Figures {
    Figures {
        ore_dry_t: num(row, "ore_dry_t"),
        ore_wet_t: num(row, "ore_wet_t"),
        throughput_tph: num(row, "throughput_tph"),
        projected_day_t: num(row, "projected_day_t"),
        mill_availability_pct: num(row, "mill_availability_pct"),
        ag_head_gpt: num(row, "ag_head_gpt"),
        ag_recovery_pct: num(row, "ag_recovery_pct"),
        recovery_method: text(row, "recovery_method"),
        ag_oz: num(row, "ag_oz"),
        ag_oz_ytd: num(row, "ag_oz_ytd"),
        ag_projected_oz_year: num(row, "ag_projected_oz_year"),
        ag_oz_pace_year: num(row, "ag_oz_pace_year"),
        good_data_pct: num(row, "good_data_pct"),
        totaliser_resets: num(row, "totaliser_resets"),
    }
}

fn reconciled(row: &BTreeMap<String, Value>) -> Reconciled {
    Reconciled {
        ag_recovery_pct: num(row, "ag_recovery_pct"),
        ag_recovery_ci95_pp: num(row, "ag_recovery_ci95_pp"),
        ag_oz: num(row, "ag_oz"),
        ag_oz_ci95: num(row, "ag_oz_ci95"),
        chi2: num(row, "chi2"),
        dof: num(row, "dof"),
        p_value: num(row, "p_value"),
        gross_error: text(row, "gross_error").filter(|g| !g.is_empty()),
    }
}

/// `(ts, value)` of every row of every series, time-ordered. Selector
/// functions name their value column after the function.
fn samples(series: &[Series]) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    for s in series {
        let Some(ti) = s.column("time") else { continue };
        let vi = s.columns.iter().position(|c| c != "time");
        let Some(vi) = vi else { continue };
        for row in &s.values {
            let ts = row.get(ti).and_then(Value::as_i64);
            let v = row.get(vi).and_then(Value::as_f64);
            if let (Some(ts), Some(v)) = (ts, v) {
                out.push((ts, v));
            }
        }
    }
    out.sort_by_key(|s| s.0);
    out
}

/// Tonnes per hour from the day's cumulative `ore_dry_t`: the total at
/// each hour boundary, interpolated between the rows either side (rows
/// come every scan, not on the hour), minus the total at the hour before.
/// An hour without a row is `None`; the last hour with rows of a day
/// still open ends at its last row.
fn hourly(series: &[Series], start: i64, end: i64) -> Vec<Option<f64>> {
    let hours = usize::try_from((end - start + HOUR_MS - 1) / HOUR_MS).unwrap_or(24);
    let mut rows = vec![(start, 0.0)];
    rows.extend(samples(series).into_iter().filter(|r| r.0 > start));
    let at = |b: i64| -> Option<f64> {
        let i = rows.partition_point(|r| r.0 < b);
        match (i.checked_sub(1).and_then(|p| rows.get(p)), rows.get(i)) {
            (_, Some(&(t, v))) if t == b => Some(v),
            (Some(&(t0, v0)), Some(&(t1, v1))) => {
                Some(v0 + (v1 - v0) * (b - t0) as f64 / (t1 - t0) as f64)
            }
            // Past the last row: a day still open, or the close.
            (Some(&(t0, v0)), None) if b - t0 < HOUR_MS => Some(v0),
            _ => None,
        }
    };
    (0..hours as i64)
        .map(|h| {
            let (b0, b1) = (start + h * HOUR_MS, (start + (h + 1) * HOUR_MS).min(end));
            let has_rows = rows.iter().any(|r| r.0 > b0 && r.0 <= b1);
            if !has_rows {
                return None;
            }
            Some((at(b1)? - at(b0)?).max(0.0))
        })
        .collect()
}

/// Named by day, so the page shows what the mean is of (a partial first
/// day of a new gateway drags the pace down, visibly).
fn pace_from_daily(series: &[Series]) -> Pace {
    let mut rows: Vec<(i64, String, f64)> = Vec::new();
    for s in series {
        let (Some(ti), Some(oi)) = (s.column("time"), s.column("ag_oz")) else {
            continue;
        };
        let di = s.column("day");
        for r in &s.values {
            let ts = r.get(ti).and_then(Value::as_i64);
            let oz = r.get(oi).and_then(Value::as_f64);
            let day = di.and_then(|i| r.get(i)).and_then(Value::as_str);
            if let (Some(ts), Some(oz)) = (ts, oz) {
                rows.push((ts, day.unwrap_or("?").to_string(), oz));
            }
        }
    }
    rows.sort_by_key(|r| r.0);
    let recent = &rows[rows.len().saturating_sub(PACE_DAYS)..];
    if recent.is_empty() {
        return Pace::Unknown;
    }
    let mean = recent.iter().map(|r| r.2).sum::<f64>() / recent.len() as f64;
    Pace::FromDaily {
        oz_year: mean * 365.0,
        days: recent.iter().map(|r| (r.1.clone(), r.2)).collect(),
    }
}

fn plc_quality(series: &[Series]) -> Vec<PlcQuality> {
    let mut by_plc: BTreeMap<String, PlcQuality> = BTreeMap::new();
    for s in series {
        let Some(plc) = s.tags.get("plc") else {
            continue;
        };
        let entry = by_plc.entry(plc.clone()).or_insert_with(|| PlcQuality {
            plc: plc.clone(),
            scans: 0,
            connected: 0,
            bad_quality_events: 0,
        });
        for (col, slot) in [
            ("scans", &mut entry.scans),
            ("connected", &mut entry.connected),
            ("bad", &mut entry.bad_quality_events),
        ] {
            if let Some(i) = s.column(col) {
                *slot += s
                    .values
                    .iter()
                    .filter_map(|r| r.get(i).and_then(Value::as_u64))
                    .sum::<u64>();
            }
        }
    }
    by_plc.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    #[test]
    fn hourly_tonnes_are_deltas_of_the_cumulative_day_total() {
        let series = Series {
            name: "kpi".into(),
            tags: BTreeMap::new(),
            columns: vec!["time".into(), "ore_dry_t".into()],
            values: vec![
                vec![Value::from(30 * M), Value::from(14.5)],
                // 08:00 falls between these: 26.1 + 5.8 × 6/12 = 29.0
                vec![Value::from(54 * M), Value::from(26.1)],
                vec![Value::from(66 * M), Value::from(31.9)],
                vec![Value::from(2 * HOUR_MS), Value::from(58.0)],
                // hour 2 silent: no bar; hour 3 gets its share only
                vec![Value::from(4 * HOUR_MS), Value::from(116.0)],
                // an open day: the hour in progress so far
                vec![Value::from(4 * HOUR_MS + 20 * M), Value::from(126.0)],
            ],
        };
        let h = hourly(&[series], 0, 24 * HOUR_MS);
        assert_eq!(h.len(), 24);
        let want = [Some(29.0), Some(29.0), None, Some(29.0), Some(10.0)];
        for (i, (got, want)) in h.iter().zip(want).enumerate() {
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "hour {i}: {g} ≠ {w}"),
                _ => assert_eq!(*got, want, "hour {i}"),
            }
        }
        assert!(h[5..].iter().all(Option::is_none), "{h:?}");
    }

    #[test]
    fn pace_is_the_mean_of_the_last_seven_days() {
        let series = Series {
            name: "kpi_daily".into(),
            tags: BTreeMap::new(),
            columns: vec!["time".into(), "ag_oz".into(), "day".into()],
            values: (0..9)
                .map(|i| {
                    vec![
                        Value::from(i * DAY_MS),
                        Value::from(if i < 2 { 0.0 } else { 5000.0 }),
                        Value::from(format!("2026-03-{:02}", i + 1)),
                    ]
                })
                .collect(),
        };
        let Pace::FromDaily { oz_year, days } = pace_from_daily(&[series]) else {
            panic!("no pace")
        };
        assert_eq!(oz_year, 5000.0 * 365.0);
        assert_eq!(days.len(), 7);
        assert_eq!(days[0], ("2026-03-03".to_string(), 5000.0));
        assert_eq!(pace_from_daily(&[]), Pace::Unknown);
    }
}
