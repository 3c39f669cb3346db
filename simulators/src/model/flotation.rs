//! Flotation: sequential Pb-Ag then Zn flotation with an on-stream analyser.
//!
//! Stream assays are derived from recoveries and concentrate grades through
//! an exact mass balance, so the textbook two-product formula on (feed, Pb
//! concentrate, Pb-circuit tailings) and the three-product formula on Pb/Zn
//! assays both give back the silver recovery the model used. Ore grades drift
//! slowly (hours) and blend through the bin, so a gateway sampling once per
//! scan sees a faithful picture.

use rand_chacha::ChaCha8Rng;

use super::dynamics::{Drift, Lag};
use crate::registers::Value;

/// Reserve grade at acquisition.
pub const RESERVE_AG_GPT: f64 = 286.0;
pub const RESERVE_PB_PCT: f64 = 1.83;
pub const RESERVE_ZN_PCT: f64 = 2.91;
/// What a broken analyser reports: far outside any assay's range.
pub const ANALYSER_ERROR_VALUE: f64 = -999.0;
/// The analyser's measurement cycle; `result_age_s` restarts each cycle.
const ANALYSER_CYCLE_S: f64 = 300.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Feed,
    PbConcentrate,
    ZnConcentrate,
    Tailings,
    /// Pb-circuit tailings = Zn-circuit feed.
    ZnCircuitFeed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metal {
    Ag,
    Pb,
    Zn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlotationSignal {
    Assay(Stream, Metal),
    AnalyserAge,
    PbRougherLevel,
    PbCleanerLevel,
    ZnRougherLevel,
    ZnCleanerLevel,
    PbRougherAir,
    ZnRougherAir,
    PbPh,
    ZnPh,
    Xanthate,
    ZnSo4,
    CuSo4,
    Frother,
    PbRougherLevelSetpoint,
    AnalyserFault,
    PbLevelAlarm,
    ZnLevelAlarm,
    PbPhAlarm,
    ZnPhAlarm,
    PbCircuitRunning,
    ZnCircuitRunning,
    ReagentDosingEnabled,
}

/// What the scenario does to the analyser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnalyserMode {
    #[default]
    Normal,
    /// Results stop updating (a stuck sampler) without any alarm.
    Frozen,
    /// Results read as the error value, and the fault bit is set.
    OutOfRange,
}

/// A forced ore grade (the `low_grade` scenario).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grade {
    pub ag_gpt: f64,
    pub pb_pct: f64,
    pub zn_pct: f64,
}

/// Assays of every stream: [Ag g/t, Pb %, Zn %].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assays {
    pub feed: [f64; 3],
    pub pb_conc: [f64; 3],
    pub zn_conc: [f64; 3],
    pub tailings: [f64; 3],
    pub zn_circuit_feed: [f64; 3],
}

impl Assays {
    pub fn get(&self, stream: Stream, metal: Metal) -> f64 {
        let row = match stream {
            Stream::Feed => &self.feed,
            Stream::PbConcentrate => &self.pb_conc,
            Stream::ZnConcentrate => &self.zn_conc,
            Stream::Tailings => &self.tailings,
            Stream::ZnCircuitFeed => &self.zn_circuit_feed,
        };
        row[match metal {
            Metal::Ag => 0,
            Metal::Pb => 1,
            Metal::Zn => 2,
        }]
    }
}

/// Recoveries (fractions) and concentrate grades that fix the mass balance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    pub ag_to_pb: f64,
    pub ag_to_zn: f64,
    pub pb_to_pb: f64,
    pub pb_to_zn: f64,
    pub zn_to_pb: f64,
    pub zn_to_zn: f64,
    pub pb_conc_pb_pct: f64,
    pub zn_conc_zn_pct: f64,
}

