//! `plantgw relay`: the fleet's stream into a central InfluxDB (DESIGN
//! §10). Exit status 2 on a bad configuration, 1 when the relay failed.
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::{finish, runtime, signals, USAGE};

pub fn run(path: &Path) -> ExitCode {
    let settings = match plantgw::config::load_relay(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    };
    tracing::info!(
        version = plantgw::telemetry::VERSION,
        commit = plantgw::telemetry::COMMIT,
        "plantgw relay starting"
    );
    finish(runtime().and_then(|rt| {
        rt.block_on(async {
            let cancel = CancellationToken::new();
            signals::on_signals(cancel.clone());
            let health = Arc::new(plantgw::http::Health::default());
            if let Some(addr) = settings.http_listen {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?;
                let app = plantgw::http::router(plantgw::http::prometheus(), health.clone());
                let stop = cancel.clone();
                tokio::spawn(async move {
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async move { stop.cancelled().await })
                        .await;
                    if let Err(e) = served {
                        tracing::error!(error = %e, "relay /metrics listener failed");
                    }
                });
            }
            plantgw::relay::run(settings, health, cancel)
                .await
                .context("relay failed")
        })
    }))
}
