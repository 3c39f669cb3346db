//! Bad input around the stream: a wrong stream or subject and refused
//! credentials keep the data spooled and say why; messages on the fleet's
//! subjects that are not plantgw batches, or that InfluxDB refuses, are
//! acked and counted by the relay, which goes on.
use std::time::Duration;

use plantgw::config::{Nats, NatsAuth, NatsConn, RelayNats, RelaySettings, Secret};
use plantgw::sink::nats::NatsSink;
use plantgw::sink::{Sink, SinkOutcome};
use tokio_util::sync::CancellationToken;

use crate::common::eventually;
use crate::common::influx::{v1_settings, InfluxD};
use crate::common::nats::NatsCluster;

fn conn(cluster: &NatsCluster, stream: &str, auth: NatsAuth) -> NatsConn {
    NatsConn {
        servers: cluster.urls(),
        stream: stream.into(),
        replicas: 1,
        auth,
        ca_file: None,
        timeout: Duration::from_secs(2),
    }
}

fn sink(conn: NatsConn, subject: &str) -> NatsSink {
    NatsSink::new(Nats {
        conn,
        subject: subject.into(),
        gateway_id: "gw1".into(),
    })
}

const LINE: &[u8] = b"mill_dev,site=s t000=1i 1700000000000\n";

fn alarm_reason(o: SinkOutcome) -> String {
    match o {
        SinkOutcome::KeepAndAlarm { reason } => reason,
        other => panic!("expected the batch kept with an alarm, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_stream_subject_or_credentials_keep_the_batch_and_say_why() {
    let cluster = NatsCluster::start_with(1, Some("s3cret-token"));
    let good = NatsAuth::Token(Secret::new("s3cret-token"));
    let ok = sink(conn(&cluster, "PLANT", good.clone()), "plant.s.gw1");
    assert_eq!(ok.write(1, LINE).await, SinkOutcome::Accepted { lines: 1 });

    // The stream PLANT takes plant.>: a second stream on the same subjects
    // cannot be made.
    let r = alarm_reason(
        sink(conn(&cluster, "OTHER", good.clone()), "plant.s.gw1")
            .write(2, LINE)
            .await,
    );
    assert!(r.contains("OTHER"), "{r}");
    // A subject the stream does not take.
    let r = alarm_reason(
        sink(conn(&cluster, "PLANT", good.clone()), "other.s.gw1")
            .write(2, LINE)
            .await,
    );
    assert!(r.contains("does not take subject other.s.gw1"), "{r}");
    // Refused credentials, which never appear in the reason.
    let bad = NatsAuth::Token(Secret::new("wrong-token"));
    let r = alarm_reason(
        sink(conn(&cluster, "PLANT", bad), "plant.s.gw1")
            .write(2, LINE)
            .await,
    );
    assert!(r.to_lowercase().contains("authorization"), "{r}");
    assert!(!r.contains("wrong-token") && !r.contains("s3cret"), "{r}");
    // The resend of record 1 is stored once.
    assert_eq!(ok.write(1, LINE).await, SinkOutcome::Accepted { lines: 1 });
    let js = cluster.jetstream().await;
    let info = js
        .get_stream("PLANT")
        .await
        .expect("stream")
        .info()
        .await
        .expect("info")
        .clone();
    assert_eq!(info.state.messages, 1, "the resend was stored again");
    println!("bad input: wrong stream, subject and token alarmed; resend deduplicated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_acks_and_counts_foreign_and_refused_messages_and_goes_on() {
    let influx = InfluxD::start();
    let cluster = NatsCluster::start(1);
    let js = cluster.jetstream().await;
    super::plant_stream(&js).await;
    let q = super::database(&influx.url, "central").await;

    let publish = |id: Option<&str>, body: &'static [u8]| {
        let js = js.clone();
        let id = id.map(str::to_string);
        async move {
            let mut h = async_nats::HeaderMap::new();
            if let Some(id) = id {
                h.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
            }
            js.publish_with_headers("plant.s.gw1", h, body.into())
                .await
                .expect("publish")
                .await
                .expect("PubAck");
        }
    };
    publish(None, b"hello from someone else").await;
    publish(Some("gw1-1"), &[0xff, 0x00, 0xfe]).await;
    publish(Some("gw1-2"), b"m,site=s v=1i 1700000000000\n").await;
    // A field type conflict: InfluxDB answers 400, the batch is dropped.
    publish(Some("gw1-3"), b"m,site=s v=\"text\" 1700000000001\n").await;
    publish(Some("gw1-4"), b"m,site=s v=4i 1700000000002\n").await;
    // One line InfluxDB cannot parse next to a good one: the relay's
    // joined write of the whole fetch is refused, and written message by
    // message only this line is lost.
    publish(
        Some("gw1-5"),
        b"m,site=s v=5i 1700000000003\nm,site=s v=6x 1700000000004\n",
    )
    .await;

    let settings = RelaySettings {
        nats: RelayNats {
            conn: NatsConn {
                servers: cluster.urls(),
                stream: "PLANT".into(),
                replicas: 1,
                auth: NatsAuth::None,
                ca_file: None,
                timeout: Duration::from_secs(2),
            },
            durable: "historian".into(),
            filter_subject: "plant.>".into(),
            fetch_batch: 10,
            ack_wait: Duration::from_secs(5),
        },
        influx: v1_settings(&influx.url, "central", None),
        http_listen: None,
    };
    // The process-wide recorder; only this test runs a relay in-process.
    let metrics = plantgw::http::prometheus().expect("metrics recorder");
    let cancel = CancellationToken::new();
    let health = std::sync::Arc::new(plantgw::http::Health::default());
    let relay = tokio::spawn(plantgw::relay::run(settings, health, cancel.clone()));
    eventually(Duration::from_secs(20), "all six messages acked", || {
        let js = js.clone();
        async move {
            let s = js.get_stream("PLANT").await.ok()?;
            let info = s.consumer_info("historian").await.ok()?;
            (info.num_pending == 0
                && info.num_ack_pending == 0
                && info.delivered.stream_sequence == 6)
                .then_some(())
        }
    })
    .await;
    assert!(!relay.is_finished(), "the relay stopped on bad input");
    let rows = q.query("SELECT v FROM m").await.expect("query");
    let values: Vec<&serde_json::Value> = rows
        .iter()
        .flat_map(|s| s.values.iter())
        .filter_map(|r| r.get(1))
        .collect();
    assert_eq!(
        values,
        [
            &serde_json::json!(1),
            &serde_json::json!(4),
            &serde_json::json!(5)
        ],
        "{rows:?}"
    );
    let text = metrics.render();
    for (result, n) in [("foreign", 2), ("rejected", 2), ("written", 2)] {
        let line = format!("plantgw_relay_messages_total{{result=\"{result}\"}} {n}");
        assert!(text.contains(&line), "no `{line}` in /metrics:\n{text}");
    }
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), relay)
        .await
        .expect("relay stops on cancel")
        .expect("relay task joins")
        .expect("relay ends without error");
}
