//! InfluxDB-side test servers:
//! - [`InfluxD`]: a real InfluxDB 1.x (`influxd`, Debian package `influxdb`),
//!   started by the gateway's launcher `plantgw::influxd`;
//! - [`VictoriaMetrics`]: accepts the v2 write API (Debian `victoria-metrics`);
//! - [`MockInflux`]: an in-test HTTP server answering as InfluxDB 2
//!   documents for each error path, recording every request.
//!
//! Real servers run on free loopback ports with throw-away data dirs and are
//! killed on drop. A missing binary fails the test with an install hint.
use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use plantgw::config::{Influx, InfluxTarget, Secret};
use plantgw::influxd::{Auth, Influxd, InfluxdError};
use plantgw::sink::influxdb::query::QueryClient;
use tokio_util::sync::CancellationToken;

/// Settings for a v2 target at `url`.
pub fn v2_settings(url: &str, token: &str) -> Influx {
    Influx {
        url: url.trim_end_matches('/').to_string(),
        target: InfluxTarget::V2 {
            org: "fortuna".into(),
            bucket: "plant".into(),
            token: Secret::new(token),
        },
        batch_size: 5000,
        flush_interval: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
        gzip: true,
        ca_file: None,
    }
}

/// The query client's type, for tests that pass one around without naming
/// where it lives in the library.
pub type Query = QueryClient;

/// A query client for `settings` on the `plant` database, created first
/// as an operator does before the gateway's first write (InfluxDB 1.x
/// refuses writes to a database that does not exist).
pub async fn plant_database(settings: &Influx) -> QueryClient {
    let query = QueryClient::new(settings)
        .unwrap_or_else(|e| panic!("query client for {}: {e}", settings.url))
        .with_database("plant");
    query
        .query("CREATE DATABASE plant")
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE plant at {}: {e}", settings.url));
    query
}

/// Settings for a v1 target at `url`.
pub fn v1_settings(url: &str, database: &str, auth: Option<(&str, &str)>) -> Influx {
    Influx {
        url: url.trim_end_matches('/').to_string(),
        target: InfluxTarget::V1 {
            database: database.into(),
            retention_policy: None,
            username: auth.map(|(u, _)| u.to_string()),
            password: auth.map(|(_, p)| Secret::new(p)),
        },
        batch_size: 5000,
        flush_interval: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
        gzip: true,
        ca_file: None,
    }
}

/// A child process killed (and reaped) on drop, with its data dir.
struct Server {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Waits until `GET path` answers `want`, failing with the server's log.
    fn wait_ready(&mut self, name: &str, addr: SocketAddr, path: &str, want: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{name} exited during start-up ({status}); log:\n{}",
                    self.log_tail()
                );
            }
            if http_status(addr, path) == Some(want) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{name} not ready on {addr} after 30 s; log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Status of a plain `GET`, over std so it works outside a runtime.
pub fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn spawn(bin: &Path, args: &[String], log: &Path) -> Child {
    let out = std::fs::File::create(log).expect("create server log");
    let err = out.try_clone().expect("clone log handle");
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()))
}

/// A real InfluxDB 1.x (`influxd`), HTTP on a free loopback port, with a
/// throw-away data dir: the gateway's own launcher ([`Influxd`]), failing
/// the test loudly where it returns an error.
pub struct InfluxD {
    pub url: String,
    pub addr: SocketAddr,
    server: Influxd,
    _dir: tempfile::TempDir,
}

impl InfluxD {
    pub fn start() -> InfluxD {
        Self::start_with(Auth::Off)
    }

    /// With `auth-enabled = true`: until a first admin is created (with a
    /// `CREATE USER` query, which needs no credentials then) nothing else
    /// is allowed.
    pub fn start_with_auth() -> InfluxD {
        Self::start_with(Auth::Required)
    }

    fn start_with(auth: Auth) -> InfluxD {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = match Influxd::start_with(dir.path(), None, auth) {
            Ok(s) => s,
            Err(e @ InfluxdError::NotInstalled) => {
                panic!("{e}; this test needs it (install hint above)")
            }
            Err(e) => panic!("{e}"),
        };
        InfluxD {
            url: server.url().to_string(),
            addr: server.addr(),
            server,
            _dir: dir,
        }
    }

    pub fn log_tail(&self) -> String {
        self.server.log_tail(30)
    }

