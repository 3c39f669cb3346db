//! What the engine reports: one set of KPI values, turned into `kpi` /
//! `kpi_daily` points (DESIGN §5), a CLI table, and Prometheus gauges.
use std::fmt::Write as _;

use jiff::civil::Date;
use serde::Serialize;

use super::date_serde::date_format;
use super::reconcile::Reconciled;
use super::recovery::RecoveryMethod;
use crate::sink::influxdb::encoder::{FieldValue, Point};

pub const KPI_MEASUREMENT: &str = "kpi";
pub const DAILY_MEASUREMENT: &str = "kpi_daily";

/// KPI values for one production day, at one instant. `None` means "not
/// known" (no good data behind it) and the field is left out of the point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiValues {
    pub ore_wet_t: f64,
    pub ore_dry_t: Option<f64>,
    pub throughput_tph: Option<f64>,
    pub projected_day_t: Option<f64>,
    pub target_tpd: f64,
    pub mill_availability_pct: Option<f64>,
    pub ag_head_gpt: Option<f64>,
    pub ag_recovery_pct: Option<f64>,
    pub recovery_method: Option<RecoveryMethod>,
    pub ag_oz: Option<f64>,
    pub ag_oz_ytd: Option<f64>,
    pub ag_projected_oz_year: Option<f64>,
    /// Mean ounces of the last (up to 7) closed days × 365; today's
    /// projected day × 365 while none has closed (DESIGN §10).
    pub ag_oz_pace_year: Option<f64>,
    pub target_oz_year: f64,
    pub good_data_pct: f64,
    pub totaliser_resets: u32,
}

impl KpiValues {
    /// Point fields in a fixed order; unknown and non-finite values omitted.
    pub fn fields(&self) -> Vec<(String, FieldValue)> {
        let mut out = Vec::with_capacity(16);
        for (k, v) in self.numbers() {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                out.push((k.to_string(), FieldValue::Float(v)));
            }
        }
        if let Some(m) = self.recovery_method {
            out.push(("recovery_method".into(), FieldValue::Str(m.as_str().into())));
        }
        out.push((
            "totaliser_resets".into(),
            FieldValue::Int(i64::from(self.totaliser_resets)),
        ));
        out
    }

    fn numbers(&self) -> [(&'static str, Option<f64>); 14] {
        [
            ("ore_dry_t", self.ore_dry_t),
            ("ore_wet_t", Some(self.ore_wet_t)),
            ("throughput_tph", self.throughput_tph),
            ("projected_day_t", self.projected_day_t),
            ("target_tpd", Some(self.target_tpd)),
            ("mill_availability_pct", self.mill_availability_pct),
            ("ag_head_gpt", self.ag_head_gpt),
            ("ag_recovery_pct", self.ag_recovery_pct),
            ("ag_oz", self.ag_oz),
            ("ag_oz_ytd", self.ag_oz_ytd),
            ("ag_projected_oz_year", self.ag_projected_oz_year),
            ("ag_oz_pace_year", self.ag_oz_pace_year),
            ("target_oz_year", Some(self.target_oz_year)),
            ("good_data_pct", Some(self.good_data_pct)),
        ]
    }

    /// Sets the `plantgw_kpi_*` gauges (unknown values are left as they were).
    pub fn set_gauges(&self) {
        for (k, v) in self.numbers() {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                metrics::gauge!(format!("plantgw_kpi_{k}")).set(v);
            }
        }
        metrics::gauge!("plantgw_kpi_totaliser_resets").set(f64::from(self.totaliser_resets));
    }

    fn point(&self, measurement: &str, site: &str, day: Date, ts_ms: i64) -> Point {
        Point {
            measurement: measurement.into(),
            tags: vec![
                ("site".into(), site.into()),
                ("day".into(), day.to_string()),
            ],
            fields: self.fields(),
            ts_ms,
        }
    }
}

/// The final KPIs of one closed production day.
///
/// Its `kpi_daily` point is stamped with the day's **start** instant (07:00
/// local for `day_start = 07:00`): the row then sits on the day it
/// describes in Grafana's time axis, and a recompute of the same day
/// (`plantgw kpi --write`) lands on the same timestamp and tags, so InfluxDB
/// overwrites the row instead of adding a second one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyKpi {
    #[serde(with = "date_format")]
    pub day: Date,
    pub start_ms: i64,
    pub end_ms: i64,
    #[serde(flatten)]
    pub kpi: KpiValues,
    /// The reconciled balance, with `[kpi.reconcile]` and a solvable day.
    pub reconciled: Option<Reconciled>,
}

impl DailyKpi {
    /// `kpi_daily`, and `kpi_reconciled` when reconciled; both stamped
    /// with the day's start.
    pub fn to_points(&self, site: &str) -> Vec<Point> {
        let mut out = vec![self
            .kpi
            .point(DAILY_MEASUREMENT, site, self.day, self.start_ms)];
        if let Some(r) = &self.reconciled {
            out.push(r.to_point(site, self.day, self.start_ms));
        }
        out
    }

