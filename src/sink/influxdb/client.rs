//! The HTTP side of InfluxDB writes: one request per call, classified by
//! [`super::retry::classify`]. Retrying, splitting and bisecting live in
//! [`super::delivery`], which drives any [`LineWriter`] and knows nothing
//! of HTTP.
//!
//! Secrets: the v2 token travels in a sensitive `Authorization` header and
//! the v1 password as basic auth, never in a URL (see [`super::config`]);
//! errors are stripped of URLs and every message a server sends back is
//! scrubbed of our secrets before it can reach a log.
use std::fmt;
use std::io::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::Url;

use super::config::{build_http, describe, endpoint, Auth};
use super::conflict::FieldConflicts;
use super::delivery::LineWriter;
use super::health::WriterHealth;
use super::retry::{classify, WriteOutcome};
use super::SetupError;
use crate::config::{Influx, InfluxTarget};
use crate::http::Health;

/// Largest error body read from a server: InfluxDB's are a few hundred
/// bytes, and a misbehaving proxy must not make us buffer megabytes.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Longest wait for a `/ping` answer: on loopback or a plant LAN a live
/// InfluxDB answers in milliseconds, and a probe must not hold up the
/// resend it is there to speed up.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Writes line protocol to InfluxDB (v2 `/api/v2/write` or v1 `/write`).
pub struct InfluxClient {
    http: reqwest::Client,
    write_url: Url,
    ping_url: Url,
    ping_timeout: Duration,
    auth: Auth,
    gzip: bool,
    health: WriterHealth,
    conflicts: FieldConflicts,
    /// Where a sender counts written lines and refused requests; unset
    /// for one-off writes (`kpi recompute`).
    counts: OnceLock<Arc<Health>>,
}

impl fmt::Debug for InfluxClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfluxClient")
            .field("write_url", &self.write_url.as_str())
            .field("auth", &self.auth)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl InfluxClient {
    pub fn new(s: &Influx) -> Result<Self, SetupError> {
        let write_url = match &s.target {
            InfluxTarget::V2 { org, bucket, .. } => endpoint(
                &s.url,
                "/api/v2/write",
                &[("org", org), ("bucket", bucket), ("precision", "ms")],
            )?,
            InfluxTarget::V1 {
                database,
                retention_policy,
                ..
            } => {
                let mut q = vec![("db", database.as_str())];
                if let Some(rp) = retention_policy {
                    q.push(("rp", rp));
                }
                q.push(("precision", "ms"));
                endpoint(&s.url, "/write", &q)?
            }
        };
        Ok(InfluxClient {
            http: build_http(s)?,
            write_url,
            ping_url: endpoint(&s.url, "/ping", &[])?,
            ping_timeout: s.timeout.min(PING_TIMEOUT),
            auth: Auth::from_target(&s.target)?,
            gzip: s.gzip,
            health: WriterHealth::default(),
            conflicts: FieldConflicts::default(),
            counts: OnceLock::new(),
        })
    }

    /// Shared view of whether writes are succeeding (for `/healthz`).
    pub fn health(&self) -> &WriterHealth {
        &self.health
    }

    /// Counts this client's writes into `health` from now on; the first
    /// call wins.
    pub fn count_into(&self, health: &Arc<Health>) {
        let _ = self.counts.set(health.clone());
    }

    pub(super) fn counts(&self) -> Option<&Arc<Health>> {
        self.counts.get()
    }

    /// One POST of `body`; never retries by itself.
    pub async fn write_once(&self, body: &[u8]) -> WriteOutcome {
        let mut rb = self
            .http
            .post(self.write_url.clone())
            .header(CONTENT_TYPE, "text/plain; charset=utf-8");
        rb = match self.gzip.then(|| gzip(body)) {
            Some(Ok(z)) => rb.header(CONTENT_ENCODING, "gzip").body(z),
            // Compression into memory does not fail in practice; if it did,
            // the plain body is still a valid request.
            Some(Err(_)) | None => rb.body(body.to_vec()),
        };
        let resp = match self.auth.apply(rb).send().await {
            Ok(r) => r,
            Err(e) => {
                return WriteOutcome::Retry {
                    status: None,
                    reason: self.auth.redact(describe(e)),
                }
            }
        };
        let status = resp.status().as_u16();
        if status == 204 {
            return WriteOutcome::Written;
        }
        let headers = resp.headers().clone();
        let body = read_capped(resp, MAX_ERROR_BODY).await;
        match classify(status, &headers, &body) {
            WriteOutcome::BadData { status, message } => WriteOutcome::BadData {
                status,
                message: self.auth.redact(message),
            },
            WriteOutcome::Unauthorized { status, message } => WriteOutcome::Unauthorized {
                status,
                message: self.auth.redact(message),
            },
            WriteOutcome::Misdirected { status, message } => WriteOutcome::Misdirected {
                status,
                message: self.auth.redact(message),
            },
            WriteOutcome::Retry { status, reason } => WriteOutcome::Retry {
                status,
                reason: self.auth.redact(reason),
            },
            other => other,
        }
    }
}

