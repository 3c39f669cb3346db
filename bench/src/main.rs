//! `plantgw-bench`: end-to-end throughput of the gateway, measured from the
//! outside.
//!
//! For each row (`PLCSxTAGS@SCAN_MS`) it starts, on free loopback ports:
//! the synthetic load of `plantsim` in this process, a real `influxd` 1.x
//! with a fresh data dir, and the release `plantgw` binary next to this one
//! as a child process (`plantgw run --config FILE`). After a warm-up it
//! measures a window of `--seconds` and prints one table:
//!
//! - tags/s delivered, counted in InfluxDB (`SELECT count(*)` over the window);
//! - the gateway's CPU (utime + stime from `/proc/<pid>/stat`) as % of one
//!   core and µs per delivered tag sample; InfluxDB's and this process's
//!   (the simulator's) CPU beside it, so the machine's time is accounted for;
//! - the gateway's peak RSS (`VmHWM`): at start-up (config load), and in
//!   steady state (the mark is reset through `/proc/<pid>/clear_refs` when
//!   the window opens);
//! - Modbus requests per scan cycle, as written in `plc_status.requests`,
//!   against the planner's plan and lower bound for the same config;
//! - scan jitter: deviation of consecutive `plc_status` timestamps (the
//!   scan's acquisition time, ms precision) from `scan_ms`, p50/p99;
//! - end-to-end latency, acquisition → queryable: InfluxDB is polled for
//!   the newest `plc_status` timestamp; for each scan instant t of the
//!   window, the wall time of the first answer holding a timestamp ≥ t,
//!   minus t (p50; ± one poll interval).
//!
//! `--outage S` first keeps InfluxDB down for S seconds so the gateway
//! spools, then starts it and measures how fast the backlog drains against
//! the live rate. `--ceiling` (with `--outage`) then measures InfluxDB
//! alone on that backlog: the spool is copied before InfluxDB comes back,
//! and after the row its batches, merged and gzipped as the gateway sends
//! them, are posted by the bench into a fresh InfluxDB with 1, 2 and 4
//! writes in flight (drain time, samples/s against the live rate, influxd
//! CPU; see `ceiling`). `--instances N` splits the PLCs over N gateway
//! processes (own config, spool and process each) writing into the one
//! InfluxDB.
//! `--peer plantgw,node-red` adds, for each load, a row with Node-RED in
//! the gateway's place (see `node_red`).
mod ceiling;
mod node_red;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Parser;
use plantgw::config::{self, InfluxTarget};
use plantgw::influxd::{self, Influxd};
use plantgw::sink::influxdb::QueryClient;
use plantgw::source::modbus::planner::{lower_bound, plan};
use plantsim::load::{self, GatewayTarget, LoadOptions, LoadSpec};
use plantsim::{PlantMap, SimOptions, Simulator};
use tokio_util::sync::CancellationToken;

mod fleet;

const DATABASE: &str = "bench";

/// End-to-end benchmark: synthetic PLCs → plantgw (child process) → a real
/// InfluxDB, one table row per load.
#[derive(Debug, Parser)]
#[command(name = "plantgw-bench")]
struct Args {
    /// Loads to run, PLCSxTAGS@SCAN_MS, comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10x100@100,10x1000@1000,100x1000@1000"
    )]
    rows: Vec<Row>,

    /// Length of the measured window of each row.
    #[arg(long, default_value_t = 30)]
    seconds: u64,

    /// Time between the first delivery and the window.
    #[arg(long, default_value_t = 10)]
    warmup: u64,

    /// Keep InfluxDB down this many seconds first, then measure the spool
    /// replay against the live rate.
    #[arg(long, value_name = "SECONDS")]
    outage: Option<u64>,

    /// After the replay, post the same backlog into a fresh InfluxDB with
    /// 1, 2 and 4 writes in flight and no gateway: InfluxDB's own ceiling.
    #[arg(long, requires = "outage")]
    ceiling: bool,

    /// Split each row's PLCs over this many gateway processes.
    #[arg(long, default_value_t = 1)]
    instances: usize,

    /// `max_gap` of every PLC (default: the gateway's, 16).
    #[arg(long)]
    max_gap: Option<u16>,

    /// Keep each row's work dir (configs, logs, spool, InfluxDB data).
    #[arg(long)]
    keep: bool,

    /// Also publish to a three-node JetStream cluster (R3) and measure what
    /// one `plantgw relay` carries from it into InfluxDB (see `fleet`).
    #[arg(long)]
    nats: bool,

    /// What polls the load, one row each, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "plantgw")]
    peer: Vec<Peer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Peer {
    Plantgw,
    /// Node-RED 4.1 with node-red-contrib-modbus and -influxdb.
    NodeRed,
}

#[derive(Debug, Clone, Copy)]
struct Row {
    spec: LoadSpec,
    scan_ms: u64,
}

