//! The configuration file as written by the user (DESIGN §4), before
//! validation. Every struct denies unknown keys: a typo in a plant config
//! must fail loudly, not silently leave a tag unpolled.
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::secret::Secret;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[site]`: the plant's name and time zone. Required.
    pub site: SiteConfig,
    /// `[influxdb]`: where points are written. Required unless `[nats]`
    /// is given: a gateway needs at least one sink (DESIGN §10).
    #[serde(default)]
    pub influxdb: Option<InfluxConfig>,
    /// `[spool]`: the durable store-and-forward buffer (defaults apply when
    /// the section is absent).
    #[serde(default)]
    pub spool: SpoolConfig,
    /// `[http]`: the `/metrics` and `/healthz` listener (on by default).
    #[serde(default)]
    pub http: HttpConfig,
    /// `[[plc]]`: the Modbus TCP servers to poll; at least one is required.
    #[serde(default)]
    pub plc: Vec<PlcConfig>,
    /// `[kpi]`: production-day KPIs; absent means no KPI engine.
    #[serde(default)]
    pub kpi: Option<KpiConfig>,
    /// `[nats]`: a JetStream stream as a second sink, or the only one
    /// (DESIGN §10).
    #[serde(default)]
    pub nats: Option<super::raw_nats::NatsConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Written as the `site` tag on every series. Required.
    pub name: String,
    /// IANA zone production days are counted in. Default `America/Lima`
    /// (Caylloma).
    #[serde(default = "default_timezone")]
    pub timezone: String,
}

fn default_timezone() -> String {
    "America/Lima".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InfluxApi {
    /// InfluxDB 1.x `/write`: database, retention policy, basic auth.
    V1,
    /// InfluxDB 2.x `/api/v2/write`: org, bucket, token.
    V2,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    /// Base URL, `http://host:8086` or `https://…`, without credentials or
    /// query. Required.
    pub url: String,
    /// Write API: `v2` (org/bucket/token) or `v1`
    /// (database/retention_policy/username/password). Default `v2`.
    #[serde(default = "default_api")]
    pub api: InfluxApi,
    /// v2: organisation name. Required with `api = "v2"`.
    pub org: Option<String>,
    /// v2: bucket name. Required with `api = "v2"`.
    pub bucket: Option<String>,
    /// v2: API token, sent as `Authorization: Token …`. Prefer `token_file`
    /// or `PLANTGW_INFLUXDB__TOKEN`; one of the three is required with v2.
    pub token: Option<Secret>,
    /// v2: file holding the token (trimmed); instead of `token`. Relative to
    /// the config file.
    pub token_file: Option<PathBuf>,
    /// v1: database name. Required with `api = "v1"`.
    pub database: Option<String>,
    /// v1: retention policy. Default: the database's default policy.
    pub retention_policy: Option<String>,
    /// v1: basic-auth user. Default: none (no authentication).
    pub username: Option<String>,
    /// v1: basic-auth password; needs `username`. Prefer `password_file` or
    /// `PLANTGW_INFLUXDB__PASSWORD`. Default: none.
    pub password: Option<Secret>,
    /// v1: file holding the password (trimmed); instead of `password`.
    /// Relative to the config file.
    pub password_file: Option<PathBuf>,
    /// Most lines per write request, 1–1000000. Default 5000.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// A partial batch is written after this many milliseconds. Default 1000.
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// Per HTTP request, in milliseconds. Default 5000.
    #[serde(default = "default_influx_timeout_ms")]
    pub timeout_ms: u64,
    /// Gzip request bodies. Default true.
    #[serde(default = "default_true")]
    pub gzip: bool,
    /// Extra PEM CA certificate(s) trusted for an https URL (site PKI).
    /// Relative to the config file. Default: none.
    pub ca_file: Option<PathBuf>,
    /// Allow a token or password over plain http to a non-loopback host,
    /// which is refused otherwise. Default false.
    #[serde(default)]
    pub allow_insecure: bool,
}

