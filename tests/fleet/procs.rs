//! `plantgw run` and `plantgw relay` as child processes, for SIGKILL and
//! SIGTERM; killed on drop if still running.
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Proc {
    child: Option<Child>,
    args: Vec<String>,
    log: PathBuf,
    /// Extra environment for the next start only (a test crash hook).
    env: Vec<(String, String)>,
}

impl Proc {
    /// `plantgw <command> --config <config>`, output appended to `log`.
    pub fn spawn(command: &str, config: &Path, log: &Path) -> Proc {
        Self::spawn_with_env(command, config, log, &[])
    }

    /// Like [`Proc::spawn`], with `env` set for this first start only.
    pub fn spawn_with_env(command: &str, config: &Path, log: &Path, env: &[(&str, &str)]) -> Proc {
        let mut p = Proc {
            child: None,
            args: vec![
                command.into(),
                "--config".into(),
                config.display().to_string(),
            ],
            log: log.to_path_buf(),
            env: Vec::new(),
        };
        p.start_with_env(env);
        p
    }

    /// Starts again with `env` set (for this start only).
    pub fn start_with_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.start();
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let out = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("process log");
        let err = out.try_clone().expect("clone log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_plantgw"))
            .args(&self.args)
            .env("RUST_LOG", "info")
            .env_remove("SINK_TEST_CRASH_AFTER_PUBACK")
            .env_remove("RELAY_TEST_CRASH_BEFORE_ACK")
            .envs(std::mem::take(&mut self.env))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start plantgw");
        self.child = Some(child);
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub fn assert_running(&mut self) {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                panic!(
                    "plantgw {} exited early ({status}); log:\n{}",
                    self.args[0],
                    self.log_tail()
                );
            }
        }
    }

    /// Waits up to `limit` for the process to end by itself (a crash
    /// hook), and returns how it ended.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            let c = self.child.as_mut().expect("process was started");
            if let Some(s) = c.try_wait().expect("wait plantgw") {
                self.child = None;
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "plantgw {} still running after {limit:?}; log:\n{}",
                self.args[0],
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL plantgw");
            c.wait().expect("reap plantgw");
        }
    }

    /// SIGTERM and waits up to `limit` for a clean exit (status 0).
    pub fn terminate(&mut self, limit: Duration) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let status = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = c.try_wait().expect("wait plantgw") {
                assert!(
                    s.success(),
                    "plantgw {} exited with {s}; log:\n{}",
                    self.args[0],
                    self.log_tail()
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!(
                    "plantgw {} did not stop within {limit:?}; log:\n{}",
                    self.args[0],
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
