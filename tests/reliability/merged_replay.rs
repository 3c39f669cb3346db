//! Replaying a backlog: the InfluxDB sender merges consecutive spool
//! records into one write. A bad line in a merge costs only that line, and
//! every merged record leaves the spool; a sender dropped while a merge is
//! in flight acknowledged none of it, so the whole merge is sent again (the
//! points are idempotent, so InfluxDB holds each once).
//!
//! A merge of 2 MiB or more goes as two writes at once, split by series, so
//! each series keeps its order while InfluxDB works on both.
//!
//! The sender runs against a real influxd through the recording tap, which
//! shows each write request as it went by.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plantgw::http::Health;
use plantgw::pipeline::{sender_task, PipelineError, SharedSpool};
use plantgw::sink::influxdb::{InfluxClient, QueryClient};
use plantgw::spool::Spool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::tap::WriteTap;
use super::{join_within, query_client, DATABASE};
use crate::common::eventually;
use crate::common::influx::{v1_settings, InfluxD};

const RECORDS: u64 = 5;
const LINES: u64 = 10;
/// Fails to parse (no field value): InfluxDB 1.x stores the rest of the
/// request and answers 400 "partial write".
const BAD_LINE: &str = "merge_test,rec=3 v= 1700000000999";

/// Record `rec`'s lines, newline-terminated as the writer spools them,
/// with [`BAD_LINE`] in the middle of record 3 when `bad`.
fn record(rec: u64, bad: bool) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..LINES {
        if bad && rec == 3 && i == LINES / 2 {
            out.push_str(BAD_LINE);
            out.push('\n');
        }
        let ts = 1_700_000_000_000 + rec * 100 + i;
        out.push_str(&format!("merge_test,rec={rec} v={i}i {ts}\n"));
    }
    out.into_bytes()
}

fn spool_with_records(dir: &Path, bad: bool) -> SharedSpool {
    let mut spool = Spool::open(dir, 1 << 24).expect("open spool");
    for rec in 1..=RECORDS {
        assert_eq!(spool.append(&record(rec, bad)).expect("append"), rec);
    }
    SharedSpool::new(spool)
}

fn start_sender(
    url: &str,
    spool: &SharedSpool,
) -> (JoinHandle<Result<(), PipelineError>>, CancellationToken) {
    let client = InfluxClient::new(&v1_settings(url, DATABASE, None)).expect("client");
    let drain = CancellationToken::new();
    let task = tokio::spawn(sender_task(
        client,
        spool.clone(),
        Arc::new(Health::default()),
        drain.clone(),
        Duration::from_secs(5),
    ));
    (task, drain)
}

/// Waits until `spool` holds nothing unacknowledged for the InfluxDB sink,
/// then drains and stops the sender.
async fn acked_then_stopped(
    spool: &SharedSpool,
    task: JoinHandle<Result<(), PipelineError>>,
    drain: CancellationToken,
    within: Duration,
    what: &str,
) {
    eventually(within, what, || async {
        matches!(spool.peek_for("influxdb").await, Ok(None)).then_some(())
    })
    .await;
    drain.cancel();
    join_within(task, Duration::from_secs(10), "sender after drain").await;
}

/// Points per `rec` tag in InfluxDB.
async fn counts(q: &QueryClient) -> Vec<(String, i64)> {
    let series = q
        .query("SELECT count(v) FROM merge_test GROUP BY rec")
        .await
        .expect("count merge_test");
    series
        .iter()
        .map(|s| {
            let n = s
                .values
                .first()
                .and_then(|r| r.get(1))
                .and_then(|v| v.as_i64());
            (
                s.tags.get("rec").cloned().unwrap_or_default(),
                n.unwrap_or(0),
            )
        })
        .collect()
}

