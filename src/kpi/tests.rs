//! Engine scenarios: whole streams of scans through `observe`/`tick`.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::civil::{date, time, Date};
use jiff::tz::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::config::{Kpi, Moisture, Site, TagId, ThreeProductTags};
use crate::sample::{Quality, Reading, Scan, ScanStatus, Value};
use crate::sink::influxdb::encoder::{FieldValue, Point};

pub(super) const TOTAL: &str = "mill_feed_belt.total_t";
pub(super) const RATE: &str = "mill_feed_belt.feed_rate_tph";
pub(super) const POWER: &str = "ball_mill.power_kw";
pub(super) const FEED_AG: &str = "flotation_feed.ag_gpt";
pub(super) const CONC_AG: &str = "pb_concentrate.ag_gpt";
pub(super) const TAIL_AG: &str = "final_tailings.ag_gpt";
pub(super) const WRAP: f64 = 4_294_967.296;
pub(super) const MIN: i64 = 60_000;
pub(super) const HOUR: i64 = 3_600_000;

pub(super) fn settings() -> Kpi {
    Kpi {
        day_start: time(7, 0, 0, 0),
        interval: Duration::from_secs(60),
        target_tpd: 700.0,
        target_oz_year: 1_900_000.0,
        year_start: (1, 1),
        moisture: Moisture::Constant(4.0),
        ore_totaliser: TOTAL.into(),
        totaliser_rollover: Some(WRAP),
        ore_rate: Some(RATE.into()),
        mill_power: Some(POWER.into()),
        mill_running_kw: 100.0,
        feed_ag: FEED_AG.into(),
        conc_ag: CONC_AG.into(),
        tail_ag: TAIL_AG.into(),
        three_product: None,
        zn_conc_ag: None,
        reconcile: None,
        state_file: PathBuf::from("unused"),
    }
}

pub(super) fn site() -> Site {
    Site {
        name: "caylloma".into(),
        timezone_name: "America/Lima".into(),
        timezone: TimeZone::get("America/Lima").unwrap(),
    }
}

/// Plant-clock ms of a Lima local time.
pub(super) fn lima(d: Date, h: i8, m: i8) -> i64 {
    TimeZone::get("America/Lima")
        .unwrap()
        .to_timestamp(d.at(h, m, 0, 0))
        .unwrap()
        .as_millisecond()
}

pub(super) fn scan(ts_ms: i64, values: &[(&str, Option<f64>)]) -> Scan {
    let readings = values
        .iter()
        .map(|(path, v)| {
            let (equipment, name) = path.split_once('.').unwrap();
            Reading {
                tag: Arc::new(TagId::new("p", "a", equipment, name)),
                value: v.map(Value::Float),
                quality: if v.is_some() {
                    Quality::Good
                } else {
                    Quality::CommFailure
                },
            }
        })
        .collect();
    Scan {
        plc: "p".into(),
        area: "a".into(),
        ts_ms,
        readings,
        status: ScanStatus::default(),
    }
}

/// A steady plant: the totaliser integrates `rate_tph` (wrapping like a
/// BW500), the mill draws `power_kw`, assays are the DESIGN §6 example.
#[derive(Clone)]
pub(super) struct Plant {
    pub(super) ts: i64,
    pub(super) total: f64,
    pub(super) rate_tph: f64,
    pub(super) power_kw: f64,
    pub(super) totaliser_good: bool,
    pub(super) power_good: bool,
    pub(super) assays: Vec<(&'static str, f64)>,
}

impl Plant {
    pub(super) fn new(ts: i64) -> Self {
        Plant {
            ts,
            total: 1_000.0,
            rate_tph: 30.0,
            power_kw: 420.0,
            totaliser_good: true,
            power_good: true,
            assays: vec![(FEED_AG, 250.0), (CONC_AG, 5_000.0), (TAIL_AG, 40.0)],
        }
    }

    pub(super) fn step(&mut self, dt_ms: i64) {
        self.ts += dt_ms;
        self.total += self.rate_tph * dt_ms as f64 / HOUR as f64;
        if self.total >= WRAP {
            self.total -= WRAP;
        }
    }

