//! `plantgw check`: the validated configuration and poll plan as a report,
//! for people (text) and scripts (JSON). Secrets appear only as "set".
//! Each configured sink is described; `[nats]` in [`nats`].
//!
//! Where InfluxDB (1.x) is reachable it also compares each tag's field type
//! with what InfluxDB already holds (`SHOW FIELD KEYS`): a tag given a
//! `scale`, or a new `type`, can turn an integer field into a float one,
//! which InfluxDB refuses for as long as the old shard lives.
use std::time::Duration;

use serde::Serialize;

use crate::config::{DataType, Influx, InfluxTarget, LinkKind, Plc, Settings, Tag};
use crate::sink::influxdb::QueryClient;
use crate::source::modbus::planner::{lower_bound, plan_limited};

pub mod nats;

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub site: String,
    pub timezone: String,
    /// `None` on a gateway whose only sink is `[nats]`.
    pub influxdb: Option<InfluxSummary>,
    pub nats: Option<nats::NatsSummary>,
    /// The writer's batch bounds (from `[influxdb]`, or the defaults).
    pub batching: BatchSummary,
    pub plcs: Vec<PlcPlan>,
    pub tags: usize,
    pub requests_per_cycle: usize,
    pub kpi: bool,
    /// Filled in by [`field_types`] when InfluxDB was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_types: Option<FieldTypeCheck>,
}

/// Configured field types against those InfluxDB holds.
#[derive(Debug, Serialize)]
pub struct FieldTypeCheck {
    /// What was compared, or why nothing was.
    pub note: String,
    pub conflicts: Vec<FieldTypeConflict>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldTypeConflict {
    pub measurement: String,
    pub field: String,
    /// equipment.name of the tag.
    pub tag: String,
    /// What the gateway will write.
    pub configured: &'static str,
    /// What InfluxDB holds.
    pub stored: String,
}

impl FieldTypeConflict {
    /// The conflict and its fix, in one line.
    pub fn explain(&self) -> String {
        format!(
            "field \"{}\" of measurement \"{}\" (tag {}) is configured as {} but InfluxDB holds it as {} \
             (a changed scale, offset or type?); InfluxDB will refuse these values and the gateway \
             will leave the field out of the lines. Fix: rename the tag (a new field), or write to a \
             new measurement or database; or undo the change",
            self.field, self.measurement, self.tag, self.configured, self.stored
        )
    }
}

/// The InfluxDB field type a tag's values get (DESIGN §5): unscaled
/// integers stay integers, scaled ones become floats.
pub fn field_type(tag: &Tag) -> &'static str {
    match tag.data_type {
        DataType::Bool => "boolean",
        DataType::String => "string",
        DataType::F32 | DataType::F64 => "float",
        _ if tag.is_scaled() => "float",
        _ => "integer",
    }
}

/// Longest wait for InfluxDB when checking: `check` must answer promptly
/// even when InfluxDB is away.
const FIELD_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// At start-up: the same comparison as `plantgw check`, as warnings. Runs
/// beside the gateway and never holds it up.
pub async fn warn_field_type_conflicts(s: Settings) {
    let check = field_types(&s).await;
    if check.conflicts.is_empty() {
        tracing::debug!(note = %check.note, "field types");
    }
    for c in &check.conflicts {
        tracing::warn!("{}", c.explain());
    }
}

