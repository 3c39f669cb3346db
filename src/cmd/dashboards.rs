//! `plantgw dashboards`: validates the configuration, then writes its
//! dashboards and prints each file's path.
use std::path::Path;
use std::process::ExitCode;

use plantgw::config;

use super::{load, USAGE};

pub fn run(path: &Path, out: &Path) -> ExitCode {
    if let Err(code) = load(path) {
        return code;
    }
    let raw = match config::load_raw(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
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
