//! Clients written by others read what we serve: pymodbus (decoding every
//! configured tag with its own converters) and mbpoll.

use std::io::Write;
use std::process::{Command, Stdio};

use plantsim::Scenario;
use serde_json::{json, Value as Json};

use crate::common::{self, TagConfig, DAY_START};

const PYMODBUS_READER: &str = r#"
import json, sys
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.framer import FramerType


def client(plc):
    # "serial": RTU on a serial device; "rtu_over_tcp": RTU frames on TCP.
    kind = plc.get("kind", "tcp")
    if kind == "serial":
        return ModbusSerialClient(plc["device"], framer=FramerType.RTU, baudrate=19200,
                                  parity="N", bytesize=8, stopbits=1, timeout=1, retries=1)
    framer = FramerType.RTU if kind == "rtu_over_tcp" else FramerType.SOCKET
    return ModbusTcpClient(plc["host"], port=plc["port"], framer=framer, timeout=3, retries=1)


req = json.load(sys.stdin)
out = {}
for plc in req["plcs"]:
    c = client(plc)
    if not c.connect():
        sys.exit("cannot connect to %s" % plc)
    dt = c.DATATYPE
    types = {"u16": dt.UINT16, "i16": dt.INT16, "u32": dt.UINT32, "i32": dt.INT32,
             "u64": dt.UINT64, "i64": dt.INT64, "f32": dt.FLOAT32, "f64": dt.FLOAT64,
             "string": dt.STRING}
    for t in plc["tags"]:
        unit = plc["unit"]
        if t["table"] in ("coil", "discrete"):
            read = c.read_coils if t["table"] == "coil" else c.read_discrete_inputs
            rr = read(t["address"], count=1, device_id=unit)
            if rr.isError():
                sys.exit("%s: %s" % (t["key"], rr))
            out[t["key"]] = bool(rr.bits[0])
            continue
        read = c.read_input_registers if t["table"] == "input" else c.read_holding_registers
        rr = read(t["address"], count=t["words"], device_id=unit)
        if rr.isError():
            sys.exit("%s: %s" % (t["key"], rr))
        regs = list(rr.registers)
        if t["bit"] is not None:
            out[t["key"]] = bool(regs[0] >> t["bit"] & 1)
            continue
        if t["type"] == "bool":
            out[t["key"]] = regs[0] != 0
            continue
        order = t["order"]
        # pymodbus converts big- or little-endian word order; byte-swapped
        # orders are swapped back to those first.
        if order in ("BADC", "DCBA"):
            regs = [((r & 0xFF) << 8) | (r >> 8) for r in regs]
        word_order = "little" if order in ("CDAB", "DCBA") else "big"
        value = c.convert_from_registers(regs, types[t["type"]], word_order=word_order)
        if t["type"] == "string":
            out[t["key"]] = value.rstrip("\x00 ")
        else:
            out[t["key"]] = value * t["scale"] + t["offset"]
    for unit in plc.get("absent_units", []):
        try:
            rr = c.read_holding_registers(0, count=1, device_id=unit)
            out["unit %d" % unit] = "error" if rr.isError() else "answered"
        except Exception:  # pymodbus raises when nothing answers
            out["unit %d" % unit] = "no answer"
    c.close()
print(json.dumps(out))
"#;

