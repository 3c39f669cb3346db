//! Metal accounting: the day's flotation balance reconciled (DESIGN §10,
//! `[kpi.reconcile]`, series `kpi_reconciled`).
//!
//! The raw three-product recovery takes the day's composite assays at face
//! value; twelve assays for two unknown mass splits over-determine the
//! circuit, so in practice they never balance exactly. Reconciliation
//! finds the smallest set of adjustments, each in units of its input's
//! standard deviation, that makes feed = Pb-Ag concentrate + Zn
//! concentrate + final tailings hold for Ag, Pb and Zn at once
//! ([`balance`]), then asks
//! whether those adjustments are believable ([`stats`]):
//!
//! - χ² = Σ((x̂ − x)/σ)² at the optimum, with dof = 3 balances − 2 splits
//!   = 1, and p = P(χ²(1) ≥ χ²). p ≥ 0.05: the assays agree within their
//!   stated precision. p < 0.05: at least one input is off by more than
//!   its σ allows (an analyser drifting, a sampler stuck, a wrong key).
//! - each input's normalised residual (x̂ − x)/σ: its share of χ². With one
//!   redundancy the balance can say *that* something is wrong but only
//!   weakly *what*: every single-input error explains the one imbalance
//!   equally well, so `gross_error` names the input whose error would be
//!   the smallest in its own σ units, the most likely culprit given the
//!   stated precisions. A bias in an input with a small σ (the tails) is
//!   usually absorbed by and attributed to a larger-σ input of the same
//!   metal (the feed).
//! - 95 % intervals on recovery and ounces by first-order propagation of
//!   the input covariance (diagonal, σ²) through the whole reconciliation:
//!   the Jacobian of the reconciled recovery with respect to each measured
//!   assay, by central differences of the exact solution.
pub mod balance;
pub mod stats;

#[cfg(test)]
mod tests;

use jiff::civil::Date;
use serde::Serialize;

use crate::config::KpiInput;
use crate::kpi::recovery::G_PER_OZ;
use crate::sink::influxdb::encoder::{FieldValue, Point};
use balance::{BalanceError, Grid, METALS, STREAMS};

pub const RECONCILED_MEASUREMENT: &str = "kpi_reconciled";
/// Balances (3 metals) less unknowns (2 splits).
pub const DOF: u32 = 1;
/// Below this p-value the balance names a likely gross error.
pub const ALPHA: f64 = 0.05;
const Z95: f64 = 1.959_963_984_540_054;

/// The balance's inputs: rows Ag, Pb, Zn; columns feed, Pb-Ag
/// concentrate, Zn concentrate, final tailings.
pub const INPUTS: [[KpiInput; STREAMS]; METALS] = {
    use KpiInput as I;
    [
        [I::FeedAg, I::ConcAg, I::ZnConcAg, I::TailAg],
        [I::FeedPb, I::ConcPb, I::ZnConcPb, I::TailPb],
        [I::FeedZn, I::ConcZn, I::ZnConcZn, I::TailZn],
    ]
};

/// One assay before and after reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Adjusted {
    pub input: KpiInput,
    pub measured: f64,
    pub adjusted: f64,
    /// Its standard deviation, value × `sd_rel_pct` / 100.
    pub sd: f64,
    /// (adjusted − measured) / sd: its share of χ² is the square.
    pub normalised: f64,
}