impl Split {
    /// Mass pulls [C1/F, C2/F] for a feed of `feed` = [Ag, Pb, Zn].
    pub fn mass_pulls(&self, feed: [f64; 3]) -> [f64; 2] {
        [
            feed[1] * self.pb_to_pb / self.pb_conc_pb_pct,
            feed[2] * self.zn_to_zn / self.zn_conc_zn_pct,
        ]
    }

    /// Every stream's assays for a feed of `feed` = [Ag, Pb, Zn].
    pub fn assays(&self, feed: [f64; 3]) -> Assays {
        let [f_ag, f_pb, f_zn] = feed;
        let [y1, y2] = self.mass_pulls(feed);
        let yt = 1.0 - y1 - y2;
        let per = |f: f64, r: f64, y: f64| f * r / y;
        Assays {
            feed,
            pb_conc: [
                per(f_ag, self.ag_to_pb, y1),
                self.pb_conc_pb_pct,
                per(f_zn, self.zn_to_pb, y1),
            ],
            zn_conc: [
                per(f_ag, self.ag_to_zn, y2),
                per(f_pb, self.pb_to_zn, y2),
                self.zn_conc_zn_pct,
            ],
            tailings: [
                per(f_ag, 1.0 - self.ag_to_pb - self.ag_to_zn, yt),
                per(f_pb, 1.0 - self.pb_to_pb - self.pb_to_zn, yt),
                per(f_zn, 1.0 - self.zn_to_pb - self.zn_to_zn, yt),
            ],
            zn_circuit_feed: [
                per(f_ag, 1.0 - self.ag_to_pb, 1.0 - y1),
                per(f_pb, 1.0 - self.pb_to_pb, 1.0 - y1),
                per(f_zn, 1.0 - self.zn_to_pb, 1.0 - y1),
            ],
        }
    }
}

#[derive(Debug, Clone)]
struct Controlled {
    setpoint: f64,
    drift: Drift,
}

impl Controlled {
    fn new(setpoint: f64, sigma: f64, tau_s: f64, rng: &mut ChaCha8Rng) -> Self {
        Controlled {
            setpoint,
            drift: Drift::new(sigma, tau_s, rng),
        }
    }

    fn step(&mut self, dt_s: f64, rng: &mut ChaCha8Rng) {
        self.drift.step(dt_s, rng);
    }

    fn value(&self) -> f64 {
        (self.setpoint + self.drift.value).max(0.0)
    }
}

#[derive(Debug, Clone)]
pub struct Flotation {
    ag_drift: Drift,
    pb_drift: Drift,
    zn_drift: Drift,
    /// Grades blend through the fine-ore bin before reaching the cells.
    grade: [Lag; 3],
    rec_ag_drift: Drift,
    rec_ag_zn_drift: Drift,
    rec_pb_drift: Drift,
    rec_zn_drift: Drift,
    pb_grade_drift: Drift,
    zn_grade_drift: Drift,
    split: Split,
    assays: Assays,
    feed_dry_tph: f64,
    analyser_mode: AnalyserMode,
    analyser_held: Assays,
    analyser_age_s: f64,
    levels: [Controlled; 4],
    air: [Controlled; 2],
    ph: [Controlled; 2],
    reagents: [Controlled; 4],
}

