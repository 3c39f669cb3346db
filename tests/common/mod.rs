//! Test harness: real servers started by the tests on free loopback ports
//! with throw-away data dirs. A missing server fails loudly with an install
//! hint; nothing is skipped.
#![allow(dead_code)]

pub mod influx;
pub mod nats;
pub mod pymodbus;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Absolute path of a file in the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Fails the test with an install hint when `bin` is not on PATH.
pub fn require_binary(bin: &str, hint: &str) -> PathBuf {
    for dir in std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let candidate = dir.join(bin);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("`{bin}` is not installed; this test needs it. Install it with: {hint}");
}

/// `plantgw check [--json] --config <config>`, which must exit 0 (its
/// stderr is the failure message); its stdout.
pub fn plantgw_check(json: bool, config: &Path) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_plantgw"));
    cmd.arg("check");
    if json {
        cmd.arg("--json");
    }
    let out = cmd
        .arg("--config")
        .arg(config)
        .output()
        .expect("run plantgw check");
    assert!(
        out.status.success(),
        "plantgw check --config {}: {}",
        config.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("plantgw check prints UTF-8")
}

/// Polls `f` until it returns Some or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The simulator's gateway config (the shipped `caylloma.toml` at the
/// simulator's bound ports) pointed at a test's InfluxDB, with the spool in
/// `spool/` next to the config file and `/metrics` on `http_listen` ("" off).
pub fn sim_gateway_config(
    sim_toml: &str,
    influx_url: &str,
    flush_ms: i64,
    http_listen: &str,
) -> toml::Table {
    let mut cfg: toml::Table = sim_toml.parse().expect("simulator config is TOML");
    let influxdb = cfg["influxdb"].as_table_mut().expect("[influxdb] table");
    influxdb.insert("url".into(), influx_url.into());
    influxdb.insert("flush_interval_ms".into(), flush_ms.into());
    cfg.insert(
        "spool".into(),
        toml::Table::from_iter([("dir".to_string(), "spool".into())]).into(),
    );
    cfg.insert(
        "http".into(),
        toml::Table::from_iter([("listen".to_string(), http_listen.into())]).into(),
    );
    cfg
}

/// [`sim_gateway_config`] with every PLC polled every `scan_ms`: the
/// simulated-plant tests scan faster than the shipped config so a plant
/// day passes in minutes.
pub fn sim_gateway_config_scanning(
    sim_toml: &str,
    influx_url: &str,
    flush_ms: i64,
    scan_ms: i64,
) -> toml::Table {
    let mut cfg = sim_gateway_config(sim_toml, influx_url, flush_ms, "");
    for plc in cfg["plc"].as_array_mut().expect("[[plc]] array") {
        plc.as_table_mut()
            .expect("[[plc]] table")
            .insert("scan_ms".into(), scan_ms.into());
    }
    cfg
}

/// Writes a gateway config table to `path` and loads it as the gateway
/// does, so a test holds the same settings the binary will read.
pub fn write_gateway_config(path: &Path, cfg: &toml::Table) -> plantgw::config::Settings {
    let text = toml::to_string(cfg).expect("config table serialises");
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    plantgw::config::load(path).unwrap_or_else(|e| panic!("load {}: {e}", path.display()))
}

/// A v1 config polling the pymodbus fixture's `u16` (holding 0) every
/// 200 ms into `influx_url`'s `plant` database; `influxdb` ends the
/// `[influxdb]` section and `extra` the file.
pub fn fixture_config(influx_url: &str, plc_port: u16, influxdb: &str, extra: &str) -> String {
    format!(
        r#"
[site]
name = "testsite"

[influxdb]
url = "{influx_url}"
api = "v1"
database = "plant"
{influxdb}
[spool]
dir = "spool"

[http]
listen = ""

[[plc]]
name = "fixture"
area = "lab"
address = "127.0.0.1:{plc_port}"
scan_ms = 200

[[plc.tag]]
name = "u16"
equipment = "fixture_dev"
table = "holding"
address = 0
type = "u16"
{extra}"#
    )
}
