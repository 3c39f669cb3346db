//! plantgw: a plant-floor SCADA gateway and historian.
//!
//! Data flows one way: PLC → [`modbus`] poller → samples → KPI engine and
//! historian → spool → InfluxDB.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod sample;
pub mod modbus;
pub mod check;
pub mod cli;
