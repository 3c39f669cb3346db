//! Plausible values for tags the plant model does not know (`--from-config`
//! with a user's own map): steady bools named like their meaning, analog
//! values wandering inside a band fit for the unit and the tag's min/max,
//! and counters that rise and wrap inside their range.

use rand_chacha::ChaCha8Rng;

use crate::model::dynamics::Drift;
use crate::registers::{DataType, Value};

/// How a stand-in value behaves.
#[derive(Debug, Clone, PartialEq)]
pub enum SyntheticKind {
    /// A steady bool.
    Flag(bool),
    /// An analog value wandering inside `[lo, hi]`, quantised to `step`
    /// (the tag's scale) so the served value stays inside after encoding.
    Analog { lo: f64, hi: f64, step: f64 },
    /// A totaliser-like counter, wrapping from `hi` back to `lo`.
    Counter {
        start: f64,
        per_hour: f64,
        lo: f64,
        hi: f64,
    },
}

/// What inference needs to know about a tag.
#[derive(Debug, Clone, Copy)]
pub struct TagTraits<'a> {
    pub equipment: &'a str,
    pub name: &'a str,
    pub unit: &'a str,
    pub data_type: DataType,
    pub scale: f64,
    pub offset: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl SyntheticKind {
    pub fn infer(t: &TagTraits<'_>) -> SyntheticKind {
        let name = format!("{}.{}", t.equipment, t.name).to_ascii_lowercase();
        if t.data_type == DataType::Bool {
            return SyntheticKind::Flag(flag_default(&name));
        }
        let (type_lo, type_hi) = engineering_range(t);
        let lo = t.min.unwrap_or(f64::NEG_INFINITY).max(type_lo);
        let hi = t.max.unwrap_or(f64::INFINITY).min(type_hi);
        let step = if t.data_type.is_integer() {
            t.scale.abs()
        } else {
            0.0
        };
        if let Some(per_hour) = counter_rate(&name, t.unit) {
            let lo = if lo.is_finite() { lo.max(0.0) } else { 0.0 };
            let hi = if hi.is_finite() {
                hi
            } else {
                lo + 1e9 * per_hour
            };
            let start = lo + 0.25 * (hi - lo).min(100_000.0 * per_hour);
            return SyntheticKind::Counter {
                start,
                per_hour,
                lo,
                hi,
            };
        }
        let (ulo, uhi) = unit_band(&name, t.unit);
        let (mut a, mut b) = (ulo.max(lo), uhi.min(hi));
        if a >= b {
            // The unit's usual band misses the configured range: use its middle.
            let (l, h) = (
                if lo.is_finite() { lo } else { hi - 100.0 },
                if hi.is_finite() { hi } else { lo + 100.0 },
            );
            a = l + 0.2 * (h - l);
            b = h - 0.2 * (h - l);
        }
        SyntheticKind::Analog { lo: a, hi: b, step }
    }
}

fn flag_default(name: &str) -> bool {
    const FALSE_WORDS: [&str; 9] = [
        "trip", "alarm", "fault", "fail", "error", "high", "low", "stop", "warn",
    ];
    const TRUE_WORDS: [&str; 9] = [
        "run", "ok", "auto", "enable", "ready", "healthy", "on", "open", "remote",
    ];
    if FALSE_WORDS.iter().any(|w| name.contains(w)) {
        return false;
    }
    TRUE_WORDS.iter().any(|w| name.contains(w))
}

/// Counters are recognised by name or by an energy/time unit.
fn counter_rate(name: &str, unit: &str) -> Option<f64> {
    let unit = unit.to_ascii_lowercase();
    let counter_name = ["total", "counter", "count", "hours", "revolution", "energy"]
        .iter()
        .any(|w| name.contains(w));
    let per_hour = match unit.as_str() {
        "kwh" => 420.0,
        "mwh" => 0.42,
        "h" => 1.0,
        "t" | "tonnes" | "wmt" | "dmt" => 30.0,
        "m3" | "m³" => 50.0,
        "rev" => 936.0,
        _ => 10.0,
    };
    let counter_unit = matches!(unit.as_str(), "kwh" | "mwh");
    (counter_name || counter_unit).then_some(per_hour)
}

/// The usual operating band for a unit.
fn unit_band(name: &str, unit: &str) -> (f64, f64) {
    let u = unit.to_ascii_lowercase();
    let has = |w: &str| name.contains(w);
    match u.as_str() {
        "t/h" | "tph" | "stph" => (25.0, 35.0),
        "kw" => (100.0, 500.0),
        "mw" => (0.5, 2.0),
        "a" => (50.0, 150.0),
        "v" => (380.0, 420.0),
        "kv" => (4.0, 4.3),
        "°c" | "degc" | "c" | "deg c" => (30.0, 60.0),
        "% solids" => (30.0, 70.0),
        "%" if has("moisture") => (3.0, 6.0),
        "%" if has("density") || has("solids") => (30.0, 70.0),
        "%" if has("zn") => (2.0, 4.0),
        "%" if has("pb") => (1.0, 3.0),
        "%" => (20.0, 80.0),
        "kpa" => (50.0, 100.0),
        "bar" => (2.0, 6.0),
        "psi" => (30.0, 90.0),
        "mm" => (50.0, 200.0),
        "µm" | "um" | "micron" => (75.0, 150.0),
        "m/s" => (0.8, 1.5),
        "rpm" => (900.0, 1500.0),
        "hz" => (49.5, 50.5),
        "nm³/min" | "nm3/min" => (2.0, 8.0),
        "m³/h" | "m3/h" => (50.0, 150.0),
        "l/min" => (10.0, 50.0),
        "ph" => (8.5, 9.5),
        "g/t" if has("ag") => (200.0, 320.0),
        "g/t" => (10.0, 50.0),
        "ppm" => (5.0, 50.0),
        "kg/m" => (5.0, 10.0),
        "s" => (1.0, 60.0),
        "t" => (100.0, 500.0),
        _ if has("ph") => (8.5, 9.5),
        _ => (10.0, 90.0),
    }
}

