//! Pure validation: raw config in, [`Settings`] or every problem found out.
//! No I/O except reading `token_file`/`password_file`, which is part of
//! deciding whether the config is usable.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::civil::Time;

use super::kpi_inputs::{three_product_keys, KPI_INPUTS};
use super::raw::*;
use super::secret::Secret;
use super::settings::*;

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
}

/// `base_dir` resolves relative `token_file`/`ca_file` paths (the config
/// file's directory), so a service started from `/` finds them.
pub fn validate(raw: &RawConfig, base_dir: &Path) -> Result<Settings, Vec<Issue>> {
    let mut issues = Issues::default();
    let site = validate_site(&raw.site, &mut issues);
    let influx = validate_influx(&raw.influxdb, base_dir, &mut issues);
    let spool = validate_spool(&raw.spool, base_dir, &mut issues);
    let http_listen = validate_http(&raw.http, &mut issues);
    let site_name: Arc<str> = Arc::from(raw.site.name.as_str());
    let mut plcs = Vec::with_capacity(raw.plc.len());
    let mut plc_names = HashSet::new();
    for (i, p) in raw.plc.iter().enumerate() {
        if !plc_names.insert(p.name.as_str()) {
            issues.add(
                format!("plc[{i}].name"),
                format!("duplicate PLC name {:?}", p.name),
            );
        }
        if let Some(plc) = validate_plc(i, p, &mut issues) {
            plcs.push(plc);
        }
    }
    if raw.plc.is_empty() {
        issues.add("plc", "no [[plc]] configured: nothing to poll");
    }
    let kpi = raw
        .kpi
        .as_ref()
        .and_then(|k| validate_kpi(k, &plcs, &spool, &mut issues));
    if !issues.0.is_empty() {
        return Err(issues.0);
    }
    match (site, influx, spool) {
        (Some(site_v), Some(influx), Some(spool)) => Ok(Settings {
            site: Site {
                name: site_name,
                ..site_v
            },
            influx,
            spool,
            http_listen,
            plcs,
            kpi,
        }),
        // Each None above pushed an issue, so this is unreachable in practice;
        // still answer with an error rather than panic.
        _ => Err(vec![Issue {
            key: "config".into(),
            reason: "invalid".into(),
        }]),
    }
}

fn validate_site(s: &SiteConfig, issues: &mut Issues) -> Option<Site> {
    check_name(issues, "site.name", &s.name);
    match jiff::tz::db().get(&s.timezone) {
        Ok(tz) => Some(Site {
            name: Arc::from(s.name.as_str()),
            timezone_name: s.timezone.clone(),
            timezone: tz,
        }),
        Err(_) => {
            issues.add(
                "site.timezone",
                format!(
                    "unknown time zone {:?} (use an IANA name such as \"America/Lima\")",
                    s.timezone
                ),
            );
            None
        }
    }
}

/// Measurement, field and tag values must be usable as InfluxDB identifiers.
fn check_name(issues: &mut Issues, key: &str, v: &str) {
    if v.trim().is_empty() {
        issues.add(key, "must not be empty");
    } else if v.starts_with('_') {
        issues.add(
            key,
            format!("{v:?}: names starting with '_' are reserved by InfluxDB"),
        );
    } else if v.chars().any(|c| c.is_control()) {
        issues.add(key, format!("{v:?} contains control characters"));
    }
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn read_secret_file(issues: &mut Issues, key: &str, path: &Path) -> Option<Secret> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let t = s.trim();
            if t.is_empty() {
                issues.add(key, format!("{} is empty", path.display()));
                None
            } else {
                Some(Secret::new(t))
            }
        }
        Err(e) => {
            issues.add(key, format!("cannot read {}: {e}", path.display()));
            None
        }
    }
}

/// One secret from either an inline value (or env override) or a file.
fn secret_from(
    issues: &mut Issues,
    key: &str,
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
    base: &Path,
) -> Option<Secret> {
    let inline = inline.as_ref().filter(|s| !s.is_empty());
    match (inline, file) {
        (Some(_), Some(_)) => {
            issues.add(
                format!("influxdb.{key}_file"),
                format!("give either {key} or {key}_file, not both"),
            );
            None
        }
        (Some(s), None) => Some(s.clone()),
        (None, Some(f)) => {
            read_secret_file(issues, &format!("influxdb.{key}_file"), &resolve(base, f))
        }
        (None, None) => None,
    }
}

