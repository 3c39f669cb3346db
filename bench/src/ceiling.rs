//! `--ceiling`: how fast InfluxDB alone ingests the gateway's replay
//! batches, with no gateway (and no live load) beside it.
//!
//! The backlog is the gateway's own: its spool directory is copied while
//! InfluxDB is still down ([`snapshot`]), so the copy holds what the
//! outage spooled. After the row, the copy is read as the sender replays
//! it ([`read_backlog`]): consecutive records merged up to the InfluxDB
//! sink's merge budget, joined as `pipeline::sender` joins them, gzipped
//! at the client's level (fast). The bodies are compressed before the
//! clock starts, so the figure is InfluxDB's, not this process's.
//!
//! For each writer count C, a fresh `influxd` (as after the outage) gets a
//! fresh database, and C tasks post the batches in order to
//! `/write?db=…&precision=ms` with the gateway's headers, each taking the
//! next batch when its last one is answered. Timed from the first request
//! to the last answer; samples are the equipment fields of the bodies,
//! counted as the replay line counts them in InfluxDB, and checked against
//! InfluxDB's own count afterwards.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use plantgw::pipeline::sender::merged;
use plantgw::sink::influxdb::client::gzip;
use plantgw::sink::influxdb::config::build_http;
use plantgw::sink::influxdb::{QueryClient, MERGE_BYTES};
use plantgw::spool::{Spool, SpoolOptions, DEFAULT_SINK};

use crate::{count_samples, create_database, free_port, now_ms, v1_settings, Influx, DATABASE};

/// Writes in flight, one measurement each.
pub const WRITERS: [usize; 3] = [1, 2, 4];

/// The spool's lock belongs to the running gateway; the copy gets its own
/// when it is opened.
const LOCK_FILE: &str = "spool.lock";

/// Copies a running gateway's spool directory (segments and cursors). A
/// record being appended meanwhile may be cut short in the copy: opening
/// it truncates that torn tail, as after a crash.
pub fn snapshot(spool: &Path, to: &Path) -> Result<u64> {
    std::fs::create_dir_all(to).with_context(|| format!("{}", to.display()))?;
    let mut bytes = 0;
    let entries = std::fs::read_dir(spool).with_context(|| format!("{}", spool.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("{}", spool.display()))?;
        let name = entry.file_name();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !is_file || name == LOCK_FILE {
            continue;
        }
        let from = entry.path();
        bytes += std::fs::copy(&from, to.join(&name))
            .with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(bytes)
}

/// The replay's write requests, in the order they are sent.
pub struct Backlog {
    /// Gzipped write bodies, ready to post.
    batches: Arc<[Vec<u8>]>,
    samples: u64,
    /// Line protocol bytes before compression.
    bytes: u64,
    gz_bytes: u64,
}

impl Backlog {
    pub fn describe(&self) -> String {
        format!(
            "{} writes, {} samples, {:.1} MB line protocol ({:.1} MB gzipped)",
            self.batches.len(),
            self.samples,
            self.bytes as f64 / 1e6,
            self.gz_bytes as f64 / 1e6,
        )
    }
}

/// The copied spools' batches as their senders would write them; with
/// several gateways, their writes alternate, as they would arrive.
pub fn read_backlog(spools: &[PathBuf]) -> Result<Backlog> {
    let mut per_spool = Vec::new();
    for dir in spools {
        per_spool.push(read_spool(dir, MERGE_BYTES)?);
    }
    let (mut batches, mut samples, mut bytes, mut gz_bytes) = (Vec::new(), 0, 0, 0);
    for (body, n) in interleave(per_spool) {
        bytes += body.len() as u64;
        samples += n;
        let gz = gzip(&body).context("compressing a batch")?;
        gz_bytes += gz.len() as u64;
        batches.push(gz);
    }
    if batches.is_empty() {
        bail!("the spool copy holds no records: was the outage too short?");
    }
    Ok(Backlog {
        batches: batches.into(),
        samples,
        bytes,
        gz_bytes,
    })
}

/// Each write body of one spool with its samples, in seq order: records
/// merged up to `budget` bytes as the sender takes them.
fn read_spool(dir: &Path, budget: usize) -> Result<Vec<(Vec<u8>, u64)>> {
    // Opening recovers the copy; the bound only matters to appends, which
    // a copy never gets.
    let mut spool = Spool::open_for(dir, SpoolOptions::new(1 << 40), &[DEFAULT_SINK])
        .with_context(|| format!("opening the spool copy {}", dir.display()))?;
    let mut out = Vec::new();
    loop {
        let records = spool
            .peek_many_for(DEFAULT_SINK, budget)
            .with_context(|| format!("reading the spool copy {}", dir.display()))?;
        let Some(last) = records.last().map(|r| r.seq) else {
            break;
        };
        let body = merged(records);
        let samples = tag_samples(&body);
        out.push((body, samples));
        spool
            .ack_for(DEFAULT_SINK, last)
            .with_context(|| format!("advancing in the spool copy {}", dir.display()))?;
    }
    Ok(out)
}

/// Round robin over the lists, each list's order kept.
fn interleave<T>(lists: Vec<Vec<T>>) -> Vec<T> {
    let total = lists.iter().map(Vec::len).sum();
    let mut iters: Vec<_> = lists.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        for it in &mut iters {
            if let Some(x) = it.next() {
                out.push(x);
            }
        }
    }
    out
}

