//! The historian stage as the supervisor runs it: the spool, the writer
//! that fills it, the sender that empties it, and the `gateway_status`
//! reporter. Parts can be replaced while the others keep running.
use std::sync::Arc;

use plantgw_core::clock::PlantClock;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::critical::{Critical, Watch};
use super::{AppError, RunOptions};
use crate::config::{self, Settings};
use crate::http::Health;
use crate::pipeline::{sender_task, writer_task, HistorianInput, PipelineError, SharedSpool};
use crate::sink::influxdb::{InfluxClient, ScanEncoder};
use crate::sink::nats::NatsSink;
use crate::sink::Sink;
use crate::spool::{Spool, SpoolOptions};

/// Room for scans while a writer is being replaced.
const INPUT_CAPACITY: usize = 1024;

/// The spool cursors a configuration needs: one per sink, so a record
/// stays until every configured sink has it.
pub(crate) fn sink_names(settings: &Settings) -> Vec<&'static str> {
    let mut names = Vec::new();
    if settings.influx.is_some() {
        names.push("influxdb");
    }
    if settings.nats.is_some() {
        names.push("nats");
    }
    names
}

pub(crate) async fn open_spool(
    s: &config::Spool,
    sinks: Vec<&'static str>,
) -> Result<SharedSpool, AppError> {
    let (dir, max) = (s.dir.clone(), s.max_bytes);
    let spool =
        tokio::task::spawn_blocking(move || Spool::open_for(&dir, SpoolOptions::new(max), &sinks))
            .await
            .map_err(PipelineError::from)?
            .map_err(|source| AppError::Spool {
                dir: s.dir.display().to_string(),
                source,
            })?;
    Ok(SharedSpool::new(spool))
}

struct SenderSlot {
    task: Critical,
    drain: CancellationToken,
}

pub(crate) struct Historian {
    pub spool: SharedSpool,
    pub spool_settings: config::Spool,
    writer: Critical,
    /// Replaced writers still spooling what they held.
    retired: Vec<Critical>,
    /// The InfluxDB sink's sender, with `[influxdb]`.
    sender: Option<SenderSlot>,
    /// The JetStream sink's sender, with `[nats]`; its settings change only
    /// with a restart (the spool's cursors are fixed when it opens).
    nats: Option<SenderSlot>,
    /// The current writer's input, for a new reporter; weak, so it never
    /// keeps the writer from ending.
    input: mpsc::WeakSender<HistorianInput>,
    status: (CancellationToken, JoinHandle<()>),
}

pub(crate) struct Parts<'a> {
    pub settings: &'a Settings,
    pub clock: PlantClock,
    pub opts: &'a RunOptions,
    pub health: &'a Arc<Health>,
    pub watch: &'a Watch,
}

impl Historian {
    /// Starts writer, senders and reporter on `spool`; returns the
    /// writer's input. `client` is the `[influxdb]` sink's, when configured.
    pub fn start(
        spool: SharedSpool,
        client: Option<InfluxClient>,
        p: &Parts<'_>,
    ) -> (Historian, mpsc::Sender<HistorianInput>) {
        let (writer, input) = spawn_writer(&spool, p);
        let sender = client.map(|c| spawn_sender(&spool, c, p));
        let nats = p
            .settings
            .nats
            .clone()
            .map(|n| spawn_sender_of(&spool, NatsSink::new(n), "nats sender", p));
        let status = spawn_status(&spool, input.clone(), p);
        (
            Historian {
                spool,
                spool_settings: p.settings.spool.clone(),
                writer,
                retired: Vec::new(),
                sender,
                nats,
                input: input.downgrade(),
                status,
            },
            input,
        )
    }

    /// A new writer on the same spool (the tag list or batching changed).
    /// The old one spools what it holds once its input is dropped; the
    /// reporter, which holds an input too, moves to the new writer.
    pub fn replace_writer(&mut self, p: &Parts<'_>) -> mpsc::Sender<HistorianInput> {
        self.retired.retain(|w| !w.is_finished());
        let (writer, input) = spawn_writer(&self.spool, p);
        let old = std::mem::replace(&mut self.writer, writer);
        old.plan_end();
        self.retired.push(old);
        self.input = input.downgrade();
        self.restart_status(input.clone(), p);
        input
    }

