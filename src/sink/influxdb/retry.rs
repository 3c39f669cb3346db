//! What an InfluxDB answer means for the data (DESIGN §7), and how long to
//! wait before trying again.
//!
//! | answer | outcome |
//! |---|---|
//! | 204 | written (InfluxDB 1.x and 2.x answer every accepted write so) |
//! | other 2xx | not InfluxDB (a catch-all proxy or web server): keep the data, alarm, retry |
//! | 400, 422 | bad data: the offending lines are dropped, counted, logged |
//! | 400 field type conflict | only that field is left out of the lines (`conflict`) |
//! | 401, 403, 404 | credentials or bucket wrong: keep the data, alarm, retry |
//! | 413 | too large: split the batch |
//! | 429, 503 | overloaded: wait `Retry-After` (seconds or HTTP date) |
//! | other 5xx, 408, timeout | retry with backoff |
//! | network error while `/ping` is silent too | probe `/ping` every second, resend when it answers |
//! | anything else (3xx, unexpected 4xx) | retry with backoff: a wrong URL must not cost data |
use std::time::Duration;

use jiff::Timestamp;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// One write attempt's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// 400/422. `message` is the server's explanation (it usually quotes the
    /// first bad line).
    BadData {
        status: u16,
        message: String,
    },
    /// 401/403/404: nothing wrong with the data; keep it and alarm.
    Unauthorized {
        status: u16,
        message: String,
    },
    /// A 2xx other than 204: whatever answered is not InfluxDB's write
    /// endpoint, so nothing was stored. Keep the data and alarm.
    Misdirected {
        status: u16,
        message: String,
    },
    /// 413.
    TooLarge,
    /// 429/503, with the server's `Retry-After` if it gave a usable one.
    RetryAfter {
        status: u16,
        after: Option<Duration>,
    },
    /// Other server errors (`status` set) or network errors and timeouts
    /// (`status` None).
    Retry {
        status: Option<u16>,
        reason: String,
    },
}

impl WriteOutcome {
    /// Label for `plantgw_write_errors_total{status}`; None when written.
    pub fn status_label(&self) -> Option<String> {
        match self {
            WriteOutcome::Written => None,
            WriteOutcome::BadData { status, .. }
            | WriteOutcome::Unauthorized { status, .. }
            | WriteOutcome::Misdirected { status, .. }
            | WriteOutcome::RetryAfter { status, .. }
            | WriteOutcome::Retry {
                status: Some(status),
                ..
            } => Some(status.to_string()),
            WriteOutcome::TooLarge => Some("413".into()),
            WriteOutcome::Retry { status: None, .. } => Some("network".into()),
        }
    }
}

/// Longest server message kept (InfluxDB quotes whole lines).
const MAX_MESSAGE: usize = 512;

/// The retry table: one place decides what every answer means.
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> WriteOutcome {
    classify_at(status, headers, body, Timestamp::now())
}

pub(crate) fn classify_at(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> WriteOutcome {
    match status {
        204 => WriteOutcome::Written,
        200..=299 => WriteOutcome::Misdirected {
            status,
            message: format!(
                "HTTP {status} to a write, where InfluxDB answers 204; influxdb.url points at \
                 something else (a proxy or web server?): {}",
                server_message(body)
            ),
        },
        400 | 422 => WriteOutcome::BadData {
            status,
            message: server_message(body),
        },
        401 | 403 | 404 => WriteOutcome::Unauthorized {
            status,
            message: server_message(body),
        },
        413 => WriteOutcome::TooLarge,
        429 | 503 => WriteOutcome::RetryAfter {
            status,
            after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now)),
        },
        300..=399 => WriteOutcome::Retry {
            status: Some(status),
            reason: format!(
                "HTTP {status} redirect{}; set influxdb.url to the final address",
                headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(|l| format!(" to {l}"))
                    .unwrap_or_default()
            ),
        },
        _ => WriteOutcome::Retry {
            status: Some(status),
            reason: format!("HTTP {status}: {}", server_message(body)),
        },
    }
}