/// Asks InfluxDB (v1 API) for its field keys and lists every tag whose
/// field type differs. Never fails: an unreachable InfluxDB, a v2 target
/// or no `[influxdb]` gives a note and no conflicts.
pub async fn field_types(s: &Settings) -> FieldTypeCheck {
    let none = |note: String| FieldTypeCheck {
        note,
        conflicts: Vec::new(),
    };
    let Some(influx) = &s.influx else {
        return none("field types not checked: no [influxdb]".into());
    };
    if matches!(influx.target, InfluxTarget::V2 { .. }) {
        return none("field types not checked: needs the v1 query API (api = \"v1\")".into());
    }
    let url = &influx.url;
    let mut influx = influx.clone();
    influx.timeout = influx.timeout.min(FIELD_CHECK_TIMEOUT);
    let q = match QueryClient::new(&influx) {
        Ok(q) => q,
        Err(e) => return none(format!("field types not checked: {e}")),
    };
    let series = match q.query("SHOW FIELD KEYS").await {
        Ok(series) => series,
        Err(e) => {
            return none(format!(
                "field types not checked: InfluxDB at {url} did not answer: {e}"
            ))
        }
    };
    let mut stored = std::collections::HashMap::new();
    for m in &series {
        let (Some(k), Some(t)) = (m.column("fieldKey"), m.column("fieldType")) else {
            continue;
        };
        for row in &m.values {
            if let (Some(k), Some(t)) = (
                row.get(k).and_then(|v| v.as_str()),
                row.get(t).and_then(|v| v.as_str()),
            ) {
                stored.insert((m.name.clone(), k.to_string()), t.to_string());
            }
        }
    }
    let mut conflicts = Vec::new();
    for tag in s.plcs.iter().flat_map(|p| &p.tags) {
        let key = (tag.id.equipment.to_string(), tag.id.name.to_string());
        let configured = field_type(tag);
        if let Some(held) = stored.get(&key).filter(|held| held.as_str() != configured) {
            conflicts.push(FieldTypeConflict {
                measurement: key.0,
                field: key.1,
                tag: tag.id.path(),
                configured,
                stored: held.clone(),
            });
        }
    }
    FieldTypeCheck {
        note: format!(
            "field types compared with InfluxDB: {} conflict(s) among {} stored fields",
            conflicts.len(),
            stored.len()
        ),
        conflicts,
    }
}

