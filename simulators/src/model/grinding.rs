//! Grinding: the mill-feed belt (weighed by a BW500-style integrator), the
//! ball mill and its cyclone cluster. The belt draws from the fine-ore bin;
//! when the bin runs dry the mill grinds out and stops on its no-feed
//! interlock, and restarts once the bin has ore again.

use rand_chacha::ChaCha8Rng;

use super::dynamics::{Drift, Lag};
use crate::registers::Value;

/// Feeder setpoint, wet t/h: 30.6 wet at 4.5 % moisture is ~700 dry t/day.
pub const FEED_SETPOINT_TPH: f64 = 30.6;
/// Mill motor: 4.16 kV, power factor 0.86.
const MILL_KV: f64 = 4.16;
const MILL_PF: f64 = 0.86;
const AMBIENT_C: f64 = 18.0;
const BEARING_ALARM_C: f64 = 70.0;
const BEARING_TRIP_C: f64 = 75.0;
/// The mill is stopped after grinding out this long without feed.
const NO_FEED_STOP_S: f64 = 600.0;
/// Operators restart the mill once the bin holds this much.
const RESTART_LEVEL_PCT: f64 = 15.0;
const BELT_SPEED_MS: f64 = 1.2;
const MILL_RPM: f64 = 15.6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrindingSignal {
    BeltRate,
    BeltTotal,
    BeltSpeed,
    BeltLoad,
    Moisture,
    FeedSetpoint,
    MillPower,
    MillCurrent,
    BearingDe,
    BearingNde,
    DischargeDensity,
    CyclonePressure,
    OverflowDensity,
    OverflowP80,
    MillEnergy,
    MillRevolutions,
    MillRunHours,
    CyclonePumpRunning,
    MillLubeOk,
    MillClutchEngaged,
    Maintenance,
    MillRunning,
    MillTripped,
    BearingAlarm,
    BearingTrip,
    BeltRunning,
    NoFeedAlarm,
    MillRunCmd,
    BeltRunCmd,
    CyclonePumpRunCmd,
}

/// What one step of grinding delivered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrindingStep {
    /// Wet tonnes drawn from the bin and weighed by the belt scale.
    pub wet_t: f64,
    pub moisture_pct: f64,
}

#[derive(Debug, Clone)]
pub struct Grinding {
    mill_running: bool,
    mill_tripped: bool,
    maintenance: bool,
    no_feed_s: f64,
    low_feed_s: f64,
    /// True belt rate, wet t/h.
    rate: Lag,
    rate_drift: Drift,
    /// Belt-scale reading noise (relative, 1 σ ≈ 3.5 %).
    meas_noise: Drift,
    moisture_drift: Drift,
    /// The integrator's count in kg: an exact integer, as the device keeps it.
    total_kg: u64,
    total_frac_kg: f64,
    power: Lag,
    power_noise: Drift,
    bearing_de: Lag,
    bearing_nde: Lag,
    bearing_noise: Drift,
    discharge_density: Lag,
    dd_drift: Drift,
    cyclone_pressure: Lag,
    pressure_drift: Drift,
    pressure_noise: Drift,
    overflow_density: Lag,
    od_drift: Drift,
    p80: Lag,
    p80_drift: Drift,
    energy_kwh: f64,
    revolutions: f64,
    run_hours: f64,
}

impl Grinding {
    pub fn new(rng: &mut ChaCha8Rng, totaliser_start_t: f64) -> Self {
        // Start at steady state: running, warm, loaded.
        let power = 240.0 + 5.8 * FEED_SETPOINT_TPH;
        Grinding {
            mill_running: true,
            mill_tripped: false,
            maintenance: false,
            no_feed_s: 0.0,
            low_feed_s: 0.0,
            rate: Lag::new(FEED_SETPOINT_TPH, 90.0),
            rate_drift: Drift::new(0.02, 900.0, rng),
            meas_noise: Drift::new(1.0, 4.0, rng),
            moisture_drift: Drift::new(0.45, 6.0 * 3600.0, rng),
            total_kg: totaliser_kg(totaliser_start_t),
            total_frac_kg: 0.0,
            power: Lag::new(power, 20.0),
            power_noise: Drift::new(5.0, 60.0, rng),
            bearing_de: Lag::new(24.0 + 0.06 * power + 2.0, 2700.0),
            bearing_nde: Lag::new(24.0 + 0.06 * power - 1.0, 2700.0),
            bearing_noise: Drift::new(0.6, 1200.0, rng),
            discharge_density: Lag::new(70.0, 300.0),
            dd_drift: Drift::new(1.5, 900.0, rng),
            cyclone_pressure: Lag::new(75.0, 30.0),
            pressure_drift: Drift::new(4.0, 120.0, rng),
            pressure_noise: Drift::new(1.0, 2.0, rng),
            overflow_density: Lag::new(31.5, 300.0),
            od_drift: Drift::new(0.9, 1200.0, rng),
            p80: Lag::new(105.0, 600.0),
            p80_drift: Drift::new(6.0, 1800.0, rng),
            energy_kwh: 18_734_512.0,
            revolutions: 512_044_310.0,
            run_hours: 61_234.5,
        }
    }

