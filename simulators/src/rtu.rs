//! Modbus RTU: every simulated PLC as one unit on a serial bus, served on a
//! pty (a serial device the gateway opens like `/dev/ttyUSB0`) or on a TCP
//! port speaking RTU frames, as a serial-to-Ethernet gateway does.
//!
//! Frames are found by their length (known from the function code) and
//! checked by CRC; a frame that fails is shifted off byte by byte until one
//! fits, and a partial frame is dropped after a silence, as a bus device
//! resynchronises. A frame for a unit not on the bus, or for unit 0
//! (broadcast), gets no answer, like an RS-485 bus. Faults (silent, slow,
//! exception) apply per unit as on TCP.
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::frame::Header;
use crate::server::{self, Reply};
use crate::service::PlcService;

/// A partial frame older than this is noise: dropped.
const RESYNC_SILENCE: Duration = Duration::from_millis(50);
const MBAP_LEN: usize = 7;

/// The units of one bus: each PLC's service under its bus unit id.
#[derive(Clone)]
pub struct Bus {
    units: Vec<(u8, PlcService)>,
}

impl Bus {
    /// PLCs keep their unit ids when these are distinct; otherwise (the
    /// built-in plant has unit 1 everywhere) they are numbered 1, 2, 3… in
    /// map order.
    pub fn new(services: Vec<PlcService>) -> Bus {
        let mut ids: Vec<u8> = services.iter().map(|s| s.state().unit_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let keep = ids.len() == services.len() && !ids.contains(&0);
        let units = services
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let id = if keep {
                    s.state().unit_id
                } else {
                    u8::try_from(i + 1).unwrap_or(u8::MAX)
                };
                (id, s)
            })
            .collect();
        Bus { units }
    }

    /// (PLC name, bus unit id), for logs and `--help`'s promise.
    pub fn units(&self) -> Vec<(String, u8)> {
        self.units
            .iter()
            .map(|(id, s)| (s.state().name.clone(), *id))
            .collect()
    }

    /// The answer frame to one request frame (unit, PDU), with its delay.
    fn answer(&self, unit: u8, pdu: &[u8]) -> Option<(Vec<u8>, Duration)> {
        let (_, service) = self.units.iter().find(|(id, _)| *id == unit && unit != 0)?;
        // The TCP server's reply (faults included), re-framed for RTU.
        let header = Header {
            transaction_id: 0,
            protocol_id: 0,
            unit_id: service.state().unit_id,
        };
        match server::reply(service, header, pdu) {
            Reply::Send { adu, delay } => {
                let mut out = Vec::with_capacity(adu.len());
                out.push(unit);
                out.extend_from_slice(adu.get(MBAP_LEN..)?);
                let crc = crc16(&out);
                out.extend_from_slice(&crc.to_le_bytes());
                Some((out, delay))
            }
            Reply::Nothing | Reply::Close => None,
        }
    }
}

/// CRC-16/MODBUS.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// What the front of a receive buffer holds.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    Incomplete,
    /// A request of `len` bytes whose CRC is right.
    Frame(usize),
    /// No request starts at the first byte.
    Noise,
}

/// Request lengths by function: the read and single-write functions are
/// fixed, the multiple writes carry a byte count.
fn find(buf: &[u8]) -> Found {
    let (Some(&function), len) = (buf.get(1), buf.len()) else {
        return Found::Incomplete;
    };
    let need = match function {
        1..=6 => 8,
        15 | 16 => match buf.get(6) {
            Some(&n) => 9 + usize::from(n),
            None => return Found::Incomplete,
        },
        _ => return Found::Noise,
    };
    if len < need {
        return Found::Incomplete;
    }
    let crc = u16::from_le_bytes([buf[need - 2], buf[need - 1]]);
    if crc16(&buf[..need - 2]) == crc {
        Found::Frame(need)
    } else {
        Found::Noise
    }
}

/// Takes every whole request off the front of `buf`, dropping noise.
fn drain(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    loop {
        match find(buf) {
            Found::Incomplete => return frames,
            Found::Noise => {
                buf.remove(0);
            }
            Found::Frame(len) => frames.push(buf.drain(..len).collect()),
        }
    }
}

/// Something that moves bytes: a pty master or a TCP stream.
trait Wire {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
}

impl Wire for tokio::net::TcpStream {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        AsyncReadExt::read(self, buf).await
    }
    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        AsyncWriteExt::write_all(self, buf).await
    }
}