#[derive(Debug, Serialize)]
pub struct InfluxSummary {
    pub url: String,
    pub api: &'static str,
    /// v2 org/bucket or v1 database/retention policy.
    pub target: String,
    pub credentials: &'static str,
    pub gzip: bool,
    pub batch_size: usize,
    pub flush_interval_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct BatchSummary {
    pub batch_size: usize,
    pub flush_interval_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct PlcPlan {
    pub name: String,
    pub area: String,
    pub address: String,
    pub unit_id: u8,
    /// The connection the PLC's requests travel on, and the PLCs sharing it.
    pub line: LinePlan,
    pub scan_ms: u64,
    pub timeout_ms: u64,
    pub max_gap: u16,
    pub tags: usize,
    pub requests: Vec<RequestPlan>,
    pub lower_bound: usize,
}

#[derive(Debug, Serialize)]
pub struct LinePlan {
    /// `tcp://host:port`, `rtu_over_tcp://host:port` or `rtu:///dev/ttyX`.
    pub connection: String,
    /// Serial settings (`19200 8E1`), for `rtu`.
    pub serial: Option<String>,
    /// Other PLCs whose requests are serialised on the same connection.
    pub shared_with: Vec<String>,
    pub request_gap_ms: u64,
    pub max_registers: u16,
}

fn line_plan(p: &Plc, all: &[std::sync::Arc<Plc>]) -> LinePlan {
    LinePlan {
        connection: p.line_key(),
        serial: match &p.link.transport {
            LinkKind::Rtu(line) => Some(line.to_string()),
            _ => None,
        },
        shared_with: all
            .iter()
            .filter(|q| q.name != p.name && q.line_key() == p.line_key())
            .map(|q| format!("{} (unit {})", q.name, q.unit_id))
            .collect(),
        request_gap_ms: p.link.request_gap.as_millis() as u64,
        max_registers: p.link.max_registers,
    }
}

#[derive(Debug, Serialize)]
pub struct RequestPlan {
    /// The scan class: how often this request is sent.
    pub scan_ms: u64,
    pub table: &'static str,
    pub start: u16,
    pub count: u16,
    pub tags: Vec<String>,
}

pub fn report(s: &Settings) -> CheckReport {
    let plcs: Vec<PlcPlan> = s
        .plcs
        .iter()
        .map(|p| PlcPlan {
            name: p.name.to_string(),
            area: p.area.to_string(),
            address: p.address.clone(),
            unit_id: p.unit_id,
            line: line_plan(p, &s.plcs),
            scan_ms: p.scan.as_millis() as u64,
            timeout_ms: p.timeout.as_millis() as u64,
            max_gap: p.max_gap,
            tags: p.tags.len(),
            requests: plan_limited(&p.tags, p.max_gap, p.link.max_registers)
                .blocks
                .iter()
                .map(|b| RequestPlan {
                    scan_ms: p.scan.as_millis() as u64
                        * u64::from(b.tags.first().map_or(1, |&i| p.tags[i].scan_every)),
                    table: b.table.as_str(),
                    start: b.start,
                    count: b.count,
                    tags: b.tags.iter().map(|&i| p.tags[i].id.path()).collect(),
                })
                .collect(),
            lower_bound: lower_bound(&p.tags),
        })
        .collect();
    let batching = s.batching();
    CheckReport {
        site: s.site.name.to_string(),
        timezone: s.site.timezone_name.clone(),
        influxdb: s.influx.as_ref().map(influx_summary),
        nats: s.nats.as_ref().map(nats::summary),
        batching: BatchSummary {
            batch_size: batching.batch_size,
            flush_interval_ms: batching.flush_interval.as_millis() as u64,
        },
        tags: plcs.iter().map(|p| p.tags).sum(),
        requests_per_cycle: plcs.iter().map(|p| p.requests.len()).sum(),
        plcs,
        kpi: s.kpi.is_some(),
        field_types: None,
    }
}

fn influx_summary(i: &Influx) -> InfluxSummary {
    let (target, credentials) = match &i.target {
        InfluxTarget::V2 { org, bucket, .. } => (format!("org={org} bucket={bucket}"), "token set"),
        InfluxTarget::V1 {
            database,
            retention_policy,
            username,
            password,
        } => (
            format!(
                "database={database} retention_policy={}",
                retention_policy.as_deref().unwrap_or("(default)")
            ),
            match (username, password) {
                (Some(_), Some(_)) => "username and password set",
                (Some(_), None) => "username set, no password",
                _ => "none",
            },
        ),
    };
    InfluxSummary {
        url: i.url.clone(),
        api: match i.target {
            InfluxTarget::V1 { .. } => "v1",
            InfluxTarget::V2 { .. } => "v2",
        },
        target,
        credentials,
        gzip: i.gzip,
        batch_size: i.batch_size,
        flush_interval_ms: i.flush_interval.as_millis() as u64,
    }
}

impl CheckReport {
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "site {} ({}): {} PLCs, {} tags, {} requests per scan cycle; KPIs {}",
            self.site,
            self.timezone,
            self.plcs.len(),
            self.tags,
            self.requests_per_cycle,
            if self.kpi { "on" } else { "off" }
        );
        match &self.influxdb {
            Some(i) => {
                let _ = writeln!(
                    o,
                    "influxdb {} api {} {} ({}), gzip {}, batch {} lines / {} ms",
                    i.url,
                    i.api,
                    i.target,
                    i.credentials,
                    if i.gzip { "on" } else { "off" },
                    i.batch_size,
                    i.flush_interval_ms
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "no [influxdb]: records go to [nats] only, in batches of at most {} lines / {} ms (the defaults)",
                    self.batching.batch_size, self.batching.flush_interval_ms
                );
            }
        }
        if let Some(n) = &self.nats {
            o.push_str(&n.to_text());
        }
        for p in &self.plcs {
            let _ = writeln!(
                o,
                "\nplc {} (area {}) {} unit {}: scan {} ms, timeout {} ms, max_gap {}, {} tags in {} requests (lower bound {})",
                p.name,
                p.area,
                p.address,
                p.unit_id,
                p.scan_ms,
                p.timeout_ms,
                p.max_gap,
                p.tags,
                p.requests.len(),
                p.lower_bound
            );
            let l = &p.line;
            let _ = writeln!(
                o,
                "  line {}{}: {}; request gap {} ms, at most {} registers per request",
                l.connection,
                l.serial
                    .as_deref()
                    .map(|s| format!(" {s}"))
                    .unwrap_or_default(),
                if l.shared_with.is_empty() {
                    "its own connection".to_string()
                } else {
                    format!(
                        "shared with {}, requests one at a time",
                        l.shared_with.join(", ")
                    )
                },
                l.request_gap_ms,
                l.max_registers
            );
            let _ = writeln!(o, "  {:<9} {:>5} {:>5}  tags", "table", "start", "count");
            let mut class = p.scan_ms;
            for r in &p.requests {
                // The plan is grouped by scan class, the PLC's own first.
                if r.scan_ms != class {
                    class = r.scan_ms;
                    let _ = writeln!(o, "  scan class {class} ms:");
                }
                let _ = writeln!(
                    o,
                    "  {:<9} {:>5} {:>5}  {}",
                    r.table,
                    r.start,
                    r.count,
                    r.tags.join(", ")
                );
            }
        }
        if let Some(f) = &self.field_types {
            let _ = writeln!(o, "\n{}", f.note);
            for c in &f.conflicts {
                let _ = writeln!(o, "  conflict: {}", c.explain());
            }
        }
        o
    }
}
