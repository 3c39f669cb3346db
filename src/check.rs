//! `plantgw check`: the validated configuration and poll plan as a report,
//! for people (text) and scripts (JSON). Secrets appear only as "set".
use serde::Serialize;

use crate::config::{InfluxTarget, Settings};
use crate::modbus::planner::{lower_bound, plan};

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub site: String,
    pub timezone: String,
    pub influxdb: InfluxSummary,
    pub plcs: Vec<PlcPlan>,
    pub tags: usize,
    pub requests_per_cycle: usize,
    pub kpi: bool,
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
pub struct PlcPlan {
    pub name: String,
    pub area: String,
    pub address: String,
    pub unit_id: u8,
    pub scan_ms: u64,
    pub timeout_ms: u64,
    pub max_gap: u16,
    pub tags: usize,
    pub requests: Vec<RequestPlan>,
    pub lower_bound: usize,
}

#[derive(Debug, Serialize)]
pub struct RequestPlan {
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
            scan_ms: p.scan.as_millis() as u64,
            timeout_ms: p.timeout.as_millis() as u64,
            max_gap: p.max_gap,
            tags: p.tags.len(),
            requests: plan(&p.tags, p.max_gap)
                .blocks
                .iter()
                .map(|b| RequestPlan {
                    table: b.table.as_str(),
                    start: b.start,
                    count: b.count,
                    tags: b.tags.iter().map(|&i| p.tags[i].id.path()).collect(),
                })
                .collect(),
            lower_bound: lower_bound(&p.tags),
        })
        .collect();
    let (target, credentials) = match &s.influx.target {
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
    CheckReport {
        site: s.site.name.to_string(),
        timezone: s.site.timezone_name.clone(),
        influxdb: InfluxSummary {
            url: s.influx.url.clone(),
            api: match s.influx.target {
                InfluxTarget::V1 { .. } => "v1",
                InfluxTarget::V2 { .. } => "v2",
            },
            target,
            credentials,
            gzip: s.influx.gzip,
            batch_size: s.influx.batch_size,
            flush_interval_ms: s.influx.flush_interval.as_millis() as u64,
        },
        tags: plcs.iter().map(|p| p.tags).sum(),
        requests_per_cycle: plcs.iter().map(|p| p.requests.len()).sum(),
        plcs,
        kpi: s.kpi.is_some(),
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
        let i = &self.influxdb;
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
            let _ = writeln!(o, "  {:<9} {:>5} {:>5}  tags", "table", "start", "count");
            for r in &p.requests {
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
        o
    }
}
