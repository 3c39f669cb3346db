//! plantsim: a Modbus TCP simulator of the Caylloma 700 t/d silver
//! concentrator, serving its crushing, grinding and flotation PLCs.
//!
//! - [`Simulator::start`] binds one listener per PLC and returns a
//!   [`RunningSim`] with the bound addresses, ground-truth totals
//!   ([`TruthSnapshot`]) and a graceful `shutdown`.
//! - [`map::PlantMap::caylloma`] is the one definition of the register map;
//!   [`gateway_toml::render`] writes it as a plantgw configuration.
//! - [`sim::SimCore`] is the deterministic core (model, scenario, truth)
//!   stepped in one-second slices of plant time, usable without any I/O.
//!
//! Modules: `clock` (the plant clock, re-exported from plantgw-core), `model/` (crushing, grinding,
//! flotation dynamics), `registers` (value ↔ register encoding), `map`,
//! `image` (a PLC's four tables), `frame` (Modbus TCP framing, hostile-input
//! safe), `service` (strict request handling), `server` (listeners and comms
//! faults), `scenario`, `truth`, `synthetic` and `from_config` (serving any
//! gateway config), `gateway_toml`, `load` (synthetic PLCs for benchmarks),
//! `simulator` (wiring it together).

/// The plant clock, shared with the gateway through plantgw-core.
pub use plantgw_core::clock;
pub mod error;
pub mod frame;
pub mod from_config;
pub mod gateway_toml;
pub mod image;
pub mod load;
pub mod map;
pub mod model;
pub mod registers;
pub mod rtu;
pub mod scenario;
pub mod server;
pub mod service;
pub mod sim;
pub mod simulator;
pub mod synthetic;
pub mod truth;

pub use clock::PlantClock;
pub use error::SimError;
pub use map::PlantMap;
pub use scenario::Scenario;
pub use simulator::{Endpoint, RunningSim, SimOptions, Simulator};
pub use truth::{PeriodKind, PeriodTotals, TruthSnapshot};
