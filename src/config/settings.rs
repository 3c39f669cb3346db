//! Validated configuration: what the rest of the gateway runs on. Built only
//! by [`super::validate`], so every value here has passed its checks.
//!
//! Naming: each serde section type ends in `Config` (`PlcConfig`); its
//! validated form drops the suffix (`Plc`). The whole file is the exception:
//! `RawConfig` validates into `Settings`.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::civil::Time;
use jiff::tz::TimeZone;

use super::raw::{ByteOrder, DataType, InfluxApi, Table};
use super::secret::Secret;

/// The whole file, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub site: Site,
    /// `[influxdb]`; `None` on a gateway whose only sink is `[nats]`.
    pub influx: Option<Influx>,
    pub spool: Spool,
    /// `None` when the HTTP listener is disabled.
    pub http_listen: Option<SocketAddr>,
    pub plcs: Vec<Arc<Plc>>,
    pub kpi: Option<Kpi>,
    /// `[nats]`: the JetStream sink, when configured.
    pub nats: Option<super::settings_nats::Nats>,
}

impl Settings {
    /// How the writer cuts the scans into spool records. `[influxdb]`
    /// holds the keys (every existing file keeps its batches); without it
    /// the documented defaults apply, as they would to an `[influxdb]`
    /// that does not set them.
    pub fn batching(&self) -> Batching {
        match &self.influx {
            Some(i) => Batching {
                batch_size: i.batch_size,
                flush_interval: i.flush_interval,
            },
            None => Batching {
                batch_size: super::raw::DEFAULT_BATCH_SIZE,
                flush_interval: Duration::from_millis(super::raw::DEFAULT_FLUSH_INTERVAL_MS),
            },
        }
    }
}

/// The writer's batch bounds: a spool record holds at most `batch_size`
/// lines, and a partial one is spooled after `flush_interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    pub batch_size: usize,
    pub flush_interval: Duration,
}

/// `[site]`, validated: the zone is loaded.
#[derive(Debug, Clone)]
pub struct Site {
    pub name: Arc<str>,
    pub timezone_name: String,
    pub timezone: TimeZone,
}

/// Where and as whom points are written, by API version.
#[derive(Debug, Clone)]
pub enum InfluxTarget {
    V1 {
        database: String,
        retention_policy: Option<String>,
        username: Option<String>,
        password: Option<Secret>,
    },
    V2 {
        org: String,
        bucket: String,
        token: Secret,
    },
}

impl InfluxTarget {
    pub fn api(&self) -> InfluxApi {
        match self {
            InfluxTarget::V1 { .. } => InfluxApi::V1,
            InfluxTarget::V2 { .. } => InfluxApi::V2,
        }
    }
}

/// `[influxdb]`, validated.
#[derive(Debug, Clone)]
pub struct Influx {
    /// Base URL without trailing slash.
    pub url: String,
    pub target: InfluxTarget,
    pub batch_size: usize,
    pub flush_interval: Duration,
    pub timeout: Duration,
    pub gzip: bool,
    pub ca_file: Option<PathBuf>,
}

/// `[spool]`, validated; the directory is resolved against the config file.
#[derive(Debug, Clone)]
pub struct Spool {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

/// `[[plc]]`, validated, with its valid tags.
#[derive(Debug, Clone)]
pub struct Plc {
    pub name: Arc<str>,
    pub area: Arc<str>,
    /// `host:port`, resolved at each connect so a DNS change is picked up.
    pub address: String,
    pub unit_id: u8,
    pub scan: Duration,
    pub timeout: Duration,
    pub max_gap: u16,
    pub tags: Vec<Tag>,
    /// How requests reach the unit, and the pacing the line needs.
    pub link: PlcLink,
}

/// The transport of a `[[plc]]` and its line's pacing. PLCs with equal
/// [`Plc::line_key`] share one connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlcLink {
    pub transport: LinkKind,
    pub request_gap: Duration,
    /// Registers per read request (≤ 125).
    pub max_registers: u16,
    /// Another `[[plc]]` uses the same connection (see [`Plc::line_key`]).
    pub shared: bool,
}