    pub(super) fn scan(&self) -> Scan {
        let mut v = vec![
            (TOTAL, self.totaliser_good.then_some(self.total)),
            (RATE, Some(self.rate_tph)),
            (POWER, self.power_good.then_some(self.power_kw)),
        ];
        v.extend(self.assays.iter().map(|(p, a)| (*p, Some(*a))));
        scan(self.ts, &v)
    }
}

/// Steps the plant to `until` (inclusive), observing and ticking each scan.
pub(super) fn run(
    engine: &mut KpiEngine,
    plant: &mut Plant,
    until: i64,
    step_ms: i64,
) -> Vec<Point> {
    let mut out = Vec::new();
    while plant.ts + step_ms <= until {
        plant.step(step_ms);
        engine.observe(&plant.scan());
        out.extend(engine.tick(plant.ts));
    }
    out
}

pub(super) fn field(p: &Point, key: &str) -> Option<f64> {
    p.fields
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| match v {
            FieldValue::Float(f) => Some(*f),
            FieldValue::Int(i) => Some(*i as f64),
            _ => None,
        })
}

pub(super) fn text(p: &Point, key: &str) -> Option<String> {
    p.fields
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| match v {
            FieldValue::Str(s) => Some(s.clone()),
            _ => None,
        })
}

pub(super) fn tag<'a>(p: &'a Point, key: &str) -> &'a str {
    p.tags
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap()
}

pub(super) fn dailies(points: &[Point]) -> Vec<&Point> {
    points
        .iter()
        .filter(|p| p.measurement == "kpi_daily")
        .collect()
}

pub(super) fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn a_full_day_closes_with_its_totals_stamped_at_the_day_start() {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    let mut plant = Plant::new(lima(d, 6, 59));
    let points = run(
        &mut e,
        &mut plant,
        lima(d.tomorrow().unwrap(), 7, 1),
        10_000,
    );
    let daily = dailies(&points);
    // Day 2026-02-28 got one minute of data and closes too.
    assert_eq!(daily.len(), 2, "{daily:?}");
    let p = daily[1];
    assert_eq!(tag(p, "day"), "2026-03-01");
    assert_eq!(tag(p, "site"), "caylloma");
    assert_eq!(p.ts_ms, lima(d, 7, 0));
    assert_eq!(
        p.ts_ms,
        "2026-03-01T12:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond()
    );
    // 24 h × 30 t/h wet, 4 % moisture.
    assert!(close(field(p, "ore_wet_t").unwrap(), 720.0, 1e-6), "{p:?}");
    assert!(close(field(p, "ore_dry_t").unwrap(), 691.2, 1e-6));
    assert!(close(field(p, "throughput_tph").unwrap(), 28.8, 1e-6));
    assert!(close(field(p, "projected_day_t").unwrap(), 691.2, 1e-6));
    assert!(close(
        field(p, "mill_availability_pct").unwrap(),
        100.0,
        1e-9
    ));
    assert!(close(field(p, "good_data_pct").unwrap(), 100.0, 1e-9));
    assert!(close(field(p, "ag_head_gpt").unwrap(), 250.0, 1e-9));
    let r = 5_000.0 * 210.0 / (250.0 * 4_960.0);
    assert!(close(field(p, "ag_recovery_pct").unwrap(), 100.0 * r, 1e-9));
    let oz = 691.2 * 250.0 * r / 31.1035;
    assert!(close(field(p, "ag_oz").unwrap(), oz, 1e-6));
    assert_eq!(text(p, "recovery_method").as_deref(), Some("two_product"));
    assert_eq!(field(p, "totaliser_resets"), Some(0.0));
    assert_eq!(field(p, "target_tpd"), Some(700.0));
    assert_eq!(field(p, "target_oz_year"), Some(1_900_000.0));
    // Year to date: the previous day's minute plus this day.
    let ytd = field(p, "ag_oz_ytd").unwrap();
    assert!(ytd > oz && ytd < oz * 1.01, "{ytd} vs {oz}");
    assert!(field(p, "ag_projected_oz_year").unwrap() > ytd);
    // A kpi row every 60 s, tagged with the production day of its time.
    let rows: Vec<&Point> = points.iter().filter(|p| p.measurement == "kpi").collect();
    assert!((1_440..=1_443).contains(&rows.len()), "{}", rows.len());
    let at_0659 = rows
        .iter()
        .find(|r| r.ts_ms == lima(d.tomorrow().unwrap(), 6, 59))
        .unwrap();
    assert_eq!(tag(at_0659, "day"), "2026-03-01");
    let at_0700 = rows
        .iter()
        .find(|r| r.ts_ms == lima(d.tomorrow().unwrap(), 7, 0))
        .unwrap();
    assert_eq!(tag(at_0700, "day"), "2026-03-02");
}

