//! Per-day accumulators. Everything here is additive so a day can be built
//! from any number of pieces, and a provisional piece (rate fallback while
//! the totaliser was bad) can be taken back out exactly when the totaliser
//! delta that covers the same time arrives.
use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::date_serde::date_format;
use crate::config::KpiInput;

/// Σ weight × value and Σ weight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Composite {
    pub wv: f64,
    pub w: f64,
}

impl Composite {
    pub fn value(&self) -> Option<f64> {
        // A weight that subtraction left at rounding-noise level is no weight.
        (self.w > 1e-9).then(|| self.wv / self.w)
    }
}

/// Ore tonnes booked into a day, with what is needed to turn them into dry
/// tonnes and tonnage-weighted assays.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ore {
    pub wet_t: f64,
    /// The part of `wet_t` booked while moisture was known…
    pub moist_wet_t: f64,
    /// …and Σ wet t × moisture % over that part.
    pub moist_wt: f64,
    /// Keyed by the assay input (`feed_ag`, …).
    pub assays: BTreeMap<KpiInput, Composite>,
}

impl Ore {
    pub fn add(&mut self, o: &Ore) {
        self.combine(o, 1.0);
    }

    pub fn sub(&mut self, o: &Ore) {
        self.combine(o, -1.0);
    }

    fn combine(&mut self, o: &Ore, sign: f64) {
        self.wet_t += sign * o.wet_t;
        self.moist_wet_t += sign * o.moist_wet_t;
        self.moist_wt += sign * o.moist_wt;
        for (a, c) in &o.assays {
            let e = self.assays.entry(*a).or_default();
            e.wv += sign * c.wv;
            e.w += sign * c.w;
        }
    }

    /// Tonnage-weighted moisture over the part where it was known.
    pub fn mean_moisture(&self) -> Option<f64> {
        (self.moist_wet_t > 1e-9).then(|| self.moist_wt / self.moist_wet_t)
    }

    /// Dry tonnes: exact where moisture was known, and `fallback_moisture`
    /// (the day's mean, else the last known) for the rest.
    pub fn dry_t(&self, fallback_moisture: Option<f64>) -> Option<f64> {
        let known = self.moist_wet_t - self.moist_wt / 100.0;
        let unknown = self.wet_t - self.moist_wet_t;
        if unknown.abs() < 1e-9 {
            return Some(known);
        }
        let m = self.mean_moisture().or(fallback_moisture)?;
        Some(known + unknown * (1.0 - m / 100.0))
    }

    pub fn assay(&self, a: KpiInput) -> Option<f64> {
        self.assays.get(&a).and_then(Composite::value)
    }
}

/// Everything known about one production day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayAccum {
    #[serde(with = "date_format")]
    pub day: Date,
    /// All booked tonnes: totaliser deltas and committed or provisional
    /// rate fallback.
    pub ore: Ore,
    /// The provisional part of `ore`: rate fallback during a totaliser
    /// outage that has not been settled yet.
    pub provisional: Ore,
    /// Wet tonnes from integrating the belt-scale rate (cross-check).
    pub rate_wet_t: f64,
    pub mill_known_ms: i64,
    pub mill_running_ms: i64,
    /// Per configured tag path: time covered by a good (held) value.
    pub good_ms: BTreeMap<String, i64>,
    pub totaliser_resets: u32,
}

impl DayAccum {
    pub fn new(day: Date) -> Self {
        DayAccum {
            day,
            ore: Ore::default(),
            provisional: Ore::default(),
            rate_wet_t: 0.0,
            mill_known_ms: 0,
            mill_running_ms: 0,
            good_ms: BTreeMap::new(),
            totaliser_resets: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KpiInput as Assay;

    #[test]
    fn add_then_sub_is_identity_and_dry_uses_weighted_moisture() {
        let mut a = Ore {
            wet_t: 100.0,
            moist_wet_t: 100.0,
            moist_wt: 400.0,
            assays: BTreeMap::from([(
                Assay::FeedAg,
                Composite {
                    wv: 96.0 * 250.0,
                    w: 96.0,
                },
            )]),
        };
        let b = Ore {
            wet_t: 50.0,
            moist_wet_t: 50.0,
            moist_wt: 300.0,
            assays: BTreeMap::from([(
                Assay::FeedAg,
                Composite {
                    wv: 47.0 * 280.0,
                    w: 47.0,
                },
            )]),
        };
        let before = a.clone();
        a.add(&b);
        // 100 t at 4 % and 50 t at 6 %: 96 + 47 = 143 dry t, mean moisture 4.667 %.
        assert!((a.dry_t(None).unwrap() - 143.0).abs() < 1e-9);
        assert!((a.mean_moisture().unwrap() - 700.0 / 150.0).abs() < 1e-12);
        assert!(
            (a.assay(Assay::FeedAg).unwrap() - (96.0 * 250.0 + 47.0 * 280.0) / 143.0).abs() < 1e-9
        );
        a.sub(&b);
        assert!((a.wet_t - before.wet_t).abs() < 1e-12);
        assert!((a.assay(Assay::FeedAg).unwrap() - 250.0).abs() < 1e-9);
    }

    #[test]
    fn unknown_moisture_part_uses_the_fallback() {
        let o = Ore {
            wet_t: 10.0,
            ..Ore::default()
        };
        assert_eq!(o.dry_t(None), None);
        assert!((o.dry_t(Some(5.0)).unwrap() - 9.5).abs() < 1e-12);
    }
}
