//! An outage longer than the spool holds: the oldest data is dropped and
//! counted (SpoolStats and `plantgw_spool_dropped_records_total`), the
//! newest is kept and delivered once InfluxDB is back.
use std::time::{Duration, Instant};

use super::peer::{Mode, ScriptedPlc};
use super::tap::WriteTap;
use super::{
    assert_ascending, blocking, holes, metric, now_ms, query_client, start_gateway, status_ts,
    stop_gateway, tags, wait_for_scans, GatewayToml, PlcToml, SPOOL_DROPS,
};
use crate::common::influx::InfluxD;
use crate::common::{eventually, free_port};

const SCAN_MS: i64 = 200;
const PLCS: [&str; 2] = ["big_a", "big_b"];
const MAX_BYTES: u64 = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_smaller_than_outage_drops_oldest_keeps_newest() {
    let _drops = SPOOL_DROPS.lock().await;
    let mut influx = InfluxD::start();
    let tap = WriteTap::start(influx.addr).await;
    let q = query_client(&influx.url).await;
    let mut peers = Vec::new();
    for _ in PLCS {
        peers.push(ScriptedPlc::start(Mode::Healthy).await);
    }
    let dir = tempfile::tempdir().unwrap();
    // Long field names: ~27 KB of line protocol per PLC per scan, so two
    // PLCs at 200 ms fill the 1 MiB spool in about four seconds.
    let settings = GatewayToml {
        spool_max_bytes: Some(MAX_BYTES),
        http_listen: format!("127.0.0.1:{}", free_port()),
        ..GatewayToml::new(
            &tap.url,
            &dir.path().join("spool"),
            PLCS.iter()
                .zip(&peers)
                .map(|(name, peer)| PlcToml {
                    name: name.to_string(),
                    address: peer.address(),
                    scan_ms: SCAN_MS as u64,
                    timeout_ms: 1000,
                    tags: tags(
                        &format!("{name}_dev"),
                        "holding",
                        "u16",
                        "bearing_temperature_sensor_deg_c_",
                        0,
                        600,
                    ),
                })
                .collect(),
        )
    }
    .write_and_load(&dir.path().join("gw.toml"));
    let (gw, cancel) = start_gateway(settings).await;
    let metrics_url = format!("http://{}/metrics", gw.http_addr.expect("http listener"));
    let spool = gw.spool.clone();
    let counted_before = metric(&metrics_url, "plantgw_spool_dropped_records_total")
        .await
        .unwrap_or(0.0);

    wait_for_scans(&q, &PLCS, 5, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let stop_ms = now_ms();
    let down = Instant::now();
    blocking(|| influx.stop());
    let stopped_ms = now_ms();
    // Down until the spool has dropped data for a while: the bound holds
    // through several rounds of dropping.
    let first_drop = eventually(
        Duration::from_secs(40),
        "the spool to drop data",
        || async {
            let s = spool.stats()?;
            (s.dropped_records > 0).then(Instant::now)
        },
    )
    .await;
    while first_drop.elapsed() < Duration::from_secs(3) || down.elapsed() < Duration::from_secs(8) {
        let s = spool.stats().expect("spool stats");
        assert!(
            s.bytes <= MAX_BYTES,
            "spool holds {} bytes > max_bytes",
            s.bytes
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let at_restart = spool.stats().expect("spool stats");
    blocking(|| influx.restart());
    let restart_ms = now_ms();
    let outage = down.elapsed();

    eventually(
        Duration::from_secs(60),
        "spool drained and scans after the restart in InfluxDB",
        || async {
            if spool.stats()?.records > 0 {
                return None;
            }
            for plc in PLCS {
                let last = *status_ts(&q, plc).await.last()?;
                if last < restart_ms + 2 * SCAN_MS {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    let stats = spool.stats().expect("spool stats");
    let counted = metric(&metrics_url, "plantgw_spool_dropped_records_total")
        .await
        .expect("plantgw_spool_dropped_records_total in /metrics")
        - counted_before;
    stop_gateway(gw, cancel).await;

    assert!(stats.dropped_records > 0 && stats.dropped_bytes > 0);
    // This test's own drops: counted from its baseline, under SPOOL_DROPS.
    assert!(
        counted >= stats.dropped_records as f64,
        "metric {counted} < SpoolStats {}",
        stats.dropped_records
    );
    // When the sender got through again (its backoff runs on after InfluxDB
    // is back), and how many bytes one scan of both PLCs takes.
    let exchanges = tap.exchanges();
    let resumed_ms = exchanges
        .iter()
        .find(|e| e.accepted() && e.at_ms >= restart_ms)
        .map(|e| e.at_ms)
        .expect("a write accepted after the restart");
    let (bytes, scans) =
        exchanges
            .iter()
            .filter(|e| e.accepted())
            .fold((0usize, 0usize), |(b, n), e| {
                (
                    b + e.body.len(),
                    n + super::status_lines(&e.body, PLCS[0]).len(),
                )
            });
    let scan_bytes = bytes as f64 / scans as f64;
    let mut report = Vec::new();
    for plc in PLCS {
        let ts = status_ts(&q, plc).await;
        assert_ascending(&ts, plc);
        let gaps = holes(&ts, SCAN_MS * 3 / 2);
        assert_eq!(
            gaps.len(),
            1,
            "{plc}: expected one hole (the dropped oldest data), got {gaps:?}; outage {stop_ms}..{restart_ms}"
        );
        let (kept_to, kept_from) = gaps[0];
        // The hole starts where the outage did (the oldest data went) and
        // ends where the data still spooled when delivery resumed begins:
        // InfluxDB was back at the restart, but the sender's retry backoff
        // (up to 30 s) decides when it tries again, and until then the full
        // spool goes on dropping its oldest data.
        assert!(
            kept_to >= stop_ms - 3000 && kept_to < stopped_ms + 1000 && kept_from > stop_ms && kept_from < resumed_ms,
            "{plc}: hole {kept_to}..{kept_from} is not the oldest part of the outage {stop_ms}..{restart_ms} \
             (delivery resumed at {resumed_ms})"
        );
        let lost = ((kept_from - kept_to) as f64 / SCAN_MS as f64).round() as usize - 1;
        // What the spool held when delivery resumed: about max_bytes (whole
        // oldest segments of max_bytes / 8 are dropped to make room).
        let held_scans = (resumed_ms - kept_from) as f64 / SCAN_MS as f64;
        let held_bytes = held_scans * scan_bytes;
        assert!(
            held_bytes > MAX_BYTES as f64 * 0.5 && held_bytes < MAX_BYTES as f64 * 1.3,
            "{plc}: {held_scans:.0} scans ≈ {held_bytes:.0} bytes kept, not about max_bytes {MAX_BYTES}"
        );
        report.push(format!(
            "{plc}: {lost} oldest scans dropped ({kept_to}..{kept_from}); the newest {held_scans:.0} scans \
             (≈ {:.0} KiB) kept and delivered",
            held_bytes / 1024.0
        ));
    }
    for peer in &peers {
        assert!(peer.functions().keys().all(|f| (1..=4).contains(f)));
    }
    eprintln!(
        "spool full: outage {:.1} s with max_bytes {MAX_BYTES}, {:.0} bytes per scan of both PLCs; dropped {} records / {} bytes \
         (metric {counted}), {} records / {} bytes held at the restart; delivery resumed {} ms after InfluxDB was back\n  {}",
        outage.as_secs_f64(),
        scan_bytes,
        stats.dropped_records,
        stats.dropped_bytes,
        at_restart.records,
        at_restart.bytes,
        resumed_ms - restart_ms,
        report.join("\n  ")
    );
}
