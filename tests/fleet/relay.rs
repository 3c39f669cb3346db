//! The fleet end to end: two sites' gateways → R3 stream on three nodes →
//! two relays sharing one durable → one central InfluxDB, through a NATS
//! node killed and restarted, a relay and a gateway killed with SIGKILL.
use std::path::Path;
use std::time::{Duration, Instant};

use plantgw::sink::influxdb::query::QueryClient;
use serde_json::Value;

use super::procs::Proc;
use super::{database, nats_section, seqs_by_gateway, stream_messages};
use crate::common::free_port;
use crate::common::influx::InfluxD;
use crate::common::nats::NatsCluster;
use crate::reliability::peer::{Mode, ScriptedPlc};
use crate::reliability::{holes, metric, tags};

const SITES: [&str; 2] = ["alpha", "beta"];
const TAGS: u16 = 20;
const SCAN_MS: i64 = 200;

fn gateway_toml(site: &str, influx: &str, dir: &Path, plc: &str, http: u16, nats: &str) -> String {
    format!(
        "[site]\nname = \"{site}\"\ntimezone = \"America/Lima\"\n\n\
         [influxdb]\nurl = \"{influx}\"\napi = \"v1\"\ndatabase = \"local_{site}\"\nflush_interval_ms = 200\ntimeout_ms = 2000\n\n\
         [spool]\ndir = \"{}\"\n\n[http]\nlisten = \"127.0.0.1:{http}\"\n\n\
         [[plc]]\nname = \"mill\"\narea = \"test\"\naddress = \"{plc}\"\nscan_ms = {SCAN_MS}\ntimeout_ms = 1000\n{}\n{nats}",
        dir.join(format!("spool_{site}")).display(),
        tags("mill_dev", "holding", "u16", "t", 0, TAGS)
    )
}

fn relay_toml(cluster: &NatsCluster, influx: &str, http: u16) -> String {
    format!(
        "[nats]\nservers = {}\nstream = \"PLANT\"\ndurable = \"historian\"\nfilter_subject = \"plant.>\"\n\
         ack_wait_ms = 4000\ntimeout_ms = 2000\nfetch_batch = 50\n\n\
         [influxdb]\nurl = \"{influx}\"\napi = \"v1\"\ndatabase = \"central\"\ntimeout_ms = 2000\n\n\
         [http]\nlisten = \"127.0.0.1:{http}\"\n",
        cluster.servers_toml()
    )
}

/// `plc_status` timestamps (ms) of `site` in `q`'s database.
async fn scans(q: &QueryClient, site: &str) -> Vec<i64> {
    q.query(&format!(
        "SELECT \"connected\" FROM \"plc_status\" WHERE \"site\"='{site}' AND \"plc\"='mill' ORDER BY time ASC"
    ))
    .await
    .expect("query plc_status")
    .iter()
    .flat_map(|s| s.values.iter())
    .filter_map(|row| row.first().and_then(Value::as_i64))
    .collect()
}

