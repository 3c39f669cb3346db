//! `plantgw demo`: the whole chain on one machine in one command — the
//! bundled plant simulator, the gateway, and a local InfluxDB — with a live
//! summary in the terminal.
//!
//! InfluxDB: when nothing answers at the configured URL, `influxd` (Debian
//! package `influxdb`) is started by [`crate::influxd`] with its data under
//! `var/influxdb`, and stopped again at the end.
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use plantgw_core::clock::PlantClock;
use plantsim::map::PlantMap;
use plantsim::scenario::Scenario;
use plantsim::simulator::{SimOptions, Simulator};
use tokio_util::sync::CancellationToken;

use crate::app::{self, RunOptions};
use crate::cli::DemoArgs;
use crate::config::{self, InfluxTarget, Settings};
use crate::historian::QueryClient;
use crate::influxd::Influxd;

const DEFAULT_CONFIG: &str = "config/caylloma.toml";
const VAR: &str = "var";

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let mut settings =
        config::load(&config_path).with_context(|| format!("loading {}", config_path.display()))?;
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= 100_000.0) {
        bail!("--speed {} must be a number in (0, 100000]", args.speed);
    }
    let now = jiff::Timestamp::now();
    let clock = PlantClock::new(args.start.unwrap_or(now), now, args.speed);
    let scenario = Scenario::builtin(&args.scenario)
        .with_context(|| format!("--scenario {}", args.scenario))?;

    let var = PathBuf::from(VAR);
    std::fs::create_dir_all(var.join("demo"))
        .with_context(|| format!("creating {}/demo", var.display()))?;
    // The demo keeps its state apart from a real installation's.
    settings.spool.dir = var.join("demo/spool");
    if let Some(k) = settings.kpi.as_mut() {
        k.state_file = var.join("demo/kpi-state.json");
        // Every demo is a fresh simulated plant: yesterday's demo totals
        // (and its totaliser reading) would be booked into today's.
        match std::fs::remove_file(&k.state_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("removing {}", k.state_file.display()))
            }
        }
    }
    let influxd = ensure_influxdb(&settings, &var).await?;

    let sim = Simulator::start(SimOptions {
        clock,
        seed: args.seed,
        scenario,
        map: PlantMap::caylloma().on_ephemeral_ports(),
        truth_log: Some(var.join("demo/truth.jsonl")),
        timezone: settings.site.timezone_name.clone(),
        day_start: settings
            .kpi
            .as_ref()
            .map_or(jiff::civil::Time::constant(7, 0, 0, 0), |k| k.day_start),
        ..SimOptions::default()
    })
    .await
    .context("starting the plant simulator")?;
    // Poll the simulator where it actually listens.
    for plc in &mut settings.plcs {
        if let Some(addr) = sim.addr(&plc.name) {
            plc.address = addr.to_string();
        }
    }

    let cancel = CancellationToken::new();
    crate::shutdown::on_signals(cancel.clone());
    if let Some(s) = args.duration_s {
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(s)).await;
            c.cancel();
        });
    }
    let influx_url = settings.influx.url.clone();
    let site = settings.site.name.to_string();
    let tz = settings.site.timezone.clone();
    let gw = app::start(settings, clock, cancel.clone(), RunOptions::default()).await?;
    println!(
        "plantgw demo: simulator at {} (speed {}×), InfluxDB {influx_url}, metrics {}",
        sim.endpoints()
            .iter()
            .map(|e| format!("{} {}", e.plc, e.addr))
            .collect::<Vec<_>>()
            .join(", "),
        args.speed,
        gw.http_addr
            .map_or("off".to_string(), |a| format!("http://{a}/metrics"))
    );
    println!("Ctrl-C to stop. Try: influx -database plant -execute 'SELECT last(*) FROM kpi WHERE site='\\''{site}'\\'''");

    let mut every = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = every.tick() => print_summary(&sim, &gw, &tz),
        }
    }
    print_summary(&sim, &gw, &tz);
    let spool = gw.spool.clone();
    gw.wait().await.context("gateway")?;
    sim.shutdown().await.context("simulator")?;
    if let Some(s) = spool.stats() {
        println!(
            "stopped; {} batches left in the spool for next time",
            s.records
        );
    }
    // Dropping it kills influxd, as before the launcher was shared.
    drop(influxd);
    Ok(())
}

fn print_summary(
    sim: &plantsim::simulator::RunningSim,
    gw: &app::Running,
    tz: &jiff::tz::TimeZone,
) {
    let truth = sim.truth();
    let plant = truth
        .plant_time
        .to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d %H:%M %Z");
    let plcs: Vec<String> = gw
        .health
        .plcs()
        .into_iter()
        .map(|(n, age)| match age {
            Some(a) if a < 5.0 => format!("{n} up"),
            Some(a) => format!("{n} DOWN {a:.0}s"),
            None => format!("{n} waiting"),
        })
        .collect();
    let spool = gw.spool.stats().map_or(0, |s| s.records);
    println!(
        "plant {plant} | {} | spool {spool} batches",
        plcs.join(", ")
    );
    if let Some(k) = gw.kpi.as_ref().and_then(|h| h.latest()) {
        println!("  gateway KPI  {}", k.summary());
    }
    let d = &truth.day;
    println!(
        "  simulator    {}  dry {:.1} t  Ag head {:.0} g/t  rec {:.1} %  {:.0} oz (ground truth)",
        d.day, d.dry_t, d.ag_head_gpt, d.ag_recovery_pct, d.ag_oz
    );
}

/// Returns the influxd child when the demo had to start one.
async fn ensure_influxdb(settings: &Settings, var: &Path) -> anyhow::Result<Option<Influxd>> {
    let url = settings.influx.url.clone();
    let http = crate::historian::client::build_http(&settings.influx)?;
    let ping = |http: reqwest::Client, url: String| async move {
        http.get(format!("{url}/ping"))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    };
    let mut child = None;
    if !ping(http.clone(), url.clone()).await {
        let parsed = reqwest::Url::parse(&url).context("influxdb.url")?;
        let host = parsed.host_str().unwrap_or("127.0.0.1").to_string();
        if !matches!(host.as_str(), "127.0.0.1" | "localhost") {
            bail!("nothing answers at {url}; the demo only starts a local InfluxDB for a 127.0.0.1 URL");
        }
        let port = parsed.port_or_known_default().unwrap_or(8086);
        let dir = std::path::absolute(var.join("influxdb")).context("var/influxdb")?;
        let started = Influxd::start_async(dir.clone(), Some(port))
            .await
            .with_context(|| format!("nothing answers at {url}"))?;
        let d = dir.display();
        println!("started influxd at {url} (data in {d})");
        child = Some(started);
    }
    if let InfluxTarget::V1 { database, .. } = &settings.influx.target {
        QueryClient::new(&settings.influx)?
            .with_database("")
            .query(&format!("CREATE DATABASE \"{database}\""))
            .await
            .with_context(|| format!("creating database {database}"))?;
    }
    Ok(child)
}