fn host_is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// `url` with any `user:password@` replaced by `***@`, for messages.
fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let sep = if scheme.is_empty() { "" } else { "://" };
            format!("{scheme}{sep}***{}", &rest[at..])
        }
        None => url.to_string(),
    }
}

fn validate_influx(c: &InfluxConfig, base: &Path, issues: &mut Issues) -> Option<InfluxSettings> {
    let before = issues.0.len();
    let url = c.url.trim_end_matches('/').to_string();
    let parsed = reqwest::Url::parse(&url);
    let mut plain_remote = false;
    match &parsed {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
            if u.host_str().is_none() {
                issues.add(
                    "influxdb.url",
                    format!("{:?} has no host", without_userinfo(&url)),
                );
            }
            if u.query().is_some() || !u.username().is_empty() || u.password().is_some() {
                issues.add(
                    "influxdb.url",
                    "put credentials in token/username/password, not in the URL",
                );
            }
            plain_remote =
                u.scheme() == "http" && !u.host_str().map(host_is_loopback).unwrap_or(true);
        }
        Ok(u) => issues.add(
            "influxdb.url",
            format!("scheme {:?} is not http or https", u.scheme()),
        ),
        Err(e) => issues.add(
            "influxdb.url",
            format!("{:?} is not a URL: {e}", without_userinfo(&url)),
        ),
    }
    if c.batch_size == 0 || c.batch_size > 1_000_000 {
        issues.add("influxdb.batch_size", "must be between 1 and 1000000 lines");
    }
    if c.flush_interval_ms == 0 {
        issues.add("influxdb.flush_interval_ms", "must be > 0");
    }
    if c.timeout_ms == 0 {
        issues.add("influxdb.timeout_ms", "must be > 0");
    }
    let ca_file = c.ca_file.as_ref().map(|p| resolve(base, p));
    if let Some(p) = &ca_file {
        if !p.is_file() {
            issues.add(
                "influxdb.ca_file",
                format!("{} does not exist", p.display()),
            );
        }
    }
    let target = match c.api {
        InfluxApi::V2 => {
            for (k, v) in [
                ("database", &c.database),
                ("retention_policy", &c.retention_policy),
                ("username", &c.username),
            ] {
                if v.is_some() {
                    issues.add(
                        format!("influxdb.{k}"),
                        "is a v1 key; api = \"v2\" uses org, bucket and token",
                    );
                }
            }
            let org = c.org.clone().filter(|s| !s.is_empty());
            let bucket = c.bucket.clone().filter(|s| !s.is_empty());
            if org.is_none() {
                issues.add("influxdb.org", "required for api = \"v2\"");
            }
            if bucket.is_none() {
                issues.add("influxdb.bucket", "required for api = \"v2\"");
            }
            let token = secret_from(issues, "token", &c.token, &c.token_file, base);
            if token.is_none() && c.token_file.is_none() {
                issues.add(
                    "influxdb.token",
                    "required for api = \"v2\" (or token_file, or env PLANTGW_INFLUXDB__TOKEN)",
                );
            }
            if plain_remote && token.is_some() && !c.allow_insecure {
                issues.add(
                    "influxdb.url",
                    "refusing to send the token over plain http to a non-loopback host; use https or set allow_insecure = true",
                );
            }
            match (org, bucket, token) {
                (Some(org), Some(bucket), Some(token)) => {
                    Some(InfluxTarget::V2 { org, bucket, token })
                }
                _ => None,
            }
        }
        InfluxApi::V1 => {
            for (k, v) in [("org", &c.org), ("bucket", &c.bucket)] {
                if v.is_some() {
                    issues.add(
                        format!("influxdb.{k}"),
                        "is a v2 key; api = \"v1\" uses database and retention_policy",
                    );
                }
            }
            if c.token.is_some() || c.token_file.is_some() {
                issues.add(
                    "influxdb.token",
                    "is a v2 key; api = \"v1\" uses username and password",
                );
            }
            let database = c.database.clone().filter(|s| !s.is_empty());
            if database.is_none() {
                issues.add("influxdb.database", "required for api = \"v1\"");
            }
            let password = secret_from(issues, "password", &c.password, &c.password_file, base);
            if password.is_some() && c.username.is_none() {
                issues.add(
                    "influxdb.username",
                    "a password was given without a username",
                );
            }
            if plain_remote && password.is_some() && !c.allow_insecure {
                issues.add(
                    "influxdb.url",
                    "refusing to send the password over plain http to a non-loopback host; use https or set allow_insecure = true",
                );
            }
            database.map(|database| InfluxTarget::V1 {
                database,
                retention_policy: c.retention_policy.clone().filter(|s| !s.is_empty()),
                username: c.username.clone(),
                password,
            })
        }
    };
    if issues.0.len() > before {
        return None;
    }
    Some(InfluxSettings {
        url,
        target: target?,
        batch_size: c.batch_size,
        flush_interval: Duration::from_millis(c.flush_interval_ms),
        timeout: Duration::from_millis(c.timeout_ms),
        gzip: c.gzip,
        ca_file,
    })
}