impl FromStr for Row {
    type Err = String;
    fn from_str(s: &str) -> Result<Row, String> {
        let (spec, scan) = s
            .split_once('@')
            .ok_or_else(|| format!("{s:?} is not PLCSxTAGS@SCAN_MS (e.g. 10x100@100)"))?;
        let scan_ms = match scan.parse::<u64>() {
            Ok(ms) if ms > 0 => ms,
            _ => return Err(format!("{s:?}: scan {scan:?} is not a number of ms > 0")),
        };
        Ok(Row {
            spec: spec.parse()?,
            scan_ms,
        })
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plantgw-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    if args.instances == 0 {
        bail!("--instances must be at least 1");
    }
    if args.outage.is_some() && args.peer.contains(&Peer::NodeRed) {
        bail!("--outage measures the gateway's spool replay; run it without --peer node-red");
    }
    // Fail before the first row, not after an --outage.
    influxd::binary()?;
    let gateway = gateway_binary()?;
    let clk_tck = clock_ticks();
    let machine = machine();
    eprintln!("{machine}");
    let mut results = Vec::new();
    for row in &args.rows {
        eprintln!(
            "== row {}@{} ms: {} s window after {} s warm-up",
            row.spec, row.scan_ms, args.seconds, args.warmup
        );
        for peer in &args.peer {
            let r = match peer {
                Peer::Plantgw => bench_row(&args, *row, &gateway, clk_tck).await,
                Peer::NodeRed => node_red::bench_row(&args, *row, clk_tck).await,
            }
            .with_context(|| format!("row {}@{} ({peer:?})", row.spec, row.scan_ms))?;
            eprintln!("{}", r.detail);
            results.push(r);
        }
    }
    println!();
    println!("{machine}");
    println!(
        "window {} s after {} s warm-up; {} gateway process(es) per row",
        args.seconds, args.warmup, args.instances
    );
    println!();
    print!("{}", table(&results, args.outage.is_some()));
    for r in &results {
        if !r.detail.is_empty() {
            println!();
            println!("{}", r.detail);
        }
    }
    for r in &results {
        if let Some(c) = &r.ceiling {
            println!();
            println!(
                "InfluxDB alone on the replay batches of {}@{} (live {:.0} samples/s): {}",
                r.row.spec, r.row.scan_ms, r.expected_per_s, c.backlog
            );
            println!();
            print!("{}", ceiling::table(&c.runs, r.expected_per_s));
        }
    }
    Ok(())
}

// ---- one row ----

struct RowResult {
    row: Row,
    /// Shown after the load when not the gateway.
    peer: &'static str,
    delivered_per_s: f64,
    expected_per_s: f64,
    gw_cpu_pct: f64,
    us_per_tag: f64,
    rss_start_mb: f64,
    rss_steady_mb: f64,
    req_measured: f64,
    req_plan: usize,
    req_lower: usize,
    jitter_p50: f64,
    jitter_p99: f64,
    missed_scans: usize,
    latency_p50: f64,
    influx_cpu_pct: f64,
    sim_cpu_pct: f64,
    replay: Option<Replay>,
    ceiling: Option<Ceiling>,
    detail: String,
}

/// `--ceiling`: the backlog (described) and one run per writer count.
struct Ceiling {
    backlog: String,
    runs: Vec<ceiling::Run>,
}

struct Replay {
    backlog_s: f64,
    drain_s: f64,
    rate: f64,
    ratio: f64,
    gw_cpu_pct: f64,
    influx_cpu_pct: f64,
}

async fn bench_row(args: &Args, row: Row, gateway_bin: &Path, clk_tck: f64) -> Result<RowResult> {
    let work = WorkDir::new(row, args.keep)?;
    let map = load::load_map(&LoadOptions {
        scan_ms: row.scan_ms,
        ..LoadOptions::new(row.spec)
    })?;
    let sim = Simulator::start(SimOptions {
        map: map.on_ephemeral_ports(),
        ..SimOptions::default()
    })
    .await
    .context("starting the simulated PLCs")?;

    let http_port = free_port()?;
    let influx_url = format!("http://127.0.0.1:{http_port}");
    let configs = write_configs(
        &work.path,
        sim.map(),
        &influx_url,
        args.instances,
        args.max_gap,
    )?;
    let (req_plan, req_lower) = planned_requests(&configs)?;
    let instance_plcs = plcs_per_instance(sim.map(), args.instances);

    let query = QueryClient::new(&v1_settings(&influx_url))?;
    let mut influx = None;
    if args.outage.is_none() {
        influx = Some(Influx::start(&work.path, http_port).await?);
        create_database(&query).await?;
    }
    let mut fleet = None;
    if args.nats {
        if args.outage.is_some() {
            bail!("--nats and --outage do not go together");
        }
        query
            .query(&format!("CREATE DATABASE \"{}\"", fleet::CENTRAL))
            .await
            .context("CREATE DATABASE central")?;
        fleet = Some(fleet::Fleet::start(&work.path, gateway_bin, &influx_url, &configs).await?);
    }
    // With --nats the row is measured where the relay writes.
    let measured = |q: QueryClient| match args.nats {
        true => q.with_database(fleet::CENTRAL),
        false => q,
    };
    let query = measured(query);
    let t_gw_start = now_ms();
    let mut gateways = Vec::new();
    for (i, path) in configs.iter().enumerate() {
        gateways.push(Gateway::start(gateway_bin, path, &work.path, i)?);
    }
    let latency = LatencyProbe::start(measured(query_client(&influx_url)?), row.scan_ms);

    let replay = match args.outage {
        Some(outage) => {
            eprintln!("   InfluxDB down for {outage} s: the gateway spools");
            sleep_checked(Duration::from_secs(outage), &mut gateways).await?;
            if args.ceiling {
                let copying = Instant::now();
                let mut bytes = 0;
                for i in 0..configs.len() {
                    bytes += ceiling::snapshot(
                        &spool_dir(&work.path, i),
                        &ceiling_spool(&work.path, i),
                    )?;
                }
                eprintln!(
                    "   spool copied for --ceiling: {:.1} MB in {:.1} s",
                    bytes as f64 / 1e6,
                    copying.elapsed().as_secs_f64()
                );
            }
            let started = Influx::start(&work.path, http_port).await?;
            create_database(&query).await?;
            let procs = Procs {
                influx: Some(&started.stat),
                clk_tck,
            };
            let r =
                measure_replay(&query, &latency, &mut gateways, &procs, row, t_gw_start).await?;
            influx = Some(started);
            Some(r)
        }
        None => None,
    };
    let Some(influx) = influx else {
        bail!("InfluxDB was not started");
    };

    warm_up(&latency, &mut gateways, args.warmup).await?;
    // The window starts half a period after a scan instant, so it holds
    // exactly seconds × 1000 / scan_ms scans of every PLC.
    let period = row.scan_ms as i64;
    let t0 = (now_ms() / period + 1) * period + period / 2;
    let t1 = t0 + args.seconds as i64 * 1000;
    let fleet_before = fleet.as_ref().map(|f| (f.cpu(clk_tck), Instant::now()));
    let w = measure_window(&mut gateways, &influx, clk_tck, t0, t1).await?;
    let fleet_cpu = match (&mut fleet, fleet_before) {
        (Some(f), Some((before, at))) => {
            f.check_alive()?;
            Some(fleet::describe(
                &before,
                &f.cpu(clk_tck),
                at.elapsed().as_secs_f64(),
            ))
        }
        _ => None,
    };

    // Everything acquired in the window is delivered once data from 2 s
    // after it is queryable: one writer, one sender, spool order.
    let wait = Instant::now();
    while latency.newest().is_none_or(|n| n < t1 + 2000) {
        if wait.elapsed() > Duration::from_secs(120) {
            bail!("the window's data did not reach InfluxDB within 120 s");
        }
        sleep_checked(Duration::from_millis(200), &mut gateways).await?;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    latency.stop();
    let latencies = latency.latencies(t0, t1, period);
    // Counting a large window is heavy for InfluxDB: stop the load first.
    for g in &mut gateways {
        g.stop()?;
    }
    let counting = Instant::now();
    let counts = count_samples(&query, t0, t1).await?;
    eprintln!("   counted in {:.1} s", counting.elapsed().as_secs_f64());
    let delivered: u64 = counts.values().map(|c| c.samples).sum();
    let stats = scan_stats(&query, t0, t1, row.scan_ms).await?;
    drop(influx);
    sim.shutdown().await.context("stopping the simulator")?;
    let live = (row.spec.plcs * row.spec.tags) as f64 * 1000.0 / period as f64;
    let ceiling = match args.ceiling {
        true => Some(measure_ceiling(&work.path, configs.len(), live, clk_tck).await?),
        false => None,
    };

    let window_s = (t1 - t0) as f64 / 1000.0;
    let expected = (row.spec.plcs * row.spec.tags) as f64 * (t1 - t0) as f64 / period as f64;
    let mut detail = String::new();
    let _ = writeln!(
        detail,
        "   {}@{}: scan start lateness p50 / p99 {:.0} / {:.0} ms after the aligned instant; \
         e2e latency over {} scan instants, p90 {:.0} ms; gateway RSS at the end {:.1} MB",
        row.spec,
        row.scan_ms,
        percentile(&stats.lateness, 50.0),
        percentile(&stats.lateness, 99.0),
        latencies.len(),
        percentile(&latencies, 90.0),
        w.rss_end,
    );
    if let Some(f) = &fleet_cpu {
        let _ = writeln!(
            detail,
            "   fleet (gateway → JetStream R3 → relay → InfluxDB): {f}"
        );
    }
    drop(fleet);
    if delivered as f64 != expected {
        let _ = writeln!(
            detail,
            "   note: {delivered} samples counted, {expected} expected ({:.2} %)",
            delivered as f64 / expected * 100.0
        );
    }
    if args.instances > 1 {
        for (i, (inst, plcs)) in w.instances.iter().zip(&instance_plcs).enumerate() {
            let (samples, series) = plcs
                .iter()
                .filter_map(|p| counts.get(p))
                .fold((0, 0), |(a, b), c| (a + c.samples, b + c.series));
            let _ = writeln!(
                detail,
                "   instance {i}: {} PLCs, {samples} samples in {series} series, \
                 CPU {:.1} % of a core, peak RSS {:.1} MB, RSS {:.1} MB",
                plcs.len(),
                inst.cpu_s / window_s * 100.0,
                inst.hwm_mb,
                inst.rss_mb,
            );
        }
    }

    let gw_cpu: f64 = w.instances.iter().map(|i| i.cpu_s).sum();
    Ok(RowResult {
        row,
        peer: "",
        delivered_per_s: delivered as f64 / window_s,
        expected_per_s: expected / window_s,
        gw_cpu_pct: gw_cpu / window_s * 100.0,
        us_per_tag: if delivered > 0 {
            gw_cpu * 1e6 / delivered as f64
        } else {
            f64::NAN
        },
        rss_start_mb: w.rss_start,
        rss_steady_mb: w.instances.iter().map(|i| i.hwm_mb).sum(),
        req_measured: stats.requests,
        req_plan,
        req_lower,
        jitter_p50: percentile(&stats.jitter, 50.0),
        jitter_p99: percentile(&stats.jitter, 99.0),
        missed_scans: stats.missed,
        latency_p50: percentile(&latencies, 50.0),
        influx_cpu_pct: w.influx_cpu_s / window_s * 100.0,
        sim_cpu_pct: w.self_cpu_s / window_s * 100.0,
        replay,
        ceiling,
        detail: detail.trim_end().to_string(),
    })
}

/// InfluxDB alone on the spool copies of `instances` gateways, one fresh
/// influxd per writer count, nothing else running.
async fn measure_ceiling(
    work: &Path,
    instances: usize,
    live: f64,
    clk_tck: f64,
) -> Result<Ceiling> {
    let spools: Vec<PathBuf> = (0..instances).map(|i| ceiling_spool(work, i)).collect();
    let backlog = tokio::task::spawn_blocking(move || ceiling::read_backlog(&spools))
        .await
        .context("reading the spool copies")??;
    let described = backlog.describe();
    eprintln!("   ceiling: {described}");
    let mut runs = Vec::new();
    for writers in ceiling::WRITERS {
        let dir = work.join(format!("ceiling-{writers}"));
        let r = ceiling::run(&dir, &backlog, writers, clk_tck)
            .await
            .with_context(|| format!("--ceiling with {writers} writer(s)"))?;
        let rate = r.samples as f64 / r.drain_s;
        eprintln!(
            "   ceiling, {writers} writer(s): drained in {:.1} s, {rate:.0} samples/s ({:.1} × live), influxd {:.0} % of a core",
            r.drain_s,
            rate / live,
            r.influx_cpu_pct
        );
        // Each run's InfluxDB data is not needed after it.
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("   cannot remove {}: {e}", dir.display());
        }
        runs.push(r);
    }
    Ok(Ceiling {
        backlog: described,
        runs,
    })
}

/// Requests per scan cycle of the loaded configs: the planner's plan and
/// its lower bound, summed over every PLC.
fn planned_requests(configs: &[PathBuf]) -> Result<(usize, usize)> {
    let (mut planned, mut lower) = (0, 0);
    for path in configs {
        let settings = config::load(path)?;
        for plc in &settings.plcs {
            planned += plan(&plc.tags, plc.max_gap).blocks.len();
            lower += lower_bound(&plc.tags);
        }
    }
    Ok((planned, lower))
}

/// Until data is queryable, then `seconds` more.
async fn warm_up(latency: &LatencyProbe, gateways: &mut [Gateway], seconds: u64) -> Result<()> {
    let first = Instant::now();
    while latency.newest().is_none() {
        if first.elapsed() > Duration::from_secs(60) {
            let log = gateways.first().map(Gateway::log_tail).unwrap_or_default();
            bail!("nothing reached InfluxDB within 60 s; gateway log:\n{log}");
        }
        sleep_checked(Duration::from_millis(200), gateways).await?;
    }
    sleep_checked(Duration::from_secs(seconds), gateways).await
}

/// Process figures over the window [t0, t1) (wall ms).
struct Window {
    instances: Vec<InstanceFigures>,
    influx_cpu_s: f64,
    /// This process: the simulator and the probe's queries.
    self_cpu_s: f64,
    /// Sum of the gateways' VmHWM when the window opened.
    rss_start: f64,
    rss_end: f64,
}

struct InstanceFigures {
    cpu_s: f64,
    /// VmHWM since the window opened.
    hwm_mb: f64,
    rss_mb: f64,
}

async fn measure_window(
    gateways: &mut [Gateway],
    influx: &Influx,
    clk_tck: f64,
    t0: i64,
    t1: i64,
) -> Result<Window> {
    let me = ProcStat::pid(std::process::id());
    sleep_until_ms(t0, gateways).await?;
    let rss_start = gateways.iter().map(|g| g.stat.hwm_mb()).sum();
    for g in gateways.iter() {
        g.stat.reset_hwm();
    }
    let cpu0: Vec<f64> = gateways.iter().map(|g| g.stat.cpu_s(clk_tck)).collect();
    let influx0 = influx.stat.cpu_s(clk_tck);
    let me0 = me.cpu_s(clk_tck);
    sleep_until_ms(t1, gateways).await?;
    let instances: Vec<InstanceFigures> = gateways
        .iter()
        .zip(&cpu0)
        .map(|(g, c0)| InstanceFigures {
            cpu_s: g.stat.cpu_s(clk_tck) - c0,
            hwm_mb: g.stat.hwm_mb(),
            rss_mb: g.stat.rss_mb(),
        })
        .collect();
    Ok(Window {
        influx_cpu_s: influx.stat.cpu_s(clk_tck) - influx0,
        self_cpu_s: me.cpu_s(clk_tck) - me0,
        rss_start,
        rss_end: instances.iter().map(|i| i.rss_mb).sum(),
        instances,
    })
}

/// Waits, failing early with its log when a gateway exits.
async fn sleep_checked(d: Duration, gateways: &mut [Gateway]) -> Result<()> {
    let end = Instant::now() + d;
    loop {
        for g in gateways.iter_mut() {
            g.check_alive()?;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        tokio::time::sleep(left.min(Duration::from_millis(500))).await;
    }
}

async fn sleep_until_ms(t: i64, gateways: &mut [Gateway]) -> Result<()> {
    let d = (t - now_ms()).max(0) as u64;
    sleep_checked(Duration::from_millis(d), gateways).await
}

/// After an outage: from the first delivery until the newest data in
/// InfluxDB is current again, how many samples arrived per second.
/// What `measure_replay` reads CPU time from besides the gateways.
struct Procs<'a> {
    influx: Option<&'a ProcStat>,
    clk_tck: f64,
}

async fn measure_replay(
    query: &QueryClient,
    latency: &LatencyProbe,
    gateways: &mut [Gateway],
    procs: &Procs<'_>,
    row: Row,
    t_gw_start: i64,
) -> Result<Replay> {
    let cpu = |gateways: &[Gateway]| {
        let gw: f64 = gateways.iter().map(|g| g.stat.cpu_s(procs.clk_tck)).sum();
        let influx = procs.influx.map_or(f64::NAN, |s| s.cpu_s(procs.clk_tck));
        (gw, influx)
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while latency.newest().is_none() {
        if Instant::now() > deadline {
            bail!("no delivery within 600 s after InfluxDB came back");
        }
        sleep_checked(Duration::from_millis(50), gateways).await?;
    }
    let first = now_ms();
    let cpu0 = cpu(gateways);
    let backlog_s = (first - t_gw_start) as f64 / 1000.0;
    let current = 3 * row.scan_ms.max(1000) as i64;
    let (caught_up, newest) = loop {
        if let Some(n) = latency.newest() {
            let now = now_ms();
            if now - n <= current {
                break (now, n);
            }
        }
        if Instant::now() > deadline {
            bail!("the spool did not drain within 600 s");
        }
        sleep_checked(Duration::from_millis(50), gateways).await?;
    };
    let cpu1 = cpu(gateways);
    // Spool order: everything acquired up to `newest` was delivered by then.
    let counts = count_samples(query, t_gw_start - 60_000, newest + 1).await?;
    let delivered: u64 = counts.values().map(|c| c.samples).sum();
    let drain_s = (caught_up - first) as f64 / 1000.0;
    // A backlog gone within a poll or two gives no rate worth printing.
    let rate = if drain_s >= 1.0 {
        delivered as f64 / drain_s
    } else {
        eprintln!("   the backlog drained within {drain_s:.1} s: too small to measure; use a longer --outage");
        f64::NAN
    };
    let live = (row.spec.plcs * row.spec.tags) as f64 * 1000.0 / row.scan_ms as f64;
    let gw_cpu_pct = (cpu1.0 - cpu0.0) / drain_s.max(0.001) * 100.0;
    let influx_cpu_pct = (cpu1.1 - cpu0.1) / drain_s.max(0.001) * 100.0;
    eprintln!(
        "   replay: {delivered} samples ({backlog_s:.0} s of backlog) drained in {drain_s:.1} s; \
         CPU meanwhile: gateway {gw_cpu_pct:.0} %, influxd {influx_cpu_pct:.0} % of a core"
    );
    Ok(Replay {
        backlog_s,
        drain_s,
        rate,
        ratio: rate / live,
        gw_cpu_pct,
        influx_cpu_pct,
    })
}

// ---- InfluxDB queries ----

#[derive(Debug, Default, Clone, Copy)]
struct PlcCount {
    samples: u64,
    /// Equipment series (measurement × plc) with at least one sample.
    series: u64,
}

/// Tag samples per PLC with timestamps in [t0, t1): every field count of
/// every equipment measurement of the load (`devNNN`; the gateway's own
/// series such as `plc_status` and `tag_quality` are not tag samples).
async fn count_samples(q: &QueryClient, t0: i64, t1: i64) -> Result<BTreeMap<String, PlcCount>> {
    let series = q
        .query(&format!(
            "SELECT count(*) FROM /^dev[0-9]+$/ WHERE time >= {t0}ms AND time < {t1}ms GROUP BY \"plc\""
        ))
        .await
        .context("counting samples in InfluxDB")?;
    let mut out: BTreeMap<String, PlcCount> = BTreeMap::new();
    for s in series {
        let plc = s.tags.get("plc").cloned().unwrap_or_default();
        let n: u64 = s
            .values
            .iter()
            .flat_map(|row| row.iter().skip(1))
            .filter_map(serde_json::Value::as_u64)
            .sum();
        let c = out.entry(plc).or_default();
        c.samples += n;
        c.series += u64::from(n > 0);
    }
    Ok(out)
}

/// Jitter samples (ms), missed scans and mean requests per scan cycle, from
/// the `plc_status` points of the window.
async fn scan_stats(q: &QueryClient, t0: i64, t1: i64, scan_ms: u64) -> Result<ScanStats> {
    let series = q
        .query(&format!(
            "SELECT \"requests\" FROM \"plc_status\" WHERE time >= {t0}ms AND time < {t1}ms GROUP BY \"plc\""
        ))
        .await
        .context("reading plc_status")?;
    let period = scan_ms as f64;
    let mut st = ScanStats::default();
    for s in &series {
        let mut prev: Option<i64> = None;
        for row in &s.values {
            let Some(ts) = row.first().and_then(serde_json::Value::as_i64) else {
                continue;
            };
            st.requests += row
                .get(1)
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0);
            // Scans are aligned to multiples of the period (plant clock =
            // wall clock here): the remainder is how late this one started.
            st.lateness.push(ts.rem_euclid(scan_ms as i64) as f64);
            if let Some(p) = prev {
                let dt = (ts - p) as f64;
                // A skipped tick shows as a whole extra period: count it apart.
                let skipped = ((dt / period).round() as i64 - 1).max(0);
                st.missed += skipped as usize;
                st.jitter.push((dt - period * (1 + skipped) as f64).abs());
            }
            prev = Some(ts);
        }
    }
    st.requests /= (t1 - t0) as f64 / period;
    Ok(st)
}

#[derive(Debug, Default)]
struct ScanStats {
    /// |interval − scan_ms| of consecutive scans of a PLC, ms.
    jitter: Vec<f64>,
    /// Scan timestamp − its aligned instant, ms.
    lateness: Vec<f64>,
    missed: usize,
    /// Mean Modbus requests per scan cycle, all PLCs.
    requests: f64,
}

/// Polls the newest `plc_status` timestamp and remembers when each newer
/// one first became queryable (see [`LatencyProbe::latencies`]).
struct LatencyProbe {
    state: Arc<Mutex<ProbeState>>,
    cancel: CancellationToken,
}

#[derive(Default)]
struct ProbeState {
    newest: Option<i64>,
    /// (wall ms of the answer, newest timestamp in it), each time it grew.
    seen: Vec<(i64, i64)>,
}

impl LatencyProbe {
    fn start(q: QueryClient, scan_ms: u64) -> LatencyProbe {
        let state = Arc::new(Mutex::new(ProbeState::default()));
        let cancel = CancellationToken::new();
        let poll = Duration::from_millis((scan_ms / 5).clamp(20, 100));
        let (s, c) = (state.clone(), cancel.clone());
        tokio::spawn(async move {
            let sql = "SELECT last(\"requests\") FROM \"plc_status\" WHERE time > now() - 1h";
            while !c.is_cancelled() {
                if let Ok(series) = q.query(sql).await {
                    let at = now_ms();
                    let ts = series
                        .first()
                        .and_then(|s| s.values.first())
                        .and_then(|r| r.first())
                        .and_then(serde_json::Value::as_i64);
                    if let Some(ts) = ts {
                        let mut g = s.lock().unwrap_or_else(|e| e.into_inner());
                        if g.newest.is_none_or(|n| ts > n) {
                            g.newest = Some(ts);
                            g.seen.push((at, ts));
                        }
                    }
                }
                tokio::select! {
                    _ = c.cancelled() => break,
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        });
        LatencyProbe { state, cancel }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProbeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn newest(&self) -> Option<i64> {
        self.lock().newest
    }

    /// Acquisition → queryable for each scan instant `t` in [t0, t1): the
    /// first answer holding a timestamp ≥ t, minus t (spool order: all
    /// older data was delivered by then).
    fn latencies(&self, t0: i64, t1: i64, period: i64) -> Vec<f64> {
        let g = self.lock();
        let mut out = Vec::new();
        let mut t = t0.div_euclid(period) * period;
        if t < t0 {
            t += period;
        }
        while t < t1 {
            if let Some(&(at, _)) = g.seen.iter().find(|&&(_, ts)| ts >= t) {
                out.push((at - t) as f64);
            }
            t += period;
        }
        out
    }

    fn stop(&self) {
        self.cancel.cancel();
    }
}

impl Drop for LatencyProbe {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn v1_settings(url: &str) -> config::Influx {
    config::Influx {
        url: url.to_string(),
        target: InfluxTarget::V1 {
            database: DATABASE.into(),
            retention_policy: None,
            username: None,
            password: None,
        },
        batch_size: 5000,
        flush_interval: Duration::from_secs(1),
        // Counting millions of samples takes InfluxDB 1.x a while.
        timeout: Duration::from_secs(600),
        gzip: false,
        ca_file: None,
    }
}

fn query_client(url: &str) -> Result<QueryClient> {
    Ok(QueryClient::new(&v1_settings(url))?)
}

async fn create_database(q: &QueryClient) -> Result<()> {
    q.query(&format!("CREATE DATABASE \"{DATABASE}\""))
        .await
        .context("CREATE DATABASE")?;
    Ok(())
}

// ---- processes ----

/// /proc figures of one process.
struct ProcStat {
    pid: u32,
}

impl ProcStat {
    fn pid(pid: u32) -> ProcStat {
        ProcStat { pid }
    }

    /// utime + stime in seconds (threads that ended included); NaN if gone.
    fn cpu_s(&self, clk_tck: f64) -> f64 {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return f64::NAN;
        };
        // Fields after the command name, which may contain spaces: state is
        // field 3, utime 14, stime 15.
        let Some((_, rest)) = text.rsplit_once(')') else {
            return f64::NAN;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        match (tick(11), tick(12)) {
            (Some(u), Some(s)) => (u + s) / clk_tck,
            _ => f64::NAN,
        }
    }

    fn status_kb(&self, key: &str) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(f64::NAN)
    }

    fn hwm_mb(&self) -> f64 {
        self.status_kb("VmHWM:") / 1024.0
    }

    fn rss_mb(&self) -> f64 {
        self.status_kb("VmRSS:") / 1024.0
    }

    /// Resets VmHWM to the current RSS (Linux `clear_refs` value 5).
    fn reset_hwm(&self) {
        if let Err(e) = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5") {
            eprintln!(
                "   cannot reset the peak RSS of {}: {e}; steady-state peak includes start-up",
                self.pid
            );
        }
    }
}

struct Gateway {
    child: Child,
    stat: ProcStat,
    log: PathBuf,
}

impl Gateway {
    fn start(bin: &Path, config: &Path, work: &Path, i: usize) -> Result<Gateway> {
        let log = work.join(format!("gateway{i}.log"));
        let out = std::fs::File::create(&log).with_context(|| format!("{}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stat = ProcStat::pid(child.id());
        Ok(Gateway { child, stat, log })
    }

    fn log_tail(&self) -> String {
        tail(&self.log)
    }

    fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the gateway exited ({status}); log:\n{}", self.log_tail());
        }
        Ok(())
    }

    /// SIGTERM, as a service manager stops it; SIGKILL after 20 s.
    fn stop(&mut self) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.child.id());
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "   gateway {} ignored SIGTERM for 20 s; killing it",
            self.child.id()
        );
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The shared influxd launcher plus this process's view of its CPU.
struct Influx {
    _server: Influxd,
    stat: ProcStat,
}

impl Influx {
    /// A fresh InfluxDB 1.x under `work/influxdb`, HTTP on `http_port`.
    async fn start(work: &Path, http_port: u16) -> Result<Influx> {
        let server = Influxd::start_async(work.join("influxdb"), Some(http_port)).await?;
        let stat = ProcStat::pid(server.pid());
        Ok(Influx {
            _server: server,
            stat,
        })
    }
}

/// The row's scratch directory, removed on drop unless `--keep`.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    fn new(row: Row, keep: bool) -> Result<WorkDir> {
        WorkDir::new_named(row, "", keep)
    }

