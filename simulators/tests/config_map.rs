//! The shipped gateway config and the served map agree, tag by tag.

use std::collections::BTreeSet;
use std::io::Write;

use plantsim::gateway_toml;
use plantsim::map::PlantMap;
use plantsim::{from_config, Scenario};

use crate::common::{self, Decoded, DAY_START};

#[test]
fn the_shipped_config_is_the_rendered_map() {
    let path = common::shipped_config_path();
    let shipped = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let rendered = gateway_toml::render(&PlantMap::caylloma());
    assert!(
        shipped == rendered,
        "config/caylloma.toml differs from the simulator's map; regenerate it with\n  \
         cargo run -p plantsim -- --print-config > config/caylloma.toml"
    );
}

#[tokio::test]
async fn every_configured_tag_is_served_and_decodes_inside_min_max() {
    let text = std::fs::read_to_string(common::shipped_config_path()).expect("shipped config");
    let config = common::read_config(&text);
    let sim = common::start(common::options(DAY_START, 60.0, Scenario::normal())).await;
    let addrs = common::addresses(&sim);

    let mut tables = BTreeSet::new();
    let mut types = BTreeSet::new();
    let mut orders = BTreeSet::new();
    let mut problems = Vec::new();
    let mut count = 0;
    for plc in &config.plc {
        assert_eq!(plc.unit_id, 1);
        let port: u16 = plc
            .address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        assert!((5020..=5022).contains(&port), "{}", plc.address);
        let addr = addrs[&plc.name];
        let mut ctx = common::connect(addr, plc.unit_id).await;
        for tag in &plc.tag {
            count += 1;
            tables.insert(tag.table.clone());
            types.insert(if tag.bit.is_some() {
                "bit".to_string()
            } else {
                tag.ty.clone()
            });
            if let Some(o) = &tag.order {
                orders.insert(o.clone());
            }
            let v = common::read_tag(&mut ctx, tag).await;
            if let Some(p) = common::out_of_range(tag, &v) {
                problems.push(p);
            }
            if tag.ty == "string" {
                assert!(
                    matches!(v, Decoded::Text(ref s) if s.len() >= 4),
                    "{}: {v:?}",
                    tag.key()
                );
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(count >= 40, "{count} tags");
    assert_eq!(tables.len(), 4, "{tables:?}");
    for t in [
        "bool", "bit", "u16", "i16", "u32", "i32", "f32", "f64", "string",
    ] {
        assert!(types.contains(t), "no {t} tag: {types:?}");
    }
    assert_eq!(orders.len(), 4, "{orders:?}");
    // The config handed to an in-process gateway points at the bound ports.
    let live = common::read_config(&sim.gateway_config_toml());
    for plc in &live.plc {
        assert_eq!(plc.address, addrs[&plc.name].to_string());
        assert_eq!(
            plc.tag.len(),
            config
                .plc
                .iter()
                .find(|p| p.name == plc.name)
                .map_or(0, |p| p.tag.len())
        );
    }
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_kpi_tags_read_as_the_plant_ranges() {
    let text = std::fs::read_to_string(common::shipped_config_path()).expect("shipped config");
    let config = common::read_config(&text);
    let sim = common::start(common::options(DAY_START, 60.0, Scenario::normal())).await;
    let addrs = common::addresses(&sim);
    let expect = [
        ("mill_feed_belt.feed_rate_tph", 24.0, 38.0),
        ("mill_feed_belt.moisture_pct", 3.0, 6.0),
        ("ball_mill.power_kw", 350.0, 480.0),
        ("flotation_feed.ag_gpt", 200.0, 320.0),
        ("pb_concentrate.ag_gpt", 3000.0, 10000.0),
        ("final_tailings.ag_gpt", 20.0, 60.0),
        ("zn_concentrate.zn_pct", 45.0, 55.0),
    ];
    for plc in &config.plc {
        let mut ctx = common::connect(addrs[&plc.name], 1).await;
        for tag in &plc.tag {
            if let Some((key, lo, hi)) = expect.iter().find(|(k, _, _)| *k == tag.key()) {
                match common::read_tag(&mut ctx, tag).await {
                    Decoded::Num(v) => assert!((*lo..=*hi).contains(&v), "{key} = {v}"),
                    other => panic!("{key}: {other:?}"),
                }
            }
        }
    }
    sim.shutdown().await.expect("clean shutdown");
}

const FOREIGN: &str = r#"
# Somebody else's plant: sections and keys plantsim does not know are ignored.
[site]
name = "elsewhere"
[spool]
dir = "/nonexistent"

[[plc]]
name = "pumphouse"
address = "127.0.0.1:0"
unit_id = 3
scan_ms = 500

[[plc.tag]]
name = "running"
equipment = "pump_1"
table = "coil"
address = 4
type = "bool"
[[plc.tag]]
name = "tripped"
equipment = "pump_1"
table = "discrete"
address = 0
type = "bool"
[[plc.tag]]
name = "discharge_kpa"
equipment = "pump_1"
table = "holding"
address = 10
type = "i16"
scale = 0.1
unit = "kPa"
min = 300.0
max = 450.0
[[plc.tag]]
name = "flow_m3h"
equipment = "pump_1"
table = "input"
address = 0
type = "f64"
order = "BADC"
unit = "m3/h"
[[plc.tag]]
name = "energy_kwh"
equipment = "pump_1"
table = "input"
address = 4
type = "i64"
order = "DCBA"
unit = "kWh"
min = 0.0
[[plc.tag]]
name = "temp_c"
equipment = "pump_1"
table = "input"
address = 8
type = "u32"
order = "CDAB"
scale = 0.01
offset = -40.0
unit = "°C"
min = -40.0
max = 150.0
[[plc.tag]]
name = "remote"
equipment = "pump_1"
table = "input"
address = 12
type = "bool"
bit = 5
[[plc.tag]]
name = "model"
equipment = "pump_1"
table = "holding"
address = 20
type = "string"
length = 6
[[plc.tag]]
name = "power_kw"
equipment = "ball_mill"
table = "holding"
address = 40
type = "f32"
order = "DCBA"
unit = "kW"
"#;

#[tokio::test]
async fn from_config_serves_any_gateway_map_plausibly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("foreign.toml");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(FOREIGN.as_bytes()))
        .expect("write config");
    let map = from_config::load_map(&path).expect("lenient parse");
    let mut opts = common::options(DAY_START, 600.0, Scenario::normal());
    opts.map = map;
    let sim = common::start(opts).await;
    let addr = sim.addr("pumphouse").expect("pumphouse listener");
    let config = common::read_config(FOREIGN);
    let mut ctx = common::connect(addr, 3).await;
    for round in 0..3 {
        for tag in &config.plc[0].tag {
            let v = common::read_tag(&mut ctx, tag).await;
            assert!(
                common::out_of_range(tag, &v).is_none(),
                "round {round}: {v:?}"
            );
            match (tag.key().as_str(), &v) {
                ("pump_1.running", Decoded::Bool(b)) => assert!(*b),
                ("pump_1.tripped", Decoded::Bool(b)) => assert!(!*b),
                ("pump_1.remote", Decoded::Bool(b)) => assert!(*b),
                ("pump_1.flow_m3h", Decoded::Num(x)) => assert!((50.0..=150.0).contains(x), "{x}"),
                ("pump_1.temp_c", Decoded::Num(x)) => assert!((30.0..=60.0).contains(x), "{x}"),
                ("pump_1.model", Decoded::Text(s)) => assert_eq!(s, "PUMP_1"),
                // A Caylloma tag name brings the plant model's value.
                ("ball_mill.power_kw", Decoded::Num(x)) => {
                    assert!((350.0..=480.0).contains(x), "{x}")
                }
                _ => {}
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Unit id 3 is this PLC's; the Caylloma default of 1 is someone else.
    let mut wrong = common::connect(addr, 1).await;
    use tokio_modbus::client::Reader;
    assert_eq!(
        wrong.read_coils(4, 1).await.expect("link"),
        Err(tokio_modbus::ExceptionCode::GatewayTargetDevice)
    );
    sim.shutdown().await.expect("clean shutdown");
}
