//! The write path against an in-test server answering as InfluxDB 2
//! documents: request shape, and every error path of DESIGN §7.
use std::time::{Duration, Instant};

use plantgw::sink::influxdb::{deliver_with, Delivery, InfluxClient, WriteOutcome, WriterState};
use tokio_util::sync::CancellationToken;

use super::fast_policy;
use crate::common::influx::{v1_settings, v2_settings, MockInflux, MockReply};

fn lines(n: usize, prefix: &str) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{prefix},plc=grinding power_kw={}.5,starts={i}i 17000000{i:05}\n",
                400 + i
            )
        })
        .collect()
}

async fn deliver(c: &InfluxClient, body: &str) -> Delivery {
    deliver_with(
        c,
        body.as_bytes(),
        &CancellationToken::new(),
        &fast_policy(),
    )
    .await
}

#[tokio::test]
async fn v2_write_sends_token_org_bucket_precision_and_gzip() {
    let mock = MockInflux::start().await;
    let client = InfluxClient::new(&v2_settings(&mock.url, "tok-123")).unwrap();
    let body = lines(50, "ball_mill");
    assert_eq!(
        deliver(&client, &body).await,
        Delivery::Delivered {
            lines: 50,
            requests: 1
        }
    );

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/v2/write");
    assert_eq!(r.query.get("org").map(String::as_str), Some("fortuna"));
    assert_eq!(r.query.get("bucket").map(String::as_str), Some("plant"));
    assert_eq!(r.query.get("precision").map(String::as_str), Some("ms"));
    assert_eq!(r.header("authorization"), Some("Token tok-123"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert!(
        r.wire_len < body.len() / 3,
        "gzip on the wire: {} vs {}",
        r.wire_len,
        body.len()
    );
    assert_eq!(
        r.lines(),
        body.lines().collect::<Vec<_>>(),
        "gzip body decodes to the same lines"
    );
    assert_eq!(client.health().state(), WriterState::Up);
}

#[tokio::test]
async fn v1_write_uses_basic_auth_db_and_rp_without_gzip() {
    let mock = MockInflux::start().await;
    let mut s = v1_settings(&mock.url, "plant db", Some(("grafana", "hunter2")));
    s.gzip = false;
    if let plantgw::config::InfluxTarget::V1 {
        retention_policy, ..
    } = &mut s.target
    {
        *retention_policy = Some("one_year".into());
    }
    let client = InfluxClient::new(&s).unwrap();
    assert!(matches!(
        deliver(&client, "m v=1 1\n").await,
        Delivery::Delivered { lines: 1, .. }
    ));
    let r = &mock.requests()[0];
    assert_eq!(r.path, "/write");
    assert_eq!(r.query.get("db").map(String::as_str), Some("plant db"));
    assert_eq!(r.query.get("rp").map(String::as_str), Some("one_year"));
    assert_eq!(r.query.get("precision").map(String::as_str), Some("ms"));
    assert!(
        !r.query.values().any(|v| v.contains("hunter2")),
        "password never in the URL"
    );
    assert_eq!(
        r.header("authorization"),
        Some("Basic Z3JhZmFuYTpodW50ZXIy")
    );
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, b"m v=1 1");
}

#[tokio::test]
async fn write_once_maps_the_documented_answers() {
    let mock = MockInflux::start().await;
    let client = InfluxClient::new(&v2_settings(&mock.url, "tok-abc")).unwrap();
    let cases = [
        (MockReply::bad_line("bad line"), "bad"),
        (MockReply::unauthorized(), "401"),
        (MockReply::forbidden(), "403"),
        (MockReply::bucket_not_found(), "404"),
        (MockReply::too_large(), "413"),
        (MockReply::too_many_requests("3"), "429"),
        (MockReply::unavailable("4"), "503"),
        (MockReply::internal_error(), "500"),
    ];
    mock.with(|s| s.script = cases.iter().map(|(r, _)| r.clone()).collect());
    let mut got = Vec::new();
    for _ in &cases {
        got.push(client.write_once(b"m v=1 1\n").await);
    }
    assert_eq!(
        got,
        vec![
            WriteOutcome::BadData {
                status: 400,
                message: "unable to parse 'bad line': missing fields".into()
            },
            WriteOutcome::Unauthorized {
                status: 401,
                message: "unauthorized access".into()
            },
            WriteOutcome::Unauthorized {
                status: 403,
                message: "insufficient permissions for write".into()
            },
            WriteOutcome::Unauthorized {
                status: 404,
                message: "bucket \"plant\" not found".into()
            },
            WriteOutcome::TooLarge,
            WriteOutcome::RetryAfter {
                status: 429,
                after: Some(Duration::from_secs(3))
            },
            WriteOutcome::RetryAfter {
                status: 503,
                after: Some(Duration::from_secs(4))
            },
            WriteOutcome::Retry {
                status: Some(500),
                reason: "HTTP 500: unexpected error writing points to database: timeout".into()
            },
        ]
    );
    assert_eq!(client.write_once(b"m v=1 1\n").await, WriteOutcome::Written);
}

#[tokio::test]
async fn splits_on_413_until_batches_fit() {
    let mock = MockInflux::start().await;
    mock.with(|s| s.max_body = Some(300));
    let client = InfluxClient::new(&v2_settings(&mock.url, "tok-abc")).unwrap();
    let body = lines(40, "ball_mill");
    let d = deliver(&client, &body).await;
    let Delivery::Delivered {
        lines: 40,
        requests,
    } = d
    else {
        panic!("{d:?}")
    };
    assert!(requests > 8, "{requests} requests");
    assert_eq!(
        mock.accepted(),
        body.lines().collect::<Vec<_>>(),
        "all lines, in order"
    );
    let sizes: Vec<usize> = mock.requests().iter().map(|r| r.body.len()).collect();
    assert!(
        sizes[0] > 300 && sizes.iter().filter(|s| **s <= 300).count() >= 8,
        "{sizes:?}"
    );
}

#[tokio::test]
async fn bisects_400_delivering_good_lines_and_dropping_bad_ones() {
    let mock = MockInflux::start().await;
    mock.with(|s| s.bad_marker = Some("BAD".into()));
    let client = InfluxClient::new(&v2_settings(&mock.url, "tok-abc")).unwrap();
    let mut all: Vec<String> = lines(20, "ball_mill").lines().map(str::to_string).collect();
    all[3] = "BAD line without fields".into();
    all[17] = "BAD,other=1".into();
    let body = all.join("\n");
    let d = deliver(&client, &body).await;
    let Delivery::Dropped {
        lines,
        delivered,
        status,
        first_bad_line,
        message,
        ..
    } = d
    else {
        panic!("{d:?}")
    };
    assert_eq!((lines, delivered, status), (2, 18, 400));
    assert_eq!(first_bad_line, "BAD line without fields");
    assert!(message.contains("unable to parse"), "{message}");
    let good: Vec<String> = all.iter().filter(|l| !l.contains("BAD")).cloned().collect();
    assert_eq!(mock.accepted(), good);
    assert_eq!(
        client.health().state(),
        WriterState::Up,
        "bad data is not an outage"
    );
}

#[tokio::test]
async fn honours_retry_after_seconds_and_http_dates() {
    let mock = MockInflux::start().await;
    let client = InfluxClient::new(&v2_settings(&mock.url, "tok-abc")).unwrap();

    mock.with(|s| s.script.push_back(MockReply::too_many_requests("1")));
    let t = Instant::now();
    assert!(matches!(
        deliver(&client, "m v=1 1").await,
        Delivery::Delivered {
            lines: 1,
            requests: 2
        }
    ));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // An HTTP date two seconds ahead (whole-second resolution: wait 1–2 s).
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&at)
        .unwrap();
    mock.with(|s| s.script.push_back(MockReply::unavailable(&date)));
    let t = Instant::now();
    assert!(matches!(
        deliver(&client, "m v=2 2").await,
        Delivery::Delivered {
            lines: 1,
            requests: 2
        }
    ));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{date}: {waited:?}"
    );
    assert_eq!(mock.accepted(), vec!["m v=1 1", "m v=2 2"]);
}

