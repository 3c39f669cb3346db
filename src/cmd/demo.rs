//! `plantgw demo`: the simulator, the gateway and a local InfluxDB in one
//! command, with a live summary in the terminal every two seconds until
//! Ctrl-C or `--duration-s`.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use plantgw::demo::{self, DemoOptions, DEFAULT_CONFIG};
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
        let url = &plan.settings.influx.url;
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
    let running = demo::start(plan, cancel.clone()).await?;
    print!("{}", running.banner());

    let mut every = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = every.tick() => print!("{}", running.summary()),
        }
    }
    print!("{}", running.summary());
    if let Some(left) = running.stop().await? {
        println!("stopped; {left} batches left in the spool for next time");
    }
    drop(influxd);
    Ok(())
}
