//! Ground truth: what the plant really milled and recovered, per plant hour
//! and per production day, to check the gateway's KPIs against.
//!
//! Wet tonnes are the integral of the true belt rate (not the noisy reading),
//! dry tonnes use the true moisture, and silver is dry t × head g/t ×
//! recovery, so oz = dry_t × ag_head_gpt × ag_recovery_pct / 100 / 31.1035
//! holds exactly with the tonnage-weighted head grade.
//!
//! Rows are JSON lines:
//!
//! ```json
//! {"kind":"day","day":"2026-03-01","start":"2026-03-01T07:00:00-05:00",
//!  "end":"2026-03-02T07:00:00-05:00","complete":true,"wet_t":733.9,"dry_t":700.8,
//!  "moisture_pct":4.51,"ag_head_gpt":285.2,"ag_recovery_pct":81.1,"ag_oz":5209.7,
//!  "conc_mass_pct":2.71,"zn_conc_mass_pct":5.02,"mill_run_h":24.0,"crusher_run_h":10.6}
//! ```
//!
//! `complete` is false for a period the simulation did not cover from its
//! start to its end (the first one after start-up, the last at shutdown).

use std::collections::VecDeque;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;

use crate::model::StepOutcome;

pub const GRAMS_PER_TROY_OZ: f64 = 31.1035;
/// Closed days kept for [`TruthSnapshot::closed_days`].
const KEEP_DAYS: usize = 62;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    Hour,
    Day,
    /// Everything since the simulation started (API only, never logged).
    Run,
}

/// Sums over a stretch of plant time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Sums {
    wet_t: f64,
    dry_t: f64,
    /// dry t × g/t: grams of silver in the feed.
    ag_feed_g: f64,
    /// grams of silver reporting to the Pb concentrate.
    ag_conc_g: f64,
    /// Dry tonnes of Pb-Ag and of Zn concentrate made.
    pb_conc_t: f64,
    zn_conc_t: f64,
    mill_run_s: f64,
    crusher_run_s: f64,
}

impl Sums {
    fn add(&mut self, o: &StepOutcome, dt_s: f64) {
        self.wet_t += o.wet_t;
        self.dry_t += o.dry_t;
        self.ag_feed_g += o.dry_t * o.ag_head_gpt;
        self.ag_conc_g += o.dry_t * o.ag_head_gpt * o.ag_recovery;
        self.pb_conc_t += o.dry_t * o.pb_conc_mass;
        self.zn_conc_t += o.dry_t * o.zn_conc_mass;
        if o.mill_running {
            self.mill_run_s += dt_s;
        }
        if o.crusher_running {
            self.crusher_run_s += dt_s;
        }
    }
}

/// Totals of one period, as logged and as returned by the library API.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodTotals {
    pub kind: PeriodKind,
    /// The production day the period belongs to.
    pub day: Date,
    pub start: Timestamp,
    pub end: Timestamp,
    pub complete: bool,
    pub wet_t: f64,
    pub dry_t: f64,
    /// Tonnage-weighted moisture.
    pub moisture_pct: f64,
    /// Tonnage-weighted head grade.
    pub ag_head_gpt: f64,
    pub ag_recovery_pct: f64,
    pub ag_oz: f64,
    /// Concentrate made as % of dry feed: what a reconciled balance's
    /// `conc_mass_pct` and `zn_conc_mass_pct` estimate.
    pub conc_mass_pct: f64,
    pub zn_conc_mass_pct: f64,
    pub mill_run_h: f64,
    pub crusher_run_h: f64,
}

/// One JSON line of the truth log.
#[derive(Debug, Serialize)]
struct Row<'a> {
    kind: PeriodKind,
    day: String,
    start: String,
    end: String,
    complete: bool,
    wet_t: f64,
    dry_t: f64,
    moisture_pct: f64,
    ag_head_gpt: f64,
    ag_recovery_pct: f64,
    ag_oz: f64,
    conc_mass_pct: f64,
    zn_conc_mass_pct: f64,
    mill_run_h: f64,
    crusher_run_h: f64,
    #[serde(skip_serializing_if = "str::is_empty")]
    scenario: &'a str,
}

