//! Writing a register map out in the plantgw configuration format, so the
//! gateway polls exactly what the simulator serves. `config/caylloma.toml`
//! is `render(&PlantMap::caylloma())`.

use std::fmt::Write as _;

use crate::map::{MapKind, PlantMap, TagSpec};
use crate::registers::DataType;

/// Belt-scale totaliser rollover: a u32 count of kg.
pub const TOTALISER_ROLLOVER_T: f64 = 4_294_967.296;

/// The `[kpi]` references of the Caylloma map ("equipment.field").
pub const KPI_TAGS: [(&str, &str); 16] = [
    ("moisture_tag", "mill_feed_belt.moisture_pct"),
    ("ore_totaliser", "mill_feed_belt.total_t"),
    ("ore_rate", "mill_feed_belt.feed_rate_tph"),
    ("mill_power", "ball_mill.power_kw"),
    ("feed_ag", "flotation_feed.ag_gpt"),
    ("conc_ag", "pb_concentrate.ag_gpt"),
    ("tail_ag", "final_tailings.ag_gpt"),
    ("feed_pb", "flotation_feed.pb_pct"),
    ("feed_zn", "flotation_feed.zn_pct"),
    ("conc_pb", "pb_concentrate.pb_pct"),
    ("conc_zn", "pb_concentrate.zn_pct"),
    ("zn_conc_pb", "zn_concentrate.pb_pct"),
    ("zn_conc_zn", "zn_concentrate.zn_pct"),
    ("tail_pb", "final_tailings.pb_pct"),
    ("tail_zn", "final_tailings.zn_pct"),
    ("zn_conc_ag", "zn_concentrate.ag_gpt"),
];

/// `[kpi.reconcile]`: each assay's relative standard deviation, %. On-stream
/// XRF reads a concentrate's own metal best and a low-grade tail worst.
const RECONCILE: &str = "\
# Reconcile each closed day's Ag/Pb/Zn balance (series kpi_reconciled).
[kpi.reconcile]
sd_rel_pct = { feed_ag = 5.0, conc_ag = 3.0, zn_conc_ag = 8.0, tail_ag = 10.0, \
feed_pb = 5.0, conc_pb = 2.0, zn_conc_pb = 10.0, tail_pb = 10.0, \
feed_zn = 5.0, conc_zn = 8.0, zn_conc_zn = 2.0, tail_zn = 10.0 }
";

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Floats always with a decimal point or exponent, so TOML reads them as floats.
fn float(v: f64) -> String {
    format!("{v:?}")
}

pub fn render(map: &PlantMap) -> String {
    let mut out = String::new();
    if map.kind == MapKind::Caylloma {
        render_header(&mut out);
    }
    for plc in &map.plcs {
        let _ = writeln!(out, "[[plc]]");
        let _ = writeln!(out, "name = {}", quote(&plc.name));
        let _ = writeln!(out, "area = {}", quote(&plc.area));
        let _ = writeln!(out, "address = {}", quote(&plc.address.to_string()));
        let _ = writeln!(out, "unit_id = {}", plc.unit_id);
        let _ = writeln!(out, "scan_ms = {}", plc.scan_ms);
        let _ = writeln!(out, "timeout_ms = {}", plc.timeout_ms);
        out.push('\n');
        for tag in &plc.tags {
            render_tag(&mut out, tag);
        }
    }
    out
}

fn render_tag(out: &mut String, t: &TagSpec) {
    let _ = writeln!(out, "[[plc.tag]]");
    let _ = writeln!(out, "name = {}", quote(&t.name));
    let _ = writeln!(out, "equipment = {}", quote(&t.equipment));
    let _ = writeln!(out, "table = {}", quote(t.table.as_str()));
    let _ = writeln!(out, "address = {}", t.address);
    let _ = writeln!(out, "type = {}", quote(t.data_type.as_str()));
    if t.data_type.registers(t.length) > 1 && t.data_type != DataType::String {
        let _ = writeln!(out, "order = {}", quote(t.order.as_str()));
    }
    if let Some(bit) = t.bit {
        let _ = writeln!(out, "bit = {bit}");
    }
    if t.data_type == DataType::String {
        let _ = writeln!(out, "length = {}", t.length);
    }
    if t.scale != 1.0 {
        let _ = writeln!(out, "scale = {}", float(t.scale));
    }
    if t.offset != 0.0 {
        let _ = writeln!(out, "offset = {}", float(t.offset));
    }
    if !t.unit.is_empty() {
        let _ = writeln!(out, "unit = {}", quote(&t.unit));
    }
    if !t.description.is_empty() {
        let _ = writeln!(out, "description = {}", quote(&t.description));
    }
    if let Some(min) = t.min {
        let _ = writeln!(out, "min = {}", float(min));
    }
    if let Some(max) = t.max {
        let _ = writeln!(out, "max = {}", float(max));
    }
    out.push('\n');
}

const HEADER: &str = r#"# plantgw configuration for the Caylloma concentrator (700 t/d), three PLCs.
#
# GENERATED from the simulator's register map (simulators/src/map.rs) by
#   cargo run -p plantsim -- --print-config > config/caylloma.toml
# Change the map there, not here: a plantsim test fails when the two differ.
# `plantsim` serves exactly these tags on 127.0.0.1:5020-5022.

[site]
name = "caylloma"
timezone = "America/Lima"

[influxdb]
url = "http://127.0.0.1:8086"
api = "v1"
database = "plant"

[kpi]
day_start = "07:00"
interval_s = 60
target_tpd = 700.0
target_oz_year = 1900000.0
year_start = "01-01"
mill_running_kw = 100.0
"#;

const TAIL_AG_NOTE: &str = "\
# With every three-product key below, recovery is the three-product one.
# For a two-product Pb-circuit balance use tail_ag = \"zn_circuit_feed.ag_gpt\"
# (Pb-circuit tailings): the final tailings exclude the silver in the Zn
# concentrate and overstate recovery by ~5 points.
";

fn render_header(out: &mut String) {
    out.push_str(HEADER);
    let _ = writeln!(out, "totaliser_rollover = {}", float(TOTALISER_ROLLOVER_T));
    for (key, tag) in KPI_TAGS {
        if key == "tail_ag" {
            out.push_str(TAIL_AG_NOTE);
        }
        let _ = writeln!(out, "{key} = {}", quote(tag));
    }
    out.push_str(RECONCILE);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kpi_references_name_served_tags() {
        let map = PlantMap::caylloma();
        for (key, tag) in KPI_TAGS {
            assert!(map.tag(tag).is_some(), "{key} -> {tag}");
        }
        assert!(map.tag("zn_circuit_feed.ag_gpt").is_some());
        assert!(render(&map).contains("totaliser_rollover = 4294967.296\n"));
    }

    #[test]
    fn rendered_config_reads_back_as_the_same_map() {
        let map = PlantMap::caylloma();
        let text = render(&map);
        let back = crate::from_config::parse_map(std::path::Path::new("x"), &text).unwrap();
        assert_eq!(back.plcs.len(), map.plcs.len());
        for (a, b) in map.plcs.iter().zip(&back.plcs) {
            assert_eq!(a.address, b.address);
            assert_eq!(a.tags.len(), b.tags.len());
            for (x, y) in a.tags.iter().zip(&b.tags) {
                assert_eq!(x.key(), y.key());
                assert_eq!(x.encoding(), y.encoding(), "{}", x.key());
                assert_eq!((x.table, x.address, x.bit), (y.table, y.address, y.bit));
                assert_eq!((x.min, x.max), (y.min, y.max));
                assert_eq!(x.source, y.source, "{}", x.key());
            }
        }
    }
}
