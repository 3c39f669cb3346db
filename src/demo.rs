//! `plantgw demo`'s pieces: the whole chain on one machine — the bundled
//! plant simulator, the gateway, and a local InfluxDB — and the live summary
//! text. The command (`src/cmd/demo.rs`) prints and handles Ctrl-C.
//!
//! InfluxDB: when nothing answers at the configured URL, `influxd` (Debian
//! package `influxdb`) is started by [`crate::influxd`] with its data under
//! `var/influxdb`, and stopped again when its handle is dropped.
use std::path::{Path, PathBuf};

use plantgw_core::clock::PlantClock;
use plantsim::map::PlantMap;
use plantsim::scenario::{Scenario, ScenarioError};
use plantsim::simulator::{RunningSim, SimOptions, Simulator};
use plantsim::SimError;
use tokio_util::sync::CancellationToken;

use crate::app::{self, AppError, RunOptions};
use crate::config::{self, ConfigError, Influx, InfluxTarget, Settings};
use crate::influxd::{Influxd, InfluxdError};
use crate::sink::influxdb::{QueryClient, QueryError, SetupError};

/// The shipped configuration the demo runs when given none.
pub const DEFAULT_CONFIG: &str = "config/caylloma.toml";
const VAR: &str = "var";

/// What `plantgw demo` was asked for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Gateway configuration to run.
    pub config: PathBuf,
    /// Plant clock speed (720 = a production day in 2 minutes).
    pub speed: f64,
    /// Plant time to start at (None: the start of the current production
    /// day, so a viewer sees a whole day accumulate and close).
    pub start: Option<jiff::Timestamp>,
    /// Simulator random seed.
    pub seed: u64,
    /// Built-in simulator scenario name.
    pub scenario: String,
}

