//! The Node-RED peer row: the same load, measured the same way, polled by
//! Node-RED 4.1 with node-red-contrib-modbus and node-red-contrib-influxdb.
//!
//! The flow is generated from the gateway config of the row: per PLC one
//! `modbus-client` (TCP, unit id, timeout), per request of the gateway's own
//! poll plan one `modbus-read` at the scan rate, each feeding a function node
//! that decodes the registers (type, byte order, bit, scale, offset) into the
//! layout the gateway writes (measurement = equipment, field = tag name, tags
//! `site`, `area`, `plc`, ms timestamps). A `join` node batches the points
//! (by count, at most 1 s) into one `influxdb batch` node on the v1 API. So
//! both peers issue the same Modbus requests and write the same samples; the
//! difference measured is the software between them.
//!
//! Node-RED and the two node packages are installed with npm into
//! `<target>/node-red` on first use; every row runs Node-RED in its own
//! user dir, bound to loopback.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use plantgw::config::{self, ByteOrder, DataType, Plc, Settings, Table};
use plantgw::sink::influxdb::QueryClient;
use plantgw::source::modbus::planner::plan;
use plantsim::load::{self, LoadOptions};
use plantsim::{SimOptions, Simulator};
use serde_json::{json, Value};

use super::{
    count_samples, create_database, free_port, measure_window, now_ms, planned_requests,
    sleep_checked, sleep_until_ms, v1_settings, write_configs, Args, Gateway, Influx, ProcStat,
    Row, RowResult, WorkDir,
};

/// The versions measured. Later node-red-contrib-modbus releases depend on
/// a tarball served outside the npm registry, which an offline mirror or a
/// locked-down CI cannot fetch.
pub const PACKAGES: [&str; 3] = [
    "node-red@4.1",
    "node-red-contrib-modbus@5.23.3",
    "node-red-contrib-influxdb@0.7.0",
];

/// Points per `influxdb batch` write, as the gateway's `batch_size`.
const BATCH_POINTS: usize = 5000;

