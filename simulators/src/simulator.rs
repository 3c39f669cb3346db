//! Running the simulator in-process: bind one listener per PLC, step the
//! model on plant time in its own thread, and serve the rendered images.
//!
//! ```no_run
//! # async fn demo() -> Result<(), plantsim::SimError> {
//! use plantsim::{PlantMap, SimOptions, Simulator};
//! let sim = Simulator::start(SimOptions {
//!     map: PlantMap::caylloma().on_ephemeral_ports(),
//!     ..SimOptions::default()
//! })
//! .await?;
//! let grinding = sim.addr("grinding");
//! let today = sim.truth().day;
//! println!("{grinding:?}: {:.1} dry t, {:.0} oz so far", today.dry_t, today.ag_oz);
//! sim.shutdown().await?;
//! # Ok(()) }
//! ```

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use crate::clock::PlantClock;
use crate::error::SimError;
use crate::gateway_toml;
use crate::image::PlcImage;
use crate::map::PlantMap;
use crate::rtu;
use crate::scenario::Scenario;
use crate::server;
use crate::service::{PlcService, PlcState};
use crate::sim::{CoreOptions, SimCore};
use crate::truth::{DayCalendar, PeriodTotals, TruthSnapshot};

/// Steps taken between two refreshes of the served images while catching up.
const CHUNK_STEPS: u64 = 5_000;
/// If the plant clock's start lies further back than this, the model starts
/// at "now" instead of simulating the whole gap.
const MAX_CATCH_UP: SignedDuration = SignedDuration::from_hours(7 * 24);

/// Everything `Simulator::start` needs.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub clock: PlantClock,
    /// Seeds every random process: the same seed, scenario and clock give
    /// the same plant.
    pub seed: u64,
    pub scenario: Scenario,
    /// What to serve and where; port 0 binds a free port.
    pub map: PlantMap,
    /// Store writes to coils and holding registers instead of refusing them.
    pub allow_writes: bool,
    /// Append the ground-truth JSON lines here.
    pub truth_log: Option<PathBuf>,
    /// IANA time zone of the site (production days and hours).
    pub timezone: String,
    /// Local time at which a production day starts.
    pub day_start: Time,
    /// Wall-clock period at which the model catches up with the plant clock.
    pub tick: Duration,
    /// Also serve every PLC as a unit of one Modbus RTU bus on a pty, whose
    /// device is linked here (see [`crate::rtu`] for the unit ids).
    pub rtu_pty: Option<PathBuf>,
    /// Also serve that RTU bus on this TCP address (port 0: a free one), as
    /// a serial-to-Ethernet gateway in RTU-over-TCP mode.
    pub rtu_over_tcp: Option<SocketAddr>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            clock: PlantClock::wall(),
            seed: 1,
            scenario: Scenario::normal(),
            map: PlantMap::caylloma(),
            allow_writes: false,
            truth_log: None,
            timezone: "America/Lima".into(),
            day_start: Time::constant(7, 0, 0, 0),
            tick: Duration::from_millis(20),
            rtu_pty: None,
            rtu_over_tcp: None,
        }
    }
}

/// A PLC listener as bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub plc: String,
    pub addr: SocketAddr,
    pub unit_id: u8,
}

pub struct Simulator;

