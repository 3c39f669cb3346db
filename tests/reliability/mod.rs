//! Reliability (DESIGN §7): InfluxDB outages, a gateway killed with SIGKILL,
//! a spool smaller than the outage, misbehaving Modbus peers, read-only
//! towards PLCs, plant-clock jumps, backing off from a dead PLC, one
//! silent register range isolated from the rest of its PLC, a spool
//! filesystem that fills up, reloads, panicking pollers, and a poller
//! running over a transport of the test's own, and a backlog replayed in
//! merged writes.
//!
//! Every test starts its own servers on free loopback ports. The checks are
//! structural (every scan present, no hole longer than 1.5 scan periods,
//! counts equal), not tight timings, so they hold on a loaded machine. Each
//! test prints a short report (`--nocapture` shows it).
mod bad_peers;
mod clock;
mod crash;
mod demotion;
mod disk_full;
mod influx_outage;
mod merged_replay;
pub mod peer;
mod read_only;
mod reload;
mod silent_range;
mod spool_full;
mod supervise;
pub mod tap;
mod transport;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use plantgw::app::{self, RunOptions, Running};
use plantgw::config::Settings;
use plantgw::sink::influxdb::query::QueryClient;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::common::influx::{http_client, v1_settings};

pub const DATABASE: &str = "plant";

/// One `[[plc]]` of a generated configuration.
pub struct PlcToml {
    pub name: String,
    pub address: String,
    pub scan_ms: u64,
    pub timeout_ms: u64,
    /// `[[plc.tag]]` tables, see [`tags`].
    pub tags: String,
}

/// The rest of a generated configuration.
pub struct GatewayToml<'a> {
    pub influx_url: &'a str,
    pub spool_dir: &'a Path,
    pub spool_max_bytes: Option<u64>,
    pub flush_interval_ms: u64,
    /// `""` disables the HTTP endpoint.
    pub http_listen: String,
    pub plcs: Vec<PlcToml>,
}

impl<'a> GatewayToml<'a> {
    /// What most tests want: an unbounded spool, 200 ms flushes, no HTTP
    /// endpoint.
    pub fn new(influx_url: &'a str, spool_dir: &'a Path, plcs: Vec<PlcToml>) -> Self {
        GatewayToml {
            influx_url,
            spool_dir,
            spool_max_bytes: None,
            flush_interval_ms: 200,
            http_listen: String::new(),
            plcs,
        }
    }

    pub fn render(&self) -> String {
        let mut s = format!(
            "[site]\nname = \"reliab\"\ntimezone = \"America/Lima\"\n\n\
             [influxdb]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"{DATABASE}\"\n\
             flush_interval_ms = {}\ntimeout_ms = 2000\n\n\
             [spool]\ndir = \"{}\"\n",
            self.influx_url,
            self.flush_interval_ms,
            self.spool_dir.display()
        );
        if let Some(max) = self.spool_max_bytes {
            let _ = writeln!(s, "max_bytes = {max}");
        }
        let _ = writeln!(s, "\n[http]\nlisten = \"{}\"", self.http_listen);
        for p in &self.plcs {
            let _ = write!(
                s,
                "\n[[plc]]\nname = \"{}\"\narea = \"test\"\naddress = \"{}\"\nscan_ms = {}\ntimeout_ms = {}\n{}",
                p.name, p.address, p.scan_ms, p.timeout_ms, p.tags
            );
        }
        s
    }

    /// Writes the configuration to `path` and loads it as the gateway does.
    pub fn write_and_load(&self, path: &Path) -> Settings {
        std::fs::write(path, self.render()).expect("write gateway config");
        plantgw::config::load(path)
            .unwrap_or_else(|e| panic!("generated config does not load: {e}\n{}", self.render()))
    }
}

/// `count` tags `{prefix}{i:03}` of `ty` at addresses `first..` of `table`
/// (one register each for u16/i16, one bit for bool), on `equipment`.
pub fn tags(
    equipment: &str,
    table: &str,
    ty: &str,
    prefix: &str,
    first: u16,
    count: u16,
) -> String {
    let mut s = String::new();
    for i in 0..count {
        let _ = write!(
            s,
            "\n[[plc.tag]]\nname = \"{prefix}{i:03}\"\nequipment = \"{equipment}\"\ntable = \"{table}\"\naddress = {}\ntype = \"{ty}\"\n",
            first + i
        );
    }
    s
}