impl Flotation {
    pub fn new(rng: &mut ChaCha8Rng) -> Self {
        let mut f = Flotation {
            ag_drift: Drift::new(0.07, 4.0 * 3600.0, rng),
            pb_drift: Drift::new(0.05, 4.0 * 3600.0, rng),
            zn_drift: Drift::new(0.06, 5.0 * 3600.0, rng),
            grade: [
                Lag::new(RESERVE_AG_GPT, 2400.0),
                Lag::new(RESERVE_PB_PCT, 2400.0),
                Lag::new(RESERVE_ZN_PCT, 2400.0),
            ],
            rec_ag_drift: Drift::new(0.012, 2.0 * 3600.0, rng),
            rec_ag_zn_drift: Drift::new(0.005, 2.0 * 3600.0, rng),
            rec_pb_drift: Drift::new(0.01, 2.0 * 3600.0, rng),
            rec_zn_drift: Drift::new(0.012, 2.0 * 3600.0, rng),
            pb_grade_drift: Drift::new(2.0, 3.0 * 3600.0, rng),
            zn_grade_drift: Drift::new(1.5, 3.0 * 3600.0, rng),
            split: Split {
                ag_to_pb: 0.825,
                ag_to_zn: 0.06,
                pb_to_pb: 0.89,
                pb_to_zn: 0.03,
                zn_to_pb: 0.05,
                zn_to_zn: 0.86,
                pb_conc_pb_pct: 56.0,
                zn_conc_zn_pct: 50.0,
            },
            assays: Assays {
                feed: [0.0; 3],
                pb_conc: [0.0; 3],
                zn_conc: [0.0; 3],
                tailings: [0.0; 3],
                zn_circuit_feed: [0.0; 3],
            },
            feed_dry_tph: 0.0,
            analyser_mode: AnalyserMode::Normal,
            analyser_held: Assays {
                feed: [0.0; 3],
                pb_conc: [0.0; 3],
                zn_conc: [0.0; 3],
                tailings: [0.0; 3],
                zn_circuit_feed: [0.0; 3],
            },
            analyser_age_s: 0.0,
            levels: [
                Controlled::new(180.0, 6.0, 90.0, rng),
                Controlled::new(250.0, 6.0, 90.0, rng),
                Controlled::new(200.0, 6.0, 90.0, rng),
                Controlled::new(260.0, 6.0, 90.0, rng),
            ],
            air: [
                Controlled::new(4.5, 0.15, 300.0, rng),
                Controlled::new(6.0, 0.15, 300.0, rng),
            ],
            ph: [
                Controlled::new(9.0, 0.12, 1800.0, rng),
                Controlled::new(11.0, 0.12, 1800.0, rng),
            ],
            reagents: [
                Controlled::new(28.0, 2.5, 1800.0, rng),
                Controlled::new(350.0, 20.0, 1800.0, rng),
                Controlled::new(300.0, 18.0, 1800.0, rng),
                Controlled::new(18.0, 1.5, 1800.0, rng),
            ],
        };
        // Begin at the drifted grade, not at the reserve exactly.
        let target = f.grade_target(None);
        for (lag, t) in f.grade.iter_mut().zip(target) {
            lag.value = t;
        }
        f.update_split(105.0);
        f.assays = f.split.assays(f.feed_grade());
        f.analyser_held = f.assays;
        f
    }

    fn grade_target(&self, forced: Option<Grade>) -> [f64; 3] {
        match forced {
            Some(g) => [
                g.ag_gpt * (0.5 * self.ag_drift.value).exp(),
                g.pb_pct * (0.5 * self.pb_drift.value).exp(),
                g.zn_pct * (0.5 * self.zn_drift.value).exp(),
            ],
            None => {
                let ag = RESERVE_AG_GPT * self.ag_drift.value.exp();
                // Silver rides mostly in galena, so Pb follows Ag.
                let pb =
                    RESERVE_PB_PCT * (ag / RESERVE_AG_GPT).powf(0.7) * self.pb_drift.value.exp();
                let zn = RESERVE_ZN_PCT * self.zn_drift.value.exp();
                [ag, pb, zn]
            }
        }
    }

    fn feed_grade(&self) -> [f64; 3] {
        [
            self.grade[0].value,
            self.grade[1].value,
            self.grade[2].value,
        ]
    }

