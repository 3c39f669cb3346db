mod cli;
mod config_errors;
mod demo;
pub(crate) mod pymodbus_e2e;
mod v2_victoria;

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary, unaffected by `PLANTGW_*` overrides in the caller's
/// environment (they must not change what is tested).
pub fn plantgw() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_plantgw"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PLANTGW_")) {
        c.env_remove(k);
    }
    c
}

/// `plantgw run`, killed on drop (a failed assertion must not leave it
/// behind); its log is collected when it is stopped.
pub struct Running(pub Child);

impl Running {
    pub fn start(path: &std::path::Path, env: &[(&str, &str)]) -> Running {
        let mut c = plantgw();
        c.args(["run", "--config"])
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        Running(c.spawn().unwrap())
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill {sig}");
    }

    /// SIGTERM, then the exit status (it must come within `within`) and
    /// the log.
    pub fn stop(mut self, within: Duration) -> (ExitStatus, String) {
        self.signal("-TERM");
        let sent = Instant::now();
        let status = loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                sent.elapsed() < within,
                "gateway did not stop within {within:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut log = String::new();
        self.0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        (status, log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