#[test]
fn throughput_and_projection_mid_day() {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    let mut plant = Plant::new(lima(d, 7, 0));
    e.observe(&plant.scan());
    let points = run(&mut e, &mut plant, lima(d, 15, 0), 10_000);
    let row = points.last().unwrap();
    assert_eq!(row.ts_ms, lima(d, 15, 0));
    // 8 h × 28.8 dry t/h so far; the rest of the day at the current rate.
    assert!(close(field(row, "ore_dry_t").unwrap(), 230.4, 1e-6));
    assert!(close(field(row, "throughput_tph").unwrap(), 28.8, 1e-6));
    assert!(close(
        field(row, "projected_day_t").unwrap(),
        230.4 + 28.8 * 16.0,
        1e-6
    ));
    let snap = e.snapshot().unwrap();
    assert_eq!(snap.day, d);
    assert!(snap.summary().contains("230.4 t"), "{}", snap.summary());
}

#[test]
fn a_sample_at_0659_belongs_to_the_previous_day_and_the_boundary_delta_is_split() {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    // 06:58 → 06:59 (1 t), then 06:59 → 07:03 (4 t over 4 min: 1 t before 07:00, 3 t after).
    e.observe(&scan(lima(d, 6, 58), &[(TOTAL, Some(99.0))]));
    e.observe(&scan(lima(d, 6, 59), &[(TOTAL, Some(100.0))]));
    let row = e.tick(lima(d, 6, 59));
    assert_eq!(tag(&row[0], "day"), "2026-02-28");
    e.observe(&scan(lima(d, 7, 3), &[(TOTAL, Some(104.0))]));
    let points = e.tick(lima(d, 7, 3));
    let daily = dailies(&points);
    assert_eq!(daily.len(), 1);
    assert_eq!(tag(daily[0], "day"), "2026-02-28");
    assert!(close(field(daily[0], "ore_wet_t").unwrap(), 2.0, 1e-9));
    let row = points.iter().find(|p| p.measurement == "kpi").unwrap();
    assert_eq!(tag(row, "day"), "2026-03-01");
    assert!(close(field(row, "ore_wet_t").unwrap(), 3.0, 1e-9));
}

#[test]
fn a_day_waits_for_the_boundary_delta_then_closes_after_one_interval_of_grace() {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    e.observe(&scan(lima(d, 6, 58), &[(TOTAL, Some(99.0))]));
    e.observe(&scan(lima(d, 6, 59), &[(TOTAL, Some(100.0))]));
    assert!(
        dailies(&e.tick(lima(d, 7, 0))).is_empty(),
        "no totaliser reading past 07:00 yet"
    );
    let late = e.tick(lima(d, 7, 1));
    assert_eq!(
        dailies(&late).len(),
        1,
        "closed after one interval without data"
    );
}

#[test]
fn rollover_is_production_and_a_reset_is_not() {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    let t0 = lima(d, 8, 0);
    // +0.1, wrap (+0.296 + 0.05 = 0.346), +0.1, reset to 0 (not production), +0.1, +0.1.
    let totals = [4_294_966.9, 4_294_967.0, 0.05, 0.15, 0.0, 0.1, 0.2];
    for (i, t) in totals.iter().enumerate() {
        e.observe(&scan(t0 + i as i64 * 10_000, &[(TOTAL, Some(*t))]));
    }
    let row = &e.tick(t0 + 60_000)[0];
    assert!(
        close(
            field(row, "ore_wet_t").unwrap(),
            0.1 + 0.346 + 0.1 + 0.1 + 0.1,
            1e-6
        ),
        "{row:?}"
    );
    assert_eq!(field(row, "totaliser_resets"), Some(1.0));
}

#[test]
fn without_a_configured_rollover_a_wrap_is_a_reset() {
    let d = date(2026, 3, 1);
    let mut s = settings();
    s.totaliser_rollover = None;
    let mut e = KpiEngine::new(&s, &site(), None);
    let t0 = lima(d, 8, 0);
    for (i, t) in [4_294_967.0, 0.05, 0.15].iter().enumerate() {
        e.observe(&scan(t0 + i as i64 * 10_000, &[(TOTAL, Some(*t))]));
    }
    let row = &e.tick(t0 + 60_000)[0];
    assert!(close(field(row, "ore_wet_t").unwrap(), 0.1, 1e-6));
    assert_eq!(field(row, "totaliser_resets"), Some(1.0));
}