    fn update_split(&mut self, p80_um: f64) {
        let ag = self.grade[0].value;
        // Richer ore and a finer grind both float better.
        self.split.ag_to_pb = (0.825 + 0.05 * (ag / RESERVE_AG_GPT - 1.0)
            - 0.0006 * (p80_um - 105.0)
            + self.rec_ag_drift.value)
            .clamp(0.76, 0.89);
        self.split.ag_to_zn = (0.06 + self.rec_ag_zn_drift.value).clamp(0.04, 0.08);
        self.split.pb_to_pb = (0.89 + self.rec_pb_drift.value).clamp(0.82, 0.94);
        self.split.zn_to_zn = (0.86 + self.rec_zn_drift.value).clamp(0.78, 0.92);
        self.split.pb_conc_pb_pct = (56.0 + self.pb_grade_drift.value).clamp(48.0, 63.0);
        self.split.zn_conc_zn_pct = (50.0 + self.zn_grade_drift.value).clamp(46.0, 54.0);
    }

    /// Head grade (Ag g/t) of the ore now being floated.
    pub fn ag_head_gpt(&self) -> f64 {
        self.assays.feed[0]
    }

    /// Fraction of the feed silver reporting to the Pb concentrate.
    pub fn ag_recovery(&self) -> f64 {
        self.split.ag_to_pb
    }

    /// Mass pulls [C1/F, C2/F] of the ore now being floated.
    pub fn mass_pulls(&self) -> [f64; 2] {
        self.split.mass_pulls(self.feed_grade())
    }

    pub fn assays(&self) -> &Assays {
        &self.assays
    }

    pub fn split(&self) -> &Split {
        &self.split
    }

    pub fn step(
        &mut self,
        dt_s: f64,
        rng: &mut ChaCha8Rng,
        forced_grade: Option<Grade>,
        analyser: AnalyserMode,
        feed_dry_tph: f64,
        p80_um: f64,
    ) {
        self.feed_dry_tph = feed_dry_tph;
        for d in [
            &mut self.ag_drift,
            &mut self.pb_drift,
            &mut self.zn_drift,
            &mut self.rec_ag_drift,
            &mut self.rec_ag_zn_drift,
            &mut self.rec_pb_drift,
            &mut self.rec_zn_drift,
            &mut self.pb_grade_drift,
            &mut self.zn_grade_drift,
        ] {
            d.step(dt_s, rng);
        }
        let target = self.grade_target(forced_grade);
        for (lag, t) in self.grade.iter_mut().zip(target) {
            lag.step(t, dt_s);
        }
        self.update_split(p80_um);
        self.assays = self.split.assays(self.feed_grade());

        for c in self
            .levels
            .iter_mut()
            .chain(self.air.iter_mut())
            .chain(self.ph.iter_mut())
            .chain(self.reagents.iter_mut())
        {
            c.step(dt_s, rng);
        }

        // Without slurry flowing (or with a stuck sampler) the analyser keeps
        // showing its last results.
        let flowing = feed_dry_tph > 1.0;
        if analyser == AnalyserMode::Normal && flowing {
            self.analyser_held = self.assays;
        }
        self.analyser_mode = analyser;
        self.analyser_age_s += dt_s;
        if analyser == AnalyserMode::Normal && flowing && self.analyser_age_s >= ANALYSER_CYCLE_S {
            self.analyser_age_s = 0.0;
        }
    }

    fn reported(&self, stream: Stream, metal: Metal) -> f64 {
        match self.analyser_mode {
            AnalyserMode::OutOfRange => ANALYSER_ERROR_VALUE,
            AnalyserMode::Normal | AnalyserMode::Frozen => self.analyser_held.get(stream, metal),
        }
    }