impl Simulator {
    /// Bind every listener, render the first images and start serving.
    pub async fn start(opts: SimOptions) -> Result<RunningSim, SimError> {
        let speed = opts.clock.speed();
        if !(speed.is_finite() && speed > 0.0) {
            return Err(SimError::InvalidOption {
                option: "speed",
                reason: format!("{speed} is not a finite number > 0"),
            });
        }
        if opts.tick.is_zero() {
            return Err(SimError::InvalidOption {
                option: "tick",
                reason: "must be longer than zero".into(),
            });
        }
        let tz = TimeZone::get(&opts.timezone).map_err(|error| SimError::TimeZone {
            name: opts.timezone.clone(),
            error,
        })?;
        let start = model_start(&opts.clock);
        let mut map = opts.map;
        for target in opts.scenario.resolve(start).comms_targets() {
            if map.plc(target).is_none() {
                tracing::warn!(plc = target, "scenario comms fault names no served PLC");
            }
        }
        let scenario_name = opts.scenario.name.clone();
        let core = SimCore::new(
            CoreOptions {
                start,
                seed: opts.seed,
                scenario: opts.scenario,
                calendar: DayCalendar::new(tz, opts.day_start),
            },
            &map,
        );

        let mut listeners = Vec::with_capacity(map.plcs.len());
        for plc in &mut map.plcs {
            let bind_err = |error| SimError::Bind {
                plc: plc.name.clone(),
                addr: plc.address,
                error,
            };
            let listener = TcpListener::bind(plc.address).await.map_err(bind_err)?;
            plc.address = listener.local_addr().map_err(bind_err)?;
            listeners.push(listener);
        }
        let truth_writer = match &opts.truth_log {
            Some(path) => Some((path.clone(), open_truth_log(path)?)),
            None => None,
        };

        let states: Vec<Arc<PlcState>> = map
            .plcs
            .iter()
            .enumerate()
            .map(|(i, plc)| {
                let mut image = PlcImage::new(plc);
                image.render(plc, i, &core);
                let state = PlcState::new(plc.name.clone(), plc.unit_id, opts.allow_writes, image);
                state.set_fault(core.comms_fault(&plc.name));
                Arc::new(state)
            })
            .collect();
        let truth = Arc::new(Mutex::new(core.truth()));

        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        for (listener, state) in listeners.into_iter().zip(&states) {
            tracker.spawn(server::serve(
                listener,
                PlcService::new(Arc::clone(state)),
                cancel.child_token(),
                tracker.clone(),
            ));
        }

        let bus = rtu::Bus::new(
            states
                .iter()
                .map(|s| PlcService::new(Arc::clone(s)))
                .collect(),
        );
        let mut rtu_addr = None;
        if let Some(addr) = opts.rtu_over_tcp {
            let bind_err = |error| SimError::Bind {
                plc: "rtu_over_tcp".into(),
                addr,
                error,
            };
            let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
            let bound = listener.local_addr().map_err(bind_err)?;
            tracing::info!(addr = %bound, units = ?bus.units(), "serving the RTU bus over TCP");
            rtu_addr = Some(bound);
            tracker.spawn(rtu::serve_tcp(
                listener,
                bus.clone(),
                cancel.child_token(),
                tracker.clone(),
            ));
        }
        if let Some(link) = &opts.rtu_pty {
            let pty = rtu::Pty::open(link).map_err(|error| SimError::Pty {
                link: link.clone(),
                error,
            })?;
            tracing::info!(device = %link.display(), units = ?bus.units(), "serving the RTU bus on a pty (8N1)");
            tracker.spawn(rtu::serve_pty(pty, bus.clone(), cancel.child_token()));
        }

        let (done_tx, done_rx) = oneshot::channel();
        let model = ModelThread {
            core,
            map: map.clone(),
            states,
            clock: opts.clock,
            truth: Arc::clone(&truth),
            writer: truth_writer,
            tick: opts.tick,
            cancel: cancel.clone(),
            scenario: scenario_name,
        };
        if let Err(e) = std::thread::Builder::new()
            .name("plantsim-model".into())
            .spawn(move || {
                let _ = done_tx.send(model.run());
            })
        {
            cancel.cancel();
            return Err(SimError::Spawn(e));
        }

        for plc in &map.plcs {
            tracing::info!(plc = %plc.name, addr = %plc.address, unit_id = plc.unit_id, tags = plc.tags.len(), "serving");
        }
        Ok(RunningSim {
            endpoints: map
                .plcs
                .iter()
                .map(|p| Endpoint {
                    plc: p.name.clone(),
                    addr: p.address,
                    unit_id: p.unit_id,
                })
                .collect(),
            rtu_addr,
            rtu_units: bus.units(),
            map,
            truth,
            _guard: cancel.clone().drop_guard(),
            cancel,
            tracker,
            model_done: done_rx,
        })
    }
}

fn model_start(clock: &PlantClock) -> Timestamp {
    let now = clock.now();
    let start = clock.start();
    let chosen = if now.duration_since(start) > MAX_CATCH_UP {
        tracing::info!(%start, %now, "plant clock started long ago; simulating from now");
        now
    } else {
        start
    };
    Timestamp::from_second(chosen.as_second()).unwrap_or(chosen)
}

fn open_truth_log(path: &PathBuf) -> Result<BufWriter<File>, SimError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(BufWriter::new)
        .map_err(|error| SimError::TruthLog {
            path: path.clone(),
            error,
        })
}

