//! The process model of the concentrator, stepped on plant time.
//!
//! Material flows crusher → fine-ore bin → mill-feed belt → ball mill →
//! flotation. Each step is a fixed slice of plant time, so the result depends
//! only on the seed, the scenario and how far plant time has advanced, never
//! on how often anyone looks.

pub mod crushing;
pub mod dynamics;
pub mod flotation;
pub mod grinding;

use rand_chacha::ChaCha8Rng;

pub use crushing::{Crushing, CrushingSignal};
pub use flotation::{AnalyserMode, Flotation, FlotationSignal, Grade, Metal, Stream};
pub use grinding::{Grinding, GrindingSignal};

use crate::registers::Value;

/// A model quantity that a tag can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Crushing(CrushingSignal),
    Grinding(GrindingSignal),
    Flotation(FlotationSignal),
}

/// What the scenario imposes on the process during one step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Disturbances {
    pub crusher_trip: bool,
    pub mill_stop: bool,
    pub grade: Option<Grade>,
    pub analyser: AnalyserMode,
}

/// The true process over one step, for the ground-truth ledger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOutcome {
    pub wet_t: f64,
    pub dry_t: f64,
    pub moisture_pct: f64,
    pub ag_head_gpt: f64,
    /// Fraction of the feed silver reporting to the Pb concentrate.
    pub ag_recovery: f64,
    /// Mass pulls C1/F (Pb-Ag concentrate) and C2/F (Zn concentrate), the
    /// splits a reconciled balance estimates.
    pub pb_conc_mass: f64,
    pub zn_conc_mass: f64,
    pub mill_running: bool,
    pub crusher_running: bool,
}

#[derive(Debug, Clone)]
pub struct Plant {
    pub crushing: Crushing,
    pub grinding: Grinding,
    pub flotation: Flotation,
}

impl Plant {
    pub fn new(rng: &mut ChaCha8Rng, totaliser_start_t: f64) -> Self {
        Plant {
            crushing: Crushing::new(rng),
            grinding: Grinding::new(rng, totaliser_start_t),
            flotation: Flotation::new(rng),
        }
    }

    pub fn step(&mut self, dt_s: f64, rng: &mut ChaCha8Rng, d: &Disturbances) -> StepOutcome {
        let crushed_t = self.crushing.step(dt_s, rng, d.crusher_trip);
        let level = self.crushing.bin_level_pct();
        let bin_mass = self.crushing.bin_mass_t();
        let g = self
            .grinding
            .step(dt_s, rng, d.mill_stop, bin_mass + crushed_t, level);
        self.crushing.settle_bin(crushed_t, g.wet_t);
        let dry_t = g.wet_t * (1.0 - g.moisture_pct / 100.0);
        let dry_tph = dry_t * 3600.0 / dt_s;
        self.flotation.step(
            dt_s,
            rng,
            d.grade,
            d.analyser,
            dry_tph,
            self.grinding.p80_um(),
        );
        StepOutcome {
            wet_t: g.wet_t,
            dry_t,
            moisture_pct: g.moisture_pct,
            ag_head_gpt: self.flotation.ag_head_gpt(),
            ag_recovery: self.flotation.ag_recovery(),
            pb_conc_mass: self.flotation.mass_pulls()[0],
            zn_conc_mass: self.flotation.mass_pulls()[1],
            mill_running: self.grinding.mill_running(),
            crusher_running: self.crushing.running(),
        }
    }

    pub fn read(&self, signal: Signal) -> Value {
        match signal {
            Signal::Crushing(s) => self.crushing.read(s),
            Signal::Grinding(s) => self.grinding.read(s),
            Signal::Flotation(s) => self.flotation.read(s),
        }
    }
}
