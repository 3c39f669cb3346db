//! A Modbus TCP server scripted by the test: answers reads correctly from a
//! synthetic register image, or misbehaves on purpose, and records every
//! connection and every function code it receives.
//!
//! Written against the Modbus Application Protocol and Messaging on TCP/IP
//! specifications directly (MBAP header + PDU), not with any Modbus crate, so
//! it is independent of the gateway's client.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// How the peer answers. It can be changed while connections are open; it
/// applies from the next request (or connection, for `AcceptClose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Correct answers from the image: holding register `a` holds
    /// [`holding`]`(a)`, input register `a` holds [`input`]`(a)`, coil and
    /// discrete input `a` are [`bit`]`(a)`. Other function codes get
    /// exception 1 (illegal function).
    Healthy,
    /// Reads requests and never answers them.
    Stall,
    /// Reads one request, then resets the connection (RST).
    Reset,
    /// The right answer under another transaction id.
    WrongTransaction,
    /// The right answer from another unit id.
    WrongUnit,
    /// A well-formed answer carrying one register (or one byte of bits)
    /// fewer than requested.
    ShortAnswer,
    /// The byte count claims every requested value; the frame carries fewer.
    BadByteCount,
    /// Every request answered with this exception code.
    Exception(u8),
    /// Accepts each connection and closes it at once.
    AcceptClose,
    /// Healthy, except that holding register `.0` is not mapped: a read
    /// touching it gets exception 2 (illegal data address), as from a PLC
    /// with a hole in its register map.
    Hole(u16),
}

pub fn holding(address: u16) -> u16 {
    address.wrapping_mul(7).wrapping_add(1000)
}

pub fn input(address: u16) -> u16 {
    address ^ 0x5A5A
}

pub fn bit(address: u16) -> bool {
    address % 3 == 0
}

#[derive(Debug, Default)]
struct Log {
    connections: Vec<Instant>,
    functions: BTreeMap<u8, u64>,
}

struct Shared {
    mode: Mutex<Mode>,
    log: Mutex<Log>,
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap()
    }
}

pub struct ScriptedPlc {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl Drop for ScriptedPlc {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl ScriptedPlc {
    /// Listens on a free loopback port, serving unit id 1.
    pub async fn start(mode: Mode) -> ScriptedPlc {
        Self::start_on(([127, 0, 0, 1], 0).into(), mode).await
    }

    /// Listens on `addr` (port 0: a free one).
    pub async fn start_on(addr: SocketAddr, mode: Mode) -> ScriptedPlc {
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind scripted PLC on {addr}: {e}"));
        let addr = listener.local_addr().expect("scripted PLC address");
        let shared = Arc::new(Shared {
            mode: Mutex::new(mode),
            log: Mutex::new(Log::default()),
        });
        let stop = CancellationToken::new();
        let (s, st) = (shared.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = st.cancelled() => break,
                    r = listener.accept() => match r {
                        Ok(c) => c,
                        Err(_) => continue,
                    },
                };
                s.log.lock().unwrap().connections.push(Instant::now());
                if s.mode() == Mode::AcceptClose {
                    drop(stream);
                    continue;
                }
                let (s, st) = (s.clone(), st.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = st.cancelled() => {}
                        _ = serve(stream, &s) => {}
                    }
                });
            }
        });
        ScriptedPlc { addr, shared, stop }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// `host:port` for the gateway configuration.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// When each connection was accepted.
    pub fn connections(&self) -> Vec<Instant> {
        self.shared.log.lock().unwrap().connections.clone()
    }

    /// Every function code received, with how many requests carried it.
    pub fn functions(&self) -> BTreeMap<u8, u64> {
        self.shared.log.lock().unwrap().functions.clone()
    }

    pub fn requests(&self) -> u64 {
        self.shared.log.lock().unwrap().functions.values().sum()
    }
}

