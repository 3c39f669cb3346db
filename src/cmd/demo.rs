//! `plantgw demo`: the simulator, the gateway and a local InfluxDB in one
//! command, with a live summary in the terminal every two seconds until
//! Ctrl-C or `--duration-s`.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use plantgw::demo::{self, DemoOptions, DEFAULT_CONFIG};
use plantgw::sink::influxdb::{QueryClient, Series};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::cli::DemoArgs;
use super::{finish, runtime, signals};

pub fn run(args: DemoArgs) -> ExitCode {
    finish(runtime().and_then(|rt| rt.block_on(demo(args))))
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let plan = demo::prepare(DemoOptions {
        config: args.config.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG)),
        speed: args.speed,
        start: args.start,
        seed: args.seed,
        scenario: args.scenario,
    })?;
    // Held to the end: dropping it stops the influxd the demo started.
    let influxd = demo::ensure_influxdb(&plan).await?;
    if let Some(local) = &influxd {
        let url = &plan.influx.url;
        let d = local.dir.display();
        println!("started influxd at {url} (data in {d})");
    }

    let cancel = CancellationToken::new();
    signals::on_signals(cancel.clone());
    if let Some(s) = args.duration_s {
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(s)).await;
            c.cancel();
        });
    }
    let query = QueryClient::new(&plan.influx).ok();
    let site = plan.settings.site.name.to_string();
    let running = demo::start(plan, cancel.clone()).await?;
    print!("{}", running.banner());

    let mut every = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = every.tick() => {
                print!("{}", running.summary());
                if let Some(q) = &query {
                    print!("{}", closed_day(q, &site).await.unwrap_or_default());
                }
            }
        }
    }
    print!("{}", running.summary());
    if let Some(left) = running.stop().await? {
        println!("stopped; {left} batches left in the spool for next time");
    }
    drop(influxd);
    Ok(())
}

/// The last closed production day as InfluxDB holds it (`kpi_daily`, and
/// `kpi_reconciled` when the config reconciles): what a viewer sees appear
/// when the day closes. None before the first close or when the query
/// fails (the live lines above carry on either way).
async fn closed_day(query: &QueryClient, site: &str) -> Option<String> {
    let site = site.replace('\\', "\\\\").replace('\'', "\\'");
    let last = |m: &str, extra: String| {
        format!(r#"SELECT * FROM "{m}" WHERE "site"='{site}'{extra} ORDER BY time DESC LIMIT 1"#)
    };
    let daily = query.query(&last("kpi_daily", String::new())).await.ok()?;
    let d = daily.first()?;
    let day = text(d, "day")?;
    let mut out = format!(
        "  closed day   {day}  dry {} t  Ag rec {} %  {} oz  pace {} Moz/yr  (kpi_daily)\n",
        num(d, "ore_dry_t", 1, 1.0),
        num(d, "ag_recovery_pct", 2, 1.0),
        num(d, "ag_oz", 0, 1.0),
        num(d, "ag_oz_pace_year", 2, 1e-6),
    );
    let filter = format!(r#" AND "day"='{day}'"#);
    if let Some(r) = query
        .query(&last("kpi_reconciled", filter))
        .await
        .ok()
        .and_then(|s| s.into_iter().next())
    {
        let gross = text(&r, "gross_error").filter(|g| !g.is_empty());
        out += &format!(
            "  reconciled   Ag rec {} ± {} pp  {} ± {} oz  χ² {} (dof {}) p {}{}  (kpi_reconciled)\n",
            num(&r, "ag_recovery_pct", 2, 1.0),
            num(&r, "ag_recovery_ci95_pp", 2, 1.0),
            num(&r, "ag_oz", 0, 1.0),
            num(&r, "ag_oz_ci95", 0, 1.0),
            num(&r, "chi2", 2, 1.0),
            num(&r, "dof", 0, 1.0),
            num(&r, "p_value", 3, 1.0),
            gross.map_or(String::new(), |g| format!("  likely gross error: {g}")),
        );
    }
    Some(out)
}

fn cell<'a>(s: &'a Series, col: &str) -> Option<&'a Value> {
    s.values.first()?.get(s.column(col)?)
}

fn text(s: &Series, col: &str) -> Option<String> {
    cell(s, col)?.as_str().map(str::to_string)
}

fn num(s: &Series, col: &str, decimals: usize, scale: f64) -> String {
    cell(s, col)
        .and_then(Value::as_f64)
        .map_or("–".into(), |v| format!("{:.decimals$}", v * scale))
}