/// One row with Node-RED in the gateway's place.
pub async fn bench_row(args: &Args, row: Row, clk_tck: f64) -> Result<RowResult> {
    // Node-RED runs as one process (`--outage` is refused before any row).
    if args.instances > 1 {
        eprintln!("   Node-RED runs as one process; --instances applies to the gateway only");
    }
    let node_red = install()?;
    let work = WorkDir::new_named(row, "node-red", args.keep)?;
    let map = load::load_map(&LoadOptions {
        scan_ms: row.scan_ms,
        ..LoadOptions::new(row.spec)
    })?;
    let sim = Simulator::start(SimOptions {
        map: map.on_ephemeral_ports(),
        ..SimOptions::default()
    })
    .await
    .context("starting the simulated PLCs")?;

    let http_port = free_port()?;
    let influx_url = format!("http://127.0.0.1:{http_port}");
    let configs = write_configs(&work.path, sim.map(), &influx_url, 1, args.max_gap)?;
    let (req_plan, req_lower) = planned_requests(&configs)?;
    let config_path = configs
        .first()
        .ok_or_else(|| anyhow!("no gateway config was written"))?;
    let settings = config::load(config_path)?;

    let user_dir = work.path.join("node-red");
    std::fs::create_dir_all(&user_dir).with_context(|| format!("{}", user_dir.display()))?;
    let flows = flows(&settings, http_port)?;
    write(
        &user_dir.join("flows.json"),
        &serde_json::to_string_pretty(&flows)?,
    )?;
    let ui_port = free_port()?;
    write(&user_dir.join("settings.js"), &settings_js(ui_port))?;

    let query = QueryClient::new(&v1_settings(&influx_url))?;
    let influx = Influx::start(&work.path, http_port).await?;
    create_database(&query).await?;
    let mut peers = vec![start(&node_red, &user_dir, ui_port)?];

    // Node-RED takes seconds to load its nodes before the first poll.
    let first = Instant::now();
    while newest_sample(&query).await.is_none() {
        if first.elapsed() > Duration::from_secs(120) {
            bail!(
                "nothing reached InfluxDB within 120 s; Node-RED log:\n{}",
                peers[0].log_tail()
            );
        }
        sleep_checked(Duration::from_millis(500), &mut peers).await?;
    }
    sleep_checked(Duration::from_secs(args.warmup), &mut peers).await?;

    let period = row.scan_ms as i64;
    let t0 = (now_ms() / period + 1) * period + period / 2;
    let t1 = t0 + args.seconds as i64 * 1000;
    let w = measure_window(&mut peers, &influx, clk_tck, t0, t1).await?;
    // A batch waits at most 1 s in the join node; what is not queryable
    // 5 s after the window is a shortfall, and the table shows it.
    sleep_until_ms(t1 + 5000, &mut peers).await?;
    let newest = newest_sample(&query).await;
    for p in &mut peers {
        p.stop()?;
    }
    let counts = count_samples(&query, t0, t1).await?;
    let delivered: u64 = counts.values().map(|c| c.samples).sum();
    drop(influx);
    sim.shutdown().await.context("stopping the simulator")?;

    let window_s = (t1 - t0) as f64 / 1000.0;
    let expected = (row.spec.plcs * row.spec.tags) as f64 * (t1 - t0) as f64 / period as f64;
    let mut detail = format!(
        "   {}@{} Node-RED: RSS at the end {:.1} MB; newest sample {} ms behind the window's end + 5 s",
        row.spec,
        row.scan_ms,
        w.rss_end,
        newest.map_or("(none)".to_string(), |n| (t1 + 5000 - n).to_string()),
    );
    if delivered as f64 != expected {
        detail.push_str(&format!(
            "\n   note: {delivered} samples counted, {expected} expected ({:.2} %)",
            delivered as f64 / expected * 100.0
        ));
    }
    let cpu: f64 = w.instances.iter().map(|i| i.cpu_s).sum();
    Ok(RowResult {
        row,
        peer: "Node-RED",
        delivered_per_s: delivered as f64 / window_s,
        expected_per_s: expected / window_s,
        gw_cpu_pct: cpu / window_s * 100.0,
        us_per_tag: if delivered > 0 {
            cpu * 1e6 / delivered as f64
        } else {
            f64::NAN
        },
        rss_start_mb: w.rss_start,
        rss_steady_mb: w.instances.iter().map(|i| i.hwm_mb).sum(),
        // Node-RED writes no plc_status: no measured requests, jitter or
        // latency. The plan is the one its flow polls.
        req_measured: f64::NAN,
        req_plan,
        req_lower,
        jitter_p50: f64::NAN,
        jitter_p99: f64::NAN,
        missed_scans: 0,
        latency_p50: f64::NAN,
        influx_cpu_pct: w.influx_cpu_s / window_s * 100.0,
        sim_cpu_pct: w.self_cpu_s / window_s * 100.0,
        replay: None,
        ceiling: None,
        detail,
    })
}

/// Newest timestamp (ms) of the first device's samples, if there is one
/// (every PLC of the load has a `dev000`; an aggregate such as `last(*)`
/// would answer with the query's start time instead).
async fn newest_sample(q: &QueryClient) -> Option<i64> {
    let series = q
        .query("SELECT * FROM \"dev000\" WHERE time > now() - 1h ORDER BY time DESC LIMIT 1")
        .await
        .ok()?;
    series
        .iter()
        .filter_map(|s| s.values.first()?.first()?.as_i64())
        .max()
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `<target>/node-red`, with the packages installed; npm runs when the
/// `node-red` launcher is missing.
fn install() -> Result<PathBuf> {
    let me = std::env::current_exe().context("locating this executable")?;
    // <target>/release/plantgw-bench
    let target = me
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("{} has no target directory above it", me.display()))?;
    let dir = target.join("node-red");
    let launcher = dir.join("node_modules/.bin/node-red");
    if launcher.is_file() {
        return Ok(launcher);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    eprintln!(
        "   installing {} into {} (once)",
        PACKAGES.join(" "),
        dir.display()
    );
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .args(PACKAGES)
        .stdin(Stdio::null())
        // stdout carries the table.
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| {
            anyhow!(
                "cannot run npm ({e}): the Node-RED row needs Node.js 20+ and npm \
                 (Debian: apt-get install nodejs npm)"
            )
        })?;
    if !status.success() {
        bail!(
            "npm install {} into {} failed ({status})",
            PACKAGES.join(" "),
            dir.display()
        );
    }
    if !launcher.is_file() {
        bail!("npm finished but {} is missing", launcher.display());
    }
    Ok(launcher)
}

