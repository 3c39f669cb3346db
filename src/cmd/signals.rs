//! Signals, for the commands: SIGTERM and SIGINT become a cancellation,
//! SIGHUP a reload request. Only the binary installs signal handlers; the
//! library takes the token and the channel.
use tokio_util::sync::CancellationToken;

pub fn on_signals(cancel: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = ctrl_c => tracing::info!("SIGINT received"),
                        _ = term.recv() => tracing::info!("SIGTERM received"),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                    let _ = ctrl_c.await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        cancel.cancel();
    });
}

/// SIGHUP as a stream of reload requests (unix only; elsewhere none come).
pub fn reload_requests() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    tokio::spawn(async move {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(mut hup) => {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP received");
                    // A reload already pending covers this one too.
                    let _ = tx.try_send(());
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP; reload disabled"),
        }
    });
    #[cfg(not(unix))]
    drop(tx);
    rx
}