fn validate_spool(c: &SpoolConfig, base: &Path, issues: &mut Issues) -> Option<SpoolSettings> {
    // A spool smaller than a few batches cannot hold an outage worth surviving.
    if c.max_bytes < 1 << 20 {
        issues.add(
            "spool.max_bytes",
            format!("{} is below the 1 MiB minimum", c.max_bytes),
        );
        return None;
    }
    Some(SpoolSettings {
        dir: resolve(base, &c.dir),
        max_bytes: c.max_bytes,
    })
}

fn validate_http(c: &HttpConfig, issues: &mut Issues) -> Option<SocketAddr> {
    if c.listen.is_empty() {
        return None;
    }
    match c.listen.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            issues.add("http.listen", format!("{:?} is not ip:port", c.listen));
            None
        }
    }
}

fn validate_plc(i: usize, p: &PlcConfig, issues: &mut Issues) -> Option<Plc> {
    let before = issues.0.len();
    let k = |f: &str| format!("plc[{i}].{f}");
    check_name(issues, &k("name"), &p.name);
    check_name(issues, &k("area"), &p.area);
    for (f, v) in [("name", &p.name), ("area", &p.area)] {
        if let Err(e) = crate::historian::line::check_tag_value(v) {
            issues.add(k(f), e.to_string());
        }
    }
    match p.address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
        _ => issues.add(k("address"), format!("{:?} is not host:port", p.address)),
    }
    if !(10..=3_600_000).contains(&p.scan_ms) {
        issues.add(
            k("scan_ms"),
            format!("{} is outside 10–3600000 ms", p.scan_ms),
        );
    }
    if !(10..=60_000).contains(&p.timeout_ms) {
        issues.add(
            k("timeout_ms"),
            format!("{} is outside 10–60000 ms", p.timeout_ms),
        );
    }
    if p.tag.is_empty() {
        issues.add(k("tag"), format!("PLC {:?} has no tags", p.name));
    }
    let plc_name: Arc<str> = Arc::from(p.name.as_str());
    let area: Arc<str> = Arc::from(p.area.as_str());
    let mut tags = Vec::with_capacity(p.tag.len());
    let mut ids = HashMap::new();
    for (j, t) in p.tag.iter().enumerate() {
        let key = format!("plc[{i}].tag[{j}]");
        if let Some(prev) = ids.insert((t.equipment.as_str(), t.name.as_str()), j) {
            issues.add(
                format!("{key}.name"),
                format!(
                    "{}.{} is already defined at plc[{i}].tag[{prev}]",
                    t.equipment, t.name
                ),
            );
        }
        if let Some(tag) = validate_tag(&key, t, &plc_name, &area, issues) {
            tags.push((j, tag));
        }
    }
    check_overlaps(i, &tags, issues);
    if issues.0.len() > before {
        return None;
    }
    Some(Plc {
        name: plc_name,
        area,
        address: p.address.clone(),
        unit_id: p.unit_id,
        scan: Duration::from_millis(p.scan_ms),
        timeout: Duration::from_millis(p.timeout_ms),
        max_gap: p.max_gap,
        tags: tags.into_iter().map(|(_, t)| t).collect(),
    })
}

