//! `plantsim`: the Caylloma plant simulator as a command. Parses flags,
//! starts the library's simulator and stops it on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use clap::Parser;
use jiff::civil::Time;
use jiff::Timestamp;
use plantsim::load::{self, GatewayTarget, LoadOptions};
use plantsim::{from_config, gateway_toml, PlantClock, PlantMap, Scenario, SimOptions, Simulator};

/// The version and the git commit it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BUILD_COMMIT"),
    ")"
);

/// Modbus TCP simulator of the Caylloma 700 t/d silver concentrator: one
/// listener per PLC (crushing 127.0.0.1:5020, grinding :5021, flotation
/// :5022, unit id 1), a process model stepped on plant time, scenarios, and
/// a ground-truth log to check a gateway's KPIs against.
#[derive(Debug, Parser)]
#[command(name = "plantsim", version = VERSION)]
struct Cli {
    /// Take listener addresses and unit ids from a config file.
    ///
    /// Any TOML file with [[plc]] tables (name, address, unit_id) works, a
    /// plantgw config included; PLCs are matched by name (crushing,
    /// grinding, flotation) and other keys are ignored.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Serve the tag map of a plantgw config instead of the built-in one.
    ///
    /// Every [[plc]] gets a listener at its address and every [[plc.tag]] is
    /// served: tags named like Caylloma tags carry the plant model's values,
    /// others plausible values for their unit, inside min/max when given.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    from_config: Option<PathBuf>,

    /// Also serve the PLCs as units of one Modbus RTU bus on a pty, linked at PATH.
    ///
    /// A gateway opens PATH as its serial device (8N1; a pty has no parity).
    /// Units keep the PLCs' unit ids when these differ, else are numbered
    /// in order: crushing 1, grinding 2, flotation 3. A request for another
    /// unit gets no answer, as on an RS-485 bus.
    #[arg(long, value_name = "PATH")]
    rtu_pty: Option<PathBuf>,

    /// Also serve that RTU bus on a TCP port (RTU frames, no MBAP header),
    /// as a serial-to-Ethernet gateway in RTU-over-TCP mode, e.g.
    /// --rtu-over-tcp 127.0.0.1:4001.
    #[arg(long, value_name = "ADDR")]
    rtu_over_tcp: Option<SocketAddr>,

    /// Move one PLC's listener, e.g. --listen grinding=0.0.0.0:1502 (repeatable).
    #[arg(long, value_name = "PLC=ADDR")]
    listen: Vec<String>,

    /// Plant time runs this many times faster than wall time.
    ///
    /// 720 makes a production day pass in 2 minutes.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,

    /// Plant time at the anchor instant (RFC 3339, default: now).
    #[arg(long, value_name = "RFC3339")]
    start: Option<Timestamp>,

    /// Wall-clock instant at which plant time equals --start (default: now).
    ///
    /// Give the gateway the same --start, --speed and --anchor and both agree
    /// on plant time.
    #[arg(long, value_name = "RFC3339")]
    anchor: Option<Timestamp>,

    /// Seed of every random process; the same seed reproduces a run.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Built-in scenario: normal, crusher_trip, mill_stop, low_grade,
    /// analyser_fault or comms_faults.
    #[arg(long, default_value = "normal", value_name = "NAME")]
    scenario: String,

    /// A scenario of your own (TOML; see the `scenario` module docs).
    #[arg(long, value_name = "FILE", conflicts_with = "scenario")]
    scenario_file: Option<PathBuf>,

    /// Append ground truth (per plant hour and production day) as JSON lines.
    #[arg(long, value_name = "FILE")]
    truth: Option<PathBuf>,

    /// Local time at which a production day starts.
    #[arg(long, default_value = "07:00", value_name = "HH:MM")]
    day_start: String,

    /// Site time zone (IANA name).
    #[arg(long, default_value = "America/Lima", value_name = "TZ")]
    timezone: String,

    /// Store writes to coils and holding registers instead of refusing them
    /// with exception 1 (IllegalFunction).
    #[arg(long)]
    allow_writes: bool,

    /// Serve a synthetic load instead of the plant: PLCSxTAGS, e.g. 100x1000.
    ///
    /// PLCs listen on consecutive loopback ports from --base-port; each has
    /// TAGS tags, mostly f32 with some u16/i16/u32/f64 and status bits, in
    /// devices of 5–20 registers separated by 1–40 unused ones. Values move
    /// slowly and are rendered once per second, never per request.
    #[arg(long, value_name = "PLCSxTAGS", conflicts_with_all = ["config", "from_config"])]
    load: Option<plantsim::load::LoadSpec>,

    /// With --load: write the plantgw config that polls the load to FILE.
    #[arg(long, value_name = "FILE", requires = "load")]
    emit_config: Option<PathBuf>,

    /// With --load: port of the first PLC (0: a free port for each).
    #[arg(long, default_value_t = 20000, requires = "load")]
    base_port: u16,

    /// With --load: scan_ms of every PLC in the emitted config.
    #[arg(long, default_value_t = 1000, requires = "load")]
    scan_ms: u64,

