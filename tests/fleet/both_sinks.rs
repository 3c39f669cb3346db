//! One gateway with both sinks: every spooled record reaches the local
//! InfluxDB and the R3 stream, through a NATS node killed and restarted,
//! and through the whole cluster being down.
use std::time::{Duration, Instant};

use super::{
    assert_contiguous, nats_section, seqs_by_gateway, status_ts_in, stream_messages, SETTLE,
};
use crate::common::eventually;
use crate::common::influx::InfluxD;
use crate::common::nats::NatsCluster;
use crate::reliability::peer::{Mode, ScriptedPlc};
use crate::reliability::{
    query_client, start_gateway, status_ts, stop_gateway, tags, GatewayToml, PlcToml,
};

fn plc(address: String) -> PlcToml {
    PlcToml {
        name: "mill".into(),
        address,
        scan_ms: 200,
        timeout_ms: 1000,
        tags: tags("mill_dev", "holding", "u16", "t", 0, 20),
    }
}

/// `text` written to `dir/gw.toml` and loaded; the text is shown when it
/// does not load.
fn load(dir: &std::path::Path, text: &str) -> plantgw::config::Settings {
    let path = dir.join("gw.toml");
    std::fs::write(&path, text).expect("write config");
    plantgw::config::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A gateway polling `plc` into `influx` and publishing to `cluster` as gw1.
fn both_sinks(
    dir: &std::path::Path,
    influx: &str,
    cluster: &NatsCluster,
    plc: PlcToml,
) -> plantgw::config::Settings {
    let spool = dir.join("spool");
    let gw = GatewayToml::new(influx, &spool, vec![plc]);
    load(dir, &(gw.render() + &nats_section(cluster, "gw1", "")))
}

/// A node of three killed (SIGKILL) and restarted while the gateway
/// publishes: the stream keeps quorum, every record is stored once, and the
/// stream holds exactly the scans the local InfluxDB holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sinks_get_every_record_through_a_node_kill() {
    let influx = InfluxD::start();
    let mut cluster = NatsCluster::start(3);
    cluster.wait_ready(3).await;
    let plc_peer = ScriptedPlc::start(Mode::Healthy).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = both_sinks(dir.path(), &influx.url, &cluster, plc(plc_peer.address()));
    assert_eq!(
        settings.nats.as_ref().map(|n| n.subject.as_str()),
        Some("plant.reliab.gw1")
    );
    let q = query_client(&influx.url).await;
    let (running, cancel) = start_gateway(settings).await;
    let js = cluster.jetstream().await;

    tokio::time::sleep(SETTLE).await;
    cluster.kill(1);
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.restart(1);
    tokio::time::sleep(SETTLE).await;
    stop_gateway(running, cancel).await;

    let msgs = stream_messages(&js, "PLANT").await;
    let seqs = seqs_by_gateway(&msgs);
    assert_contiguous("gw1", &seqs["gw1"]);
    assert!(msgs.iter().all(|(_, s, _)| s == "plant.reliab.gw1"));
    let in_stream = status_ts_in(msgs.iter().map(|m| m.2.clone()), "mill");
    let in_influx = eventually(
        Duration::from_secs(10),
        "InfluxDB holds what the stream holds",
        || {
            let q = &q;
            let want = in_stream.clone();
            async move {
                let got = status_ts(q, "mill").await;
                (got == want).then_some(got)
            }
        },
    )
    .await;
    let span_s = (in_influx.last().copied().unwrap_or(0) - in_influx.first().copied().unwrap_or(0))
        as f64
        / 1e3;
    assert!(in_influx.len() >= 40, "too few scans: {}", in_influx.len());
    println!(
        "both sinks: {} records in the stream, {} scans over {span_s:.1} s in both, node 1 down for {:.1} s",
        msgs.len(),
        in_influx.len(),
        killed.elapsed().as_secs_f64()
    );
}

