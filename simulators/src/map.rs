//! The register map: which tag sits where on which PLC, and where its value
//! comes from.
//!
//! [`PlantMap::caylloma`] is the one definition of the Caylloma plant's map.
//! The shipped gateway configuration `config/caylloma.toml` is this map
//! written out by [`crate::gateway_toml::render`] (`plantsim --print-config`),
//! and a test keeps the two equal.

use std::net::SocketAddr;

use crate::model::{
    CrushingSignal as C, FlotationSignal as F, GrindingSignal as G, Metal, Signal, Stream,
};
use crate::registers::{ByteOrder, DataType, Encoding, Table};
use crate::synthetic::SyntheticKind;

/// Where a tag's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A quantity of the process model.
    Model(Signal),
    /// A fixed text (equipment tag, firmware name).
    Text(String),
    /// A plausible stand-in for a tag the model does not know (`--from-config`).
    Synthetic(SyntheticKind),
}

/// One served tag, in the gateway's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct TagSpec {
    pub equipment: String,
    pub name: String,
    pub table: Table,
    /// 0-based protocol address.
    pub address: u16,
    pub data_type: DataType,
    pub order: ByteOrder,
    /// Bool taken from one bit of a register (0 = LSB).
    pub bit: Option<u8>,
    /// Registers, for strings.
    pub length: u16,
    pub scale: f64,
    pub offset: f64,
    pub unit: String,
    pub description: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub source: Source,
}

impl TagSpec {
    pub fn encoding(&self) -> Encoding {
        Encoding {
            data_type: self.data_type,
            order: self.order,
            length: self.length,
            scale: self.scale,
            offset: self.offset,
        }
    }

    /// Addresses occupied in its table.
    pub fn width(&self) -> u16 {
        if self.table.is_bits() || self.bit.is_some() {
            1
        } else {
            self.data_type.registers(self.length)
        }
    }

    /// "equipment.name", as the gateway's [kpi] section refers to tags.
    pub fn key(&self) -> String {
        format!("{}.{}", self.equipment, self.name)
    }
}

/// One PLC: a Modbus TCP listener with its unit id and tags.
#[derive(Debug, Clone, PartialEq)]
pub struct PlcSpec {
    pub name: String,
    pub area: String,
    pub address: SocketAddr,
    pub unit_id: u8,
    pub scan_ms: u64,
    pub timeout_ms: u64,
    pub tags: Vec<TagSpec>,
}

impl PlcSpec {
    /// Size of the mapped address space of `table`: every address from 0 up
    /// to the last mapped one is served (gaps read as 0); beyond is
    /// IllegalDataAddress.
    pub fn table_size(&self, table: Table) -> u32 {
        self.tags
            .iter()
            .filter(|t| t.table == table)
            .map(|t| u32::from(t.address) + u32::from(t.width()))
            .max()
            .unwrap_or(0)
    }
}

/// Whether the map is the built-in plant (whose gateway config carries the
/// [kpi] tag references) or one read from a user's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    Caylloma,
    FromConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlantMap {
    pub kind: MapKind,
    pub plcs: Vec<PlcSpec>,
}

impl PlantMap {
    /// The Caylloma map on its default listeners (127.0.0.1:5020–5022).
    pub fn caylloma() -> PlantMap {
        let plc = |name: &str, port: u16, defs: &[Def]| PlcSpec {
            name: name.to_string(),
            area: name.to_string(),
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            unit_id: 1,
            scan_ms: 1000,
            timeout_ms: 1000,
            tags: defs.iter().map(Def::to_spec).collect(),
        };
        PlantMap {
            kind: MapKind::Caylloma,
            plcs: vec![
                plc("crushing", 5020, CRUSHING),
                plc("grinding", 5021, GRINDING),
                plc("flotation", 5022, FLOTATION),
            ],
        }
    }

    pub fn plc(&self, name: &str) -> Option<&PlcSpec> {
        self.plcs.iter().find(|p| p.name == name)
    }

