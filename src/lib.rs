//! plantgw: a plant-floor SCADA gateway and historian.
//!
//! Data flows one way: PLC → [`modbus`] poller → samples → KPI engine and
//! historian → spool → InfluxDB.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod check;
pub mod cli;
pub mod config;
pub mod dashboards;
#[cfg(feature = "demo")]
pub mod demo;
pub mod historian;
pub mod http;
#[cfg(feature = "demo")]
pub mod influxd;
pub mod kpi;
pub mod kpi_cmd;
pub mod sample;
pub mod shutdown;
pub mod source;
// The Modbus source's old path, for modules not yet moved (check); remove
// once they import `source::modbus`.
pub use source::modbus;
pub mod spool;
pub mod tags;
pub mod telemetry;
