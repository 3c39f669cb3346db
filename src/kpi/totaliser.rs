//! Belt-scale totaliser arithmetic: what the step between two consecutive
//! good readings means.
//!
//! A totaliser only counts up, so a drop is either a wrap of the counter
//! (BW500-style u32 with 3 implied decimals wraps at 4,294,967.296 t) or a
//! reset (operator zeroed it, the PLC was replaced, a backup was restored).
//! A wrap is accepted only when `totaliser_rollover` explains the drop *and*
//! the resulting tonnage could have passed over the belt in the time between
//! the readings; anything else is a reset and is not production. The same
//! plausibility bound turns an absurd forward jump into a reset too.

/// How many times the plant's top rate the belt may appear to run before a
/// step is called implausible.
pub const PLAUSIBLE_FACTOR: f64 = 3.0;
/// Shortest window the bound assumes, so a single-scan step (where the PLC's
/// own totaliser update cadence adds jitter) is not judged on 1 s alone.
const MIN_WINDOW_MS: i64 = 60_000;
/// A backwards step this small is counter noise, not a reset.
const NOISE_T: f64 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Ordinary increase (or standstill).
    Production { wet_t: f64 },
    /// The counter wrapped: `rollover − prev + next`.
    Rollover { wet_t: f64 },
    /// Not production: the count restarts from `next`.
    Reset { reason: ResetReason },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ResetReason {
    /// The value fell and no configured rollover explains it plausibly.
    Drop,
    /// The value rose by more than the belt could carry in the time.
    Jump { max_t: f64 },
}

/// The most wet tonnes the belt could plausibly carry in `dt_ms`, given the
/// highest rate the plant runs at.
pub fn plausible_max_t(dt_ms: i64, max_rate_tph: f64) -> f64 {
    PLAUSIBLE_FACTOR * max_rate_tph * dt_ms.max(MIN_WINDOW_MS) as f64 / 3_600_000.0
}

/// Classifies the step from `prev` to `next` over `dt_ms`.
pub fn step(prev: f64, next: f64, dt_ms: i64, rollover: Option<f64>, max_rate_tph: f64) -> Step {
    let max_t = plausible_max_t(dt_ms, max_rate_tph);
    let delta = next - prev;
    if delta >= 0.0 {
        return if delta <= max_t {
            Step::Production { wet_t: delta }
        } else {
            Step::Reset {
                reason: ResetReason::Jump { max_t },
            }
        };
    }
    if -delta <= NOISE_T {
        return Step::Production { wet_t: 0.0 };
    }
    match rollover {
        Some(r) => {
            let wrapped = r - prev + next;
            if (0.0..=max_t).contains(&wrapped) {
                Step::Rollover { wet_t: wrapped }
            } else {
                Step::Reset {
                    reason: ResetReason::Drop,
                }
            }
        }
        None => Step::Reset {
            reason: ResetReason::Drop,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRAP: f64 = 4_294_967.296;

    #[test]
    fn ordinary_increase_and_standstill() {
        assert_eq!(
            step(100.0, 100.5, 60_000, Some(WRAP), 29.2),
            Step::Production { wet_t: 0.5 }
        );
        assert_eq!(
            step(100.0, 100.0, 1_000, Some(WRAP), 29.2),
            Step::Production { wet_t: 0.0 }
        );
        assert_eq!(
            step(100.0, 99.999, 1_000, None, 29.2),
            Step::Production { wet_t: 0.0 }
        );
    }

    #[test]
    fn rollover_at_u32_wrap_is_production() {
        // 4,294,967.200 → 0.104 in 10 s: 0.096 + 0.104 = 0.2 t, about 72 t/h
        // over 10 s, inside 3 × 29.2 t/h over the 1-minute minimum window.
        match step(4_294_967.2, 0.104, 10_000, Some(WRAP), 29.2) {
            Step::Rollover { wet_t } => assert!((wet_t - 0.2).abs() < 1e-6),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn drop_not_explained_by_rollover_is_a_reset() {
        // Zeroed at 1,234.5 t: a wrap would mean 4.29 Mt in one second.
        assert_eq!(
            step(1_234.5, 0.0, 1_000, Some(WRAP), 29.2),
            Step::Reset {
                reason: ResetReason::Drop
            }
        );
        // No rollover configured: any real drop is a reset.
        assert_eq!(
            step(4_294_967.2, 0.1, 1_000, None, 29.2),
            Step::Reset {
                reason: ResetReason::Drop
            }
        );
    }

    #[test]
    fn implausible_jump_is_a_reset() {
        match step(10.0, 5_000.0, 60_000, Some(WRAP), 29.2) {
            Step::Reset {
                reason: ResetReason::Jump { max_t },
            } => assert!((max_t - 1.46).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
        // Across a 10 h outage, 300 t is plausible (limit 876 t).
        assert_eq!(
            step(10.0, 310.0, 36_000_000, Some(WRAP), 29.2),
            Step::Production { wet_t: 300.0 }
        );
    }
}