fn require_pymodbus() {
    let ok = Command::new("python3")
        .args(["-c", "import pymodbus"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "pymodbus is not importable by python3: install it with `pip install pymodbus` \
         (or `python3 -m pip install pymodbus`)"
    );
}

fn tag_json(t: &TagConfig) -> Json {
    json!({
        "key": t.key(),
        "table": t.table,
        "address": t.address,
        "words": t.words(),
        "type": t.ty,
        "order": t.order.clone().unwrap_or_else(|| "ABCD".into()),
        "bit": t.bit,
        "scale": t.scale.unwrap_or(1.0),
        "offset": t.offset.unwrap_or(0.0),
    })
}

#[tokio::test]
async fn pymodbus_decodes_every_configured_tag_inside_min_max() {
    require_pymodbus();
    let text = std::fs::read_to_string(common::shipped_config_path()).expect("shipped config");
    let config = common::read_config(&text);
    let sim = common::start(common::options(DAY_START, 60.0, Scenario::normal())).await;
    let addrs = common::addresses(&sim);
    let request = json!({
        "plcs": config.plc.iter().map(|p| json!({
            "host": "127.0.0.1",
            "port": addrs[&p.name].port(),
            "unit": p.unit_id,
            "tags": p.tag.iter().map(tag_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()
    });
    let values = read_with_pymodbus(&request).await;
    sim.shutdown().await.expect("clean shutdown");
    check_values(&config, &values);
}

/// Runs the pymodbus reader on `request`; the values it read, by tag key.
async fn read_with_pymodbus(request: &Json) -> serde_json::Map<String, Json> {
    let mut child = Command::new("python3")
        .args(["-c", PYMODBUS_READER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (install python3 and `pip install pymodbus pyserial`)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("send request");
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("python3 finishes");
    assert!(
        output.status.success(),
        "pymodbus reader failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("pymodbus reader prints JSON")
}

/// Every configured tag was read, inside its min/max, and the nameplates
/// are exact.
fn check_values(config: &common::GatewayConfig, values: &serde_json::Map<String, Json>) {
    let mut checked = 0;
    for tag in config.plc.iter().flat_map(|p| &p.tag) {
        let v = values
            .get(&tag.key())
            .unwrap_or_else(|| panic!("{} not read", tag.key()));
        match v {
            Json::Number(n) => {
                let x = n.as_f64().expect("finite");
                let (lo, hi) = (tag.min.unwrap_or(f64::MIN), tag.max.unwrap_or(f64::MAX));
                assert!(
                    (lo..=hi).contains(&x),
                    "{} = {x} outside [{lo}, {hi}]",
                    tag.key()
                );
            }
            Json::String(s) => assert!(!s.is_empty(), "{}", tag.key()),
            Json::Bool(_) => {}
            other => panic!("{}: {other}", tag.key()),
        }
        checked += 1;
    }
    assert!(checked >= 40);
    assert_eq!(
        values["mill_feed_belt.integrator_model"],
        json!("BW500 V4.2")
    );
    assert_eq!(values["analyser.model"], json!("COURIER 6 SL"));
    let power = values["ball_mill.power_kw"].as_f64().expect("number");
    assert!((350.0..=480.0).contains(&power), "{power}");
}

/// pymodbus's RTU client reads every PLC as a unit of plantsim's RTU bus,
/// on the pty and over TCP; a unit not on the bus gets no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymodbus_rtu_client_reads_every_unit_on_the_pty_and_over_tcp() {
    require_pymodbus();
    let text = std::fs::read_to_string(common::shipped_config_path()).expect("shipped config");
    let config = common::read_config(&text);
    let dir = tempfile::tempdir().expect("tempdir");
    let device = dir.path().join("ttyPLANT");
    let sim = common::start(plantsim::SimOptions {
        rtu_pty: Some(device.clone()),
        rtu_over_tcp: Some("127.0.0.1:0".parse().expect("addr")),
        ..common::options(DAY_START, 60.0, Scenario::normal())
    })
    .await;
    let rtu = sim.rtu_over_tcp_addr().expect("RTU over TCP is served");
    for (kind, link) in [
        ("serial", json!({"device": device.display().to_string()})),
        (
            "rtu_over_tcp",
            json!({"host": "127.0.0.1", "port": rtu.port()}),
        ),
    ] {
        let request = json!({
            "plcs": config.plc.iter().enumerate().map(|(i, p)| {
                let mut plc = json!({
                    "kind": kind,
                    "unit": sim.rtu_unit(&p.name).expect("PLC on the bus"),
                    "tags": p.tag.iter().map(tag_json).collect::<Vec<_>>(),
                    "absent_units": if i == 0 { vec![9] } else { vec![] },
                });
                for (k, v) in link.as_object().expect("object") {
                    plc[k] = v.clone();
                }
                plc
            }).collect::<Vec<_>>()
        });
        let values = read_with_pymodbus(&request).await;
        check_values(&config, &values);
        assert_eq!(values["unit 9"], json!("no answer"), "{kind}");
    }
    let units: Vec<u8> = ["crushing", "grinding", "flotation"]
        .iter()
        .map(|p| sim.rtu_unit(p).expect("on the bus"))
        .collect();
    assert_eq!(units, [1, 2, 3]);
    sim.shutdown().await.expect("clean shutdown");
}

/// mbpoll's register dump: lines "[ref]: \tvalue".
fn mbpoll(args: &[&str], port: u16) -> Vec<i64> {
    let out = Command::new("mbpoll")
        .args([
            "-m",
            "tcp",
            "-a",
            "1",
            "-1",
            "-o",
            "2",
            "-p",
            &port.to_string(),
        ])
        .args(args)
        .arg("127.0.0.1")
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("mbpoll is not runnable ({e}): install it with `apt-get install mbpoll`"),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mbpoll {args:?} failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter(|l| l.starts_with('['))
        .map(|l| {
            let v = l.split(':').nth(1).expect("value").trim();
            v.parse::<f64>().unwrap_or_else(|_| panic!("{l}")) as i64
        })
        .collect()
}

#[tokio::test]
async fn mbpoll_reads_the_belt_scale_and_mill() {
    let sim = common::start(common::options(DAY_START, 60.0, Scenario::normal())).await;
    let port = sim.addr("grinding").expect("grinding").port();
    tokio::task::spawn_blocking(move || {
        // mbpoll's -r is 1-based: protocol address 40 is reference 41.
        let words = mbpoll(&["-t", "4", "-r", "41", "-c", "8"], port);
        let text: String = words
            .iter()
            .flat_map(|w| [(w >> 8) as u8, (w & 0xFF) as u8])
            .filter(|b| *b != 0)
            .map(char::from)
            .collect();
        assert_eq!(text, "BW500 V4.2");
        // The BW500 totaliser: u32 high word first (mbpoll -B), 3 decimals.
        let raw = mbpoll(&["-t", "4:int", "-B", "-r", "3", "-c", "1"], port)[0];
        let total_t = (raw as u32) as f64 / 1000.0;
        assert!((2_461_803.0..2_461_900.0).contains(&total_t), "{total_t}");
        // Ball mill power, input register 0, 0.1 kW.
        let kw = mbpoll(&["-t", "3", "-r", "1", "-c", "1"], port)[0] as f64 / 10.0;
        assert!((350.0..=480.0).contains(&kw), "{kw}");
        // Discrete inputs: mill running, not tripped.
        let di = mbpoll(&["-t", "1", "-r", "1", "-c", "2"], port);
        assert_eq!(di, vec![1, 0]);
    })
    .await
    .expect("mbpoll checks");
    // mbpoll's float type reads the belt rate's CDAB float natively.
    tokio::task::spawn_blocking(move || {
        let out = Command::new("mbpoll")
            .args([
                "-m", "tcp", "-a", "1", "-1", "-t", "4:float", "-r", "1", "-c", "1",
            ])
            .args(["-p", &port.to_string(), "127.0.0.1"])
            .output()
            .expect("mbpoll runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let rate: f64 = text
            .lines()
            .find(|l| l.starts_with("[1]:"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no float in {text}"));
        assert!((24.0..=38.0).contains(&rate), "{rate}");
    })
    .await
    .expect("mbpoll float check");
    sim.shutdown().await.expect("clean shutdown");
}
