//! The poller tasks, one per PLC, kept running across reloads when their
//! PLC is unchanged, and restarted when one panics: a bug hit by one PLC's
//! data must not end that PLC's acquisition for good.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use plantgw_core::clock::PlantClock;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::critical::panic_message;
use crate::config::Plc;
use crate::http::Health;
use crate::sample::Scan;
use crate::source::modbus::poller::Poller;
use crate::source::modbus::transport::Lines;

/// Wait before restarting a panicked poller, doubling while it keeps
/// panicking soon after each start, so a panic on every scan does not spin.
const RESTART_MIN: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(30);
/// A poller that ran this long before panicking starts again from `RESTART_MIN`.
const RAN_WELL: Duration = Duration::from_secs(60);

/// Called with the PLC name as each poller task starts. Only tests set it,
/// to make a poller panic for real inside its task; `plantgw run` never
/// does (there is no configuration or environment switch for it).
#[derive(Clone)]
pub struct FaultHook(pub Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for FaultHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultHook")
    }
}

struct Slot {
    plc: Arc<Plc>,
    cancel: CancellationToken,
    task: tokio::task::Id,
    started: Instant,
    backoff: Duration,
}

/// What a reload changed in the poller set.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PollerChanges {
    pub kept: usize,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

pub(crate) struct Pollers {
    clock: PlantClock,
    scans: mpsc::Sender<Scan>,
    fault: Option<FaultHook>,
    /// PLCs naming one connection (address or serial device) share it.
    lines: Lines,
    set: JoinSet<()>,
    slots: HashMap<Arc<str>, Slot>,
}

impl Pollers {
    pub fn new(clock: PlantClock, scans: mpsc::Sender<Scan>, fault: Option<FaultHook>) -> Self {
        Pollers {
            clock,
            scans,
            fault,
            lines: Lines::default(),
            set: JoinSet::new(),
            slots: HashMap::new(),
        }
    }

    pub fn start(&mut self, plc: &Arc<Plc>, health: &Health) {
        health.register_plc(&plc.name, plc.scan);
        let plc = plc.clone();
        let (cancel, task) = self.spawn(plc.clone(), Duration::ZERO);
        self.slots.insert(
            plc.name.clone(),
            Slot {
                plc,
                cancel,
                task,
                started: Instant::now(),
                backoff: RESTART_MIN,
            },
        );
    }

    fn spawn(&mut self, plc: Arc<Plc>, delay: Duration) -> (CancellationToken, tokio::task::Id) {
        let cancel = CancellationToken::new();
        let (token, clock, scans, fault, lines) = (
            cancel.clone(),
            self.clock,
            self.scans.clone(),
            self.fault.clone(),
            self.lines.clone(),
        );
        let handle = self.set.spawn(async move {
            if !delay.is_zero() {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            if let Some(f) = fault {
                (f.0)(&plc.name);
            }
            Poller::on_lines(plc, &lines, clock, scans).run(token).await
        });
        (cancel, handle.id())
    }

    /// Makes the running set match `plcs`: an unchanged PLC keeps its
    /// task (and its scan schedule), a changed one is restarted.
    pub fn reconcile(&mut self, plcs: &[Arc<Plc>], health: &Health) -> PollerChanges {
        let mut changes = PollerChanges::default();
        let wanted: HashMap<&str, &Plc> = plcs.iter().map(|p| (&*p.name, &**p)).collect();
        let gone: Vec<Arc<str>> = self
            .slots
            .iter()
            .filter(|(name, slot)| {
                wanted
                    .get(&***name)
                    .is_none_or(|p| !super::same(*p, &*slot.plc))
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Some(slot) = self.slots.remove(&name) {
                slot.cancel.cancel();
                if wanted.contains_key(&*name) {
                    changes.changed += 1;
                } else {
                    health.forget_plc(&name);
                    changes.removed += 1;
                }
            }
        }
        for plc in plcs {
            if self.slots.contains_key(&plc.name) {
                changes.kept += 1;
            } else {
                self.start(plc, health);
            }
        }
        changes.added = plcs.len().saturating_sub(changes.kept + changes.changed);
        changes
    }

    /// Waits for the next poller task to end and restarts it if it
    /// panicked. Never completes while no poller runs.
    pub async fn supervise(&mut self) {
        let Some(ended) = self.set.join_next_with_id().await else {
            return std::future::pending().await;
        };
        let Err(e) = ended else { return };
        let id = e.id();
        if !e.is_panic() {
            return;
        }
        let message = e
            .try_into_panic()
            .map(|p| panic_message(p.as_ref()))
            .unwrap_or_default();
        let Some(name) = self
            .slots
            .iter()
            .find(|(_, s)| s.task == id)
            .map(|(n, _)| n.clone())
        else {
            // A poller already stopped by a reload: nothing to restart.
            tracing::error!(panic = %message, "a stopped poller panicked");
            return;
        };
        let Some(slot) = self.slots.get(&name) else {
            return;
        };
        let delay = if slot.started.elapsed() >= RAN_WELL {
            RESTART_MIN
        } else {
            slot.backoff
        };
        let plc = slot.plc.clone();
        tracing::error!(plc = %name, panic = %message, restart_in_ms = delay.as_millis() as u64, "poller panicked; restarting it");
        metrics::counter!("plantgw_poller_restarts_total", "plc" => name.to_string()).increment(1);
        let (cancel, task) = self.spawn(plc, delay);
        if let Some(slot) = self.slots.get_mut(&name) {
            slot.cancel = cancel;
            slot.task = task;
            slot.started = Instant::now() + delay;
            slot.backoff = (delay * 2).min(RESTART_MAX);
        }
    }

    /// Stops every poller and waits for them; the scan channel closes.
    pub async fn shutdown(self) {
        let Pollers {
            mut set,
            scans,
            slots,
            ..
        } = self;
        drop(scans);
        for slot in slots.values() {
            slot.cancel.cancel();
        }
        while set.join_next().await.is_some() {}
    }
}
