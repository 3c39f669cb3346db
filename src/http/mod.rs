//! `/metrics` (Prometheus text) and `/healthz` (200, or 503 with a JSON
//! reason), for the plant's monitoring.
pub mod health;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

pub use health::{Health, HealthReport};

/// Installs the process-wide Prometheus recorder once; later calls return
/// the same handle (tests start several gateways in one process).
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .clone()
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
