//! The deterministic core: model + scenario + truth ledger, stepped in fixed
//! one-second slices of plant time. No I/O and no wall clock, so tests can
//! run a plant day in milliseconds and a seed reproduces a run exactly.

use jiff::Timestamp;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::map::{PlantMap, Source, TagSpec};
use crate::model::Plant;
use crate::registers::Value;
use crate::scenario::{CommsMode, Scenario, Timeline};
use crate::synthetic::SyntheticState;
use crate::truth::{DayCalendar, PeriodTotals, TruthLedger, TruthSnapshot};

/// Plant seconds per model step.
pub const STEP_S: i64 = 1;
/// Synthetic stand-ins move slowly; stepping them every 10 s keeps large
/// user maps cheap.
const SYNTHETIC_STEP_S: i64 = 10;
/// Belt-scale totaliser reading when no scenario sets one, wet tonnes.
pub const DEFAULT_TOTALISER_START_T: f64 = 2_461_803.25;

#[derive(Debug, Clone)]
pub struct CoreOptions {
    /// Plant time of the first step (rounded down to the second).
    pub start: Timestamp,
    pub seed: u64,
    pub scenario: Scenario,
    pub calendar: DayCalendar,
}

pub struct SimCore {
    t: i64,
    rng: ChaCha8Rng,
    plant: Plant,
    timeline: Timeline,
    ledger: TruthLedger,
    /// Parallel to the map's PLCs and tags; `Some` for synthetic tags.
    synthetic: Vec<Vec<Option<SyntheticState>>>,
    /// A separate stream, so adding a stand-in tag does not change the plant.
    synthetic_rng: ChaCha8Rng,
    scenario_name: String,
}

impl SimCore {
    pub fn new(opts: CoreOptions, map: &PlantMap) -> SimCore {
        let t = opts.start.as_second();
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let totaliser = opts
            .scenario
            .totaliser_start_t
            .unwrap_or(DEFAULT_TOTALISER_START_T);
        let plant = Plant::new(&mut rng, totaliser);
        let mut synthetic_rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x5EED_0F5A_1700);
        let synthetic = map
            .plcs
            .iter()
            .map(|p| {
                p.tags
                    .iter()
                    .map(|tag| match &tag.source {
                        Source::Synthetic(kind) => {
                            Some(SyntheticState::new(kind.clone(), &mut synthetic_rng))
                        }
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        SimCore {
            t,
            rng,
            plant,
            timeline: opts.scenario.resolve(opts.start),
            ledger: TruthLedger::new(opts.calendar, t),
            synthetic,
            synthetic_rng,
            scenario_name: opts.scenario.name,
        }
    }

    pub fn plant_time(&self) -> Timestamp {
        Timestamp::from_second(self.t).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    pub fn plant(&self) -> &Plant {
        &self.plant
    }

    pub fn scenario_name(&self) -> &str {
        &self.scenario_name
    }

    pub fn step(&mut self) {
        let t = self.t;
        if let Some(v) = self.timeline.totaliser_set(t) {
            self.plant.grinding.set_totaliser_t(v);
        }
        let d = self.timeline.disturbances(t);
        let outcome = self.plant.step(STEP_S as f64, &mut self.rng, &d);
        self.ledger.record(t, STEP_S, &outcome);
        self.t += STEP_S;
        if self.t.rem_euclid(SYNTHETIC_STEP_S) == 0 {
            for state in self.synthetic.iter_mut().flatten().flatten() {
                state.step(SYNTHETIC_STEP_S as f64, &mut self.synthetic_rng);
            }
        }
    }

    /// Step until plant time reaches `target` or `max_steps` were taken;
    /// returns the number of steps.
    pub fn run_until(&mut self, target: Timestamp, max_steps: u64) -> u64 {
        let target = target.as_second();
        let mut n = 0;
        while self.t + STEP_S <= target && n < max_steps {
            self.step();
            n += 1;
        }
        n
    }

    /// The value of tag `tag` (index `tag_index`) of PLC `plc_index` now.
    pub fn value(&self, plc_index: usize, tag_index: usize, tag: &TagSpec) -> Value {
        match &tag.source {
            Source::Model(signal) => self.plant.read(*signal),
            Source::Text(text) => Value::Text(text.clone()),
            Source::Synthetic(_) => self
                .synthetic
                .get(plc_index)
                .and_then(|p| p.get(tag_index))
                .and_then(Option::as_ref)
                .map(SyntheticState::value)
                .unwrap_or(Value::Number(0.0)),
        }
    }

    pub fn comms_fault(&self, plc: &str) -> Option<CommsMode> {
        self.timeline.comms_fault(plc, self.t)
    }

    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    pub fn truth(&self) -> TruthSnapshot {
        self.ledger.snapshot()
    }

    pub fn calendar(&self) -> &DayCalendar {
        self.ledger.calendar()
    }

    /// Hours and days closed since the last call.
    pub fn drain_closed(&mut self) -> Vec<PeriodTotals> {
        self.ledger.drain_closed()
    }

    /// The still-open hour and day, marked incomplete (for shutdown).
    pub fn open_periods(&self) -> Vec<PeriodTotals> {
        self.ledger.open_periods()
    }
}
