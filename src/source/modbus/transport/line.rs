//! A shared line: one task owns the connection (a serial line, a serial
//! gateway's TCP port, or a Modbus TCP address several `[[plc]]`s name) and
//! answers the requests of every PLC on it one at a time, in the order they
//! come. A gateway or an RS-485 bus answers one request at a time anyway;
//! queueing here keeps each PLC's poller, schedule and quality its own.
//!
//! The line task bounds every request by the requesting PLC's timeout from
//! the moment it goes out, not from when it was queued: a silent unit costs
//! the line its own timeouts and nothing more. After a timeout or an answer
//! that does not fit (another unit's frame, a broken one) the connection is
//! re-made before the next request (a serial port is reopened and its
//! buffers flushed), so a late answer is never taken for the next one's.
//! A request whose poller gave up while it was queued is dropped unsent.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_modbus::client::{Client, Context};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::{Request, Response, Slave};

use super::rtu::{Opener, Received};
use super::{BoxFuture, Call, Connection, Exception, LinkError, ReadResult, Transport};
use crate::config::{LinkKind, Plc};

/// Requests waiting for a line; pollers wait on their own schedule, so a
/// short queue is plenty (one request per PLC at a time).
const QUEUE: usize = 64;

type Answer = Result<Result<Response, Exception>, LinkError>;

struct Job {
    unit: u8,
    request: Request<'static>,
    timeout: Duration,
    reply: oneshot::Sender<Answer>,
}

/// The sending end of a line task; the task ends when the last PLC using
/// the line lets go of it.
struct LineHandle {
    jobs: mpsc::Sender<Job>,
}

/// The open lines, by what identifies a connection: PLCs asking for the
/// same one share its task. Kept by whoever starts the pollers.
#[derive(Clone, Default)]
pub struct Lines {
    open: Arc<Mutex<HashMap<String, Weak<LineHandle>>>>,
}

/// Modbus TCP to a PLC alone on its address, without a request gap, keeps
/// its own connection (no queue to pass through).
pub fn direct(plc: &Plc) -> bool {
    plc.link.transport == LinkKind::Tcp && !plc.link.shared && plc.link.request_gap.is_zero()
}

impl Lines {
    /// A transport over the PLC's line, started if no PLC uses it yet.
    /// Needs a tokio runtime (the line is a task).
    pub fn transport(&self, plc: &Plc) -> Box<dyn Transport> {
        // Everything that drives the connection is in the key: after a
        // reload that changes a line's settings the new pollers get a new
        // line while the old one winds down.
        let key = format!(
            "{} {:?} {:?}",
            plc.line_key(),
            plc.link.transport,
            plc.link.request_gap
        );
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, line| line.strong_count() > 0);
        let line = match open.get(&key).and_then(Weak::upgrade) {
            Some(line) => line,
            None => {
                let line = Arc::new(spawn(plc));
                open.insert(key, Arc::downgrade(&line));
                line
            }
        };
        Box::new(LineTransport {
            line,
            unit: plc.unit_id,
            timeout: plc.timeout,
        })
    }
}

/// A line of its own, for a PLC started without a [`Lines`] registry.
pub fn alone(plc: &Plc) -> Box<dyn Transport> {
    Lines::default().transport(plc)
}

fn spawn(plc: &Plc) -> LineHandle {
    let (jobs, rx) = mpsc::channel(QUEUE);
    let opener = Opener::for_plc(plc);
    let silence = match &plc.link.transport {
        LinkKind::Rtu(line) => line.silence(),
        _ => Duration::ZERO,
    };
    let pause = plc.link.request_gap.max(silence);
    tokio::spawn(run(opener, pause, rx));
    LineHandle { jobs }
}

async fn run(opener: Opener, pause: Duration, mut jobs: mpsc::Receiver<Job>) {
    let mut ctx: Option<(Context, Received)> = None;
    let mut free_at = Instant::now();
    let mut open_failed = false;
    while let Some(job) = jobs.recv().await {
        if job.reply.is_closed() {
            continue;
        }
        tokio::time::sleep_until(free_at).await;
        let answer = call(&opener, &mut ctx, &mut open_failed, &job).await;
        free_at = Instant::now() + pause;
        // The poller may have given up meanwhile; its answer is dropped.
        let _ = job.reply.send(answer);
    }
    if let Some((mut c, _)) = ctx {
        let _ = c.disconnect().await;
    }
}

