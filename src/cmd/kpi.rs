//! `plantgw kpi --day`: recompute a closed production day from the raw
//! series in InfluxDB, print it, and with `--write` re-close it as
//! `kpi_daily`, plus `kpi_reconciled` with `[kpi.reconcile]` (same series
//! and timestamp, so the old rows are overwritten).
//!
//! Writes go straight to InfluxDB, not through the spool: the spool belongs
//! to the running service and is locked by it.
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use jiff::civil::Date;
use plantgw::config::Settings;
use plantgw::kpi::fetch_and_recompute;
use plantgw::sink::influxdb::{deliver, encode_point, Delivery, InfluxClient, QueryClient};
use tokio_util::sync::CancellationToken;

use super::{finish, load, runtime, signals};

pub fn run(path: &Path, day: Date, write: bool) -> ExitCode {
    let settings = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    finish(runtime().and_then(|rt| rt.block_on(recompute(&settings, day, write))))
}

async fn recompute(settings: &Settings, day: Date, write: bool) -> anyhow::Result<()> {
    let Some(influx) = &settings.influx else {
        bail!("plantgw kpi needs [influxdb] to read the day from");
    };
    let Some(kpi) = &settings.kpi else {
        bail!("the configuration has no [kpi] section");
    };
    let query = QueryClient::new(influx).context("InfluxDB query client")?;
    let daily = fetch_and_recompute(&query, kpi, &settings.site, day)
        .await
        .with_context(|| format!("recomputing production day {day}"))?;
    print!("{}", daily.table());
    if kpi.reconcile.is_some() && daily.reconciled.is_none() {
        println!("not reconciled: see the warning above for why");
    }
    if write {
        let mut body = Vec::new();
        let points = daily.to_points(&settings.site.name);
        let what: Vec<&str> = points.iter().map(|p| p.measurement.as_str()).collect();
        let what = what.join(" and ");
        for p in &points {
            encode_point(p, &mut body).with_context(|| format!("encoding {}", p.measurement))?;
        }
        let client = InfluxClient::new(influx).context("InfluxDB client")?;
        let cancel = CancellationToken::new();
        signals::on_signals(cancel.clone());
        match deliver(&client, &body, &cancel).await {
            Delivery::Delivered { .. } => println!("{what} for {day} written"),
            Delivery::Dropped { message, .. } => {
                bail!("InfluxDB rejected {what} for {day}: {message}")
            }
            Delivery::Cancelled => {
                bail!("interrupted before InfluxDB accepted {what} for {day}")
            }
        }
    }
    Ok(())
}
