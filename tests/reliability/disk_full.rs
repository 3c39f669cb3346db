//! The spool's filesystem fills up while InfluxDB is down: the gateway
//! keeps polling, drops the oldest spooled data (counted), keeps the newest,
//! and recovers by itself once space is back.
//!
//! The spool lives on a small tmpfs of its own (this test mounts one, so it
//! runs as root, as CI does); a filler file takes every free byte.
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{
    blocking, join_within, metric, now_ms, pymodbus_plc, query_client, start_gateway, status_ts,
    stop_gateway, GatewayToml, SPOOL_DROPS,
};
use crate::common::influx::InfluxD;
use crate::common::pymodbus::PymodbusPlc;
use crate::common::{eventually, free_port};

const SCAN_MS: i64 = 200;
const PLC: &str = "disk_full_plc";
/// How long the filesystem stays full.
const FULL_FOR: Duration = Duration::from_secs(10);

/// A tmpfs mounted for the length of the test; unmounted on drop, also
/// when the test panics.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("temp dir for the tmpfs mount point");
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).expect("create mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .expect("run mount (apt-get install mount)");
        assert!(
            out.status.success(),
            "mount -t tmpfs -o size={size} failed: {}; this test must run as root (CI does), \
             it needs a small filesystem it can fill",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { path, _dir: dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: the gateway may still hold a file open if the test failed.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Writes `path` until the filesystem refuses more; returns the bytes
/// written and the error that stopped it.
fn fill(path: &Path) -> (u64, std::io::Error) {
    let mut f = std::fs::File::create(path).expect("create filler file");
    let chunk = vec![0xA5u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => return (written, std::io::Error::other("write returned 0")),
            Ok(n) => written += n as u64,
            Err(e) => return (written, e),
        }
    }
}

/// Seconds since the gateway last routed a scan of `PLC` (None: never).
fn scan_age(gw: &plantgw::app::Running) -> Option<f64> {
    gw.health
        .plcs()
        .into_iter()
        .find(|(n, _)| n == PLC)
        .and_then(|(_, age)| age)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_drops_oldest_keeps_polling_and_recovers() {
    let _drops = SPOOL_DROPS.lock().await;
    let fs = Tmpfs::mount("6m");
    let plc = PymodbusPlc::start();
    let mut influx = InfluxD::start();
    let q = query_client(&influx.url).await;
    blocking(|| influx.stop());

    let conf = tempfile::tempdir().unwrap();
    let settings = GatewayToml {
        http_listen: format!("127.0.0.1:{}", free_port()),
        ..GatewayToml::new(
            &influx.url,
            &fs.path.join("spool"),
            vec![pymodbus_plc(PLC, plc.port, SCAN_MS as u64)],
        )
    }
    .write_and_load(&conf.path().join("gw.toml"));
    let (gw, cancel) = start_gateway(settings).await;
    let http = gw.http_addr.expect("http listener");
    let metrics_url = format!("http://{http}/metrics");
    let spool = gw.spool.clone();
    let counted_before = metric(&metrics_url, "plantgw_spool_dropped_records_total")
        .await
        .unwrap_or(0.0);

    // InfluxDB is down: everything goes to the spool.
    eventually(
        Duration::from_secs(20),
        "scans spooled while InfluxDB is down",
        || async { (spool.stats()?.records >= 10).then_some(()) },
    )
    .await;
    let before = spool.stats().expect("spool stats");

    let filler = fs.path.join("filler");
    let (filled, why) = blocking(|| fill(&filler));
    assert_eq!(
        why.raw_os_error(),
        Some(28),
        "the filler stopped on {why}, not ENOSPC, after {filled} bytes"
    );
    let full_from = Instant::now();
    let full_ms = now_ms();
    let mut worst_age = 0.0f64;
    let mut spool_reason = None;
    while full_from.elapsed() < FULL_FOR {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let age = scan_age(&gw).unwrap_or(f64::INFINITY);
        worst_age = worst_age.max(age);
        assert!(
            age < 5.0,
            "no scan routed for {age:.1} s while the disk is full ({:.1} s into it): acquisition stopped",
            full_from.elapsed().as_secs_f64()
        );
        let report = gw.health.report();
        assert!(
            !report.reasons.iter().any(|r| r.contains(PLC)),
            "/healthz blames the PLC for a full disk: {:?}",
            report.reasons
        );
        if let Some(r) = report.reasons.iter().find(|r| r.starts_with("spool")) {
            spool_reason = Some(r.clone());
        }
    }
    let during = spool.stats().expect("spool stats");
    // This test's own drops: counted from its baseline, under SPOOL_DROPS.
    let counted = metric(&metrics_url, "plantgw_spool_dropped_records_total")
        .await
        .unwrap_or(0.0)
        - counted_before;
    assert!(
        during.dropped_records > 0,
        "nothing dropped although the disk filled: {during:?}"
    );
    assert!(
        counted >= during.dropped_records as f64,
        "plantgw_spool_dropped_records_total {counted} < SpoolStats {}",
        during.dropped_records
    );
    let spool_reason = spool_reason.expect("/healthz never said the spool was degraded");

    // Space comes back, then InfluxDB: the newest data must arrive.
    std::fs::remove_file(&filler).expect("delete filler");
    let freed_ms = now_ms();
    blocking(|| influx.restart());
    let restart_ms = now_ms();
    eventually(
        Duration::from_secs(60),
        "scans from the full period and after InfluxDB's restart in InfluxDB",
        || async {
            let ts = status_ts(&q, PLC).await;
            let late_full = ts.iter().any(|&t| t >= freed_ms - 3000 && t < freed_ms);
            let after = ts.iter().any(|&t| t > restart_ms + 2 * SCAN_MS);
            (late_full && after).then_some(())
        },
    )
    .await;
    // The episode ends once the disk has taken every write for a while.
    eventually(
        Duration::from_secs(60),
        "/healthz to stop reporting the spool degraded after space came back",
        || async {
            let r = gw.health.report();
            (!r.reasons.iter().any(|r| r.starts_with("spool"))).then_some(())
        },
    )
    .await;
    assert!(!spool.degraded(), "spool still degraded");
    let ts = status_ts(&q, PLC).await;
    let in_full = ts.iter().filter(|&&t| t >= full_ms && t < freed_ms).count();
    let after = spool.stats().expect("spool stats");
    stop_gateway(gw, cancel).await;
    eprintln!(
        "disk full: tmpfs 6 MiB, {} records / {} bytes spooled when the filler took the last {filled} bytes; \
         full for {:.1} s, scans kept being routed (oldest scan age seen {worst_age:.1} s); \
         dropped {} records (metric {counted}); /healthz said: {spool_reason}; \
         {in_full} scans of the full period delivered after recovery; spool at the end {:?}",
        before.records,
        before.bytes,
        FULL_FOR.as_secs_f64(),
        during.dropped_records,
        after
    );
}

/// Acknowledging is what frees a full disk, so it must not need space: on
/// a tmpfs with not one free byte, `ack` still persists the position.
#[test]
fn ack_needs_no_free_space() {
    use plantgw::spool::Spool;
    let fs = Tmpfs::mount("1m");
    let dir = fs.path.join("spool");
    let mut spool = Spool::open(&dir, 1 << 20).expect("open spool on tmpfs");
    for i in 0..3u8 {
        spool
            .append(&[i; 100])
            .expect("append before the disk is full");
    }
    let (filled, why) = fill(&fs.path.join("filler"));
    assert_eq!(
        why.raw_os_error(),
        Some(28),
        "filler stopped on {why} after {filled} bytes"
    );
    assert!(
        std::fs::write(fs.path.join("probe"), b"x").is_err(),
        "the filesystem still takes a new file's data"
    );
    spool
        .ack(2)
        .unwrap_or_else(|e| panic!("ack on a full disk failed: {e}"));
    drop(spool);
    let mut spool = Spool::open(&dir, 1 << 20).expect("reopen spool on the full tmpfs");
    let next = spool.peek().expect("peek").expect("seq 3 still spooled");
    assert_eq!(next.seq, 3, "the ack made on the full disk did not persist");
}

/// A spool read failing (here EISDIR: the oldest segment's name now names a
/// directory) must not end delivery: the sender retries, and delivers once
/// the disk reads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_survives_a_failing_spool_read() {
    use plantgw::pipeline::{sender_task, SharedSpool};
    use plantgw::sink::influxdb::InfluxClient;
    use plantgw::spool::Spool;
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;

    let influx = InfluxD::start();
    let q = query_client(&influx.url).await;
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let mut spool = Spool::open(&spool_dir, 1 << 20).expect("open spool");
    spool
        .append(b"plc_status,plc=read_fault connected=true,requests=1i,errors=0i 1700000000000\n")
        .expect("append");
    let seg = std::fs::read_dir(&spool_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("a segment");
    let bytes = std::fs::read(&seg).unwrap();
    std::fs::remove_file(&seg).unwrap();
    std::fs::create_dir(&seg).unwrap();

    let shared = SharedSpool::new(spool);
    let client = InfluxClient::new(&crate::common::influx::v1_settings(
        &influx.url,
        super::DATABASE,
        None,
    ))
    .expect("client");
    let drain = CancellationToken::new();
    let task = tokio::spawn(sender_task(
        client,
        shared.clone(),
        Arc::new(plantgw::http::Health::default()),
        drain.clone(),
        Duration::from_secs(3),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !task.is_finished(),
        "the sender ended on a spool read error: {:?}",
        task.await
    );
    std::fs::remove_dir(&seg).unwrap();
    std::fs::write(&seg, &bytes).unwrap();
    eventually(
        Duration::from_secs(30),
        "the spooled batch delivered once the spool reads again",
        || async { (!status_ts(&q, "read_fault").await.is_empty()).then_some(()) },
    )
    .await;
    drain.cancel();
    join_within(task, Duration::from_secs(10), "sender after drain").await;
}

/// A day-close row handed to the writer while the disk refuses every write
/// waits in memory, so the writer must not confirm it as durable (the KPI
/// task would then save "closed" and a crash would lose the row). Once
/// space is back, an empty durable batch (the KPI task's barrier) is
/// confirmed only after the held row reached the spool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_batch_is_confirmed_only_once_it_is_on_disk() {
    use plantgw::pipeline::{writer_task, HistorianInput, SharedSpool};
    use plantgw::sink::influxdb::{FieldValue, Point, ScanEncoder};
    use plantgw::spool::Spool;
    use tokio::sync::{mpsc, oneshot};

    let fs = Tmpfs::mount("2m");
    let spool_dir = fs.path.join("spool");
    let shared = SharedSpool::new(Spool::open(&spool_dir, 1 << 20).expect("open spool"));
    // An empty spool has nothing old to shed: the disk stays full.
    let filler = fs.path.join("filler");
    let (_, e) = fill(&filler);
    assert_eq!(e.raw_os_error(), Some(28), "filler stopped on ENOSPC: {e}");

    let (tx, rx) = mpsc::channel(8);
    let writer = tokio::spawn(writer_task(
        rx,
        ScanEncoder::new::<plantgw::config::Plc>("site", &[]),
        shared.clone(),
        5000,
        Duration::from_secs(60),
    ));
    let durable = |points: Vec<Point>| {
        let (spooled, done) = oneshot::channel();
        (HistorianInput::Durable { points, spooled }, done)
    };
    let close = Point {
        measurement: "kpi_daily".into(),
        tags: vec![("day".into(), "2026-03-02".into())],
        fields: vec![("ore_dry_t".into(), FieldValue::Float(672.5))],
        ts_ms: 1_772_452_800_000,
    };
    let (input, done) = durable(vec![close]);
    tx.send(input).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), done)
        .await
        .expect("the writer answers a durable batch");
    assert!(
        answer.is_err(),
        "the closing row was confirmed as durable while the disk refused it"
    );
    assert!(shared.held() > 0, "the row waits in memory");

    std::fs::remove_file(&filler).unwrap();
    let (barrier, done) = durable(Vec::new());
    tx.send(barrier).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), done)
        .await
        .expect("the writer answers the barrier")
        .expect("the barrier is confirmed once the disk takes the held row");
    assert_eq!(shared.held(), 0);
    let record = shared.peek().await.unwrap().expect("the row is spooled");
    assert!(
        String::from_utf8_lossy(&record.payload).contains("kpi_daily,day=2026-03-02"),
        "{:?}",
        String::from_utf8_lossy(&record.payload)
    );
    drop(tx);
    join_within(
        writer,
        Duration::from_secs(10),
        "writer after its input closed",
    )
    .await;
}
