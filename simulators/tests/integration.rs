//! plantsim's integration tests, in one binary (one link on a 2-core box).
//! Every test starts its own simulator on free loopback ports.

mod common;

mod cli;
mod config_map;
mod foreign_clients;
mod protocol;
mod scenarios;
mod truth_log;
mod version;