/// Each variant's text is the step that failed; the cause is its source, so
/// a report walking the chain reads "step: cause".
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("loading {}", path.display())]
    Config {
        path: PathBuf,
        #[source]
        source: Box<ConfigError>,
    },
    #[error("{}: the demo writes to a local InfluxDB and needs an [influxdb] section", path.display())]
    NoInfluxdb { path: PathBuf },
    #[error("--speed {0} must be a number in (0, 100000]")]
    Speed(f64),
    #[error("--scenario {name}")]
    Scenario {
        name: String,
        #[source]
        source: Box<ScenarioError>,
    },
    /// `what` names the action and the path.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Historian(#[from] SetupError),
    #[error("influxdb.url")]
    InfluxUrl(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("nothing answers at {url}; the demo only starts a local InfluxDB for a 127.0.0.1 URL")]
    NotLocal { url: String },
    #[error("nothing answers at {url}")]
    Influxd {
        url: String,
        #[source]
        source: InfluxdError,
    },
    #[error("creating database {database}")]
    CreateDatabase {
        database: String,
        #[source]
        source: QueryError,
    },
    #[error("starting the plant simulator")]
    SimulatorStart(#[source] SimError),
    #[error(transparent)]
    GatewayStart(AppError),
    #[error("gateway")]
    Gateway(#[source] AppError),
    #[error("simulator")]
    Simulator(#[source] SimError),
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> DemoError {
    move |source| DemoError::Io { what, source }
}

/// A demo ready to start: configuration loaded and pointed at `var/demo`.
#[derive(Debug)]
pub struct Plan {
    pub settings: Settings,
    /// `settings.influx`, which the demo cannot run without.
    pub influx: Influx,
    clock: PlantClock,
    scenario: Scenario,
    seed: u64,
    speed: f64,
    var: PathBuf,
}

/// Loads and checks everything before anything starts.
pub fn prepare(opts: DemoOptions) -> Result<Plan, DemoError> {
    let mut settings = config::load(&opts.config).map_err(|source| DemoError::Config {
        path: opts.config.clone(),
        source: Box::new(source),
    })?;
    let Some(influx) = settings.influx.clone() else {
        return Err(DemoError::NoInfluxdb { path: opts.config });
    };
    if !(opts.speed.is_finite() && opts.speed > 0.0 && opts.speed <= 100_000.0) {
        return Err(DemoError::Speed(opts.speed));
    }
    let now = jiff::Timestamp::now();
    let start = opts
        .start
        .unwrap_or_else(|| production_day_start(&settings, now));
    let clock = PlantClock::new(start, now, opts.speed);
    let scenario = Scenario::builtin(&opts.scenario).map_err(|source| DemoError::Scenario {
        name: opts.scenario.clone(),
        source: Box::new(source),
    })?;

    let var = PathBuf::from(VAR);
    std::fs::create_dir_all(var.join("demo"))
        .map_err(io(format!("creating {}/demo", var.display())))?;
    // The demo keeps its state apart from a real installation's.
    settings.spool.dir = var.join("demo/spool");
    if let Some(k) = settings.kpi.as_mut() {
        k.state_file = var.join("demo/kpi-state.json");
        // Every demo is a fresh simulated plant: yesterday's demo totals
        // (and its totaliser reading) would be booked into today's.
        match std::fs::remove_file(&k.state_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(format!("removing {}", k.state_file.display()))(e)),
        }
    }
    Ok(Plan {
        settings,
        influx,
        clock,
        scenario,
        seed: opts.seed,
        speed: opts.speed,
        var,
    })
}

/// The start (`[kpi] day_start`, site time) of the production day `now`
/// falls in; `now` itself without a `[kpi]` section. Starting there, the
/// first screen shows a day from its first tonne rather than a day that
/// seems to have milled 2 % of its target by mid-afternoon.
pub fn production_day_start(settings: &Settings, now: jiff::Timestamp) -> jiff::Timestamp {
    let Some(k) = &settings.kpi else {
        return now;
    };
    let cal =
        crate::kpi::day::Calendar::new(settings.site.timezone.clone(), k.day_start, k.year_start);
    let now_ms = now.as_millisecond();
    cal.day_of(now_ms)
        .and_then(|d| cal.start_ms(d))
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .unwrap_or(now)
}

/// An influxd the demo started; dropping it kills the server.
#[derive(Debug)]
pub struct LocalInfluxd {
    pub server: Influxd,
    /// Where its data lives.
    pub dir: PathBuf,
}

/// Starts a local influxd when nothing answers at the configured URL, and
/// creates the database. Returns the influxd when it had to start one.
pub async fn ensure_influxdb(plan: &Plan) -> Result<Option<LocalInfluxd>, DemoError> {
    let influx = &plan.influx;
    let url = influx.url.clone();
    let http = crate::sink::influxdb::config::build_http(influx)?;
    let ping = |http: reqwest::Client, url: String| async move {
        http.get(format!("{url}/ping"))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    };
    let mut child = None;
    if !ping(http.clone(), url.clone()).await {
        let parsed = reqwest::Url::parse(&url).map_err(|e| DemoError::InfluxUrl(Box::new(e)))?;
        let host = parsed.host_str().unwrap_or("127.0.0.1").to_string();
        if !matches!(host.as_str(), "127.0.0.1" | "localhost") {
            return Err(DemoError::NotLocal { url });
        }
        let port = parsed.port_or_known_default().unwrap_or(8086);
        let dir = influx_dir(&plan.var)?;
        let server = Influxd::start_async(dir.clone(), Some(port))
            .await
            .map_err(|source| DemoError::Influxd {
                url: url.clone(),
                source,
            })?;
        child = Some(LocalInfluxd { server, dir });
    }
    if let InfluxTarget::V1 { database, .. } = &influx.target {
        QueryClient::new(influx)?
            .with_database("")
            .query(&format!("CREATE DATABASE \"{database}\""))
            .await
            .map_err(|source| DemoError::CreateDatabase {
                database: database.clone(),
                source,
            })?;
    }
    Ok(child)
}

fn influx_dir(var: &Path) -> Result<PathBuf, DemoError> {
    std::path::absolute(var.join("influxdb")).map_err(io("var/influxdb".to_string()))
}

/// The simulator and the gateway, running.
pub struct Demo {
    sim: RunningSim,
    gw: app::Running,
    speed: f64,
    influx_url: String,
    site: String,
    tz: jiff::tz::TimeZone,
}

/// Starts the simulator, then the gateway polling it; both stop when
/// `cancel` fires.
pub async fn start(plan: Plan, cancel: CancellationToken) -> Result<Demo, DemoError> {
    let Plan {
        mut settings,
        influx,
        clock,
        scenario,
        seed,
        speed,
        var,
    } = plan;
    let sim = Simulator::start(SimOptions {
        clock,
        seed,
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
    .map_err(DemoError::SimulatorStart)?;
    // Poll the simulator where it actually listens.
    for plc in &mut settings.plcs {
        // Settings fresh from the file: the only owner, so no copy is made.
        let plc = std::sync::Arc::make_mut(plc);
        if let Some(addr) = sim.addr(&plc.name) {
            plc.address = addr.to_string();
        }
    }
    let influx_url = influx.url;
    let site = settings.site.name.to_string();
    let tz = settings.site.timezone.clone();
    let gw = app::start(settings, clock, cancel, RunOptions::default())
        .await
        .map_err(DemoError::GatewayStart)?;
    Ok(Demo {
        sim,
        gw,
        speed,
        influx_url,
        site,
        tz,
    })
}

impl Demo {
    /// Where everything is, and what to try.
    pub fn banner(&self) -> String {
        let site = &self.site;
        format!(
            "plantgw demo: simulator at {} (speed {}×), InfluxDB {}, metrics {}\n\
             Ctrl-C to stop. Try: influx -database plant -execute 'SELECT last(*) FROM kpi WHERE site='\\''{site}'\\'''\n",
            self.sim
                .endpoints()
                .iter()
                .map(|e| format!("{} {}", e.plc, e.addr))
                .collect::<Vec<_>>()
                .join(", "),
            self.speed,
            self.influx_url,
            self.gw
                .http_addr
                .map_or("off".to_string(), |a| format!("http://{a}/metrics"))
        )
    }

    /// Plant time, PLC links, spool, the gateway's KPIs and the simulator's
    /// ground truth, a few lines each ending in a newline.
    pub fn summary(&self) -> String {
        let truth = self.sim.truth();
        let plant = truth
            .plant_time
            .to_zoned_datetime(self.tz.clone())
            .strftime("%Y-%m-%d %H:%M %Z");
        let plcs: Vec<String> = self
            .gw
            .health
            .plcs()
            .into_iter()
            .map(|(n, age)| match age {
                Some(a) if a < 5.0 => format!("{n} up"),
                Some(a) => format!("{n} DOWN {a:.0}s"),
                None => format!("{n} waiting"),
            })
            .collect();
        let spool = self.gw.spool.stats().map_or(0, |s| s.records);
        let mut out = format!(
            "plant {plant} | {} | spool {spool} batches\n",
            plcs.join(", ")
        );
        if let Some(k) = self.gw.kpi.as_ref().and_then(|h| h.latest()) {
            out.push_str(&format!("  gateway KPI  {}\n", k.summary()));
        }
        let d = &truth.day;
        out.push_str(&format!(
            "  simulator    {}  dry {:.1} t  Ag head {:.0} g/t  rec {:.1} %  {:.0} oz (ground truth)\n",
            d.day, d.dry_t, d.ag_head_gpt, d.ag_recovery_pct, d.ag_oz
        ));
        out
    }

    /// Waits for the gateway (stopped by the cancellation given to
    /// [`start`]) and stops the simulator. Returns the batches left in the
    /// spool, when it can tell.
    pub async fn stop(self) -> Result<Option<u64>, DemoError> {
        let spool = self.gw.spool.clone();
        self.gw.wait().await.map_err(DemoError::Gateway)?;
        self.sim.shutdown().await.map_err(DemoError::Simulator)?;
        Ok(spool.stats().map(|s| s.records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_without_influxdb_is_refused_before_anything_starts() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG);
        let mut cfg: toml::Table = std::fs::read_to_string(shipped).unwrap().parse().unwrap();
        assert!(cfg.remove("influxdb").is_some());
        cfg.insert(
            "nats".into(),
            toml::toml! { servers = ["nats://127.0.0.1:4222"] gateway_id = "gw1" }.into(),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nats-only.toml");
        std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
        let e = prepare(DemoOptions {
            config: path.clone(),
            speed: 720.0,
            start: None,
            seed: 1,
            scenario: "normal".into(),
        })
        .unwrap_err();
        assert!(matches!(e, DemoError::NoInfluxdb { .. }), "{e:?}");
        assert!(e.to_string().contains("needs an [influxdb] section"), "{e}");
    }

    #[test]
    fn the_demo_starts_at_the_current_production_days_start() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG);
        let settings = config::load(&path).unwrap();
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(
            production_day_start(&settings, at("2026-03-02T15:00:00-05:00")),
            at("2026-03-02T07:00:00-05:00")
        );
        // Before 07:00 Lima it is still yesterday's production day.
        assert_eq!(
            production_day_start(&settings, at("2026-03-02T06:59:00-05:00")),
            at("2026-03-01T07:00:00-05:00")
        );
    }
}