/// Node-RED in `user_dir`, its editor on loopback `ui_port`, as a peer the
/// window measures like a gateway.
fn start(launcher: &Path, user_dir: &Path, ui_port: u16) -> Result<Gateway> {
    let log = user_dir.join("node-red.log");
    let out = std::fs::File::create(&log).with_context(|| format!("{}", log.display()))?;
    let err = out.try_clone()?;
    // The launcher is a `#!/usr/bin/env node` script: the child's pid is
    // the node process itself.
    let child = Command::new(launcher)
        .arg("-u")
        .arg(user_dir)
        .arg("-s")
        .arg(user_dir.join("settings.js"))
        .arg("-p")
        .arg(ui_port.to_string())
        .arg("flows.json")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {}", launcher.display()))?;
    let stat = ProcStat::pid(child.id());
    Ok(Gateway { child, stat, log })
}

/// Loopback only, nothing fetched or offered beyond the flow.
fn settings_js(ui_port: u16) -> String {
    format!(
        r#"module.exports = {{
    uiHost: "127.0.0.1",
    uiPort: {ui_port},
    flowFile: "flows.json",
    credentialSecret: false,
    logging: {{ console: {{ level: "warn", metrics: false, audit: false }} }},
    telemetry: {{ enabled: false }},
    diagnostics: {{ enabled: false, ui: false }},
    externalModules: {{ autoInstall: false, palette: {{ allowInstall: false }}, modules: {{ allowInstall: false }} }},
    functionExternalModules: false,
    editorTheme: {{ tours: false }}
}};
"#
    )
}