impl LineWriter for InfluxClient {
    fn write_once(&self, body: &[u8]) -> impl std::future::Future<Output = WriteOutcome> + Send {
        InfluxClient::write_once(self, body)
    }

    /// `GET /ping`, which InfluxDB 1.x and 2.x answer with 204 without
    /// credentials. Any HTTP answer counts: what it means for the data is
    /// for the next write to find out.
    fn reachable(&self) -> impl std::future::Future<Output = bool> + Send {
        let req = self
            .http
            .get(self.ping_url.clone())
            .timeout(self.ping_timeout)
            .send();
        async move { req.await.is_ok() }
    }

    fn health(&self) -> &WriterHealth {
        &self.health
    }

    fn conflicts(&self) -> &FieldConflicts {
        &self.conflicts
    }
}

/// The request body as the gateway sends it (the benchmark's replay
/// ceiling sends the same bytes).
pub fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    // Fast level: line protocol compresses ~10x even so, and the gateway's
    // two cores have Modbus to poll.
    let mut z = GzEncoder::new(Vec::with_capacity(body.len() / 8 + 64), Compression::fast());
    z.write_all(body)?;
    z.finish()
}

async fn read_capped(mut resp: reqwest::Response, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    // A body cut short by a network error still explains the status.
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = max.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= max {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use std::time::Duration;

    fn settings(target: InfluxTarget) -> Influx {
        Influx {
            url: "http://127.0.0.1:1/base/".into(),
            target,
            batch_size: 5000,
            flush_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            gzip: true,
            ca_file: None,
        }
    }

    fn v2(token: &str) -> InfluxTarget {
        InfluxTarget::V2 {
            org: "fortuna & co".into(),
            bucket: "plant/raw".into(),
            token: Secret::new(token),
        }
    }

    #[test]
    fn write_urls_are_encoded() {
        let c = InfluxClient::new(&settings(v2("t"))).unwrap();
        assert_eq!(
            c.write_url.as_str(),
            "http://127.0.0.1:1/base/api/v2/write?org=fortuna+%26+co&bucket=plant%2Fraw&precision=ms"
        );
        let c = InfluxClient::new(&settings(InfluxTarget::V1 {
            database: "plant db".into(),
            retention_policy: Some("autogen".into()),
            username: None,
            password: None,
        }))
        .unwrap();
        assert_eq!(
            c.write_url.as_str(),
            "http://127.0.0.1:1/base/write?db=plant+db&rp=autogen&precision=ms"
        );
    }

    #[test]
    fn bad_urls_and_tokens_are_errors_without_secrets() {
        let mut s = settings(v2("t"));
        s.url = "not a url".into();
        assert!(matches!(InfluxClient::new(&s), Err(SetupError::Url { .. })));
        s.url = "ftp://h".into();
        assert!(InfluxClient::new(&s)
            .unwrap_err()
            .to_string()
            .contains("not http"));
        let e = InfluxClient::new(&settings(v2("sekrit\ntoken"))).unwrap_err();
        assert!(!e.to_string().contains("sekrit"), "{e}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = InfluxClient::new(&settings(v2("s3cr3t-token"))).unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(d.contains("Token(***)"));
        let c = InfluxClient::new(&settings(InfluxTarget::V1 {
            database: "d".into(),
            retention_policy: None,
            username: Some("grafana".into()),
            password: Some(Secret::new("hunter2")),
        }))
        .unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2") && d.contains("grafana"), "{d}");
    }

    #[test]
    fn redacts_echoed_secrets() {
        let a = Auth::from_target(&v2("s3cr3t")).unwrap();
        assert_eq!(
            a.redact("bad header Token s3cr3t".into()),
            "bad header Token ***"
        );
        assert_eq!(Auth::None.redact("x".into()), "x");
        let short = Auth::from_target(&v2("t")).unwrap();
        assert_eq!(short.redact("a test".into()), "a test");
    }

    #[test]
    fn missing_or_empty_ca_file_is_a_clear_error() {
        let mut s = settings(v2("t"));
        s.ca_file = Some("/nonexistent/ca.pem".into());
        let e = InfluxClient::new(&s).unwrap_err().to_string();
        assert!(
            e.contains("/nonexistent/ca.pem") && e.contains("cannot read"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        s.ca_file = Some(p);
        let e = InfluxClient::new(&s).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn gzip_round_trips() {
        let body = b"m v=1i 1\n".repeat(100);
        let z = gzip(&body).unwrap();
        let mut d = flate2::read::GzDecoder::new(&z[..]);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut back).unwrap();
        assert_eq!(back, body);
        assert!(z.len() < body.len() / 5);
    }
}
