//! Modbus peers that misbehave on the wire, next to a healthy PLC: the
//! gateway marks the bad PLCs' tags with the matching quality and writes no
//! value for them, recovers once they behave, and the healthy PLC's scans
//! go on without a gap the whole time.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use plantgw::sink::influxdb::query::QueryClient;
use serde_json::Value;

use super::peer::{self, Mode, ScriptedPlc};
use super::{
    assert_ascending, equipment_rows, holes, now_ms, pymodbus_plc, quality_codes, query_client,
    spacing, start_gateway, status_ts, stop_gateway, tags, GatewayToml, PlcToml,
};
use crate::common::eventually;
use crate::common::influx::InfluxD;
use crate::common::pymodbus::PymodbusPlc;

const SCAN_MS: i64 = 200;

/// (PLC name, mode, quality code the tags of its first request must get).
fn cases() -> Vec<(&'static str, Mode, &'static str)> {
    vec![
        ("stall", Mode::Stall, "timeout"),
        ("reset", Mode::Reset, "comm_failure"),
        ("wrong_tid", Mode::WrongTransaction, "comm_failure"),
        ("wrong_unit", Mode::WrongUnit, "comm_failure"),
        ("short", Mode::ShortAnswer, "decode_error"),
        ("bad_count", Mode::BadByteCount, "comm_failure"),
        ("storm_2", Mode::Exception(2), "exception_2"),
        ("storm_4", Mode::Exception(4), "exception_4"),
    ]
}

/// Rows of an equipment measurement: (time, register and coil field → value).
async fn values(q: &QueryClient, equipment: &str) -> Vec<(i64, BTreeMap<String, Value>)> {
    let mut rows = equipment_rows(q, equipment).await;
    for (_, fields) in &mut rows {
        fields.retain(|c, _| c.starts_with("reg") || c.starts_with("coil"));
    }
    rows
}