/// One connection: read MBAP frames, answer per the current mode.
async fn serve(mut stream: TcpStream, s: &Shared) {
    loop {
        let mut mbap = [0u8; 7];
        if stream.read_exact(&mut mbap).await.is_err() {
            return;
        }
        let tid = u16::from_be_bytes([mbap[0], mbap[1]]);
        let len = usize::from(u16::from_be_bytes([mbap[4], mbap[5]]));
        let unit = mbap[6];
        // len counts the unit id and the PDU; a PDU is 1..=253 bytes.
        if !(2..=254).contains(&len) {
            return;
        }
        let mut pdu = vec![0u8; len - 1];
        if stream.read_exact(&mut pdu).await.is_err() {
            return;
        }
        let function = pdu[0];
        *s.log.lock().unwrap().functions.entry(function).or_default() += 1;
        let frame = match s.mode() {
            Mode::Healthy => frame(tid, unit, &answer(&pdu, Shape::Right)),
            Mode::Stall => continue,
            Mode::Reset | Mode::AcceptClose => {
                let _ = stream.set_zero_linger();
                return;
            }
            Mode::WrongTransaction => frame(tid.wrapping_add(1), unit, &answer(&pdu, Shape::Right)),
            Mode::WrongUnit => frame(tid, unit.wrapping_add(1), &answer(&pdu, Shape::Right)),
            Mode::ShortAnswer => frame(tid, unit, &answer(&pdu, Shape::Short)),
            Mode::BadByteCount => frame(tid, unit, &answer(&pdu, Shape::LyingCount)),
            Mode::Exception(code) => frame(tid, unit, &[function | 0x80, code]),
            Mode::Hole(hole) if function == 3 && touches(&pdu, hole) => {
                frame(tid, unit, &[function | 0x80, 2])
            }
            Mode::Hole(_) => frame(tid, unit, &answer(&pdu, Shape::Right)),
        };
        if stream.write_all(&frame).await.is_err() {
            return;
        }
    }
}

/// Whether the read request `pdu` covers `address`.
fn touches(pdu: &[u8], address: u16) -> bool {
    if pdu.len() != 5 {
        return false;
    }
    let start = u32::from(u16::from_be_bytes([pdu[1], pdu[2]]));
    let count = u32::from(u16::from_be_bytes([pdu[3], pdu[4]]));
    (start..start + count).contains(&u32::from(address))
}

fn frame(tid: u16, unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(7 + pdu.len());
    out.extend_from_slice(&tid.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(pdu.len() as u16 + 1).to_be_bytes());
    out.push(unit);
    out.extend_from_slice(pdu);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Right,
    /// One value fewer, byte count consistent with the data.
    Short,
    /// Byte count for every value, data one value short.
    LyingCount,
}

/// The answer PDU for a read request (exception 1 for anything else,
/// exception 3 for a malformed or oversized read).
fn answer(pdu: &[u8], shape: Shape) -> Vec<u8> {
    let function = pdu[0];
    if !(1..=4).contains(&function) {
        return vec![function | 0x80, 1];
    }
    if pdu.len() != 5 {
        return vec![function | 0x80, 3];
    }
    let start = u16::from_be_bytes([pdu[1], pdu[2]]);
    let count = u16::from_be_bytes([pdu[3], pdu[4]]);
    let limit = if function <= 2 { 2000 } else { 125 };
    if count == 0 || count > limit || u32::from(start) + u32::from(count) > 65536 {
        return vec![function | 0x80, 3];
    }
    let addresses = (0..count).map(|i| start + i);
    let mut data: Vec<u8> = match function {
        1 | 2 => {
            let mut bytes = vec![0u8; usize::from(count).div_ceil(8)];
            for (i, a) in addresses.enumerate() {
                if bit(a) {
                    bytes[i / 8] |= 1 << (i % 8);
                }
            }
            bytes
        }
        3 => addresses.flat_map(|a| holding(a).to_be_bytes()).collect(),
        _ => addresses.flat_map(|a| input(a).to_be_bytes()).collect(),
    };
    let unit = if function <= 2 { 1 } else { 2 };
    let claimed = data.len();
    match shape {
        Shape::Right => {}
        Shape::Short | Shape::LyingCount => data.truncate(data.len().saturating_sub(unit)),
    }
    let byte_count = if shape == Shape::LyingCount {
        claimed
    } else {
        data.len()
    };
    let mut out = vec![function, byte_count as u8];
    out.extend_from_slice(&data);
    out
}