#[tokio::test]
async fn unauthorized_keeps_data_and_retries_until_the_server_accepts() {
    let mock = MockInflux::start().await;
    mock.with(|s| s.require_authorization = Some("Token rotated".into()));
    let client = InfluxClient::new(&v2_settings(&mock.url, "old-token")).unwrap();
    let health = client.health().clone();
    let body = lines(5, "ball_mill");

    let fixer = {
        let state = mock.state.clone();
        let health = health.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            let during = health.state();
            // The operator fixes InfluxDB's side: the old token is valid again.
            state.lock().unwrap().require_authorization = Some("Token old-token".into());
            during
        })
    };
    let d = deliver(&client, &body).await;
    assert_eq!(
        fixer.await.unwrap(),
        WriterState::AuthFailed,
        "alarm raised while refused"
    );
    let Delivery::Delivered { lines: 5, requests } = d else {
        panic!("{d:?}")
    };
    assert!(requests >= 3, "kept retrying: {requests}");
    assert_eq!(
        mock.accepted(),
        body.lines().collect::<Vec<_>>(),
        "nothing lost"
    );
    assert_eq!(health.state(), WriterState::Up);

    // 404 (bucket missing) is the same episode kind: keep and retry.
    mock.with(|s| {
        s.script
            .extend([MockReply::bucket_not_found(), MockReply::bucket_not_found()])
    });
    assert!(matches!(
        deliver(&client, "m v=1 1").await,
        Delivery::Delivered {
            lines: 1,
            requests: 3
        }
    ));
}

