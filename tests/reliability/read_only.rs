//! The gateway never writes to a PLC: a recording peer logs the function
//! code of every request it gets during a run over all four tables, and
//! only the four read functions (1–4) appear.
use std::time::Duration;

use super::peer::{self, Mode, ScriptedPlc};
use super::{start_gateway, status_of, stop_gateway, tags, GatewayToml, PlcToml};
use crate::common::eventually;
use crate::common::influx::MockInflux;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_read_function_codes_reach_the_plc() {
    let plc = ScriptedPlc::start(Mode::Healthy).await;
    let sink = MockInflux::start().await;
    let dir = tempfile::tempdir().unwrap();
    let equipment = "recorded_dev";
    let settings = GatewayToml {
        influx_url: &sink.url,
        spool_dir: &dir.path().join("spool"),
        spool_max_bytes: None,
        flush_interval_ms: 100,
        http_listen: String::new(),
        plcs: vec![PlcToml {
            name: "recorded".into(),
            address: plc.address(),
            scan_ms: 100,
            timeout_ms: 1000,
            tags: tags(equipment, "holding", "u16", "hr", 0, 10)
                + &tags(equipment, "holding", "i16", "hr_far", 300, 2)
                + &tags(equipment, "input", "u16", "ir", 5, 4)
                + &tags(equipment, "coil", "bool", "co", 0, 20)
                + &tags(equipment, "discrete", "bool", "di", 100, 5),
        }],
    }
    .write_and_load(&dir.path().join("gw.toml"));
    let (gw, cancel) = start_gateway(settings).await;
    eventually(Duration::from_secs(20), "30 connected scans", || async {
        let n = sink
            .accepted()
            .iter()
            .filter_map(|l| super::parse_status(l))
            .filter(|s| s.plc == "recorded" && s.connected)
            .count();
        (n >= 30).then_some(())
    })
    .await;
    stop_gateway(gw, cancel).await;

    let fcs = plc.functions();
    assert_eq!(
        fcs.keys().copied().collect::<Vec<u8>>(),
        vec![1, 2, 3, 4],
        "function codes received: {fcs:?}"
    );
    // The reads were answered and decoded: values are the peer's image.
    let lines = sink.accepted();
    let body = lines.join("\n");
    let status = status_of(body.as_bytes(), "recorded");
    assert!(status.iter().all(|s| s.errors == 0 && s.requests == 5));
    let line = lines
        .iter()
        .rfind(|l| l.starts_with(&format!("{equipment},")))
        .expect("a value line");
    for (field, want) in [
        ("hr000", format!("{}i", peer::holding(0))),
        ("hr009", format!("{}i", peer::holding(9))),
        ("ir003", format!("{}i", peer::input(8))),
        ("co003", peer::bit(3).to_string()),
        ("di001", peer::bit(101).to_string()),
    ] {
        assert!(
            line.contains(&format!("{field}={want}")),
            "{field}={want} missing in {line}"
        );
    }
    eprintln!(
        "read-only: {} requests over {} scans, function codes {fcs:?}",
        plc.requests(),
        status.len()
    );
}
