//! Test hooks that end the process at a chosen moment, as a power cut or
//! `kill -9` would, so fault tests can hit a window a signal from outside
//! cannot aim at (between a server's acknowledgement and the local record
//! of it). Each is armed by an environment variable that is not
//! `PLANTGW_*` (that prefix is taken by configuration overrides), and a
//! release build — what a plant installs — compiles them to nothing.

/// Aborts the process on the `n`-th call to [`CountedCrash::tick`], where
/// `n` is the value of the environment variable `var`.
pub struct CountedCrash {
    var: &'static str,
    #[cfg(debug_assertions)]
    armed: std::sync::OnceLock<Option<u64>>,
    #[cfg(debug_assertions)]
    seen: std::sync::atomic::AtomicU64,
}

impl CountedCrash {
    pub const fn new(var: &'static str) -> CountedCrash {
        CountedCrash {
            var,
            #[cfg(debug_assertions)]
            armed: std::sync::OnceLock::new(),
            #[cfg(debug_assertions)]
            seen: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Counts one passage; aborts when it is the one the variable names.
    pub fn tick(&self) {
        #[cfg(debug_assertions)]
        {
            use std::sync::atomic::Ordering;
            let armed = self.armed.get_or_init(|| {
                std::env::var(self.var)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .filter(|n| *n > 0)
            });
            let Some(at) = *armed else {
                return;
            };
            let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
            if n == at {
                tracing::error!(var = self.var, n, "test crash point reached, aborting");
                std::process::abort();
            }
        }
        #[cfg(not(debug_assertions))]
        let _ = self.var;
    }
}
