//! Synthetic load for benchmarks: `plantsim --load 100x1000` serves 100 PLCs
//! of 1000 tags each on consecutive loopback ports, and `--emit-config`
//! writes the plantgw configuration that polls exactly that.
//!
//! The tags look like a real register map rather than one contiguous block:
//! each PLC is a run of devices ("equipment"), each device a group of 5–20
//! registers in one byte order, with 1–40 unused registers between devices,
//! three quarters in the holding table and the rest in the input table.
//! Types are mostly `f32`, with some `u16` (scaled), `i16`, `u32` counters,
//! `f64` energy meters and status words of 1–8 bools. The layout is a pure
//! function of the seed, so a benchmark row is reproducible, and the same on
//! every PLC (identical machines), so each equipment measurement has one
//! field set in InfluxDB.
//!
//! Values come from the simulator's synthetic stand-ins
//! ([`crate::synthetic`]), which move slowly; the simulator renders every
//! PLC's image once per plant second on its model thread and answers every
//! request from that precomputed image, so serving is a slice copy.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::SimError;
use crate::gateway_toml;
use crate::map::{MapKind, PlantMap, PlcSpec, Source, TagSpec};
use crate::registers::{ByteOrder, DataType, Table};
use crate::synthetic::SyntheticKind;

/// `PLCSxTAGS`, e.g. `100x1000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSpec {
    pub plcs: usize,
    pub tags: usize,
}

/// Tags one PLC can hold with this layout (two 64 Ki-register tables,
/// about 4 addresses per tag including the gaps), with a safety margin.
pub const MAX_TAGS_PER_PLC: usize = 25_000;

impl FromStr for LoadSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<LoadSpec, String> {
        let (p, t) = s
            .split_once(['x', 'X', '×'])
            .ok_or_else(|| format!("{s:?} is not PLCSxTAGS (e.g. 100x1000)"))?;
        let num = |v: &str, what: &str| -> Result<usize, String> {
            match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{s:?}: {what} {v:?} is not a number > 0")),
            }
        };
        let spec = LoadSpec {
            plcs: num(p, "PLC count")?,
            tags: num(t, "tag count")?,
        };
        if spec.tags > MAX_TAGS_PER_PLC {
            return Err(format!(
                "{s:?}: at most {MAX_TAGS_PER_PLC} tags per PLC fit in its register tables"
            ));
        }
        Ok(spec)
    }
}

impl fmt::Display for LoadSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.plcs, self.tags)
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub spec: LoadSpec,
    /// First listener port; PLC `i` listens on `base_port + i`. 0 binds
    /// every PLC on a free port instead (not consecutive).
    pub base_port: u16,
    /// `scan_ms` written for every PLC in the emitted config.
    pub scan_ms: u64,
    /// Layout seed.
    pub seed: u64,
}

impl LoadOptions {
    pub fn new(spec: LoadSpec) -> LoadOptions {
        LoadOptions {
            spec,
            base_port: 0,
            scan_ms: 1000,
            seed: 1,
        }
    }
}

