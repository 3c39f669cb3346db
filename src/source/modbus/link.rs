//! One Modbus TCP connection to one PLC, read-only by construction: the
//! tokio-modbus context is private, [`Link::read`] is the only request path
//! and it builds only the four read requests, so no code path in the
//! gateway can issue a write.
//!
//! Every connect and request runs under a timeout. The crate checks the
//! MBAP transaction and unit ids and the function code; we check the
//! answer's length, because a short or long answer would otherwise shift
//! every decoded tag (and must never panic, whatever the PLC sends).
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_modbus::client::{Client, Context};
use tokio_modbus::{Request, Response, Slave};

use crate::config::Table;

/// What one read returned.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockData {
    Words(Vec<u16>),
    Bits(Vec<bool>),
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The connection cannot be reused after this: tokio-modbus 0.17 clears
    /// its read buffer before each request, but an answer arriving later is
    /// decoded as the next request's and rejected on its transaction id.
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
        // The crate's `Reader` helpers debug-assert the answer's length (a
        // hostile or broken PLC panics the poller in a debug build); the
        // plain request/response call leaves every check to us.
        let request = match table {
            Table::Coil => Request::ReadCoils(start, count),
            Table::Discrete => Request::ReadDiscreteInputs(start, count),
            Table::Holding => Request::ReadHoldingRegisters(start, count),
            Table::Input => Request::ReadInputRegisters(start, count),
        };
        let answer = tokio::time::timeout(timeout, self.ctx.call(request))
            .await
            .map_err(|_| LinkError::Timeout(timeout))?;
        let response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(exception)) => return Err(LinkError::Exception(u8::from(exception))),
            Err(tokio_modbus::Error::Transport(e)) => return Err(LinkError::Io(e)),
            Err(tokio_modbus::Error::Protocol(e)) => {
                return Err(LinkError::Protocol(e.to_string()))
            }
        };
        check_answer(table, count, response)
    }
}

/// Checks an answer against its request: the right function, and exactly
/// the values asked for (bits come in whole bytes: the byte count must be
/// ⌈count / 8⌉ and the padding is cut off).
fn check_answer(table: Table, count: u16, response: Response) -> Result<BlockData, LinkError> {
    let expected = usize::from(count);
    let data = match (table, response) {
        (Table::Coil, Response::ReadCoils(bits))
        | (Table::Discrete, Response::ReadDiscreteInputs(bits)) => {
            if bits.len() != expected.div_ceil(8) * 8 {
                return Err(LinkError::Length {
                    expected,
                    got: bits.len(),
                });
            }
            let mut bits = bits;
            bits.truncate(expected);
            BlockData::Bits(bits)
        }
        (Table::Holding, Response::ReadHoldingRegisters(words))
        | (Table::Input, Response::ReadInputRegisters(words)) => BlockData::Words(words),
        (_, other) => {
            return Err(LinkError::Protocol(format!(
                "answer {other:?} does not match a {} read",
                table.as_str()
            )))
        }
    };
    let got = match &data {
        BlockData::Words(w) => w.len(),
        BlockData::Bits(b) => b.len(),
    };
    if got != expected {
        return Err(LinkError::Length { expected, got });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_bit_answers_are_length_errors_not_panics() {
        // 10 coils asked, one byte (8 bits) answered: a hostile or broken
        // PLC; tokio-modbus' own helper debug-asserts here.
        let r = check_answer(Table::Coil, 10, Response::ReadCoils(vec![true; 8]));
        assert!(
            matches!(
                r,
                Err(LinkError::Length {
                    expected: 10,
                    got: 8
                })
            ),
            "{r:?}"
        );
        let r = check_answer(Table::Discrete, 3, Response::ReadDiscreteInputs(Vec::new()));
        assert!(
            matches!(
                r,
                Err(LinkError::Length {
                    expected: 3,
                    got: 0
                })
            ),
            "{r:?}"
        );
        // A byte too many is wrong too.
        let r = check_answer(Table::Coil, 3, Response::ReadCoils(vec![false; 16]));
        assert!(
            matches!(
                r,
                Err(LinkError::Length {
                    expected: 3,
                    got: 16
                })
            ),
            "{r:?}"
        );
    }

    #[test]
    fn bit_padding_is_cut_off() {
        let mut bits = vec![false; 16];
        bits[0] = true;
        bits[9] = true;
        bits[12] = true; // padding
        let r = check_answer(Table::Discrete, 10, Response::ReadDiscreteInputs(bits)).unwrap();
        let BlockData::Bits(b) = r else {
            panic!("bits expected")
        };
        assert_eq!(b.len(), 10);
        assert!(b[0] && b[9]);
    }

    #[test]
    fn register_counts_must_match() {
        let r = check_answer(
            Table::Holding,
            4,
            Response::ReadHoldingRegisters(vec![1, 2, 3]),
        );
        assert!(
            matches!(
                r,
                Err(LinkError::Length {
                    expected: 4,
                    got: 3
                })
            ),
            "{r:?}"
        );
        let r = check_answer(Table::Input, 1, Response::ReadInputRegisters(vec![1, 2]));
        assert!(
            matches!(
                r,
                Err(LinkError::Length {
                    expected: 1,
                    got: 2
                })
            ),
            "{r:?}"
        );
        let r = check_answer(Table::Input, 2, Response::ReadInputRegisters(vec![7, 8])).unwrap();
        assert_eq!(r, BlockData::Words(vec![7, 8]));
    }

    #[test]
    fn an_answer_for_another_table_is_a_protocol_error() {
        let r = check_answer(Table::Holding, 2, Response::ReadInputRegisters(vec![1, 2]));
        assert!(matches!(r, Err(LinkError::Protocol(_))), "{r:?}");
        let r = check_answer(Table::Coil, 1, Response::ReadDiscreteInputs(vec![true; 8]));
        assert!(matches!(r, Err(LinkError::Protocol(_))), "{r:?}");
    }
}
