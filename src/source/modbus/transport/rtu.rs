//! Opening a line's connection: RTU frames on a serial port, RTU frames
//! through a serial gateway's TCP port, or Modbus TCP. tokio-modbus frames
//! the requests, checks each answer's CRC and unit address (RTU) or
//! transaction and unit ids (TCP).
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use tokio::net::TcpStream;
use tokio_modbus::client::Context;
use tokio_modbus::Slave;
use tokio_serial::SerialPort;

use super::LinkError;
use crate::config::{LinkKind, Parity, Plc, SerialLine};

pub enum Opener {
    Tcp(String),
    RtuOverTcp(String),
    Serial { device: String, line: SerialLine },
}

impl fmt::Display for Opener {
    /// How logs name a line: `rtu_over_tcp://10.0.3.20:4001`,
    /// `rtu:///dev/ttyUSB0 19200 8E1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opener::Tcp(a) => write!(f, "tcp://{a}"),
            Opener::RtuOverTcp(a) => write!(f, "rtu_over_tcp://{a}"),
            Opener::Serial { device, line } => write!(f, "rtu://{device} {line}"),
        }
    }
}

impl Opener {
    pub fn for_plc(plc: &Plc) -> Opener {
        match &plc.link.transport {
            LinkKind::Tcp => Opener::Tcp(plc.address.clone()),
            LinkKind::RtuOverTcp => Opener::RtuOverTcp(plc.address.clone()),
            LinkKind::Rtu(line) => Opener::Serial {
                device: plc.address.clone(),
                line: line.clone(),
            },
        }
    }

    /// RTU framing: unit 0 is broadcast there.
    pub fn is_rtu(&self) -> bool {
        !matches!(self, Opener::Tcp(_))
    }

    /// A client context for unit 1 (the line sets each request's unit),
    /// and the count of bytes received on it.
    pub async fn open(&self) -> Result<(Context, Received), LinkError> {
        let received = Received::default();
        let ctx = match self {
            Opener::Tcp(address) => {
                let stream = Counted::new(tcp(address).await?, &received);
                tokio_modbus::client::tcp::attach_slave(stream, Slave(1))
            }
            Opener::RtuOverTcp(address) => {
                let stream = Counted::new(tcp(address).await?, &received);
                tokio_modbus::client::rtu::attach_slave(stream, Slave(1))
            }
            Opener::Serial { device, line } => {
                let port = Counted::new(serial(device, line)?, &received);
                tokio_modbus::client::rtu::attach_slave(port, Slave(1))
            }
        };
        Ok((ctx, received))
    }
}

/// Bytes received on a connection so far. A request that got bytes but no
/// frame with a valid CRC met noise, garbage or a wrong baud rate, not a
/// silent unit, and is reported as such.
#[derive(Debug, Clone, Default)]
pub struct Received(Arc<AtomicU64>);

impl Received {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A stream that counts what it reads into a [`Received`].
#[derive(Debug)]
struct Counted<S> {
    inner: S,
    received: Received,
}

impl<S> Counted<S> {
    fn new(inner: S, received: &Received) -> Counted<S> {
        Counted {
            inner,
            received: received.clone(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let got = buf.filled().len().saturating_sub(before) as u64;
        self.received.0.fetch_add(got, Ordering::Relaxed);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn tcp(address: &str) -> Result<TcpStream, LinkError> {
    let mut last = LinkError::Resolve(address.to_string());
    for addr in tokio::net::lookup_host(address).await? {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Requests are tiny; waiting for Nagle would add latency to every scan.
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = LinkError::Io(e),
        }
    }
    Err(last)
}

/// Opens the port exclusively with the line's settings and drops whatever
/// the port held from before (a late answer to a request given up on).
fn serial(device: &str, line: &SerialLine) -> Result<tokio_serial::SerialStream, LinkError> {
    let parity = match line.parity {
        Parity::None => tokio_serial::Parity::None,
        Parity::Even => tokio_serial::Parity::Even,
        Parity::Odd => tokio_serial::Parity::Odd,
    };
    let data_bits = if line.data_bits == 7 {
        tokio_serial::DataBits::Seven
    } else {
        tokio_serial::DataBits::Eight
    };
    let stop_bits = if line.stop_bits == 2 {
        tokio_serial::StopBits::Two
    } else {
        tokio_serial::StopBits::One
    };
    let builder = tokio_serial::new(device, line.baud)
        .parity(parity)
        .data_bits(data_bits)
        .stop_bits(stop_bits)
        .flow_control(tokio_serial::FlowControl::None);
    let failed = |e: tokio_serial::Error| {
        let kind = match e.kind() {
            tokio_serial::ErrorKind::NoDevice => std::io::ErrorKind::NotFound,
            tokio_serial::ErrorKind::Io(kind) => kind,
            _ => std::io::ErrorKind::InvalidInput,
        };
        LinkError::Io(std::io::Error::new(
            kind,
            format!("serial device {device} ({line}): {e}"),
        ))
    };
    let port = tokio_serial::SerialStream::open(&builder).map_err(failed)?;
    port.clear(tokio_serial::ClearBuffer::All).map_err(failed)?;
    Ok(port)
}