#[tokio::test]
async fn retries_server_errors_and_network_errors_until_up() {
    let mock = MockInflux::start().await;
    mock.with(|s| {
        s.script
            .extend([MockReply::internal_error(), MockReply::internal_error()])
    });
    let client = InfluxClient::new(&v2_settings(&mock.url, "tok-abc")).unwrap();
    assert_eq!(
        deliver(&client, "m v=1 1").await,
        Delivery::Delivered {
            lines: 1,
            requests: 3
        }
    );

    // Nothing listening yet: connection refused until the server appears.
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], crate::common::free_port()).into();
    let client = InfluxClient::new(&v2_settings(&format!("http://{addr}"), "tok-abc")).unwrap();
    let health = client.health().clone();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during = health.state();
        (MockInflux::start_on(addr).await, during)
    });
    let d = deliver(&client, "m v=1 1\nm v=2 2\n").await;
    let (server, during) = late.await.unwrap();
    assert_eq!(during, WriterState::Down);
    assert_eq!(
        d,
        Delivery::Delivered {
            lines: 2,
            requests: 2
        },
        "one refused write, then /ping probes, then one resend"
    );
    assert_eq!(server.accepted(), vec!["m v=1 1", "m v=2 2"]);
    let pings = server.requests();
    assert!(
        pings
            .iter()
            .any(|r| r.method == "GET" && r.path == "/ping" && r.header("authorization").is_none()),
        "{pings:?}"
    );
    assert_eq!(client.health().state(), WriterState::Up);
}

#[tokio::test]
async fn network_errors_and_timeouts_are_retryable() {
    let addr = format!("http://127.0.0.1:{}", crate::common::free_port());
    let client = InfluxClient::new(&v2_settings(&addr, "tok-abc")).unwrap();
    let o = client.write_once(b"m v=1 1").await;
    assert!(
        matches!(&o, WriteOutcome::Retry { status: None, reason } if reason.contains("onnect")),
        "{o:?}"
    );

    let mock = MockInflux::start().await;
    mock.with(|s| s.script.push_back(MockReply::Hang));
    let mut s = v2_settings(&mock.url, "tok-abc");
    s.timeout = Duration::from_millis(300);
    let client = InfluxClient::new(&s).unwrap();
    let t = Instant::now();
    let o = client.write_once(b"m v=1 1").await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "per-request timeout applied"
    );
    assert!(
        matches!(&o, WriteOutcome::Retry { status: None, reason } if reason.contains("timed out")),
        "{o:?}"
    );
}

