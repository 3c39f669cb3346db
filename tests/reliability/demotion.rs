//! A dead PLC is demoted to ever slower retries (reconnect backoff 250 ms
//! doubling to 30 s) while its scans go on being reported, and promoted
//! back to full-rate scanning once it answers again.
//!
//! Two dead PLCs: one refuses connections (nothing listens; its connect
//! attempts are the scans reporting an error), one accepts and closes at
//! once (attempts counted at its listener).
use std::time::{Duration, Instant};

use super::peer::{Mode, ScriptedPlc};
use super::{
    holes, start_gateway, status_of, stop_gateway, tags, GatewayToml, PlcToml, StatusLine,
};
use crate::common::influx::MockInflux;
use crate::common::{eventually, free_port};

const SCAN_MS: i64 = 100;
/// Attempts while dead before the PLCs come back.
const DEAD_ATTEMPTS: usize = 5;

fn statuses(sink: &MockInflux, plc: &str) -> Vec<StatusLine> {
    status_of(sink.accepted().join("\n").as_bytes(), plc)
}

/// Checks retry intervals (ms) against the backoff: interval k waits at
/// least 250 ms × 2^k, and not much longer than that plus a scan.
fn check_backoff(what: &str, intervals: &[i64]) {
    for (k, &d) in intervals.iter().enumerate() {
        let backoff = 250i64 << k;
        assert!(
            d >= backoff - 20,
            "{what}: retry {k} after {d} ms, before its {backoff} ms backoff: {intervals:?}"
        );
        assert!(
            d <= backoff + SCAN_MS + 1500,
            "{what}: retry {k} after {d} ms, far beyond its {backoff} ms backoff: {intervals:?}"
        );
    }
}

/// After `from`, every scan connected, reading, and no hole.
fn check_full_rate(what: &str, st: &[StatusLine], from: i64) -> usize {
    let after: Vec<&StatusLine> = st.iter().filter(|s| s.ts >= from).collect();
    assert!(
        after.len() >= 10,
        "{what}: only {} scans after promotion",
        after.len()
    );
    for s in &after {
        assert!(
            s.connected && s.requests == 1 && s.errors == 0,
            "{what}: scan after promotion not at full service: {s:?}"
        );
    }
    let ts: Vec<i64> = after.iter().map(|s| s.ts).collect();
    let gaps = holes(&ts, SCAN_MS * 3 / 2);
    assert!(gaps.is_empty(), "{what}: holes after promotion: {gaps:?}");
    after.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_plc_is_retried_ever_less_and_promoted_back() {
    let refused_port = free_port();
    let flaky = ScriptedPlc::start(Mode::AcceptClose).await;
    let sink = MockInflux::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plc = |name: &str, address: String| PlcToml {
        name: name.into(),
        address,
        scan_ms: SCAN_MS as u64,
        timeout_ms: 1000,
        tags: tags(&format!("{name}_dev"), "holding", "u16", "r", 0, 4),
    };
    let settings = GatewayToml {
        influx_url: &sink.url,
        spool_dir: &dir.path().join("spool"),
        spool_max_bytes: None,
        flush_interval_ms: 100,
        http_listen: String::new(),
        plcs: vec![
            plc("refused", format!("127.0.0.1:{refused_port}")),
            plc("flaky", flaky.address()),
        ],
    }
    .write_and_load(&dir.path().join("gw.toml"));
    let (gw, cancel) = start_gateway(settings).await;
    let started = Instant::now();

    eventually(
        Duration::from_secs(30),
        "dead-phase connect attempts",
        || async { (flaky.connections().len() >= DEAD_ATTEMPTS).then_some(()) },
    )
    .await;
    let dead_for = started.elapsed();
    flaky.set_mode(Mode::Healthy);
    let revived = ScriptedPlc::start_on(([127, 0, 0, 1], refused_port).into(), Mode::Healthy).await;
    let healed_ms = super::now_ms();
    let promoted = eventually(
        Duration::from_secs(30),
        "both PLCs promoted back",
        || async {
            let up = |plc: &str| {
                statuses(&sink, plc)
                    .into_iter()
                    .find(|s| s.connected)
                    .map(|s| s.ts)
            };
            Some((up("refused")?, up("flaky")?))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_gateway(gw, cancel).await;

    // Accept-and-close PLC: attempts as its listener saw them.
    let conns = flaky.connections();
    assert_eq!(
        conns.len(),
        DEAD_ATTEMPTS + 1,
        "flaky: connections (dead attempts + the one that stayed up)"
    );
    let flaky_intervals: Vec<i64> = conns
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis() as i64)
        .collect();
    check_backoff("flaky", &flaky_intervals);

    // Refusing PLC: a scan with an error and no request is a connect attempt.
    let st = statuses(&sink, "refused");
    let attempts: Vec<i64> = st
        .iter()
        .filter(|s| s.ts < promoted.0 && s.errors > 0)
        .map(|s| s.ts)
        .chain([promoted.0])
        .collect();
    assert!(
        st.iter()
            .filter(|s| s.ts < promoted.0)
            .all(|s| !s.connected && s.requests == 0),
        "refused: scans before promotion should be unconnected with no requests"
    );
    let refused_intervals: Vec<i64> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        refused_intervals.len() >= DEAD_ATTEMPTS - 1,
        "refused: only {} attempts",
        attempts.len()
    );
    check_backoff("refused", &refused_intervals);
    // Demoted retries, but every scan still reported while dead.
    let dead_scans = st.iter().filter(|s| s.ts < promoted.0).count();
    let dead_ts: Vec<i64> = st
        .iter()
        .filter(|s| s.ts < promoted.0)
        .map(|s| s.ts)
        .collect();
    assert!(
        holes(&dead_ts, SCAN_MS * 3 / 2).is_empty(),
        "refused: scans not reported at full rate while dead"
    );

    let full_refused = check_full_rate("refused", &st, promoted.0);
    let full_flaky = check_full_rate("flaky", &statuses(&sink, "flaky"), promoted.1);
    assert_eq!(
        flaky.connections().len(),
        DEAD_ATTEMPTS + 1,
        "flaky reconnected after promotion"
    );
    assert!(revived.functions().keys().all(|f| (1..=4).contains(f)));
    eprintln!(
        "demotion: dead {:.1} s; refused PLC {} attempts in {dead_scans} scans, intervals {refused_intervals:?} ms; \
         accept-close PLC intervals {flaky_intervals:?} ms; promoted {} / {} ms after healing, then {full_refused} / {full_flaky} \
         scans at full rate",
        dead_for.as_secs_f64(),
        attempts.len() - 1,
        promoted.0 - healed_ms,
        promoted.1 - healed_ms,
    );
}
