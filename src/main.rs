//! The `plantgw` binary: parse, dispatch, report errors once at the edge.
use std::process::ExitCode;

use clap::Parser;
use plantgw::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config, json } => match plantgw::config::load(&config.config) {
            Ok(settings) => {
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
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("error: this command is not available in this build");
            ExitCode::from(1)
        }
    }
}