    pub fn mill_running(&self) -> bool {
        self.mill_running
    }

    /// True (not measured) belt rate, wet t/h.
    pub fn true_rate_tph(&self) -> f64 {
        self.rate.value
    }

    pub fn moisture_pct(&self) -> f64 {
        (4.5 + self.moisture_drift.value).clamp(3.0, 6.0)
    }

    pub fn p80_um(&self) -> f64 {
        self.p80.value
    }

    pub fn totaliser_t(&self) -> f64 {
        self.total_kg as f64 / 1000.0
    }

    pub fn set_totaliser_t(&mut self, tonnes: f64) {
        self.total_kg = totaliser_kg(tonnes);
        self.total_frac_kg = 0.0;
    }

    fn bearing_max(&self) -> f64 {
        self.bearing_de.value.max(self.bearing_nde.value) + self.bearing_noise.value
    }

    pub fn step(
        &mut self,
        dt_s: f64,
        rng: &mut ChaCha8Rng,
        maintenance: bool,
        bin_mass_t: f64,
        bin_level_pct: f64,
    ) -> GrindingStep {
        self.maintenance = maintenance;
        if self.bearing_max() > BEARING_TRIP_C {
            self.mill_tripped = true;
            self.mill_running = false;
        } else if self.mill_tripped && self.bearing_max() < 60.0 {
            self.mill_tripped = false;
        }
        if maintenance {
            self.mill_running = false;
        } else if !self.mill_running && !self.mill_tripped && bin_level_pct >= RESTART_LEVEL_PCT {
            self.mill_running = true;
            self.no_feed_s = 0.0;
        }

        let drift = self.rate_drift.step(dt_s, rng);
        let target = if self.mill_running && bin_mass_t > 0.05 {
            FEED_SETPOINT_TPH * (1.0 + drift)
        } else {
            0.0
        };
        let mut rate = self.rate.step(target, dt_s);
        let mut wet_t = rate * dt_s / 3600.0;
        if wet_t > bin_mass_t {
            // The bin ran dry mid-step: the belt carries only what was left.
            wet_t = bin_mass_t.max(0.0);
            rate = wet_t * 3600.0 / dt_s;
            self.rate.value = rate;
        }
        self.meas_noise.step(dt_s, rng);
        self.moisture_drift.step(dt_s, rng);

        if self.mill_running && rate < 3.0 {
            self.no_feed_s += dt_s;
            if self.no_feed_s >= NO_FEED_STOP_S {
                self.mill_running = false;
            }
        } else {
            self.no_feed_s = 0.0;
        }
        if self.mill_running && self.measured_rate() < 5.0 {
            self.low_feed_s += dt_s;
        } else {
            self.low_feed_s = 0.0;
        }

        self.total_frac_kg += wet_t * 1000.0;
        let whole = self.total_frac_kg.floor();
        self.total_kg = self.total_kg.saturating_add(whole as u64);
        self.total_frac_kg -= whole;

        let noise = self.power_noise.step(dt_s, rng);
        let power_target = if self.mill_running {
            240.0 + 5.8 * rate + noise
        } else {
            0.0
        };
        let power = self.power.step(power_target, dt_s).max(0.0);

        let bearing_base = if self.mill_running {
            24.0 + 0.06 * power
        } else {
            AMBIENT_C
        };
        self.bearing_de.step(bearing_base + 2.0, dt_s);
        self.bearing_nde.step(bearing_base - 1.0, dt_s);
        self.bearing_noise.step(dt_s, rng);

        let grinding_ore = self.mill_running && rate > 1.0;
        let dd = self.dd_drift.step(dt_s, rng);
        self.discharge_density
            .step(if grinding_ore { 70.0 + dd } else { 0.0 }, dt_s);
        let pd = self.pressure_drift.step(dt_s, rng);
        self.pressure_noise.step(dt_s, rng);
        let pressure_target = match (self.mill_running, grinding_ore) {
            (true, true) => 75.0 + 0.8 * (rate - FEED_SETPOINT_TPH) + pd,
            // The cyclone pump keeps circulating water while the mill grinds out.
            (true, false) => 40.0 + 0.5 * pd,
            (false, _) => 0.0,
        };
        self.cyclone_pressure.step(pressure_target, dt_s);
        let od = self.od_drift.step(dt_s, rng);
        self.overflow_density.step(
            if grinding_ore {
                31.5 + 0.4 * (rate - FEED_SETPOINT_TPH) + od
            } else {
                0.0
            },
            dt_s,
        );
        let pdrift = self.p80_drift.step(dt_s, rng);
        if grinding_ore {
            // A harder push grinds coarser.
            let target = (105.0 + 6.0 * (rate - FEED_SETPOINT_TPH) + pdrift).clamp(75.0, 150.0);
            self.p80.step(target, dt_s);
        }

        self.energy_kwh += power * dt_s / 3600.0;
        if self.mill_running {
            self.revolutions += MILL_RPM * dt_s / 60.0;
            self.run_hours += dt_s / 3600.0;
        }
        GrindingStep {
            wet_t,
            moisture_pct: self.moisture_pct(),
        }
    }

