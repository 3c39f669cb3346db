//! The small building blocks of plausible process signals: first-order lags
//! (instruments, motors, tanks respond with a time constant) and
//! Ornstein–Uhlenbeck drift (bounded random wander with a memory, unlike
//! independent random numbers).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One standard normal draw (Box–Muller): keeps the dependency list to
/// `rand` core, which has no Gaussian.
pub fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    // 1 − u keeps the logarithm's argument in (0, 1].
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// First-order lag: the output approaches the target with time constant `tau_s`.
#[derive(Debug, Clone)]
pub struct Lag {
    pub value: f64,
    tau_s: f64,
    /// (dt, alpha) of the last step: the step size never changes, and `exp`
    /// is the dominant cost of a model step in debug builds.
    cached: (f64, f64),
}

impl Lag {
    pub fn new(value: f64, tau_s: f64) -> Self {
        Lag {
            value,
            tau_s,
            cached: (f64::NAN, 0.0),
        }
    }

    pub fn step(&mut self, target: f64, dt_s: f64) -> f64 {
        if self.cached.0 != dt_s {
            // Exact discretisation, so the result does not depend on the step size.
            self.cached = (dt_s, 1.0 - (-dt_s / self.tau_s).exp());
        }
        self.value += (target - self.value) * self.cached.1;
        self.value
    }
}

/// Zero-mean Ornstein–Uhlenbeck process with stationary standard deviation
/// `sigma` and correlation time `tau_s`.
///
/// Slow processes draw a new value only every `tau_s / 100` seconds (at most
/// every 10 s): the exact discretisation keeps the statistics, and a plant
/// day costs far fewer random draws.
#[derive(Debug, Clone)]
pub struct Drift {
    pub value: f64,
    tau_s: f64,
    sigma: f64,
    stride_s: f64,
    pending_s: f64,
    /// (dt, decay, noise gain) of the last update.
    cached: (f64, f64, f64),
}

impl Drift {
    /// Starts from a draw of the stationary distribution, so a fresh plant
    /// does not begin every run at exactly the mean.
    pub fn new(sigma: f64, tau_s: f64, rng: &mut ChaCha8Rng) -> Self {
        Drift {
            value: sigma * gauss(rng),
            tau_s,
            sigma,
            stride_s: (tau_s / 100.0).clamp(1.0, 10.0),
            pending_s: 0.0,
            cached: (f64::NAN, 0.0, 0.0),
        }
    }

    pub fn step(&mut self, dt_s: f64, rng: &mut ChaCha8Rng) -> f64 {
        self.pending_s += dt_s;
        if self.pending_s < self.stride_s - 1e-9 {
            return self.value;
        }
        let h = std::mem::take(&mut self.pending_s);
        if self.cached.0 != h {
            let a = (-h / self.tau_s).exp();
            self.cached = (h, a, self.sigma * (1.0 - a * a).sqrt());
        }
        self.value = self.value * self.cached.1 + self.cached.2 * gauss(rng);
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn lag_reaches_63_percent_after_one_time_constant() {
        let mut lag = Lag::new(0.0, 60.0);
        for _ in 0..60 {
            lag.step(1.0, 1.0);
        }
        assert!((lag.value - 0.632).abs() < 0.001, "{}", lag.value);
    }

    #[test]
    fn drift_has_the_requested_spread() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut d = Drift::new(2.0, 30.0, &mut rng);
        let n = 200_000;
        let mut sum_sq = 0.0;
        for _ in 0..n {
            let v = d.step(1.0, &mut rng);
            sum_sq += v * v;
        }
        let sd = (sum_sq / n as f64).sqrt();
        assert!((sd - 2.0).abs() < 0.15, "sd {sd}");
    }
}
