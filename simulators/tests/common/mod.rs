//! Test helpers: starting simulators on free ports, reading the shipped
//! gateway config with our own parser, and decoding registers with our own
//! decoder (independent of the crate's `registers` module on purpose).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use plantsim::map::PlantMap;
use plantsim::sim::{CoreOptions, SimCore};
use plantsim::truth::DayCalendar;
use plantsim::{PlantClock, RunningSim, Scenario, SimOptions, Simulator};
use serde::Deserialize;
use tokio_modbus::client::{tcp, Context, Reader};
use tokio_modbus::Slave;

pub const DAY_START: &str = "2026-03-01T07:00:00-05:00";

pub fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

pub fn shipped_config_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/caylloma.toml")
}

pub fn calendar() -> DayCalendar {
    DayCalendar::new(
        TimeZone::get("America/Lima").expect("bundled tz"),
        Time::constant(7, 0, 0, 0),
    )
}

/// A deterministic core on the Caylloma map, starting at 07:00 Lima.
pub fn core(scenario: Scenario, seed: u64) -> (SimCore, PlantMap) {
    let map = PlantMap::caylloma();
    let core = SimCore::new(
        CoreOptions {
            start: ts(DAY_START),
            seed,
            scenario,
            calendar: calendar(),
        },
        &map,
    );
    (core, map)
}

/// Options for a live simulator on free ports.
pub fn options(start: &str, speed: f64, scenario: Scenario) -> SimOptions {
    SimOptions {
        clock: PlantClock::new(ts(start), Timestamp::now(), speed),
        scenario,
        map: PlantMap::caylloma().on_ephemeral_ports(),
        tick: Duration::from_millis(10),
        ..SimOptions::default()
    }
}

pub async fn start(opts: SimOptions) -> RunningSim {
    Simulator::start(opts).await.expect("simulator starts")
}

pub async fn connect(addr: SocketAddr, unit: u8) -> Context {
    tcp::connect_slave(addr, Slave(unit))
        .await
        .expect("connect to simulator")
}

// ---- the gateway config, read with our own structs ----

#[derive(Debug, Deserialize)]
pub struct GatewayConfig {
    pub plc: Vec<PlcConfig>,
}

#[derive(Debug, Deserialize)]
pub struct PlcConfig {
    pub name: String,
    pub address: String,
    pub unit_id: u8,
    pub tag: Vec<TagConfig>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TagConfig {
    pub name: String,
    pub equipment: String,
    pub table: String,
    pub address: u16,
    #[serde(rename = "type")]
    pub ty: String,
    pub order: Option<String>,
    pub bit: Option<u8>,
    pub length: Option<u16>,
    pub scale: Option<f64>,
    pub offset: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl TagConfig {
    pub fn key(&self) -> String {
        format!("{}.{}", self.equipment, self.name)
    }

    pub fn words(&self) -> u16 {
        if self.bit.is_some() {
            return 1;
        }
        match self.ty.as_str() {
            "bool" | "u16" | "i16" => 1,
            "u32" | "i32" | "f32" => 2,
            "u64" | "i64" | "f64" => 4,
            "string" => self.length.unwrap_or(0),
            other => panic!("unknown type {other}"),
        }
    }
}

pub fn read_config(text: &str) -> GatewayConfig {
    toml::from_str(text).expect("gateway config parses")
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    Bool(bool),
    Num(f64),
    Text(String),
}

/// Our own decoder of the documented conventions.
pub fn decode(tag: &TagConfig, regs: &[u16]) -> Decoded {
    if let Some(bit) = tag.bit {
        return Decoded::Bool(regs[0] >> bit & 1 == 1);
    }
    if tag.ty == "string" {
        let mut s = String::new();
        for r in regs {
            for b in [(r >> 8) as u8, (r & 0xFF) as u8] {
                if b != 0 {
                    s.push(b as char);
                }
            }
        }
        return Decoded::Text(s.trim_end().to_string());
    }
    if tag.ty == "bool" {
        return Decoded::Bool(regs[0] != 0);
    }
    // Back to the value's big-endian bytes.
    let order = tag.order.as_deref().unwrap_or("ABCD");
    let mut words: Vec<u16> = regs.to_vec();
    if words.len() > 1 {
        if order == "CDAB" || order == "DCBA" {
            words.reverse();
        }
        if order == "BADC" || order == "DCBA" {
            words = words.iter().map(|w| w.rotate_left(8)).collect();
        }
    }
    let mut be = Vec::new();
    for w in &words {
        be.push((w >> 8) as u8);
        be.push((w & 0xFF) as u8);
    }
    let raw: f64 = match tag.ty.as_str() {
        "u16" => f64::from(u16::from_be_bytes([be[0], be[1]])),
        "i16" => f64::from(i16::from_be_bytes([be[0], be[1]])),
        "u32" => f64::from(u32::from_be_bytes([be[0], be[1], be[2], be[3]])),
        "i32" => f64::from(i32::from_be_bytes([be[0], be[1], be[2], be[3]])),
        "f32" => f64::from(f32::from_be_bytes([be[0], be[1], be[2], be[3]])),
        "u64" => u64::from_be_bytes(be[..8].try_into().expect("8 bytes")) as f64,
        "i64" => i64::from_be_bytes(be[..8].try_into().expect("8 bytes")) as f64,
        "f64" => f64::from_be_bytes(be[..8].try_into().expect("8 bytes")),
        other => panic!("type {other}"),
    };
    Decoded::Num(raw * tag.scale.unwrap_or(1.0) + tag.offset.unwrap_or(0.0))
}

/// Read one tag over Modbus and decode it.
pub async fn read_tag(ctx: &mut Context, tag: &TagConfig) -> Decoded {
    let what = tag.key();
    match tag.table.as_str() {
        "coil" => {
            let v = ctx.read_coils(tag.address, 1).await;
            Decoded::Bool(v.expect("transport").expect("no exception")[0])
        }
        "discrete" => {
            let v = ctx.read_discrete_inputs(tag.address, 1).await;
            Decoded::Bool(v.expect("transport").expect("no exception")[0])
        }
        "input" | "holding" => {
            let n = tag.words();
            let r = if tag.table == "input" {
                ctx.read_input_registers(tag.address, n).await
            } else {
                ctx.read_holding_registers(tag.address, n).await
            };
            let regs = r
                .unwrap_or_else(|e| panic!("{what}: transport {e}"))
                .unwrap_or_else(|e| panic!("{what}: exception {e:?}"));
            decode(tag, &regs)
        }
        other => panic!("table {other}"),
    }
}

/// Check a decoded value against the tag's min/max; returns a complaint.
pub fn out_of_range(tag: &TagConfig, v: &Decoded) -> Option<String> {
    match v {
        Decoded::Num(x) => {
            let lo = tag.min.unwrap_or(f64::NEG_INFINITY);
            let hi = tag.max.unwrap_or(f64::INFINITY);
            (!x.is_finite() || *x < lo || *x > hi)
                .then(|| format!("{} = {x} outside [{lo}, {hi}]", tag.key()))
        }
        Decoded::Text(s) => s
            .is_empty()
            .then(|| format!("{} is an empty string", tag.key())),
        Decoded::Bool(_) => None,
    }
}

/// Bound address of each configured PLC, by name.
pub fn addresses(sim: &RunningSim) -> BTreeMap<String, SocketAddr> {
    sim.endpoints()
        .iter()
        .map(|e| (e.plc.clone(), e.addr))
        .collect()
}
