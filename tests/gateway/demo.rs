//! `plantgw demo` as a newcomer runs it: it starts its own influxd when
//! nothing answers, the simulator and the gateway, and prints a live
//! summary with the gateway's KPIs next to the simulator's ground truth.
use std::process::Command;

use crate::common::{free_port, repo_path, require_binary};

#[test]
fn demo_starts_influxdb_simulator_and_gateway_and_fills_the_database() {
    require_binary("influxd", "apt-get install influxdb");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The shipped config, pointed at a port where nothing answers yet.
    let text = std::fs::read_to_string(repo_path("config/caylloma.toml"))
        .unwrap()
        .replacen(
            "http://127.0.0.1:8086",
            &format!("http://127.0.0.1:{port}"),
            1,
        )
        + "\n[http]\nlisten = \"\"\n";
    let config = dir.path().join("caylloma.toml");
    std::fs::write(&config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_plantgw"))
        .current_dir(dir.path())
        .args(["demo", "--duration-s", "12", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("started influxd at http://127.0.0.1:{port}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("crushing up, flotation up, grinding up"),
        "{stdout}"
    );
    assert!(stdout.contains("gateway KPI"), "no KPI line in:\n{stdout}");
    assert!(stdout.contains("(ground truth)"), "{stdout}");
    // Its data lives under ./var of the working directory.
    assert!(dir.path().join("var/influxdb/data").is_dir());
    assert!(dir.path().join("var/demo/truth.jsonl").is_file());
}
