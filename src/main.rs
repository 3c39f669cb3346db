//! The `plantgw` binary: parse, set up logging, dispatch to the command
//! (`cmd`), which reports errors once at the edge. Exit status: 0 done,
//! 1 runtime failure (for `run`: any task of the gateway failed, so a
//! service manager restarts it), 2 bad configuration or usage.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod cmd;

use std::process::ExitCode;

use clap::Parser;
use cmd::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    plantgw::telemetry::init(cli.log_format.into());
    match cli.command {
        Command::Check { config, json } => cmd::check::run(&config.config, json),
        Command::Run { config, clock } => cmd::run::run(&config.config, &clock),
        Command::Relay { config } => cmd::relay::run(&config.config),
        #[cfg(feature = "demo")]
        Command::Demo(args) => cmd::demo::run(args),
        Command::Kpi { config, day, write } => cmd::kpi::run(&config.config, day, write),
        Command::Report { config, day, out } => cmd::report::run(&config.config, day, &out),
        Command::Tags { command } => cmd::tags::run(&command),
        Command::Dashboards { config, out } => cmd::dashboards::run(&config.config, &out),
    }
}