#[tokio::test]
async fn cancellation_while_retrying_keeps_the_batch() {
    let addr = format!("http://127.0.0.1:{}", crate::common::free_port());
    let client = InfluxClient::new(&v2_settings(&addr, "tok-abc")).unwrap();
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.cancel();
    });
    let t = Instant::now();
    let d = deliver_with(&client, b"m v=1 1", &cancel, &fast_policy()).await;
    assert_eq!(d, Delivery::Cancelled);
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(client.health().state(), WriterState::Down);
}

#[tokio::test]
async fn the_token_never_appears_in_debug_output_or_errors() {
    const TOKEN: &str = "s3cr3t-t0ken-do-not-log";
    let mock = MockInflux::start().await;
    let client = InfluxClient::new(&v2_settings(&mock.url, TOKEN)).unwrap();
    assert!(!format!("{client:?}").contains(TOKEN));
    assert!(!format!("{:?}", v2_settings(&mock.url, TOKEN)).contains(TOKEN));

    mock.with(|s| s.script.push_back(MockReply::EchoAuthorization));
    let o = client.write_once(b"m v=1 1").await;
    let WriteOutcome::Unauthorized { message, .. } = &o else {
        panic!("{o:?}")
    };
    assert!(
        message.contains("Token ***"),
        "the echo is there, redacted: {message}"
    );
    assert!(!format!("{o:?}").contains(TOKEN));

    let down = InfluxClient::new(&v2_settings(
        &format!("http://127.0.0.1:{}", crate::common::free_port()),
        TOKEN,
    ))
    .unwrap();
    let o = down.write_once(b"m v=1 1").await;
    assert!(!format!("{o:?}").contains(TOKEN), "{o:?}");

    let mut s = v2_settings(&mock.url, TOKEN);
    s.ca_file = Some("/nonexistent/ca.pem".into());
    let e = InfluxClient::new(&s).unwrap_err();
    assert!(!format!("{e} {e:?}").contains(TOKEN));

    let q = plantgw::sink::influxdb::QueryClient::new(&v2_settings(&mock.url, TOKEN)).unwrap();
    assert!(!format!("{q:?}").contains(TOKEN));
    mock.with(|s| s.script.push_back(MockReply::EchoAuthorization));
    let e = q.query("SELECT 1").await.unwrap_err();
    assert!(!format!("{e} {e:?}").contains(TOKEN), "{e}");
}

/// A catch-all proxy or web server answering `200 OK` to anything: InfluxDB
/// (1.x and 2.x) answers a write with 204, so a 200 means the URL points at
/// something else, and the batch must stay until a real 204.
#[tokio::test]
async fn a_200_from_a_catch_all_server_is_not_a_write() {
    let mock = MockInflux::start().await;
    let ok_page = || MockReply::Status {
        status: 200,
        body: "<html><body>It works!</body></html>".into(),
        headers: Vec::new(),
    };
    mock.with(|s| s.script.extend([ok_page(), ok_page(), ok_page()]));
    let client = InfluxClient::new(&v1_settings(&mock.url, "plant", None)).unwrap();
    let o = client.write_once(b"m v=1 1").await;
    assert!(
        matches!(&o, WriteOutcome::Misdirected { status: 200, message } if message.contains("204") && message.contains("It works!")),
        "a 200 must not count as written: {o:?}"
    );
    assert_eq!(client.health().state(), WriterState::Up, "write_once alone");
    let d = deliver(&client, "m v=1 1\nm v=2 2\n").await;
    assert_eq!(
        d,
        Delivery::Delivered {
            lines: 2,
            requests: 3
        },
        "kept and retried until a 204"
    );
    assert_eq!(mock.accepted(), vec!["m v=1 1", "m v=2 2"]);
    assert_eq!(mock.requests().len(), 4);
}