/// The synthetic plant of `opts`: PLCs named `plc0000`, `plc0001`, … with
/// areas `area00`…`area09`, all with the same register layout.
pub fn load_map(opts: &LoadOptions) -> Result<PlantMap, SimError> {
    let n = opts.spec.plcs;
    if opts.base_port != 0 && usize::from(opts.base_port) + n - 1 > usize::from(u16::MAX) {
        return Err(SimError::InvalidOption {
            option: "base-port",
            reason: format!(
                "{} PLCs from port {} run past port 65535",
                n, opts.base_port
            ),
        });
    }
    if opts.scan_ms == 0 {
        return Err(SimError::InvalidOption {
            option: "scan-ms",
            reason: "must be > 0".into(),
        });
    }
    let plcs = (0..n)
        .map(|i| -> Result<PlcSpec, SimError> {
            let port = if opts.base_port == 0 {
                0
            } else {
                // Checked above: base_port + i ≤ 65535.
                opts.base_port + i as u16
            };
            // Every PLC runs the same program (same layout, its own values),
            // as identical machines do: an equipment name then has the same
            // fields on every PLC, as a measurement in InfluxDB should.
            let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
            let tags =
                plc_tags(opts.spec.tags, &mut rng).map_err(|reason| SimError::InvalidOption {
                    option: "load",
                    reason,
                })?;
            Ok(PlcSpec {
                name: format!("plc{i:04}"),
                area: format!("area{:02}", i % 10),
                address: SocketAddr::from(([127, 0, 0, 1], port)),
                unit_id: 1,
                scan_ms: opts.scan_ms,
                timeout_ms: 1000,
                tags,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PlantMap {
        kind: MapKind::FromConfig,
        plcs,
    })
}

/// Where the emitted gateway configuration points.
#[derive(Debug, Clone)]
pub struct GatewayTarget {
    pub site: String,
    /// InfluxDB 1.x URL; the v1 write API is used.
    pub influx_url: String,
    pub database: String,
    /// `[spool] dir` (relative paths are relative to the config file).
    pub spool_dir: String,
    /// `[http] listen`; empty disables the listener.
    pub http_listen: String,
    /// `max_gap` of every PLC; the gateway's default when `None`.
    pub max_gap: Option<u16>,
}

impl Default for GatewayTarget {
    fn default() -> Self {
        GatewayTarget {
            site: "loadtest".into(),
            influx_url: "http://127.0.0.1:8086".into(),
            database: "plantgw_load".into(),
            spool_dir: "var/spool-load".into(),
            http_listen: String::new(),
            max_gap: None,
        }
    }
}

/// A complete plantgw configuration polling `map` (at its addresses as they
/// are now: render after binding when ports were ephemeral).
pub fn gateway_config(map: &PlantMap, target: &GatewayTarget) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::new();
    let tags: usize = map.plcs.iter().map(|p| p.tags.len()).sum();
    let _ = writeln!(
        out,
        "# plantgw configuration for a synthetic load of {} PLCs, {tags} tags,\n\
         # written by `plantsim --load … --emit-config`. Override the target with\n\
         # PLANTGW_INFLUXDB__URL and PLANTGW_INFLUXDB__DATABASE.\n",
        map.plcs.len()
    );
    let _ = writeln!(out, "[site]\nname = {}\n", q(&target.site));
    let _ = writeln!(
        out,
        "[influxdb]\nurl = {}\napi = \"v1\"\ndatabase = {}\n",
        q(&target.influx_url),
        q(&target.database)
    );
    let _ = writeln!(out, "[spool]\ndir = {}\n", q(&target.spool_dir));
    let _ = writeln!(out, "[http]\nlisten = {}\n", q(&target.http_listen));
    let plcs = gateway_toml::render(map);
    match target.max_gap {
        None => out.push_str(&plcs),
        Some(gap) => {
            // `timeout_ms` is the last key of each [[plc]] header.
            for line in plcs.lines() {
                out.push_str(line);
                out.push('\n');
                if line.starts_with("timeout_ms = ") {
                    let _ = writeln!(out, "max_gap = {gap}");
                }
            }
        }
    }
    out
}

/// Register types and their share of the tags, in percent.
const TYPE_MIX: [(Kind, u32); 6] = [
    (Kind::F32, 70),
    (Kind::U16, 8),
    (Kind::I16, 6),
    (Kind::U32, 5),
    (Kind::F64, 5),
    (Kind::Bits, 6),
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    F32,
    U16,
    I16,
    U32,
    F64,
    Bits,
}

fn pick_kind(rng: &mut ChaCha8Rng) -> Kind {
    let mut r = rng.random_range(0..100u32);
    for (k, share) in TYPE_MIX {
        if r < share {
            return k;
        }
        r -= share;
    }
    Kind::F32
}

fn pick_order(rng: &mut ChaCha8Rng) -> ByteOrder {
    match rng.random_range(0..20u32) {
        0..=10 => ByteOrder::ABCD,
        11..=15 => ByteOrder::CDAB,
        16..=17 => ByteOrder::BADC,
        _ => ByteOrder::DCBA,
    }
}

fn plc_tags(count: usize, rng: &mut ChaCha8Rng) -> Result<Vec<TagSpec>, String> {
    let mut tags = Vec::with_capacity(count);
    // Next free address per register table (holding, input).
    let mut next = [rng.random_range(0..10u32), rng.random_range(0..10u32)];
    let mut device = 0usize;
    while tags.len() < count {
        // A device needs at most 20 + 3 registers plus its gap after it;
        // when the preferred table is full, the other one takes it.
        let fits = |n: u32| n + 20 + 3 + 40 <= 65_536;
        let prefer_holding = rng.random_bool(0.75);
        let holding = match (fits(next[0]), fits(next[1])) {
            (true, true) => prefer_holding,
            (h, i) if h || i => h,
            _ => {
                return Err(format!(
                    "{count} tags do not fit in one PLC's register tables"
                ))
            }
        };
        let (table, cursor) = if holding {
            (Table::Holding, &mut next[0])
        } else {
            (Table::Input, &mut next[1])
        };
        let order = pick_order(rng);
        let equipment = format!("dev{device:03}");
        let size = rng.random_range(5..=20u32);
        let mut used = 0u32;
        let mut k = 0usize;
        while used < size && tags.len() < count {
            let kind = pick_kind(rng);
            let address = *cursor;
            let width = match kind {
                Kind::Bits => {
                    let bits = rng.random_range(1..=8u8).min((count - tags.len()) as u8);
                    for bit in 0..bits {
                        tags.push(bit_tag(&equipment, k, table, address, bit, rng));
                        k += 1;
                    }
                    1
                }
                _ => {
                    let t = register_tag(&equipment, k, kind, table, address, order, rng);
                    let w = u32::from(t.width());
                    tags.push(t);
                    k += 1;
                    w
                }
            };
            *cursor += width;
            used += width;
        }
        *cursor += rng.random_range(1..=40u32);
        device += 1;
    }
    Ok(tags)
}

fn base_tag(equipment: &str, name: String, table: Table, address: u32) -> TagSpec {
    TagSpec {
        equipment: equipment.to_string(),
        name,
        table,
        // plc_tags keeps every device inside the 16-bit address space.
        address: address.min(u32::from(u16::MAX)) as u16,
        data_type: DataType::F32,
        order: ByteOrder::ABCD,
        bit: None,
        length: 0,
        scale: 1.0,
        offset: 0.0,
        unit: String::new(),
        description: String::new(),
        min: None,
        max: None,
        source: Source::Synthetic(SyntheticKind::Flag(false)),
    }
}

fn bit_tag(
    equipment: &str,
    k: usize,
    table: Table,
    address: u32,
    bit: u8,
    rng: &mut ChaCha8Rng,
) -> TagSpec {
    TagSpec {
        data_type: DataType::Bool,
        bit: Some(bit),
        source: Source::Synthetic(SyntheticKind::Flag(rng.random_bool(0.7))),
        ..base_tag(equipment, format!("status_{k:02}"), table, address)
    }
}

fn register_tag(
    equipment: &str,
    k: usize,
    kind: Kind,
    table: Table,
    address: u32,
    order: ByteOrder,
    rng: &mut ChaCha8Rng,
) -> TagSpec {
    let lo = f64::from(rng.random_range(0..50u32)) * 10.0;
    let span = f64::from(rng.random_range(1..=20u32)) * 25.0;
    match kind {
        Kind::F32 => {
            let checked = rng.random_bool(0.3);
            TagSpec {
                order,
                min: checked.then_some(lo - span),
                max: checked.then_some(lo + 2.0 * span),
                source: Source::Synthetic(SyntheticKind::Analog {
                    lo,
                    hi: lo + span,
                    step: 0.0,
                }),
                ..base_tag(equipment, format!("pv_{k:02}"), table, address)
            }
        }
        Kind::U16 => TagSpec {
            data_type: DataType::U16,
            scale: 0.1,
            source: Source::Synthetic(SyntheticKind::Analog {
                lo: 0.0,
                hi: span.min(6000.0),
                step: 0.1,
            }),
            ..base_tag(equipment, format!("level_{k:02}"), table, address)
        },
        Kind::I16 => TagSpec {
            data_type: DataType::I16,
            source: Source::Synthetic(SyntheticKind::Analog {
                lo: -span,
                hi: span,
                step: 1.0,
            }),
            ..base_tag(equipment, format!("delta_{k:02}"), table, address)
        },
        Kind::U32 => TagSpec {
            data_type: DataType::U32,
            order,
            source: Source::Synthetic(SyntheticKind::Counter {
                start: lo * 1000.0,
                per_hour: span * 10.0,
                lo: 0.0,
                hi: f64::from(u32::MAX),
            }),
            ..base_tag(equipment, format!("count_{k:02}"), table, address)
        },
        // Status words are laid out by `bit_tag`; they never come here.
        Kind::F64 | Kind::Bits => TagSpec {
            data_type: DataType::F64,
            order,
            source: Source::Synthetic(SyntheticKind::Counter {
                start: lo * 1e4,
                per_hour: span,
                lo: 0.0,
                hi: 1e12,
            }),
            ..base_tag(equipment, format!("energy_{k:02}"), table, address)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn parses_specs() {
        assert_eq!(
            "100x1000".parse::<LoadSpec>(),
            Ok(LoadSpec {
                plcs: 100,
                tags: 1000
            })
        );
        assert!("100".parse::<LoadSpec>().is_err());
        assert!("0x10".parse::<LoadSpec>().is_err());
        assert!("1x99999".parse::<LoadSpec>().is_err());
    }

    #[test]
    fn layout_is_realistic_and_valid() {
        let mut opts = LoadOptions::new("3x1000".parse().unwrap());
        opts.base_port = 20_000;
        let map = load_map(&opts).unwrap();
        assert_eq!(map.plcs.len(), 3);
        assert_eq!(map.plcs[2].address.port(), 20_002);
        for plc in &map.plcs {
            assert_eq!(plc.tags.len(), 1000);
            let floats = plc
                .tags
                .iter()
                .filter(|t| t.data_type == DataType::F32)
                .count();
            assert!(floats > 500, "{floats} f32 tags");
            for ty in [
                DataType::U16,
                DataType::I16,
                DataType::U32,
                DataType::F64,
                DataType::Bool,
            ] {
                assert!(plc.tags.iter().any(|t| t.data_type == ty), "{ty}");
            }
            assert!(plc.tags.iter().any(|t| t.order == ByteOrder::CDAB));
            assert!(plc.tags.iter().any(|t| t.table == Table::Input));
            // No two tags share a register except as different bits, and
            // (equipment, name) is unique.
            let mut used = HashSet::new();
            let mut keys = HashSet::new();
            for t in &plc.tags {
                assert!(keys.insert(t.key()), "duplicate {}", t.key());
                for a in t.address..t.address + t.width() {
                    assert!(used.insert((t.table, a, t.bit)), "{} overlaps", t.key());
                }
            }
        }
        // Same seed, same layout.
        assert_eq!(load_map(&opts).unwrap(), map);
    }

    #[test]
    fn the_largest_plc_fits_in_the_address_space() {
        let opts = LoadOptions::new(LoadSpec {
            plcs: 1,
            tags: MAX_TAGS_PER_PLC,
        });
        let map = load_map(&opts).unwrap();
        let plc = &map.plcs[0];
        assert_eq!(plc.tags.len(), MAX_TAGS_PER_PLC);
        for t in &plc.tags {
            assert!(u32::from(t.address) + u32::from(t.width()) <= 65_536);
        }
    }

    #[test]
    fn ports_past_65535_are_refused() {
        let mut opts = LoadOptions::new("10x10".parse().unwrap());
        opts.base_port = 65_530;
        assert!(load_map(&opts).is_err());
    }

    #[test]
    fn emitted_config_reads_back_as_the_same_map() {
        let mut opts = LoadOptions::new("2x200".parse().unwrap());
        opts.base_port = 21_000;
        opts.scan_ms = 100;
        let map = load_map(&opts).unwrap();
        let text = gateway_config(&map, &GatewayTarget::default());
        assert!(text.contains("[influxdb]") && text.contains("scan_ms = 100"));
        assert!(!text.contains("max_gap"));
        let gapped = gateway_config(
            &map,
            &GatewayTarget {
                max_gap: Some(40),
                ..GatewayTarget::default()
            },
        );
        assert_eq!(gapped.matches("\nmax_gap = 40\n").count(), 2);
        let back = crate::from_config::parse_map(std::path::Path::new("x"), &text).unwrap();
        assert_eq!(back.plcs.len(), 2);
        for (a, b) in map.plcs.iter().zip(&back.plcs) {
            assert_eq!(a.address, b.address);
            for (x, y) in a.tags.iter().zip(&b.tags) {
                assert_eq!(x.encoding(), y.encoding(), "{}", x.key());
                assert_eq!((x.table, x.address, x.bit), (y.table, y.address, y.bit));
            }
        }
    }
}
