//! The peers of the transport tests: a pty pair standing in for a serial
//! cable, and pymodbus RTU units on it or behind a TCP port.
use std::cell::Cell;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use plantgw::app::{self, RunOptions};
use plantgw::sink::influxdb::query::QueryClient;
use tokio_util::sync::CancellationToken;

use crate::common;
use crate::common::influx::plant_database;

/// Two ptys joined by socat: what one end writes the other reads, like the
/// two ends of a serial cable. A Linux pty refuses parity settings, so the
/// line is 8N1.
pub struct Pty {
    child: Child,
    /// The gateway's end: `device` in the config.
    pub gateway_end: PathBuf,
    /// The units' end.
    pub bus_end: PathBuf,
    _dir: tempfile::TempDir,
}

impl Pty {
    pub fn open() -> Pty {
        let socat = common::require_binary("socat", "apt-get install socat (or scripts/setup)");
        let dir = tempfile::tempdir().unwrap();
        let gateway_end = dir.path().join("gw");
        let bus_end = dir.path().join("bus");
        let mut child = Command::new(socat)
            .arg(format!("pty,raw,echo=0,link={}", gateway_end.display()))
            .arg(format!("pty,raw,echo=0,link={}", bus_end.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start socat");
        let until = Instant::now() + Duration::from_secs(10);
        while !(gateway_end.exists() && bus_end.exists()) {
            if Instant::now() > until {
                let _ = child.kill();
                panic!("socat made no pty pair within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Pty {
            child,
            gateway_end,
            bus_end,
            _dir: dir,
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// pymodbus RTU units (tests/fixtures/rtu_server.py). Unit k holds the
/// pymodbus fixture's values with holding register 0 = 54320 + k; any other
/// unit id gets no answer.
pub struct RtuUnits {
    child: Child,
    lines: Receiver<String>,
    connections: Cell<usize>,
    pub port: u16,
}

impl RtuUnits {
    /// Units on the bus end of a serial line.
    pub fn serial(device: &Path, units: &str) -> RtuUnits {
        Self::start(&["serial", &device.display().to_string(), units], 0)
    }

    /// Units behind a serial gateway's TCP port, speaking RTU frames.
    pub fn rtu_over_tcp(units: &str) -> RtuUnits {
        let port = common::free_port();
        Self::start(&["rtu_over_tcp", &port.to_string(), units], port)
    }

    fn start(args: &[&str], port: u16) -> RtuUnits {
        let python = common::require_binary("python3", "apt-get install python3");
        let mut child = Command::new(python)
            .arg(common::repo_path("tests/fixtures/rtu_server.py"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 rtu_server.py");
        let stdout = child.stdout.take().expect("fixture stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.starts_with("READY") => RtuUnits {
                child,
                lines,
                connections: Cell::new(0),
                port,
            },
            Ok(line) => {
                let _ = child.kill();
                panic!("pymodbus RTU fixture failed: {line}");
            }
            Err(_) => {
                let _ = child.kill();
                panic!("pymodbus RTU fixture did not start within 20 s; install pymodbus and pyserial: pip install 'pymodbus>=3.9,<4' pyserial");
            }
        }
    }

    /// TCP connections the units' server has accepted so far.
    pub fn connections(&self) -> usize {
        let more = self.lines.try_iter().filter(|l| l == "CONNECT").count();
        self.connections.set(self.connections.get() + more);
        self.connections.get()
    }
}

impl Drop for RtuUnits {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gateway config: InfluxDB 1.x database `plant`, no HTTP listener, and
/// `plcs` (each a whole `[[plc]]` table with its tags).
pub fn gateway_config(influx_url: &str, spool: &Path, plcs: &[String]) -> String {
    let mut s = format!(
        r#"
[site]
name = "testsite"
timezone = "America/Lima"

[influxdb]
url = "{influx_url}"
api = "v1"
database = "plant"
flush_interval_ms = 200

[spool]
dir = "{}"

[http]
listen = ""
"#,
        spool.display()
    );
    for p in plcs {
        s.push_str(p);
    }
    s
}

/// One RTU unit with a single `u16` tag at holding register 0, on serial
/// `device`: the PLC of the shared-line tests.
pub fn rtu_u16_plc(name: &str, unit: u8, device: &Path, scan_ms: i64, timeout_ms: u64) -> String {
    format!(
        r#"
[[plc]]
name = "{name}"
area = "lab"
transport = "rtu"
device = "{}"
baud = 19200
parity = "N"
unit_id = {unit}
scan_ms = {scan_ms}
timeout_ms = {timeout_ms}

[[plc.tag]]
name = "u16"
equipment = "{name}_dev"
table = "holding"
address = 0
type = "u16"
"#,
        device.display()
    )
}

/// Writes [`gateway_config`] with `plcs` to `dir/gw.toml` (spool in
/// `dir/spool`) and creates its database: the file and a client on it.
pub async fn write_gateway(
    dir: &Path,
    influx_url: &str,
    plcs: &[String],
) -> (PathBuf, QueryClient) {
    let path = dir.join("gw.toml");
    let text = gateway_config(influx_url, &dir.join("spool"), plcs);
    std::fs::write(&path, text).unwrap();
    let settings = plantgw::config::load(&path).unwrap();
    let query = plant_database(settings.influx.as_ref().expect("[influxdb]")).await;
    (path, query)
}

/// The gateway of a config file, run in this process on the wall clock.
pub struct InProcess {
    gw: app::Running,
    cancel: CancellationToken,
}

impl InProcess {
    pub async fn start(path: &Path) -> InProcess {
        let settings = plantgw::config::load(path).unwrap();
        let cancel = CancellationToken::new();
        let gw = app::start(
            settings,
            plantsim::clock::PlantClock::wall(),
            cancel.clone(),
            RunOptions::default(),
        )
        .await
        .unwrap();
        InProcess { gw, cancel }
    }

    /// Stops it and waits (at most 30 s) for a clean end.
    pub async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.gw.wait())
            .await
            .expect("the gateway stops within 30 s")
            .expect("the gateway ends cleanly");
    }
}