#[test]
fn a_held_value_lasts_three_scans_into_a_gap() {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    let t0 = lima(d, 7, 0);
    // Running at 1 s scans for 59 s, a 10-minute silence, then stopped.
    for i in 0..60 {
        e.observe(&scan(t0 + i * 1_000, &[(POWER, Some(400.0))]));
    }
    for i in 660..720 {
        e.observe(&scan(t0 + i * 1_000, &[(POWER, Some(0.0))]));
    }
    let row = &e.tick(t0 + 719_000)[0];
    // Known: 59 s + 3 s held into the gap + 59 s; running 62 s.
    let avail = field(row, "mill_availability_pct").unwrap();
    assert!(close(avail, 100.0 * 62.0 / 121.0, 1e-9), "{avail}");
}

#[test]
fn bad_quality_is_left_out_and_good_data_pct_reports_it() {
    let d = date(2026, 3, 1);
    let t0 = lima(d, 7, 0);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    let mut plant = Plant::new(t0);
    e.observe(&plant.scan());
    run(&mut e, &mut plant, t0 + 30_000, 1_000);
    plant.power_good = false;
    plant.power_kw = 0.0; // never seen: bad samples carry no value
    let points = run(&mut e, &mut plant, t0 + 60_000, 1_000);
    let row = points.last().unwrap();
    assert_eq!(row.ts_ms, t0 + 60_000);
    // Power known for 31 of 60 s (30 s of samples, held 1 s to the first
    // bad one), all of it running: the bad minute is not "stopped".
    assert_eq!(field(row, "mill_availability_pct"), Some(100.0));
    // 6 tags × 60 s, of which power lacks 29 s.
    assert!(
        close(
            field(row, "good_data_pct").unwrap(),
            100.0 * 331.0 / 360.0,
            1e-9
        ),
        "{row:?}"
    );
}

#[test]
fn totaliser_outage_is_bridged_by_the_rate_then_settled_by_the_delta() {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    let mut plant = Plant::new(lima(d, 8, 0));
    plant.rate_tph = 36.0;
    e.observe(&plant.scan());
    run(&mut e, &mut plant, lima(d, 8, 10), 1_000);
    plant.totaliser_good = false;
    // The belt really runs 10 % faster than its rate signal says during the outage.
    plant.rate_tph = 39.6;
    let mut during = Vec::new();
    while plant.ts < lima(d, 8, 20) {
        plant.step(1_000);
        let mut s = plant.scan();
        s.readings[1].value = Some(Value::Float(36.0));
        e.observe(&s);
        during.extend(e.tick(plant.ts));
    }
    let mid = during.last().unwrap();
    // 10 min at 36 t/h from the totaliser, then 10 min from the rate.
    assert!(
        close(field(mid, "ore_wet_t").unwrap(), 6.0 + 6.0, 0.02),
        "{mid:?}"
    );
    plant.totaliser_good = true;
    plant.rate_tph = 36.0;
    let points = run(&mut e, &mut plant, lima(d, 8, 30), 1_000);
    let after = points.last().unwrap();
    // The delta across the outage (6.6 t) replaces the rate's 6 t: no double count.
    assert!(
        close(field(after, "ore_wet_t").unwrap(), 6.0 + 6.6 + 6.0, 1e-6),
        "{after:?}"
    );
}

#[test]
fn after_an_outage_ending_in_a_reset_the_rate_tonnes_stand() {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    let mut plant = Plant::new(lima(d, 8, 0));
    plant.rate_tph = 36.0;
    e.observe(&plant.scan());
    run(&mut e, &mut plant, lima(d, 8, 10), 1_000);
    plant.totaliser_good = false;
    run(&mut e, &mut plant, lima(d, 8, 20), 1_000);
    plant.totaliser_good = true;
    plant.total = 0.0; // the PLC was replaced during the outage
    let points = run(&mut e, &mut plant, lima(d, 8, 30), 1_000);
    let after = points.last().unwrap();
    // 6 t totaliser + 6 t rate + (6 t − the one scan lost to the reset).
    assert!(
        close(field(after, "ore_wet_t").unwrap(), 18.0 - 0.01, 0.02),
        "{after:?}"
    );
    assert_eq!(field(after, "totaliser_resets"), Some(1.0));
}

