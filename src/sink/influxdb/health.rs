//! Whether InfluxDB is taking writes: one state per episode, logged and
//! exported as gauges on each change, not per attempt.
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;

/// Whether InfluxDB is taking writes, shared between the sender and
/// `/healthz`. Cheap to clone.
#[derive(Clone, Default)]
pub struct WriterHealth {
    inner: Arc<Mutex<HealthInner>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriterState {
    /// Last request answered (or none made yet).
    #[default]
    Up,
    /// Unreachable, overloaded or failing; data waits in the spool.
    Down,
    /// Credentials, org, bucket or database rejected (401/403/404), or the
    /// URL answered like something other than InfluxDB: needs a person;
    /// data waits in the spool.
    AuthFailed,
}

#[derive(Default)]
struct HealthInner {
    state: WriterState,
    since: Option<Instant>,
    failed_requests: u64,
}

impl std::fmt::Debug for WriterHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WriterHealth").field(&self.state()).finish()
    }
}

impl WriterHealth {
    pub fn state(&self) -> WriterState {
        self.lock().state
    }

    /// True while writes are failing: the writer is stuck and the spool grows.
    pub fn is_stuck(&self) -> bool {
        self.state() != WriterState::Up
    }

    /// A std mutex held for a few assignments, never across an await; a
    /// poisoned lock still holds consistent plain data.
    fn lock(&self) -> MutexGuard<'_, HealthInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The server answered (2xx, or rejected data, which also proves it up).
    pub(super) fn answered(&self) {
        let mut h = self.lock();
        if h.state != WriterState::Up {
            let down_for = h.since.map(|s| s.elapsed()).unwrap_or_default();
            tracing::info!(
                down_for = ?down_for,
                failed_requests = h.failed_requests,
                "InfluxDB is accepting writes again; spooled data is being delivered"
            );
            h.state = WriterState::Up;
            h.since = Some(Instant::now());
            h.failed_requests = 0;
        }
        drop(h);
        set_gauges(WriterState::Up);
    }

    pub(super) fn down(&self, reason: &str) {
        self.failing(WriterState::Down, || {
            tracing::warn!(
                reason = %reason,
                "InfluxDB is not accepting writes; data stays in the spool and is retried with backoff"
            );
        });
    }

    pub(super) fn auth_failed(&self, status: u16, message: &str) {
        self.failing(WriterState::AuthFailed, || {
            tracing::error!(
                status,
                message = %message,
                "InfluxDB refused the writes (check influxdb token, username/password, org, bucket or database); \
                 data stays in the spool and is retried"
            );
        });
    }

    pub(super) fn misdirected(&self, status: u16, message: &str) {
        self.failing(WriterState::AuthFailed, || {
            tracing::error!(
                status,
                message = %message,
                "the server at influxdb.url is not InfluxDB's write endpoint (InfluxDB answers 204); \
                 check influxdb.url and any proxy in front of it; data stays in the spool and is retried"
            );
        });
    }

    /// Counts a failed request; on entering `state`, logs once (`announce`).
    fn failing(&self, state: WriterState, announce: impl FnOnce()) {
        let mut h = self.lock();
        h.failed_requests += 1;
        if h.state != state {
            announce();
            h.state = state;
            h.since = Some(Instant::now());
        }
        drop(h);
        set_gauges(state);
    }
}

fn set_gauges(s: WriterState) {
    metrics::gauge!("plantgw_influx_up").set(if s == WriterState::Up { 1.0 } else { 0.0 });
    metrics::gauge!("plantgw_influx_auth_failed").set(if s == WriterState::AuthFailed {
        1.0
    } else {
        0.0
    });
}
