//! The Modbus TCP listener of one PLC: accepts many clients, answers their
//! requests in order, and misbehaves on purpose while a scenario's comms
//! fault is in force (silence, slow answers, exceptions, dropped links).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_modbus::ExceptionCode;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::frame::{self, Header, Split};
use crate::scenario::CommsMode;
use crate::service::PlcService;

/// Connections served at once per PLC; more are accepted and closed, so a
/// runaway client cannot exhaust file descriptors.
pub const MAX_CONNECTIONS: usize = 256;

/// What to do about one received frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Nothing to send (broadcast, foreign protocol id, silent fault).
    Nothing,
    /// Send this ADU, after waiting `delay` (slow fault).
    Send { adu: Vec<u8>, delay: Duration },
    /// Drop the connection.
    Close,
}

/// The reply to one framed request, given the fault in force.
pub fn reply(service: &PlcService, header: Header, pdu: &[u8]) -> Reply {
    // A frame of another protocol on port 502 is discarded, per the spec.
    if header.protocol_id != 0 {
        return Reply::Nothing;
    }
    let fault = service.state().fault();
    let pdu_out = match fault {
        Some(CommsMode::Disconnect) => return Reply::Close,
        Some(CommsMode::Silent) => return Reply::Nothing,
        Some(CommsMode::Exception { code }) => match pdu.first() {
            Some(&function) if header.unit_id != 0 => {
                Some(frame::exception_pdu(function, ExceptionCode::new(code)))
            }
            _ => None,
        },
        Some(CommsMode::Slow { .. }) | None => service.respond(header.unit_id, pdu),
    };
    let delay = match fault {
        Some(CommsMode::Slow { delay_ms }) => Duration::from_millis(delay_ms),
        _ => Duration::ZERO,
    };
    match pdu_out {
        Some(pdu) => Reply::Send {
            adu: frame::encode_adu(&header, &pdu),
            delay,
        },
        None => Reply::Nothing,
    }
}

/// Take every complete frame off the front of `buf` and decide the replies.
/// Returns the replies in order; a `Close` ends the list.
pub fn drain_frames(service: &PlcService, buf: &mut Vec<u8>) -> Vec<Reply> {
    let mut replies = Vec::new();
    loop {
        let (len, r) = match frame::split_adu(buf) {
            Split::Incomplete => break,
            Split::Desync => {
                replies.push(Reply::Close);
                break;
            }
            Split::Frame { header, pdu, len } => (len, reply(service, header, pdu)),
        };
        buf.drain(..len);
        let close = r == Reply::Close;
        replies.push(r);
        if close {
            break;
        }
    }
    replies
}

/// Accept clients until cancelled.
pub async fn serve(
    listener: TcpListener,
    service: PlcService,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let plc = service.state().name.clone();
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Usually EMFILE or a connection reset before accept: back off briefly.
                tracing::warn!(plc = %plc, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if service.state().fault() == Some(CommsMode::Disconnect) {
            tracing::debug!(plc = %plc, %peer, "refusing connection (comms fault)");
            continue;
        }
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(plc = %plc, %peer, "too many connections; closing");
            continue;
        };
        tracing::debug!(plc = %plc, %peer, "client connected");
        let service = service.clone();
        let cancel = cancel.clone();
        tracker.spawn(async move {
            connection(stream, &service, &cancel).await;
            drop(permit);
        });
    }
}

async fn connection(mut stream: TcpStream, service: &PlcService, cancel: &CancellationToken) {
    // Requests and answers are small; Nagle would only add latency.
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        for r in drain_frames(service, &mut buf) {
            match r {
                Reply::Nothing => {}
                Reply::Close => return,
                Reply::Send { adu, delay } => {
                    if !delay.is_zero() {
                        tokio::select! {
                            () = cancel.cancelled() => return,
                            () = tokio::time::sleep(delay) => {}
                        }
                    }
                    if stream.write_all(&adu).await.is_err() {
                        return;
                    }
                }
            }
        }
        let n = tokio::select! {
            () = cancel.cancelled() => return,
            r = stream.read(&mut chunk) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
        };
        buf.extend_from_slice(&chunk[..n]);
    }
}