async fn call(
    opener: &Opener,
    ctx: &mut Option<(Context, Received)>,
    open_failed: &mut bool,
    job: &Job,
) -> Answer {
    if job.unit == 0 && opener.is_rtu() {
        return Err(LinkError::Protocol(
            "unit 0 is broadcast on a serial line; not sent".into(),
        ));
    }
    let (c, received) = match ctx {
        Some(c) => c,
        None => match tokio::time::timeout(job.timeout, opener.open()).await {
            Ok(Ok(c)) => {
                if std::mem::take(open_failed) {
                    tracing::info!(line = %opener, "line open again");
                }
                ctx.insert(c)
            }
            Ok(Err(e)) => {
                if !std::mem::replace(open_failed, true) {
                    tracing::warn!(line = %opener, error = %e, "line cannot be opened");
                }
                return Err(e);
            }
            Err(_) => return Err(LinkError::Timeout(job.timeout)),
        },
    };
    c.set_slave(Slave(job.unit));
    let before = received.get();
    let result = tokio::time::timeout(job.timeout, c.call(job.request.clone())).await;
    let answer = match result {
        Ok(Ok(Ok(response))) => return Ok(Ok(response)),
        Ok(Ok(Err(exception))) => return Ok(Err(Exception(u8::from(exception)))),
        Err(_) if received.get() > before => {
            let bytes = received.get() - before;
            tracing::warn!(
                line = %opener, unit = job.unit, bytes,
                "bytes arrived but no frame with a valid CRC (noise, a CRC error, or a wrong baud rate or parity); re-making the line"
            );
            Err(LinkError::Protocol(format!(
                "{bytes} bytes arrived within {:?} but no frame with a valid CRC",
                job.timeout
            )))
        }
        Err(_) => {
            tracing::debug!(line = %opener, unit = job.unit, timeout = ?job.timeout, "no answer; re-making the line");
            Err(LinkError::Timeout(job.timeout))
        }
        Ok(Err(tokio_modbus::Error::Transport(e))) => {
            tracing::warn!(line = %opener, unit = job.unit, error = %e, "line failed; re-making it");
            Err(LinkError::Io(e))
        }
        Ok(Err(tokio_modbus::Error::Protocol(e))) => {
            tracing::warn!(line = %opener, unit = job.unit, error = %e, "answer discarded; re-making the line");
            Err(LinkError::Protocol(e.to_string()))
        }
    };
    // Out of step: whatever arrives late belongs to no request.
    if let Some((mut c, _)) = ctx.take() {
        let _ = tokio::time::timeout(Duration::from_millis(100), c.disconnect()).await;
    }
    answer
}

struct LineTransport {
    line: Arc<LineHandle>,
    unit: u8,
    timeout: Duration,
}

impl Transport for LineTransport {
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Connection>, LinkError>> {
        // The line task opens the connection when a request needs it; a
        // failure to open is that request's error.
        let conn = LineConnection {
            line: self.line.clone(),
            unit: self.unit,
            timeout: self.timeout,
        };
        Box::pin(async move { Ok(Box::new(conn) as Box<dyn Connection>) })
    }
}

struct LineConnection {
    line: Arc<LineHandle>,
    unit: u8,
    timeout: Duration,
}

impl Call for LineConnection {
    fn call(&mut self, request: Request<'static>) -> BoxFuture<'_, ReadResult<Response>> {
        Box::pin(async move {
            let (reply, answered) = oneshot::channel();
            let job = Job {
                unit: self.unit,
                request,
                timeout: self.timeout,
                reply,
            };
            let gone = || LinkError::Protocol("the line task has ended".into());
            self.line.jobs.send(job).await.map_err(|_| gone())?;
            answered.await.map_err(|_| gone())?
        })
    }

    fn bounds_itself(&self) -> bool {
        true
    }
}