/// Tag samples in line protocol: the fields of every equipment line
/// (measurement `dev` + digits), as the bench counts them in InfluxDB.
fn tag_samples(body: &[u8]) -> u64 {
    body.split(|&b| b == b'\n').map(line_samples).sum()
}

fn line_samples(line: &[u8]) -> u64 {
    // Measurement, tags: up to the first unescaped space; fields: up to
    // the next one outside a quoted string; commas outside quotes part them.
    let (mut section, mut fields) = (0, 0u64);
    let (mut escaped, mut quoted) = (false, false);
    let mut measurement_end = None;
    for (i, &b) in line.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' => escaped = true,
            b'"' if section == 1 => quoted = !quoted,
            _ if quoted => {}
            b',' if section == 0 => {
                measurement_end.get_or_insert(i);
            }
            b',' if section == 1 => fields += 1,
            b' ' if section == 0 => {
                measurement_end.get_or_insert(i);
                section = 1;
                fields = 1;
            }
            b' ' if section == 1 => break,
            _ => {}
        }
    }
    let name = &line[..measurement_end.unwrap_or(0)];
    match name.strip_prefix(b"dev") {
        Some(n) if !n.is_empty() && n.iter().all(u8::is_ascii_digit) => fields,
        _ => 0,
    }
}

/// One measurement: C writes in flight.
pub struct Run {
    pub writers: usize,
    pub drain_s: f64,
    pub samples: u64,
    /// Counted in InfluxDB afterwards.
    pub counted: u64,
    pub influx_cpu_pct: f64,
}

