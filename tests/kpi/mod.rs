mod close_crash;
mod day_e2e;
mod inputs;
mod reconcile_sim;

use std::path::Path;
use std::process::{Child, Command};

use plantsim::clock::PlantClock;

/// `plantgw run` of `config` on the simulated plant's clock (`speed` times
/// wall time from the same start and anchor as the simulator).
fn run_on_plant_clock(config: &Path, clock: &PlantClock, speed: f64) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plantgw"));
    cmd.args(["run", "--config"])
        .arg(config)
        .args(["--speed", &speed.to_string()])
        .args(["--start", &clock.start().to_string()])
        .args(["--anchor", &clock.anchor().to_string()]);
    cmd
}

/// A gateway process, killed on drop if still running (a failed assertion
/// must not leave it behind).
struct Gw(Child);

impl std::ops::Deref for Gw {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Gw {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
