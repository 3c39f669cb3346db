//! The gateway's own health as an InfluxDB series, so the Grafana "Gateway
//! health" dashboard (which reads InfluxDB, not Prometheus) can show the
//! spool and the write path next to the plant data:
//!
//! `gateway_status,site=<site>` with integer fields, every `every` of wall
//! time, stamped on the plant clock like every other series:
//! - `spool_bytes`, `spool_records`: spool size and batches waiting now;
//! - `spool_dropped_records`: batches deleted because the spool or its disk
//!   was full, since this process opened it;
//! - `spool_degraded`: 1 while the disk refuses the spool's writes (the
//!   newest batches wait in memory), else 0;
//! - `points_written`: lines InfluxDB accepted, since start;
//! - `write_errors`: write requests InfluxDB did not accept, since start.
//!
//! The counters restart at 0 with the gateway; dashboards use
//! `non_negative_difference`/`non_negative_derivative`, which skip the reset.
//!
//! Points go into the writer's input like every other point, each spooled
//! at once with what the writer holds, so they take the same durable path
//! as plant data (an InfluxDB outage
//! shows up afterwards as a rising `spool_records`). The reporter holds a
//! writer input: it must be stopped before the writer can finish.
use std::sync::Arc;
use std::time::Duration;

use plantgw_core::clock::PlantClock;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{HistorianInput, SharedSpool};
use crate::http::health::DeliveryCounts;
use crate::http::Health;
use crate::sink::influxdb::encoder::{check_tag_value, FieldValue, Point};
use crate::spool::SpoolStats;

pub const MEASUREMENT: &str = "gateway_status";

/// Wall time between two points in production.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Reports into `input` until `cancel`; `spool` is only read for its stats.
pub async fn run(
    site: Arc<str>,
    clock: PlantClock,
    input: mpsc::Sender<HistorianInput>,
    spool: SharedSpool,
    health: Arc<Health>,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Only an unwritable site name fails here, and config validation
    // refuses those; say so rather than send points the writer drops.
    if let Err(e) = check_tag_value(&site) {
        tracing::error!(error = %e, "gateway_status cannot be encoded; reporter stopped");
        return;
    }
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        // The spool lock can be held through an fsync; wait for it off the
        // async workers.
        let stats = {
            let spool = spool.clone();
            tokio::task::spawn_blocking(move || spool.stats())
                .await
                .ok()
                .flatten()
        };
        let point = status_point(
            &site,
            clock.now().as_millisecond(),
            stats.as_ref(),
            spool.degraded(),
            health.delivery_counts(),
        );
        // Spooled at once, not after the batch interval: the dashboard sees
        // the gateway from its first seconds, and nobody waits for the
        // confirmation.
        let (spooled, _) = tokio::sync::oneshot::channel();
        let sent = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            sent = input.send(HistorianInput::Durable { points: vec![point], spooled }) => sent,
        };
        if sent.is_err() {
            // The writer is gone: the gateway is stopping or replacing it,
            // and this reporter is stopped or replaced with it.
            tracing::debug!("gateway_status reporter: writer input closed; stopped");
            return;
        }
        metrics::counter!("plantgw_status_reports_total").increment(1);
    }
}

/// One `gateway_status` point. Spool fields are left out when the spool's
/// state could not be read.
pub fn status_point(
    site: &str,
    ts_ms: i64,
    spool: Option<&SpoolStats>,
    degraded: bool,
    counts: DeliveryCounts,
) -> Point {
    let int = |v: u64| FieldValue::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let mut fields = Vec::with_capacity(6);
    if let Some(s) = spool {
        fields.push(("spool_bytes".to_string(), int(s.bytes)));
        fields.push(("spool_records".to_string(), int(s.records)));
        fields.push(("spool_dropped_records".to_string(), int(s.dropped_records)));
        fields.push(("spool_degraded".to_string(), int(u64::from(degraded))));
    }
    fields.push(("points_written".to_string(), int(counts.points_written)));
    fields.push(("write_errors".to_string(), int(counts.write_errors)));
    Point {
        measurement: MEASUREMENT.to_string(),
        tags: vec![("site".to_string(), site.to_string())],
        fields,
        ts_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::writer_task;
    use crate::sink::influxdb::encoder::encode_point;
    use crate::sink::influxdb::ScanEncoder;
    use crate::spool::Spool;

    #[test]
    fn point_holds_spool_and_delivery_counters() {
        let stats = SpoolStats {
            bytes: 4096,
            records: 3,
            dropped_records: 1,
            ..SpoolStats::default()
        };
        let counts = DeliveryCounts {
            points_written: 1234,
            write_errors: 2,
        };
        let mut out = Vec::new();
        encode_point(
            &status_point("caylloma", 1_700_000_000_000, Some(&stats), true, counts),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "gateway_status,site=caylloma points_written=1234i,spool_bytes=4096i,spool_degraded=1i,spool_dropped_records=1i,spool_records=3i,write_errors=2i 1700000000000\n"
        );
        let p = status_point("caylloma", 1, None, false, counts);
        assert_eq!(p.fields.len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reports_into_the_spool_until_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let spool = SharedSpool::new(Spool::open(dir.path(), 1 << 20).unwrap());
        let health = Arc::new(Health::default());
        health.count_written(7);
        health.count_write_error();
        let cancel = CancellationToken::new();
        let (tx, rx) = mpsc::channel(16);
        let writer = tokio::spawn(writer_task(
            rx,
            ScanEncoder::new::<crate::config::Plc>("caylloma", &[]),
            spool.clone(),
            1,
            Duration::from_millis(50),
        ));
        let task = tokio::spawn(run(
            Arc::from("caylloma"),
            PlantClock::wall(),
            tx,
            spool.clone(),
            health.clone(),
            Duration::from_millis(100),
            cancel.clone(),
        ));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while spool.stats().unwrap().records < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no status points spooled"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        // The reporter held the writer's only input: the writer ends.
        tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let first = spool.peek().await.unwrap().unwrap();
        let line = String::from_utf8(first.payload).unwrap();
        assert!(
            line.starts_with("gateway_status,site=caylloma points_written=7i,spool_bytes=")
                && line.contains(",write_errors=1i "),
            "{line}"
        );
    }
}