    pub fn read(&self, s: FlotationSignal) -> Value {
        use FlotationSignal as S;
        let flowing = self.feed_dry_tph > 1.0;
        let ph = [self.ph[0].value(), self.ph[1].value()];
        let level_bad = |v: f64| !(50.0..=300.0).contains(&v);
        match s {
            S::Assay(stream, metal) => Value::Number(self.reported(stream, metal)),
            S::AnalyserAge => Value::Number(self.analyser_age_s),
            S::PbRougherLevel => Value::Number(self.levels[0].value()),
            S::PbCleanerLevel => Value::Number(self.levels[1].value()),
            S::ZnRougherLevel => Value::Number(self.levels[2].value()),
            S::ZnCleanerLevel => Value::Number(self.levels[3].value()),
            S::PbRougherAir => Value::Number(self.air[0].value()),
            S::ZnRougherAir => Value::Number(self.air[1].value()),
            S::PbPh => Value::Number(ph[0]),
            S::ZnPh => Value::Number(ph[1]),
            S::Xanthate | S::ZnSo4 | S::CuSo4 | S::Frother => {
                let i = match s {
                    S::Xanthate => 0,
                    S::ZnSo4 => 1,
                    S::CuSo4 => 2,
                    _ => 3,
                };
                // Dosing pumps stop with the feed.
                Value::Number(if flowing {
                    self.reagents[i].value()
                } else {
                    0.0
                })
            }
            S::PbRougherLevelSetpoint => Value::Number(self.levels[0].setpoint),
            S::AnalyserFault => Value::Bool(self.analyser_mode == AnalyserMode::OutOfRange),
            S::PbLevelAlarm => {
                Value::Bool(level_bad(self.levels[0].value()) || level_bad(self.levels[1].value()))
            }
            S::ZnLevelAlarm => {
                Value::Bool(level_bad(self.levels[2].value()) || level_bad(self.levels[3].value()))
            }
            S::PbPhAlarm => Value::Bool(!(8.5..=9.5).contains(&ph[0])),
            S::ZnPhAlarm => Value::Bool(!(10.5..=11.5).contains(&ph[1])),
            S::PbCircuitRunning | S::ZnCircuitRunning | S::ReagentDosingEnabled => {
                Value::Bool(flowing)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split() -> Split {
        Split {
            ag_to_pb: 0.83,
            ag_to_zn: 0.06,
            pb_to_pb: 0.9,
            pb_to_zn: 0.03,
            zn_to_pb: 0.05,
            zn_to_zn: 0.85,
            pb_conc_pb_pct: 55.0,
            zn_conc_zn_pct: 50.0,
        }
    }

    /// DESIGN §6 two-product recovery.
    fn two_product(f: f64, c: f64, t: f64) -> f64 {
        c * (f - t) / (f * (c - t))
    }

    #[test]
    fn two_product_on_the_pb_circuit_reproduces_recovery() {
        let a = split().assays([286.0, 1.83, 2.91]);
        let r = two_product(a.feed[0], a.pb_conc[0], a.zn_circuit_feed[0]);
        assert!((r - 0.83).abs() < 1e-12, "{r}");
    }

    #[test]
    fn three_product_on_pb_zn_reproduces_recovery() {
        let a = split().assays([286.0, 1.83, 2.91]);
        let (f, fp) = (a.feed[1], a.feed[2]);
        let (c1, c1p) = (a.pb_conc[1], a.pb_conc[2]);
        let (c2, c2p) = (a.zn_conc[1], a.zn_conc[2]);
        let (t, tp) = (a.tailings[1], a.tailings[2]);
        let c1_f = ((f - t) * (c2p - tp) - (fp - tp) * (c2 - t))
            / ((c1 - t) * (c2p - tp) - (c1p - tp) * (c2 - t));
        let r = c1_f * a.pb_conc[0] / a.feed[0];
        assert!((r - 0.83).abs() < 1e-12, "{r}");
    }

    #[test]
    fn assays_sit_in_the_plant_ranges() {
        let a = split().assays([286.0, 1.83, 2.91]);
        assert!((3000.0..10000.0).contains(&a.pb_conc[0]), "{:?}", a.pb_conc);
        assert!((200.0..600.0).contains(&a.zn_conc[0]), "{:?}", a.zn_conc);
        assert!((20.0..50.0).contains(&a.tailings[0]), "{:?}", a.tailings);
        assert!((0.1..0.3).contains(&a.tailings[1]));
        assert!((0.2..0.5).contains(&a.tailings[2]));
    }
}
