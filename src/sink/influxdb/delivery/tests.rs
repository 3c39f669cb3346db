use super::*;
use crate::sink::influxdb::health::WriterState;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Scripted writer: answers from `script` first, then by `rule`; records
/// every request body and every wait.
struct Fake {
    script: Mutex<VecDeque<WriteOutcome>>,
    rule: Box<dyn Fn(&str) -> WriteOutcome + Send + Sync>,
    sent: Mutex<Vec<String>>,
    waits: Mutex<Vec<Duration>>,
    /// Answers to `reachable`, then true.
    pings: Mutex<VecDeque<bool>>,
    conflicts: FieldConflicts,
    health: WriterHealth,
    cancel_after_waits: Option<(usize, CancellationToken)>,
}

impl Fake {
    fn new(rule: impl Fn(&str) -> WriteOutcome + Send + Sync + 'static) -> Self {
        Fake {
            script: Mutex::new(VecDeque::new()),
            rule: Box::new(rule),
            sent: Mutex::new(Vec::new()),
            waits: Mutex::new(Vec::new()),
            pings: Mutex::new(VecDeque::new()),
            conflicts: FieldConflicts::default(),
            health: WriterHealth::default(),
            cancel_after_waits: None,
        }
    }
    fn script(self, s: Vec<WriteOutcome>) -> Self {
        *self.script.lock().unwrap() = s.into();
        self
    }
    fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
    fn waits(&self) -> Vec<Duration> {
        self.waits.lock().unwrap().clone()
    }
}

impl LineWriter for Fake {
    fn write_once(&self, body: &[u8]) -> impl Future<Output = WriteOutcome> + Send {
        // Nothing happens until polled, like a real request.
        let text = String::from_utf8(body.to_vec()).unwrap();
        async move {
            self.sent.lock().unwrap().push(text.clone());
            let scripted = self.script.lock().unwrap().pop_front();
            scripted.unwrap_or_else(|| (self.rule)(&text))
        }
    }
    fn health(&self) -> &WriterHealth {
        &self.health
    }
    fn conflicts(&self) -> &FieldConflicts {
        &self.conflicts
    }
    fn reachable(&self) -> impl Future<Output = bool> + Send {
        std::future::ready(self.pings.lock().unwrap().pop_front().unwrap_or(true))
    }
    fn pause(&self, d: Duration) -> impl Future<Output = ()> + Send {
        let mut w = self.waits.lock().unwrap();
        w.push(d);
        if let Some((n, c)) = &self.cancel_after_waits {
            if w.len() >= *n {
                c.cancel();
            }
        }
        std::future::ready(())
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        jitter: false,
        ..RetryPolicy::default()
    }
}

fn body(n: usize) -> String {
    (0..n).map(|i| format!("m v={i}i {i}\n")).collect()
}

fn ok(_: &str) -> WriteOutcome {
    WriteOutcome::Written
}

async fn run(f: &Fake, body: &str) -> Delivery {
    deliver_with(f, body.as_bytes(), &CancellationToken::new(), &policy()).await
}

fn bad(status: u16) -> WriteOutcome {
    WriteOutcome::BadData {
        status,
        message: "partial write: unable to parse 'x': bad".into(),
    }
}

#[tokio::test]
async fn delivers_in_one_request() {
    let f = Fake::new(ok);
    assert_eq!(
        run(&f, &body(3)).await,
        Delivery::Delivered {
            lines: 3,
            requests: 1
        }
    );
    assert_eq!(f.sent(), vec!["m v=0i 0\nm v=1i 1\nm v=2i 2".to_string()]);
    assert_eq!(
        run(&f, "\n\n").await,
        Delivery::Delivered {
            lines: 0,
            requests: 0
        }
    );
}

