//! The reconciled day against the simulator's ground truth: a whole
//! production day of the deterministic plant (no Modbus, no wall clock)
//! through the KPI engine with the shipped `[kpi]` configuration, under
//! the `analyser_fault` scenario (results frozen for an hour, then out of
//! range for two, so the composites lose three hours of assays).
use std::path::Path;

use jiff::civil::{date, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use plantsim::map::PlantMap;
use plantsim::registers::Value;
use plantsim::sim::{CoreOptions, SimCore};
use plantsim::truth::DayCalendar;
use plantsim::{PeriodKind, Scenario};

use plantgw::config::{self, KpiInput};
use plantgw::kpi::KpiEngine;
use plantgw::sink::influxdb::encoder::{FieldValue, Point};

/// Plant seconds between the engine's scans.
const SCAN_S: i64 = 10;

fn field(p: &Point, key: &str) -> Option<f64> {
    p.fields
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| match v {
            FieldValue::Float(f) => Some(*f),
            FieldValue::Int(i) => Some(*i as f64),
            _ => None,
        })
}

fn text<'a>(p: &'a Point, key: &str) -> Option<&'a str> {
    p.fields
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| match v {
            FieldValue::Str(s) => Some(s.as_str()),
            _ => None,
        })
}

struct Run {
    points: Vec<Point>,
    biased: Vec<Point>,
    truth_recovery_pct: f64,
    truth_oz: f64,
    truth_mass_pct: [f64; 2],
}

/// One day, 2026-03-02, through two engines: one fed what the analyser
/// says, one whose tail-Ag reading drifts to 2.5× from the start.
fn run_day() -> Run {
    let settings =
        config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/caylloma.toml")).unwrap();
    let kpi = settings.kpi.clone().unwrap();
    assert!(kpi.reconcile.is_some(), "the shipped config reconciles");
    let mut engine = KpiEngine::new(&kpi, &settings.site, None);
    let mut biased = KpiEngine::new(&kpi, &settings.site, None);
    let map = PlantMap::caylloma();
    let tz = TimeZone::get("America/Lima").unwrap();
    let start: Timestamp = "2026-03-02T06:50:00-05:00".parse().unwrap();
    let end: Timestamp = "2026-03-03T07:05:00-05:00".parse().unwrap();
    let mut sim = SimCore::new(
        CoreOptions {
            start,
            seed: 7,
            scenario: Scenario::builtin("analyser_fault").unwrap(),
            calendar: DayCalendar::new(tz, Time::constant(7, 0, 0, 0)),
        },
        &map,
    );
    // Where each KPI input lives in the map.
    let inputs: Vec<(KpiInput, String, usize, usize)> = kpi
        .inputs()
        .map(|(spec, path)| {
            let (p, t) = map
                .plcs
                .iter()
                .enumerate()
                .find_map(|(p, plc)| {
                    plc.tags
                        .iter()
                        .position(|t| t.key() == path)
                        .map(|t| (p, t))
                })
                .unwrap_or_else(|| panic!("{path} not served"));
            (spec.input, path.to_string(), p, t)
        })
        .collect();
    let (mut points, mut biased_points, mut truth) = (Vec::new(), Vec::new(), None);
    while sim.plant_time() < end {
        sim.run_until(
            sim.plant_time() + jiff::SignedDuration::from_secs(SCAN_S),
            SCAN_S as u64,
        );
        let ts_ms = sim.plant_time().as_millisecond();
        let mut readings = Vec::new();
        for (input, path, p, t) in &inputs {
            let spec = &map.plcs[*p].tags[*t];
            // As the gateway would: a value outside the tag's range is bad.
            let v = match sim.value(*p, *t, spec) {
                Value::Number(v) | Value::Counter(v) => Some(v),
                _ => None,
            }
            .filter(|v| spec.min.is_none_or(|m| *v >= m) && spec.max.is_none_or(|m| *v <= m));
            readings.push((*input, path.clone(), v));
        }
        let plain: Vec<(String, Option<f64>)> =
            readings.iter().map(|(_, p, v)| (p.clone(), *v)).collect();
        let drifted: Vec<(String, Option<f64>)> = readings
            .iter()
            .map(|(i, p, v)| {
                (
                    p.clone(),
                    if *i == KpiInput::TailAg {
                        v.map(|v| 2.5 * v)
                    } else {
                        *v
                    },
                )
            })
            .collect();
        engine.observe_values(ts_ms, &plain);
        points.extend(engine.tick(ts_ms));
        biased.observe_values(ts_ms, &drifted);
        biased_points.extend(biased.tick(ts_ms));
        for period in sim.drain_closed() {
            if period.kind == PeriodKind::Day && period.day == date(2026, 3, 2) {
                truth = Some(period);
            }
        }
    }
    let truth = truth.expect("the simulator closed 2026-03-02");
    assert!(truth.complete);
    Run {
        points,
        biased: biased_points,
        truth_recovery_pct: truth.ag_recovery_pct,
        truth_oz: truth.ag_oz,
        truth_mass_pct: [truth.conc_mass_pct, truth.zn_conc_mass_pct],
    }
}