    /// Stops the server the way an operator or a service manager does
    /// (SIGTERM, then SIGKILL after 10 s) and waits until its port refuses
    /// connections. The data dir and port are kept for [`InfluxD::restart`].
    pub fn stop(&mut self) {
        self.server.stop().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts influxd again on the same port with the same data dir (after
    /// [`InfluxD::stop`]) and waits until it answers `/ping`. The log file
    /// is appended to, so [`InfluxD::log_tail`] shows both runs.
    pub fn restart(&mut self) {
        self.server
            .restart()
            .unwrap_or_else(|e| panic!("restarting influxd: {e}"));
    }
}

/// VictoriaMetrics single-node, HTTP on a free loopback port.
pub struct VictoriaMetrics {
    pub url: String,
    server: Server,
}

impl VictoriaMetrics {
    pub fn start() -> VictoriaMetrics {
        let bin = super::require_binary("victoria-metrics", "apt-get install victoria-metrics");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = super::free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let args = vec![
            format!("-httpListenAddr={addr}"),
            format!("-storageDataPath={}", dir.path().join("data").display()),
            "-retentionPeriod=100y".into(),
            "-loggerLevel=ERROR".into(),
        ];
        let log = dir.path().join("victoria-metrics.log");
        let child = spawn(&bin, &args, &log);
        let mut server = Server {
            child,
            log,
            _dir: dir,
        };
        server.wait_ready("victoria-metrics", addr, "/health", 200);
        VictoriaMetrics {
            url: format!("http://{addr}"),
            server,
        }
    }

    /// Makes just-written samples visible to queries.
    pub async fn flush(&self) {
        let r = http_client()
            .get(format!("{}/internal/force_flush", self.url))
            .send()
            .await;
        assert!(
            r.is_ok_and(|r| r.status().is_success()),
            "force_flush failed"
        );
    }

    /// `/api/v1/export` for a series selector: one JSON object per series
    /// (`metric` labels, `values`, `timestamps`).
    pub async fn export(&self, selector: &str) -> Vec<serde_json::Value> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/export", self.url),
            &[("match[]", selector)],
        )
        .expect("export url");
        let text = http_client()
            .get(url)
            .send()
            .await
            .expect("export request")
            .text()
            .await
            .expect("export body");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad export line {l:?}: {e}"))
            })
            .collect()
    }

    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }
}

/// A plain reqwest client for test-side requests (reqwest built without a
/// bundled crypto provider needs one installed first).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

// ---- in-test InfluxDB 2 ----

/// One canned answer, as InfluxDB 2 documents it.
#[derive(Debug, Clone)]
pub enum MockReply {
    Status {
        status: u16,
        body: String,
        headers: Vec<(&'static str, String)>,
    },
    /// 401 whose message quotes the request's Authorization header, as a
    /// careless proxy might: the client must not let it reach a log.
    EchoAuthorization,
    /// Never answers within any sane timeout.
    Hang,
}

impl MockReply {
    fn json(status: u16, code: &str, message: &str) -> MockReply {
        MockReply::Status {
            status,
            body: serde_json::json!({ "code": code, "message": message }).to_string(),
            headers: Vec::new(),
        }
    }
    pub fn unauthorized() -> MockReply {
        Self::json(401, "unauthorized", "unauthorized access")
    }
    pub fn bucket_not_found() -> MockReply {
        Self::json(404, "not found", "bucket \"plant\" not found")
    }
    pub fn forbidden() -> MockReply {
        Self::json(403, "forbidden", "insufficient permissions for write")
    }
    pub fn internal_error() -> MockReply {
        Self::json(
            500,
            "internal error",
            "unexpected error writing points to database: timeout",
        )
    }
    pub fn too_many_requests(retry_after: &str) -> MockReply {
        MockReply::Status {
            status: 429,
            body: serde_json::json!({"code": "too many requests", "message": "org has exceeded its write limit"})
                .to_string(),
            headers: vec![("retry-after", retry_after.to_string())],
        }
    }
    pub fn unavailable(retry_after: &str) -> MockReply {
        MockReply::Status {
            status: 503,
            body: serde_json::json!({"code": "unavailable", "message": "service unavailable"})
                .to_string(),
            headers: vec![("retry-after", retry_after.to_string())],
        }
    }
    pub fn too_large() -> MockReply {
        Self::json(
            413,
            "request too large",
            "unable to read data: points batch is too large",
        )
    }
    pub fn bad_line(line: &str) -> MockReply {
        Self::json(
            400,
            "invalid",
            &format!("unable to parse '{line}': missing fields"),
        )
    }
}

/// A request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    /// Body after undoing `Content-Encoding: gzip`.
    pub body: Vec<u8>,
    pub wire_len: usize,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.body)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Behaviour of the mock; tests change it while a delivery is running.