fn default_api() -> InfluxApi {
    InfluxApi::V2
}
/// `batch_size` when not given, and the writer's batch bound when there is
/// no `[influxdb]` at all.
pub(crate) const DEFAULT_BATCH_SIZE: usize = 5000;
/// `flush_interval_ms` when not given, as [`DEFAULT_BATCH_SIZE`].
pub(crate) const DEFAULT_FLUSH_INTERVAL_MS: u64 = 1000;

fn default_batch_size() -> usize {
    DEFAULT_BATCH_SIZE
}
fn default_flush_interval_ms() -> u64 {
    DEFAULT_FLUSH_INTERVAL_MS
}
fn default_influx_timeout_ms() -> u64 {
    5000
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// Directory of append-only segment files; data leaves it only after
    /// InfluxDB accepted it. Relative to the config file. Default
    /// `var/spool`.
    #[serde(default = "default_spool_dir")]
    pub dir: PathBuf,
    /// Bound on the spool in bytes, at least 1 MiB; when full the oldest data
    /// is dropped, counted and logged. Default 1 GiB.
    #[serde(default = "default_spool_max_bytes")]
    pub max_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: default_spool_dir(),
            max_bytes: default_spool_max_bytes(),
        }
    }
}

fn default_spool_dir() -> PathBuf {
    PathBuf::from("var/spool")
}
fn default_spool_max_bytes() -> u64 {
    1 << 30
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `ip:port` of the `/metrics` and `/healthz` listener; `""` disables
    /// it. Default `127.0.0.1:9464`.
    #[serde(default = "default_listen")]
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:9464".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlcConfig {
    /// Written as the `plc` tag on the PLC's series; unique. Required.
    pub name: String,
    /// Written as the `area` tag on the PLC's series. Required.
    pub area: String,
    /// How requests reach the unit: `tcp` (Modbus TCP), `rtu_over_tcp`
    /// (RTU frames through a serial gateway's TCP port) or `rtu` (a serial
    /// line on `device`). Default `tcp`.
    #[serde(default)]
    pub transport: TransportKind,
    /// `host:port` of the Modbus TCP server or serial gateway. Required with
    /// `tcp` and `rtu_over_tcp`; PLCs with the same address share one
    /// connection.
    #[serde(default)]
    pub address: String,
    /// `rtu`: the serial device, e.g. `/dev/ttyUSB0`. PLCs on the same
    /// device share the line and must agree on its settings.
    pub device: Option<String>,
    /// `rtu`: bits per second. Default 19200.
    pub baud: Option<u32>,
    /// `rtu`: `N`, `E` or `O`. Default `E` (the Modbus default).
    pub parity: Option<String>,
    /// `rtu`: 7 or 8. Default 8.
    pub data_bits: Option<u8>,
    /// `rtu`: 1 or 2. Default 1.
    pub stop_bits: Option<u8>,
    /// Pause between two requests on the connection, in milliseconds,
    /// 0–10000; for devices (or gateways) that need time between requests.
    /// Default 0.
    #[serde(default)]
    pub request_gap_ms: u64,
    /// Registers per read request, 1–125; some devices accept fewer.
    /// Default 125.
    #[serde(default = "default_max_registers")]
    pub max_registers: u16,
    /// Modbus unit id, checked in every answer. Default 1.
    #[serde(default = "default_unit_id")]
    pub unit_id: u8,
    /// Scan period in milliseconds, 10–3600000; scans are aligned to
    /// multiples of it and never drift. Default 1000.
    #[serde(default = "default_scan_ms")]
    pub scan_ms: u64,
    /// Per connect and per request, in milliseconds, 10–60000. Default 1000.
    #[serde(default = "default_plc_timeout_ms")]
    pub timeout_ms: u64,
    /// Largest run of unused registers (or bits) bridged to merge two reads;
    /// 0 merges only adjacent tags. Default 16.
    #[serde(default = "default_max_gap")]
    pub max_gap: u16,
    /// `[[plc.tag]]`: the values read from this PLC; at least one.
    #[serde(default)]
    pub tag: Vec<TagConfig>,
}

