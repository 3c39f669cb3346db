//! A local InfluxDB 1.x (`influxd`, Debian package `influxdb`) started on
//! loopback: the one launcher behind `plantgw demo`, the end-to-end
//! benchmark and the integration tests.
//!
//! Config, data and log live in the caller's directory; HTTP listens on the
//! given port or a free one. [`Influxd::start`] returns once `/ping`
//! answers 204. Dropping the handle kills the server; [`Influxd::stop`]
//! stops it as a service manager would and keeps dir and port for
//! [`Influxd::restart`].
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "apt-get install influxdb (or run scripts/setup)";
const READY_WITHIN: Duration = Duration::from_secs(30);
const STOP_WITHIN: Duration = Duration::from_secs(10);
/// A probed-free port can be taken before influxd binds it; pick again.
const START_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum InfluxdError {
    #[error("`influxd` is not installed (not on PATH): {INSTALL_HINT}")]
    NotInstalled,
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("influxd exited during start-up ({status}); log {}:\n{tail}", log.display())]
    Exited {
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error("influxd not ready on {addr} after {} s; log {}:\n{tail}", READY_WITHIN.as_secs(), log.display())]
    NotReady {
        addr: SocketAddr,
        log: PathBuf,
        tail: String,
    },
    #[error("influxd stopped but {addr} still accepts connections")]
    StillListening { addr: SocketAddr },
    #[error("restart needs a stopped influxd: call stop() first")]
    Running,
    #[error("influxd start-up task failed: {0}")]
    Task(String),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InfluxdError {
    let path = path.to_path_buf();
    move |source| InfluxdError::Io { what, path, source }
}

/// A running (or [`stop`](Influxd::stop)ped) influxd; killed on drop.
#[derive(Debug)]
pub struct Influxd {
    child: Child,
    addr: SocketAddr,
    url: String,
    bin: PathBuf,
    conf: PathBuf,
    log: PathBuf,
}

/// HTTP authentication of a started influxd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone on loopback may read and write (the demo, most tests).
    Off,
    /// `auth-enabled = true`: until a first admin exists (a `CREATE USER`
    /// query needs no credentials then) nothing else is allowed.
    Required,
}

impl Influxd {
    /// Starts influxd with config, data and log under `dir` (created if
    /// missing, kept afterwards), HTTP on `127.0.0.1:http_port` or a free
    /// port, and waits until it answers `/ping`. Blocks the thread for the
    /// start-up; from async code use [`Influxd::start_async`].
    pub fn start(dir: &Path, http_port: Option<u16>) -> Result<Influxd, InfluxdError> {
        Influxd::start_with(dir, http_port, Auth::Off)
    }