/// The flow polling `settings`' PLCs into InfluxDB 1.x on loopback
/// `influx_port`, database [`super::DATABASE`].
pub fn flows(settings: &Settings, influx_port: u16) -> Result<Value> {
    const TAB: &str = "bench";
    let mut nodes = vec![
        json!({"id": TAB, "type": "tab", "label": "plantgw-bench", "disabled": false, "info": ""}),
        json!({
            "id": "influx", "type": "influxdb", "hostname": "127.0.0.1", "port": influx_port,
            "protocol": "http", "database": super::DATABASE, "name": "", "usetls": false,
            "tls": "", "influxdbVersion": "1.x", "url": "", "timeout": 10,
            "rejectUnauthorized": false
        }),
    ];
    let mut blocks = 0usize;
    let mut points_per_scan = 0usize;
    for (p, plc) in settings.plcs.iter().enumerate() {
        let (host, port) = plc
            .address
            .rsplit_once(':')
            .ok_or_else(|| anyhow!("PLC {}: address {:?} has no port", plc.name, plc.address))?;
        let client = format!("client{p}");
        nodes.push(json!({
            "id": client, "type": "modbus-client", "name": &*plc.name, "clienttype": "tcp",
            "bufferCommands": true, "stateLogEnabled": false, "queueLogEnabled": false,
            "failureLogEnabled": true, "tcpHost": host, "tcpPort": port, "tcpType": "DEFAULT",
            "serialPort": "/dev/ttyUSB", "serialType": "RTU-BUFFERD", "serialBaudrate": "9600",
            "serialDatabits": "8", "serialStopbits": "1", "serialParity": "none",
            "serialConnectionDelay": "100", "serialAsciiResponseStartDelimiter": "0x3A",
            "unit_id": plc.unit_id, "commandDelay": 1,
            "clientTimeout": plc.timeout.as_millis() as u64,
            "reconnectOnTimeout": true, "reconnectTimeout": 2000,
            "parallelUnitIdsAllowed": true, "showErrors": false, "showWarnings": true,
            "showLogs": false
        }));
        for (b, block) in plan(&plc.tags, plc.max_gap).blocks.iter().enumerate() {
            let read = format!("read{p}_{b}");
            let decode = format!("decode{p}_{b}");
            nodes.push(json!({
                "id": read, "type": "modbus-read", "z": TAB,
                "name": format!("{} {} {}+{}", plc.name, block.table.as_str(), block.start, block.count),
                "topic": "", "showStatusActivities": false, "logIOActivities": false,
                "showErrors": false, "showWarnings": true, "unitid": "",
                "dataType": data_type(block.table), "adr": block.start.to_string(),
                "quantity": block.count.to_string(),
                "rate": plc.scan.as_millis().to_string(), "rateUnit": "ms",
                "delayOnStart": false, "startDelayTime": "", "server": client,
                "useIOFile": false, "ioFile": "", "useIOForPayload": false,
                "emptyMsgOnFail": false, "x": 200, "y": 40 + 40 * blocks,
                "wires": [[decode], []]
            }));
            let tags: Vec<&config::Tag> = block.tags.iter().map(|&i| &plc.tags[i]).collect();
            points_per_scan += tags.len();
            nodes.push(json!({
                "id": decode, "type": "function", "z": TAB, "name": "decode",
                "func": decode_js(settings, plc, block.start, &tags)?,
                "outputs": 1, "timeout": 0, "noerr": 0, "initialize": "", "finalize": "",
                "libs": [], "x": 450, "y": 40 + 40 * blocks, "wires": [["batch"]]
            }));
            blocks += 1;
        }
    }
    // Join by count so a batch holds about BATCH_POINTS samples, or
    // whatever arrived within 1 s.
    let per_block = points_per_scan.div_ceil(blocks.max(1)).max(1);
    let count = BATCH_POINTS.div_ceil(per_block).max(1);
    nodes.push(json!({
        "id": "batch", "type": "join", "z": TAB, "name": "batch", "mode": "custom",
        "build": "array", "property": "payload", "propertyType": "msg", "key": "topic",
        "joiner": "\\n", "joinerType": "str", "useparts": false, "accumulate": false,
        "timeout": "1", "count": count.to_string(), "reduceRight": false,
        "reduceExp": "", "reduceInit": "", "reduceInitType": "", "reduceFixup": "",
        "x": 650, "y": 40, "wires": [["flatten"]]
    }));
    nodes.push(json!({
        "id": "flatten", "type": "function", "z": TAB, "name": "flatten",
        "func": "msg.payload = msg.payload.flat();\nreturn msg;", "outputs": 1,
        "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [],
        "x": 800, "y": 40, "wires": [["write"]]
    }));
    nodes.push(json!({
        "id": "write", "type": "influxdb batch", "z": TAB, "influxdb": "influx",
        "precision": "ms", "retentionPolicy": "", "name": "InfluxDB", "database": "",
        "precisionV18FluxV20": "ms", "retentionPolicyV18Flux": "", "org": "",
        "bucket": "", "x": 950, "y": 40, "wires": []
    }));
    Ok(Value::Array(nodes))
}

/// node-red-contrib-modbus's name for the function code of `table`.
fn data_type(table: Table) -> &'static str {
    match table {
        Table::Coil => "Coil",
        Table::Discrete => "Input",
        Table::Input => "InputRegister",
        Table::Holding => "HoldingRegister",
    }
}