impl PeriodTotals {
    /// The JSON line for the truth log, times in the site's offset.
    pub fn to_json_line(&self, tz: &TimeZone, scenario: &str) -> String {
        let fmt = |ts: Timestamp| ts.display_with_offset(tz.to_offset(ts)).to_string();
        let row = Row {
            kind: self.kind,
            day: self.day.to_string(),
            start: fmt(self.start),
            end: fmt(self.end),
            complete: self.complete,
            wet_t: self.wet_t,
            dry_t: self.dry_t,
            moisture_pct: self.moisture_pct,
            ag_head_gpt: self.ag_head_gpt,
            ag_recovery_pct: self.ag_recovery_pct,
            ag_oz: self.ag_oz,
            conc_mass_pct: self.conc_mass_pct,
            zn_conc_mass_pct: self.zn_conc_mass_pct,
            mill_run_h: self.mill_run_h,
            crusher_run_h: self.crusher_run_h,
            scenario,
        };
        // Serialising plain numbers and strings cannot fail; non-finite
        // floats would become null, and the model never produces them.
        serde_json::to_string(&row).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
struct Period {
    kind: PeriodKind,
    day: Date,
    start_s: i64,
    end_s: i64,
    /// Whether the simulation was running when the period began.
    covered_from_start: bool,
    sums: Sums,
}

impl Period {
    fn totals(&self, end_s: i64, complete: bool) -> PeriodTotals {
        let s = &self.sums;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        PeriodTotals {
            kind: self.kind,
            day: self.day,
            start: ts(self.start_s),
            end: ts(end_s),
            complete,
            wet_t: s.wet_t,
            dry_t: s.dry_t,
            moisture_pct: ratio(s.wet_t - s.dry_t, s.wet_t) * 100.0,
            ag_head_gpt: ratio(s.ag_feed_g, s.dry_t),
            ag_recovery_pct: ratio(s.ag_conc_g, s.ag_feed_g) * 100.0,
            ag_oz: s.ag_conc_g / GRAMS_PER_TROY_OZ,
            conc_mass_pct: ratio(s.pb_conc_t, s.dry_t) * 100.0,
            zn_conc_mass_pct: ratio(s.zn_conc_t, s.dry_t) * 100.0,
            mill_run_h: s.mill_run_s / 3600.0,
            crusher_run_h: s.crusher_run_s / 3600.0,
        }
    }
}

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Everything the API offers about the truth at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthSnapshot {
    /// The model's plant time.
    pub plant_time: Timestamp,
    /// The production day so far.
    pub day: PeriodTotals,
    /// The plant hour so far.
    pub hour: PeriodTotals,
    /// Since the simulation started.
    pub run: PeriodTotals,
    /// Closed production days, oldest first (the last two months).
    pub closed_days: Vec<PeriodTotals>,
}

/// Production-day and hour boundaries in the site's time zone.
#[derive(Debug, Clone)]
pub struct DayCalendar {
    tz: TimeZone,
    day_start: Time,
}

impl DayCalendar {
    pub fn new(tz: TimeZone, day_start: Time) -> Self {
        DayCalendar { tz, day_start }
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    fn start_of(&self, date: Date) -> i64 {
        self.tz
            .to_timestamp(DateTime::from_parts(date, self.day_start))
            .map(|t| t.as_second())
            .unwrap_or(i64::MIN / 2)
    }

    /// The production day containing plant second `t`, with its bounds.
    pub fn day_of(&self, t: i64) -> (Date, i64, i64) {
        let local = self.tz.to_datetime(ts(t)).date();
        let mut date = local;
        if self.start_of(date) > t {
            date = date.yesterday().unwrap_or(date);
        }
        let start = self.start_of(date);
        let end = date
            .tomorrow()
            .map(|d| self.start_of(d))
            .unwrap_or(start + 86_400);
        (date, start, end)
    }

    /// The local clock hour containing plant second `t`.
    pub fn hour_of(&self, t: i64) -> (i64, i64) {
        let local = self.tz.to_datetime(ts(t));
        let floor = local
            .with()
            .minute(0)
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()
            .and_then(|dt| self.tz.to_timestamp(dt).ok())
            .map(|x| x.as_second())
            .unwrap_or(t - t.rem_euclid(3600));
        (floor, floor + 3600)
    }
}

/// Accumulates the truth step by step and hands out closed periods.
#[derive(Debug, Clone)]
pub struct TruthLedger {
    calendar: DayCalendar,
    hour: Period,
    day: Period,
    run: Period,
    closed_days: VecDeque<PeriodTotals>,
    pending: Vec<PeriodTotals>,
    now_s: i64,
}

impl TruthLedger {
    pub fn new(calendar: DayCalendar, start_s: i64) -> Self {
        let (day, day_start, day_end) = calendar.day_of(start_s);
        let (hour_start, hour_end) = calendar.hour_of(start_s);
        TruthLedger {
            hour: Period {
                kind: PeriodKind::Hour,
                day,
                start_s: hour_start,
                end_s: hour_end,
                covered_from_start: hour_start == start_s,
                sums: Sums::default(),
            },
            day: Period {
                kind: PeriodKind::Day,
                day,
                start_s: day_start,
                end_s: day_end,
                covered_from_start: day_start == start_s,
                sums: Sums::default(),
            },
            run: Period {
                kind: PeriodKind::Run,
                day,
                start_s,
                end_s: start_s,
                covered_from_start: true,
                sums: Sums::default(),
            },
            calendar,
            closed_days: VecDeque::new(),
            pending: Vec::new(),
            now_s: start_s,
        }
    }

    pub fn calendar(&self) -> &DayCalendar {
        &self.calendar
    }

    /// Book the step [t, t + dt).
    pub fn record(&mut self, t: i64, dt_s: i64, o: &StepOutcome) {
        let dt = dt_s as f64;
        self.hour.sums.add(o, dt);
        self.day.sums.add(o, dt);
        self.run.sums.add(o, dt);
        self.now_s = t + dt_s;
        if self.now_s >= self.hour.end_s {
            let closed = self
                .hour
                .totals(self.hour.end_s, self.hour.covered_from_start);
            self.pending.push(closed);
            let (start, end) = self.calendar.hour_of(self.now_s);
            let (day, _, _) = self.calendar.day_of(self.now_s);
            self.hour = Period {
                kind: PeriodKind::Hour,
                day,
                start_s: start,
                end_s: end,
                covered_from_start: true,
                sums: Sums::default(),
            };
        }
        if self.now_s >= self.day.end_s {
            let closed = self.day.totals(self.day.end_s, self.day.covered_from_start);
            self.pending.push(closed.clone());
            self.closed_days.push_back(closed);
            if self.closed_days.len() > KEEP_DAYS {
                self.closed_days.pop_front();
            }
            let (day, start, end) = self.calendar.day_of(self.now_s);
            self.day = Period {
                kind: PeriodKind::Day,
                day,
                start_s: start,
                end_s: end,
                covered_from_start: true,
                sums: Sums::default(),
            };
        }
    }

    /// Closed periods not yet handed out, in the order they closed.
    pub fn drain_closed(&mut self) -> Vec<PeriodTotals> {
        std::mem::take(&mut self.pending)
    }

    /// The open hour and day as partial rows, for a shutdown.
    pub fn open_periods(&self) -> Vec<PeriodTotals> {
        vec![
            self.hour.totals(self.now_s, false),
            self.day.totals(self.now_s, false),
        ]
    }

    pub fn snapshot(&self) -> TruthSnapshot {
        TruthSnapshot {
            plant_time: ts(self.now_s),
            day: self.day.totals(self.now_s, false),
            hour: self.hour.totals(self.now_s, false),
            run: self.run.totals(self.now_s, true),
            closed_days: self.closed_days.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lima() -> DayCalendar {
        let tz = TimeZone::get("America/Lima").unwrap();
        DayCalendar::new(tz, Time::new(7, 0, 0, 0).unwrap())
    }

    fn at(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_second()
    }

    #[test]
    fn production_day_starts_at_seven_lima_time() {
        let cal = lima();
        let (day, start, end) = cal.day_of(at("2026-03-02T06:59:59-05:00"));
        assert_eq!(day.to_string(), "2026-03-01");
        assert_eq!(start, at("2026-03-01T07:00:00-05:00"));
        assert_eq!(end, at("2026-03-02T07:00:00-05:00"));
        let (day, _, _) = cal.day_of(at("2026-03-02T07:00:00-05:00"));
        assert_eq!(day.to_string(), "2026-03-02");
    }

    #[test]
    fn a_full_day_closes_24_hours_and_one_complete_day() {
        let start = at("2026-03-01T07:00:00-05:00");
        let mut ledger = TruthLedger::new(lima(), start);
        let o = StepOutcome {
            wet_t: 30.0 / 3600.0,
            dry_t: 28.5 / 3600.0,
            moisture_pct: 5.0,
            ag_head_gpt: 280.0,
            ag_recovery: 0.85,
            pb_conc_mass: 0.03,
            zn_conc_mass: 0.05,
            mill_running: true,
            crusher_running: false,
        };
        for i in 0..86_400 {
            ledger.record(start + i, 1, &o);
        }
        let rows = ledger.drain_closed();
        assert_eq!(
            rows.iter().filter(|r| r.kind == PeriodKind::Hour).count(),
            24
        );
        let day = rows.iter().find(|r| r.kind == PeriodKind::Day).unwrap();
        assert!(day.complete);
        assert!((day.dry_t - 684.0).abs() < 1e-6);
        let oz = day.dry_t * day.ag_head_gpt * day.ag_recovery_pct / 100.0 / GRAMS_PER_TROY_OZ;
        assert!((day.ag_oz - oz).abs() < 1e-6);
        assert!((day.mill_run_h - 24.0).abs() < 1e-9);
        assert!((day.conc_mass_pct - 3.0).abs() < 1e-9);
        assert!((day.zn_conc_mass_pct - 5.0).abs() < 1e-9);
        let line = day.to_json_line(lima().tz(), "normal");
        assert!(
            line.contains(r#""start":"2026-03-01T07:00:00-05:00""#),
            "{line}"
        );
        assert!(line.contains(r#""kind":"day""#), "{line}");
    }
}
