//! The sender against a scripted sink with two writes in flight: the test
//! answers each write when it chooses, in any order.
use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::{oneshot, Notify};

use super::*;
use crate::spool::Spool;

/// A sink whose every write waits for the test's answer.
struct Scripted {
    writes: Mutex<VecDeque<Pending>>,
    arrived: Notify,
    budget: usize,
}

/// A write the sink was handed and has not answered.
struct Pending {
    seq: u64,
    batch: Vec<u8>,
    answer: oneshot::Sender<SinkOutcome>,
}

impl Sink for Arc<Scripted> {
    fn name(&self) -> &'static str {
        crate::spool::DEFAULT_SINK
    }

    async fn write(&self, seq: u64, batch: &[u8]) -> SinkOutcome {
        let (answer, rx) = oneshot::channel();
        self.writes.lock().unwrap().push_back(Pending {
            seq,
            batch: batch.to_vec(),
            answer,
        });
        self.arrived.notify_one();
        rx.await.unwrap_or(SinkOutcome::RetryAfter(Duration::ZERO))
    }

    fn merge_budget(&self) -> usize {
        self.budget
    }

    fn max_in_flight(&self) -> usize {
        2
    }
}

impl Scripted {
    /// The next write handed to the sink, oldest first.
    async fn next(&self) -> Pending {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(p) = self.writes.lock().unwrap().pop_front() {
                    return p;
                }
                self.arrived.notified().await;
            }
        })
        .await
        .expect("a write within 10 s")
    }

    fn idle(&self) -> bool {
        self.writes.lock().unwrap().is_empty()
    }
}

fn body(n: u64) -> Vec<u8> {
    format!("m v={n}i {n}\n").into_bytes()
}

fn accepted() -> SinkOutcome {
    SinkOutcome::Accepted { lines: 1 }
}

async fn start(budget: usize, records: u64) -> (Arc<Scripted>, SharedSpool, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
    for n in 1..=records {
        spool.append(&body(n)).unwrap();
    }
    let spool = SharedSpool::new(spool);
    let sink = Arc::new(Scripted {
        writes: Mutex::new(VecDeque::new()),
        arrived: Notify::new(),
        budget,
    });
    tokio::spawn(sender_task(
        sink.clone(),
        spool.clone(),
        Arc::new(Health::default()),
        CancellationToken::new(),
        Duration::from_secs(1),
    ));
    (sink, spool, dir)
}

async fn cursor_at(spool: &SharedSpool) -> Option<u64> {
    spool
        .peek_for(crate::spool::DEFAULT_SINK)
        .await
        .unwrap()
        .map(|r| r.seq - 1)
}

/// Lets the sender act on what it was just told.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_later_write_done_first_is_acknowledged_only_after_the_earlier_one() {
    let (sink, spool, _dir) = start(0, 3).await;
    let w1 = sink.next().await;
    let w2 = sink.next().await;
    assert_eq!((w1.seq, w2.seq), (1, 2), "two writes in flight, in order");
    assert_eq!(w1.batch, body(1));
    w2.answer.send(accepted()).unwrap();
    settle().await;
    assert_eq!(
        cursor_at(&spool).await,
        Some(0),
        "2 acked before 1 was done"
    );
    assert!(sink.idle(), "a third write while 1 is unanswered");
    w1.answer.send(accepted()).unwrap();
    let w3 = sink.next().await;
    assert_eq!(w3.seq, 3);
    settle().await;
    assert_eq!(cursor_at(&spool).await, Some(2));
    w3.answer.send(accepted()).unwrap();
    settle().await;
    assert_eq!(cursor_at(&spool).await, None, "everything acknowledged");
}

#[tokio::test]
async fn a_failed_write_is_sent_again_before_anything_after_it_is_acknowledged() {
    let (sink, spool, _dir) = start(0, 3).await;
    let w1 = sink.next().await;
    let w2 = sink.next().await;
    w2.answer.send(accepted()).unwrap();
    w1.answer
        .send(SinkOutcome::RetryAfter(Duration::ZERO))
        .unwrap();
    // 2 was stored, but is not acknowledged: it goes again after 1.
    let again: Vec<u64> = vec![sink.next().await, sink.next().await]
        .into_iter()
        .map(|p| {
            let seq = p.seq;
            p.answer.send(accepted()).unwrap();
            seq
        })
        .collect();
    assert_eq!(again, vec![1, 2]);
    let w3 = sink.next().await;
    assert_eq!(w3.seq, 3);
    settle().await;
    assert_eq!(cursor_at(&spool).await, Some(2));
}

#[tokio::test]
async fn a_backlog_goes_in_merged_writes_acknowledged_by_their_last_record() {
    let per = body(1).len();
    let (sink, spool, _dir) = start(3 * per, 7).await;
    let w1 = sink.next().await;
    let w2 = sink.next().await;
    assert_eq!((w1.seq, w2.seq), (3, 6), "merges of three records");
    let lines: Vec<u8> = (1..=3).flat_map(body).collect();
    assert_eq!(w1.batch, lines);
    w1.answer.send(accepted()).unwrap();
    let w3 = sink.next().await;
    assert_eq!(w3.seq, 7);
    assert_eq!(w3.batch, body(7));
    assert_eq!(cursor_at(&spool).await, Some(3));
    w2.answer.send(accepted()).unwrap();
    w3.answer.send(accepted()).unwrap();
    settle().await;
    assert_eq!(cursor_at(&spool).await, None);
}
