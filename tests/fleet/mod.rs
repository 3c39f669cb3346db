//! A fleet over NATS JetStream (DESIGN §10): gateways publishing their
//! spool to a replicated stream on a three-node cluster, next to their
//! local InfluxDB or without one; relays draining the stream into a
//! central InfluxDB.
//! Real `nats-server` nodes and `influxd` on free loopback ports.
mod bad_input;
mod both_sinks;
mod creds;
mod nats_only;
mod procs;
mod redelivery;
mod relay;
mod tls;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream;

use plantgw::sink::influxdb::query::QueryClient;

use crate::common::eventually;
use crate::common::influx::v1_settings;
use crate::common::nats::NatsCluster;

/// The `[nats]` section of a gateway publishing to `cluster`.
pub fn nats_section(cluster: &NatsCluster, gateway_id: &str, extra: &str) -> String {
    format!(
        "\n[nats]\nservers = {}\nstream = \"PLANT\"\nreplicas = 3\ngateway_id = \"{gateway_id}\"\ntimeout_ms = 2000\n{extra}\n",
        cluster.servers_toml()
    )
}

/// Every message of `stream`: (Nats-Msg-Id, subject, payload).
pub async fn stream_messages(
    js: &jetstream::Context,
    stream: &str,
) -> Vec<(String, String, String)> {
    let mut s = js.get_stream(stream).await.expect("stream exists");
    let info = s.info().await.expect("stream info").clone();
    let mut out = Vec::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let Ok(m) = s.get_raw_message(seq).await else {
            continue;
        };
        let id = m
            .headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .map(|v| v.to_string())
            .unwrap_or_default();
        let payload = String::from_utf8(m.payload.to_vec()).expect("payload is line protocol");
        out.push((id, m.subject.to_string(), payload));
    }
    out
}

/// The spool sequence numbers in the ids `<gateway>-<seq>` of `msgs`,
/// per gateway; panics on a message id seen twice (the stream's dedup
/// failed) or not of that form.
pub fn seqs_by_gateway(msgs: &[(String, String, String)]) -> BTreeMap<String, BTreeSet<u64>> {
    let mut out: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for (id, _, _) in msgs {
        let (gw, seq) = id
            .rsplit_once('-')
            .unwrap_or_else(|| panic!("message id {id:?}"));
        let seq: u64 = seq.parse().unwrap_or_else(|_| panic!("message id {id:?}"));
        assert!(
            out.entry(gw.to_string()).or_default().insert(seq),
            "message id {id} stored twice"
        );
    }
    out
}

/// Asserts `seqs` is one run without gaps.
pub fn assert_contiguous(gw: &str, seqs: &BTreeSet<u64>) {
    let (Some(first), Some(last)) = (seqs.first(), seqs.last()) else {
        panic!("no message of {gw}");
    };
    assert_eq!(
        seqs.len() as u64,
        last - first + 1,
        "{gw}: spool records {first}..={last} with gaps in the stream"
    );
}

/// Timestamps (ms) of the `plc_status` lines of `plc` in `payloads`.
pub fn status_ts_in(payloads: impl Iterator<Item = String>, plc: &str) -> Vec<i64> {
    let tag = format!(",plc={plc}");
    let mut ts: Vec<i64> = payloads
        .flat_map(|p| p.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| {
            l.starts_with("plc_status,") && l.split(' ').next().is_some_and(|k| k.contains(&tag))
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|t| t.parse().ok()))
        .collect();
    ts.sort_unstable();
    ts
}

pub const SETTLE: Duration = Duration::from_secs(3);

/// A query client on database `db` of the influxd at `url`, the database
/// created.
pub async fn database(url: &str, db: &str) -> QueryClient {
    let q = QueryClient::new(&v1_settings(url, db, None))
        .expect("query client")
        .with_database(db);
    q.query(&format!("CREATE DATABASE {db}"))
        .await
        .expect("create database");
    q
}

/// The fleet's stream `PLANT` on `plant.>`, made by the test (one replica).
pub async fn plant_stream(js: &jetstream::Context) {
    js.create_stream(jetstream::stream::Config {
        name: "PLANT".into(),
        subjects: vec!["plant.>".into()],
        ..Default::default()
    })
    .await
    .expect("create stream");
}

/// Waits until the durable `historian` has nothing pending or unacked.
pub async fn drained(js: &jetstream::Context, within: Duration) {
    eventually(within, "the durable consumer drained", || {
        let js = js.clone();
        async move {
            let s = js.get_stream("PLANT").await.ok()?;
            let info = s.consumer_info("historian").await.ok()?;
            (info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
        }
    })
    .await;
}