    fn measured_rate(&self) -> f64 {
        (self.rate.value * (1.0 + 0.035 * self.meas_noise.value)).max(0.0)
    }

    fn current_a(&self) -> f64 {
        self.power.value.max(0.0) / (3f64.sqrt() * MILL_KV * MILL_PF)
    }

    pub fn read(&self, s: GrindingSignal) -> Value {
        use GrindingSignal as S;
        let belt_running = self.mill_running;
        let bearing_max = self.bearing_max();
        match s {
            S::BeltRate => Value::Number(self.measured_rate()),
            S::BeltTotal => Value::Counter(self.totaliser_t()),
            S::BeltSpeed => Value::Number(if belt_running { BELT_SPEED_MS } else { 0.0 }),
            S::BeltLoad => Value::Number(if belt_running {
                self.measured_rate() / 3.6 / BELT_SPEED_MS
            } else {
                0.0
            }),
            S::Moisture => Value::Number(self.moisture_pct()),
            S::FeedSetpoint => Value::Number(FEED_SETPOINT_TPH),
            S::MillPower => Value::Number(self.power.value.max(0.0)),
            S::MillCurrent => Value::Number(self.current_a()),
            S::BearingDe => Value::Number(self.bearing_de.value + self.bearing_noise.value),
            S::BearingNde => Value::Number(self.bearing_nde.value + self.bearing_noise.value),
            S::DischargeDensity => Value::Number(self.discharge_density.value.max(0.0)),
            S::CyclonePressure => {
                let noise = if self.mill_running {
                    self.pressure_noise.value
                } else {
                    0.0
                };
                Value::Number((self.cyclone_pressure.value + noise).max(0.0))
            }
            S::OverflowDensity => Value::Number(self.overflow_density.value.max(0.0)),
            S::OverflowP80 => Value::Number(self.p80.value),
            S::MillEnergy => Value::Counter(self.energy_kwh),
            S::MillRevolutions => Value::Counter(self.revolutions.floor()),
            S::MillRunHours => Value::Counter(self.run_hours),
            S::CyclonePumpRunning
            | S::MillClutchEngaged
            | S::MillRunning
            | S::BeltRunning
            | S::MillRunCmd
            | S::BeltRunCmd
            | S::CyclonePumpRunCmd => Value::Bool(self.mill_running),
            S::MillLubeOk => Value::Bool(true),
            S::Maintenance => Value::Bool(self.maintenance),
            S::MillTripped => Value::Bool(self.mill_tripped),
            S::BearingAlarm => Value::Bool(bearing_max > BEARING_ALARM_C),
            S::BearingTrip => Value::Bool(bearing_max > BEARING_TRIP_C),
            S::NoFeedAlarm => Value::Bool(self.low_feed_s > 60.0),
        }
    }
}

fn totaliser_kg(tonnes: f64) -> u64 {
    if tonnes.is_finite() && tonnes > 0.0 {
        (tonnes * 1000.0).round() as u64
    } else {
        0
    }
}
