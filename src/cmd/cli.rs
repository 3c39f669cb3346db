//! Command-line interface (DESIGN §3). Parsing only: each command runs in
//! its own module of `cmd`.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "plantgw",
    version = plantgw::telemetry::LONG_VERSION,
    about = "Plant-floor SCADA gateway: Modbus TCP PLCs → InfluxDB, with production KPIs"
)]
pub struct Cli {
    /// Log format: human-readable text, or one JSON object per line for log shippers.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl From<LogFormat> for plantgw::telemetry::LogFormat {
    fn from(f: LogFormat) -> Self {
        match f {
            LogFormat::Text => Self::Text,
            LogFormat::Json => Self::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: poll the PLCs, write InfluxDB, compute KPIs, serve /metrics and /healthz.
    ///
    /// SIGTERM or Ctrl-C stops polling, flushes what is held into the spool
    /// and InfluxDB, and exits 0.
    Run {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        clock: ClockArgs,
    },
    /// Carry the fleet's NATS JetStream stream into a central InfluxDB.
    ///
    /// A durable pull consumer (`[nats]` durable, filter_subject) shared by
    /// every relay of that name; each batch is acked once InfluxDB stored it.
    Relay {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Validate a configuration and print the poll plan.
    ///
    /// Exit status 0 when valid, 2 with every error (file, key, reason) otherwise.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Print the plan as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Simulator + gateway + local InfluxDB in one command, with a live summary.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Recompute a past production day's KPIs from the raw series in InfluxDB.
    Kpi {
        #[command(flatten)]
        config: ConfigArg,
        /// Production day, YYYY-MM-DD (the day starting at kpi.day_start local time).
        #[arg(long)]
        day: jiff::civil::Date,
        /// Store the result as a kpi_daily row (re-closes the day).
        #[arg(long)]
        write: bool,
    },
    /// Write a production day's report: one HTML page (inline SVG, prints on one A4 sheet).
    ///
    /// Read from InfluxDB, so any past day works; a day still open, a day
    /// without data or without assays is said so on the page.
    Report {
        #[command(flatten)]
        config: ConfigArg,
        /// Production day, YYYY-MM-DD (the day starting at kpi.day_start local time).
        #[arg(long)]
        day: jiff::civil::Date,
        /// The HTML file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Write the Grafana dashboards for a configuration.
    ///
    /// The plant overview, one dashboard per PLC area with every configured
    /// tag, and gateway health, as JSON files in DIR (created if missing) for
    /// Grafana's file provisioning. For config/caylloma.toml they are the
    /// shipped grafana/dashboards/. Exit status 2 when the configuration is
    /// invalid.
    Dashboards {
        #[command(flatten)]
        config: ConfigArg,
        /// Folder to write the dashboards into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Convert a plant I/O list (CSV) to [[plc.tag]] configuration, and back.
    Tags {
        #[command(subcommand)]
        command: TagsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TagsCommand {
    /// Read an I/O list and print its tags as [[plc.tag]] TOML, grouped by PLC.
    ///
    /// CSV columns (header row, any order): plc, equipment, name, table,
    /// address, type (required); order, scale, offset, unit, description,
    /// bit, length, min, max, deadband, max_interval_ms (optional). Each group
    /// goes under its PLC's [[plc]] table. Exit status 2 with every problem
    /// as FILE:LINE: column C: reason.
    Import {
        /// The I/O list, exported from the spreadsheet as CSV (`,` or `;` separated).
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        /// Write the TOML here instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write the tags of a configuration as an I/O list CSV (the import's columns).
    Export {
        #[command(flatten)]
        config: ConfigArg,
        /// Write the CSV here instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Configuration file (TOML, DESIGN §4). PLANTGW_SECTION__KEY environment variables override it.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
}

/// The shared plant clock: plant time = start + (wall − anchor) × speed.
#[derive(Debug, Clone, Args)]
pub struct ClockArgs {
    /// Plant time at the anchor instant (default: now, i.e. real time).
    #[arg(long, value_name = "RFC3339")]
    pub start: Option<jiff::Timestamp>,
    /// How many times faster than real time the plant clock runs (720 = a day in 2 minutes).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Wall-clock instant at which plant time equals --start (default: process start).
    /// Give the simulator and the gateway the same value so they agree.
    #[arg(long, value_name = "RFC3339")]
    pub anchor: Option<jiff::Timestamp>,
}

impl ClockArgs {
    pub fn clock(&self) -> Result<plantgw_core::clock::PlantClock, String> {
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= 100_000.0) {
            return Err(format!(
                "--speed {} must be a number in (0, 100000]",
                self.speed
            ));
        }
        let now = jiff::Timestamp::now();
        Ok(plantgw_core::clock::PlantClock::new(
            self.start.unwrap_or(now),
            self.anchor.unwrap_or(now),
            self.speed,
        ))
    }
}

#[cfg(feature = "demo")]
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Gateway configuration to run (default: the shipped config/caylloma.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Plant clock speed (720 = a production day in 2 minutes).
    #[arg(long, default_value_t = 720.0)]
    pub speed: f64,
    /// Plant time to start at (default: the start of the current production day).
    #[arg(long, value_name = "RFC3339")]
    pub start: Option<jiff::Timestamp>,
    /// Simulator random seed, for a reproducible run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulator scenario (normal, crusher_trip, mill_stop, low_grade, analyser_fault, comms_faults).
    #[arg(long, default_value = "normal")]
    pub scenario: String,
    /// Stop after this many seconds of wall time (default: run until Ctrl-C).
    #[arg(long)]
    pub duration_s: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_command() {
        let c = Cli::try_parse_from(["plantgw", "check", "--config", "x.toml", "--json"]).unwrap();
        assert!(matches!(c.command, Command::Check { json: true, .. }));
        let c = Cli::try_parse_from([
            "plantgw",
            "run",
            "-c",
            "x.toml",
            "--speed",
            "720",
            "--start",
            "2026-03-01T12:00:00Z",
        ])
        .unwrap();
        let Command::Run { clock, .. } = c.command else {
            panic!()
        };
        assert_eq!(clock.speed, 720.0);
        assert!(clock.clock().is_ok());
        let c = Cli::try_parse_from([
            "plantgw",
            "kpi",
            "-c",
            "x.toml",
            "--day",
            "2026-03-01",
            "--write",
        ])
        .unwrap();
        assert!(matches!(c.command, Command::Kpi { write: true, .. }));
        assert!(
            Cli::try_parse_from(["plantgw", "kpi", "-c", "x.toml", "--day", "2026-13-01"]).is_err()
        );
        let c = Cli::try_parse_from([
            "plantgw",
            "dashboards",
            "--config",
            "x.toml",
            "--out",
            "dash",
        ])
        .unwrap();
        let Command::Dashboards { out, .. } = c.command else {
            panic!()
        };
        assert_eq!(out, PathBuf::from("dash"));
        assert!(Cli::try_parse_from(["plantgw", "dashboards", "-c", "x.toml"]).is_err());
        let bad = ClockArgs {
            start: None,
            speed: f64::NAN,
            anchor: None,
        };
        assert!(bad.clock().is_err());
    }
}