fn default_max_registers() -> u16 {
    125
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    #[default]
    Tcp,
    RtuOverTcp,
    Rtu,
}

fn default_unit_id() -> u8 {
    1
}
fn default_scan_ms() -> u64 {
    1000
}
fn default_plc_timeout_ms() -> u64 {
    1000
}
fn default_max_gap() -> u16 {
    16
}

// The wire vocabulary is shared with the simulator; these paths stay
// the gateway's public names for it.
pub use plantgw_core::register::{ByteOrder, DataType, Table};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TagConfig {
    /// InfluxDB field; `equipment.name` is unique within a PLC. Required.
    pub name: String,
    /// InfluxDB measurement. Required.
    pub equipment: String,
    /// Modbus table: `coil`, `discrete`, `input` or `holding`. Required.
    pub table: Table,
    /// 0-based protocol address of the first register (or bit). Required.
    pub address: u16,
    /// `bool u16 i16 u32 i32 u64 i64 f32 f64 string` (coil and discrete:
    /// `bool` only). Written `type` in the file. Required.
    #[serde(rename = "type")]
    pub data_type: DataType,
    /// Multi-register byte order: `ABCD` big-endian, `CDAB` word-swapped,
    /// `BADC` byte-swapped, `DCBA` little-endian. Default `ABCD`.
    pub order: Option<ByteOrder>,
    /// For a `bool` in a register table: the bit, 0–15 (0 = least
    /// significant). Required there, refused elsewhere.
    pub bit: Option<u8>,
    /// Registers of a `string`, 1–125 (two ASCII characters each, NUL and
    /// space padding trimmed). Required for strings, refused elsewhere.
    pub length: Option<u16>,
    /// value = raw × scale + offset; a scaled integer is written as a float.
    /// Default 1.
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// Added after `scale`, in engineering units. Default 0.
    #[serde(default)]
    pub offset: f64,
    /// Engineering unit, documentation only (Grafana, tag export). Default:
    /// none.
    pub unit: Option<String>,
    /// Free text, documentation only (Grafana, tag export). Default: none.
    pub description: Option<String>,
    /// Write only when the value moved by more than this (engineering
    /// units)… Default: none (every scan is written).
    pub deadband: Option<f64>,
    /// …or when this many milliseconds passed since the last write
    /// (heartbeat); needs `deadband`. Default 60000 with a deadband.
    pub max_interval_ms: Option<u64>,
    /// A slower scan class for this tag: read every `scan_ms` milliseconds,
    /// a multiple of the PLC's `scan_ms`. Default: every PLC scan.
    pub scan_ms: Option<u64>,
    /// Lower end of the plausible range in engineering units; below it the
    /// value is `out_of_range` and not written. Default: none.
    pub min: Option<f64>,
    /// Upper end of the plausible range, greater than `min`. Default: none.
    pub max: Option<f64>,
}