    /// `suffix` keeps a peer's dir apart from the gateway's for the same row.
    fn new_named(row: Row, suffix: &str, keep: bool) -> Result<WorkDir> {
        let path = std::env::temp_dir().join(format!(
            "plantgw-bench-{}-{}@{}{}{suffix}",
            std::process::id(),
            row.spec,
            row.scan_ms,
            if suffix.is_empty() { "" } else { "-" },
        ));
        if path.exists() {
            std::fs::remove_dir_all(&path).with_context(|| format!("{}", path.display()))?;
        }
        std::fs::create_dir_all(&path).with_context(|| format!("{}", path.display()))?;
        if keep {
            eprintln!("   work dir {}", path.display());
        }
        Ok(WorkDir { path, keep })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// One config per gateway instance: a contiguous share of the PLCs, its own
/// spool dir, no HTTP listener.
fn write_configs(
    work: &Path,
    map: &PlantMap,
    influx_url: &str,
    instances: usize,
    max_gap: Option<u16>,
) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (i, plcs) in split(map, instances).into_iter().enumerate() {
        let part = PlantMap {
            kind: map.kind,
            plcs,
        };
        let text = load::gateway_config(
            &part,
            &GatewayTarget {
                site: "bench".into(),
                influx_url: influx_url.into(),
                database: DATABASE.into(),
                spool_dir: spool_dir(work, i).display().to_string(),
                http_listen: String::new(),
                max_gap,
            },
        );
        let path = work.join(format!("gateway{i}.toml"));
        std::fs::write(&path, text).with_context(|| format!("{}", path.display()))?;
        out.push(path);
    }
    Ok(out)
}

fn spool_dir(work: &Path, instance: usize) -> PathBuf {
    work.join(format!("spool{instance}"))
}

/// Where `--ceiling` keeps its copy of an instance's spool.
fn ceiling_spool(work: &Path, instance: usize) -> PathBuf {
    work.join(format!("ceiling-spool{instance}"))
}

fn split(map: &PlantMap, instances: usize) -> Vec<Vec<plantsim::map::PlcSpec>> {
    let per = map.plcs.len().div_ceil(instances).max(1);
    map.plcs.chunks(per).map(<[_]>::to_vec).collect()
}

fn plcs_per_instance(map: &PlantMap, instances: usize) -> Vec<Vec<String>> {
    split(map, instances)
        .into_iter()
        .map(|p| p.into_iter().map(|p| p.name).collect())
        .collect()
}

fn gateway_binary() -> Result<PathBuf> {
    let me = std::env::current_exe().context("locating this executable")?;
    let dir = me
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", me.display()))?;
    let gw = dir.join("plantgw");
    if !gw.is_file() {
        bail!(
            "{} not found: build it first (cargo build --release --bins)",
            gw.display()
        );
    }
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(g), Some(b)) = (modified(&gw), modified(&me)) {
        if g < b {
            eprintln!(
                "warning: {} is older than this benchmark; `cargo build --release --bins` to measure the current code",
                gw.display()
            );
        }
    }
    Ok(gw)
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M UTC")
        .to_string();
    format!("{date}; {model}, {cores} cores")
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (p / 100.0 * (v.len() - 1) as f64).round() as usize;
    v[rank.min(v.len() - 1)]
}