#[tokio::test]
async fn bisects_bad_data_and_keeps_good_lines_in_order() {
    let f = Fake::new(|b| {
        if b.contains("v=5i") || b.contains("v=6i") {
            bad(400)
        } else {
            WriteOutcome::Written
        }
    });
    let d = run(&f, &body(8)).await;
    let Delivery::Dropped {
        lines,
        delivered,
        status,
        first_bad_line,
        ..
    } = d
    else {
        panic!("{d:?}")
    };
    assert_eq!((lines, delivered, status), (2, 6, 400));
    assert_eq!(first_bad_line, "m v=5i 5");
    let accepted: Vec<String> = f
        .sent()
        .into_iter()
        .filter(|b| !b.contains("v=5i") && !b.contains("v=6i"))
        .flat_map(|b| b.lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert_eq!(
        accepted,
        body(8)
            .lines()
            .filter(|l| !l.contains("v=5i") && !l.contains("v=6i"))
            .collect::<Vec<_>>()
    );
    assert!(f.waits().is_empty(), "bad data is not retried with waits");
}

#[tokio::test]
async fn bisection_is_bounded_by_the_budget() {
    let f = Fake::new(|_| bad(422));
    let p = RetryPolicy {
        bisect_budget: 3,
        ..policy()
    };
    let d = deliver_with(&f, body(64).as_bytes(), &CancellationToken::new(), &p).await;
    assert!(
        matches!(d, Delivery::Dropped { lines: 64, delivered: 0, status: 422, ref first_bad_line, .. } if first_bad_line == "x")
    );
    assert!(
        f.sent().len() <= 1 + 2 * 3 + 1,
        "{} requests",
        f.sent().len()
    );
}

#[tokio::test]
async fn splits_on_413_until_it_fits_and_drops_a_lone_giant() {
    let f = Fake::new(|b| {
        if b.len() > 20 || b.contains("giant") {
            WriteOutcome::TooLarge
        } else {
            WriteOutcome::Written
        }
    });
    let mut text = body(6);
    text.push_str("giant v=1i 9\n");
    let d = run(&f, &text).await;
    assert!(
        matches!(d, Delivery::Dropped { lines: 1, delivered: 6, status: 413, ref first_bad_line, .. } if first_bad_line == "giant v=1i 9"),
        "{d:?}"
    );
}

#[tokio::test]
async fn honours_retry_after_and_backs_off_on_server_errors() {
    let f = Fake::new(ok).script(vec![
        WriteOutcome::RetryAfter {
            status: 429,
            after: Some(Duration::from_secs(7)),
        },
        WriteOutcome::RetryAfter {
            status: 503,
            after: None,
        },
        WriteOutcome::Retry {
            status: Some(500),
            reason: "HTTP 500".into(),
        },
        WriteOutcome::Retry {
            status: None,
            reason: "connection refused".into(),
        },
        WriteOutcome::RetryAfter {
            status: 503,
            after: Some(Duration::from_secs(100_000)),
        },
    ]);
    assert_eq!(
        run(&f, &body(2)).await,
        Delivery::Delivered {
            lines: 2,
            requests: 6
        }
    );
    assert_eq!(
        f.waits(),
        vec![
            Duration::from_secs(7),
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(400),
            Duration::from_secs(300),
        ]
    );
    assert_eq!(f.health.state(), WriterState::Up);
}

#[tokio::test]
async fn unauthorized_keeps_the_data_and_retries_until_fixed() {
    let unauthorized = || WriteOutcome::Unauthorized {
        status: 401,
        message: "unauthorized access".into(),
    };
    let f = Fake::new(ok).script((0..12).map(|_| unauthorized()).collect());
    assert_eq!(
        run(&f, &body(4)).await,
        Delivery::Delivered {
            lines: 4,
            requests: 13
        }
    );
    assert!(
        f.sent().iter().all(|b| b == body(4).trim_end()),
        "whole batch every time"
    );
    let waits = f.waits();
    assert_eq!(waits.len(), 12);
    assert_eq!(waits[11], Duration::from_secs(30), "capped backoff");
}

#[tokio::test]
async fn health_tracks_episodes() {
    let f = Fake::new(ok).script(vec![WriteOutcome::Unauthorized {
        status: 403,
        message: "forbidden".into(),
    }]);
    let cancel = CancellationToken::new();
    let f = Fake {
        cancel_after_waits: Some((1, cancel.clone())),
        ..f
    };
    assert_eq!(
        deliver_with(&f, body(1).as_bytes(), &cancel, &policy()).await,
        Delivery::Cancelled
    );
    assert_eq!(f.health.state(), WriterState::AuthFailed);
    assert!(f.health.is_stuck());
    let f2 = Fake::new(|_| WriteOutcome::Retry {
        status: None,
        reason: "down".into(),
    });
    let f2 = Fake {
        health: f.health.clone(),
        cancel_after_waits: Some((3, CancellationToken::new())),
        ..f2
    };
    let c2 = f2.cancel_after_waits.as_ref().unwrap().1.clone();
    assert_eq!(
        deliver_with(&f2, b"m v=1 1", &c2, &policy()).await,
        Delivery::Cancelled
    );
    assert_eq!(f.health.state(), WriterState::Down, "shared between clones");
    assert_eq!(
        run(
            &Fake {
                health: f.health.clone(),
                ..Fake::new(ok)
            },
            "m v=1 1"
        )
        .await,
        Delivery::Delivered {
            lines: 1,
            requests: 1
        }
    );
    assert_eq!(f.health.state(), WriterState::Up);
}

#[tokio::test]
async fn a_misdirected_answer_alarms_and_keeps_the_batch() {
    let cancel = CancellationToken::new();
    let f = Fake {
        cancel_after_waits: Some((2, cancel.clone())),
        ..Fake::new(|_| WriteOutcome::Misdirected {
            status: 200,
            message: "HTTP 200".into(),
        })
    };
    assert_eq!(
        deliver_with(&f, body(2).as_bytes(), &cancel, &policy()).await,
        Delivery::Cancelled
    );
    assert_eq!(f.health.state(), WriterState::AuthFailed);
    assert_eq!(
        f.waits(),
        vec![Duration::from_millis(100), Duration::from_millis(200)],
        "backs off like a rejected credential"
    );
}

#[tokio::test]
async fn while_unreachable_probes_every_interval_and_resends_once_it_answers() {
    let refused = || WriteOutcome::Retry {
        status: None,
        reason: "connection refused".into(),
    };
    // Long enough an outage that a backoff would have reached its cap.
    let f = Fake::new(ok).script(vec![refused()]);
    *f.pings.lock().unwrap() = std::iter::repeat_n(false, 120).collect();
    assert_eq!(
        run(&f, &body(2)).await,
        Delivery::Delivered {
            lines: 2,
            requests: 2
        },
        "one failed write, then the resend as soon as /ping answers"
    );
    assert_eq!(f.waits(), vec![Duration::from_secs(1); 120]);
    assert_eq!(f.health.state(), WriterState::Up);

    // /ping answers but the write failed (timed out on a loaded
    // server): back off as for a 5xx instead of hammering it.
    let f = Fake::new(ok).script(vec![refused(), refused(), refused()]);
    assert_eq!(
        run(&f, &body(2)).await,
        Delivery::Delivered {
            lines: 2,
            requests: 4
        }
    );
    assert_eq!(
        f.waits(),
        vec![
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(400)
        ]
    );

    // Shutdown while probing keeps the batch.
    let cancel = CancellationToken::new();
    let f = Fake {
        cancel_after_waits: Some((3, cancel.clone())),
        ..Fake::new(|_| WriteOutcome::Retry {
            status: None,
            reason: "connection refused".into(),
        })
    };
    *f.pings.lock().unwrap() = std::iter::repeat_n(false, 10).collect();
    assert_eq!(
        deliver_with(&f, body(1).as_bytes(), &cancel, &policy()).await,
        Delivery::Cancelled
    );
    assert_eq!(f.sent().len(), 1);
}

#[tokio::test]
async fn a_field_type_conflict_costs_only_that_field() {
    let f = Fake::new(|b| {
        if b.lines()
            .any(|l| l.starts_with("ball_mill ") && l.contains("power_kw="))
        {
            WriteOutcome::BadData {
                status: 400,
                message: "partial write: field type conflict: input field \"power_kw\" on measurement \"ball_mill\" is type float, already exists as type integer dropped=2".into(),
            }
        } else {
            WriteOutcome::Written
        }
    });
    let batch = "ball_mill power_kw=1.5,starts=3i 1\n\
                 belt power_kw=2.5 1\n\
                 ball_mill power_kw=1.5 2\n\
                 ball_mill starts=4i,power_kw=1.5 3\n";
    let d = run(&f, batch).await;
    assert!(
        matches!(&d, Delivery::Dropped { lines: 1, delivered: 3, requests: 2, status: 400, first_bad_line, message }
            if first_bad_line == "ball_mill power_kw=1.5 2" && message.contains("power_kw")),
        "resent once without the field; the line left empty is not sent: {d:?}"
    );
    assert_eq!(
        f.sent()[1],
        "ball_mill starts=3i 1\nbelt power_kw=2.5 1\nball_mill starts=4i 3"
    );
    assert!(f.waits().is_empty());

    // Later batches leave the field out before sending.
    assert_eq!(
        run(&f, "ball_mill power_kw=7.5,starts=5i 4\n").await,
        Delivery::Delivered {
            lines: 1,
            requests: 1
        }
    );
    assert_eq!(f.sent()[2], "ball_mill starts=5i 4");
}

#[tokio::test]
async fn cancelled_before_start_sends_nothing() {
    let f = Fake::new(ok);
    let c = CancellationToken::new();
    c.cancel();
    assert_eq!(
        deliver_with(&f, b"m v=1 1", &c, &policy()).await,
        Delivery::Cancelled
    );
    assert!(f.sent().is_empty());
}

#[test]
fn finds_the_quoted_line_in_influx_messages() {
    assert_eq!(
        quoted_line("partial write: unable to parse 'cpu value=': missing field value").as_deref(),
        Some("cpu value=")
    );
    assert_eq!(
        quoted_line("unable to parse 'a 'b' c'").as_deref(),
        Some("a 'b' c")
    );
    assert_eq!(quoted_line("field type conflict"), None);
}

#[test]
fn a_batch_in_two_parts_is_done_when_both_are_and_counts_both() {
    let ok = |lines, requests| Delivery::Delivered { lines, requests };
    let dropped = |lines, delivered, line: &str| Delivery::Dropped {
        lines,
        delivered,
        requests: 3,
        status: 400,
        first_bad_line: line.into(),
        message: "unable to parse".into(),
    };
    assert_eq!(ok(10, 1).and(ok(5, 2)), ok(15, 3));
    assert_eq!(
        ok(10, 1).and(dropped(1, 4, "b")),
        Delivery::Dropped {
            lines: 1,
            delivered: 14,
            requests: 4,
            status: 400,
            first_bad_line: "b".into(),
            message: "unable to parse".into(),
        }
    );
    let both = dropped(2, 8, "a").and(dropped(1, 4, "b"));
    assert!(matches!(
        both,
        Delivery::Dropped { lines: 3, delivered: 12, requests: 6, ref first_bad_line, .. } if first_bad_line == "a"
    ));
    assert_eq!(ok(1, 1).and(Delivery::Cancelled), Delivery::Cancelled);
    assert!(!dropped(1, 1, "a").and(Delivery::Cancelled).is_done());
}
