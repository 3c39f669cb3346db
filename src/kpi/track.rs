//! One tag as the KPI engine sees it: the last good value, held between
//! samples for at most a few scan intervals, and how far its time
//! integration has been carried.
//!
//! Hold-last-value is what a PLC-backed signal means between scans; beyond
//! the cap the value is unknown (a comm failure nobody reported, a stopped
//! gateway), and unknown time counts neither for nor against a KPI.
use serde::{Deserialize, Serialize};

/// A held value is trusted for this many scan intervals.
pub const HOLD_SCANS: i64 = 3;
/// Spacings kept for the scan-interval estimate; the median of a short
/// window ignores both catch-up bursts and outages.
const SPACING_WINDOW: usize = 15;

/// How long a held value stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldCap {
    /// 3 × the median spacing between the tag's recent readings.
    Inferred,
    Fixed {
        ms: i64,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// Last good value and its time.
    pub last_good: Option<(f64, i64)>,
    /// The latest reading was bad: nothing is held.
    pub bad: bool,
    /// Time integration has been done up to here.
    pub accounted_ms: Option<i64>,
    /// Time of the latest reading of any quality.
    pub last_seen_ms: Option<i64>,
    pub spacing_ms: Vec<i64>,
}

impl Track {
    pub fn cap_ms(&self, cap: HoldCap) -> i64 {
        match cap {
            HoldCap::Fixed { ms } => ms,
            HoldCap::Inferred => {
                let mut s = self.spacing_ms.clone();
                if s.is_empty() {
                    return 0;
                }
                s.sort_unstable();
                HOLD_SCANS * s[s.len() / 2]
            }
        }
    }

    /// Notes that a reading (any quality) arrived at `ts_ms`.
    pub fn seen(&mut self, ts_ms: i64) {
        if let Some(prev) = self.last_seen_ms {
            if ts_ms > prev {
                if self.spacing_ms.len() == SPACING_WINDOW {
                    self.spacing_ms.remove(0);
                }
                self.spacing_ms.push(ts_ms - prev);
            }
        }
        self.last_seen_ms = Some(self.last_seen_ms.map_or(ts_ms, |p| p.max(ts_ms)));
    }

    /// The value valid at `at_ms`, if any.
    pub fn held(&self, at_ms: i64, cap: HoldCap) -> Option<f64> {
        if self.bad {
            return None;
        }
        let (v, ts) = self.last_good?;
        (at_ms - ts <= self.cap_ms(cap)).then_some(v)
    }

    /// Moves the integration pointer to `to_ms` and returns the span that
    /// had a good held value, with that value: `[from, until)`.
    pub fn advance(&mut self, to_ms: i64, cap: HoldCap) -> Option<(i64, i64, f64)> {
        let Some(from) = self.accounted_ms else {
            self.accounted_ms = Some(to_ms);
            return None;
        };
        if to_ms <= from {
            return None;
        }
        self.accounted_ms = Some(to_ms);
        if self.bad {
            return None;
        }
        let (v, ts) = self.last_good?;
        let until = to_ms.min(ts.saturating_add(self.cap_ms(cap)));
        (until > from).then_some((from, until, v))
    }

    /// Records a reading, after the caller has advanced the track to its time.
    pub fn apply(&mut self, ts_ms: i64, value: Option<f64>) {
        match value {
            Some(v) => {
                self.last_good = Some((v, ts_ms));
                self.bad = false;
            }
            None => self.bad = true,
        }
        if self.accounted_ms.is_none() {
            self.accounted_ms = Some(ts_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_is_capped_at_three_scans() {
        let mut t = Track::default();
        for ts in [0, 1_000, 2_000] {
            t.seen(ts);
            t.advance(ts, HoldCap::Inferred);
            t.apply(ts, Some(400.0));
        }
        assert_eq!(t.cap_ms(HoldCap::Inferred), 3_000);
        // Next reading 60 s later: only 3 s of the gap count.
        t.seen(62_000);
        assert_eq!(
            t.advance(62_000, HoldCap::Inferred),
            Some((2_000, 5_000, 400.0))
        );
        t.apply(62_000, None);
        t.seen(63_000);
        assert_eq!(
            t.advance(63_000, HoldCap::Inferred),
            None,
            "a bad reading holds nothing"
        );
        assert_eq!(t.held(63_000, HoldCap::Inferred), None);
    }

    #[test]
    fn median_spacing_ignores_one_outage() {
        let mut t = Track::default();
        for ts in [0, 1_000, 2_000, 3_000, 600_000, 601_000] {
            t.seen(ts);
        }
        assert_eq!(t.cap_ms(HoldCap::Inferred), 3_000);
        assert_eq!(t.cap_ms(HoldCap::Fixed { ms: 180_000 }), 180_000);
    }
}
