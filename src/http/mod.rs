//! `/metrics` (Prometheus text) and `/healthz` (200, or 503 with a JSON
//! reason), for the plant's monitoring.
pub mod health;
pub mod metrics_catalog;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

pub use health::{Health, HealthReport, SinkReport};

/// Installs the process-wide Prometheus recorder once; later calls return
/// the same handle (tests start several gateways in one process).
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = builder()
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()?;
            metrics_catalog::describe();
            start_upkeep(handle.clone());
            Some(handle)
        })
        .clone()
}

/// Scan durations, from a PLC on the same switch (ms) to one answering at
/// its timeout (s).
const SCAN_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

fn builder() -> PrometheusBuilder {
    // Buckets make the scan duration a Prometheus histogram instead of the
    // exporter's default summary: buckets add up across gateways and over
    // any window in PromQL, quantiles of a summary do not.
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(metrics_catalog::SCAN_DURATION.into()),
            &SCAN_BUCKETS,
        )
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "scan duration buckets not set; it is exported as a summary");
            PrometheusBuilder::new()
        })
}

/// Without an exporter thread the recorder keeps every histogram sample
/// until something renders `/metrics`; draining them regularly bounds that
/// memory when nobody scrapes (a gateway running for months unwatched).
fn start_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_secs(5));
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics upkeep thread not started; histogram samples accumulate until /metrics is scraped");
    }
}

pub fn router(metrics: Option<PrometheusHandle>, health: Arc<Health>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    match m {
                        Some(h) => (StatusCode::OK, h.render()).into_response(),
                        None => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "metrics recorder unavailable",
                        )
                            .into_response(),
                    }
                }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let h = health.clone();
                async move {
                    let r = h.report();
                    let code = if r.healthy {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (code, Json(r))
                }
            }),
        )
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    addr: SocketAddr,
    source: std::io::Error,
}

/// Binds (so a port clash fails start-up) and serves until `cancel`; the
/// handle ends once the listener is closed, so a restart can bind again.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    cancel: CancellationToken,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), BindError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| BindError { addr, source })?;
    let task = tokio::spawn(async move {
        let shutdown = async move { cancel.cancelled().await };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "http server stopped");
        }
    });
    Ok((local, task))
}
