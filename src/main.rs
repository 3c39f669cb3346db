//! The `plantgw` binary: parse, dispatch, report errors once at the edge.
//! Exit status: 0 done, 1 runtime failure (for `run`: any task of the
//! gateway failed, so a service manager restarts it), 2 bad configuration
//! or usage.
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
                let ran = rt.block_on(async {
                    let cancel = CancellationToken::new();
                    plantgw::shutdown::on_signals(cancel.clone());
                    let reload = plantgw::shutdown::reload_requests();
                    plantgw::app::run_with_reload(&config.config, settings, clock, cancel, reload)
                        .await
                        .context("gateway failed")
                });
                // A task stuck in a blocking call (a hung disk is a reason a
                // stage fails) must not keep the process from exiting, or
                // the service manager never restarts it.
                rt.shutdown_timeout(EXIT_LIMIT);
                ran
            }))
        }
        #[cfg(feature = "demo")]
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
        Command::Dashboards { config, out } => dashboards(&config.config, &out),
    }
}

/// Validates the configuration, then writes its dashboards into `out`.
fn dashboards(path: &std::path::Path, out: &std::path::Path) -> ExitCode {
    if let Err(code) = load(path) {
        return code;
    }
    let raw = match config::load_raw(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match plantgw::dashboards::write_all(&raw, out) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// How long `run` waits for leftover tasks once the gateway has stopped.
const EXIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

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
    let mut report = plantgw::check::report(&settings);
    report.field_types = runtime()
        .ok()
        .map(|rt| rt.block_on(plantgw::check::field_types(&settings)));
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