fn of_day<'a>(points: &'a [Point], measurement: &str) -> &'a Point {
    points
        .iter()
        .find(|p| {
            p.measurement == measurement
                && p.tags
                    .contains(&("day".to_string(), "2026-03-02".to_string()))
        })
        .unwrap_or_else(|| panic!("no {measurement} row for 2026-03-02"))
}

#[test]
fn analyser_fault_day_reconciles_to_the_ground_truth_and_a_drifting_tail_assay_is_flagged() {
    let run = run_day();
    let daily = of_day(&run.points, "kpi_daily");
    let rec = of_day(&run.points, "kpi_reconciled");
    let raw_r = field(daily, "ag_recovery_pct").unwrap();
    let r = field(rec, "ag_recovery_pct").unwrap();
    let ci = field(rec, "ag_recovery_ci95_pp").unwrap();
    let oz = field(rec, "ag_oz").unwrap();
    let oz_ci = field(rec, "ag_oz_ci95").unwrap();
    let chi2 = field(rec, "chi2").unwrap();
    let p = field(rec, "p_value").unwrap();
    eprintln!(
        "analyser_fault day: truth R {:.3} % {:.0} oz | raw three-product R {raw_r:.3} % {:.0} oz | \
         reconciled R {r:.3} ± {ci:.2} pp, {oz:.0} ± {oz_ci:.0} oz, χ² {chi2:.4}, p {p:.4}, \
         Pb conc {:.3} % (truth {:.3}), Zn conc {:.3} % (truth {:.3})",
        run.truth_recovery_pct,
        run.truth_oz,
        field(daily, "ag_oz").unwrap(),
        field(rec, "conc_mass_pct").unwrap(),
        run.truth_mass_pct[0],
        field(rec, "zn_conc_mass_pct").unwrap(),
        run.truth_mass_pct[1],
    );
    // The analyser's own results balance (the frozen hour is stale but
    // self-consistent, the out-of-range hours are left out): no alarm.
    assert!(p > 0.05, "p {p}");
    assert_eq!(text(rec, "gross_error"), Some(""));
    // Truth lies inside the reconciled 95 % intervals.
    assert!(
        (r - run.truth_recovery_pct).abs() <= ci,
        "{r} ± {ci} vs {}",
        run.truth_recovery_pct
    );
    assert!(
        (oz - run.truth_oz).abs() <= oz_ci,
        "{oz} ± {oz_ci} vs {}",
        run.truth_oz
    );
    // And the interval is informative, not a blanket.
    assert!(ci < 5.0, "± {ci} pp");
    // The mass pulls it solved for are the concentrate the plant made.
    for (key, truth) in ["conc_mass_pct", "zn_conc_mass_pct"]
        .iter()
        .zip(run.truth_mass_pct)
    {
        let est = field(rec, key).unwrap();
        assert!(
            (est - truth).abs() < 0.02 * truth,
            "{key} {est} vs truth {truth}"
        );
    }

    let bad = of_day(&run.biased, "kpi_reconciled");
    let p_bad = field(bad, "p_value").unwrap();
    let named = text(bad, "gross_error").unwrap_or_default();
    eprintln!(
        "tail Ag read 2.5×: χ² {:.2}, p {p_bad:.4}, gross_error {named:?}, adj_tail_ag {:.1} g/t, \
         reconciled R {:.2} %",
        field(bad, "chi2").unwrap(),
        field(bad, "adj_tail_ag").unwrap(),
        field(bad, "ag_recovery_pct").unwrap(),
    );
    assert!(
        p_bad < 0.05,
        "a 2.5× tail assay must fail the χ² test: p {p_bad}"
    );
    assert!(
        named.ends_with("_ag"),
        "the Ag balance carries the error, named {named:?}"
    );
}
