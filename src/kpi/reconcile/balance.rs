//! The weighted least-squares balance of the flotation circuit, solved
//! exactly.
//!
//! Unknowns: the mass splits y1 = C1/F (Pb-Ag concentrate) and y2 = C2/F
//! (Zn concentrate), tails y3 = 1 − y1 − y2, and the adjusted assays x̂.
//! Each metal m must balance: f̂ − y1·ĉ1 − y2·ĉ2 − y3·t̂ = 0. The constraints
//! are bilinear (splits × assays), but for fixed splits they are linear in
//! the assays and each metal's involves only its own four, so the inner
//! minimum of Σ((x̂ − x)/σ)² has a closed form: r_m² / v_m with
//! r_m = f − y1·c1 − y2·c2 − y3·t (the raw imbalance) and
//! v_m = σf² + y1²σc1² + y2²σc2² + y3²σt² (its variance). What is left is
//! S(y) = Σ_m r_m² / v_m over two unknowns, minimised by Levenberg–Marquardt
//! on z_m = r_m/√v_m with an analytic Jacobian. This is the Lagrangian
//! solution with the multipliers λ_m = r_m / v_m eliminated, iterated to
//! the exact optimum of the bilinear problem rather than linearised once.
//! The adjustments follow from λ: f̂ = f − σf²λ, ĉ1 = c1 + y1σc1²λ,
//! ĉ2 = c2 + y2σc2²λ, t̂ = t + y3σt²λ (then r_m(x̂) = 0 exactly).

/// Metals, in row order.
pub const METALS: usize = 3;
/// Streams, in column order: feed, Pb-Ag concentrate, Zn concentrate, tails.
pub const STREAMS: usize = 4;

pub type Grid = [[f64; STREAMS]; METALS];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Solution {
    /// C1/F, C2/F.
    pub y: [f64; 2],
    pub adjusted: Grid,
    /// S at the optimum: Σ((x̂ − x)/σ)².
    pub chi2: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum BalanceError {
    #[error("the concentrates cannot be told apart by their assays (the balance is singular)")]
    Singular,
    #[error(
        "the balance puts C1/F = {y1:.4}, C2/F = {y2:.4}: no physical split explains the assays"
    )]
    ImpossibleSplit { y1: f64, y2: f64 },
}

const MAX_ITER: usize = 200;

/// Solves the balance for measured assays `x` with standard deviations `sd`
/// (all positive and finite; the caller checks), starting from `start`
/// when given (a neighbouring solution) or from the unweighted balance.
pub fn solve(x: &Grid, sd: &Grid, start: Option<[f64; 2]>) -> Result<Solution, BalanceError> {
    let var = sd.map(|row| row.map(|s| s * s));
    let mut y = match start {
        Some(y) => y,
        None => initial(x).ok_or(BalanceError::Singular)?,
    };
    let mut s = objective(x, &var, y);
    let mut mu = 1e-3;
    for _ in 0..MAX_ITER {
        let (z, j) = residuals(x, &var, y);
        let mut h = [[0.0; 2]; 2];
        let mut g = [0.0; 2];
        for m in 0..METALS {
            for a in 0..2 {
                g[a] += j[m][a] * z[m];
                for b in 0..2 {
                    h[a][b] += j[m][a] * j[m][b];
                }
            }
        }
        let mut improved = false;
        while mu < 1e12 {
            let damped = [
                [h[0][0] * (1.0 + mu), h[0][1]],
                [h[1][0], h[1][1] * (1.0 + mu)],
            ];
            let Some(d) = solve2(damped, [-g[0], -g[1]]) else {
                mu *= 10.0;
                continue;
            };
            let next = [y[0] + d[0], y[1] + d[1]];
            let sn = objective(x, &var, next);
            if sn.is_finite() && sn <= s {
                let small = d[0].abs() <= 1e-15 * y[0].abs().max(1e-12)
                    && d[1].abs() <= 1e-15 * y[1].abs().max(1e-12);
                y = next;
                let gain = s - sn;
                s = sn;
                mu = (mu / 10.0).max(1e-12);
                improved = !small && gain > s * 1e-15;
                break;
            }
            mu *= 10.0;
        }
        if !improved {
            break;
        }
    }
    let [y1, y2] = y;
    if !(y1 > 0.0 && y2 >= 0.0 && y1 + y2 < 1.0) {
        return Err(BalanceError::ImpossibleSplit { y1, y2 });
    }
    Ok(Solution {
        y,
        adjusted: adjust(x, &var, y),
        chi2: s,
    })
}

