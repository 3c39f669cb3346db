//! Crushing: a jaw crusher fed from the mine, filling the fine-ore bin that
//! buffers it from the mill. The crusher runs fewer hours than the mill at a
//! higher rate, started and stopped by the bin level like a real level
//! control (start at the low setpoint, stop at the high one).

use rand_chacha::ChaCha8Rng;

use super::dynamics::{Drift, Lag};
use crate::registers::Value;

/// Live capacity of the fine-ore bin, tonnes (wet).
pub const BIN_CAPACITY_T: f64 = 800.0;
/// Jaw motor current at zero load (magnetising current) and per kW of load,
/// chosen so ~75 kW draws the ~125 A full-load current.
const MAGNETISING_A: f64 = 40.0;
const AMPS_PER_KW: f64 = 1.55;
const FULL_LOAD_A: f64 = 125.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrushingSignal {
    CrusherRunCmd,
    ApronFeederRunCmd,
    LevelControlAuto,
    AlarmHorn,
    CrusherRunning,
    CrusherTripped,
    CrusherOverloadAlarm,
    BinHighAlarm,
    BinLowAlarm,
    CrusherLubeOk,
    FeedRate,
    Power,
    Current,
    BinLevel,
    BinMass,
    CssMeasured,
    ApronFeederRunning,
    ApronFeederTripped,
    ConveyorRunning,
    RunHours,
    CssSetpoint,
    BinStartLevel,
    BinStopLevel,
}

#[derive(Debug, Clone)]
pub struct Crushing {
    running: bool,
    tripped: bool,
    /// True crusher throughput, wet t/h.
    rate: Lag,
    /// Ore hardness and mine-feed variation around the nominal rate.
    rate_drift: Drift,
    /// Weightometer reading noise (relative).
    meas_noise: Drift,
    power: Lag,
    power_noise: Drift,
    bin_mass_t: f64,
    css_setpoint_mm: f64,
    css_noise: Drift,
    run_hours: f64,
    start_level_pct: f64,
    stop_level_pct: f64,
}

impl Crushing {
    pub fn new(rng: &mut ChaCha8Rng) -> Self {
        Crushing {
            running: false,
            tripped: false,
            rate: Lag::new(0.0, 60.0),
            rate_drift: Drift::new(7.0, 1200.0, rng),
            meas_noise: Drift::new(1.0, 3.0, rng),
            power: Lag::new(0.0, 4.0),
            power_noise: Drift::new(1.2, 20.0, rng),
            bin_mass_t: 0.55 * BIN_CAPACITY_T,
            css_setpoint_mm: 75.0,
            css_noise: Drift::new(0.3, 600.0, rng),
            run_hours: 23_418.6,
            start_level_pct: 40.0,
            stop_level_pct: 85.0,
        }
    }

    pub fn running(&self) -> bool {
        self.running
    }

    pub fn bin_mass_t(&self) -> f64 {
        self.bin_mass_t
    }

    pub fn bin_level_pct(&self) -> f64 {
        self.bin_mass_t / BIN_CAPACITY_T * 100.0
    }

    /// Crusher output over the step, wet tonnes.
    pub fn step(&mut self, dt_s: f64, rng: &mut ChaCha8Rng, forced_trip: bool) -> f64 {
        self.tripped = forced_trip;
        let level = self.bin_level_pct();
        if self.tripped {
            self.running = false;
        } else if !self.running && level <= self.start_level_pct {
            self.running = true;
        } else if self.running && level >= self.stop_level_pct {
            self.running = false;
        }

        let drift = self.rate_drift.step(dt_s, rng);
        let target = if self.running {
            (70.0 + drift).clamp(50.0, 90.0)
        } else {
            0.0
        };
        let rate = self.rate.step(target, dt_s);
        self.meas_noise.step(dt_s, rng);

        let noise = self.power_noise.step(dt_s, rng);
        let power_target = if self.running {
            22.0 + 0.58 * rate + noise
        } else {
            0.0
        };
        self.power.step(power_target, dt_s);
        self.css_noise.step(dt_s, rng);
        if self.running {
            self.run_hours += dt_s / 3600.0;
        }
        rate * dt_s / 3600.0
    }

    /// Mass balance of the bin for one step.
    pub fn settle_bin(&mut self, in_t: f64, out_t: f64) {
        self.bin_mass_t = (self.bin_mass_t + in_t - out_t).clamp(0.0, BIN_CAPACITY_T);
    }

    fn measured_rate(&self) -> f64 {
        (self.rate.value * (1.0 + 0.03 * self.meas_noise.value)).max(0.0)
    }

    fn power_kw(&self) -> f64 {
        self.power.value.max(0.0)
    }

    fn current_a(&self) -> f64 {
        let p = self.power_kw();
        if p < 0.5 {
            0.0
        } else {
            (MAGNETISING_A.powi(2) + (AMPS_PER_KW * p).powi(2)).sqrt()
        }
    }

    fn alarms(&self) -> [bool; 3] {
        [
            self.current_a() > FULL_LOAD_A * 1.05,
            self.bin_level_pct() > 90.0,
            self.bin_level_pct() < 20.0,
        ]
    }

    pub fn read(&self, s: CrushingSignal) -> Value {
        use CrushingSignal as S;
        let [overload, high, low] = self.alarms();
        match s {
            S::CrusherRunCmd | S::ApronFeederRunCmd | S::CrusherRunning => {
                Value::Bool(self.running)
            }
            S::ApronFeederRunning | S::ConveyorRunning => Value::Bool(self.running),
            S::LevelControlAuto | S::CrusherLubeOk => Value::Bool(true),
            S::ApronFeederTripped => Value::Bool(false),
            S::AlarmHorn => Value::Bool(self.tripped || overload || high || low),
            S::CrusherTripped => Value::Bool(self.tripped),
            S::CrusherOverloadAlarm => Value::Bool(overload),
            S::BinHighAlarm => Value::Bool(high),
            S::BinLowAlarm => Value::Bool(low),
            S::FeedRate => Value::Number(self.measured_rate()),
            S::Power => Value::Number(self.power_kw()),
            S::Current => Value::Number(self.current_a()),
            S::BinLevel => Value::Number(self.bin_level_pct()),
            S::BinMass => Value::Number(self.bin_mass_t),
            S::CssMeasured => Value::Number(self.css_setpoint_mm + self.css_noise.value),
            S::RunHours => Value::Counter(self.run_hours),
            S::CssSetpoint => Value::Number(self.css_setpoint_mm),
            S::BinStartLevel => Value::Number(self.start_level_pct),
            S::BinStopLevel => Value::Number(self.stop_level_pct),
        }
    }
}
