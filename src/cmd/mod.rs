//! The commands of the `plantgw` binary, one module each. Each owns its
//! printing, its exit status and the context of its errors; the library
//! does the work and returns values and typed errors.
//!
//! Exit status: 0 done, 1 runtime failure, 2 bad configuration or usage.
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use plantgw::config::{self, Settings};

pub mod check;
pub mod cli;
pub mod dashboards;
#[cfg(feature = "demo")]
pub mod demo;
pub mod kpi;
pub mod relay;
pub mod report;
pub mod run;
pub mod signals;
pub mod tags;

/// Bad configuration or usage.
const USAGE: u8 = 2;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Reports a runtime failure once, with its chain of causes.
fn finish(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The validated configuration, or its errors reported and exit status 2.
fn load(path: &Path) -> Result<Settings, ExitCode> {
    config::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(USAGE)
    })
}