/// Answers requests on `wire` until it closes or `cancel`.
async fn serve_wire(mut wire: impl Wire, bus: &Bus, cancel: &CancellationToken) {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        for frame in drain(&mut buf) {
            let (unit, pdu) = (frame[0], &frame[1..frame.len() - 2]);
            let Some((answer, delay)) = bus.answer(unit, pdu) else {
                continue;
            };
            if !delay.is_zero() {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
            if wire.write_all(&answer).await.is_err() {
                return;
            }
        }
        let read = tokio::select! {
            () = cancel.cancelled() => return,
            r = tokio::time::timeout(RESYNC_SILENCE, wire.read(&mut chunk)) => r,
        };
        match read {
            // Silence: whatever partial frame is held will not be finished.
            Err(_) => buf.clear(),
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Serves the bus on a TCP port, RTU frames on every connection.
pub async fn serve_tcp(
    listener: TcpListener,
    bus: Bus,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let (bus, cancel) = (bus.clone(), cancel.clone());
                tracker.spawn(async move { serve_wire(stream, &bus, &cancel).await });
            }
            Err(e) => {
                tracing::warn!(error = %e, "RTU over TCP: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The master side of a pty whose slave a client opens as a serial device.
pub struct Pty {
    master: AsyncFd<OwnedFd>,
    /// Held open so the master does not read EIO while no client has the
    /// device open.
    _slave: OwnedFd,
    link: PathBuf,
}

impl Pty {
    /// Opens a pty pair and links `link` to its slave device.
    pub fn open(link: &Path) -> io::Result<Pty> {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes two fds into the out-pointers, which point
        // at live locals; name, termios and winsize may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: openpty succeeded, so both fds are open and ours alone.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        raw(&slave)?;
        // SAFETY: plain fcntl flag calls on an fd we own.
        let flags = unsafe { libc::fcntl(master.as_raw_fd(), libc::F_GETFL) };
        if flags < 0
            || unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) }
                < 0
        {
            return Err(io::Error::last_os_error());
        }
        let device = std::fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd()))?;
        if link
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            std::fs::remove_file(link)?;
        }
        std::os::unix::fs::symlink(&device, link)?;
        // SAFETY: the OwnedFd is valid and moves into the AsyncFd, which
        // alone closes it.
        let master = unsafe { AsyncFd::register(master)? };
        Ok(Pty {
            master,
            _slave: slave,
            link: link.to_path_buf(),
        })
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.link);
    }
}

/// No echo, no line editing, no character translation: bytes as sent.
fn raw(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: termios is plain data; tcgetattr fills it before use.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open; t is a valid termios.
    unsafe {
        if libc::tcgetattr(fd.as_raw_fd(), &mut t) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut t);
        if libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &t) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

impl Wire for &Pty {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.master.readable().await?;
            // SAFETY: buf is valid for buf.len() bytes.
            let r = ready.try_io(|fd| {
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match r {
                // EIO: the last client closed the device; wait for the next.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(result) => return result,
                Err(_would_block) => {}
            }
        }
    }

    async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let mut ready = self.master.writable().await?;
            // SAFETY: buf is valid for buf.len() bytes.
            let r = ready.try_io(|fd| {
                let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            if let Ok(result) = r {
                buf = &buf[result?..];
            }
        }
        Ok(())
    }
}

/// Serves the bus on a pty until `cancel`.
pub async fn serve_pty(pty: Pty, bus: Bus, cancel: CancellationToken) {
    while !cancel.is_cancelled() {
        serve_wire(&pty, &bus, &cancel).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(unit: u8, pdu: &[u8]) -> Vec<u8> {
        let mut f = vec![unit];
        f.extend_from_slice(pdu);
        let crc = crc16(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    #[test]
    fn crc_matches_the_modbus_reference() {
        // 01 03 00 00 00 01 → CRC 84 0A (the classic example).
        assert_eq!(crc16(&[1, 3, 0, 0, 0, 1]).to_le_bytes(), [0x84, 0x0A]);
    }

    #[test]
    fn noise_and_broken_frames_are_shifted_off_until_a_request_fits() {
        let good = request(2, &[3, 0, 10, 0, 4]);
        let mut broken = request(1, &[4, 0, 0, 0, 2]);
        broken[7] ^= 0xFF;
        let mut buf = vec![0xFF, 0x00, 0x42];
        buf.extend_from_slice(&broken);
        buf.extend_from_slice(&good);
        buf.extend_from_slice(&good[..3]);
        let frames = drain(&mut buf);
        assert_eq!(frames, vec![good.clone()]);
        assert_eq!(buf, good[..3].to_vec(), "the partial frame waits for more");
        let write = request(1, &[16, 0, 0, 0, 2, 4, 1, 2, 3, 4]);
        let mut buf = write.clone();
        assert_eq!(drain(&mut buf), vec![write]);
    }
}
