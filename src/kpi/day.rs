//! The production calendar: days start at `day_start` in the site's time
//! zone (not at UTC midnight), and the metallurgical year starts at
//! `year_start` on the production day of that date.
//!
//! A production day is named by the local date on which it starts: with
//! `day_start = 07:00` in America/Lima, day `2026-03-01` is
//! [2026-03-01 07:00 −05, 2026-03-02 07:00 −05) = [12:00Z, 12:00Z next day).
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::KpiError;

/// How far a single interval may be split into days. A longer span is a
/// clock error, not a production record; it is booked to its last day.
const MAX_SPLIT_DAYS: usize = 400;

#[derive(Debug, Clone)]
pub struct Calendar {
    tz: TimeZone,
    day_start: Time,
    year_start: (i8, i8),
}

/// One day's share of an interval `[from_ms, to_ms)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Piece {
    pub day: Date,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Share of the whole interval (1.0 for a zero-length interval).
    pub frac: f64,
}

impl Calendar {
    pub fn new(tz: TimeZone, day_start: Time, year_start: (i8, i8)) -> Self {
        Calendar {
            tz,
            day_start,
            year_start,
        }
    }

    /// The production day containing the instant `ts_ms`.
    pub fn day_of(&self, ts_ms: i64) -> Result<Date, KpiError> {
        let ts = Timestamp::from_millisecond(ts_ms).map_err(|e| time_err(ts_ms, e))?;
        let local = self.tz.to_datetime(ts);
        let mut day = local.date();
        if local.time() < self.day_start {
            day = day.yesterday().map_err(|e| time_err(ts_ms, e))?;
        }
        // Where DST moves the clock across day_start the local-time guess
        // can be off by one; the instants decide.
        if ts_ms < self.start_ms(day)? {
            day = day.yesterday().map_err(|e| time_err(ts_ms, e))?;
        } else if ts_ms >= self.end_ms(day)? {
            day = day.tomorrow().map_err(|e| time_err(ts_ms, e))?;
        }
        Ok(day)
    }

    /// First instant of production day `day`.
    pub fn start_ms(&self, day: Date) -> Result<i64, KpiError> {
        let ts = self
            .tz
            .to_timestamp(day.to_datetime(self.day_start))
            .map_err(|e| KpiError::Calendar(format!("{day} {}: {e}", self.day_start)))?;
        Ok(ts.as_millisecond())
    }

    /// First instant after production day `day`.
    pub fn end_ms(&self, day: Date) -> Result<i64, KpiError> {
        self.start_ms(next_day(day)?)
    }

    /// The first production day of the metallurgical year containing `day`.
    pub fn year_of(&self, day: Date) -> Result<Date, KpiError> {
        let this = self.year_start_in(day.year())?;
        if day >= this {
            Ok(this)
        } else {
            self.year_start_in(day.year() - 1)
        }
    }

    /// First production day of the year after the one starting on `year`.
    pub fn next_year(&self, year: Date) -> Result<Date, KpiError> {
        self.year_start_in(year.year() + 1)
    }

    fn year_start_in(&self, y: i16) -> Result<Date, KpiError> {
        let (m, d) = self.year_start;
        let first = Date::new(y, m, 1)
            .map_err(|e| KpiError::Calendar(format!("year start {y}-{m:02}: {e}")))?;
        // 02-29 falls back to 02-28 in common years.
        Ok(first
            .with()
            .day(d.min(first.days_in_month()))
            .build()
            .unwrap_or(first))
    }

