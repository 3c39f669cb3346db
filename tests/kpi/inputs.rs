//! The simulator's Caylloma map wires every KPI input the gateway declares.
//! The simulator cannot see the gateway's list (it does not depend on the
//! gateway), so its map is held to it here.
use plantgw::config::KPI_INPUTS;

#[test]
fn simulated_plant_wires_every_input() {
    let mut sim: Vec<&str> = plantsim::gateway_toml::KPI_TAGS
        .iter()
        .map(|(k, _)| *k)
        .collect();
    let mut ours: Vec<&str> = KPI_INPUTS.iter().map(|s| s.key).collect();
    sim.sort_unstable();
    ours.sort_unstable();
    assert_eq!(sim, ours);
}
