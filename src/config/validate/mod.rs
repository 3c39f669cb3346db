//! Pure validation: raw config in, [`Settings`] or every problem found out.
//! One module per section; each reports into the shared [`Issues`] list so a
//! user sees every mistake at once. No I/O except reading
//! `token_file`/`password_file`/`ca_file`, which is part of deciding whether
//! the config is usable.
mod http;
mod influxdb;
mod influxdb_target;
mod kpi;
mod nats;
mod overlap;
mod plc;
mod site;
mod spool;
mod tag;

use std::path::{Path, PathBuf};

use super::names;
use super::raw::RawConfig;
use super::settings::Settings;
pub(super) use plc::PlcValidator;

/// One problem: the key it concerns (`plc[1].tag[3].bit`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub key: String,
    pub reason: String,
}

#[derive(Default)]
struct Issues(Vec<Issue>);

impl Issues {
    fn add(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(Issue {
            key: key.into(),
            reason: reason.into(),
        });
    }

    /// Issues so far; a section compares before and after to know whether
    /// it may build its validated value.
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Why a file with neither sink is refused (DESIGN §10).
const NO_SINK: &str = "at least one sink is required: [influxdb] or [nats]";

/// `base_dir` resolves relative `token_file`/`ca_file` paths (the config
/// file's directory), so a service started from `/` finds them.
pub fn validate(raw: &RawConfig, base_dir: &Path) -> Result<Settings, Vec<Issue>> {
    let mut plcs = PlcValidator::default();
    for p in &raw.plc {
        plcs.push(p);
    }
    validate_with(raw, plcs, base_dir)
}

/// As [`validate`], for a file whose PLCs were validated as it was read:
/// `raw` gives every other section (its `plc` list is not looked at).
pub(super) fn validate_with(
    raw: &RawConfig,
    plcs: PlcValidator,
    base_dir: &Path,
) -> Result<Settings, Vec<Issue>> {
    let mut issues = Issues::default();
    let site = site::validate(&raw.site, &mut issues);
    let influx = raw
        .influxdb
        .as_ref()
        .and_then(|c| influxdb::validate(c, base_dir, &mut issues));
    if raw.influxdb.is_none() && raw.nats.is_none() {
        issues.add("influxdb", NO_SINK);
    }
    let spool = spool::validate(&raw.spool, base_dir, &mut issues);
    let http_listen = http::validate(&raw.http, &mut issues);
    let plcs = plcs.finish(&mut issues);
    let kpi = raw
        .kpi
        .as_ref()
        .and_then(|k| kpi::validate(k, &plcs, &spool, &mut issues));
    let nats = raw.nats.as_ref().and_then(|n| {
        let site = site.as_ref().map(|s| &*s.name);
        nats::validate_gateway(n, site, base_dir, &mut issues)
    });
    if !issues.0.is_empty() {
        return Err(issues.0);
    }
    match (site, spool) {
        (Some(site), Some(spool)) => Ok(Settings {
            site,
            influx,
            spool,
            http_listen,
            // One copy of each PLC's tag list, shared with its poller.
            plcs: plcs.into_iter().map(std::sync::Arc::new).collect(),
            kpi,
            nats,
        }),
        // Each None above pushed an issue, so this is unreachable in practice;
        // still answer with an error rather than panic.
        _ => Err(vec![Issue {
            key: "config".into(),
            reason: "invalid".into(),
        }]),
    }
}

/// A relay's file: `[nats]` (durable, filter), `[influxdb]`, `[http]`.
pub fn validate_relay(
    raw: &super::raw::RelayRawConfig,
    base_dir: &Path,
) -> Result<super::settings::RelaySettings, Vec<Issue>> {
    let mut issues = Issues::default();
    let nats = nats::validate_relay(&raw.nats, base_dir, &mut issues);
    let influx = influxdb::validate(&raw.influxdb, base_dir, &mut issues);
    let http_listen = http::validate(&raw.http, &mut issues);
    match (nats, influx) {
        (Some(nats), Some(influx)) if issues.0.is_empty() => Ok(super::settings::RelaySettings {
            nats,
            influx,
            http_listen,
        }),
        _ if !issues.0.is_empty() => Err(issues.0),
        _ => Err(vec![Issue {
            key: "config".into(),
            reason: "invalid".into(),
        }]),
    }
}

/// Measurement, field and tag values must be usable as InfluxDB identifiers.
fn check_name(issues: &mut Issues, key: &str, v: &str) {
    if let Err(e) = names::check_configured(v) {
        issues.add(key, e.to_string());
    }
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