    /// A two-column table for the terminal.
    pub fn table(&self) -> String {
        let k = &self.kpi;
        let rows: [(&str, String); 17] = [
            ("production day", self.day.to_string()),
            ("ore dry", num(k.ore_dry_t, 1, "t")),
            ("ore wet", num(Some(k.ore_wet_t), 1, "t")),
            ("throughput (day mean)", num(k.throughput_tph, 2, "t/h")),
            ("target", num(Some(k.target_tpd), 0, "t/d")),
            (
                "vs target",
                num(k.ore_dry_t.map(|t| 100.0 * t / k.target_tpd), 1, "%"),
            ),
            ("mill availability", num(k.mill_availability_pct, 1, "%")),
            ("Ag head grade", num(k.ag_head_gpt, 1, "g/t")),
            ("Ag recovery (Pb conc)", num(k.ag_recovery_pct, 2, "%")),
            (
                "recovery method",
                k.recovery_method.map_or("–".into(), |m| m.as_str().into()),
            ),
            ("Ag recovered", num(k.ag_oz, 0, "oz")),
            ("Ag year to date", num(k.ag_oz_ytd, 0, "oz")),
            ("Ag projected year", num(k.ag_projected_oz_year, 0, "oz")),
            ("Ag pace (7-day × 365)", num(k.ag_oz_pace_year, 0, "oz")),
            ("target year", num(Some(k.target_oz_year), 0, "oz")),
            ("good data", num(Some(k.good_data_pct), 1, "%")),
            ("totaliser resets", k.totaliser_resets.to_string()),
        ];
        let width = rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (label, value) in rows {
            let _ = writeln!(out, "{label:<width$}  {value:>14}");
        }
        if let Some(r) = &self.reconciled {
            out.push_str(&r.table());
        }
        out
    }
}

fn num(v: Option<f64>, decimals: usize, unit: &str) -> String {
    match v.filter(|v| v.is_finite()) {
        Some(v) => format!("{v:.decimals$} {unit}"),
        None => "–".into(),
    }
}

/// The engine's latest `kpi` row, for the live terminal summary and
/// `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiSnapshot {
    #[serde(with = "date_format")]
    pub day: Date,
    pub ts_ms: i64,
    #[serde(flatten)]
    pub kpi: KpiValues,
}

impl KpiSnapshot {
    pub fn to_point(&self, site: &str) -> Point {
        self.kpi.point(KPI_MEASUREMENT, site, self.day, self.ts_ms)
    }

    /// One line for the demo's live display.
    pub fn summary(&self) -> String {
        let k = &self.kpi;
        format!(
            "{day}  dry {dry} ({pct} of {tpd:.0} t/d)  {tph} (last h)  proj {proj}  avail {avail}  Ag rec {rec}  {oz} today  pace {pace}/yr ({pace_pct} of {target})  {ytd} ytd",
            day = self.day,
            dry = num(k.ore_dry_t, 1, "t"),
            pct = num(k.ore_dry_t.map(|t| 100.0 * t / k.target_tpd), 0, "%"),
            tpd = k.target_tpd,
            tph = num(k.throughput_tph, 1, "t/h"),
            proj = num(k.projected_day_t, 0, "t"),
            avail = num(k.mill_availability_pct, 1, "%"),
            rec = num(k.ag_recovery_pct, 1, "%"),
            oz = num(k.ag_oz, 0, "oz"),
            ytd = num(k.ag_oz_ytd, 0, "oz"),
            pace = num(k.ag_oz_pace_year.map(|p| p / 1e6), 2, "Moz"),
            pace_pct = num(
                k.ag_oz_pace_year.map(|p| 100.0 * p / k.target_oz_year),
                0,
                "%"
            ),
            target = num(Some(k.target_oz_year / 1e6), 1, "Moz"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn values() -> KpiValues {
        KpiValues {
            ore_wet_t: 720.0,
            ore_dry_t: Some(691.2),
            throughput_tph: Some(28.8),
            projected_day_t: Some(691.2),
            target_tpd: 700.0,
            mill_availability_pct: Some(95.0),
            ag_head_gpt: Some(250.0),
            ag_recovery_pct: None,
            recovery_method: Some(RecoveryMethod::TwoProduct),
            ag_oz: Some(f64::NAN),
            ag_oz_ytd: None,
            ag_projected_oz_year: None,
            ag_oz_pace_year: Some(1_850_000.0),
            target_oz_year: 1_900_000.0,
            good_data_pct: 99.5,
            totaliser_resets: 1,
        }
    }

    #[test]
    fn daily_point_is_stamped_with_the_day_start_and_skips_unknowns() {
        let d = DailyKpi {
            day: date(2026, 3, 1),
            start_ms: 1_772_366_400_000,
            end_ms: 1_772_452_800_000,
            kpi: values(),
            reconciled: None,
        };
        let p = &d.to_points("caylloma")[0];
        assert_eq!(p.measurement, "kpi_daily");
        assert_eq!(p.ts_ms, 1_772_366_400_000);
        assert_eq!(
            p.tags,
            vec![
                ("site".into(), "caylloma".into()),
                ("day".into(), "2026-03-01".into())
            ]
        );
        let keys: Vec<&str> = p.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"ore_dry_t") && keys.contains(&"target_oz_year"));
        assert!(!keys.contains(&"ag_oz"), "NaN is never written");
        assert!(!keys.contains(&"ag_recovery_pct"));
        assert!(p.fields.contains(&(
            "recovery_method".into(),
            FieldValue::Str("two_product".into())
        )));
        assert!(p
            .fields
            .contains(&("totaliser_resets".into(), FieldValue::Int(1))));
        assert_eq!(keys.iter().filter(|k| **k == "totaliser_resets").count(), 1);
    }

    #[test]
    fn table_lists_every_kpi() {
        let d = DailyKpi {
            day: date(2026, 3, 1),
            start_ms: 0,
            end_ms: 0,
            kpi: values(),
            reconciled: None,
        };
        let t = d.table();
        assert!(t.contains("2026-03-01"));
        assert!(t.contains("691.2 t"));
        assert!(t.contains("98.7 %"), "{t}");
        assert!(t.contains("two_product"));
        assert!(t.contains("1850000 oz"), "{t}");
        assert_eq!(t.lines().count(), 17);
    }
}