    /// As [`Influxd::start`], with HTTP authentication as `auth` says.
    pub fn start_with(
        dir: &Path,
        http_port: Option<u16>,
        auth: Auth,
    ) -> Result<Influxd, InfluxdError> {
        let bin = binary()?;
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let http = match http_port {
                Some(p) => p,
                None => free_port(dir)?,
            };
            let rpc = free_port(dir)?;
            let conf = dir.join("influxdb.conf");
            std::fs::write(&conf, config_text(dir, http, rpc, auth))
                .map_err(io("writing", &conf))?;
            let log = dir.join("influxd.log");
            let out = std::fs::File::create(&log).map_err(io("creating", &log))?;
            let child = spawn(&bin, &conf, out)?;
            let addr = SocketAddr::from(([127, 0, 0, 1], http));
            let mut server = Influxd {
                child,
                addr,
                url: format!("http://{addr}"),
                bin: bin.clone(),
                conf,
                log,
            };
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                Err(e @ InfluxdError::Exited { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(InfluxdError::NotInstalled))
    }

    /// [`Influxd::start`] on a blocking thread, so the runtime's workers
    /// keep serving while influxd comes up.
    pub async fn start_async(
        dir: PathBuf,
        http_port: Option<u16>,
    ) -> Result<Influxd, InfluxdError> {
        tokio::task::spawn_blocking(move || Influxd::start(&dir, http_port))
            .await
            .map_err(|e| InfluxdError::Task(e.to_string()))?
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `lines` lines of influxd's log (all runs of this handle).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGTERM, as an operator or a service manager stops it; SIGKILL after
    /// 10 s. Returns once the HTTP port refuses connections.
    pub fn stop(&mut self) -> Result<(), InfluxdError> {
        if matches!(self.child.try_wait(), Ok(None)) {
            // No signal API in std; the procps `kill` is everywhere influxd is.
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let deadline = Instant::now() + STOP_WITHIN;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
            return Err(InfluxdError::StillListening { addr: self.addr });
        }
        Ok(())
    }

    /// Starts a [`stop`](Influxd::stop)ped influxd again with the same
    /// config, data and port, appending to its log, and waits for `/ping`.
    pub fn restart(&mut self) -> Result<(), InfluxdError> {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            return Err(InfluxdError::Running);
        }
        let out = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .map_err(io("opening", &self.log))?;
        self.child = spawn(&self.bin, &self.conf, out)?;
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), InfluxdError> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(InfluxdError::Exited {
                    status,
                    log: self.log.clone(),
                    tail: self.log_tail(30),
                });
            }
            if http_status(self.addr, "/ping") == Some(204) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(InfluxdError::NotReady {
                    addr: self.addr,
                    log: self.log.clone(),
                    tail: self.log_tail(30),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Loopback only, nothing reported home, no background jobs that would
/// compete with the gateway for CPU in a benchmark.
fn config_text(dir: &Path, http: u16, rpc: u16, auth: Auth) -> String {
    let d = dir.display();
    let auth = match auth {
        Auth::Off => "",
        Auth::Required => "  auth-enabled = true\n",
    };
    format!(
        "reporting-disabled = true\n\
         bind-address = \"127.0.0.1:{rpc}\"\n\
         [meta]\n  dir = \"{d}/meta\"\n\
         [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
         [http]\n  bind-address = \"127.0.0.1:{http}\"\n  log-enabled = false\n{auth}\
         [monitor]\n  store-enabled = false\n\
         [continuous_queries]\n  enabled = false\n\
         [logging]\n  level = \"warn\"\n"
    )
}

fn spawn(bin: &Path, conf: &Path, log: std::fs::File) -> Result<Child, InfluxdError> {
    let err = log
        .try_clone()
        .map_err(io("duplicating the log handle of", conf))?;
    Command::new(bin)
        .arg("run")
        .arg("-config")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(io("starting", bin))
}

/// Status code of a plain `GET`, over std so it needs no runtime or client.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).ok()?;
    let line = std::str::from_utf8(head.get(..n)?).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn free_port(dir: &Path) -> Result<u16, InfluxdError> {
    let probe =
        || -> std::io::Result<u16> { Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()) };
    probe().map_err(io("choosing a loopback port for influxd in", dir))
}

/// Where `influxd` is installed, for callers that want to fail before
/// doing anything else.
pub fn binary() -> Result<PathBuf, InfluxdError> {
    which("influxd").ok_or(InfluxdError::NotInstalled)
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(bin))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Start, stop and restart keep the data: what the outage tests and the
    /// benchmark's `--outage` rely on.
    #[test]
    fn starts_stops_and_restarts_on_the_same_port_with_its_data() {
        let dir = std::env::temp_dir().join(format!("plantgw-influxd-{}", std::process::id()));
        let mut db = match Influxd::start(&dir, None) {
            Ok(db) => db,
            Err(InfluxdError::NotInstalled) => panic!("this test needs influxd: {INSTALL_HINT}"),
            Err(e) => panic!("{e}"),
        };
        let addr = db.addr();
        assert_eq!(db.url(), format!("http://{addr}"));
        assert_eq!(http_status(addr, "/ping"), Some(204));
        assert!(matches!(db.restart(), Err(InfluxdError::Running)));
        db.stop().unwrap();
        assert_eq!(http_status(addr, "/ping"), None);
        db.restart().unwrap();
        assert_eq!(http_status(addr, "/ping"), Some(204));
        assert!(
            dir.join("meta").is_dir(),
            "data kept under the caller's dir"
        );
        drop(db);
        assert_eq!(http_status(addr, "/ping"), None, "drop kills influxd");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
