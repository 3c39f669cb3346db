//! The writer task: encodes scans and points, batches them and spools the
//! batches (fsynced) for the sender.
use std::time::Duration;

use tokio::sync::mpsc;

use super::batcher::Batcher;
use super::{HistorianInput, PipelineError, SharedSpool};
use crate::sink::influxdb::encoder::{encode_point, Point};
use crate::sink::influxdb::ScanEncoder;

/// How often the writer retries the disk while batches wait in memory and
/// no new input arrives; the backlog's own backoff decides whether it does.
const RETRY_TICK: Duration = Duration::from_millis(250);

/// Encodes, batches and spools everything sent on `rx` until the channel
/// closes (all producers gone), then spools what is left and returns. A
/// disk refusing writes does not stop it (see [`super::backlog`]).
pub async fn writer_task(
    mut rx: mpsc::Receiver<HistorianInput>,
    mut encoder: ScanEncoder,
    spool: SharedSpool,
    batch_size: usize,
    flush_interval: Duration,
) -> Result<(), PipelineError> {
    let mut batcher = Batcher::new(batch_size, flush_interval);
    loop {
        let deadline = batcher.deadline();
        let retry = spool
            .degraded()
            .then(|| tokio::time::Instant::now() + RETRY_TICK);
        let input = tokio::select! {
            input = rx.recv() => input,
            _ = sleep_until_opt(deadline) => {
                if let Some(b) = batcher.take() {
                    spool.append(b).await?;
                }
                continue;
            }
            _ = sleep_until_opt(retry) => {
                spool.retry(false).await?;
                continue;
            }
        };
        let Some(input) = input else { break };
        let (full, spooled) = match input {
            HistorianInput::Scan(scan) => (batcher.append(|out| encoder.encode(&scan, out)), None),
            HistorianInput::Points(points) => {
                (batcher.append(|out| encode_points(&points, out)), None)
            }
            HistorianInput::Durable { points, spooled } => (
                batcher.append(|out| encode_points(&points, out)),
                Some(spooled),
            ),
        };
        if let Some(b) = full {
            spool.append(b).await?;
        }
        if let Some(spooled) = spooled {
            if let Some(b) = batcher.take() {
                spool.append(b).await?;
            }
            // A durable batch tries the disk now rather than after the backoff.
            let on_disk = spool.retry(true).await?;
            // Held in memory is not durable: the dropped sender tells the
            // KPI task so, and the day is closed again after a restart.
            if on_disk {
                let _ = spooled.send(());
            }
        }
    }
    if let Some(b) = batcher.take() {
        spool.append(b).await?;
    }
    spool.retry(true).await?;
    let held = spool.held();
    if held > 0 {
        tracing::error!(
            batches = held,
            "shutting down while the disk refuses the spool: batches held in memory are lost"
        );
    }
    Ok(())
}

fn encode_points(points: &[Point], out: &mut Vec<u8>) -> usize {
    let mut n = 0;
    for p in points {
        match encode_point(p, out) {
            Ok(()) => n += 1,
            Err(e) => tracing::warn!(measurement = %p.measurement, error = %e, "point not written"),
        }
    }
    n
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
