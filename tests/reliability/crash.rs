//! The `plantgw` binary killed with SIGKILL while writing hard to a slow
//! InfluxDB, then started again: nothing the spool had taken is lost, only
//! the batch in flight is delivered twice, and the only hole in the series
//! is the time the gateway was down.
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::peer::{Mode, ScriptedPlc};
use super::tap::{repeats, WriteTap};
use super::{
    holes, now_ms, query_client, status_lines, status_ts, tags, wait_for_scans, GatewayToml,
    PlcToml,
};
use crate::common::eventually;
use crate::common::influx::InfluxD;

const SCAN_MS: i64 = 200;
const PLCS: [&str; 2] = ["load_a", "load_b"];
const TAGS_PER_PLC: u16 = 250;

/// The gateway as a child process, killed on drop if still running.
struct Gateway {
    child: Child,
    log: PathBuf,
}

impl Gateway {
    fn spawn(config: &Path, log: &Path) -> Gateway {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("gateway log");
        let err = out.try_clone().expect("clone log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_plantgw"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start plantgw");
        Gateway {
            child,
            log: log.to_path_buf(),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("plantgw exited early ({status}); log:\n{}", self.log_tail());
        }
    }

    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL plantgw");
        self.child.wait().expect("reap plantgw");
    }

    /// SIGTERM, then waits up to `limit` for the exit.
    fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait plantgw") {
                return s;
            }
            if Instant::now() > deadline {
                panic!(
                    "plantgw still running {limit:?} after SIGTERM; log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a killed gateway left in its spool directory, read without
/// touching it: the persisted ack position and every good record.
struct SpoolOnDisk {
    acked: u64,
    /// (seq, payload) in seq order.
    records: Vec<(u64, Vec<u8>)>,
    torn_tail_bytes: u64,
}

fn read_spool(dir: &Path) -> SpoolOnDisk {
    let acked = match std::fs::read(dir.join("ack")) {
        Ok(b) => plantgw::spool::decode_ack_file(&b)
            .unwrap_or_else(|e| panic!("ack file is not an ack record ({e}): {b:?}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => panic!("read ack file: {e}"),
    };
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list spool")
        .map(|e| e.expect("spool entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segments.sort();
    let mut records = Vec::new();
    let mut torn_tail_bytes = 0;
    for path in &segments {
        let bytes = std::fs::read(path).expect("read segment");
        let d = plantgw::spool::decode_segment(&bytes);
        assert!(
            d.skipped.is_empty(),
            "damage inside {}: {:?}",
            path.display(),
            d.skipped
        );
        if let Some(stop) = d.stop {
            torn_tail_bytes += bytes.len() as u64 - stop.offset;
        }
        records.extend(d.records.into_iter().map(|r| (r.seq, r.payload)));
    }
    SpoolOnDisk {
        acked,
        records,
        torn_tail_bytes,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_heavy_writing_loses_nothing_spooled() {
    let influx = InfluxD::start();
    let tap = WriteTap::start(influx.addr).await;
    // A slow InfluxDB: each answer takes 400 ms, so batches queue up in the
    // spool and the kill finds delivered-but-unacknowledged and
    // never-delivered records there.
    tap.set_delay(Duration::from_millis(400));
    let q = query_client(&influx.url).await;
    let mut peers = Vec::new();
    for _ in PLCS {
        peers.push(ScriptedPlc::start(Mode::Healthy).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let config = dir.path().join("gw.toml");
    GatewayToml {
        influx_url: &tap.url,
        spool_dir: &spool_dir,
        spool_max_bytes: None,
        flush_interval_ms: 100,
        http_listen: String::new(),
        plcs: PLCS
            .iter()
            .zip(&peers)
            .map(|(name, peer)| PlcToml {
                name: name.to_string(),
                address: peer.address(),
                scan_ms: SCAN_MS as u64,
                timeout_ms: 1000,
                tags: tags(
                    &format!("{name}_dev"),
                    "holding",
                    "u16",
                    "reg_",
                    0,
                    TAGS_PER_PLC,
                ),
            })
            .collect(),
    }
    .write_and_load(&config);
    let log = dir.path().join("plantgw.log");

    let mut gw = Gateway::spawn(&config, &log);
    wait_for_scans(&q, &PLCS, 10, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    gw.assert_running();
    super::blocking(|| gw.kill9());
    let kill_ms = now_ms();
    let killed = Instant::now();

    // Nothing writes to InfluxDB now: what it holds was delivered before the kill.
    let mut before: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    for plc in PLCS {
        before.insert(plc, status_ts(&q, plc).await.into_iter().collect());
    }
    let disk = read_spool(&spool_dir);
    let mut spooled: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    let mut unacked: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    for plc in PLCS {
        let (s, u) = (
            spooled.entry(plc).or_default(),
            unacked.entry(plc).or_default(),
        );
        for (seq, payload) in &disk.records {
            let ts = status_lines(payload, plc);
            s.extend(&ts);
            if *seq > disk.acked {
                u.extend(&ts);
            }
        }
    }
    let unacked_records = disk.records.iter().filter(|(s, _)| *s > disk.acked).count();
    assert!(
        unacked_records > 1,
        "the kill found only {unacked_records} unacknowledged records: not a kill under load"
    );
    tap.set_delay(Duration::ZERO);

    tokio::time::sleep(Duration::from_secs(1)).await;
    let restart_ms = now_ms();
    let downtime = killed.elapsed();
    let mut gw = Gateway::spawn(&config, &log);
    eventually(
        Duration::from_secs(60),
        "every spooled scan and new scans in InfluxDB",
        || async {
            for plc in PLCS {
                let have: BTreeSet<i64> = status_ts(&q, plc).await.into_iter().collect();
                let want = before[plc].union(&spooled[plc]);
                if !want.into_iter().all(|t| have.contains(t))
                    || have.last().is_none_or(|&l| l < restart_ms + 2000)
                {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    gw.assert_running();
    let status = super::blocking(|| gw.terminate(Duration::from_secs(30)));
    assert_eq!(
        status.code(),
        Some(0),
        "plantgw after SIGTERM: {status}; log:\n{}",
        gw.log_tail()
    );

    let mut report = Vec::new();
    for plc in PLCS {
        let ts = status_ts(&q, plc).await;
        let have: BTreeSet<i64> = ts.iter().copied().collect();
        let acknowledged: BTreeSet<i64> = before[plc].union(&spooled[plc]).copied().collect();
        let missing: Vec<&i64> = acknowledged.difference(&have).collect();
        assert!(
            missing.is_empty(),
            "{plc}: spooled scans missing: {missing:?}"
        );
        let last_spooled = *acknowledged.last().expect("something was spooled");
        let gaps = holes(&ts, SCAN_MS * 3 / 2);
        assert_eq!(
            gaps.len(),
            1,
            "{plc}: expected one hole (the downtime), got {gaps:?}; last spooled {last_spooled}, killed {kill_ms}, restarted {restart_ms}"
        );
        let (hole_from, hole_to) = gaps[0];
        assert_eq!(
            hole_from, last_spooled,
            "{plc}: the hole must start at the last spooled scan"
        );
        assert!(
            hole_to >= restart_ms,
            "{plc}: scan {hole_to} after the hole is before the restart at {restart_ms}"
        );
        // Scans taken after the last spooled batch sat in the writer's
        // buffer (≤ flush_interval_ms) and were never acknowledged.
        let unspooled = (kill_ms - last_spooled) / SCAN_MS;
        assert!(
            unspooled <= 10,
            "{plc}: {unspooled} scans between the last spooled batch and the kill"
        );
        // Redelivery: only what was unacknowledged at the kill, from the
        // one write in flight then (which may merge several spool records
        // of a backlog).
        let sent = tap.accepted_status_ts(plc);
        let dups = repeats(&sent);
        let unacked_plc = &unacked[plc];
        assert!(
            dups.keys().all(|t| unacked_plc.contains(t)),
            "{plc}: acknowledged scans were delivered twice: {dups:?}"
        );
        let carrying = tap
            .exchanges()
            .iter()
            .filter(|e| e.accepted() && e.at_ms <= kill_ms)
            .filter(|e| {
                status_lines(&e.body, plc)
                    .iter()
                    .any(|t| dups.contains_key(t))
            })
            .count();
        assert!(
            carrying <= 1,
            "{plc}: repeats {dups:?} from {carrying} writes before the kill; at most the one in flight"
        );
        let scans = |from: i64, to: i64| ((to - from) as f64 / SCAN_MS as f64).round() as usize + 1;
        let expected = scans(ts[0], hole_from) + scans(hole_to, ts[ts.len() - 1]);
        assert_eq!(ts.len(), expected, "{plc}: scans outside the hole");
        report.push(format!(
            "{plc}: {} scans in InfluxDB = cadence outside the hole; {} delivered before the kill, {} in the spool \
             ({} unacknowledged), all present; hole {} ms ({}..{}); {unspooled} scans unspooled at the kill; \
             duplicates {}",
            ts.len(),
            before[plc].len(),
            spooled[plc].len(),
            unacked_plc.len(),
            hole_to - hole_from,
            hole_from,
            hole_to,
            dups.values().map(|n| n - 1).sum::<usize>()
        ));
    }
    for (peer, plc) in peers.iter().zip(PLCS) {
        let fcs = peer.functions();
        assert!(
            fcs.keys().all(|f| (1..=4).contains(f)),
            "{plc}: non-read function codes {fcs:?}"
        );
    }
    eprintln!(
        "SIGKILL: {} tags at {SCAN_MS} ms; down {:.1} s; spool at the kill: ack {}, {} records ({unacked_records} unacknowledged), \
         torn tail {} bytes\n  {}",
        PLCS.len() * usize::from(TAGS_PER_PLC),
        downtime.as_secs_f64(),
        disk.acked,
        disk.records.len(),
        disk.torn_tail_bytes,
        report.join("\n  ")
    );
}