fn line_count(body: &[u8]) -> usize {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_line_in_a_merged_write_drops_only_that_line_and_acks_every_record() {
    let influx = InfluxD::start();
    let q = query_client(&influx.url).await;
    let tap = WriteTap::start(influx.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let spool = spool_with_records(&spool_dir, true);
    let (task, drain) = start_sender(&tap.url, &spool);

    acked_then_stopped(
        &spool,
        task,
        drain,
        Duration::from_secs(30),
        "every merged record acknowledged",
    )
    .await;

    let first = tap.exchanges().first().cloned().expect("a write went out");
    let all = RECORDS * LINES + 1;
    assert_eq!(
        (line_count(&first.body) as u64, first.status),
        (all, Some(400)),
        "the first write carries all {RECORDS} records ({all} lines) and InfluxDB refuses one line of it"
    );
    let want: Vec<(String, i64)> = (1..=RECORDS)
        .map(|r| (r.to_string(), LINES as i64))
        .collect();
    assert_eq!(
        counts(&q).await,
        want,
        "every good line stored, the bad one alone dropped"
    );
    drop(spool);
    let mut reopened = Spool::open(&spool_dir, 1 << 24).expect("reopen spool");
    assert_eq!(
        reopened.peek().expect("peek"),
        None,
        "the acks reached the disk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_dropped_mid_merge_leaves_every_merged_record_pending() {
    let influx = InfluxD::start();
    let q = query_client(&influx.url).await;
    let tap = WriteTap::start(influx.addr).await;
    // InfluxDB stores the merge, but its answer never reaches the sender
    // before the sender is gone: the worst moment to crash.
    tap.set_delay(Duration::from_secs(3600));
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let spool = spool_with_records(&spool_dir, false);
    let (task, _drain) = start_sender(&tap.url, &spool);

    let all = (RECORDS * LINES) as usize;
    eventually(
        Duration::from_secs(30),
        "the merged write stored in InfluxDB",
        || async {
            let stored: i64 = counts(&q).await.iter().map(|(_, n)| n).sum();
            (stored == all as i64).then_some(())
        },
    )
    .await;
    let sent = tap.exchanges();
    assert_eq!(
        sent.iter().map(|e| line_count(&e.body)).collect::<Vec<_>>(),
        vec![all],
        "one write carrying all {RECORDS} records"
    );
    task.abort();
    assert!(task.await.expect_err("aborted").is_cancelled());
    drop(spool);

    let mut reopened = Spool::open(&spool_dir, 1 << 24).expect("reopen spool");
    assert_eq!(
        (
            reopened.peek().expect("peek").map(|r| r.seq),
            reopened.stats().records
        ),
        (Some(1), RECORDS),
        "every merged record still pending after the crash"
    );

    // The next start sends the merge again; InfluxDB holds each point once.
    tap.set_delay(Duration::ZERO);
    let spool = SharedSpool::new(reopened);
    let (task, drain) = start_sender(&tap.url, &spool);
    acked_then_stopped(
        &spool,
        task,
        drain,
        Duration::from_secs(30),
        "the merge delivered again and acknowledged",
    )
    .await;
    let sent = tap.exchanges();
    assert_eq!(
        sent.len(),
        2,
        "the crashed merge and its resend: {} writes",
        sent.len()
    );
    assert_eq!(sent[1].body, sent[0].body, "the resend is the same merge");
    let want: Vec<(String, i64)> = (1..=RECORDS)
        .map(|r| (r.to_string(), LINES as i64))
        .collect();
    assert_eq!(counts(&q).await, want, "each point once");
}

/// Series in the large merge, and lines per series in each record.
const LANE_SERIES: u64 = 50;
const LANE_LINES: u64 = 40;
const LANE_RECORDS: u64 = 12;

/// A record of [`LANE_SERIES`] × [`LANE_LINES`] lines of about 125 bytes,
/// each series' timestamps rising through the records.
fn lane_record(rec: u64) -> Vec<u8> {
    let pad = "x".repeat(64);
    let mut out = String::new();
    for i in 0..LANE_LINES {
        for s in 0..LANE_SERIES {
            let ts = 1_700_000_000_000 + rec * 1000 + i;
            out.push_str(&format!("lane_test,s={s},pad={pad} v={i}i {ts}\n"));
        }
    }
    out.into_bytes()
}

/// `(series, timestamp)` of every line of a write body.
fn series_and_ts(body: &[u8]) -> Vec<(String, i64)> {
    std::str::from_utf8(body)
        .expect("utf-8 body")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let key = l.split(' ').next().unwrap_or_default().to_string();
            let ts = l
                .rsplit(' ')
                .next()
                .and_then(|t| t.parse().ok())
                .unwrap_or(-1);
            (key, ts)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_merge_goes_as_two_writes_at_once_each_series_whole_and_in_order() {
    let influx = InfluxD::start();
    let q = query_client(&influx.url).await;
    let tap = WriteTap::start(influx.addr).await;
    // Each answer held 2 s: two writes one after the other would be seen
    // 2 s apart, two at once within moments of each other.
    let held = Duration::from_secs(2);
    tap.set_delay(held);
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let mut spool = Spool::open(&spool_dir, 1 << 24).expect("open spool");
    let mut bytes = 0;
    for rec in 1..=LANE_RECORDS {
        let r = lane_record(rec);
        bytes += r.len();
        spool.append(&r).expect("append");
    }
    assert!(
        (plantgw::sink::influxdb::lanes::SPLIT_FROM..plantgw::sink::influxdb::MERGE_BYTES)
            .contains(&bytes),
        "the backlog ({bytes} bytes) is one merge large enough to split"
    );
    let spool = SharedSpool::new(spool);
    let (task, drain) = start_sender(&tap.url, &spool);
    acked_then_stopped(
        &spool,
        task,
        drain,
        Duration::from_secs(60),
        "the merge acknowledged",
    )
    .await;

    let sent = tap.exchanges();
    assert_eq!(
        sent.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![Some(204), Some(204)],
        "the merge went as two writes, both accepted"
    );
    let apart = (sent[0].at_ms - sent[1].at_ms).abs();
    assert!(
        apart < held.as_millis() as i64 / 2,
        "the two writes were answered {apart} ms apart: sent one after the other, not at once"
    );
    let lanes: Vec<Vec<(String, i64)>> = sent.iter().map(|e| series_and_ts(&e.body)).collect();
    let all = (LANE_RECORDS * LANE_SERIES * LANE_LINES) as usize;
    assert_eq!(lanes[0].len() + lanes[1].len(), all, "every line sent once");
    let keys: Vec<std::collections::HashSet<&str>> = lanes
        .iter()
        .map(|l| l.iter().map(|(k, _)| k.as_str()).collect())
        .collect();
    assert!(
        keys[0].is_disjoint(&keys[1]),
        "series in both writes: {:?}",
        keys[0].intersection(&keys[1]).collect::<Vec<_>>()
    );
    assert_eq!(keys[0].len() + keys[1].len(), LANE_SERIES as usize);
    for lane in &lanes {
        let mut last: std::collections::HashMap<&str, i64> = Default::default();
        for (key, ts) in lane {
            let prev = last.insert(key, *ts).unwrap_or(i64::MIN);
            assert!(*ts > prev, "series {key}: {ts} sent after {prev}");
        }
    }
    let stored = q
        .query("SELECT count(v) FROM lane_test")
        .await
        .expect("count lane_test");
    let n = stored
        .first()
        .and_then(|s| s.values.first())
        .and_then(|r| r.get(1))
        .and_then(|v| v.as_i64());
    assert_eq!(n, Some(all as i64), "every point stored");
}