/// A PLC on the pymodbus fixture at `port` with [`pymodbus_tags`] on
/// equipment `{name}_dev`.
pub fn pymodbus_plc(name: &str, port: u16, scan_ms: u64) -> PlcToml {
    PlcToml {
        name: name.into(),
        address: format!("127.0.0.1:{port}"),
        scan_ms,
        timeout_ms: 1000,
        tags: pymodbus_tags(&format!("{name}_dev")),
    }
}

/// The run options of these tests: a short drain grace, so a stop does not
/// wait out the default one.
pub fn run_options() -> RunOptions {
    RunOptions {
        drain_grace: Duration::from_secs(3),
        ..RunOptions::default()
    }
}

/// Starts the gateway in this process with a wall plant clock and
/// [`run_options`].
pub async fn start_gateway(settings: Settings) -> (Running, CancellationToken) {
    start_gateway_with(settings, run_options()).await
}

/// [`start_gateway`] with options of the test's own.
pub async fn start_gateway_with(
    settings: Settings,
    options: RunOptions,
) -> (Running, CancellationToken) {
    let cancel = CancellationToken::new();
    let gw = app::start(
        settings,
        plantsim::clock::PlantClock::wall(),
        cancel.clone(),
        options,
    )
    .await
    .expect("gateway starts");
    (gw, cancel)
}

/// Stops an in-process gateway and checks it shut down cleanly.
pub async fn stop_gateway(gw: Running, cancel: CancellationToken) {
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), gw.wait())
        .await
        .expect("gateway shut down within 30 s")
        .expect("gateway shut down without error");
}

/// Waits up to `within` for a spawned task returning a `Result`, and checks
/// it joined and ended without error.
pub async fn join_within<T, E: std::fmt::Debug>(
    task: JoinHandle<Result<T, E>>,
    within: Duration,
    what: &str,
) -> T {
    match tokio::time::timeout(within, task).await {
        Err(_) => panic!("{what} did not stop within {within:?}"),
        Ok(Err(e)) => panic!("{what} task did not join: {e}"),
        Ok(Ok(Err(e))) => panic!("{what} ended with an error: {e:?}"),
        Ok(Ok(Ok(v))) => v,
    }
}