/// The whole cluster killed for a while: the local InfluxDB stays current
/// meanwhile (the JetStream sender waits on its own cursor), and once the
/// cluster is back the stream catches up with every record, in order,
/// without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influx_stays_current_while_the_cluster_is_down_and_the_stream_catches_up() {
    let influx = InfluxD::start();
    let mut cluster = NatsCluster::start(3);
    cluster.wait_ready(3).await;
    let plc_peer = ScriptedPlc::start(Mode::Healthy).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = both_sinks(dir.path(), &influx.url, &cluster, plc(plc_peer.address()));
    let q = query_client(&influx.url).await;
    let (running, cancel) = start_gateway(settings).await;

    tokio::time::sleep(SETTLE).await;
    for i in 0..3 {
        cluster.kill(i);
    }
    let down = Instant::now();
    // While the cluster is down, InfluxDB keeps getting the newest scans.
    let mut worst_lag_ms = 0i64;
    while down.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let newest = status_ts(&q, "mill").await.last().copied().unwrap_or(0);
        let now_ms = jiff::Timestamp::now().as_millisecond();
        if down.elapsed() > Duration::from_secs(2) {
            worst_lag_ms = worst_lag_ms.max(now_ms - newest);
        }
    }
    assert!(
        worst_lag_ms < 3000,
        "InfluxDB fell {worst_lag_ms} ms behind while the NATS cluster was down"
    );
    let pending = running.spool.stats().map(|s| s.records).unwrap_or(0);
    assert!(
        pending > 10,
        "the spool should hold the unpublished records, has {pending}"
    );
    for i in 0..3 {
        cluster.restart(i);
    }
    let back = Instant::now();
    let js = cluster.jetstream().await;
    eventually(Duration::from_secs(45), "the stream caught up", || {
        let spool = running.spool.clone();
        async move {
            let left = spool.stats().map(|s| s.records).unwrap_or(u64::MAX);
            (left < 3).then_some(())
        }
    })
    .await;
    let caught_up = back.elapsed();
    stop_gateway(running, cancel).await;

    let msgs = stream_messages(&js, "PLANT").await;
    let seqs = seqs_by_gateway(&msgs);
    assert_contiguous("gw1", &seqs["gw1"]);
    let in_stream = status_ts_in(msgs.iter().map(|m| m.2.clone()), "mill");
    assert_eq!(
        in_stream,
        status_ts(&q, "mill").await,
        "stream and InfluxDB differ"
    );
    println!(
        "cluster down {:.1} s: InfluxDB at most {worst_lag_ms} ms behind, {pending} records waited for JetStream, caught up {:.1} s after the restart; {} records, {} scans",
        back.duration_since(down).as_secs_f64(),
        caught_up.as_secs_f64(),
        msgs.len(),
        in_stream.len()
    );
}

/// JetStream unreachable for longer than the spool holds: the spool sheds
/// its oldest segments (counted) while InfluxDB keeps every scan, so the
/// dead sink never holds the live one back beyond the spool bound; once
/// the server is back the stream gets what is left, from the oldest kept
/// record on, without another gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_stream_costs_only_its_own_oldest_records_beyond_the_spool_bound() {
    let _drops = crate::reliability::SPOOL_DROPS.lock().await;
    let influx = InfluxD::start();
    let mut cluster = NatsCluster::start(1);
    cluster.kill(0);
    let plc_peer = ScriptedPlc::start(Mode::Healthy).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let mut mill = plc(plc_peer.address());
    mill.scan_ms = 100;
    mill.tags = tags("mill_dev", "holding", "u16", "t", 0, 600);
    let mut gw = GatewayToml::new(&influx.url, &spool, vec![mill]);
    gw.spool_max_bytes = Some(1 << 20);
    let text =
        gw.render() + &nats_section(&cluster, "gw1", "").replace("replicas = 3", "replicas = 1");
    let settings = load(dir.path(), &text);
    let q = query_client(&influx.url).await;
    let (running, cancel) = start_gateway(settings).await;

    let dropped = eventually(Duration::from_secs(50), "the spool sheds records", || {
        let s = running.spool.clone();
        async move {
            let d = s.stats().map(|s| s.dropped_records).unwrap_or(0);
            (d > 0).then_some(d)
        }
    })
    .await;
    let newest = status_ts(&q, "mill").await.last().copied().unwrap_or(0);
    let lag_ms = jiff::Timestamp::now().as_millisecond() - newest;
    assert!(
        lag_ms < 3000,
        "InfluxDB {lag_ms} ms behind while the stream was down"
    );
    cluster.restart(0);
    eventually(
        Duration::from_secs(45),
        "the stream got what the spool kept",
        || {
            let spool = running.spool.clone();
            async move { (spool.stats().map(|s| s.records).unwrap_or(u64::MAX) < 3).then_some(()) }
        },
    )
    .await;
    stop_gateway(running, cancel).await;

    let js = cluster.jetstream().await;
    let msgs = stream_messages(&js, "PLANT").await;
    let seqs = seqs_by_gateway(&msgs);
    assert_contiguous("gw1", &seqs["gw1"]);
    let first = seqs["gw1"].first().copied().unwrap_or(0);
    assert!(
        first > 1,
        "the oldest records should have been shed, stream starts at {first}"
    );
    let scans = status_ts(&q, "mill").await;
    let gaps = crate::reliability::holes(&scans, 300);
    assert!(gaps.is_empty(), "InfluxDB has holes {gaps:?}");
    println!(
        "spool bound: {dropped}+ records shed while JetStream was down, InfluxDB {lag_ms} ms behind, \
         stream holds records {first}..={} ({} scans in InfluxDB without a hole)",
        seqs["gw1"].last().copied().unwrap_or(0),
        scans.len()
    );
}