    /// A new sender with a new client (the `[influxdb]` target changed).
    /// The old one is stopped where it is: a batch it was delivering stays
    /// spooled and goes again, which InfluxDB stores once (same points).
    pub async fn replace_sender(&mut self, client: InfluxClient, p: &Parts<'_>) {
        let new = spawn_sender(&self.spool, client, p);
        if let Some(old) = self.sender.replace(new) {
            old.task.abort().await;
            old.drain.cancel();
        }
    }

    /// A new `gateway_status` reporter (the site name changed).
    pub fn replace_status(&mut self, p: &Parts<'_>) {
        // No live input means the writer is ending: so is the gateway.
        if let Some(input) = self.input.upgrade() {
            self.restart_status(input, p);
        }
    }

    fn restart_status(&mut self, input: mpsc::Sender<HistorianInput>, p: &Parts<'_>) {
        let old = std::mem::replace(&mut self.status, spawn_status(&self.spool, input, p));
        old.0.cancel();
    }

    /// Plans the writers' end: their input is about to close.
    pub fn plan_end(&self) {
        self.writer.plan_end();
    }

    /// Stops the reporter, waits for the writers (their other inputs must
    /// be closed), then lets the sender deliver for its grace period.
    pub async fn shutdown(self) -> Result<(), AppError> {
        // The reporter holds a writer input; the writer ends once it is gone.
        self.status.0.cancel();
        let _ = self.status.1.await;
        let mut written = Ok(());
        for w in self.retired.into_iter().chain(std::iter::once(self.writer)) {
            let r = w.join().await;
            if written.is_ok() {
                written = r;
            }
        }
        if let Some(s) = &self.sender {
            s.drain.cancel();
        }
        if let Some(n) = &self.nats {
            // It drains alongside the InfluxDB sender and may end first.
            n.task.plan_end();
            n.drain.cancel();
        }
        let sent = match self.sender {
            Some(s) => s.task.join().await,
            None => Ok(()),
        };
        let published = match self.nats {
            Some(n) => n.task.join().await,
            None => Ok(()),
        };
        written?;
        sent?;
        published
    }
}

fn spawn_writer(spool: &SharedSpool, p: &Parts<'_>) -> (Critical, mpsc::Sender<HistorianInput>) {
    let (tx, rx) = mpsc::channel(INPUT_CAPACITY);
    let s = p.settings;
    let encoder = ScanEncoder::new(&s.site.name, &s.plcs);
    let batching = s.batching();
    let task = Critical::spawn(
        "historian writer",
        p.watch,
        writer_task(
            rx,
            encoder,
            spool.clone(),
            batching.batch_size,
            batching.flush_interval,
        ),
    );
    (task, tx)
}

fn spawn_sender(spool: &SharedSpool, client: InfluxClient, p: &Parts<'_>) -> SenderSlot {
    spawn_sender_of(spool, client, "historian sender", p)
}

fn spawn_sender_of<S: Sink>(
    spool: &SharedSpool,
    sink: S,
    name: &'static str,
    p: &Parts<'_>,
) -> SenderSlot {
    let drain = CancellationToken::new();
    let task = Critical::spawn(
        name,
        p.watch,
        sender_task(
            sink,
            spool.clone(),
            p.health.clone(),
            drain.clone(),
            p.opts.drain_grace,
        ),
    );
    SenderSlot { task, drain }
}

/// The gateway's own health as an InfluxDB series, for the Gateway health dashboard.
fn spawn_status(
    spool: &SharedSpool,
    input: mpsc::Sender<HistorianInput>,
    p: &Parts<'_>,
) -> (CancellationToken, JoinHandle<()>) {
    let cancel = CancellationToken::new();
    let task = tokio::spawn(crate::pipeline::self_status::run(
        p.settings.site.name.clone(),
        p.clock,
        input,
        spool.clone(),
        p.health.clone(),
        p.opts.status_interval,
        cancel.clone(),
    ));
    (cancel, task)
}
