//! `plantgw report --day D --out F.html`: the day's report page, read
//! from InfluxDB.
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use jiff::civil::Date;
use plantgw::config::Settings;
use plantgw::sink::influxdb::QueryClient;

use super::{finish, load, runtime};

pub fn run(path: &Path, day: Date, out: &Path) -> ExitCode {
    let settings = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    finish(runtime().and_then(|rt| rt.block_on(write(&settings, day, out))))
}

async fn write(settings: &Settings, day: Date, out: &Path) -> anyhow::Result<()> {
    let Some(influx) = &settings.influx else {
        bail!("{}", plantgw::report::NEEDS_INFLUXDB);
    };
    let Some(kpi) = &settings.kpi else {
        bail!("the configuration has no [kpi] section");
    };
    let query = QueryClient::new(influx).context("InfluxDB query client")?;
    let data = plantgw::report::gather(&query, kpi, &settings.site, day)
        .await
        .with_context(|| format!("reading production day {day} from InfluxDB"))?;
    std::fs::write(out, plantgw::report::render(&data))
        .with_context(|| format!("writing {}", out.display()))?;
    println!("report for {day} written to {}", out.display());
    Ok(())
}