/// A reconciled production day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reconciled {
    /// Silver recovery to the Pb-Ag concentrate, from the adjusted assays.
    pub ag_recovery_pct: f64,
    /// Half-width of its 95 % interval, percentage points.
    pub ag_recovery_ci95_pp: Option<f64>,
    /// Dry t × adjusted head × reconciled recovery / 31.1035.
    pub ag_oz: Option<f64>,
    /// Half-width of its 95 % interval (assay precision only: the tonnage
    /// is taken as measured).
    pub ag_oz_ci95: Option<f64>,
    /// C1/F, %.
    pub conc_mass_pct: f64,
    /// C2/F, %.
    pub zn_conc_mass_pct: f64,
    pub chi2: f64,
    pub dof: u32,
    pub p_value: f64,
    /// The input with the largest |normalised residual| when p < 0.05.
    pub gross_error: Option<KpiInput>,
    /// The twelve assays, in [`INPUTS`] order.
    pub inputs: Vec<Adjusted>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReconcileError {
    #[error("no good {} composite for the day", .0.key())]
    Missing(KpiInput),
    #[error("{} composite {value} is not a positive number", input.key())]
    NotPositive { input: KpiInput, value: f64 },
    #[error("sd_rel_pct for {} is {value}: must be a positive number", input.key())]
    BadPrecision { input: KpiInput, value: f64 },
    #[error(transparent)]
    Balance(#[from] BalanceError),
}

/// Reconciles one day from its composite assays (`assay`), each input's
/// relative standard deviation in % (`sd_rel_pct`) and the day's dry
/// tonnes (for ounces).
pub fn reconcile(
    assay: impl Fn(KpiInput) -> Option<f64>,
    sd_rel_pct: impl Fn(KpiInput) -> f64,
    dry_t: Option<f64>,
) -> Result<Reconciled, ReconcileError> {
    let mut x: Grid = [[0.0; STREAMS]; METALS];
    let mut sd: Grid = [[0.0; STREAMS]; METALS];
    for m in 0..METALS {
        for s in 0..STREAMS {
            let input = INPUTS[m][s];
            let v = assay(input).ok_or(ReconcileError::Missing(input))?;
            if !(v.is_finite() && v > 0.0) {
                return Err(ReconcileError::NotPositive { input, value: v });
            }
            let rel = sd_rel_pct(input);
            if !(rel.is_finite() && rel > 0.0) {
                return Err(ReconcileError::BadPrecision { input, value: rel });
            }
            x[m][s] = v;
            sd[m][s] = v * rel / 100.0;
        }
    }
    let sol = balance::solve(&x, &sd, None)?;
    let (recovery, oz_per_t) = outputs(&sol);
    let (rec_sd, oz_sd) = propagate(&x, &sd, sol.y);
    let p_value = stats::chi2_p_value(sol.chi2, DOF);
    let mut inputs = Vec::with_capacity(METALS * STREAMS);
    for m in 0..METALS {
        for s in 0..STREAMS {
            inputs.push(Adjusted {
                input: INPUTS[m][s],
                measured: x[m][s],
                adjusted: sol.adjusted[m][s],
                sd: sd[m][s],
                normalised: (sol.adjusted[m][s] - x[m][s]) / sd[m][s],
            });
        }
    }
    let gross_error = (p_value < ALPHA)
        .then(|| {
            inputs
                .iter()
                .max_by(|a, b| a.normalised.abs().total_cmp(&b.normalised.abs()))
                .map(|a| a.input)
        })
        .flatten();
    let dry = dry_t.filter(|d| d.is_finite() && *d >= 0.0);
    Ok(Reconciled {
        ag_recovery_pct: 100.0 * recovery,
        ag_recovery_ci95_pp: rec_sd.map(|s| 100.0 * Z95 * s),
        ag_oz: dry.map(|d| d * oz_per_t),
        ag_oz_ci95: dry.and_then(|d| oz_sd.map(|s| d * Z95 * s)),
        conc_mass_pct: 100.0 * sol.y[0],
        zn_conc_mass_pct: 100.0 * sol.y[1],
        chi2: sol.chi2,
        dof: DOF,
        p_value,
        gross_error,
        inputs,
    })
}

/// Silver recovery to C1 (fraction) and recovered oz per dry tonne of feed.
fn outputs(sol: &balance::Solution) -> (f64, f64) {
    let c1_ag = sol.adjusted[0][1];
    let f_ag = sol.adjusted[0][0];
    (sol.y[0] * c1_ag / f_ag, sol.y[0] * c1_ag / G_PER_OZ)
}

/// Standard deviations of recovery and oz/t: Σ (∂out/∂x_i)² σ_i², the
/// derivatives by central differences of the exact solution. None when a
/// perturbed balance has no solution (the day sits at a physical limit).
fn propagate(x: &Grid, sd: &Grid, y: [f64; 2]) -> (Option<f64>, Option<f64>) {
    let mut var = [0.0; 2];
    for m in 0..METALS {
        for s in 0..STREAMS {
            let h = 1e-4 * sd[m][s];
            let at = |delta: f64| {
                let mut xp = *x;
                xp[m][s] += delta;
                balance::solve(&xp, sd, Some(y))
                    .ok()
                    .map(|sol| outputs(&sol))
            };
            let (Some(up), Some(down)) = (at(h), at(-h)) else {
                return (None, None);
            };
            let d_rec = (up.0 - down.0) / (2.0 * h);
            let d_oz = (up.1 - down.1) / (2.0 * h);
            var[0] += d_rec * d_rec * sd[m][s] * sd[m][s];
            var[1] += d_oz * d_oz * sd[m][s] * sd[m][s];
        }
    }
    (Some(var[0].sqrt()), Some(var[1].sqrt()))
}

impl Reconciled {
    /// The `kpi_reconciled` point (DESIGN §10), stamped like `kpi_daily`
    /// with the day's start so a recompute overwrites it.
    pub fn to_point(&self, site: &str, day: Date, ts_ms: i64) -> Point {
        let mut fields: Vec<(String, FieldValue)> = Vec::with_capacity(24);
        let mut float = |k: &str, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                fields.push((k.to_string(), FieldValue::Float(v)));
            }
        };
        float("ag_recovery_pct", Some(self.ag_recovery_pct));
        float("ag_recovery_ci95_pp", self.ag_recovery_ci95_pp);
        float("ag_oz", self.ag_oz);
        float("ag_oz_ci95", self.ag_oz_ci95);
        float("conc_mass_pct", Some(self.conc_mass_pct));
        float("zn_conc_mass_pct", Some(self.zn_conc_mass_pct));
        float("chi2", Some(self.chi2));
        float("p_value", Some(self.p_value));
        for a in &self.inputs {
            float(&format!("adj_{}", a.input.key()), Some(a.adjusted));
        }
        fields.push(("dof".into(), FieldValue::Int(i64::from(self.dof))));
        fields.push((
            "gross_error".into(),
            FieldValue::Str(self.gross_error.map_or("", |i| i.key()).into()),
        ));
        Point {
            measurement: RECONCILED_MEASUREMENT.into(),
            tags: vec![
                ("site".into(), site.into()),
                ("day".into(), day.to_string()),
            ],
            fields,
            ts_ms,
        }
    }

    /// Lines for the terminal, after the day's table.
    pub fn table(&self) -> String {
        let ci = |v: Option<f64>, d: usize| v.map_or("–".into(), |v| format!("± {v:.d$}"));
        let mut out = format!(
            "reconciled (χ² {:.2}, dof {}, p {:.3}{})\n",
            self.chi2,
            self.dof,
            self.p_value,
            self.gross_error.map_or(String::new(), |g| format!(
                ", likely gross error: {}",
                g.key()
            ))
        );
        out += &format!(
            "  Ag recovery       {:.2} % {} pp\n",
            self.ag_recovery_pct,
            ci(self.ag_recovery_ci95_pp, 2)
        );
        if let Some(oz) = self.ag_oz {
            out += &format!(
                "  Ag recovered      {oz:.0} oz {} oz\n",
                ci(self.ag_oz_ci95, 0)
            );
        }
        out += &format!(
            "  mass pull         Pb-Ag conc {:.3} %, Zn conc {:.3} %\n",
            self.conc_mass_pct, self.zn_conc_mass_pct
        );
        for a in &self.inputs {
            out += &format!(
                "  {:<11} {:>12.4} → {:>12.4}  ({:+.2} σ)\n",
                a.input.key(),
                a.measured,
                a.adjusted,
                a.normalised
            );
        }
        out
    }
}