#[test]
fn moisture_from_a_tag_is_tonnage_weighted() {
    let d = date(2026, 3, 1);
    let mut s = settings();
    s.moisture = Moisture::Tag("mill_feed_belt.moisture_pct".into());
    let mut e = KpiEngine::new(&s, &site(), None);
    let t0 = lima(d, 8, 0);
    // 1 h at 30 t/h and 4 %, then 1 h at 10 t/h and 8 %: dry = 28.8 + 9.2.
    let mut total = 0.0;
    for i in 0..=120 {
        // The minute ending at i runs at `rate`; moisture read at i applies
        // to the minute starting at i.
        let rate = if i <= 60 { 30.0 } else { 10.0 };
        if i > 0 {
            total += rate / 60.0;
        }
        let m = if i < 60 { 4.0 } else { 8.0 };
        e.observe(&scan(
            t0 + i * MIN,
            &[
                (TOTAL, Some(total)),
                ("mill_feed_belt.moisture_pct", Some(m)),
            ],
        ));
    }
    let row = &e.tick(t0 + 120 * MIN)[0];
    assert!(close(field(row, "ore_wet_t").unwrap(), 40.0, 1e-9));
    assert!(
        close(field(row, "ore_dry_t").unwrap(), 28.8 + 9.2, 1e-9),
        "{row:?}"
    );
}

fn three_settings() -> Kpi {
    let mut s = settings();
    s.three_product = Some(ThreeProductTags {
        feed_pb: "flotation_feed.pb_pct".into(),
        feed_zn: "flotation_feed.zn_pct".into(),
        conc_pb: "pb_concentrate.pb_pct".into(),
        conc_zn: "pb_concentrate.zn_pct".into(),
        zn_conc_pb: "zn_concentrate.pb_pct".into(),
        zn_conc_zn: "zn_concentrate.zn_pct".into(),
        tail_pb: "final_tailings.pb_pct".into(),
        tail_zn: "final_tailings.zn_pct".into(),
    });
    s
}

fn run_three(zn_conc: (f64, f64)) -> Point {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&three_settings(), &site(), None);
    let mut plant = Plant::new(lima(d, 8, 0));
    // The hand-worked case of recovery::tests::three_product_by_hand.
    plant.assays = vec![
        (FEED_AG, 250.0),
        (CONC_AG, 6_000.0),
        (TAIL_AG, 40.0),
        ("flotation_feed.pb_pct", 2.0),
        ("flotation_feed.zn_pct", 3.0),
        ("pb_concentrate.pb_pct", 55.0),
        ("pb_concentrate.zn_pct", 6.0),
        ("zn_concentrate.pb_pct", zn_conc.0),
        ("zn_concentrate.zn_pct", zn_conc.1),
        ("final_tailings.pb_pct", 0.15),
        ("final_tailings.zn_pct", 0.30),
    ];
    e.observe(&plant.scan());
    run(&mut e, &mut plant, lima(d, 9, 0), 10_000)
        .pop()
        .unwrap()
}

#[test]
fn three_product_recovery_when_all_pb_zn_assays_are_configured() {
    let row = run_three((1.5, 50.0));
    assert_eq!(
        text(&row, "recovery_method").as_deref(),
        Some("three_product")
    );
    assert!(
        close(field(&row, "ag_recovery_pct").unwrap(), 77.959, 0.001),
        "{row:?}"
    );
    // 1 h: 30 t wet, 28.8 dry × 250 g/t × 0.77959 / 31.1035.
    let oz = 28.8 * 250.0 * (88.3 / 2_718.35 * 24.0) / 31.1035;
    assert!(close(field(&row, "ag_oz").unwrap(), oz, 1e-6));
}

#[test]
fn near_singular_three_product_falls_back_to_two_product() {
    let row = run_three((27.6, 3.16));
    assert_eq!(
        text(&row, "recovery_method").as_deref(),
        Some("two_product_fallback")
    );
    let r = 6_000.0 * 210.0 / (250.0 * 5_960.0);
    assert!(close(
        field(&row, "ag_recovery_pct").unwrap(),
        100.0 * r,
        1e-9
    ));
}