/// Per field of `mill_dev` at `site`: how many points.
async fn field_counts(q: &QueryClient, site: &str) -> Vec<Value> {
    q.query(&format!(
        "SELECT count(*) FROM \"mill_dev\" WHERE \"site\"='{site}'"
    ))
    .await
    .expect("query counts")
    .iter()
    .flat_map(|s| s.values.iter())
    .flat_map(|row| row.iter().skip(1).cloned())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sites_reach_the_central_influxdb_exactly_once_through_kills() {
    let influx = InfluxD::start();
    let mut cluster = NatsCluster::start(3);
    cluster.wait_ready(3).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let central = database(&influx.url, "central").await;
    let mut locals = Vec::new();
    let mut peers = Vec::new();
    let mut gateways = Vec::new();
    let mut gw_metrics = Vec::new();
    for site in SITES {
        locals.push(database(&influx.url, &format!("local_{site}")).await);
        let peer = ScriptedPlc::start(Mode::Healthy).await;
        let http = free_port();
        let nats = nats_section(&cluster, &format!("gw-{site}"), "");
        let path = dir.path().join(format!("{site}.toml"));
        std::fs::write(
            &path,
            gateway_toml(site, &influx.url, dir.path(), &peer.address(), http, &nats),
        )
        .expect("write gateway config");
        gateways.push(Proc::spawn(
            "run",
            &path,
            &dir.path().join(format!("{site}.log")),
        ));
        gw_metrics.push(format!("http://127.0.0.1:{http}/metrics"));
        peers.push(peer);
    }
    let mut relays = Vec::new();
    let mut relay_metrics = Vec::new();
    for i in 0..2 {
        let http = free_port();
        let path = dir.path().join(format!("relay{i}.toml"));
        std::fs::write(&path, relay_toml(&cluster, &influx.url, http)).expect("write relay config");
        relays.push(Proc::spawn(
            "relay",
            &path,
            &dir.path().join(format!("relay{i}.log")),
        ));
        relay_metrics.push(format!("http://127.0.0.1:{http}/metrics"));
    }

    // Steady state: sample the end-to-end lag (newest point of a written
    // batch to InfluxDB's 204) from the relays.
    let mut lags = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for url in &relay_metrics {
            if let Some(l) = metric(url, "plantgw_relay_lag_seconds").await {
                lags.push(l);
            }
        }
    }
    for p in gateways.iter_mut().chain(relays.iter_mut()) {
        p.assert_running();
    }
    cluster.kill(2);
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.restart(2);
    relays[0].kill9();
    tokio::time::sleep(Duration::from_secs(2)).await;
    gateways[0].kill9();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Restarted with the crash hook armed, the gateway dies again right
    // after its second PubAck, before its NATS cursor moves past that
    // record: the next start must publish the record again, and the
    // stream must drop the resend by its message id.
    gateways[0].start_with_env(&[("SINK_TEST_CRASH_AFTER_PUBACK", "2")]);
    let crashed = gateways[0].wait_exit(Duration::from_secs(20));
    assert!(!crashed.success(), "the crash hook did not fire: {crashed}");
    gateways[0].start();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let resent = metric(&gw_metrics[0], "plantgw_nats_duplicates_total")
        .await
        .unwrap_or(0.0);
    assert!(
        resent >= 1.0,
        "the gateway restarted after a crash between PubAck and cursor counted no resend \
         deduplicated by the stream (plantgw_nats_duplicates_total = {resent})"
    );
    let mut duplicates = 0.0;
    for url in &gw_metrics {
        duplicates += metric(url, "plantgw_nats_duplicates_total")
            .await
            .unwrap_or(0.0);
    }
    for g in &mut gateways {
        g.terminate(Duration::from_secs(30));
    }

    // Everything published is consumed and acked, r0's unacked batches
    // by r1 after ack_wait.
    let js = cluster.jetstream().await;
    let drained = Instant::now();
    super::drained(&js, Duration::from_secs(40)).await;
    let drain_s = drained.elapsed().as_secs_f64();
    let acked = metric(&relay_metrics[1], "plantgw_relay_acked_total")
        .await
        .unwrap_or(0.0);
    relays[1].terminate(Duration::from_secs(15));

    let msgs = stream_messages(&js, "PLANT").await;
    let seqs = seqs_by_gateway(&msgs);
    let mut report = String::new();
    for (i, site) in SITES.iter().enumerate() {
        let id = format!("gw-{site}");
        super::assert_contiguous(&id, &seqs[&id]);
        let local = scans(&locals[i], site).await;
        let there = scans(&central, site).await;
        assert_eq!(
            there, local,
            "{site}: central scans differ from the site's own InfluxDB"
        );
        let gaps = holes(&there, SCAN_MS * 3 / 2);
        // The only holes are the gateway's own downtimes (kill -9 to
        // restart, crash hook to restart).
        assert!(
            gaps.len() <= 2 * usize::from(i == 0),
            "{site}: holes {gaps:?}"
        );
        let counts = field_counts(&central, site).await;
        assert_eq!(counts.len(), usize::from(TAGS), "{site}: fields {counts:?}");
        for c in &counts {
            assert_eq!(
                c.as_u64(),
                Some(there.len() as u64),
                "{site}: a tag's points ≠ scans ({counts:?})"
            );
        }
        assert_eq!(
            counts,
            field_counts(&locals[i], site).await,
            "{site}: counts differ"
        );
        report += &format!(" {site}: {} scans × {TAGS} tags;", there.len());
    }
    lags.sort_by(f64::total_cmp);
    let median = lags.get(lags.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "fleet:{report} {} records in the stream, {duplicates} resends deduplicated (PubAck duplicate), \
         relay1 acked {acked}, drained {drain_s:.1} s after the gateways stopped, end-to-end lag median {median:.3} s (n={})",
        msgs.len(),
        lags.len()
    );
    drop(peers);
}