impl Default for PlcLink {
    /// Modbus TCP, no gap, the protocol's 125 registers.
    fn default() -> PlcLink {
        PlcLink {
            transport: LinkKind::Tcp,
            request_gap: Duration::ZERO,
            max_registers: 125,
            shared: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LinkKind {
    Tcp,
    RtuOverTcp,
    Rtu(SerialLine),
}

impl LinkKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            LinkKind::Tcp => "tcp",
            LinkKind::RtuOverTcp => "rtu_over_tcp",
            LinkKind::Rtu(_) => "rtu",
        }
    }
}

/// A serial line's settings; a PLC on `rtu` has its device as `address`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialLine {
    pub baud: u32,
    pub parity: Parity,
    pub data_bits: u8,
    pub stop_bits: u8,
}

impl SerialLine {
    /// The Modbus RTU inter-frame silence: 3.5 characters of 11 bits, and
    /// the spec's fixed 1.75 ms above 19200 baud.
    pub fn silence(&self) -> Duration {
        if self.baud > 19_200 {
            Duration::from_micros(1750)
        } else {
            Duration::from_micros(38_500_000 / u64::from(self.baud.max(1)))
        }
    }
}

impl std::fmt::Display for SerialLine {
    /// `19200 8E1`, as serial settings are written on a device's label.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = match self.parity {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
        };
        write!(f, "{} {}{}{}", self.baud, self.data_bits, p, self.stop_bits)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parity {
    None,
    Even,
    Odd,
}

impl Plc {
    /// The connection this PLC's requests travel on: PLCs with the same key
    /// share it (a serial gateway or a serial line answers one request at
    /// a time).
    pub fn line_key(&self) -> String {
        format!("{}://{}", self.link.transport.as_str(), self.address)
    }
}

/// The names a PLC gives every one of its tags' series.
///
/// One allocation per PLC, shared by all its tags: held inline, the two
/// names would add 32 bytes to each of 100 000 tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlcNames {
    pub plc: Arc<str>,
    pub area: Arc<str>,
}

/// Identity of a tag as it appears in InfluxDB.
///
/// Equality and hashing go by the names' values (plc, area, equipment,
/// name), never by which allocation holds them: tags built apart, as the
/// KPI engine's are, must still find each other in maps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagId {
    pub owner: Arc<PlcNames>,
    pub equipment: Arc<str>,
    pub name: Arc<str>,
}

impl TagId {
    /// A tag with a PLC of its own; validation instead shares one
    /// [`PlcNames`] among a PLC's tags.
    pub fn new(
        plc: impl Into<Arc<str>>,
        area: impl Into<Arc<str>>,
        equipment: impl Into<Arc<str>>,
        name: impl Into<Arc<str>>,
    ) -> TagId {
        TagId {
            owner: Arc::new(PlcNames {
                plc: plc.into(),
                area: area.into(),
            }),
            equipment: equipment.into(),
            name: name.into(),
        }
    }

    pub fn plc(&self) -> &Arc<str> {
        &self.owner.plc
    }

    pub fn area(&self) -> &Arc<str> {
        &self.owner.area
    }

    /// `equipment.name`, the form KPI settings use to refer to a tag.
    pub fn path(&self) -> String {
        format!("{}.{}", self.equipment, self.name)
    }
}

/// `[[plc.tag]]`, validated: layout checked, defaults applied.
///
/// A large configuration holds 100 000 of these for the life of the
/// process, read once a scan each, so the common fields sit inline (48
/// bytes) and the ones most tags leave unset are in [`TagExtras`].
/// Documentation-only keys (`unit`, `description`) stay in the raw
/// configuration, which the dashboards and tag export read.
#[derive(Debug, Clone)]
pub struct Tag {
    pub id: Arc<TagId>,
    pub table: Table,
    pub address: u16,
    pub data_type: DataType,
    pub order: ByteOrder,
    pub bit: Option<u8>,
    /// Registers (or bits) the tag occupies.
    pub count: u16,
    pub scale: f64,
    pub offset: f64,
    /// Range, deadband and heartbeat; `None` when the tag has none.
    pub extras: Option<Box<TagExtras>>,
    /// Read in one PLC scan of this many (`[[plc.tag]] scan_ms` ÷ the
    /// PLC's); 1 = every scan.
    pub scan_every: u32,
}