/// The `message` (InfluxDB 2) or `error` (1.x) of a JSON error body, else
/// the body text, shortened.
pub(crate) fn server_message(body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        ["message", "error"]
            .iter()
            .find_map(|k| v.get(k).and_then(|m| m.as_str()))
            .map(str::to_string)
    });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    truncate(text, MAX_MESSAGE)
}

pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .relaxed_weekday(true)
        .parse_timestamp(v)
        .ok()?;
    let secs = at.duration_since(now).as_secs_f64();
    Some(Duration::from_secs_f64(secs.max(0.0)))
}

/// Waits between attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// First backoff delay; doubles per consecutive failure.
    pub base: Duration,
    /// Backoff never exceeds this.
    pub cap: Duration,
    /// A server's `Retry-After` is honoured up to this long (a bogus huge
    /// value must not stall the plant's data for days).
    pub retry_after_max: Duration,
    /// Randomise each delay within [d/2, d], so many gateways restarted
    /// together do not hit InfluxDB in lock-step. Off in tests.
    pub jitter: bool,
    /// While InfluxDB is unreachable (connection refused or reset), how
    /// often to ask `/ping` whether it is back; the batch is resent as soon
    /// as it answers.
    pub probe_interval: Duration,
    /// Most bisection splits (each costs about two requests) spent
    /// isolating bad lines in one batch; beyond it, a rejected part is
    /// dropped whole. Bounds the cost when every line is bad.
    pub bisect_budget: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(30),
            retry_after_max: Duration::from_secs(300),
            jitter: true,
            probe_interval: Duration::from_secs(1),
            bisect_budget: 32,
        }
    }
}

impl RetryPolicy {
    pub fn backoff(&self) -> Backoff {
        Backoff {
            base: self.base,
            cap: self.cap,
            attempt: 0,
            rng: self.jitter.then(SplitMix64::from_clock),
        }
    }

    /// How long to wait on a 429/503: the server's word, within limits, or
    /// our own backoff when it gave none.
    pub fn retry_after_wait(&self, after: Option<Duration>, backoff: &mut Backoff) -> Duration {
        match after {
            Some(d) => d.clamp(self.base, self.retry_after_max.max(self.base)),
            None => backoff.next_delay(),
        }
    }
}

