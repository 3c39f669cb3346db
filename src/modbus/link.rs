//! One Modbus TCP connection to one PLC, read-only by construction: the
//! tokio-modbus context is private and only the four read functions are
//! exposed, so no code path in the gateway can issue a write.
//!
//! Every connect and request runs under a timeout. The crate checks the
//! MBAP transaction and unit ids; we check the answer's length, because a
//! short or long answer would otherwise shift every decoded tag.
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_modbus::client::{Context, Reader};
use tokio_modbus::Slave;

use crate::config::Table;

/// What one read returned.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockData {
    Words(Vec<u16>),
    Bits(Vec<bool>),
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("address {0:?} did not resolve")]
    Resolve(String),
    /// Mismatched transaction/unit id or function code: the stream can no
    /// longer be trusted.
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("answer has {got} values, {expected} were requested")]
    Length { expected: usize, got: usize },
    /// The PLC answered with a Modbus exception; the connection is fine.
    #[error("exception {0}")]
    Exception(u8),
}

impl LinkError {
    /// Exceptions keep the connection; everything else drops it.
    pub fn keeps_connection(&self) -> bool {
        matches!(self, LinkError::Exception(_))
    }
}

pub struct Link {
    ctx: Context,
}

impl Link {
    pub async fn connect(address: &str, unit_id: u8, timeout: Duration) -> Result<Link, LinkError> {
        let connect = async {
            let mut last = LinkError::Resolve(address.to_string());
            for addr in tokio::net::lookup_host(address).await? {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        // Requests are tiny; waiting for Nagle would add latency to every scan.
                        stream.set_nodelay(true)?;
                        return Ok(Link {
                            ctx: tokio_modbus::client::tcp::attach_slave(stream, Slave(unit_id)),
                        });
                    }
                    Err(e) => last = LinkError::Io(e),
                }
            }
            Err(last)
        };
        tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| LinkError::Timeout(timeout))?
    }

    pub async fn read(
        &mut self,
        table: Table,
        start: u16,
        count: u16,
        timeout: Duration,
    ) -> Result<BlockData, LinkError> {
        let call = async {
            Ok::<_, tokio_modbus::Error>(match table {
                Table::Coil => self
                    .ctx
                    .read_coils(start, count)
                    .await?
                    .map(BlockData::Bits),
                Table::Discrete => self
                    .ctx
                    .read_discrete_inputs(start, count)
                    .await?
                    .map(BlockData::Bits),
                Table::Holding => self
                    .ctx
                    .read_holding_registers(start, count)
                    .await?
                    .map(BlockData::Words),
                Table::Input => self
                    .ctx
                    .read_input_registers(start, count)
                    .await?
                    .map(BlockData::Words),
            })
        };
        let answer = tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| LinkError::Timeout(timeout))?;
        let data = match answer {
            Ok(Ok(data)) => data,
            Ok(Err(exception)) => return Err(LinkError::Exception(u8::from(exception))),
            Err(tokio_modbus::Error::Transport(e)) => return Err(LinkError::Io(e)),
            Err(tokio_modbus::Error::Protocol(e)) => {
                return Err(LinkError::Protocol(e.to_string()))
            }
        };
        let got = match &data {
            BlockData::Words(w) => w.len(),
            BlockData::Bits(b) => b.len(),
        };
        if got != usize::from(count) {
            return Err(LinkError::Length {
                expected: usize::from(count),
                got,
            });
        }
        Ok(data)
    }
}