    /// With --load: influxdb.url of the emitted config (InfluxDB 1.x).
    #[arg(long, default_value = "http://127.0.0.1:8086", requires = "load")]
    influx_url: String,

    /// With --load: influxdb.database of the emitted config.
    #[arg(long, default_value = "plantgw_load", requires = "load")]
    influx_db: String,

    /// With --load: max_gap of every PLC in the emitted config (default:
    /// the gateway's).
    #[arg(long, requires = "load")]
    max_gap: Option<u16>,

    /// Print the served map as a plantgw config and exit.
    ///
    /// `plantsim --print-config > config/caylloma.toml` regenerates the
    /// shipped configuration.
    #[arg(long)]
    print_config: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let opts = match options(&cli) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("plantsim: {e:#}");
            return ExitCode::from(2);
        }
    };
    if cli.print_config {
        match cli.load {
            Some(_) => print!("{}", load::gateway_config(&opts.map, &load_target(&cli))),
            None => print!("{}", gateway_toml::render(&opts.map)),
        }
        return ExitCode::SUCCESS;
    }
    let emit = cli
        .emit_config
        .clone()
        .map(|path| (path, load_target(&cli)));
    match run(opts, emit) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plantsim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn options(cli: &Cli) -> anyhow::Result<SimOptions> {
    if !(cli.speed.is_finite() && cli.speed > 0.0) {
        bail!("--speed {} must be a number > 0", cli.speed);
    }
    let now = Timestamp::now();
    let clock = PlantClock::new(
        cli.start.unwrap_or(now),
        cli.anchor.unwrap_or(now),
        cli.speed,
    );
    let day_start: Time = cli
        .day_start
        .parse()
        .with_context(|| format!("--day-start {:?} is not HH:MM", cli.day_start))?;
    jiff::tz::TimeZone::get(&cli.timezone)
        .with_context(|| format!("--timezone {:?}", cli.timezone))?;
    let scenario = match &cli.scenario_file {
        Some(path) => Scenario::from_file(path)?,
        None => Scenario::builtin(&cli.scenario)?,
    };

    let mut map = match (&cli.from_config, cli.load) {
        (Some(path), _) => from_config::load_map(path)?,
        (None, Some(spec)) => load::load_map(&LoadOptions {
            base_port: cli.base_port,
            scan_ms: cli.scan_ms,
            seed: cli.seed,
            ..LoadOptions::new(spec)
        })?,
        (None, None) => PlantMap::caylloma(),
    };
    if let Some(path) = &cli.config {
        for l in from_config::load_listeners(path)? {
            let Some(plc) = map.plcs.iter_mut().find(|p| p.name == l.name) else {
                bail!(
                    "{}: [[plc]] {:?} is not a simulated PLC (crushing, grinding, flotation)",
                    path.display(),
                    l.name
                );
            };
            plc.address = l.address;
            plc.unit_id = l.unit_id;
        }
    }
    for spec in &cli.listen {
        let (plc, addr) = spec
            .split_once('=')
            .ok_or_else(|| anyhow!("--listen {spec:?} is not PLC=ADDR"))?;
        let addr: SocketAddr = addr
            .parse()
            .with_context(|| format!("--listen {spec:?}: {addr:?} is not host:port"))?;
        if !map.set_address(plc, addr) {
            bail!("--listen {spec:?}: no PLC named {plc:?}");
        }
    }

    Ok(SimOptions {
        clock,
        seed: cli.seed,
        scenario,
        map,
        allow_writes: cli.allow_writes,
        truth_log: cli.truth.clone(),
        timezone: cli.timezone.clone(),
        day_start,
        rtu_pty: cli.rtu_pty.clone(),
        rtu_over_tcp: cli.rtu_over_tcp,
        ..SimOptions::default()
    })
}

fn load_target(cli: &Cli) -> GatewayTarget {
    GatewayTarget {
        influx_url: cli.influx_url.clone(),
        database: cli.influx_db.clone(),
        max_gap: cli.max_gap,
        ..GatewayTarget::default()
    }
}

/// Runs until SIGINT/SIGTERM; with `emit`, writes the load's gateway config
/// once the listeners are bound (so free ports are filled in).
fn run(opts: SimOptions, emit: Option<(PathBuf, GatewayTarget)>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        tracing::info!(
            scenario = %opts.scenario.name,
            speed = opts.clock.speed(),
            seed = opts.seed,
            start = %opts.clock.start(),
            "starting"
        );
        let sim = Simulator::start(opts).await?;
        if let Some((path, target)) = emit {
            std::fs::write(&path, load::gateway_config(sim.map(), &target))
                .with_context(|| format!("--emit-config {}", path.display()))?;
            tracing::info!(config = %path.display(), "wrote the gateway config for the load");
        }
        shutdown_signal().await?;
        tracing::info!("stopping");
        sim.shutdown().await?;
        Ok(())
    })
}

async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot watch SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot watch Ctrl-C")?;
    Ok(())
}
