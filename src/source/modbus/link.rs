//! One connection to one PLC, over any [`Transport`]: the same timeouts and
//! answer checks whatever carries the bytes. Read-only by construction: a
//! [`Connection`] has only the four read functions, and [`Link::read`] is
//! the poller's only request path.
//!
//! Every connect and request runs under a timeout. The transport checks
//! the unit id and the function code; we check the answer's length, because
//! a short or long answer would otherwise shift every decoded tag (and must
//! never panic, whatever the PLC sends).
use std::time::Duration;

use super::transport::{Connection, Exception, Transport};
use crate::config::Table;

// The seam's error is the link's; re-exported so the poller and its callers
// name one path.
pub use super::transport::LinkError;

/// Exception 6 (server device busy): asked again within the scan this many
/// times in all, pausing a little longer each time, then reported.
const BUSY_TRIES: u32 = 3;
const BUSY_PAUSE: Duration = Duration::from_millis(50);

/// What one read returned.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockData {
    Words(Vec<u16>),
    Bits(Vec<bool>),
}

pub struct Link {
    conn: Box<dyn Connection>,
}

impl Link {
    pub async fn connect(transport: &dyn Transport, timeout: Duration) -> Result<Link, LinkError> {
        let conn = tokio::time::timeout(timeout, transport.connect())
            .await
            .map_err(|_| LinkError::Timeout(timeout))??;
        Ok(Link { conn })
    }

    pub async fn read(
        &mut self,
        table: Table,
        start: u16,
        count: u16,
        timeout: Duration,
    ) -> Result<BlockData, LinkError> {
        let mut tries = 1;
        loop {
            match self.read_once(table, start, count, timeout).await {
                Err(LinkError::Exception(6)) if tries < BUSY_TRIES => {
                    tokio::time::sleep(BUSY_PAUSE * tries).await;
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    async fn read_once(
        &mut self,
        table: Table,
        start: u16,
        count: u16,
        timeout: Duration,
    ) -> Result<BlockData, LinkError> {
        let bounded = self.conn.bounds_itself();
        let conn = &mut self.conn;
        let request = async {
            let words = |r: Result<Vec<u16>, Exception>| r.map(BlockData::Words);
            let bits = |r: Result<Vec<bool>, Exception>| r.map(BlockData::Bits);
            Ok::<_, LinkError>(match table {
                Table::Coil => bits(conn.read_coils(start, count).await?),
                Table::Discrete => bits(conn.read_discrete_inputs(start, count).await?),
                Table::Holding => words(conn.read_holding_registers(start, count).await?),
                Table::Input => words(conn.read_input_registers(start, count).await?),
            })
        };
        let answer = if bounded {
            request.await?
        } else {
            tokio::time::timeout(timeout, request)
                .await
                .map_err(|_| LinkError::Timeout(timeout))??
        };
        match answer {
            Ok(data) => check_answer(count, data),
            Err(Exception(code)) => Err(LinkError::Exception(code)),
        }
    }
}

/// Checks an answer holds exactly the values asked for (bits come in whole
/// bytes: the byte count must be ⌈count / 8⌉ and the padding is cut off).
fn check_answer(count: u16, data: BlockData) -> Result<BlockData, LinkError> {
    let expected = usize::from(count);
    let data = match data {
        BlockData::Bits(mut bits) => {
            if bits.len() != expected.div_ceil(8) * 8 {
                return Err(LinkError::Length {
                    expected,
                    got: bits.len(),
                });
            }
            bits.truncate(expected);
            BlockData::Bits(bits)
        }
        words @ BlockData::Words(_) => words,
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
        let r = check_answer(10, BlockData::Bits(vec![true; 8]));
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
        let r = check_answer(3, BlockData::Bits(Vec::new()));
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
        let r = check_answer(3, BlockData::Bits(vec![false; 16]));
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
        let r = check_answer(10, BlockData::Bits(bits)).unwrap();
        let BlockData::Bits(b) = r else {
            panic!("bits expected")
        };
        assert_eq!(b.len(), 10);
        assert!(b[0] && b[9]);
    }

    #[test]
    fn register_counts_must_match() {
        let r = check_answer(4, BlockData::Words(vec![1, 2, 3]));
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
        let r = check_answer(1, BlockData::Words(vec![1, 2]));
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
        let r = check_answer(2, BlockData::Words(vec![7, 8])).unwrap();
        assert_eq!(r, BlockData::Words(vec![7, 8]));
    }
}
