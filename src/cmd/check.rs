//! `plantgw check`: prints the configuration report (text or JSON). Exit
//! status 0 when valid, 2 with every error otherwise.
use std::path::Path;
use std::process::ExitCode;

use super::{load, runtime};

pub fn run(path: &Path, json: bool) -> ExitCode {
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
