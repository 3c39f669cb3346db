//! The gateway built without its `demo` feature (what a plant installs) must
//! not link the simulator: no `plantsim`, no simulator PRNG, no Modbus
//! server.
//! Checked on the real dependency graph, as `cargo tree` resolves it.
use std::collections::BTreeSet;
use std::process::Command;

/// One package of the tree: name, enabled features, and the packages it
/// hangs under (root first).
#[derive(Debug)]
struct Node {
    name: String,
    features: BTreeSet<String>,
    ancestors: Vec<String>,
}

/// `cargo tree` with depth prefixes, parsed back into parent links.
fn tree(args: &[&str]) -> Vec<Node> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--locked", "--manifest-path", manifest])
        .args(["-p", "plantgw", "-e", "normal", "--prefix", "depth"])
        .args(["--format", "{p}|{f}"])
        .args(args)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("cargo tree prints UTF-8");
    let mut path: Vec<String> = Vec::new();
    let mut nodes = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        let depth: usize = line[..digits].parse().expect("depth prefix");
        let (pkg, features) = line[digits..].split_once('|').expect("{p}|{f}");
        let name = pkg.split_whitespace().next().expect("package name");
        path.truncate(depth);
        nodes.push(Node {
            name: name.to_string(),
            features: features
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
            ancestors: path.clone(),
        });
        path.push(name.to_string());
    }
    assert!(
        nodes.first().is_some_and(|n| n.name == "plantgw"),
        "unexpected cargo tree output:\n{text}"
    );
    nodes
}

#[test]
fn gateway_without_demo_links_no_simulator_prng_or_modbus_server() {
    let nodes = tree(&["--no-default-features"]);
    let names: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let sim: Vec<&Vec<String>> = nodes
        .iter()
        .filter(|n| n.name == "plantsim")
        .map(|n| &n.ancestors)
        .collect();
    assert!(
        sim.is_empty(),
        "`plantgw --no-default-features` still depends on plantsim, through {sim:?}"
    );
    // The rand family also arrives through the Prometheus exporter's
    // summaries (metrics-util) and the NATS client (async-nats shuffles
    // servers and jitters reconnects; its nkeys signs with fresh keys);
    // those paths are the only ones accepted.
    let other_rand: Vec<(&str, &Vec<String>)> = nodes
        .iter()
        .filter(|n| n.name.starts_with("rand"))
        .filter(|n| {
            !n.ancestors
                .iter()
                .any(|a| a == "metrics-util" || a == "async-nats")
        })
        .map(|n| (n.name.as_str(), &n.ancestors))
        .collect();
    assert!(
        other_rand.is_empty(),
        "rand is linked other than through metrics-util: {other_rand:?}"
    );
    for modbus in nodes.iter().filter(|n| n.name == "tokio-modbus") {
        assert!(
            !modbus.features.contains("tcp-server") && !modbus.features.contains("server"),
            "tokio-modbus is built with its server: {:?}",
            modbus.features
        );
    }
    assert!(
        names.contains("tokio-modbus"),
        "the gateway's Modbus client is missing from the tree: {names:?}"
    );
}

#[test]
fn the_default_build_still_carries_the_demo() {
    let names: BTreeSet<String> = tree(&[]).into_iter().map(|n| n.name).collect();
    assert!(
        names.contains("plantsim"),
        "`plantgw demo` needs the simulator in the default build"
    );
}