/// Shared by every decode node: the gateway's codec (DESIGN §4/§5) in
/// JavaScript. `msg.payload` holds the block's registers (or bits).
const DECODE_JS: &str = r#"const regs = msg.payload;
const dv = new DataView(new ArrayBuffer(8));
function load(at, n, order) {
    for (let i = 0; i < n; i++) {
        let w = regs[(order === "CDAB" || order === "DCBA") ? at + n - 1 - i : at + i];
        if (order === "BADC" || order === "DCBA") w = ((w & 0xff) << 8) | (w >> 8);
        dv.setUint16(2 * i, w);
    }
}
const byEquipment = {};
for (const [eq, name, at, type, order, bit, scale, offset, isInt] of T) {
    let v;
    switch (type) {
        case "bool": v = BITS ? !!regs[at] : ((regs[at] >> bit) & 1) === 1; break;
        case "u16": v = regs[at]; break;
        case "i16": v = (regs[at] << 16) >> 16; break;
        case "u32": load(at, 2, order); v = dv.getUint32(0); break;
        case "i32": load(at, 2, order); v = dv.getInt32(0); break;
        case "f32": load(at, 2, order); v = dv.getFloat32(0); break;
        case "u64": load(at, 4, order); v = Number(dv.getBigUint64(0)); break;
        case "i64": load(at, 4, order); v = Number(dv.getBigInt64(0)); break;
        case "f64": load(at, 4, order); v = dv.getFloat64(0); break;
        default: continue;
    }
    if (typeof v === "number") {
        if (!isInt) v = v * scale + offset;
        if (!Number.isFinite(v)) continue;
    }
    (byEquipment[eq] = byEquipment[eq] || {})[name] = v;
}
const time = Date.now();
msg.payload = Object.keys(byEquipment).map(m => ({
    measurement: m, tags: TAGS, fields: byEquipment[m], timestamp: time
}));
return msg;
"#;

/// A decode node's code: the block's tag table, then [`DECODE_JS`].
fn decode_js(settings: &Settings, plc: &Plc, start: u16, tags: &[&config::Tag]) -> Result<String> {
    let mut table = Vec::with_capacity(tags.len());
    for t in tags {
        if t.data_type == DataType::String {
            bail!(
                "PLC {}: tag {}.{} is a string; the Node-RED flow decodes numbers and bits only",
                plc.name,
                t.id.equipment,
                t.id.name
            );
        }
        // Unscaled integers stay integers, as the gateway writes them.
        let is_int = t.data_type.is_integer() && t.scale == 1.0 && t.offset == 0.0;
        table.push(json!([
            &*t.id.equipment,
            &*t.id.name,
            t.address - start,
            t.data_type.as_str(),
            order(t.order),
            t.bit.unwrap_or(0),
            t.scale,
            t.offset,
            is_int
        ]));
    }
    let bits = tags.first().is_some_and(|t| t.table.is_bits());
    let tags_obj = json!({"site": &*settings.site.name, "area": &*plc.area, "plc": &*plc.name});
    Ok(format!(
        "const T = {};\nconst TAGS = {};\nconst BITS = {};\n{DECODE_JS}",
        Value::Array(table),
        tags_obj,
        bits
    ))
}