#[test]
fn restart_mid_day_books_the_downtime_once() {
    let d = date(2026, 3, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kpi-state.json");

    let mut whole = KpiEngine::new(&settings(), &site(), None);
    let mut plant = Plant::new(lima(d, 6, 59));
    let uninterrupted = run(
        &mut whole,
        &mut plant,
        lima(d.tomorrow().unwrap(), 7, 2),
        10_000,
    );

    let mut first = KpiEngine::new(&settings(), &site(), None);
    let mut plant = Plant::new(lima(d, 6, 59));
    run(&mut first, &mut plant, lima(d, 15, 0), 10_000);
    save_state(&path, &first.state()).unwrap();
    // Killed at 15:10 (saved at 15:00), back at 15:30: the plant kept running.
    run(&mut first, &mut plant, lima(d, 15, 10), 10_000);
    drop(first);
    let mut silent = plant.clone();
    while silent.ts < lima(d, 15, 30) {
        silent.step(10_000);
    }
    let mut second = KpiEngine::new(&settings(), &site(), load_state(&path).unwrap());
    let mut plant = silent;
    let resumed = run(
        &mut second,
        &mut plant,
        lima(d.tomorrow().unwrap(), 7, 2),
        10_000,
    );

    let a = dailies(&uninterrupted)
        .into_iter()
        .find(|p| tag(p, "day") == "2026-03-01")
        .unwrap();
    let b = dailies(&resumed)
        .into_iter()
        .find(|p| tag(p, "day") == "2026-03-01")
        .unwrap();
    for f in ["ore_wet_t", "ore_dry_t", "ag_oz"] {
        assert!(
            close(field(a, f).unwrap(), field(b, f).unwrap(), 1e-6),
            "{f}: {a:?} vs {b:?}"
        );
    }
    assert!(close(field(b, "ore_wet_t").unwrap(), 720.0, 1e-6));
    // The 30 unseen minutes are unknown time, not lost tonnes.
    assert!(field(b, "good_data_pct").unwrap() < field(a, "good_data_pct").unwrap());
}

/// The plant milled from 07:00 on `d` to `stop` (30 t/h, 60 s scans) and
/// saved its state there.
fn state_saved_at(d: Date, stop: i64) -> (String, Plant) {
    let mut e = KpiEngine::new(&settings(), &site(), None);
    let mut plant = Plant::new(lima(d, 7, 0));
    e.observe(&plant.scan());
    run(&mut e, &mut plant, stop, 60_000);
    (serde_json::to_string(&e.state()).unwrap(), plant)
}

#[test]
fn a_restart_across_day_start_splits_the_downtime_delta_by_time() {
    let d = date(2026, 3, 1);
    let next = d.tomorrow().unwrap();
    // Down from 06:30 to 07:30 local; the belt carried X = 30 t meanwhile.
    let (state, mut plant) = state_saved_at(d, lima(next, 6, 30));
    let mut e = KpiEngine::new(
        &settings(),
        &site(),
        Some(serde_json::from_str(&state).unwrap()),
    );
    // The task ticks before the first scan arrives: the restored day must
    // wait for the totaliser rather than close without its last half hour.
    let early = e.tick(lima(next, 7, 30));
    assert!(dailies(&early).is_empty(), "closed early: {early:?}");
    while plant.ts < lima(next, 7, 30) {
        plant.step(60_000);
    }
    e.observe(&plant.scan());
    let points = e.tick(lima(next, 7, 31));
    let daily = dailies(&points);
    assert_eq!(daily.len(), 1, "{points:?}");
    assert_eq!(tag(daily[0], "day"), "2026-03-01");
    assert_eq!(daily[0].ts_ms, lima(d, 7, 0));
    // 23.5 h seen + X/2 for 06:30-07:00.
    let wet = field(daily[0], "ore_wet_t").unwrap();
    assert!(close(wet, 23.5 * 30.0 + 15.0, 1e-6), "old day {wet}");
    let row = points.iter().find(|p| p.measurement == "kpi").unwrap();
    assert_eq!(tag(row, "day"), "2026-03-02");
    let wet = field(row, "ore_wet_t").unwrap();
    assert!(close(wet, 15.0, 1e-6), "new day {wet}");
}

#[test]
fn a_restored_day_closes_without_a_reading_after_the_wait_limit() {
    let d = date(2026, 3, 1);
    let next = d.tomorrow().unwrap();
    let (state, _) = state_saved_at(d, lima(next, 6, 0));
    let mut e = KpiEngine::new(
        &settings(),
        &site(),
        Some(serde_json::from_str(&state).unwrap()),
    );
    assert!(dailies(&e.tick(lima(next, 8, 0))).is_empty());
    assert!(dailies(&e.tick(lima(next, 8, 59))).is_empty());
    // No totaliser sample for an hour after the restart: the PLC is not
    // being read, and the daily report must not stall on it.
    let points = e.tick(lima(next, 9, 0));
    let daily = dailies(&points);
    assert_eq!(daily.len(), 1, "{points:?}");
    assert!(close(
        field(daily[0], "ore_wet_t").unwrap(),
        23.0 * 30.0,
        1e-6
    ));
}

#[test]
fn a_bad_first_totaliser_sample_after_a_restore_ends_the_wait() {
    let d = date(2026, 3, 1);
    let next = d.tomorrow().unwrap();
    let (state, mut plant) = state_saved_at(d, lima(next, 6, 0));
    let mut e = KpiEngine::new(
        &settings(),
        &site(),
        Some(serde_json::from_str(&state).unwrap()),
    );
    while plant.ts < lima(next, 8, 0) {
        plant.step(60_000);
    }
    plant.totaliser_good = false;
    e.observe(&plant.scan());
    // An outage: the outage rules apply as without the restart (the day
    // closes after one interval of grace on what it has).
    let daily = e.tick(lima(next, 8, 1));
    assert_eq!(dailies(&daily).len(), 1, "{daily:?}");
}

#[test]
fn year_to_date_restarts_at_the_year_start() {
    let dec31 = date(2025, 12, 31);
    let jan1 = date(2026, 1, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    let mut plant = Plant::new(lima(dec31, 7, 0));
    e.observe(&plant.scan());
    let points = run(&mut e, &mut plant, lima(jan1, 12, 0), 60_000);
    let daily = dailies(&points);
    assert_eq!(tag(daily[0], "day"), "2025-12-31");
    let dec_oz = field(daily[0], "ag_oz").unwrap();
    assert!(close(field(daily[0], "ag_oz_ytd").unwrap(), dec_oz, 1e-6));
    let row = points.last().unwrap();
    assert_eq!(tag(row, "day"), "2026-01-01");
    // 07:00 local on Jan 1 starts the year: only today's ounces count.
    assert!(close(
        field(row, "ag_oz_ytd").unwrap(),
        field(row, "ag_oz").unwrap(),
        1e-9
    ));
    assert!(field(row, "ag_oz").unwrap() < dec_oz);
    // Pace over 5 h since the year start, for the whole year.
    let ytd = field(row, "ag_oz_ytd").unwrap();
    let left_h = (lima(date(2027, 1, 1), 7, 0) - lima(jan1, 12, 0)) as f64 / HOUR as f64;
    assert!(close(
        field(row, "ag_projected_oz_year").unwrap(),
        ytd + ytd / 5.0 * left_h,
        1e-3
    ));
}

#[test]
fn a_changed_calendar_keeps_tag_memory_but_not_the_days() {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    e.observe(&scan(lima(d, 8, 0), &[(TOTAL, Some(100.0))]));
    e.tick(lima(d, 8, 0));
    let state = e.state();
    let mut s = settings();
    s.day_start = time(6, 0, 0, 0);
    let mut e = KpiEngine::new(&s, &site(), Some(state));
    e.observe(&scan(lima(d, 8, 10), &[(TOTAL, Some(105.0))]));
    let row = &e.tick(lima(d, 8, 10))[0];
    assert!(close(field(row, "ore_wet_t").unwrap(), 5.0, 1e-9));
}

#[test]
fn recompute_from_raw_samples_matches_the_live_engine() {
    let d = date(2026, 3, 1);
    let mut live = KpiEngine::new(&settings(), &site(), None);
    let mut plant = Plant::new(lima(d, 6, 50));
    let mut samples = Vec::new();
    let mut points = Vec::new();
    while plant.ts < lima(d.tomorrow().unwrap(), 7, 10) {
        plant.step(60_000);
        // An hour of comm failure on the mill power in the afternoon.
        plant.power_good = !(lima(d, 14, 0)..lima(d, 15, 0)).contains(&plant.ts);
        let s = plant.scan();
        for r in &s.readings {
            samples.push(RawSample {
                ts_ms: s.ts_ms,
                path: r.tag.path(),
                value: r.value.as_ref().and_then(Value::as_f64),
            });
        }
        live.observe(&s);
        points.extend(live.tick(plant.ts));
    }
    let live_daily = dailies(&points)
        .into_iter()
        .find(|p| tag(p, "day") == "2026-03-01")
        .unwrap()
        .clone();
    let re = recompute_day(&settings(), &site(), d, &samples).unwrap();
    assert_eq!(re.day, d);
    let p = &re.to_points("caylloma")[0];
    assert_eq!(p.ts_ms, live_daily.ts_ms);
    assert_eq!(p.tags, live_daily.tags);
    for f in [
        "ore_wet_t",
        "ore_dry_t",
        "throughput_tph",
        "mill_availability_pct",
        "ag_head_gpt",
        "ag_recovery_pct",
        "ag_oz",
        "good_data_pct",
    ] {
        assert!(
            close(field(p, f).unwrap(), field(&live_daily, f).unwrap(), 1e-6),
            "{f}"
        );
    }
    assert!(field(p, "mill_availability_pct").unwrap() == 100.0);
    assert!(field(p, "good_data_pct").unwrap() < 100.0);
    // No year-to-date context in a recompute.
    assert_eq!(field(p, "ag_oz_ytd"), None);
    assert!(re.table().contains("2026-03-01"));
}

/// One step of a random stream: time advance, totaliser behaviour, quality.
#[derive(Debug, Clone)]
struct Step {
    dt_s: i64,
    rate_tph: f64,
    totaliser_bad: bool,
    power_bad: bool,
    reset: bool,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            1i64..900,
            0.0f64..40.0,
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.03),
        )
            .prop_map(|(dt_s, rate_tph, totaliser_bad, power_bad, reset)| Step {
                dt_s,
                rate_tph,
                totaliser_bad,
                power_bad,
                reset,
            }),
        20..120,
    )
}

