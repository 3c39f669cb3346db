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
    // Each configured sink's server is asked what it holds, when it answers.
    if let Ok(rt) = runtime() {
        if settings.influx.is_some() {
            report.field_types = Some(rt.block_on(plantgw::check::field_types(&settings)));
        }
        if let (Some(n), Some(summary)) = (&settings.nats, report.nats.as_mut()) {
            summary.stream_check = Some(rt.block_on(plantgw::check::nats::stream_check(n)));
        }
    }
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