fn table(rows: &[RowResult], replay: bool) -> String {
    let mut out = String::new();
    let mut head = "| PLCs × tags | scan ms | tags/s into InfluxDB | gateway CPU % of a core | µs CPU per tag | gateway peak RSS MB start / steady | requests per scan (plan / lower bound) | scan jitter p50 / p99 ms (missed) | e2e latency p50 ms | influxd CPU % | simulator CPU % |".to_string();
    let mut rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|".to_string();
    if replay {
        head.push_str(
            " backlog s | drain s | replay tags/s | replay ÷ live | CPU % while draining, gateway / influxd |",
        );
        rule.push_str("---:|---:|---:|---:|---:|");
    }
    let _ = writeln!(out, "{head}");
    let _ = writeln!(out, "{rule}");
    for r in rows {
        // A peer without plc_status has no measured requests, jitter or latency.
        let (req, jitter, latency) = if r.req_measured.is_nan() {
            ("–".to_string(), "–".to_string(), "–".to_string())
        } else {
            (
                format!("{:.1}", r.req_measured),
                format!(
                    "{:.0} / {:.0} ({})",
                    r.jitter_p50, r.jitter_p99, r.missed_scans
                ),
                format!("{:.0}", r.latency_p50),
            )
        };
        let _ = write!(
            out,
            "| {}×{}{}{} | {} | {:.0} ({:.1} % of {:.0}) | {:.1} | {:.2} | {:.1} / {:.1} | {req} ({} / {}) | {jitter} | {latency} | {:.1} | {:.1} |",
            r.row.spec.plcs,
            r.row.spec.tags,
            if r.peer.is_empty() { "" } else { " " },
            r.peer,
            r.row.scan_ms,
            r.delivered_per_s,
            r.delivered_per_s / r.expected_per_s * 100.0,
            r.expected_per_s,
            r.gw_cpu_pct,
            r.us_per_tag,
            r.rss_start_mb,
            r.rss_steady_mb,
            r.req_plan,
            r.req_lower,
            r.influx_cpu_pct,
            r.sim_cpu_pct,
        );
        if let Some(p) = &r.replay {
            let _ = write!(
                out,
                " {:.0} | {:.1} | {:.0} | {:.1} × | {:.0} / {:.0} |",
                p.backlog_s, p.drain_s, p.rate, p.ratio, p.gw_cpu_pct, p.influx_cpu_pct
            );
        } else if replay {
            out.push_str(" – | – | – | – | – |");
        }
        out.push('\n');
    }
    out
}
