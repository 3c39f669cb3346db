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
    // The plant clock starts at the production day's start (07:00 Lima),
    // so the first screen shows a day from its first tonne.
    let first = stdout.lines().find(|l| l.starts_with("plant ")).unwrap();
    assert!(first.contains(" 07:0"), "first plant line: {first}");
    // Once two totaliser readings and the first assays are in (the first
    // two lines on a busy machine), every KPI line has a throughput (a
    // rate over the last plant-hour) and the pace to the year target.
    let kpi: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("gateway KPI"))
        .collect();
    assert!(kpi.len() >= 4, "{stdout}");
    for line in &kpi[2..] {
        assert!(line.contains(" t/h (last h)"), "no throughput: {line}");
        assert!(line.contains("Moz/yr"), "no pace: {line}");
    }
    // Its data lives under ./var of the working directory.
    assert!(dir.path().join("var/influxdb/data").is_dir());
    assert!(dir.path().join("var/demo/truth.jsonl").is_file());
}
