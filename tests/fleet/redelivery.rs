//! A relay that dies after InfluxDB stored a fetch but before it acked
//! the messages: the server hands them to a second relay on the same
//! durable once `ack_wait` passes, and InfluxDB, written twice, holds
//! each point once.
use std::time::Duration;

use serde_json::Value;

use super::procs::Proc;
use crate::common::free_port;
use crate::common::influx::InfluxD;
use crate::common::nats::NatsCluster;
use crate::reliability::metric;

const MESSAGES: u64 = 30;
const LINES: u64 = 3;
const FETCH: u64 = 10;

fn relay_toml(cluster: &NatsCluster, influx: &str, http: u16) -> String {
    format!(
        "[nats]\nservers = {}\nstream = \"PLANT\"\ndurable = \"historian\"\n\
         ack_wait_ms = 1000\ntimeout_ms = 2000\nfetch_batch = {FETCH}\n\n\
         [influxdb]\nurl = \"{influx}\"\napi = \"v1\"\ndatabase = \"central\"\ntimeout_ms = 2000\n\n\
         [http]\nlisten = \"127.0.0.1:{http}\"\n",
        cluster.servers_toml()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_before_its_acks_gets_its_fetch_redelivered_to_another() {
    let influx = InfluxD::start();
    let cluster = NatsCluster::start(1);
    let js = cluster.jetstream().await;
    super::plant_stream(&js).await;
    let q = super::database(&influx.url, "central").await;
    for i in 1..=MESSAGES {
        let mut h = async_nats::HeaderMap::new();
        h.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("gw1-{i}").as_str(),
        );
        let body: String = (0..LINES)
            .map(|l| format!("m,site=s v={i}i {}\n", 1_700_000_000_000 + i * 10 + l))
            .collect();
        js.publish_with_headers("plant.s.gw1", h, body.into())
            .await
            .expect("publish")
            .await
            .expect("PubAck");
    }
    let count = || async {
        q.query("SELECT count(v) FROM m")
            .await
            .expect("query count")
            .iter()
            .flat_map(|s| s.values.iter())
            .find_map(|row| row.get(1).and_then(Value::as_u64))
            .unwrap_or(0)
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (http_a, http_b) = (free_port(), free_port());
    let (conf_a, conf_b) = (dir.path().join("a.toml"), dir.path().join("b.toml"));
    std::fs::write(&conf_a, relay_toml(&cluster, &influx.url, http_a)).expect("write config");
    std::fs::write(&conf_b, relay_toml(&cluster, &influx.url, http_b)).expect("write config");

    // Relay A writes its first fetch to InfluxDB and dies before acking it.
    let mut a = Proc::spawn_with_env(
        "relay",
        &conf_a,
        &dir.path().join("a.log"),
        &[("RELAY_TEST_CRASH_BEFORE_ACK", "1")],
    );
    let status = a.wait_exit(Duration::from_secs(20));
    assert!(!status.success(), "relay A exited cleanly: {status}");
    assert_eq!(
        count().await,
        FETCH * LINES,
        "relay A's fetch is not in InfluxDB"
    );
    let info = js
        .get_stream("PLANT")
        .await
        .expect("stream")
        .consumer_info("historian")
        .await
        .expect("consumer info")
        .clone();
    assert_eq!(
        (info.num_ack_pending, info.delivered.stream_sequence),
        (FETCH as usize, FETCH),
        "relay A should hold its whole fetch unacked: {info:?}"
    );

    // Relay B on the same durable: the rest at once, A's fetch after ack_wait.
    let mut b = Proc::spawn("relay", &conf_b, &dir.path().join("b.log"));
    let metrics_b = format!("http://127.0.0.1:{http_b}/metrics");
    // Every message acked by relay B.
    super::drained(&js, Duration::from_secs(20)).await;
    b.assert_running();
    let redelivered = metric(&metrics_b, "plantgw_relay_redelivered_total")
        .await
        .unwrap_or(0.0);
    let acked = metric(&metrics_b, "plantgw_relay_acked_total")
        .await
        .unwrap_or(0.0);
    assert!(
        redelivered >= FETCH as f64,
        "relay B got {redelivered} redelivered messages, relay A left {FETCH} unacked"
    );
    assert_eq!(
        acked, MESSAGES as f64,
        "relay B acked {acked} of {MESSAGES}"
    );
    // A's fetch was written twice; the same points are stored once.
    assert_eq!(count().await, MESSAGES * LINES, "points in InfluxDB");
    b.terminate(Duration::from_secs(15));
    println!(
        "relay redelivery: relay A died after writing {FETCH} messages unacked; relay B got {redelivered} \
         redelivered, acked {acked}; InfluxDB holds {} points, each once",
        MESSAGES * LINES
    );
}