fn default_scale() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KpiConfig {
    /// Production day start, `HH:MM` site local time. Default `07:00`.
    #[serde(default = "default_day_start")]
    pub day_start: String,
    /// A `kpi` row every this many seconds of plant time. Default 60.
    #[serde(default = "default_interval_s")]
    pub interval_s: u64,
    /// Dry tonnes per day target, written next to the actuals. Default 700.
    #[serde(default = "default_target_tpd")]
    pub target_tpd: f64,
    /// Silver ounces per metallurgical year target. Default 1,900,000.
    #[serde(default = "default_target_oz_year")]
    pub target_oz_year: f64,
    /// First day of the metallurgical year, `MM-DD` (year-to-date ounces).
    /// Default `01-01`.
    #[serde(default = "default_year_start")]
    pub year_start: String,
    /// Constant ore moisture in %, 0–100, for dry = wet × (1 − moisture/100).
    /// This or `moisture_tag` is required.
    pub moisture_pct: Option<f64>,
    /// Tag (`equipment.name`) giving ore moisture in %; instead of
    /// `moisture_pct`.
    pub moisture_tag: Option<String>,
    /// Tag (`equipment.name`) of the belt-scale totaliser, wet tonnes.
    /// Required.
    pub ore_totaliser: String,
    /// Where the totaliser wraps (4294967.296 for a u32 with 3 decimals).
    /// Default: none (no wrap expected).
    pub totaliser_rollover: Option<f64>,
    /// Tag of the belt-scale rate (t/h): cross-check, and fallback while the
    /// totaliser is bad. Default: none.
    pub ore_rate: Option<String>,
    /// Tag of the mill power (kW) for availability. Default: none.
    pub mill_power: Option<String>,
    /// Availability counts time with mill power above this many kW. Default
    /// 100.
    #[serde(default = "default_mill_running_kw")]
    pub mill_running_kw: f64,
    /// Tag of the feed Ag assay (g/t), for two-product recovery to the
    /// Pb-Ag concentrate. Required.
    pub feed_ag: String,
    /// Tag of the Pb-Ag concentrate Ag assay (g/t). Required.
    pub conc_ag: String,
    /// Tag of the tailings Ag assay (g/t). Required.
    pub tail_ag: String,
    /// Three-product recovery: tag of the feed Pb assay (%). This and the
    /// seven keys below are given all together or not at all. Default: none.
    pub feed_pb: Option<String>,
    /// Three-product recovery: tag of the feed Zn assay (%).
    pub feed_zn: Option<String>,
    /// Three-product recovery: tag of the Pb concentrate Pb assay (%).
    pub conc_pb: Option<String>,
    /// Three-product recovery: tag of the Pb concentrate Zn assay (%).
    pub conc_zn: Option<String>,
    /// Three-product recovery: tag of the Zn concentrate Pb assay (%).
    pub zn_conc_pb: Option<String>,
    /// Three-product recovery: tag of the Zn concentrate Zn assay (%).
    pub zn_conc_zn: Option<String>,
    /// Three-product recovery: tag of the tailings Pb assay (%).
    pub tail_pb: Option<String>,
    /// Three-product recovery: tag of the tailings Zn assay (%).
    pub tail_zn: Option<String>,
    /// Tag of the Zn concentrate Ag assay (g/t), for the reconciled
    /// balance. Default: none.
    pub zn_conc_ag: Option<String>,
    /// `[kpi.reconcile]`: reconcile each closed day's flotation balance.
    /// Default: off.
    pub reconcile: Option<ReconcileConfig>,
    /// Where KPI state is persisted across restarts. Default
    /// `kpi-state.json` next to the spool directory.
    pub state_file: Option<PathBuf>,
}

/// `[kpi.reconcile]` (DESIGN §10): needs the three-product keys,
/// `zn_conc_ag`, and `tail_ag` naming the final tailings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    /// Relative standard deviation in % of each assay, keyed like the
    /// `[kpi]` assay keys (`feed_ag = 5.0`). Default 5 % for a key not given.
    #[serde(default)]
    pub sd_rel_pct: std::collections::BTreeMap<String, f64>,
}

fn default_day_start() -> String {
    "07:00".into()
}
fn default_interval_s() -> u64 {
    60
}
fn default_target_tpd() -> f64 {
    700.0
}
fn default_target_oz_year() -> f64 {
    1_900_000.0
}
fn default_year_start() -> String {
    "01-01".into()
}
fn default_mill_running_kw() -> f64 {
    100.0
}

/// A relay's file: `[nats]`, `[influxdb]` and optional `[http]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelayRawConfig {
    pub nats: super::raw_nats::NatsConfig,
    pub influxdb: InfluxConfig,
    #[serde(default)]
    pub http: HttpConfig,
}
