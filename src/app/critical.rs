//! Tasks the gateway cannot work without (writer, sender, router, HTTP
//! server). Each reports on a shared channel when it fails, panics, or ends
//! before its end was planned, so the supervisor can stop the process with a
//! non-zero status instead of living on without acquiring anything.
use std::future::Future;

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;

use super::AppError;

/// A critical task that ended outside a planned stop, or failed.
#[derive(Debug, Clone)]
pub(crate) struct Ended {
    pub task: &'static str,
    pub reason: String,
}

pub(crate) type Watch = mpsc::UnboundedSender<Ended>;

pub(crate) struct Critical {
    name: &'static str,
    handle: JoinHandle<Result<(), String>>,
    planned: CancellationToken,
}

/// Aborts the inner task when the watching task is aborted, so
/// [`Critical::abort`] stops the work itself and not only its watcher.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Critical {
    pub fn spawn<F, E>(name: &'static str, watch: &Watch, work: F) -> Critical
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let planned = CancellationToken::new();
        let mut inner = AbortOnDrop(tokio::spawn(work));
        let (plan, watch) = (planned.clone(), watch.clone());
        let handle = tokio::spawn(async move {
            let result = match (&mut inner.0).await {
                Ok(Ok(())) if plan.is_cancelled() => Ok(()),
                Ok(Ok(())) => Err("ended on its own".to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(join_reason(e)),
            };
            if let Err(reason) = &result {
                // Nobody listens any more once the supervisor is stopping;
                // the error is returned from `join` then.
                let _ = watch.send(Ended {
                    task: name,
                    reason: reason.clone(),
                });
            }
            result
        });
        Critical {
            name,
            handle,
            planned,
        }
    }

    /// From now on the task may end without that being a failure (its
    /// input is about to close).
    pub fn plan_end(&self) {
        self.planned.cancel();
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the task; its end is planned from here.
    pub async fn join(self) -> Result<(), AppError> {
        self.planned.cancel();
        match self.handle.await {
            Ok(r) => r.map_err(|reason| AppError::Task {
                task: self.name,
                reason,
            }),
            Err(e) => Err(AppError::Task {
                task: self.name,
                reason: join_reason(e),
            }),
        }
    }

    /// Stops the task where it is (it must be safe to stop at any await).
    pub async fn abort(self) {
        self.planned.cancel();
        self.handle.abort();
        let _ = self.handle.await;
    }
}

/// What a failed join means, with the panic message when it was a panic.
pub(crate) fn join_reason(e: JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => format!("panicked: {}", panic_message(payload.as_ref())),
        Err(e) => e.to_string(),
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}
