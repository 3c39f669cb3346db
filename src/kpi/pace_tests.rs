//! The pace to the year target and the hour-long live throughput (issue
//! 14): what a viewer reads on the first screen.
use jiff::civil::date;

use super::tests::{close, dailies, field, lima, run, settings, site, Plant, MIN};
use super::*;
use crate::sink::influxdb::encoder::Point;

/// Oz of a steady day: 24 h × 28.8 dry t/h × 250 g/t × R(250, 5,000, 40).
fn steady_day_oz(rate_wet_tph: f64) -> f64 {
    let r = 5_000.0 * 210.0 / (250.0 * 4_960.0);
    24.0 * rate_wet_tph * 0.96 * 250.0 * r / 31.1035
}

fn rows(points: &[Point]) -> Vec<&Point> {
    points.iter().filter(|p| p.measurement == "kpi").collect()
}

#[test]
fn pace_is_todays_projection_until_a_day_closes_then_the_last_seven_days_mean() {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    let mut plant = Plant::new(lima(d, 7, 0));
    e.observe(&plant.scan());
    // Mid-morning of the first day: on pace for a full steady day × 365,
    // not "ounces since the gateway started" stretched over a year.
    let pts = run(&mut e, &mut plant, lima(d, 10, 0), MIN);
    let row = *rows(&pts).last().unwrap();
    let full = steady_day_oz(30.0);
    let pace = field(row, "ag_oz_pace_year").unwrap();
    assert!(close(pace, full * 365.0, 1.0), "{pace} vs {}", full * 365.0);
    // The first day closes: its kpi_daily carries its own ounces × 365.
    let mut day = d;
    let pts = run(&mut e, &mut plant, lima(d.tomorrow().unwrap(), 7, 1), MIN);
    let daily = dailies(&pts);
    assert_eq!(daily.len(), 1);
    assert!(close(
        field(daily[0], "ag_oz_pace_year").unwrap(),
        full * 365.0,
        1.0
    ));
    // Day 2 at half the rate: live rows keep the closed days' pace (a
    // slow morning does not swing the year), the close averages both.
    plant.rate_tph = 15.0;
    day = day.tomorrow().unwrap();
    let pts = run(&mut e, &mut plant, lima(day, 12, 0), MIN);
    let live = field(rows(&pts).last().unwrap(), "ag_oz_pace_year").unwrap();
    assert!(close(live, full * 365.0, 1.0), "{live}");
    let pts = run(&mut e, &mut plant, lima(day.tomorrow().unwrap(), 7, 1), MIN);
    let closed = field(dailies(&pts)[0], "ag_oz_pace_year").unwrap();
    let half = steady_day_oz(15.0);
    // The minute of day 2 booked at the first close's boundary is noise
    // at this tolerance.
    assert!(
        close(closed, (full + half) / 2.0 * 365.0, 500.0),
        "{closed} vs {}",
        (full + half) / 2.0 * 365.0
    );
    // Seven more half-rate days: only the last seven count, all at half.
    for _ in 0..7 {
        day = day.tomorrow().unwrap();
        run(
            &mut e,
            &mut plant,
            lima(day.tomorrow().unwrap(), 7, 1),
            5 * MIN,
        );
    }
    let pts = run(
        &mut e,
        &mut plant,
        lima(day.tomorrow().unwrap(), 9, 0),
        5 * MIN,
    );
    let pace = field(rows(&pts).last().unwrap(), "ag_oz_pace_year").unwrap();
    assert!(
        close(pace, half * 365.0, 500.0),
        "{pace} vs {}",
        half * 365.0
    );
    // …and it is written next to the target and survives a restart.
    let restored = KpiEngine::new(&settings(), &site(), Some(e.state()));
    assert_eq!(restored.state().engine.recent_oz.len(), 7);
}

#[test]
fn live_throughput_is_the_rate_over_the_last_plant_hour_on_every_row() {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    let mut plant = Plant::new(lima(d, 7, 0));
    e.observe(&plant.scan());
    // A demo at 720×: the gateway's one-second scans are 12 plant minutes
    // apart, and a kpi row is due every plant minute in between.
    let mut out = Vec::new();
    while plant.ts < lima(d, 11, 0) {
        plant.step(12 * MIN);
        e.observe(&plant.scan());
        for m in 0..12 {
            out.extend(e.tick(plant.ts + m * MIN));
        }
    }
    let rows = rows(&out);
    assert!(rows.len() > 200, "{}", rows.len());
    // From the second totaliser reading on (a rate needs two), every row.
    let blank: Vec<i64> = rows
        .iter()
        .filter(|r| r.ts_ms >= lima(d, 7, 24) && field(r, "throughput_tph").is_none())
        .map(|r| (r.ts_ms - lima(d, 7, 0)) / MIN)
        .collect();
    assert!(
        blank.is_empty(),
        "rows without throughput at minutes {blank:?}"
    );
    for r in rows.iter().filter(|r| r.ts_ms >= lima(d, 7, 24)) {
        let tph = field(r, "throughput_tph").unwrap();
        assert!(close(tph, 28.8, 1e-6), "{tph} at {}", r.ts_ms);
    }

    // A mill stop at 12:00, scans every minute: half an hour later the
    // last hour held half an hour of feed, 14.4 dry t/h (not the last
    // interval's 0, not the day mean).
    let mut out = run(&mut e, &mut plant, lima(d, 12, 0), MIN);
    plant.rate_tph = 0.0;
    out.extend(run(&mut e, &mut plant, lima(d, 12, 30), MIN));
    let last = *super::pace_tests::rows(&out).last().unwrap();
    assert_eq!(last.ts_ms, lima(d, 12, 30));
    let tph = field(last, "throughput_tph").unwrap();
    assert!(close(tph, 14.4, 1e-6), "{tph}");
}

#[test]
fn a_first_day_begun_mid_day_is_scaled_to_a_whole_day_and_never_averaged_in() {
    let d = date(2026, 3, 1);
    let mut e = KpiEngine::new(&settings(), &site(), None);
    // Installed at 19:00: the first day sees 12 of its 24 hours.
    let mut plant = Plant::new(lima(d, 19, 0));
    e.observe(&plant.scan());
    let pts = run(&mut e, &mut plant, lima(d.tomorrow().unwrap(), 7, 1), MIN);
    let daily = dailies(&pts);
    assert_eq!(daily.len(), 1);
    let full = steady_day_oz(30.0);
    let pace = field(daily[0], "ag_oz_pace_year").unwrap();
    assert!(close(pace, full * 365.0, 1.0), "{pace} vs {}", full * 365.0);
    assert!(e.state().engine.recent_oz.is_empty());
    // The next morning: today's projection, not half a day's ounces × 365.
    let pts = run(&mut e, &mut plant, lima(d.tomorrow().unwrap(), 9, 0), MIN);
    let live = field(rows(&pts).last().unwrap(), "ag_oz_pace_year").unwrap();
    assert!(close(live, full * 365.0, 1.0), "{live}");
}