fn order(o: ByteOrder) -> &'static str {
    o.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plantgw::config::TagId;

    fn settings(tags: Vec<config::Tag>) -> Settings {
        let text = r#"
[site]
name = "s1"
[influxdb]
url = "http://127.0.0.1:1"
api = "v1"
database = "bench"
[spool]
dir = "/nonexistent"
[http]
listen = ""
[[plc]]
name = "p1"
area = "a1"
address = "127.0.0.1:5020"
unit_id = 3
scan_ms = 250
timeout_ms = 700
[[plc.tag]]
name = "x"
equipment = "e"
table = "holding"
address = 0
type = "u16"
"#;
        // Tests run in parallel threads of one process: a directory each.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nr-flow-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.toml");
        std::fs::write(&path, text).unwrap();
        let mut s = config::load(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        std::sync::Arc::make_mut(&mut s.plcs[0]).tags = tags;
        s
    }

    fn tag(name: &str, address: u16, dt: DataType, order: ByteOrder) -> config::Tag {
        let id = TagId::new("p1", "a1", "e", name);
        config::Tag {
            order,
            ..config::Tag::new(id, Table::Holding, address, dt, 0)
        }
    }

    /// The generated decode code, run by node on registers laid out by the
    /// gateway's own codec, yields the values the gateway would write.
    #[test]
    fn decode_node_matches_the_gateway_codec() {
        use plantgw_core::codec::arrange;
        let mut regs = vec![0u16; 20];
        let put = |regs: &mut Vec<u16>, at: usize, words: Vec<u16>| {
            regs[at..at + words.len()].copy_from_slice(&words);
        };
        put(
            &mut regs,
            0,
            arrange(&1234.5f32.to_be_bytes(), ByteOrder::CDAB),
        );
        put(
            &mut regs,
            2,
            arrange(&(-7.25f64).to_be_bytes(), ByteOrder::DCBA),
        );
        put(
            &mut regs,
            6,
            arrange(&70_000u32.to_be_bytes(), ByteOrder::BADC),
        );
        put(&mut regs, 8, vec![0xfffe]);
        put(&mut regs, 9, vec![0b100]);
        put(&mut regs, 10, vec![42]);
        let mut scaled = tag("scaled", 10, DataType::U16, ByteOrder::ABCD);
        scaled.scale = 0.5;
        scaled.offset = 1.0;
        let mut bit = tag("bit", 9, DataType::Bool, ByteOrder::ABCD);
        bit.bit = Some(2);
        let tags = vec![
            tag("f", 0, DataType::F32, ByteOrder::CDAB),
            tag("d", 2, DataType::F64, ByteOrder::DCBA),
            tag("u", 6, DataType::U32, ByteOrder::BADC),
            tag("i", 8, DataType::I16, ByteOrder::ABCD),
            bit,
            scaled,
        ];
        let s = settings(tags);
        let plc = &s.plcs[0];
        let refs: Vec<&config::Tag> = plc.tags.iter().collect();
        let code = decode_js(&s, plc, 0, &refs).unwrap();
        let script = format!(
            "const msg = {{payload: {}}};\nconst out = (function() {{ {code} }})();\n\
             console.log(JSON.stringify(out.payload));",
            serde_json::to_string(&regs).unwrap()
        );
        let out = Command::new("node")
            .arg("-e")
            .arg(&script)
            .output()
            .expect("node (Node.js 20+) must be installed: apt-get install nodejs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let points: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(points.as_array().unwrap().len(), 1, "{points}");
        let p = &points[0];
        assert_eq!(p["measurement"], "e");
        assert_eq!(p["tags"], json!({"site": "s1", "area": "a1", "plc": "p1"}));
        assert_eq!(
            p["fields"],
            json!({"f": 1234.5, "d": -7.25, "u": 70000, "i": -2, "bit": true, "scaled": 22})
        );
    }

    #[test]
    fn flow_has_a_client_per_plc_and_a_read_per_planned_request() {
        let tags = vec![
            tag("a", 0, DataType::F32, ByteOrder::ABCD),
            tag("b", 500, DataType::F32, ByteOrder::ABCD),
        ];
        let s = settings(tags);
        let flow = flows(&s, 8086).unwrap();
        let nodes = flow.as_array().unwrap();
        let of = |t: &str| nodes.iter().filter(|n| n["type"] == t).collect::<Vec<_>>();
        let clients = of("modbus-client");
        assert_eq!(clients.len(), 1);
        assert_eq!(clients[0]["tcpHost"], "127.0.0.1");
        assert_eq!(clients[0]["tcpPort"], "5020");
        assert_eq!(clients[0]["unit_id"], 3);
        assert_eq!(clients[0]["clientTimeout"], 700);
        let reads = of("modbus-read");
        assert_eq!(reads.len(), plan(&s.plcs[0].tags, 16).blocks.len());
        assert_eq!(reads.len(), 2, "addresses 0 and 500 need two requests");
        assert_eq!(reads[1]["adr"], "500");
        assert_eq!(reads[1]["quantity"], "2");
        assert_eq!(reads[0]["rate"], "250");
        assert_eq!(of("influxdb")[0]["port"], 8086);
        assert_eq!(of("influxdb batch")[0]["precision"], "ms");
    }
}
