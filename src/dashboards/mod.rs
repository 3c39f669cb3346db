//! Grafana dashboards for a gateway configuration (`plantgw dashboards`),
//! so the area dashboards trend exactly the configured tags:
//!
//! - [`overview`]: the `kpi` / `kpi_daily` series against the `[kpi]`
//!   targets, and PLC status;
//! - [`area`]: one dashboard per PLC area (Crushing, Grinding, Flotation at
//!   Caylloma), a row per equipment, a panel per unit;
//! - [`health`]: `plc_status`, `tag_quality`, `gateway_status`.
//!
//! Every query is raw InfluxQL ([`influxql`]) against the provisioned data
//! source ([`grafana::DS_UID`]) and filters on `$site`, `$plc` (where the
//! series has a `plc` tag) and `$timeFilter`; aggregates are grouped by
//! `$__interval`. Generation is pure and deterministic: the same
//! configuration gives the same bytes, which is how the shipped
//! `grafana/dashboards/` is kept equal to `config/caylloma.toml`'s output.
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::{RawConfig, TagConfig};

mod area;
pub mod grafana;
mod health;
pub mod influxql;
mod overview;

pub use grafana::DS_UID;

/// One dashboard: its file name and its JSON.
pub struct Dashboard {
    pub file: String,
    pub json: Value,
}

impl Dashboard {
    /// The file's text: pretty JSON with a final newline.
    pub fn render(&self) -> Result<String, DashboardsError> {
        serde_json::to_string_pretty(&self.json)
            .map(|s| s + "\n")
            .map_err(|e| DashboardsError::Encode {
                file: self.file.clone(),
                reason: e.to_string(),
            })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DashboardsError {
    #[error("{file}: cannot encode as JSON: {reason}")]
    Encode { file: String, reason: String },
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The overview, one dashboard per area (in the order areas first appear
/// among the PLCs), and gateway health.
pub fn generate(cfg: &RawConfig) -> Vec<Dashboard> {
    let tz = cfg.site.timezone.as_str();
    let mut out = vec![Dashboard {
        file: "plantgw-overview.json".into(),
        json: overview::overview(cfg, tz),
    }];
    let mut areas: Vec<&str> = Vec::new();
    for p in &cfg.plc {
        if !areas.contains(&p.area.as_str()) {
            areas.push(&p.area);
        }
    }
    for area in areas {
        let tags: Vec<&TagConfig> = cfg
            .plc
            .iter()
            .filter(|p| p.area == area)
            .flat_map(|p| p.tag.iter())
            .collect();
        out.push(Dashboard {
            file: format!("plantgw-area-{area}.json"),
            json: area::area_dashboard(area, &tags, tz),
        });
    }
    out.push(Dashboard {
        file: "plantgw-gateway-health.json".into(),
        json: health::gateway_health(tz),
    });
    out
}

/// Writes every dashboard of `cfg` into `dir` (created if missing) and
/// returns the paths written. Files of other names in `dir` are left alone.
pub fn write_all(cfg: &RawConfig, dir: &Path) -> Result<Vec<PathBuf>, DashboardsError> {
    std::fs::create_dir_all(dir).map_err(|source| DashboardsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for d in generate(cfg) {
        let text = d.render()?;
        let path = dir.join(&d.file);
        std::fs::write(&path, text).map_err(|source| DashboardsError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// `Mill feed belt` from `mill_feed_belt`.
fn humanize(s: &str) -> String {
    let words = s.replace('_', " ");
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A panel title from a tag's description, cut at its first `:` or `,`
/// when long (the whole description is the panel's description).
fn short_title(t: &TagConfig) -> String {
    let Some(d) = t.description.as_deref() else {
        return humanize(&t.name);
    };
    if d.chars().count() <= 48 {
        return d.to_string();
    }
    match d.find([':', ',']) {
        Some(i) if i >= 10 => d[..i].to_string(),
        _ => humanize(&t.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_capitalises_and_spaces() {
        assert_eq!(humanize("mill_feed_belt"), "Mill feed belt");
        assert_eq!(humanize(""), "");
    }
}
