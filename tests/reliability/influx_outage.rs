//! A real influxd stopped mid-run and started again on the same port and
//! data dir: the gateway keeps scanning into the spool, and afterwards every
//! scan of the outage is in InfluxDB, in order, without a hole. The outage
//! is long enough for an exponential backoff to have grown past 10 s, yet
//! the newest scan must be queryable within seconds of InfluxDB answering.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::tap::{repeats, WriteTap};
use super::{
    assert_ascending, blocking, holes, now_ms, pymodbus_tags, query_client, spacing, start_gateway,
    status_ts, stop_gateway, GatewayToml, PlcToml,
};
use crate::common::eventually;
use crate::common::influx::InfluxD;
use crate::common::pymodbus::PymodbusPlc;

const SCAN_MS: i64 = 200;
/// Long enough that a backoff doubling from 100 ms would wait 12 s or more
/// after the next failed attempt (even with jitter halving it).
const OUTAGE: Duration = Duration::from_secs(20);
/// From InfluxDB answering `/ping` again to the newest scan being queryable.
const RESUME_WITHIN: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxd_restart_mid_run_loses_no_scan() {
    let plc = PymodbusPlc::start();
    let mut influx = InfluxD::start();
    let tap = WriteTap::start(influx.addr).await;
    let q = query_client(&influx.url).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = GatewayToml {
        influx_url: &tap.url,
        spool_dir: &dir.path().join("spool"),
        spool_max_bytes: None,
        flush_interval_ms: 200,
        http_listen: String::new(),
        plcs: vec![PlcToml {
            name: "fixture".into(),
            address: format!("127.0.0.1:{}", plc.port),
            scan_ms: SCAN_MS as u64,
            timeout_ms: 1000,
            tags: pymodbus_tags("fixture_dev"),
        }],
    }
    .write_and_load(&dir.path().join("gw.toml"));
    let (gw, cancel) = start_gateway(settings).await;
    let spool = gw.spool.clone();

    eventually(
        Duration::from_secs(20),
        "first scans in InfluxDB",
        || async { (status_ts(&q, "fixture").await.len() >= 5).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let stop_ms = now_ms();
    let down = Instant::now();
    blocking(|| influx.stop());
    tokio::time::sleep(OUTAGE).await;
    // Restart right after a failed attempt: the worst moment for a writer
    // that only retries on a timer.
    let refused = tap.refused();
    eventually(
        Duration::from_secs(40),
        "another write attempt while InfluxDB is down",
        || async { (tap.refused() > refused).then_some(()) },
    )
    .await;
    let held = spool.stats().expect("spool stats");
    assert!(
        held.records > 0,
        "nothing waited in the spool during the outage"
    );
    blocking(|| influx.restart());
    let answering = Instant::now();
    let restart_ms = now_ms();
    let outage = down.elapsed();

    // Scans taken after InfluxDB answered /ping, queryable within 5 s.
    let resumed = loop {
        if status_ts(&q, "fixture")
            .await
            .last()
            .is_some_and(|&t| t >= restart_ms)
        {
            break answering.elapsed();
        }
        assert!(
            answering.elapsed() < Duration::from_secs(30),
            "no scan newer than the restart in InfluxDB 30 s after it answered /ping again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        resumed <= RESUME_WITHIN,
        "newest scan queryable {:.1} s after InfluxDB answered /ping again (limit {RESUME_WITHIN:?}; outage {:.1} s)",
        resumed.as_secs_f64(),
        outage.as_secs_f64()
    );

    eventually(
        Duration::from_secs(60),
        "spool drained and scans after the restart in InfluxDB",
        || async {
            if spool.stats()?.records > 0 {
                return None;
            }
            let last = *status_ts(&q, "fixture").await.last()?;
            (last >= restart_ms + 2 * SCAN_MS).then_some(())
        },
    )
    .await;
    stop_gateway(gw, cancel).await;

    let ts = status_ts(&q, "fixture").await;
    assert_ascending(&ts, "plc_status");
    let gaps = holes(&ts, SCAN_MS * 3 / 2);
    assert!(
        gaps.is_empty(),
        "holes longer than 1.5 scans in plc_status (outage {stop_ms}..{restart_ms}): {gaps:?}\ninfluxd log:\n{}",
        influx.log_tail()
    );
    let (first, last) = (ts[0], ts[ts.len() - 1]);
    let expected = ((last - first) as f64 / SCAN_MS as f64).round() as usize + 1;
    assert_eq!(ts.len(), expected, "scans between {first} and {last}");
    let in_outage = ts
        .iter()
        .filter(|&&t| t >= stop_ms && t < restart_ms)
        .count();
    let expected_outage = ((restart_ms - stop_ms) as f64 / SCAN_MS as f64).round() as usize;
    assert!(
        in_outage.abs_diff(expected_outage) <= 1,
        "{in_outage} scans in the {} ms outage, expected {expected_outage} ± 1",
        restart_ms - stop_ms
    );

    // What went over the wire: every row was accepted at least once, in
    // scan order; only a batch InfluxDB took just before it went down can
    // come twice (its answer was lost), and InfluxDB overwrites it.
    let sent = tap.accepted_status_ts("fixture");
    let distinct: BTreeSet<i64> = sent.iter().copied().collect();
    assert_eq!(
        distinct,
        ts.iter().copied().collect::<BTreeSet<i64>>(),
        "rows in InfluxDB differ from the rows InfluxDB accepted"
    );
    let mut newest = i64::MIN;
    let mut seen = BTreeSet::new();
    for &t in &sent {
        if seen.insert(t) {
            assert!(t > newest, "scan {t} sent after the newer scan {newest}");
            newest = t;
        }
    }
    let dups = repeats(&sent);
    let exchanges = tap.exchanges();
    assert!(
        dups.is_empty()
            || exchanges.iter().any(|e| {
                let body = super::status_lines(&e.body, "fixture");
                dups.keys().all(|t| body.contains(t))
            }),
        "repeated scans {dups:?} do not come from one batch"
    );
    eprintln!(
        "influxd outage: {:.1} s down, newest scan queryable {:.2} s after /ping answered ({} write attempts cut off, {} connections refused meanwhile; {} records / {} bytes spooled at the peak); \
         scans expected in the outage window {expected_outage}, delivered {in_outage}; whole run expected {expected}, \
         delivered {}, spaced {:?} ms; duplicates (same series+time sent twice) {}",
        outage.as_secs_f64(),
        resumed.as_secs_f64(),
        tap.failed_writes(),
        tap.refused(),
        held.records,
        held.bytes,
        ts.len(),
        spacing(&ts),
        dups.values().map(|n| n - 1).sum::<usize>()
    );
}