    /// Move one PLC's listener. Returns false when there is no such PLC.
    pub fn set_address(&mut self, plc: &str, address: SocketAddr) -> bool {
        match self.plcs.iter_mut().find(|p| p.name == plc) {
            Some(p) => {
                p.address = address;
                true
            }
            None => false,
        }
    }

    /// Every listener on 127.0.0.1 port 0, for tests and in-process demos.
    pub fn on_ephemeral_ports(mut self) -> PlantMap {
        for p in &mut self.plcs {
            p.address = SocketAddr::from(([127, 0, 0, 1], 0));
        }
        self
    }

    /// Find a tag by "equipment.name".
    pub fn tag(&self, key: &str) -> Option<(&PlcSpec, &TagSpec)> {
        self.plcs
            .iter()
            .flat_map(|p| p.tags.iter().map(move |t| (p, t)))
            .find(|(_, t)| t.key() == key)
    }

    /// The model quantity behind a Caylloma tag name, used to bring the
    /// model's values to a user's own map with the same tag names.
    pub fn caylloma_source(equipment: &str, name: &str) -> Option<Source> {
        [CRUSHING, GRINDING, FLOTATION]
            .iter()
            .flat_map(|defs| defs.iter())
            .find(|d| d.equipment == equipment && d.name == name)
            .map(|d| d.to_spec().source)
    }
}

/// A compact, const form of a Caylloma tag.
struct Def {
    table: Table,
    address: u16,
    ty: DataType,
    order: ByteOrder,
    bit: Option<u8>,
    length: u16,
    scale: f64,
    equipment: &'static str,
    name: &'static str,
    unit: &'static str,
    min: Option<f64>,
    max: Option<f64>,
    source: DefSource,
    description: &'static str,
}