/// Capped exponential backoff: base, 2·base, 4·base … cap.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    rng: Option<SplitMix64>,
}

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        let d = self.base.saturating_mul(factor).min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        match &mut self.rng {
            None => d,
            Some(rng) => {
                let half = d / 2;
                let frac = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
                half + half.mul_f64(frac)
            }
        }
    }

    /// Back to the base delay after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Tiny PRNG for jitter; quality needs are low and it avoids a dependency.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn from_clock() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        SplitMix64(nanos ^ u64::from(std::process::id()).rotate_left(32))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn now() -> Timestamp {
        "2024-03-01T12:00:00Z".parse().unwrap()
    }

    fn hdr(k: reqwest::header::HeaderName, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(k, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn the_retry_table() {
        let none = HeaderMap::new();
        let v2_bad = br#"{"code":"invalid","message":"partial write: unable to parse 'bad line': missing fields"}"#;
        let v1_bad = br#"{"error":"partial write: field type conflict"}"#;
        let cases: Vec<(u16, &[u8], WriteOutcome)> = vec![
            (204, b"", WriteOutcome::Written),
            (
                200,
                b"<html>It works!</html>",
                WriteOutcome::Misdirected {
                    status: 200,
                    message:
                        "HTTP 200 to a write, where InfluxDB answers 204; influxdb.url points at \
                              something else (a proxy or web server?): <html>It works!</html>"
                            .into(),
                },
            ),
            (
                400,
                v2_bad,
                WriteOutcome::BadData {
                    status: 400,
                    message: "partial write: unable to parse 'bad line': missing fields".into(),
                },
            ),
            (
                422,
                v1_bad,
                WriteOutcome::BadData {
                    status: 422,
                    message: "partial write: field type conflict".into(),
                },
            ),
            (
                401,
                br#"{"code":"unauthorized","message":"unauthorized access"}"#,
                WriteOutcome::Unauthorized {
                    status: 401,
                    message: "unauthorized access".into(),
                },
            ),
            (
                403,
                b"forbidden\n",
                WriteOutcome::Unauthorized {
                    status: 403,
                    message: "forbidden".into(),
                },
            ),
            (
                404,
                br#"{"code":"not found","message":"bucket \"plant\" not found"}"#,
                WriteOutcome::Unauthorized {
                    status: 404,
                    message: "bucket \"plant\" not found".into(),
                },
            ),
            (413, b"{}", WriteOutcome::TooLarge),
            (
                429,
                b"",
                WriteOutcome::RetryAfter {
                    status: 429,
                    after: None,
                },
            ),
            (
                500,
                br#"{"code":"internal error","message":"boom"}"#,
                WriteOutcome::Retry {
                    status: Some(500),
                    reason: "HTTP 500: boom".into(),
                },
            ),
            (
                502,
                b"",
                WriteOutcome::Retry {
                    status: Some(502),
                    reason: "HTTP 502: ".into(),
                },
            ),
            (
                405,
                b"method not allowed",
                WriteOutcome::Retry {
                    status: Some(405),
                    reason: "HTTP 405: method not allowed".into(),
                },
            ),
        ];
        for (status, body, want) in cases {
            assert_eq!(
                classify_at(status, &none, body, now()),
                want,
                "status {status}"
            );
        }
        assert_eq!(
            classify_at(503, &hdr(RETRY_AFTER, "7"), b"", now()),
            WriteOutcome::RetryAfter {
                status: 503,
                after: Some(Duration::from_secs(7))
            }
        );
        let redirect = classify_at(
            301,
            &hdr(reqwest::header::LOCATION, "https://x/"),
            b"",
            now(),
        );
        assert!(
            matches!(redirect, WriteOutcome::Retry { status: Some(301), reason } if reason.contains("to https://x/"))
        );
    }

    #[test]
    fn retry_after_seconds_and_http_dates() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Fri, 01 Mar 2024 12:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Fri, 01 Mar 2024 11:00:00 GMT", now()),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-5", now()), None);
        assert_eq!(parse_retry_after("", now()), None);
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn messages_are_shortened_on_char_boundaries() {
        let long = "é".repeat(600);
        let m = server_message(long.as_bytes());
        assert!(m.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(m.ends_with('…'));
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        let mut b = p.backoff();
        let ms: Vec<u128> = (0..12).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(
            ms,
            vec![100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]
        );
        for _ in 0..100 {
            assert_eq!(
                b.next_delay(),
                Duration::from_secs(30),
                "no overflow after many attempts"
            );
        }
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_within_half_to_full_delay() {
        let mut b = RetryPolicy::default().backoff();
        for i in 0..40 {
            let nominal = Duration::from_millis(100)
                .saturating_mul(1u32 << i.min(20))
                .min(Duration::from_secs(30));
            let d = b.next_delay();
            assert!(
                d >= nominal / 2 && d <= nominal,
                "{i}: {d:?} vs {nominal:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_clamped() {
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        let mut b = p.backoff();
        assert_eq!(
            p.retry_after_wait(Some(Duration::from_secs(5)), &mut b),
            Duration::from_secs(5)
        );
        assert_eq!(
            p.retry_after_wait(Some(Duration::ZERO), &mut b),
            Duration::from_millis(100)
        );
        assert_eq!(
            p.retry_after_wait(Some(Duration::from_secs(86_400)), &mut b),
            Duration::from_secs(300)
        );
        assert_eq!(p.retry_after_wait(None, &mut b), Duration::from_millis(100));
        assert_eq!(p.retry_after_wait(None, &mut b), Duration::from_millis(200));
    }
}
