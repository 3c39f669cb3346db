//! The `plantgw` binary: parse, dispatch, report errors once at the edge.
//! Exit status: 0 done, 1 runtime failure, 2 bad configuration or usage.
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use plantgw::cli::{Cli, Command};
use plantgw::config::{self, ConfigError};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    plantgw::telemetry::init(cli.log_format);
    match cli.command {
        Command::Check { config, json } => check(&config.config, json),
        Command::Run { config, clock } => {
            let settings = match load(&config.config) {
                Ok(s) => s,
                Err(code) => return code,
            };
            // The first line of every run says which build it is.
            tracing::info!(
                version = plantgw::telemetry::VERSION,
                commit = plantgw::telemetry::COMMIT,
                "plantgw starting"
            );
            let clock = match clock.clock() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            finish(runtime().and_then(|rt| {
                rt.block_on(async {
                    let cancel = CancellationToken::new();
                    plantgw::shutdown::on_signals(cancel.clone());
                    let reload = plantgw::shutdown::reload_requests();
                    plantgw::app::run_with_reload(&config.config, settings, clock, cancel, reload)
                        .await
                        .context("gateway failed")
                })
            }))
        }
        Command::Demo(args) => {
            finish(runtime().and_then(|rt| rt.block_on(plantgw::demo::run(args))))
        }
        Command::Kpi { config, day, write } => {
            let settings = match load(&config.config) {
                Ok(s) => s,
                Err(code) => return code,
            };
            finish(
                runtime().and_then(|rt| rt.block_on(plantgw::kpi_cmd::run(&settings, day, write))),
            )
        }
        Command::Tags { command } => plantgw::tags::cli(&command),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn finish(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load(path: &std::path::Path) -> Result<config::Settings, ExitCode> {
    config::load(path).map_err(|e: ConfigError| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn check(path: &std::path::Path, json: bool) -> ExitCode {
    let settings = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let report = plantgw::check::report(&settings);
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", report.to_text());
    }
    ExitCode::SUCCESS
}
