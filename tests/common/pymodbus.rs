//! The pymodbus PLC fixture (tests/fixtures/plc_server.py): a Modbus server
//! written by others, holding known values.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct PymodbusPlc {
    child: Child,
    pub port: u16,
}

impl PymodbusPlc {
    pub fn start() -> PymodbusPlc {
        Self::start_with(&[])
    }

    /// Starts the fixture with extra arguments (e.g. `silent=holding:64:70`).
    pub fn start_with(args: &[&str]) -> PymodbusPlc {
        let python = super::require_binary("python3", "apt-get install python3");
        let port = super::free_port();
        let mut child = Command::new(python)
            .arg(super::repo_path("tests/fixtures/plc_server.py"))
            .arg(port.to_string())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 plc_server.py");
        let stdout = child.stdout.take().expect("fixture stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.starts_with("READY") => PymodbusPlc { child, port },
            Ok(line) => {
                let _ = child.kill();
                panic!("pymodbus fixture failed: {line}");
            }
            Err(_) => {
                let _ = child.kill();
                panic!("pymodbus fixture did not start within 20 s; is pymodbus installed? pip install 'pymodbus>=3.9,<4'");
            }
        }
    }
}

impl Drop for PymodbusPlc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
