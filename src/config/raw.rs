//! The configuration file as written by the user (DESIGN §4), before
//! validation. Every struct denies unknown keys: a typo in a plant config
//! must fail loudly, not silently leave a tag unpolled.
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::secret::Secret;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub site: SiteConfig,
    pub influxdb: InfluxConfig,
    #[serde(default)]
    pub spool: SpoolConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub plc: Vec<PlcConfig>,
    #[serde(default)]
    pub kpi: Option<KpiConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Written as the `site` tag on every series.
    pub name: String,
    /// IANA zone for production days (America/Lima at Caylloma).
    #[serde(default = "default_timezone")]
    pub timezone: String,
}

fn default_timezone() -> String {
    "America/Lima".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InfluxApi {
    V1,
    V2,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    pub url: String,
    #[serde(default = "default_api")]
    pub api: InfluxApi,
    /// v2: organisation name.
    pub org: Option<String>,
    /// v2: bucket name.
    pub bucket: Option<String>,
    /// v2: API token. Prefer `token_file` or `PLANTGW_INFLUXDB__TOKEN`.
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    /// v1: database.
    pub database: Option<String>,
    /// v1: retention policy (server default when absent).
    pub retention_policy: Option<String>,
    /// v1: optional basic-auth user.
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    #[serde(default = "default_influx_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_true")]
    pub gzip: bool,
    /// Extra PEM CA certificate(s) trusted for an https URL (site PKI).
    pub ca_file: Option<PathBuf>,
    /// Allow a token or password over plain http to a non-loopback host.
    #[serde(default)]
    pub allow_insecure: bool,
}

fn default_api() -> InfluxApi {
    InfluxApi::V2
}
fn default_batch_size() -> usize {
    5000
}
fn default_flush_interval_ms() -> u64 {
    1000
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
    #[serde(default = "default_spool_dir")]
    pub dir: PathBuf,
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
    /// `/metrics` and `/healthz` listener; empty string disables it.
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
    pub name: String,
    pub area: String,
    /// `host:port` of the Modbus TCP server.
    pub address: String,
    #[serde(default = "default_unit_id")]
    pub unit_id: u8,
    #[serde(default = "default_scan_ms")]
    pub scan_ms: u64,
    #[serde(default = "default_plc_timeout_ms")]
    pub timeout_ms: u64,
    /// Largest run of unused registers (or bits) bridged to merge two reads.
    #[serde(default = "default_max_gap")]
    pub max_gap: u16,
    #[serde(default)]
    pub tag: Vec<TagConfig>,
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
    /// InfluxDB field.
    pub name: String,
    /// InfluxDB measurement.
    pub equipment: String,
    pub table: Table,
    /// 0-based protocol address.
    pub address: u16,
    #[serde(rename = "type")]
    pub data_type: DataType,
    pub order: Option<ByteOrder>,
    /// Bool taken from one bit (0 = least significant) of a register.
    pub bit: Option<u8>,
    /// Registers of a string (two ASCII characters each).
    pub length: Option<u16>,
    #[serde(default = "default_scale")]
    pub scale: f64,
    #[serde(default)]
    pub offset: f64,
    pub unit: Option<String>,
    pub description: Option<String>,
    /// Write only when the value moved by more than this (engineering units)…
    pub deadband: Option<f64>,
    /// …or when this long has passed since the last write (heartbeat).
    pub max_interval_ms: Option<u64>,
    /// Plausible range in engineering units; outside it the value is `out_of_range`.
    pub min: Option<f64>,
    pub max: Option<f64>,
}

fn default_scale() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KpiConfig {
    #[serde(default = "default_day_start")]
    pub day_start: String,
    #[serde(default = "default_interval_s")]
    pub interval_s: u64,
    #[serde(default = "default_target_tpd")]
    pub target_tpd: f64,
    #[serde(default = "default_target_oz_year")]
    pub target_oz_year: f64,
    #[serde(default = "default_year_start")]
    pub year_start: String,
    pub moisture_pct: Option<f64>,
    pub moisture_tag: Option<String>,
    pub ore_totaliser: String,
    pub totaliser_rollover: Option<f64>,
    pub ore_rate: Option<String>,
    pub mill_power: Option<String>,
    #[serde(default = "default_mill_running_kw")]
    pub mill_running_kw: f64,
    pub feed_ag: String,
    pub conc_ag: String,
    pub tail_ag: String,
    pub feed_pb: Option<String>,
    pub feed_zn: Option<String>,
    pub conc_pb: Option<String>,
    pub conc_zn: Option<String>,
    pub zn_conc_pb: Option<String>,
    pub zn_conc_zn: Option<String>,
    pub tail_pb: Option<String>,
    pub tail_zn: Option<String>,
    /// Where KPI state is persisted across restarts (default: next to the spool).
    pub state_file: Option<PathBuf>,
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
