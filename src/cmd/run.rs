//! `plantgw run`: the gateway as a service. Exit status 1 when any task of
//! the gateway failed, so a service manager restarts it.
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::cli::ClockArgs;
use super::{finish, load, runtime, signals, USAGE};

/// How long `run` waits for leftover tasks once the gateway has stopped.
const EXIT_LIMIT: Duration = Duration::from_secs(5);

pub fn run(path: &Path, clock: &ClockArgs) -> ExitCode {
    plantgw::memory::tune_for_service();
    let settings = match load(path) {
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
            return ExitCode::from(USAGE);
        }
    };
    finish(runtime().and_then(|rt| {
        let ran = rt.block_on(async {
            let cancel = CancellationToken::new();
            signals::on_signals(cancel.clone());
            let reload = signals::reload_requests();
            plantgw::app::run_with_reload(path, settings, clock, cancel, reload)
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