fn replay(e: &mut KpiEngine, plant: &mut Plant, steps: &[Step]) -> Vec<Point> {
    let mut out = Vec::new();
    for s in steps {
        plant.rate_tph = s.rate_tph;
        plant.totaliser_good = !s.totaliser_bad;
        plant.power_good = !s.power_bad;
        plant.power_kw = if s.rate_tph > 5.0 { 420.0 } else { 0.0 };
        plant.step(s.dt_s * 1_000);
        if s.reset {
            plant.total = 0.0;
        }
        e.observe(&plant.scan());
        out.extend(e.tick(plant.ts));
    }
    out
}

fn same_points(a: &[Point], b: &[Point]) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        prop_assert_eq!(&x.measurement, &y.measurement);
        prop_assert_eq!(&x.tags, &y.tags);
        prop_assert_eq!(x.ts_ms, y.ts_ms);
        prop_assert_eq!(x.fields.len(), y.fields.len(), "{:?} vs {:?}", x, y);
        for ((kx, vx), (ky, vy)) in x.fields.iter().zip(&y.fields) {
            prop_assert_eq!(kx, ky);
            match (vx, vy) {
                (FieldValue::Float(p), FieldValue::Float(q)) => {
                    prop_assert!(
                        (p - q).abs() <= 1e-9 * p.abs().max(1.0),
                        "{}: {} vs {}",
                        kx,
                        p,
                        q
                    )
                }
                _ => prop_assert_eq!(vx, vy),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Saving and restoring at any point changes nothing: same rows, same
    /// day totals, as an engine that never stopped.
    #[test]
    fn save_and_restore_anywhere_gives_the_same_days(steps in steps(), split in 0usize..120) {
        let split = split.min(steps.len());
        let start = lima(date(2026, 3, 1), 3, 0);
        let mut whole = KpiEngine::new(&settings(), &site(), None);
        let mut plant = Plant::new(start);
        let all = replay(&mut whole, &mut plant, &steps);

        let mut first = KpiEngine::new(&settings(), &site(), None);
        let mut plant = Plant::new(start);
        let mut parts = replay(&mut first, &mut plant, &steps[..split]);
        let saved = serde_json::to_string(&first.state()).unwrap();
        drop(first);
        let mut second = KpiEngine::new(&settings(), &site(), Some(serde_json::from_str(&saved).unwrap()));
        parts.extend(replay(&mut second, &mut plant, &steps[split..]));
        same_points(&all, &parts)?;

        // Wet tonnes are never negative and never more than the belt could carry.
        for p in &all {
            let wet = field(p, "ore_wet_t").unwrap();
            prop_assert!(wet >= -1e-9, "{:?}", p);
            prop_assert!(wet <= 3.0 * 40.0 * 24.0 + 1e-6, "{:?}", p);
        }
    }
}