/// The rarely set part of a [`Tag`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagExtras {
    pub deadband: Option<f64>,
    pub max_interval: Option<Duration>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Tag {
    /// A plain tag: ABCD order, no bit, unscaled, no limits or deadband,
    /// and as many registers as its type takes (`length` for a string).
    /// The fields are public: set the rest with `..Tag::new(..)` and
    /// [`Tag::with_extras`].
    pub fn new(id: TagId, table: Table, address: u16, data_type: DataType, length: u16) -> Tag {
        Tag {
            id: Arc::new(id),
            table,
            address,
            data_type,
            order: ByteOrder::ABCD,
            bit: None,
            count: data_type.registers(length),
            scale: 1.0,
            offset: 0.0,
            extras: None,
            scan_every: 1,
        }
    }

    /// This tag with `extras`, kept out of line only when something is set.
    pub fn with_extras(mut self, extras: TagExtras) -> Tag {
        self.extras = (extras != TagExtras::default()).then(|| Box::new(extras));
        self
    }

    /// Integers keep integer type only when no scaling applies.
    pub fn is_scaled(&self) -> bool {
        self.scale != 1.0 || self.offset != 0.0
    }

    pub fn min(&self) -> Option<f64> {
        self.extras.as_ref().and_then(|x| x.min)
    }

    pub fn max(&self) -> Option<f64> {
        self.extras.as_ref().and_then(|x| x.max)
    }

    pub fn deadband(&self) -> Option<f64> {
        self.extras.as_ref().and_then(|x| x.deadband)
    }

    /// The heartbeat of a deadbanded tag.
    pub fn max_interval(&self) -> Option<Duration> {
        self.extras.as_ref().and_then(|x| x.max_interval)
    }
}

/// How recovery is computed: three-product needs Pb and Zn assays of both
/// concentrates, feed and tails.
#[derive(Debug, Clone)]
pub struct ThreeProductTags {
    pub feed_pb: String,
    pub feed_zn: String,
    pub conc_pb: String,
    pub conc_zn: String,
    pub zn_conc_pb: String,
    pub zn_conc_zn: String,
    pub tail_pb: String,
    pub tail_zn: String,
}

/// Ore moisture: a constant percentage or a tag giving it.
#[derive(Debug, Clone)]
pub enum Moisture {
    Constant(f64),
    Tag(String),
}

/// `[kpi]`, validated: tag references resolve to exactly one configured tag.
#[derive(Debug, Clone)]
pub struct Kpi {
    pub day_start: Time,
    pub interval: Duration,
    pub target_tpd: f64,
    pub target_oz_year: f64,
    /// Month and day the metallurgical year starts.
    pub year_start: (i8, i8),
    pub moisture: Moisture,
    pub ore_totaliser: String,
    pub totaliser_rollover: Option<f64>,
    pub ore_rate: Option<String>,
    pub mill_power: Option<String>,
    pub mill_running_kw: f64,
    pub feed_ag: String,
    pub conc_ag: String,
    pub tail_ag: String,
    pub three_product: Option<ThreeProductTags>,
    /// Zn concentrate Ag (g/t); read by the reconciled balance only.
    pub zn_conc_ag: Option<String>,
    pub reconcile: Option<Reconcile>,
    pub state_file: PathBuf,
}

/// Percent used for an assay `[kpi.reconcile] sd_rel_pct` does not name.
pub const DEFAULT_SD_REL_PCT: f64 = 5.0;

/// `[kpi.reconcile]`, validated: every balance input's tag is configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconcile {
    pub sd_rel_pct: std::collections::BTreeMap<crate::config::KpiInput, f64>,
}

impl Reconcile {
    /// The relative standard deviation of an input, %.
    pub fn sd_rel_pct(&self, input: crate::config::KpiInput) -> f64 {
        self.sd_rel_pct
            .get(&input)
            .copied()
            .unwrap_or(DEFAULT_SD_REL_PCT)
    }
}

/// A relay's whole file, validated.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    pub nats: super::settings_nats::RelayNats,
    pub influx: Influx,
    pub http_listen: Option<SocketAddr>,
}
