//! Metallurgical balance formulas (DESIGN §6). Pure arithmetic on assays;
//! the engine decides which to use and logs the choice.
use serde::{Deserialize, Serialize};

/// Grams per troy ounce.
pub const G_PER_OZ: f64 = 31.1035;

/// Below this the concentrates' assay vectors are so nearly parallel that
/// the three-product split is noise amplification, not a measurement:
/// |det| relative to the sum of its two products' magnitudes (1 = the
/// concentrates are orthogonal in Pb/Zn, 0 = indistinguishable).
pub const MIN_RELATIVE_DET: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryMethod {
    TwoProduct,
    ThreeProduct,
    /// Three-product was configured but could not be used (missing assays,
    /// near-singular determinant or a physically impossible split).
    TwoProductFallback,
}

impl RecoveryMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryMethod::TwoProduct => "two_product",
            RecoveryMethod::ThreeProduct => "three_product",
            RecoveryMethod::TwoProductFallback => "two_product_fallback",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum BalanceError {
    #[error("concentrate assay {c} is not above tailings {t}")]
    ConcNotAboveTails { c: f64, t: f64 },
    #[error("feed assay {0} is not positive")]
    NoFeed(f64),
    #[error("recovery {0:.4} is outside 0–1: assays are inconsistent")]
    OutOfRange(f64),
    #[error("three-product determinant is near zero (relative {0:.4}): concentrates are not distinguishable by Pb and Zn")]
    NearSingular(f64),
    #[error("three-product mass split C1/F={c1:.4}, C2/F={c2:.4} is impossible")]
    ImpossibleSplit { c1: f64, c2: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TwoProduct {
    /// Concentrate mass yield C/F.
    pub yield_frac: f64,
    pub recovery: f64,
}

/// Two-product formula: Y = (f − t)/(c − t), R = c(f − t)/(f(c − t)).
pub fn two_product(f: f64, c: f64, t: f64) -> Result<TwoProduct, BalanceError> {
    if c <= t {
        return Err(BalanceError::ConcNotAboveTails { c, t });
    }
    if f <= 0.0 {
        return Err(BalanceError::NoFeed(f));
    }
    let yield_frac = (f - t) / (c - t);
    let recovery = c * yield_frac / f;
    if !(0.0..=1.0).contains(&recovery) {
        return Err(BalanceError::OutOfRange(recovery));
    }
    Ok(TwoProduct {
        yield_frac,
        recovery,
    })
}

/// Assays of one element in the four streams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Streams {
    pub feed: f64,
    /// Pb (Pb-Ag) concentrate, C1.
    pub conc1: f64,
    /// Zn concentrate, C2.
    pub conc2: f64,
    pub tail: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThreeProduct {
    pub c1_yield: f64,
    pub c2_yield: f64,
    /// Silver recovery to C1.
    pub recovery: f64,
}

/// Three-product formula, Pb unprimed and Zn primed (DESIGN §6), then the
/// silver recovery to the Pb concentrate: (C1/F)·c1(Ag)/f(Ag).
pub fn three_product(
    pb: Streams,
    zn: Streams,
    ag_feed: f64,
    ag_conc1: f64,
) -> Result<ThreeProduct, BalanceError> {
    let (f, c1, c2, t) = (pb.feed, pb.conc1, pb.conc2, pb.tail);
    let (f_, c1_, c2_, t_) = (zn.feed, zn.conc1, zn.conc2, zn.tail);
    let a = (c1 - t) * (c2_ - t_);
    let b = (c1_ - t_) * (c2 - t);
    let det = a - b;
    let scale = a.abs() + b.abs();
    let rel = if scale > 0.0 { det.abs() / scale } else { 0.0 };
    // NaN (from non-finite assays) must be refused too.
    if rel.is_nan() || rel < MIN_RELATIVE_DET {
        return Err(BalanceError::NearSingular(rel));
    }
    let c1_yield = ((f - t) * (c2_ - t_) - (f_ - t_) * (c2 - t)) / det;
    // The C2 formula's denominator is −det.
    let c2_yield = ((f - t) * (c1_ - t_) - (f_ - t_) * (c1 - t)) / -det;
    if !(0.0..=1.0).contains(&c1_yield)
        || !(0.0..=1.0).contains(&c2_yield)
        || c1_yield + c2_yield > 1.0
    {
        return Err(BalanceError::ImpossibleSplit {
            c1: c1_yield,
            c2: c2_yield,
        });
    }
    if ag_feed <= 0.0 {
        return Err(BalanceError::NoFeed(ag_feed));
    }
    let recovery = c1_yield * ag_conc1 / ag_feed;
    if !(0.0..=1.0).contains(&recovery) {
        return Err(BalanceError::OutOfRange(recovery));
    }
    Ok(ThreeProduct {
        c1_yield,
        c2_yield,
        recovery,
    })
}

/// Recovered troy ounces: dry t × head g/t × R / 31.1035.
pub fn recovered_oz(dry_t: f64, head_gpt: f64, recovery: f64) -> f64 {
    dry_t * head_gpt * recovery / G_PER_OZ
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_product_worked_example() {
        // DESIGN §6: f = 250, c = 5,000, t = 40 g/t.
        let r = two_product(250.0, 5_000.0, 40.0).unwrap();
        // Y = 210 / 4,960 = 0.042339…
        assert!(
            (r.yield_frac * 100.0 - 4.23).abs() < 0.005,
            "{}",
            r.yield_frac
        );
        // R = 5,000 × 210 / (250 × 4,960) = 1,050,000 / 1,240,000 = 0.846774…
        assert!((r.recovery * 100.0 - 84.7).abs() < 0.05, "{}", r.recovery);
    }

    #[test]
    fn two_product_refuses_nonsense() {
        assert!(matches!(
            two_product(250.0, 40.0, 40.0),
            Err(BalanceError::ConcNotAboveTails { .. })
        ));
        assert!(matches!(
            two_product(0.0, 5_000.0, 40.0),
            Err(BalanceError::NoFeed(_))
        ));
        assert!(matches!(
            two_product(30.0, 5_000.0, 40.0),
            Err(BalanceError::OutOfRange(_))
        ));
    }

    #[test]
    fn recovered_ounces_worked_example() {
        // DESIGN §6: 129,958 t × 89 g/t × 0.8555 / 31.1035 = 318,129 oz.
        let oz = recovered_oz(129_958.0, 89.0, 0.8555);
        assert!((oz - 318_129.0).abs() < 1.0, "{oz}");
    }

    #[test]
    fn three_product_by_hand() {
        // Pb %: f 2.0, c1 55, c2 1.5, t 0.15.  Zn %: f′ 3.0, c1′ 6, c2′ 50, t′ 0.30.
        // det = (55 − 0.15)(50 − 0.30) − (6 − 0.30)(1.5 − 0.15)
        //     = 54.85 × 49.7 − 5.7 × 1.35 = 2,726.045 − 7.695 = 2,718.35
        // C1/F = [(2 − 0.15)(49.7) − (3 − 0.30)(1.35)] / 2,718.35
        //      = (91.945 − 3.645) / 2,718.35 = 88.3 / 2,718.35 = 0.0324829
        // C2/F = [(1.85)(5.7) − (2.7)(54.85)] / [(1.35)(5.7) − (49.7)(54.85)]
        //      = (10.545 − 148.095) / (7.695 − 2,726.045) = −137.55 / −2,718.35 = 0.0506006
        // Ag:  f 250 g/t, c1 6,000 g/t → R = 0.0324829 × 6,000 / 250 = 0.779590
        let pb = Streams {
            feed: 2.0,
            conc1: 55.0,
            conc2: 1.5,
            tail: 0.15,
        };
        let zn = Streams {
            feed: 3.0,
            conc1: 6.0,
            conc2: 50.0,
            tail: 0.30,
        };
        let r = three_product(pb, zn, 250.0, 6_000.0).unwrap();
        assert!((r.c1_yield - 88.3 / 2_718.35).abs() < 1e-12);
        assert!((r.c2_yield - 137.55 / 2_718.35).abs() < 1e-12);
        assert!((r.recovery - 0.779_590).abs() < 1e-6, "{}", r.recovery);
    }

    #[test]
    fn three_product_refuses_near_singular() {
        // Zn concentrate assays proportional to the Pb concentrate's (both
        // ≈ 9:1 Pb:Zn above tails): the two products cannot be told apart.
        let pb = Streams {
            feed: 2.0,
            conc1: 55.0,
            conc2: 27.6,
            tail: 0.15,
        };
        let zn = Streams {
            feed: 3.0,
            conc1: 6.0,
            conc2: 3.16,
            tail: 0.30,
        };
        match three_product(pb, zn, 250.0, 6_000.0) {
            Err(BalanceError::NearSingular(rel)) => assert!(rel < MIN_RELATIVE_DET, "{rel}"),
            other => panic!("{other:?}"),
        }
        let zero = Streams {
            feed: 1.0,
            conc1: 1.0,
            conc2: 1.0,
            tail: 1.0,
        };
        assert!(matches!(
            three_product(zero, zero, 250.0, 6_000.0),
            Err(BalanceError::NearSingular(_))
        ));
    }

    #[test]
    fn method_names_match_the_field_values() {
        assert_eq!(RecoveryMethod::TwoProduct.as_str(), "two_product");
        assert_eq!(RecoveryMethod::ThreeProduct.as_str(), "three_product");
        assert_eq!(
            RecoveryMethod::TwoProductFallback.as_str(),
            "two_product_fallback"
        );
    }
}