fn validate_tag(
    key: &str,
    t: &TagConfig,
    plc: &Arc<str>,
    area: &Arc<str>,
    issues: &mut Issues,
) -> Option<Tag> {
    let before = issues.0.len();
    let k = |f: &str| format!("{key}.{f}");
    let what = format!("(tag {}.{})", t.equipment, t.name);
    check_name(issues, &k("name"), &t.name);
    check_name(issues, &k("equipment"), &t.equipment);
    // InfluxDB's own rules (reserved keys, comments, trailing backslash).
    if let Err(e) = crate::historian::line::check_measurement(&t.equipment) {
        issues.add(k("equipment"), e.to_string());
    }
    if let Err(e) = crate::historian::line::check_key(&t.equipment, "field", &t.name) {
        issues.add(k("name"), e.to_string());
    }
    let dt = t.data_type;
    if t.table.is_bits() && dt != DataType::Bool {
        issues.add(
            k("type"),
            format!(
                "{} table holds bits; type must be \"bool\", not {:?} {what}",
                t.table.as_str(),
                dt.as_str()
            ),
        );
    }
    match (dt, t.bit) {
        (DataType::Bool, None) if !t.table.is_bits() => issues.add(
            k("bit"),
            format!(
                "a bool in the {} table needs bit = 0–15 {what}",
                t.table.as_str()
            ),
        ),
        (DataType::Bool, Some(_)) if t.table.is_bits() => issues.add(
            k("bit"),
            format!("bit only applies to register tables {what}"),
        ),
        (DataType::Bool, Some(b)) if b > 15 => {
            issues.add(k("bit"), format!("bit {b} is out of range 0–15 {what}"))
        }
        (DataType::Bool, _) => {}
        (_, Some(_)) => issues.add(
            k("bit"),
            format!("bit only applies to type = \"bool\" {what}"),
        ),
        (_, None) => {}
    }
    let length = match (dt, t.length) {
        (DataType::String, None) => {
            issues.add(
                k("length"),
                format!("a string needs length (registers) {what}"),
            );
            0
        }
        (DataType::String, Some(l)) if l == 0 || l > 125 => {
            issues.add(
                k("length"),
                format!("length {l} is outside 1–125 registers {what}"),
            );
            0
        }
        (DataType::String, Some(l)) => l,
        (_, Some(_)) => {
            issues.add(
                k("length"),
                format!("length only applies to type = \"string\" {what}"),
            );
            0
        }
        (_, None) => 0,
    };
    let count = if t.table.is_bits() {
        1
    } else {
        dt.registers(length)
    };
    if t.order.is_some() && count < 2 && dt != DataType::String {
        issues.add(
            k("order"),
            format!(
                "order only applies to multi-register types, not {} {what}",
                dt.as_str()
            ),
        );
    }
    if dt == DataType::String && t.order.is_some() {
        issues.add(
            k("order"),
            format!("strings are read high byte first; order does not apply {what}"),
        );
    }
    if u32::from(t.address) + u32::from(count) > 65536 {
        issues.add(
            k("address"),
            format!(
                "{} + {count} registers runs past the last Modbus address 65535 {what}",
                t.address
            ),
        );
    }
    let numeric = !matches!(dt, DataType::Bool | DataType::String);
    if !t.scale.is_finite() || t.scale == 0.0 {
        issues.add(
            k("scale"),
            format!("{} must be finite and non-zero {what}", t.scale),
        );
    }
    if !t.offset.is_finite() {
        issues.add(k("offset"), format!("must be finite {what}"));
    }
    if !numeric && (t.scale != 1.0 || t.offset != 0.0) {
        issues.add(
            k("scale"),
            format!("scale/offset apply to numbers, not {} {what}", dt.as_str()),
        );
    }
    if !numeric && (t.min.is_some() || t.max.is_some() || t.deadband.is_some()) {
        issues.add(
            k("min"),
            format!(
                "min/max/deadband apply to numbers, not {} {what}",
                dt.as_str()
            ),
        );
    }
    for (f, v) in [("min", t.min), ("max", t.max), ("deadband", t.deadband)] {
        if v.is_some_and(|v| !v.is_finite()) {
            issues.add(k(f), format!("must be finite {what}"));
        }
    }
    if let (Some(lo), Some(hi)) = (t.min, t.max) {
        if lo >= hi {
            issues.add(
                k("max"),
                format!("max {hi} must be greater than min {lo} {what}"),
            );
        }
    }
    if t.deadband.is_some_and(|d| d < 0.0) {
        issues.add(k("deadband"), format!("must be ≥ 0 {what}"));
    }
    if let Some(ms) = t.max_interval_ms {
        if t.deadband.is_none() {
            issues.add(
                k("max_interval_ms"),
                format!("a heartbeat needs a deadband; without one every scan is written {what}"),
            );
        } else if ms == 0 {
            issues.add(k("max_interval_ms"), format!("must be > 0 {what}"));
        }
    }
    if issues.0.len() > before {
        return None;
    }
    Some(Tag {
        id: Arc::new(TagId {
            plc: plc.clone(),
            area: area.clone(),
            equipment: Arc::from(t.equipment.as_str()),
            name: Arc::from(t.name.as_str()),
        }),
        table: t.table,
        address: t.address,
        data_type: dt,
        order: t.order.unwrap_or_default(),
        bit: t.bit,
        count,
        scale: t.scale,
        offset: t.offset,
        unit: t.unit.clone(),
        deadband: t.deadband,
        // Heartbeat default: a deadbanded value is still written every minute,
        // so a flat line in Grafana is distinguishable from a dead gateway.
        max_interval: t
            .deadband
            .map(|_| Duration::from_millis(t.max_interval_ms.unwrap_or(60_000))),
        min: t.min,
        max: t.max,
    })
}