/// Engineering values an integer type can carry (floats: unbounded).
fn engineering_range(t: &TagTraits<'_>) -> (f64, f64) {
    let raw = match t.data_type {
        DataType::U16 => Some((0.0, f64::from(u16::MAX))),
        DataType::I16 => Some((f64::from(i16::MIN), f64::from(i16::MAX))),
        DataType::U32 => Some((0.0, f64::from(u32::MAX))),
        DataType::I32 => Some((f64::from(i32::MIN), f64::from(i32::MAX))),
        DataType::U64 => Some((0.0, 2f64.powi(53))),
        DataType::I64 => Some((-(2f64.powi(53)), 2f64.powi(53))),
        _ => None,
    };
    match raw {
        Some((a, b)) => {
            let (x, y) = (a * t.scale + t.offset, b * t.scale + t.offset);
            (x.min(y), x.max(y))
        }
        None => (f64::NEG_INFINITY, f64::INFINITY),
    }
}

/// The running state of one stand-in.
#[derive(Debug, Clone)]
pub struct SyntheticState {
    kind: SyntheticKind,
    drift: Drift,
    elapsed_h: f64,
}

impl SyntheticState {
    pub fn new(kind: SyntheticKind, rng: &mut ChaCha8Rng) -> Self {
        SyntheticState {
            kind,
            drift: Drift::new(1.0, 900.0, rng),
            elapsed_h: 0.0,
        }
    }

    pub fn step(&mut self, dt_s: f64, rng: &mut ChaCha8Rng) {
        self.drift.step(dt_s, rng);
        self.elapsed_h += dt_s / 3600.0;
    }

    pub fn value(&self) -> Value {
        match &self.kind {
            SyntheticKind::Flag(b) => Value::Bool(*b),
            SyntheticKind::Analog { lo, hi, step } => {
                let v = lo + (hi - lo) * (0.5 + 0.4 * self.drift.value.tanh());
                Value::Number(snap_inside(v, *lo, *hi, *step))
            }
            SyntheticKind::Counter {
                start,
                per_hour,
                lo,
                hi,
            } => {
                let span = hi - lo;
                let mut v = start + per_hour * self.elapsed_h;
                if span > 0.0 && v > *hi {
                    v = lo + (v - lo).rem_euclid(span);
                }
                Value::Number(v)
            }
        }
    }
}

/// Round to the tag's raw grid without leaving the band.
fn snap_inside(v: f64, lo: f64, hi: f64, step: f64) -> f64 {
    if step <= 0.0 || !step.is_finite() {
        return v;
    }
    let mut q = (v / step).round() * step;
    if q < lo {
        q += step;
    }
    if q > hi {
        q -= step;
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn traits<'a>(name: &'a str, unit: &'a str, ty: DataType) -> TagTraits<'a> {
        TagTraits {
            equipment: "pump_1",
            name,
            unit,
            data_type: ty,
            scale: 1.0,
            offset: 0.0,
            min: None,
            max: None,
        }
    }

    #[test]
    fn flags_follow_their_names() {
        assert_eq!(
            SyntheticKind::infer(&traits("running", "", DataType::Bool)),
            SyntheticKind::Flag(true)
        );
        assert_eq!(
            SyntheticKind::infer(&traits("run_tripped", "", DataType::Bool)),
            SyntheticKind::Flag(false)
        );
    }

    #[test]
    fn analog_values_stay_inside_min_max_for_a_long_time() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut t = traits("discharge_pressure", "kPa", DataType::U16);
        t.scale = 0.1;
        t.min = Some(60.0);
        t.max = Some(70.0);
        let mut s = SyntheticState::new(SyntheticKind::infer(&t), &mut rng);
        for _ in 0..10_000 {
            s.step(10.0, &mut rng);
            let v = s.value().as_f64().unwrap_or(f64::NAN);
            assert!((60.0..=70.0).contains(&v), "{v}");
        }
    }

    #[test]
    fn counters_wrap_inside_their_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut t = traits("total", "t", DataType::U16);
        t.max = Some(1000.0);
        let mut s = SyntheticState::new(SyntheticKind::infer(&t), &mut rng);
        for _ in 0..1000 {
            s.step(3600.0, &mut rng);
            let v = s.value().as_f64().unwrap_or(f64::NAN);
            assert!((0.0..=1000.0).contains(&v), "{v}");
        }
    }
}