    /// Splits `[from_ms, to_ms)` at production-day boundaries. An empty or
    /// backwards interval gives one piece in the day of `to_ms`.
    pub fn split(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Piece>, KpiError> {
        let last = self.day_of(to_ms.max(from_ms + 1) - 1)?;
        if to_ms <= from_ms {
            return Ok(vec![Piece {
                day: self.day_of(to_ms)?,
                from_ms: to_ms,
                to_ms,
                frac: 1.0,
            }]);
        }
        let len = (to_ms - from_ms) as f64;
        let mut day = self.day_of(from_ms)?;
        let mut start = from_ms;
        let mut out = Vec::with_capacity(2);
        while day < last && out.len() < MAX_SPLIT_DAYS {
            let end = self.end_ms(day)?;
            out.push(Piece {
                day,
                from_ms: start,
                to_ms: end,
                frac: (end - start) as f64 / len,
            });
            start = end;
            day = next_day(day)?;
        }
        out.push(Piece {
            day: last,
            from_ms: start,
            to_ms,
            frac: (to_ms - start) as f64 / len,
        });
        Ok(out)
    }
}

pub fn next_day(day: Date) -> Result<Date, KpiError> {
    day.tomorrow()
        .map_err(|e| KpiError::Calendar(format!("day after {day}: {e}")))
}

fn time_err(ts_ms: i64, e: jiff::Error) -> KpiError {
    KpiError::Calendar(format!("timestamp {ts_ms} ms: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn lima() -> Calendar {
        Calendar::new(
            TimeZone::get("America/Lima").unwrap(),
            time(7, 0, 0, 0),
            (1, 1),
        )
    }

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn day_starts_at_07_lima_which_is_12_utc() {
        let c = lima();
        assert_eq!(
            c.start_ms(date(2026, 3, 1)).unwrap(),
            ms("2026-03-01T12:00:00Z")
        );
        assert_eq!(
            c.day_of(ms("2026-03-01T12:00:00Z")).unwrap(),
            date(2026, 3, 1)
        );
        // 06:59 local on the 2nd still belongs to the 1st.
        assert_eq!(
            c.day_of(ms("2026-03-02T11:59:00Z")).unwrap(),
            date(2026, 3, 1)
        );
        assert_eq!(
            c.day_of(ms("2026-03-02T11:59:59.999Z")).unwrap(),
            date(2026, 3, 1)
        );
        assert_eq!(
            c.day_of(ms("2026-03-02T12:00:00Z")).unwrap(),
            date(2026, 3, 2)
        );
        // 01:00 local: UTC date is already the 2nd's 06:00, local is the 1st, day is Feb 28.
        assert_eq!(
            c.day_of(ms("2026-03-01T06:00:00Z")).unwrap(),
            date(2026, 2, 28)
        );
    }

    #[test]
    fn dst_zone_days_are_23_and_25_hours() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let c = Calendar::new(berlin.clone(), time(7, 0, 0, 0), (1, 1));
        let len = |d| c.end_ms(d).unwrap() - c.start_ms(d).unwrap();
        assert_eq!(len(date(2026, 3, 28)), 23 * 3_600_000);
        assert_eq!(len(date(2026, 10, 24)), 25 * 3_600_000);
        // A day_start that does not exist on the spring-forward night.
        let gap = Calendar::new(berlin, time(2, 30, 0, 0), (1, 1));
        for d in [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)] {
            let start = gap.start_ms(d).unwrap();
            assert_eq!(gap.day_of(start).unwrap(), d);
            assert_eq!(gap.day_of(start - 1).unwrap(), d.yesterday().unwrap());
        }
    }

    #[test]
    fn year_start_and_leap_day() {
        let c = lima();
        assert_eq!(c.year_of(date(2026, 1, 1)).unwrap(), date(2026, 1, 1));
        assert_eq!(c.year_of(date(2025, 12, 31)).unwrap(), date(2025, 1, 1));
        let fy = Calendar::new(
            TimeZone::get("America/Lima").unwrap(),
            time(7, 0, 0, 0),
            (7, 1),
        );
        assert_eq!(fy.year_of(date(2026, 6, 30)).unwrap(), date(2025, 7, 1));
        assert_eq!(fy.year_of(date(2026, 7, 1)).unwrap(), date(2026, 7, 1));
        assert_eq!(fy.next_year(date(2026, 7, 1)).unwrap(), date(2027, 7, 1));
        let leap = Calendar::new(TimeZone::UTC, time(0, 0, 0, 0), (2, 29));
        assert_eq!(leap.year_of(date(2025, 3, 1)).unwrap(), date(2025, 2, 28));
        assert_eq!(leap.year_of(date(2024, 3, 1)).unwrap(), date(2024, 2, 29));
    }

    #[test]
    fn split_is_pro_rata_at_the_boundary() {
        let c = lima();
        let p = c
            .split(ms("2026-03-02T11:59:00Z"), ms("2026-03-02T12:03:00Z"))
            .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].day, date(2026, 3, 1));
        assert_eq!(p[1].day, date(2026, 3, 2));
        assert!((p[0].frac - 0.25).abs() < 1e-12 && (p[1].frac - 0.75).abs() < 1e-12);
        let one = c
            .split(ms("2026-03-02T12:00:00Z"), ms("2026-03-02T12:00:01Z"))
            .unwrap();
        assert_eq!(one.len(), 1);
        let empty = c.split(5, 5).unwrap();
        assert_eq!(empty[0].frac, 1.0);
        let three = c
            .split(ms("2026-03-01T00:00:00Z"), ms("2026-03-03T00:00:00Z"))
            .unwrap();
        assert_eq!(three.len(), 3);
        assert!((three.iter().map(|p| p.frac).sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