enum DefSource {
    Signal(Signal),
    Text(&'static str),
}

impl Def {
    fn to_spec(&self) -> TagSpec {
        TagSpec {
            equipment: self.equipment.to_string(),
            name: self.name.to_string(),
            table: self.table,
            address: self.address,
            data_type: self.ty,
            order: self.order,
            bit: self.bit,
            length: self.length,
            scale: self.scale,
            offset: 0.0,
            unit: self.unit.to_string(),
            description: self.description.to_string(),
            min: self.min,
            max: self.max,
            source: match &self.source {
                DefSource::Signal(s) => Source::Model(*s),
                DefSource::Text(t) => Source::Text((*t).to_string()),
            },
        }
    }
}

const BASE: Def = Def {
    table: Table::Holding,
    address: 0,
    ty: DataType::U16,
    order: ByteOrder::ABCD,
    bit: None,
    length: 0,
    scale: 1.0,
    equipment: "",
    name: "",
    unit: "",
    min: None,
    max: None,
    source: DefSource::Text(""),
    description: "",
};

const fn c(s: C) -> DefSource {
    DefSource::Signal(Signal::Crushing(s))
}
const fn g(s: G) -> DefSource {
    DefSource::Signal(Signal::Grinding(s))
}
const fn f(s: F) -> DefSource {
    DefSource::Signal(Signal::Flotation(s))
}
const fn assay(stream: Stream, metal: Metal) -> DefSource {
    f(F::Assay(stream, metal))
}

/// A bool in a bit table.
const fn flag(
    table: Table,
    address: u16,
    equipment: &'static str,
    name: &'static str,
    source: DefSource,
    description: &'static str,
) -> Def {
    Def {
        table,
        address,
        ty: DataType::Bool,
        equipment,
        name,
        source,
        description,
        ..BASE
    }
}

/// A bool from one bit of a status word.
const fn status_bit(
    table: Table,
    address: u16,
    bit: u8,
    equipment: &'static str,
    name: &'static str,
    source: DefSource,
    description: &'static str,
) -> Def {
    Def {
        table,
        address,
        ty: DataType::Bool,
        bit: Some(bit),
        equipment,
        name,
        source,
        description,
        ..BASE
    }
}

const TOTALISER_MAX_T: f64 = 4_294_967.295;

// One row per tag reads better than rustfmt's one line per field.
#[rustfmt::skip]
const CRUSHING: &[Def] = &[
    // Coils: motor run outputs and the alarm horn.
    flag(Table::Coil, 0, "jaw_crusher", "run_cmd", c(C::CrusherRunCmd), "Jaw crusher run output"),
    flag(Table::Coil, 1, "apron_feeder", "run_cmd", c(C::ApronFeederRunCmd), "Apron feeder run output"),
    flag(Table::Coil, 2, "fine_ore_bin", "level_control_auto", c(C::LevelControlAuto), "Bin level control in automatic"),
    flag(Table::Coil, 8, "crushing", "alarm_horn", c(C::AlarmHorn), "Crushing area alarm horn"),
    // Discrete inputs: feedback and alarms.
    flag(Table::Discrete, 0, "jaw_crusher", "running", c(C::CrusherRunning), "Jaw crusher running feedback"),
    flag(Table::Discrete, 1, "jaw_crusher", "tripped", c(C::CrusherTripped), "Jaw crusher tripped"),
    flag(Table::Discrete, 2, "jaw_crusher", "overload_alarm", c(C::CrusherOverloadAlarm), "Jaw motor current above 105 % FLA"),
    flag(Table::Discrete, 3, "fine_ore_bin", "level_high_alarm", c(C::BinHighAlarm), "Fine-ore bin level above 90 %"),
    flag(Table::Discrete, 4, "fine_ore_bin", "level_low_alarm", c(C::BinLowAlarm), "Fine-ore bin level below 20 %"),
    flag(Table::Discrete, 10, "jaw_crusher", "lube_ok", c(C::CrusherLubeOk), "Lubrication pressure healthy"),
    // Input registers: measurements.
    Def { table: Table::Input, address: 0, ty: DataType::F32, equipment: "jaw_crusher", name: "feed_rate_tph", unit: "t/h", min: Some(0.0), max: Some(150.0), source: c(C::FeedRate), description: "Crusher product weightometer rate (wet)", ..BASE },
    Def { table: Table::Input, address: 2, scale: 0.1, equipment: "jaw_crusher", name: "power_kw", unit: "kW", min: Some(0.0), max: Some(200.0), source: c(C::Power), description: "Jaw motor power", ..BASE },
    Def { table: Table::Input, address: 3, scale: 0.1, equipment: "jaw_crusher", name: "current_a", unit: "A", min: Some(0.0), max: Some(300.0), source: c(C::Current), description: "Jaw motor current (FLA 125 A)", ..BASE },
    Def { table: Table::Input, address: 4, scale: 0.01, equipment: "fine_ore_bin", name: "level_pct", unit: "%", min: Some(0.0), max: Some(100.0), source: c(C::BinLevel), description: "Fine-ore bin level (radar)", ..BASE },
    Def { table: Table::Input, address: 10, ty: DataType::I32, scale: 0.001, equipment: "fine_ore_bin", name: "inventory_t", unit: "t", min: Some(0.0), max: Some(1000.0), source: c(C::BinMass), description: "Fine-ore bin inventory (DINT, kg)", ..BASE },
    Def { table: Table::Input, address: 12, ty: DataType::I16, scale: 0.1, equipment: "jaw_crusher", name: "css_mm", unit: "mm", min: Some(30.0), max: Some(150.0), source: c(C::CssMeasured), description: "Closed-side setting, measured", ..BASE },
    status_bit(Table::Input, 20, 0, "apron_feeder", "running", c(C::ApronFeederRunning), "Apron feeder running (status word bit 0)"),
    status_bit(Table::Input, 20, 1, "apron_feeder", "tripped", c(C::ApronFeederTripped), "Apron feeder tripped (status word bit 1)"),
    status_bit(Table::Input, 20, 2, "crusher_conveyor", "running", c(C::ConveyorRunning), "Crusher discharge conveyor running (bit 2)"),
    status_bit(Table::Input, 20, 3, "jaw_crusher", "level_control_ok", c(C::LevelControlAuto), "Level control healthy (bit 3)"),
    Def { table: Table::Input, address: 30, ty: DataType::U32, order: ByteOrder::CDAB, scale: 0.1, equipment: "jaw_crusher", name: "run_hours_h", unit: "h", min: Some(0.0), source: c(C::RunHours), description: "Jaw crusher hour meter", ..BASE },
    // Holding registers: operator settings and identification.
    Def { table: Table::Holding, address: 0, scale: 0.1, equipment: "jaw_crusher", name: "css_setpoint_mm", unit: "mm", min: Some(50.0), max: Some(100.0), source: c(C::CssSetpoint), description: "Closed-side setting, operator set", ..BASE },
    Def { table: Table::Holding, address: 1, scale: 0.1, equipment: "fine_ore_bin", name: "start_level_pct", unit: "%", min: Some(0.0), max: Some(100.0), source: c(C::BinStartLevel), description: "Crusher starts at or below this bin level", ..BASE },
    Def { table: Table::Holding, address: 2, scale: 0.1, equipment: "fine_ore_bin", name: "stop_level_pct", unit: "%", min: Some(0.0), max: Some(100.0), source: c(C::BinStopLevel), description: "Crusher stops at or above this bin level", ..BASE },
    Def { table: Table::Holding, address: 100, ty: DataType::String, length: 8, equipment: "crushing_plc", name: "firmware", source: DefSource::Text("M340 FW 3.20"), description: "PLC firmware", ..BASE },
    Def { table: Table::Holding, address: 110, ty: DataType::String, length: 4, equipment: "jaw_crusher", name: "equipment_tag", source: DefSource::Text("CR-101"), description: "Plant equipment tag", ..BASE },
];

// One row per tag reads better than rustfmt's one line per field.
#[rustfmt::skip]
const GRINDING: &[Def] = &[
    flag(Table::Coil, 0, "ball_mill", "run_cmd", g(G::MillRunCmd), "Ball mill run output"),
    flag(Table::Coil, 1, "mill_feed_belt", "run_cmd", g(G::BeltRunCmd), "Mill feed belt run output"),
    flag(Table::Coil, 2, "cyclone_feed_pump", "run_cmd", g(G::CyclonePumpRunCmd), "Cyclone feed pump run output"),
    flag(Table::Discrete, 0, "ball_mill", "running", g(G::MillRunning), "Ball mill running feedback"),
    flag(Table::Discrete, 1, "ball_mill", "tripped", g(G::MillTripped), "Ball mill tripped"),
    flag(Table::Discrete, 2, "ball_mill", "bearing_temp_alarm", g(G::BearingAlarm), "A mill bearing above 70 °C"),
    flag(Table::Discrete, 3, "ball_mill", "bearing_temp_trip", g(G::BearingTrip), "A mill bearing above 75 °C"),
    flag(Table::Discrete, 4, "mill_feed_belt", "running", g(G::BeltRunning), "Mill feed belt running"),
    flag(Table::Discrete, 5, "mill_feed_belt", "no_feed_alarm", g(G::NoFeedAlarm), "Belt running with under 5 t/h for a minute"),
    // Belt-scale integrator block (BW500-style: CDAB floats, u32 totaliser high word first).
    Def { table: Table::Holding, address: 0, ty: DataType::F32, order: ByteOrder::CDAB, equipment: "mill_feed_belt", name: "feed_rate_tph", unit: "t/h", min: Some(0.0), max: Some(60.0), source: g(G::BeltRate), description: "Mill feed rate, wet", ..BASE },
    Def { table: Table::Holding, address: 2, ty: DataType::U32, scale: 0.001, equipment: "mill_feed_belt", name: "total_t", unit: "t", min: Some(0.0), max: Some(TOTALISER_MAX_T), source: g(G::BeltTotal), description: "Belt-scale totaliser, wet tonnes (wraps at 4,294,967.296 t)", ..BASE },
    Def { table: Table::Holding, address: 4, ty: DataType::F32, order: ByteOrder::CDAB, equipment: "mill_feed_belt", name: "belt_speed_ms", unit: "m/s", min: Some(0.0), max: Some(3.0), source: g(G::BeltSpeed), description: "Belt speed", ..BASE },
    Def { table: Table::Holding, address: 6, ty: DataType::F32, order: ByteOrder::CDAB, equipment: "mill_feed_belt", name: "belt_load_kgm", unit: "kg/m", min: Some(0.0), max: Some(100.0), source: g(G::BeltLoad), description: "Belt loading", ..BASE },
    Def { table: Table::Holding, address: 8, scale: 0.01, equipment: "mill_feed_belt", name: "moisture_pct", unit: "%", min: Some(0.0), max: Some(20.0), source: g(G::Moisture), description: "Ore moisture (NIR analyser over the belt)", ..BASE },
    Def { table: Table::Holding, address: 20, scale: 0.1, equipment: "mill_feed_belt", name: "feed_setpoint_tph", unit: "t/h", min: Some(0.0), max: Some(60.0), source: g(G::FeedSetpoint), description: "Feeder rate setpoint, wet", ..BASE },
    Def { table: Table::Holding, address: 40, ty: DataType::String, length: 8, equipment: "mill_feed_belt", name: "integrator_model", source: DefSource::Text("BW500 V4.2"), description: "Belt-scale integrator model and firmware", ..BASE },
    Def { table: Table::Holding, address: 50, ty: DataType::String, length: 4, equipment: "ball_mill", name: "equipment_tag", source: DefSource::Text("ML-201"), description: "Plant equipment tag", ..BASE },
    // Mill and cyclones.
    Def { table: Table::Input, address: 0, scale: 0.1, equipment: "ball_mill", name: "power_kw", unit: "kW", min: Some(0.0), max: Some(1000.0), source: g(G::MillPower), description: "Ball mill motor power", ..BASE },
    Def { table: Table::Input, address: 1, scale: 0.1, equipment: "ball_mill", name: "current_a", unit: "A", min: Some(0.0), max: Some(200.0), source: g(G::MillCurrent), description: "Ball mill motor current (4.16 kV)", ..BASE },
    Def { table: Table::Input, address: 2, ty: DataType::I16, scale: 0.1, equipment: "ball_mill", name: "bearing_de_temp_c", unit: "°C", min: Some(-20.0), max: Some(120.0), source: g(G::BearingDe), description: "Drive-end bearing temperature (alarm 70, trip 75)", ..BASE },
    Def { table: Table::Input, address: 3, ty: DataType::I16, scale: 0.1, equipment: "ball_mill", name: "bearing_nde_temp_c", unit: "°C", min: Some(-20.0), max: Some(120.0), source: g(G::BearingNde), description: "Non-drive-end bearing temperature (alarm 70, trip 75)", ..BASE },
    Def { table: Table::Input, address: 4, scale: 0.01, equipment: "ball_mill", name: "discharge_density_pct", unit: "% solids", min: Some(0.0), max: Some(100.0), source: g(G::DischargeDensity), description: "Mill discharge density", ..BASE },
    Def { table: Table::Input, address: 10, ty: DataType::F32, order: ByteOrder::BADC, equipment: "cyclone", name: "feed_pressure_kpa", unit: "kPa", min: Some(0.0), max: Some(250.0), source: g(G::CyclonePressure), description: "Cyclone feed pressure", ..BASE },
    Def { table: Table::Input, address: 12, ty: DataType::F32, order: ByteOrder::BADC, equipment: "cyclone", name: "overflow_density_pct", unit: "% solids", min: Some(0.0), max: Some(60.0), source: g(G::OverflowDensity), description: "Cyclone overflow density", ..BASE },
    Def { table: Table::Input, address: 14, ty: DataType::F32, order: ByteOrder::DCBA, equipment: "cyclone", name: "overflow_p80_um", unit: "µm", min: Some(0.0), max: Some(500.0), source: g(G::OverflowP80), description: "Cyclone overflow P80 (particle-size analyser)", ..BASE },
    Def { table: Table::Input, address: 20, ty: DataType::F64, equipment: "ball_mill", name: "energy_kwh", unit: "kWh", min: Some(0.0), source: g(G::MillEnergy), description: "Mill motor energy meter", ..BASE },
    Def { table: Table::Input, address: 24, ty: DataType::U64, equipment: "ball_mill", name: "revolutions", unit: "rev", min: Some(0.0), source: g(G::MillRevolutions), description: "Mill shell revolution counter", ..BASE },
    Def { table: Table::Input, address: 30, ty: DataType::U32, scale: 0.1, equipment: "ball_mill", name: "run_hours_h", unit: "h", min: Some(0.0), source: g(G::MillRunHours), description: "Ball mill hour meter", ..BASE },
    status_bit(Table::Input, 40, 0, "cyclone_feed_pump", "running", g(G::CyclonePumpRunning), "Cyclone feed pump running (status word bit 0)"),
    status_bit(Table::Input, 40, 1, "ball_mill", "lube_ok", g(G::MillLubeOk), "Mill lube system healthy (bit 1)"),
    status_bit(Table::Input, 40, 2, "ball_mill", "clutch_engaged", g(G::MillClutchEngaged), "Mill clutch engaged (bit 2)"),
    status_bit(Table::Input, 40, 8, "ball_mill", "maintenance_mode", g(G::Maintenance), "Planned maintenance lock-out (bit 8)"),
];

// One row per tag reads better than rustfmt's one line per field.
#[rustfmt::skip]
const FLOTATION: &[Def] = &[
    flag(Table::Coil, 0, "pb_circuit", "feed_on", f(F::PbCircuitRunning), "Pb-Ag circuit receiving feed"),
    flag(Table::Coil, 1, "zn_circuit", "feed_on", f(F::ZnCircuitRunning), "Zn circuit receiving feed"),
    flag(Table::Coil, 2, "reagents", "dosing_enabled", f(F::ReagentDosingEnabled), "Reagent dosing pumps enabled"),
    flag(Table::Discrete, 0, "analyser", "fault", f(F::AnalyserFault), "On-stream analyser fault (results out of range)"),
    flag(Table::Discrete, 2, "pb_rougher", "level_alarm", f(F::PbLevelAlarm), "Pb rougher/cleaner level outside 50–300 mm"),
    flag(Table::Discrete, 3, "zn_rougher", "level_alarm", f(F::ZnLevelAlarm), "Zn rougher/cleaner level outside 50–300 mm"),
    flag(Table::Discrete, 4, "pb_conditioner", "ph_alarm", f(F::PbPhAlarm), "Pb circuit pH outside 8.5–9.5"),
    flag(Table::Discrete, 5, "zn_conditioner", "ph_alarm", f(F::ZnPhAlarm), "Zn circuit pH outside 10.5–11.5"),
    // On-stream analyser results (IEEE floats, ABCD).
    Def { table: Table::Input, address: 0, ty: DataType::F32, equipment: "flotation_feed", name: "ag_gpt", unit: "g/t", min: Some(0.0), max: Some(1000.0), source: assay(Stream::Feed, Metal::Ag), description: "Flotation feed Ag", ..BASE },
    Def { table: Table::Input, address: 2, ty: DataType::F32, equipment: "flotation_feed", name: "pb_pct", unit: "%", min: Some(0.0), max: Some(10.0), source: assay(Stream::Feed, Metal::Pb), description: "Flotation feed Pb", ..BASE },
    Def { table: Table::Input, address: 4, ty: DataType::F32, equipment: "flotation_feed", name: "zn_pct", unit: "%", min: Some(0.0), max: Some(10.0), source: assay(Stream::Feed, Metal::Zn), description: "Flotation feed Zn", ..BASE },
    Def { table: Table::Input, address: 10, ty: DataType::F32, equipment: "pb_concentrate", name: "ag_gpt", unit: "g/t", min: Some(0.0), max: Some(20000.0), source: assay(Stream::PbConcentrate, Metal::Ag), description: "Pb-Ag concentrate Ag", ..BASE },
    Def { table: Table::Input, address: 12, ty: DataType::F32, equipment: "pb_concentrate", name: "pb_pct", unit: "%", min: Some(0.0), max: Some(80.0), source: assay(Stream::PbConcentrate, Metal::Pb), description: "Pb-Ag concentrate Pb", ..BASE },
    Def { table: Table::Input, address: 14, ty: DataType::F32, equipment: "pb_concentrate", name: "zn_pct", unit: "%", min: Some(0.0), max: Some(30.0), source: assay(Stream::PbConcentrate, Metal::Zn), description: "Pb-Ag concentrate Zn", ..BASE },
    Def { table: Table::Input, address: 20, ty: DataType::F32, equipment: "zn_concentrate", name: "ag_gpt", unit: "g/t", min: Some(0.0), max: Some(2000.0), source: assay(Stream::ZnConcentrate, Metal::Ag), description: "Zn concentrate Ag", ..BASE },
    Def { table: Table::Input, address: 22, ty: DataType::F32, equipment: "zn_concentrate", name: "pb_pct", unit: "%", min: Some(0.0), max: Some(10.0), source: assay(Stream::ZnConcentrate, Metal::Pb), description: "Zn concentrate Pb", ..BASE },
    Def { table: Table::Input, address: 24, ty: DataType::F32, equipment: "zn_concentrate", name: "zn_pct", unit: "%", min: Some(0.0), max: Some(70.0), source: assay(Stream::ZnConcentrate, Metal::Zn), description: "Zn concentrate Zn", ..BASE },
    Def { table: Table::Input, address: 30, ty: DataType::F32, equipment: "final_tailings", name: "ag_gpt", unit: "g/t", min: Some(0.0), max: Some(200.0), source: assay(Stream::Tailings, Metal::Ag), description: "Final tailings Ag", ..BASE },
    Def { table: Table::Input, address: 32, ty: DataType::F32, equipment: "final_tailings", name: "pb_pct", unit: "%", min: Some(0.0), max: Some(2.0), source: assay(Stream::Tailings, Metal::Pb), description: "Final tailings Pb", ..BASE },
    Def { table: Table::Input, address: 34, ty: DataType::F32, equipment: "final_tailings", name: "zn_pct", unit: "%", min: Some(0.0), max: Some(2.0), source: assay(Stream::Tailings, Metal::Zn), description: "Final tailings Zn", ..BASE },
    Def { table: Table::Input, address: 40, ty: DataType::F32, equipment: "zn_circuit_feed", name: "ag_gpt", unit: "g/t", min: Some(0.0), max: Some(500.0), source: assay(Stream::ZnCircuitFeed, Metal::Ag), description: "Pb-circuit tailings (Zn-circuit feed) Ag: the tail of a two-product Pb-circuit balance", ..BASE },
    Def { table: Table::Input, address: 50, equipment: "analyser", name: "result_age_s", unit: "s", min: Some(0.0), max: Some(3600.0), source: f(F::AnalyserAge), description: "Seconds since the analyser's last result", ..BASE },
    // Cells, air, pH.
    Def { table: Table::Input, address: 100, equipment: "pb_rougher", name: "level_mm", unit: "mm", min: Some(0.0), max: Some(500.0), source: f(F::PbRougherLevel), description: "Pb rougher pulp level", ..BASE },
    Def { table: Table::Input, address: 101, equipment: "pb_cleaner", name: "level_mm", unit: "mm", min: Some(0.0), max: Some(500.0), source: f(F::PbCleanerLevel), description: "Pb cleaner pulp level", ..BASE },
    Def { table: Table::Input, address: 102, equipment: "zn_rougher", name: "level_mm", unit: "mm", min: Some(0.0), max: Some(500.0), source: f(F::ZnRougherLevel), description: "Zn rougher pulp level", ..BASE },
    Def { table: Table::Input, address: 103, equipment: "zn_cleaner", name: "level_mm", unit: "mm", min: Some(0.0), max: Some(500.0), source: f(F::ZnCleanerLevel), description: "Zn cleaner pulp level", ..BASE },
    Def { table: Table::Input, address: 110, scale: 0.01, equipment: "pb_rougher", name: "air_nm3min", unit: "Nm³/min", min: Some(0.0), max: Some(15.0), source: f(F::PbRougherAir), description: "Pb rougher air flow", ..BASE },
    Def { table: Table::Input, address: 111, scale: 0.01, equipment: "zn_rougher", name: "air_nm3min", unit: "Nm³/min", min: Some(0.0), max: Some(15.0), source: f(F::ZnRougherAir), description: "Zn rougher air flow", ..BASE },
    Def { table: Table::Input, address: 120, scale: 0.01, equipment: "pb_conditioner", name: "ph", unit: "pH", min: Some(0.0), max: Some(14.0), source: f(F::PbPh), description: "Pb circuit pH", ..BASE },
    Def { table: Table::Input, address: 121, scale: 0.01, equipment: "zn_conditioner", name: "ph", unit: "pH", min: Some(0.0), max: Some(14.0), source: f(F::ZnPh), description: "Zn circuit pH", ..BASE },
    // Reagent dosing (dosing skid reports CDAB floats).
    Def { table: Table::Holding, address: 0, ty: DataType::F32, order: ByteOrder::CDAB, equipment: "reagents", name: "xanthate_gpt", unit: "g/t", min: Some(0.0), max: Some(100.0), source: f(F::Xanthate), description: "Xanthate (collector) dosing", ..BASE },
    Def { table: Table::Holding, address: 2, ty: DataType::F32, order: ByteOrder::CDAB, equipment: "reagents", name: "znso4_gpt", unit: "g/t", min: Some(0.0), max: Some(1000.0), source: f(F::ZnSo4), description: "Zinc sulphate (depressant) dosing", ..BASE },
    Def { table: Table::Holding, address: 4, ty: DataType::F32, order: ByteOrder::CDAB, equipment: "reagents", name: "cuso4_gpt", unit: "g/t", min: Some(0.0), max: Some(1000.0), source: f(F::CuSo4), description: "Copper sulphate (activator) dosing", ..BASE },
    Def { table: Table::Holding, address: 6, ty: DataType::F32, order: ByteOrder::CDAB, equipment: "reagents", name: "frother_gpt", unit: "g/t", min: Some(0.0), max: Some(60.0), source: f(F::Frother), description: "Frother dosing", ..BASE },
    Def { table: Table::Holding, address: 20, equipment: "pb_rougher", name: "level_setpoint_mm", unit: "mm", min: Some(0.0), max: Some(500.0), source: f(F::PbRougherLevelSetpoint), description: "Pb rougher level setpoint", ..BASE },
    Def { table: Table::Holding, address: 100, ty: DataType::String, length: 8, equipment: "analyser", name: "model", source: DefSource::Text("COURIER 6 SL"), description: "On-stream analyser model", ..BASE },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_map_has_many_tags_of_every_kind() {
        let map = PlantMap::caylloma();
        let tags: Vec<&TagSpec> = map.plcs.iter().flat_map(|p| &p.tags).collect();
        assert!(tags.len() >= 40, "{} tags", tags.len());
        for table in Table::ALL {
            assert!(tags.iter().any(|t| t.table == table), "{table}");
        }
        for ty in [
            DataType::Bool,
            DataType::U16,
            DataType::I16,
            DataType::U32,
            DataType::I32,
            DataType::F32,
            DataType::F64,
            DataType::U64,
            DataType::String,
        ] {
            assert!(tags.iter().any(|t| t.data_type == ty), "{ty}");
        }
        for order in ByteOrder::ALL {
            assert!(tags.iter().any(|t| t.order == order), "{order}");
        }
        assert!(tags.iter().any(|t| t.bit.is_some()));
    }

    #[test]
    fn tags_do_not_overlap_and_keys_are_unique() {
        let map = PlantMap::caylloma();
        let mut keys = HashSet::new();
        for plc in &map.plcs {
            let mut used = HashSet::new();
            for t in &plc.tags {
                assert!(keys.insert(t.key()), "duplicate {}", t.key());
                for a in t.address..t.address + t.width() {
                    let slot = (t.table, a, t.bit);
                    assert!(used.insert(slot), "{} overlaps at {a}", t.key());
                }
            }
        }
    }
}
