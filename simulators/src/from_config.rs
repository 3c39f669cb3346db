//! Reading a plantgw configuration (TOML) as a register map to serve.
//!
//! Lenient on purpose: only `[[plc]]` (name, area, address, unit_id,
//! scan_ms, timeout_ms) and `[[plc.tag]]` keys are read, everything else is
//! ignored, so any gateway config — including ones with sections this crate
//! has never heard of — can be served. Tags named like Caylloma tags get the
//! plant model's values; others get plausible stand-ins (see
//! [`crate::synthetic`]).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::map::{MapKind, PlantMap, PlcSpec, Source, TagSpec};
use crate::model::Signal;
use crate::registers::{ByteOrder, DataType, Table, Value};
use crate::synthetic::{SyntheticKind, TagTraits};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {error}", path.display())]
    Parse {
        path: PathBuf,
        error: toml::de::Error,
    },
    #[error("{}: {key}: {reason}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
struct RawConfig {
    #[serde(default)]
    plc: Vec<RawPlc>,
}

#[derive(Debug, Deserialize)]
struct RawPlc {
    name: String,
    area: Option<String>,
    address: String,
    unit_id: Option<u8>,
    scan_ms: Option<u64>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    tag: Vec<RawTag>,
}

#[derive(Debug, Deserialize)]
struct RawTag {
    name: String,
    equipment: String,
    table: String,
    address: u32,
    #[serde(rename = "type")]
    data_type: String,
    order: Option<String>,
    bit: Option<u8>,
    length: Option<u16>,
    scale: Option<f64>,
    offset: Option<f64>,
    unit: Option<String>,
    description: Option<String>,
    min: Option<f64>,
    max: Option<f64>,
}

/// A listener named in a config's `[[plc]]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub name: String,
    pub address: SocketAddr,
    pub unit_id: u8,
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    })
}

fn parse_raw(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|error| ConfigError::Parse {
        path: path.to_path_buf(),
        error,
    })
}

fn resolve(path: &Path, key: &str, address: &str) -> Result<SocketAddr, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        reason,
    };
    address
        .to_socket_addrs()
        .map_err(|e| invalid(format!("{address:?} is not host:port: {e}")))?
        .next()
        .ok_or_else(|| invalid(format!("{address:?} resolves to no address")))
}

/// The `[[plc]]` listeners of a config file (for `plantsim --config`).
pub fn load_listeners(path: &Path) -> Result<Vec<Listener>, ConfigError> {
    #[derive(Deserialize)]
    struct Only {
        #[serde(default)]
        plc: Vec<OnlyPlc>,
    }
    #[derive(Deserialize)]
    struct OnlyPlc {
        name: String,
        address: String,
        unit_id: Option<u8>,
    }
    let text = read(path)?;
    let raw: Only = toml::from_str(&text).map_err(|error| ConfigError::Parse {
        path: path.to_path_buf(),
        error,
    })?;
    raw.plc
        .into_iter()
        .map(|p| {
            let key = format!("plc {:?} address", p.name);
            Ok(Listener {
                address: resolve(path, &key, &p.address)?,
                unit_id: p.unit_id.unwrap_or(1),
                name: p.name,
            })
        })
        .collect()
}

/// The register map of a gateway config file.
pub fn load_map(path: &Path) -> Result<PlantMap, ConfigError> {
    let text = read(path)?;
    parse_map(path, &text)
}

/// The register map of gateway config text; `path` only labels errors.
pub fn parse_map(path: &Path, text: &str) -> Result<PlantMap, ConfigError> {
    let raw = parse_raw(path, text)?;
    if raw.plc.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            key: "plc".into(),
            reason: "no [[plc]] tables: nothing to serve".into(),
        });
    }
    let mut plcs = Vec::with_capacity(raw.plc.len());
    for p in raw.plc {
        let key = format!("plc {:?}", p.name);
        let address = resolve(path, &format!("{key} address"), &p.address)?;
        let mut tags = Vec::with_capacity(p.tag.len());
        for t in p.tag {
            let tag_key = format!("{key} tag \"{}.{}\"", t.equipment, t.name);
            tags.push(tag_spec(t).map_err(|(field, reason)| ConfigError::Invalid {
                path: path.to_path_buf(),
                key: format!("{tag_key} {field}"),
                reason,
            })?);
        }
        plcs.push(PlcSpec {
            area: p.area.unwrap_or_else(|| p.name.clone()),
            name: p.name,
            address,
            unit_id: p.unit_id.unwrap_or(1),
            scan_ms: p.scan_ms.unwrap_or(1000),
            timeout_ms: p.timeout_ms.unwrap_or(1000),
            tags,
        });
    }
    Ok(PlantMap {
        kind: MapKind::FromConfig,
        plcs,
    })
}