/// Two tags may share a register only as distinct bits of it.
fn check_overlaps(plc: usize, tags: &[(usize, Tag)], issues: &mut Issues) {
    let mut by_table: BTreeMap<Table, Vec<&(usize, Tag)>> = BTreeMap::new();
    for t in tags {
        by_table.entry(t.1.table).or_default().push(t);
    }
    for list in by_table.values_mut() {
        list.sort_by_key(|(_, t)| (t.address, t.count));
        // Sweep keeping the tag whose range reaches furthest so far.
        let mut reach: Option<&(usize, Tag)> = None;
        for cur in list.iter() {
            if let Some(prev) = reach {
                let prev_end = u32::from(prev.1.address) + u32::from(prev.1.count);
                if u32::from(cur.1.address) < prev_end {
                    let both_bits = prev.1.bit.is_some()
                        && cur.1.bit.is_some()
                        && prev.1.address == cur.1.address;
                    if !both_bits {
                        issues.add(
                            format!("plc[{plc}].tag[{}].address", cur.0),
                            format!(
                                "{} register {} overlaps {}.{} (plc[{plc}].tag[{}], {}..{})",
                                cur.1.table.as_str(),
                                cur.1.address,
                                prev.1.id.equipment,
                                prev.1.id.name,
                                prev.0,
                                prev.1.address,
                                prev_end - 1
                            ),
                        );
                    } else if prev.1.bit == cur.1.bit {
                        issues.add(
                            format!("plc[{plc}].tag[{}].bit", cur.0),
                            format!(
                                "bit {} of register {} is also {}.{} (plc[{plc}].tag[{}])",
                                cur.1.bit.unwrap_or(0),
                                cur.1.address,
                                prev.1.id.equipment,
                                prev.1.id.name,
                                prev.0
                            ),
                        );
                    }
                }
                let cur_end = u32::from(cur.1.address) + u32::from(cur.1.count);
                if cur_end > prev_end {
                    reach = Some(cur);
                }
            } else {
                reach = Some(cur);
            }
        }
    }
}

fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

fn parse_mmdd(s: &str) -> Option<(i8, i8)> {
    let (m, d) = s.split_once('-')?;
    let (m, d): (i8, i8) = (m.parse().ok()?, d.parse().ok()?);
    // 2024 is a leap year, so 02-29 is accepted; the engine clamps it.
    jiff::civil::Date::new(2024, m, d).ok()?;
    Some((m, d))
}

