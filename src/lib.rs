//! plantgw: a plant-floor SCADA gateway and historian.
//!
//! Data flows one way: PLC → [`source`] (the Modbus poller) → samples → KPI engine and
//! historian → spool → InfluxDB.
//!
//! The library neither prints nor exits nor installs signal handlers: it
//! returns values and typed errors, and takes a `CancellationToken` (stop)
//! and a channel (reload requests). The `plantgw` binary's commands
//! (`src/cmd/`) own the terminal, the exit status and the signals.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod check;
pub mod config;
pub mod crash_point;
pub mod dashboards;
#[cfg(feature = "demo")]
pub mod demo;
pub mod http;
#[cfg(feature = "demo")]
pub mod influxd;
pub mod kpi;
pub mod memory;
pub mod pipeline;
pub mod relay;
pub mod report;
pub mod sample;
pub mod sink;
pub mod source;
pub mod spool;
pub mod tags;
pub mod telemetry;