fn splits(y: [f64; 2]) -> [f64; STREAMS] {
    [1.0, y[0], y[1], 1.0 - y[0] - y[1]]
}

/// The raw imbalance r_m and its variance v_m at splits `y`.
fn imbalance(x: &[f64; STREAMS], var: &[f64; STREAMS], y: [f64; 2]) -> (f64, f64) {
    let w = splits(y);
    let r = x[0] - w[1] * x[1] - w[2] * x[2] - w[3] * x[3];
    let v = (0..STREAMS).map(|s| w[s] * w[s] * var[s]).sum();
    (r, v)
}

fn objective(x: &Grid, var: &Grid, y: [f64; 2]) -> f64 {
    (0..METALS)
        .map(|m| {
            let (r, v) = imbalance(&x[m], &var[m], y);
            r * r / v
        })
        .sum()
}

/// z_m = r_m/√v_m and ∂z_m/∂y.
fn residuals(x: &Grid, var: &Grid, y: [f64; 2]) -> ([f64; METALS], [[f64; 2]; METALS]) {
    let y3 = 1.0 - y[0] - y[1];
    let mut z = [0.0; METALS];
    let mut j = [[0.0; 2]; METALS];
    for m in 0..METALS {
        let (r, v) = imbalance(&x[m], &var[m], y);
        let sv = v.sqrt();
        z[m] = r / sv;
        let t = x[m][3];
        let dr = [t - x[m][1], t - x[m][2]];
        let dv = [
            2.0 * (y[0] * var[m][1] - y3 * var[m][3]),
            2.0 * (y[1] * var[m][2] - y3 * var[m][3]),
        ];
        for a in 0..2 {
            j[m][a] = dr[a] / sv - r * dv[a] / (2.0 * v * sv);
        }
    }
    (z, j)
}

/// Adjusted assays at splits `y`: each metal's imbalance spread over its
/// four assays in proportion to their variance and weight in the balance.
fn adjust(x: &Grid, var: &Grid, y: [f64; 2]) -> Grid {
    let w = splits(y);
    let mut out = *x;
    for m in 0..METALS {
        let (r, v) = imbalance(&x[m], &var[m], y);
        let lambda = r / v;
        out[m][0] = x[m][0] - var[m][0] * lambda;
        for s in 1..STREAMS {
            out[m][s] = x[m][s] + w[s] * var[m][s] * lambda;
        }
    }
    out
}

/// Unweighted start: the least-squares splits of
/// (f − t) = y1(c1 − t) + y2(c2 − t), each metal scaled by its feed so
/// g/t and % weigh alike.
fn initial(x: &Grid) -> Option<[f64; 2]> {
    let mut a = [[0.0; 2]; 2];
    let mut b = [0.0; 2];
    for row in x {
        let scale = row[0].abs().max(f64::MIN_POSITIVE);
        let t = row[3];
        let col = [(row[1] - t) / scale, (row[2] - t) / scale];
        let rhs = (row[0] - t) / scale;
        for i in 0..2 {
            b[i] += col[i] * rhs;
            for k in 0..2 {
                a[i][k] += col[i] * col[k];
            }
        }
    }
    solve2(a, b)
}

/// A 2×2 solve; None when (nearly) singular.
fn solve2(a: [[f64; 2]; 2], b: [f64; 2]) -> Option<[f64; 2]> {
    let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
    let scale = (a[0][0] * a[1][1]).abs() + (a[0][1] * a[1][0]).abs();
    if !det.is_finite() || det.abs() <= 1e-12 * scale || scale == 0.0 {
        return None;
    }
    Some([
        (b[0] * a[1][1] - b[1] * a[0][1]) / det,
        (a[0][0] * b[1] - a[1][0] * b[0]) / det,
    ])
}