/// Asserts every row `sql` returns (time, then two `plc_status` fields)
/// holds `want`.
async fn assert_status_rows(q: &QueryClient, sql: &str, want: (Value, Value), what: &str) {
    let status = q
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("query {what} status: {e}"));
    for row in &status[0].values {
        assert_eq!(
            (&row[1], &row[2]),
            (&want.0, &want.1),
            "{what} status at {}",
            row[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_peers_are_marked_isolated_and_recovered() {
    let healthy = PymodbusPlc::start();
    let influx = InfluxD::start();
    let q = query_client(&influx.url).await;
    let mut peers = Vec::new();
    for (_, mode, _) in cases() {
        peers.push(ScriptedPlc::start(mode).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut plcs = vec![pymodbus_plc("healthy", healthy.port, SCAN_MS as u64)];
    for ((name, _, _), peer) in cases().into_iter().zip(&peers) {
        // Four registers and three coils: two requests per scan.
        let equipment = format!("{name}_dev");
        plcs.push(PlcToml {
            name: name.into(),
            address: peer.address(),
            scan_ms: SCAN_MS as u64,
            timeout_ms: 300,
            tags: tags(&equipment, "holding", "u16", "reg", 10, 4)
                + &tags(&equipment, "coil", "bool", "coil", 0, 3),
        });
    }
    let settings = GatewayToml::new(&influx.url, &dir.path().join("spool"), plcs)
        .write_and_load(&dir.path().join("gw.toml"));
    let (gw, cancel) = start_gateway(settings).await;

    // Misbehave until every bad PLC's register tags carry their code.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut waiting = Vec::new();
        for (name, _, code) in cases() {
            let codes = quality_codes(&q, name).await;
            if !codes.values().flatten().any(|(_, c)| c == code) {
                waiting.push(format!("{name} (want {code}): {codes:?}"));
            }
        }
        if waiting.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "quality codes missing after 30 s:\n{}",
            waiting.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let healed_ms = now_ms();
    for p in &peers {
        p.set_mode(Mode::Healthy);
    }
    // Backoff after a few seconds of failures is a few seconds: all recover.
    eventually(Duration::from_secs(40), "every PLC good again", || async {
        for (name, _, _) in cases() {
            let codes = quality_codes(&q, name).await;
            let all_good = codes.len() == 7
                && codes
                    .values()
                    .all(|rows| rows.last().is_some_and(|(_, c)| c == "good"));
            if !all_good {
                return None;
            }
        }
        Some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_gateway(gw, cancel).await;

    let mut report = Vec::new();
    for ((name, mode, code), peer) in cases().into_iter().zip(&peers) {
        let codes = quality_codes(&q, name).await;
        let before: BTreeSet<&str> = codes
            .values()
            .flatten()
            .filter(|(t, _)| *t < healed_ms)
            .map(|(_, c)| c.as_str())
            .collect();
        assert!(
            !before.contains("good"),
            "{name} ({mode:?}): good quality while misbehaving: {before:?}"
        );
        // The first request's tags get the failure's own code; a failure
        // that drops the connection leaves the later requests' tags
        // comm_failure (they were not asked).
        assert!(
            before.contains(code),
            "{name} ({mode:?}): tags got {before:?}, expected {code}"
        );
        // No value invented: the equipment has rows only once healed, and
        // they are the peer's image.
        let rows = values(&q, &format!("{name}_dev")).await;
        assert!(!rows.is_empty(), "{name}: no values after recovery");
        for (t, fields) in &rows {
            assert!(*t >= healed_ms, "{name} ({mode:?}): value written at {t}, before it was healed at {healed_ms}: {fields:?}");
            for i in 0..4u16 {
                assert_eq!(
                    fields.get(&format!("reg{i:03}")),
                    Some(&Value::from(peer::holding(10 + i))),
                    "{name} reg{i:03} at {t}"
                );
            }
            for i in 0..3u16 {
                assert_eq!(
                    fields.get(&format!("coil{i:03}")),
                    Some(&Value::from(peer::bit(i))),
                    "{name} coil{i:03} at {t}"
                );
            }
        }
        let fcs = peer.functions();
        assert!(
            fcs.keys().all(|f| (1..=4).contains(f)),
            "{name}: function codes {fcs:?}"
        );
        report.push(format!(
            "{name}: {before:?} while misbehaving, good after; {} value rows, all after healing",
            rows.len()
        ));
    }

    let ts = status_ts(&q, "healthy").await;
    assert_ascending(&ts, "healthy plc_status");
    let gaps = holes(&ts, SCAN_MS * 3 / 2);
    assert!(gaps.is_empty(), "healthy PLC has holes: {gaps:?}");
    let expected = ((ts[ts.len() - 1] - ts[0]) as f64 / SCAN_MS as f64).round() as usize + 1;
    assert_eq!(ts.len(), expected, "healthy PLC scans");
    assert_status_rows(
        &q,
        "SELECT \"connected\", \"errors\" FROM \"plc_status\" WHERE \"plc\"='healthy'",
        (Value::from(true), Value::from(0)),
        "healthy PLC",
    )
    .await;
    let quality = quality_codes(&q, "healthy").await;
    assert!(
        quality.values().flatten().all(|(_, c)| c == "good"),
        "healthy PLC quality: {quality:?}"
    );
    eprintln!(
        "misbehaving peers: healthy PLC {} scans spaced {:?} ms, no hole, 0 errors\n  {}",
        ts.len(),
        spacing(&ts),
        report.join("\n  ")
    );
}

/// A PLC with one unmapped register among adjacent tags refuses the merged
/// read with exception 2; splitting at gaps gives the same block back, so
/// the gateway splits it down to single tags: the refused register's tag is
/// `exception_2`, its neighbours are read and good, and the split settles
/// (the same requests every scan from then on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hole_among_adjacent_tags_is_split_down_to_single_tags() {
    let peer = ScriptedPlc::start(Mode::Hole(12)).await;
    let influx = InfluxD::start();
    let q = query_client(&influx.url).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = GatewayToml::new(
        &influx.url,
        &dir.path().join("spool"),
        vec![PlcToml {
            name: "holey".into(),
            address: peer.address(),
            scan_ms: SCAN_MS as u64,
            timeout_ms: 1000,
            // Registers 10..13, one request; 12 is the hole.
            tags: tags("holey_dev", "holding", "u16", "reg", 10, 4),
        }],
    )
    .write_and_load(&dir.path().join("gw.toml"));
    let (gw, cancel) = start_gateway(settings).await;
    super::wait_for_scans(&q, &["holey"], 15, Duration::from_secs(30)).await;
    stop_gateway(gw, cancel).await;

    let codes = quality_codes(&q, "holey").await;
    let last = |tag: &str| {
        codes
            .get(tag)
            .and_then(|rows| rows.last())
            .map(|(_, c)| c.as_str())
    };
    for tag in ["reg000", "reg001", "reg003"] {
        assert_eq!(last(tag), Some("good"), "{tag}: codes {codes:?}");
    }
    let hole: BTreeSet<&str> = codes["reg002"].iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        hole,
        BTreeSet::from(["exception_2"]),
        "reg002: codes {codes:?}"
    );
    let rows = values(&q, "holey_dev").await;
    let good: Vec<_> = rows.iter().filter(|(_, f)| f.len() == 3).collect();
    assert!(
        good.len() >= 10,
        "{} rows with the three good tags: {rows:?}",
        good.len()
    );
    for (t, fields) in &good {
        for (name, address) in [("reg000", 10), ("reg001", 11), ("reg003", 13)] {
            assert_eq!(
                fields.get(name),
                Some(&Value::from(peer::holding(address))),
                "{name} at {t}"
            );
        }
        assert!(
            !fields.contains_key("reg002"),
            "the hole got a value at {t}"
        );
    }
    // Settled: the last scans send one request per tag, one of them refused.
    assert_status_rows(
        &q,
        "SELECT \"requests\", \"errors\" FROM \"plc_status\" WHERE \"plc\"='holey' ORDER BY time DESC LIMIT 5",
        (Value::from(4), Value::from(1)),
        "holey",
    )
    .await;
    eprintln!(
        "hole at register 12: neighbours good on {} scans, 12 exception_2 only",
        good.len()
    );
}