/// Posts the backlog into a fresh `influxd` under `dir` with `writers`
/// requests in flight.
pub async fn run(dir: &Path, backlog: &Backlog, writers: usize, clk_tck: f64) -> Result<Run> {
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let influx = Influx::start(dir, port).await?;
    let settings = v1_settings(&url);
    let query = QueryClient::new(&settings)?;
    create_database(&query).await?;
    let http = build_http(&settings)?;
    // The gateway's v1 write URL and headers (sink::influxdb::client).
    let write_url = format!("{url}/write?db={DATABASE}&precision=ms");
    let next = Arc::new(AtomicUsize::new(0));

    let cpu0 = influx.stat.cpu_s(clk_tck);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..writers {
        let (http, url, batches, next) = (
            http.clone(),
            write_url.clone(),
            backlog.batches.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(gz) = batches.get(i) else {
                    return Ok(());
                };
                let resp = http
                    .post(&url)
                    .header("content-type", "text/plain; charset=utf-8")
                    .header("content-encoding", "gzip")
                    .body(gz.clone())
                    .send()
                    .await
                    .with_context(|| format!("posting write {i}"))?;
                let status = resp.status();
                if status.as_u16() != 204 {
                    let text = resp.text().await.unwrap_or_default();
                    bail!("write {i}: InfluxDB answered {status}: {}", text.trim());
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a writer task failed")??;
    }
    let drain_s = started.elapsed().as_secs_f64();
    let cpu = influx.stat.cpu_s(clk_tck) - cpu0;

    let counts = count_samples(&query, 0, now_ms() + 3_600_000).await?;
    Ok(Run {
        writers,
        drain_s,
        samples: backlog.samples,
        counted: counts.values().map(|c| c.samples).sum(),
        influx_cpu_pct: cpu / drain_s * 100.0,
    })
}

/// The runs as a table, rates against the row's `live` samples/s.
pub fn table(runs: &[Run], live: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| writers in flight | drained in s | samples/s | × live | influxd CPU % |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
    for r in runs {
        let rate = r.samples as f64 / r.drain_s;
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.0} | {:.1} × | {:.0} |",
            r.writers,
            r.drain_s,
            rate,
            rate / live,
            r.influx_cpu_pct
        );
    }
    if runs.iter().any(|r| r.drain_s < 1.0) {
        let _ = writeln!(
            out,
            "note: a drain under 1 s is mostly request and start-up overhead; use a longer --outage"
        );
    }
    for r in runs.iter().filter(|r| r.counted != r.samples) {
        let _ = writeln!(
            out,
            "note: {} writer(s): {} samples posted, {} counted in InfluxDB",
            r.writers, r.samples, r.counted
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fields_of_equipment_lines_only() {
        let body = b"dev001,plc=p1,line=a temp=1.5,speed=3i,on=true 1700000000000\n\
            plc_status,plc=p1 requests=4i,ok=true 1700000000000\n\
            \n\
            dev12 x=1 1\n\
            tag_quality,plc=p1 tag=\"a b,c\" 1\n";
        assert_eq!(tag_samples(body), 4);
    }

    #[test]
    fn escapes_and_strings_do_not_split_fields() {
        // Escaped comma and space in tags and field keys, a string holding
        // a comma, a space, a quote and a trailing backslash.
        let line = br#"dev007,plc=p\ 1,z=a\,b f\,1=1,s="x, y \"z\" \\",g\ h=2i 17"#;
        assert_eq!(line_samples(line), 3);
        assert_eq!(line_samples(b"dev\\ 7 a=1 1"), 0);
        assert_eq!(line_samples(b"devX a=1,b=2 1"), 0);
        assert_eq!(line_samples(b"dev a=1 1"), 0);
        assert_eq!(line_samples(b""), 0);
        // No timestamp: the fields run to the end.
        assert_eq!(line_samples(b"dev3 a=1,b=2"), 2);
    }

    #[test]
    fn interleave_alternates_and_keeps_each_order() {
        let v = interleave(vec![vec![1, 2, 3], vec![10], vec![], vec![20, 21]]);
        assert_eq!(v, [1, 10, 20, 2, 21, 3]);
    }

    #[test]
    fn spool_copy_is_read_in_merged_batches_within_the_budget() {
        let dir =
            std::env::temp_dir().join(format!("plantgw-bench-ceiling-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (src, copy) = (dir.join("spool"), dir.join("copy"));
        {
            let mut spool = Spool::open(&src, 1 << 20).unwrap();
            for i in 0..5 {
                spool
                    .append(format!("dev001 a={i},b=2 {i}").as_bytes())
                    .unwrap();
            }
            // Acknowledged before the copy: not part of the backlog.
            spool.ack(1).unwrap();
            assert!(snapshot(&src, &copy).unwrap() > 0);
        }
        assert!(!copy.join(LOCK_FILE).exists());
        // Each payload is 16 bytes: two fit in 40, a third does not.
        let batches = read_spool(&copy, 40).unwrap();
        let bodies: Vec<&[u8]> = batches.iter().map(|(b, _)| b.as_slice()).collect();
        assert_eq!(
            bodies,
            [
                &b"dev001 a=1,b=2 1\ndev001 a=2,b=2 2\n"[..],
                b"dev001 a=3,b=2 3\ndev001 a=4,b=2 4\n",
            ]
        );
        assert!(batches.iter().all(|(_, s)| *s == 4));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn gzip_is_readable() {
        let body = b"dev1 a=1 1\n".repeat(50);
        let z = gzip(&body).unwrap();
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&z[..]), &mut back).unwrap();
        assert_eq!(back, body);
    }
}