#[derive(Debug, Default)]
pub struct MockState {
    /// Answers used first, one per request, before the rules below.
    pub script: VecDeque<MockReply>,
    /// Only writes take scripted answers: a gateway also pings and queries
    /// (its start-up field-type check) at moments a test cannot order.
    pub script_writes_only: bool,
    /// When set, the Authorization header must equal it, else 401.
    pub require_authorization: Option<String>,
    /// Decoded bodies above this many bytes get 413.
    pub max_body: Option<usize>,
    /// Batches holding a line with this text get 400 (InfluxDB 2 rejects
    /// the whole request on a parse error).
    pub bad_marker: Option<String>,
    pub requests: Vec<Recorded>,
    /// Lines accepted with 204, in arrival order.
    pub accepted: Vec<String>,
}

pub struct MockInflux {
    pub url: String,
    pub state: Arc<Mutex<MockState>>,
    stop: CancellationToken,
}

impl Drop for MockInflux {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl MockInflux {
    pub async fn start() -> MockInflux {
        Self::start_on(([127, 0, 0, 1], 0).into()).await
    }

    pub async fn start_on(addr: SocketAddr) -> MockInflux {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind mock InfluxDB");
        let addr = listener.local_addr().expect("mock addr");
        let state = Arc::new(Mutex::new(MockState::default()));
        let stop = CancellationToken::new();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let s = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { s.cancelled().await })
                .await;
        });
        MockInflux {
            url: format!("http://{addr}"),
            state,
            stop,
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut MockState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.with(|s| s.requests.clone())
    }

    pub fn accepted(&self) -> Vec<String> {
        self.with(|s| s.accepted.clone())
    }
}

async fn handle(
    State(state): State<Arc<Mutex<MockState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let gzip = headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let body = if gzip {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .is_err()
        {
            return reply(
                400,
                r#"{"code":"invalid","message":"gzip: invalid header"}"#,
                &[],
            );
        }
        out
    } else {
        raw.to_vec()
    };
    let query = uri.query().map(url_pairs).unwrap_or_default();
    let rec = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query,
        headers: headers.clone(),
        body: body.clone(),
        wire_len: raw.len(),
    };
    let is_write = uri.path().ends_with("/write");
    let scripted = {
        let mut s = state.lock().unwrap();
        s.requests.push(rec);
        if is_write || !s.script_writes_only {
            s.script.pop_front()
        } else {
            None
        }
    };
    match scripted {
        Some(MockReply::Status {
            status,
            body,
            headers,
        }) => {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            return reply(status, &body, &h);
        }
        Some(MockReply::EchoAuthorization) => {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let body = serde_json::json!({"code": "unauthorized", "message": format!("bad credentials {auth:?}")});
            return reply(401, &body.to_string(), &[]);
        }
        Some(MockReply::Hang) => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return reply(204, "", &[]);
        }
        None => {}
    }
    let mut s = state.lock().unwrap();
    if let Some(want) = &s.require_authorization {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
            return reply(
                401,
                r#"{"code":"unauthorized","message":"unauthorized access"}"#,
                &[],
            );
        }
    }
    if s.max_body.is_some_and(|max| body.len() > max) {
        return reply(
            413,
            r#"{"code":"request too large","message":"unable to read data: points batch is too large"}"#,
            &[],
        );
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    if let Some(marker) = &s.bad_marker {
        if let Some(bad) = text.lines().find(|l| l.contains(marker.as_str())) {
            let msg = serde_json::json!({"code": "invalid", "message": format!("unable to parse '{bad}': missing fields")});
            return reply(400, &msg.to_string(), &[]);
        }
    }
    s.accepted.extend(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string),
    );
    reply(204, "", &[])
}

fn url_pairs(q: &str) -> BTreeMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{q}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn reply(status: u16, body: &str, headers: &[(&str, &str)]) -> Response {
    let mut r = (StatusCode::from_u16(status).unwrap(), body.to_string()).into_response();
    if !body.is_empty() {
        r.headers_mut().insert(
            "content-type",
            "application/json; charset=utf-8".parse().unwrap(),
        );
    }
    for (k, v) in headers {
        let name = axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        r.headers_mut().insert(name, v.parse().unwrap());
    }
    r
}