fn validate_kpi(
    k: &KpiConfig,
    plcs: &[Plc],
    spool: &Option<SpoolSettings>,
    issues: &mut Issues,
) -> Option<KpiSettings> {
    let before = issues.0.len();
    let mut paths: HashMap<String, usize> = HashMap::new();
    for p in plcs {
        for t in &p.tags {
            *paths.entry(t.id.path()).or_default() += 1;
        }
    }
    let mut check_ref = |key: &str, v: &str| match paths.get(v) {
        None => issues.add(
            format!("kpi.{key}"),
            format!("{v:?} is not a configured tag (equipment.name)"),
        ),
        Some(n) if *n > 1 => issues.add(
            format!("kpi.{key}"),
            format!("{v:?} is ambiguous: {n} PLCs have a tag with that equipment and name"),
        ),
        Some(_) => {}
    };
    for s in &KPI_INPUTS {
        if let Some(v) = k.input(s.input) {
            check_ref(s.key, v);
        }
    }
    let day_start = parse_hhmm(&k.day_start);
    if day_start.is_none() {
        issues.add("kpi.day_start", format!("{:?} is not HH:MM", k.day_start));
    }
    let year_start = parse_mmdd(&k.year_start);
    if year_start.is_none() {
        issues.add("kpi.year_start", format!("{:?} is not MM-DD", k.year_start));
    }
    if k.interval_s == 0 {
        issues.add("kpi.interval_s", "must be > 0");
    }
    for (key, v) in [
        ("target_tpd", k.target_tpd),
        ("target_oz_year", k.target_oz_year),
    ] {
        if !(v.is_finite() && v > 0.0) {
            issues.add(format!("kpi.{key}"), "must be a positive number");
        }
    }
    if !k.mill_running_kw.is_finite() || k.mill_running_kw < 0.0 {
        issues.add("kpi.mill_running_kw", "must be ≥ 0");
    }
    if let Some(r) = k.totaliser_rollover {
        if !(r.is_finite() && r > 0.0) {
            issues.add("kpi.totaliser_rollover", "must be a positive number");
        }
    }
    let moisture = match (k.moisture_pct, &k.moisture_tag) {
        (Some(_), Some(_)) => {
            issues.add(
                "kpi.moisture_tag",
                "give moisture_pct or moisture_tag, not both",
            );
            None
        }
        (Some(m), None) if !(0.0..100.0).contains(&m) => {
            issues.add("kpi.moisture_pct", format!("{m} is outside 0–100 %"));
            None
        }
        (Some(m), None) => Some(Moisture::Constant(m)),
        (None, Some(t)) => Some(Moisture::Tag(t.clone())),
        (None, None) => {
            issues.add(
                "kpi.moisture_pct",
                "plants report dry tonnes: give moisture_pct or moisture_tag",
            );
            None
        }
    };
    let given = three_product_keys()
        .filter(|s| k.input(s.input).is_some())
        .count();
    let three_product = match given {
        0 => None,
        n if n == three_product_keys().count() => Some(ThreeProductTags::from_inputs(|i| {
            k.input(i).cloned().unwrap_or_default()
        })),
        n => {
            let keys: Vec<&str> = three_product_keys().map(|s| s.key).collect();
            issues.add(
                "kpi.feed_pb",
                format!(
                    "three-product recovery needs all {} of {}; {n} given",
                    keys.len(),
                    keys.join(", ")
                ),
            );
            None
        }
    };
    if issues.0.len() > before {
        return None;
    }
    let state_file = k.state_file.clone().unwrap_or_else(|| match spool {
        Some(s) => s.dir.with_file_name("kpi-state.json"),
        None => PathBuf::from("var/kpi-state.json"),
    });
    Some(KpiSettings {
        day_start: day_start?,
        interval: Duration::from_secs(k.interval_s),
        target_tpd: k.target_tpd,
        target_oz_year: k.target_oz_year,
        year_start: year_start?,
        moisture: moisture?,
        ore_totaliser: k.ore_totaliser.clone(),
        totaliser_rollover: k.totaliser_rollover,
        ore_rate: k.ore_rate.clone(),
        mill_power: k.mill_power.clone(),
        mill_running_kw: k.mill_running_kw,
        feed_ag: k.feed_ag.clone(),
        conc_ag: k.conc_ag.clone(),
        tail_ag: k.tail_ag.clone(),
        three_product,
        state_file,
    })
}
