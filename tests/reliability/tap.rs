//! A recording HTTP/1.1 proxy between the gateway and a real InfluxDB: it
//! forwards every byte unchanged and keeps each write request's lines with
//! the status InfluxDB answered. That makes redelivery visible, which
//! InfluxDB itself hides (a point written twice overwrites itself).
//!
//! When InfluxDB is down the proxy resets the gateway's connection, which
//! the gateway sees as the network error it is.
use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// One write request as it went by.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// None: InfluxDB went away before answering.
    pub status: Option<u16>,
    /// Request body, gzip undone.
    pub body: Vec<u8>,
    /// Wall clock (epoch ms) when the answer, or its absence, was seen.
    pub at_ms: i64,
}

impl Exchange {
    pub fn accepted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

pub struct WriteTap {
    pub url: String,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

#[derive(Default)]
struct Shared {
    log: Mutex<Vec<Exchange>>,
    /// Held before each answer goes back to the gateway: a slow InfluxDB.
    delay: Mutex<Duration>,
    /// Connections reset because InfluxDB refused them.
    refused: AtomicUsize,
}

impl Drop for WriteTap {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl WriteTap {
    pub async fn start(upstream: SocketAddr) -> WriteTap {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tap");
        let addr = listener.local_addr().expect("tap address");
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let (l, st) = (shared.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let (client, _) = tokio::select! {
                    _ = st.cancelled() => break,
                    r = listener.accept() => match r {
                        Ok(c) => c,
                        Err(_) => continue,
                    },
                };
                let (l, st) = (l.clone(), st.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = st.cancelled() => {}
                        _ = relay(client, upstream, &l) => {}
                    }
                });
            }
        });
        WriteTap {
            url: format!("http://{addr}"),
            shared,
            stop,
        }
    }

    /// Holds every answer this long before passing it on.
    pub fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Connections the gateway opened while InfluxDB refused them.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Timestamps of `plc`'s `plc_status` lines in writes InfluxDB accepted,
    /// in the order they were sent, repeats included.
    pub fn accepted_status_ts(&self, plc: &str) -> Vec<i64> {
        self.exchanges()
            .iter()
            .filter(|e| e.accepted())
            .flat_map(|e| super::status_lines(&e.body, plc))
            .collect()
    }

    /// Write requests that got no answer or a non-2xx one.
    pub fn failed_writes(&self) -> usize {
        self.exchanges().iter().filter(|e| !e.accepted()).count()
    }
}

/// Timestamps accepted more than once, with how many times.
pub fn repeats(ts: &[i64]) -> BTreeMap<i64, usize> {
    let mut n: BTreeMap<i64, usize> = BTreeMap::new();
    for t in ts {
        *n.entry(*t).or_default() += 1;
    }
    n.retain(|_, c| *c > 1);
    n
}

async fn relay(client: TcpStream, upstream: SocketAddr, shared: &Shared) {
    let log = &shared.log;
    let server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(_) => {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            let _ = client.set_zero_linger();
            return;
        }
    };
    let (cr, mut cw) = client.into_split();
    let (sr, mut sw) = server.into_split();
    let (mut cr, mut sr) = (BufReader::new(cr), BufReader::new(sr));
    loop {
        let Some(req) = read_message(&mut cr, None).await else {
            return;
        };
        let is_write = req
            .start_line
            .split_whitespace()
            .nth(1)
            .is_some_and(|p| p.starts_with("/write") || p.starts_with("/api/v2/write"));
        if sw.write_all(&req.raw).await.is_err() {
            record(log, is_write, None, &req);
            return;
        }
        let method_head = req.start_line.starts_with("HEAD ");
        let Some(resp) = read_message(&mut sr, Some(method_head)).await else {
            record(log, is_write, None, &req);
            return;
        };
        let status = resp
            .start_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok());
        record(log, is_write, status, &req);
        let delay = *shared.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if cw.write_all(&resp.raw).await.is_err() {
            return;
        }
    }
}

fn record(log: &Mutex<Vec<Exchange>>, is_write: bool, status: Option<u16>, req: &Message) {
    if !is_write {
        return;
    }
    let body = if req.gzip {
        let mut out = Vec::new();
        match flate2::read::GzDecoder::new(&req.body[..]).read_to_end(&mut out) {
            Ok(_) => out,
            Err(e) => panic!("tap: gateway sent a bad gzip body: {e}"),
        }
    } else {
        req.body.clone()
    };
    log.lock().unwrap().push(Exchange {
        status,
        body,
        at_ms: super::now_ms(),
    });
}

struct Message {
    start_line: String,
    /// Everything read, to forward unchanged.
    raw: Vec<u8>,
    /// The body with any chunked framing removed.
    body: Vec<u8>,
    gzip: bool,
}

/// Reads one HTTP/1.1 message. `response` is None for a request, or
/// Some(answer to HEAD) for a response.
async fn read_message<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    response: Option<bool>,
) -> Option<Message> {
    let mut raw = Vec::new();
    let mut start_line = String::new();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        raw.extend_from_slice(line.as_bytes());
        let trimmed = line.trim_end_matches(['\r', '\n']).to_string();
        if start_line.is_empty() {
            if trimmed.is_empty() {
                continue;
            }
            start_line = trimmed;
        } else if trimmed.is_empty() {
            break;
        } else if let Some((k, v)) = trimmed.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let gzip = header("content-encoding").is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
    let no_body = match response {
        None => false,
        Some(head) => {
            let status = start_line.split_whitespace().nth(1).unwrap_or("");
            head || status.starts_with('1') || status == "204" || status == "304"
        }
    };
    let mut body = Vec::new();
    if no_body {
    } else if chunked {
        loop {
            let mut size_line = String::new();
            if r.read_line(&mut size_line).await.ok()? == 0 {
                return None;
            }
            raw.extend_from_slice(size_line.as_bytes());
            let hex = size_line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(hex, 16).ok()?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t).await.ok()? == 0 {
                        return None;
                    }
                    raw.extend_from_slice(t.as_bytes());
                    if t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0u8; size + 2];
            r.read_exact(&mut chunk).await.ok()?;
            raw.extend_from_slice(&chunk);
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length {
        body = vec![0u8; n];
        r.read_exact(&mut body).await.ok()?;
        raw.extend_from_slice(&body);
    } else if response.is_some() {
        // No length: the body runs to the end of the connection.
        r.read_to_end(&mut body).await.ok()?;
        raw.extend_from_slice(&body);
    }
    Some(Message {
        start_line,
        raw,
        body,
        gzip,
    })
}