fn tag_spec(t: RawTag) -> Result<TagSpec, (&'static str, String)> {
    let table = Table::parse(&t.table).ok_or((
        "table",
        format!("{:?} is not coil, discrete, input or holding", t.table),
    ))?;
    let data_type = DataType::parse(&t.data_type).ok_or((
        "type",
        format!(
            "{:?} is not bool, u16, i16, u32, i32, u64, i64, f32, f64 or string",
            t.data_type
        ),
    ))?;
    let order = match &t.order {
        Some(o) => ByteOrder::parse(o)
            .ok_or(("order", format!("{o:?} is not ABCD, CDAB, BADC or DCBA")))?,
        None => ByteOrder::ABCD,
    };
    if table.is_bits() && data_type != DataType::Bool {
        return Err(("type", format!("a {table} holds bits, not {data_type}")));
    }
    if let Some(bit) = t.bit {
        if table.is_bits() || data_type != DataType::Bool || bit > 15 {
            return Err(("bit", "needs a bool in a register table and 0..=15".into()));
        }
    }
    let length = match (data_type, t.length) {
        (DataType::String, Some(n)) if (1..=125).contains(&n) => n,
        (DataType::String, _) => return Err(("length", "a string needs length 1..=125".into())),
        (_, _) => 0,
    };
    let scale = t.scale.unwrap_or(1.0);
    if !scale.is_finite() || scale == 0.0 {
        return Err(("scale", format!("{scale} is not a finite, non-zero number")));
    }
    let offset = t.offset.unwrap_or(0.0);
    if !offset.is_finite() {
        return Err(("offset", "must be finite".into()));
    }
    let address = u16::try_from(t.address)
        .map_err(|_| ("address", format!("{} is above 65535", t.address)))?;
    let width = if table.is_bits() || t.bit.is_some() {
        1
    } else {
        u32::from(data_type.registers(length))
    };
    if t.address + width > 65_536 {
        return Err(("address", "the value runs past register 65535".into()));
    }
    let unit = t.unit.unwrap_or_default();
    let source = source_for(
        &t.equipment,
        &t.name,
        data_type,
        &TagTraits {
            equipment: &t.equipment,
            name: &t.name,
            unit: &unit,
            data_type,
            scale,
            offset,
            min: t.min,
            max: t.max,
        },
    );
    Ok(TagSpec {
        equipment: t.equipment,
        name: t.name,
        table,
        address,
        data_type,
        order,
        bit: t.bit,
        length,
        scale,
        offset,
        unit,
        description: t.description.unwrap_or_default(),
        min: t.min,
        max: t.max,
        source,
    })
}

/// The Caylloma model's quantity when the tag has a Caylloma name and a
/// compatible type; a plausible stand-in otherwise.
fn source_for(equipment: &str, name: &str, data_type: DataType, traits: &TagTraits<'_>) -> Source {
    if let Some(source) = PlantMap::caylloma_source(equipment, name) {
        let compatible = match &source {
            Source::Text(_) => data_type == DataType::String,
            Source::Model(signal) => {
                let is_bool = matches!(probe(*signal), Value::Bool(_));
                is_bool == (data_type == DataType::Bool) && data_type != DataType::String
            }
            Source::Synthetic(_) => false,
        };
        if compatible {
            return source;
        }
    }
    if data_type == DataType::String {
        return Source::Text(equipment.to_ascii_uppercase());
    }
    Source::Synthetic(SyntheticKind::infer(traits))
}

/// What kind of value a signal yields (a fresh plant answers for every signal).
fn probe(signal: Signal) -> Value {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    crate::model::Plant::new(&mut rng, 0.0).read(signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
        [site]
        name = "other"
        [influxdb]
        whatever = 1
        [[plc]]
        name = "pumps"
        address = "127.0.0.1:0"
        unit_id = 7
        [[plc.tag]]
        name = "discharge_kpa"
        equipment = "pump_1"
        table = "holding"
        address = 10
        type = "i16"
        scale = 0.1
        unit = "kPa"
        min = 0
        max = 400
        [[plc.tag]]
        name = "power_kw"
        equipment = "ball_mill"
        table = "input"
        address = 0
        type = "f32"
        order = "DCBA"
        [[plc.tag]]
        name = "tag"
        equipment = "pump_1"
        table = "holding"
        address = 20
        type = "string"
        length = 4
    "#;

    #[test]
    fn reads_plcs_and_tags_ignoring_other_sections() {
        let map = parse_map(Path::new("t.toml"), CONFIG).unwrap();
        let plc = &map.plcs[0];
        assert_eq!(plc.unit_id, 7);
        assert_eq!(plc.tags.len(), 3);
        assert!(matches!(plc.tags[0].source, Source::Synthetic(_)));
        assert!(matches!(plc.tags[1].source, Source::Model(_)));
        assert_eq!(plc.tags[2].source, Source::Text("PUMP_1".into()));
    }

    #[test]
    fn errors_name_the_tag_and_key() {
        let bad = CONFIG.replace("type = \"i16\"", "type = \"int\"");
        let err = parse_map(Path::new("t.toml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pump_1.discharge_kpa") && err.contains("type"),
            "{err}"
        );
    }
}