/// The spool-drop counter (`plantgw_spool_dropped_records_total`) is
/// process-wide: a test that makes its spool drop data holds this for its
/// whole run and counts from a baseline, so another test's drops cannot
/// stand in for its own.
pub static SPOOL_DROPS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The value of the first sample of metric `name` scraped from `url` (None:
/// not reachable or not there).
pub async fn metric(url: &str, name: &str) -> Option<f64> {
    let text = http_client()
        .get(url)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// An InfluxQL client for `database` on `url`, with the database created.
pub async fn query_client(url: &str) -> QueryClient {
    let q = QueryClient::new(&v1_settings(url, DATABASE, None))
        .expect("query client")
        .with_database(DATABASE);
    q.query(&format!("CREATE DATABASE {DATABASE}"))
        .await
        .expect("create database");
    q
}

/// Timestamps (epoch ms) of every `plc_status` row of `plc`, ascending.
pub async fn status_ts(q: &QueryClient, plc: &str) -> Vec<i64> {
    let series = q
        .query(&format!(
            "SELECT \"connected\" FROM \"plc_status\" WHERE \"plc\"='{plc}' ORDER BY time ASC"
        ))
        .await
        .expect("query plc_status");
    series
        .iter()
        .flat_map(|s| s.values.iter())
        .filter_map(|row| row.first().and_then(Value::as_i64))
        .collect()
}

/// Every quality code written per tag of `plc` as (epoch ms, code), oldest
/// first.
pub async fn quality_codes(q: &QueryClient, plc: &str) -> BTreeMap<String, Vec<(i64, String)>> {
    let series = q
        .query(&format!(
            "SELECT \"code\" FROM \"tag_quality\" WHERE \"plc\"='{plc}' GROUP BY \"tag\" ORDER BY time ASC"
        ))
        .await
        .expect("query tag_quality");
    series
        .into_iter()
        .map(|s| {
            let tag = s.tags.get("tag").cloned().unwrap_or_default();
            let rows = s
                .values
                .iter()
                .filter_map(|r| Some((r.first()?.as_i64()?, r.get(1)?.as_str()?.to_string())))
                .collect();
            (tag, rows)
        })
        .collect()
}

/// Rows of an equipment measurement: (epoch ms, column → value) with the
/// non-null columns other than time.
pub async fn equipment_rows(
    q: &QueryClient,
    equipment: &str,
) -> Vec<(i64, BTreeMap<String, Value>)> {
    let series = q
        .query(&format!("SELECT * FROM \"{equipment}\" ORDER BY time ASC"))
        .await
        .expect("query values");
    let mut out = Vec::new();
    for s in series {
        for row in &s.values {
            let fields = s
                .columns
                .iter()
                .zip(row)
                .skip(1)
                .filter(|(_, v)| !v.is_null())
                .map(|(c, v)| (c.clone(), v.clone()))
                .collect();
            out.push((row[0].as_i64().unwrap_or_default(), fields));
        }
    }
    out
}

/// Waits until every PLC in `plcs` has at least `n` `plc_status` rows.
pub async fn wait_for_scans(
    q: &QueryClient,
    plcs: &[&str],
    n: usize,
    timeout: std::time::Duration,
) {
    crate::common::eventually(
        timeout,
        &format!("{n} scans of every PLC in InfluxDB"),
        || async {
            for plc in plcs {
                if status_ts(q, plc).await.len() < n {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
}

/// One `plc_status` line as the gateway wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusLine {
    pub plc: String,
    pub ts: i64,
    pub connected: bool,
    pub requests: i64,
    pub errors: i64,
}

/// Parses a `plc_status` line (names in these tests need no escaping).
pub fn parse_status(line: &str) -> Option<StatusLine> {
    let mut parts = line.split(' ');
    let (key, fields, ts) = (parts.next()?, parts.next()?, parts.next()?);
    let mut tags = key.split(',');
    if tags.next()? != "plc_status" {
        return None;
    }
    let plc = tags.find_map(|kv| kv.strip_prefix("plc="))?.to_string();
    let field = |name: &str| {
        fields
            .split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let int = |name: &str| field(name)?.trim_end_matches('i').parse::<i64>().ok();
    Some(StatusLine {
        plc,
        ts: ts.parse().ok()?,
        connected: field("connected")? == "true",
        requests: int("requests")?,
        errors: int("errors")?,
    })
}

/// `plc`'s `plc_status` lines in line-protocol `body`, in order.
pub fn status_of(body: &[u8], plc: &str) -> Vec<StatusLine> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(parse_status)
        .filter(|s| s.plc == plc)
        .collect()
}

/// Timestamps of `plc`'s `plc_status` lines in line-protocol `body`.
pub fn status_lines(body: &[u8], plc: &str) -> Vec<i64> {
    status_of(body, plc).iter().map(|s| s.ts).collect()
}

/// Holes in an ascending series: consecutive timestamps further apart than
/// `limit_ms`, as (before, after).
pub fn holes(ts: &[i64], limit_ms: i64) -> Vec<(i64, i64)> {
    ts.windows(2)
        .filter(|w| w[1] - w[0] > limit_ms)
        .map(|w| (w[0], w[1]))
        .collect()
}

/// Smallest and largest spacing of consecutive timestamps.
pub fn spacing(ts: &[i64]) -> (i64, i64) {
    ts.windows(2)
        .map(|w| w[1] - w[0])
        .fold((i64::MAX, i64::MIN), |(lo, hi), d| (lo.min(d), hi.max(d)))
}

/// Asserts `ts` strictly increases (InfluxDB returns one row per
/// timestamp; a repeat here would be a bug in the query or the store).
pub fn assert_ascending(ts: &[i64], what: &str) {
    if let Some(w) = ts.windows(2).find(|w| w[0] >= w[1]) {
        panic!(
            "{what}: timestamps not strictly increasing at {} → {}",
            w[0], w[1]
        );
    }
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Runs blocking test-harness work (stopping or starting a server) on this
/// runtime thread while the gateway's tasks move to the other (the tests
/// use the multi-threaded runtime).
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// A few tags of every table of the pymodbus fixture (tests/fixtures/plc_server.py).
pub fn pymodbus_tags(equipment: &str) -> String {
    [
        ("u16", "holding", 0, "u16", ""),
        ("f32", "holding", 14, "f32", "order = \"ABCD\"\n"),
        ("in_u16", "input", 0, "u16", ""),
        ("coil0", "coil", 0, "bool", ""),
        ("di1", "discrete", 1, "bool", ""),
    ]
    .iter()
    .map(|(name, table, address, ty, extra)| {
        format!(
            "\n[[plc.tag]]\nname = \"{name}\"\nequipment = \"{equipment}\"\ntable = \"{table}\"\naddress = {address}\ntype = \"{ty}\"\n{extra}"
        )
    })
    .collect()
}
