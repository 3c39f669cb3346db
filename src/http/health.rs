//! What `/healthz` judges: every PLC answered recently, the historian
//! writer is not stuck (spooled data is being acknowledged), and the disk
//! takes the spool's writes.
//!
//! It also keeps the two delivery counters the `gateway_status` series
//! reports (see `pipeline::self_status`), since the sender already shares
//! it with `/healthz`.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// The disk refusing writes, as `/healthz` and `gateway_status` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoolTrouble {
    pub since: std::time::Instant,
    /// When the disk last refused a write, and with what error.
    pub last: std::time::Instant,
    pub error: String,
    /// Batches waiting in memory.
    pub held: usize,
}

#[derive(Default)]
pub struct Health {
    inner: Mutex<State>,
    /// Lines InfluxDB accepted since start.
    points_written: AtomicU64,
    /// Write requests InfluxDB did not accept since start (any status, or
    /// no answer).
    write_errors: AtomicU64,
}

/// Delivery counters since the gateway started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryCounts {
    pub points_written: u64,
    pub write_errors: u64,
}

#[derive(Default)]
struct State {
    plcs: BTreeMap<String, PlcHealth>,
    /// Per sink (`influxdb`, `nats`): each delivers on its own, so each is
    /// judged on its own.
    sinks: BTreeMap<&'static str, SinkHealth>,
    /// The disk refusing the spool's writes, if it does.
    spool: Option<SpoolTrouble>,
}

#[derive(Default)]
struct SinkHealth {
    /// Last time the sink acknowledged a batch.
    last_ack: Option<Instant>,
    /// Since when unacknowledged data has been waiting, if any.
    pending_since: Option<Instant>,
}

struct PlcHealth {
    scan: Duration,
    last_ok: Option<Instant>,
    registered: Instant,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct HealthReport {
    pub healthy: bool,
    pub reasons: Vec<String>,
    /// Each configured sink (`influxdb`, `nats`) and how its delivery goes;
    /// a sink the configuration does not name never appears.
    pub sinks: BTreeMap<&'static str, SinkReport>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct SinkReport {
    /// Seconds since the sink last acknowledged a batch; `None`: not yet.
    pub last_ack_s: Option<f64>,
    /// Seconds its oldest unacknowledged data has waited; `None`: nothing
    /// waits.
    pub waiting_s: Option<f64>,
}

/// How long the writer may hold data without a single acknowledgement.
const WRITER_STUCK_AFTER: Duration = Duration::from_secs(60);

impl Health {
    pub fn register_plc(&self, name: &str, scan: Duration) {
        if let Ok(mut s) = self.inner.lock() {
            s.plcs.insert(
                name.to_string(),
                PlcHealth {
                    scan,
                    last_ok: None,
                    registered: Instant::now(),
                },
            );
        }
    }

    /// A PLC removed by a reload no longer counts towards health.
    pub fn forget_plc(&self, name: &str) {
        if let Ok(mut s) = self.inner.lock() {
            s.plcs.remove(name);
        }
    }

    pub fn plc_scanned(&self, name: &str, connected: bool) {
        if let Ok(mut s) = self.inner.lock() {
            if let Some(p) = s.plcs.get_mut(name) {
                if connected {
                    p.last_ok = Some(Instant::now());
                }
            }
        }
    }

    pub fn writer_pending(&self, pending: bool) {
        self.sink_pending("influxdb", pending);
    }

    pub fn writer_acked(&self) {
        self.sink_acked("influxdb");
    }

    /// `sink` delivers for this gateway: `/healthz` lists it from now on.
    pub fn register_sink(&self, sink: &'static str) {
        if let Ok(mut s) = self.inner.lock() {
            s.sinks.entry(sink).or_default();
        }
    }

    /// Whether `sink` has spooled data it has not acknowledged.
    pub fn sink_pending(&self, sink: &'static str, pending: bool) {
        if let Ok(mut s) = self.inner.lock() {
            let k = s.sinks.entry(sink).or_default();
            match (pending, k.pending_since) {
                (true, None) => k.pending_since = Some(Instant::now()),
                (false, _) => k.pending_since = None,
                _ => {}
            }
        }
    }

    pub fn sink_acked(&self, sink: &'static str) {
        if let Ok(mut s) = self.inner.lock() {
            s.sinks.entry(sink).or_default().last_ack = Some(Instant::now());
        }
    }

    /// The spool's state: `Some` while the disk refuses its writes.
    pub fn spool_trouble(&self, trouble: Option<SpoolTrouble>) {
        if let Ok(mut s) = self.inner.lock() {
            s.spool = trouble;
        }
    }

    pub fn count_written(&self, points: u64) {
        self.points_written.fetch_add(points, Ordering::Relaxed);
    }

