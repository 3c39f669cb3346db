//! The reconciliation against hand-worked balances, against its own
//! statistics (noise at the stated precision must look like χ²(1)), and
//! against the simulator's ground truth.
use super::balance::{self, Grid};
use super::*;
use crate::config::KpiInput as I;

/// y1 = 3 %, y2 = 5 %, y3 = 92 %; tails chosen so every metal balances:
/// Ag t = (250 − 0.03·6000 − 0.05·300)/0.92 = 55/0.92,
/// Pb t = (2.0 − 0.03·55 − 0.05·1.5)/0.92 = 0.275/0.92,
/// Zn t = (3.0 − 0.03·6 − 0.05·50)/0.92 = 0.32/0.92.
fn consistent() -> Grid {
    [
        [250.0, 6_000.0, 300.0, 55.0 / 0.92],
        [2.0, 55.0, 1.5, 0.275 / 0.92],
        [3.0, 6.0, 50.0, 0.32 / 0.92],
    ]
}

fn lookup(g: Grid) -> impl Fn(KpiInput) -> Option<f64> {
    move |i| {
        for m in 0..3 {
            for s in 0..4 {
                if INPUTS[m][s] == i {
                    return Some(g[m][s]);
                }
            }
        }
        None
    }
}

/// The shipped precisions (config/caylloma.toml).
fn shipped_sd(i: KpiInput) -> f64 {
    match i {
        I::FeedAg | I::FeedPb | I::FeedZn => 5.0,
        I::ConcAg => 3.0,
        I::ZnConcAg | I::ConcZn => 8.0,
        I::ConcPb | I::ZnConcZn => 2.0,
        _ => 10.0,
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs()
}

#[test]
fn a_consistent_balance_needs_no_adjustment() {
    let r = reconcile(lookup(consistent()), shipped_sd, Some(700.0)).unwrap();
    assert!(r.chi2 < 1e-12, "χ² {}", r.chi2);
    assert_eq!(r.dof, 1);
    assert!(r.p_value > 0.999_99, "p {}", r.p_value);
    assert_eq!(r.gross_error, None);
    for a in &r.inputs {
        assert!(a.normalised.abs() < 1e-6, "{a:?}");
    }
    assert!(close(r.conc_mass_pct, 3.0, 1e-9), "{}", r.conc_mass_pct);
    assert!(
        close(r.zn_conc_mass_pct, 5.0, 1e-9),
        "{}",
        r.zn_conc_mass_pct
    );
    // R = 0.03 × 6,000 / 250 = 72 %; oz = 700 t × 0.03 × 6,000 g/t / 31.1035.
    assert!(
        close(r.ag_recovery_pct, 72.0, 1e-9),
        "{}",
        r.ag_recovery_pct
    );
    let oz = 700.0 * 0.03 * 6_000.0 / 31.1035;
    assert!(close(r.ag_oz.unwrap(), oz, 1e-9), "{:?}", r.ag_oz);
    // The interval is that of a well-posed balance: a few points, not zero.
    let ci = r.ag_recovery_ci95_pp.unwrap();
    assert!((0.5..10.0).contains(&ci), "± {ci} pp");
    // Ounces also carry the head grade's uncertainty (oz ∝ y1·ĉ1 = R·f̂),
    // so their relative interval is wider than recovery's.
    let oz_ci = r.ag_oz_ci95.unwrap();
    let (rel_oz, rel_r) = (oz_ci / oz, ci / 72.0);
    assert!(
        rel_oz > rel_r && rel_oz < 3.0 * rel_r,
        "{oz_ci} oz vs {ci} pp"
    );
}

/// Pb and Zn known almost exactly pin the splits at (3 %, 5 %); then the
/// Ag balance alone carries the tail's bias, and χ² has a closed form:
/// tail read ×2 = 119.565 g/t → r = 250 − 180 − 15 − 0.92 × 119.565 = −55;
/// v = 12.5² + 0.03²·180² + 0.05²·24² + 0.92²·11.9565² (σ = 5, 3, 8, 10 %)
///   = 156.25 + 29.16 + 1.44 + 121.00 = 307.85; χ² = 55²/307.85 = 9.826,
/// p = P(χ²(1) ≥ 9.826) = 0.0017. Normalised residuals (x̂ − x)/σ with
/// λ = r/v = −0.178 66: feed −σf·λ = +2.233; tail y3·σt·λ = −1.965.
fn biased_tail() -> Grid {
    let mut g = consistent();
    g[0][3] *= 2.0;
    g
}

fn pinned(tail_ag_pct: f64) -> impl Fn(KpiInput) -> f64 {
    move |i| match i {
        I::FeedAg => 5.0,
        I::ConcAg => 3.0,
        I::ZnConcAg => 8.0,
        I::TailAg => tail_ag_pct,
        _ => 1e-4,
    }
}

#[test]
fn a_biased_tail_assay_fails_the_chi2_test_by_the_hand_worked_amount() {
    let r = reconcile(lookup(biased_tail()), pinned(10.0), None).unwrap();
    assert!(close(r.chi2, 3_025.0 / 307.85, 1e-3), "χ² {}", r.chi2);
    assert!(close(r.p_value, 0.001_72, 0.02), "p {}", r.p_value);
    let n = |i: KpiInput| r.inputs.iter().find(|a| a.input == i).unwrap().normalised;
    assert!(close(n(I::FeedAg), 2.233, 2e-3), "{}", n(I::FeedAg));
    assert!(close(n(I::TailAg), -1.965, 2e-3), "{}", n(I::TailAg));
    // The tail is adjusted back down towards its true 59.8 g/t, the feed up.
    let tail = r.inputs.iter().find(|a| a.input == I::TailAg).unwrap();
    assert!(tail.adjusted < tail.measured);
    // With one redundancy, a feed error 2.2 σ explains the imbalance as
    // well as a tail error 2.0 σ: the stated precisions make the feed the
    // likelier culprit, and the balance says so.
    assert_eq!(r.gross_error, Some(I::FeedAg));
    assert!(r.ag_oz.is_none(), "no tonnage, no ounces");
}

#[test]
fn a_biased_tail_assay_is_named_when_its_precision_makes_it_the_likely_culprit() {
    // A tails analyser rated at 15 %: the tail now needs the smaller error
    // in its own units (0.92 × 17.93 > 12.5), so it is named.
    let r = reconcile(lookup(biased_tail()), pinned(15.0), None).unwrap();
    assert!(r.p_value < ALPHA, "p {}", r.p_value);
    assert_eq!(r.gross_error, Some(I::TailAg));
    // The consistent balance at the same precisions names nothing.
    let ok = reconcile(lookup(consistent()), pinned(15.0), None).unwrap();
    assert_eq!(ok.gross_error, None);
}

#[test]
fn adjusted_assays_balance_exactly_and_chi2_is_their_weighted_sum() {
    let mut g = consistent();
    g[1][0] *= 1.04;
    g[2][3] *= 0.9;
    g[0][1] *= 0.97;
    let r = reconcile(lookup(g), shipped_sd, Some(700.0)).unwrap();
    let y1 = r.conc_mass_pct / 100.0;
    let y2 = r.zn_conc_mass_pct / 100.0;
    let adj = |i: KpiInput| r.inputs.iter().find(|a| a.input == i).unwrap().adjusted;
    for row in INPUTS {
        let [f, c1, c2, t] = row.map(adj);
        let imbalance = f - y1 * c1 - y2 * c2 - (1.0 - y1 - y2) * t;
        assert!(imbalance.abs() < 1e-9 * f, "{row:?}: {imbalance}");
    }
    let chi2: f64 = r.inputs.iter().map(|a| a.normalised * a.normalised).sum();
    assert!(close(chi2, r.chi2, 1e-9), "{chi2} vs {}", r.chi2);
    // And no other splits do better: S(y) is minimal at the solution.
    let x = g;
    let sd: Grid = std::array::from_fn(|m| {
        std::array::from_fn(|s| x[m][s] * shipped_sd(INPUTS[m][s]) / 100.0)
    });
    for (d1, d2) in [(1e-4, 0.0), (-1e-4, 0.0), (0.0, 1e-4), (0.0, -1e-4)] {
        let other = balance::solve(&x, &sd, Some([y1 + d1, y2 + d2])).unwrap();
        assert!(
            close(other.chi2, r.chi2, 1e-6),
            "{} vs {}",
            other.chi2,
            r.chi2
        );
    }
}

#[test]
fn missing_or_impossible_inputs_are_refused_with_the_key_named() {
    let g = consistent();
    let without = |i: KpiInput| {
        let l = lookup(g);
        move |k: KpiInput| if k == i { None } else { l(k) }
    };
    let e = reconcile(without(I::ZnConcAg), shipped_sd, None).unwrap_err();
    assert_eq!(e.to_string(), "no good zn_conc_ag composite for the day");
    let mut bad = g;
    bad[0][3] = 0.0;
    let e = reconcile(lookup(bad), shipped_sd, None).unwrap_err();
    assert!(e.to_string().contains("tail_ag"), "{e}");
    // Concentrates that look like the feed: no split explains them.
    let flat = [
        [250.0, 250.0, 250.0, 250.0],
        [2.0, 2.0, 2.0, 2.0],
        [3.0, 3.0, 3.0, 3.0],
    ];
    assert!(reconcile(lookup(flat), shipped_sd, None).is_err());
}

/// A tiny deterministic normal generator (xorshift + Box–Muller), so the
/// test needs no extra crate and always draws the same sample.
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn next(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[test]
fn noise_at_the_stated_precision_looks_like_chi2_1_and_the_interval_covers_95_pct() {
    let truth = consistent();
    let mut rng = Normal(0x9E37_79B9_7F4A_7C15);
    let n = 2_000;
    let (mut sum, mut rejected, mut covered) = (0.0, 0, 0);
    for _ in 0..n {
        let g: Grid = std::array::from_fn(|m| {
            std::array::from_fn(|s| {
                let rel = shipped_sd(INPUTS[m][s]) / 100.0;
                truth[m][s] * (1.0 + rel * rng.next())
            })
        });
        // σ from the true values, so the test measures the method, not the
        // (second-order) effect of noisy σ.
        let sd_true = |i: KpiInput| {
            let (m, s) = (0..3)
                .flat_map(|m| (0..4).map(move |s| (m, s)))
                .find(|&(m, s)| INPUTS[m][s] == i)
                .unwrap();
            shipped_sd(i) * truth[m][s] / g[m][s]
        };
        let r = reconcile(lookup(g), sd_true, None).unwrap();
        sum += r.chi2;
        rejected += usize::from(r.p_value < ALPHA);
        let ci = r.ag_recovery_ci95_pp.unwrap();
        covered += usize::from((r.ag_recovery_pct - 72.0).abs() <= ci);
    }
    let mean = sum / n as f64;
    let reject = rejected as f64 / n as f64;
    let cover = covered as f64 / n as f64;
    assert!((0.85..1.15).contains(&mean), "mean χ² {mean}");
    assert!((0.035..0.065).contains(&reject), "rejected {reject}");
    assert!((0.93..0.97).contains(&cover), "coverage {cover}");
}

#[test]
fn the_point_carries_every_design_field() {
    let r = reconcile(lookup(biased_tail()), pinned(10.0), Some(700.0)).unwrap();
    let p = r.to_point("caylloma", jiff::civil::date(2026, 3, 1), 1_772_366_400_000);
    assert_eq!(p.measurement, "kpi_reconciled");
    assert_eq!(p.ts_ms, 1_772_366_400_000);
    let keys: Vec<&str> = p.fields.iter().map(|(k, _)| k.as_str()).collect();
    for k in [
        "ag_recovery_pct",
        "ag_recovery_ci95_pp",
        "ag_oz",
        "ag_oz_ci95",
        "conc_mass_pct",
        "zn_conc_mass_pct",
        "chi2",
        "dof",
        "p_value",
        "gross_error",
        "adj_feed_ag",
        "adj_zn_conc_ag",
        "adj_tail_zn",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    assert_eq!(keys.iter().filter(|k| k.starts_with("adj_")).count(), 12);
    assert!(p.fields.contains(&("dof".into(), FieldValue::Int(1))));
    assert!(p
        .fields
        .contains(&("gross_error".into(), FieldValue::Str("feed_ag".into()))));
    let ok = reconcile(lookup(consistent()), shipped_sd, None).unwrap();
    let p = ok.to_point("caylloma", jiff::civil::date(2026, 3, 1), 0);
    assert!(p
        .fields
        .contains(&("gross_error".into(), FieldValue::Str(String::new()))));
}