/// A running simulator. Dropping it stops the listeners; `shutdown` also
/// waits for them and writes the open hour and day to the truth log.
pub struct RunningSim {
    endpoints: Vec<Endpoint>,
    rtu_addr: Option<SocketAddr>,
    rtu_units: Vec<(String, u8)>,
    map: PlantMap,
    truth: Arc<Mutex<TruthSnapshot>>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    model_done: oneshot::Receiver<Result<(), SimError>>,
    _guard: DropGuard,
}

impl RunningSim {
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// Bound address of a PLC's listener.
    pub fn addr(&self, plc: &str) -> Option<SocketAddr> {
        self.endpoints.iter().find(|e| e.plc == plc).map(|e| e.addr)
    }

    /// Bound address of the RTU-over-TCP port, when served.
    pub fn rtu_over_tcp_addr(&self) -> Option<SocketAddr> {
        self.rtu_addr
    }

    /// Each PLC's unit id on the RTU bus (pty and RTU over TCP).
    pub fn rtu_unit(&self, plc: &str) -> Option<u8> {
        self.rtu_units
            .iter()
            .find(|(p, _)| p == plc)
            .map(|(_, u)| *u)
    }

    /// The served map, with the bound addresses.
    pub fn map(&self) -> &PlantMap {
        &self.map
    }

    /// A gateway configuration polling exactly what is served, at the bound
    /// addresses (for the Caylloma map, with its [kpi] section).
    pub fn gateway_config_toml(&self) -> String {
        gateway_toml::render(&self.map)
    }

    /// Ground-truth totals as of the model's latest step.
    pub fn truth(&self) -> TruthSnapshot {
        self.truth.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The model's plant time.
    pub fn plant_time(&self) -> Timestamp {
        self.truth().plant_time
    }

    /// Stop serving, wait for every connection to close and flush the truth
    /// log (including the open hour and day, marked incomplete).
    pub async fn shutdown(self) -> Result<(), SimError> {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        match self.model_done.await {
            Ok(result) => result,
            Err(_) => Err(SimError::ModelLost),
        }
    }
}

struct ModelThread {
    core: SimCore,
    map: PlantMap,
    states: Vec<Arc<PlcState>>,
    clock: PlantClock,
    truth: Arc<Mutex<TruthSnapshot>>,
    writer: Option<(PathBuf, BufWriter<File>)>,
    tick: Duration,
    cancel: CancellationToken,
    scenario: String,
}

impl ModelThread {
    fn run(mut self) -> Result<(), SimError> {
        let mut error: Option<SimError> = None;
        let mut warned_behind = false;
        while !self.cancel.is_cancelled() {
            let target = self.clock.now();
            let steps = self.core.run_until(target, CHUNK_STEPS);
            if steps > 0 {
                for (i, (plc, state)) in self.map.plcs.iter().zip(&self.states).enumerate() {
                    state.image_mut().render(plc, i, &self.core);
                }
                *self.truth.lock().unwrap_or_else(|e| e.into_inner()) = self.core.truth();
            }
            for (plc, state) in self.map.plcs.iter().zip(&self.states) {
                state.set_fault(self.core.comms_fault(&plc.name));
            }
            let rows = self.core.drain_closed();
            self.write(&rows, &mut error);
            if steps < CHUNK_STEPS {
                std::thread::sleep(self.tick);
            } else if !warned_behind {
                warned_behind = true;
                tracing::warn!(
                    speed = self.clock.speed(),
                    "the model is falling behind the plant clock; served values lag"
                );
            }
        }
        let mut rows = self.core.drain_closed();
        rows.extend(self.core.open_periods());
        self.write(&rows, &mut error);
        match error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn write(&mut self, rows: &[PeriodTotals], error: &mut Option<SimError>) {
        if rows.is_empty() {
            return;
        }
        for r in rows {
            tracing::debug!(kind = ?r.kind, day = %r.day, dry_t = r.dry_t, ag_oz = r.ag_oz, "truth");
        }
        let Some((path, w)) = self.writer.as_mut() else {
            return;
        };
        let tz = self.core.calendar().tz().clone();
        let result = rows
            .iter()
            .try_for_each(|r| writeln!(w, "{}", r.to_json_line(&tz, &self.scenario)))
            .and_then(|()| w.flush());
        if let Err(e) = result {
            tracing::error!(path = %path.display(), error = %e, "cannot write the truth log; no more rows will be written");
            error.get_or_insert(SimError::TruthLog {
                path: path.clone(),
                error: e,
            });
            self.writer = None;
        }
    }
}