    pub fn count_write_error(&self) {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn delivery_counts(&self) -> DeliveryCounts {
        DeliveryCounts {
            points_written: self.points_written.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
        }
    }

    /// Per PLC: name and seconds since it last answered (None: never).
    pub fn plcs(&self) -> Vec<(String, Option<f64>)> {
        let Ok(s) = self.inner.lock() else {
            return Vec::new();
        };
        let now = Instant::now();
        s.plcs
            .iter()
            .map(|(n, p)| {
                (
                    n.clone(),
                    p.last_ok.map(|t| now.duration_since(t).as_secs_f64()),
                )
            })
            .collect()
    }

    pub fn report(&self) -> HealthReport {
        let Ok(s) = self.inner.lock() else {
            return HealthReport {
                healthy: false,
                reasons: vec!["health state poisoned".into()],
                sinks: BTreeMap::new(),
            };
        };
        let now = Instant::now();
        let mut reasons = Vec::new();
        for (name, p) in &s.plcs {
            // Three missed scans, but never less than 10 s, so one slow
            // answer does not flap the health check.
            let allowed = (p.scan * 3).max(Duration::from_secs(10));
            let since = p.last_ok.unwrap_or(p.registered);
            if now.duration_since(since) > allowed {
                reasons.push(match p.last_ok {
                    Some(t) => format!(
                        "plc {name}: no answer for {:.0} s",
                        now.duration_since(t).as_secs_f64()
                    ),
                    None => format!("plc {name}: has not answered since start"),
                });
            }
        }
        for (name, k) in &s.sinks {
            let Some(since) = k.pending_since else {
                continue;
            };
            let last = k.last_ack.map_or(since, |a| a.max(since));
            let secs = now.duration_since(last).as_secs_f64();
            if now.duration_since(last) > WRITER_STUCK_AFTER {
                reasons.push(match *name {
                    "influxdb" => format!(
                        "writer: no batch accepted by InfluxDB for {secs:.0} s while data is waiting"
                    ),
                    other => format!(
                        "sink {other}: no batch accepted for {secs:.0} s while data is waiting"
                    ),
                });
            }
        }
        if let Some(t) = &s.spool {
            reasons.push(format!(
                "spool: the disk has refused writes since {:.0} s ago, last {:.0} s ago ({}); \
                 {} newest batches wait in memory, the oldest spooled data is dropped while the disk is full",
                t.since.elapsed().as_secs_f64(),
                t.last.elapsed().as_secs_f64(),
                t.error,
                t.held
            ));
        }
        let sinks = s
            .sinks
            .iter()
            .map(|(name, k)| {
                let ago = |t: Instant| now.duration_since(t).as_secs_f64();
                let report = SinkReport {
                    last_ack_s: k.last_ack.map(ago),
                    waiting_s: k.pending_since.map(ago),
                };
                (*name, report)
            })
            .collect();
        HealthReport {
            healthy: reasons.is_empty(),
            reasons,
            sinks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn plc_silence_and_stuck_writer_make_it_unhealthy() {
        let h = Health::default();
        h.register_plc("grinding", Duration::from_secs(1));
        h.plc_scanned("grinding", true);
        assert!(h.report().healthy);
        tokio::time::advance(Duration::from_secs(11)).await;
        let r = h.report();
        assert!(!r.healthy);
        assert!(r.reasons[0].contains("grinding"), "{r:?}");
        h.plc_scanned("grinding", true);
        h.writer_pending(true);
        tokio::time::advance(Duration::from_secs(5)).await;
        h.plc_scanned("grinding", true);
        assert!(h.report().healthy);
        tokio::time::advance(Duration::from_secs(58)).await;
        h.plc_scanned("grinding", true);
        assert!(h.report().reasons.iter().any(|r| r.starts_with("writer")));
        h.writer_acked();
        assert!(h.report().healthy);
    }

    #[tokio::test(start_paused = true)]
    async fn only_sinks_that_deliver_are_listed() {
        let h = Health::default();
        h.register_sink("nats");
        let r = h.report();
        assert_eq!(r.sinks.keys().copied().collect::<Vec<_>>(), ["nats"]);
        assert_eq!(
            r.sinks["nats"],
            SinkReport {
                last_ack_s: None,
                waiting_s: None
            }
        );
        h.sink_pending("nats", true);
        tokio::time::advance(Duration::from_secs(2)).await;
        h.sink_acked("nats");
        h.sink_pending("nats", false);
        tokio::time::advance(Duration::from_secs(1)).await;
        let r = h.report();
        assert_eq!(r.sinks["nats"].last_ack_s, Some(1.0));
        assert_eq!(r.sinks["nats"].waiting_s, None);
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            json.contains(r#""sinks":{"nats":{"last_ack_s":1.0"#),
            "{json}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn each_sink_is_judged_on_its_own() {
        let h = Health::default();
        h.sink_pending("influxdb", true);
        h.sink_pending("nats", true);
        tokio::time::advance(Duration::from_secs(30)).await;
        h.sink_acked("influxdb");
        tokio::time::advance(Duration::from_secs(40)).await;
        h.sink_acked("influxdb");
        let r = h.report();
        assert_eq!(r.reasons.len(), 1, "{r:?}");
        assert!(
            r.reasons[0].starts_with("sink nats: no batch accepted"),
            "{r:?}"
        );
    }
}
