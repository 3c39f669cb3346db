//! Modbus TCP framing and PDU parsing, written to survive hostile input.
//!
//! tokio-modbus 0.17's server codec indexes past the end of short
//! write-multiple-coils frames and overflows `quantity * 2` on others, which
//! panics; this module parses every field with bounds checks and turns a
//! malformed PDU into the exception a strict device returns instead.
//! Pure functions, no I/O.

use tokio_modbus::{ExceptionCode, Request, Response};

/// MBAP header length including the unit id.
pub const HEADER_LEN: usize = 7;
/// Largest PDU the protocol allows (function code + 252 data bytes).
pub const MAX_PDU_LEN: usize = 253;
pub const MAX_READ_REGISTERS: u16 = 125;
pub const MAX_READ_BITS: u16 = 2000;
pub const MAX_WRITE_REGISTERS: u16 = 123;
pub const MAX_WRITE_BITS: u16 = 1968;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub transaction_id: u16,
    pub protocol_id: u16,
    pub unit_id: u8,
}

/// Result of looking for one ADU at the front of a receive buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Split<'a> {
    /// Need more bytes.
    Incomplete,
    /// A whole ADU of `len` bytes; `pdu` may be empty.
    Frame {
        header: Header,
        pdu: &'a [u8],
        len: usize,
    },
    /// The length field cannot be trusted: the stream is out of step and the
    /// connection has to be dropped.
    Desync,
}

pub fn split_adu(buf: &[u8]) -> Split<'_> {
    if buf.len() < HEADER_LEN {
        return Split::Incomplete;
    }
    let length = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    // length counts the unit id plus the PDU.
    if !(1..=MAX_PDU_LEN + 1).contains(&length) {
        return Split::Desync;
    }
    let total = 6 + length;
    if buf.len() < total {
        return Split::Incomplete;
    }
    Split::Frame {
        header: Header {
            transaction_id: u16::from_be_bytes([buf[0], buf[1]]),
            protocol_id: u16::from_be_bytes([buf[2], buf[3]]),
            unit_id: buf[6],
        },
        pdu: &buf[HEADER_LEN..total],
        len: total,
    }
}

/// MBAP header + PDU. The PDU is at most [`MAX_PDU_LEN`] bytes.
pub fn encode_adu(header: &Header, pdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + pdu.len());
    out.extend_from_slice(&header.transaction_id.to_be_bytes());
    out.extend_from_slice(&header.protocol_id.to_be_bytes());
    let len = u16::try_from(pdu.len() + 1).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(header.unit_id);
    out.extend_from_slice(pdu);
    out
}

pub fn exception_pdu(function: u8, code: ExceptionCode) -> Vec<u8> {
    vec![function | 0x80, u8::from(code)]
}

fn word(pdu: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([pdu[at], pdu[at + 1]])
}

/// Parse a request PDU (function code first). Functions this device does not
/// implement are IllegalFunction; a PDU of the wrong shape is
/// IllegalDataValue. Quantity limits and addresses are the service's job.
pub fn parse_request(pdu: &[u8]) -> Result<Request<'static>, ExceptionCode> {
    let Some(&function) = pdu.first() else {
        return Err(ExceptionCode::IllegalDataValue);
    };
    let exact = |n: usize| {
        if pdu.len() == n {
            Ok(())
        } else {
            Err(ExceptionCode::IllegalDataValue)
        }
    };
    match function {
        0x01..=0x06 => {
            exact(5)?;
            let (a, b) = (word(pdu, 1), word(pdu, 3));
            Ok(match function {
                0x01 => Request::ReadCoils(a, b),
                0x02 => Request::ReadDiscreteInputs(a, b),
                0x03 => Request::ReadHoldingRegisters(a, b),
                0x04 => Request::ReadInputRegisters(a, b),
                0x05 => match b {
                    0xFF00 => Request::WriteSingleCoil(a, true),
                    0x0000 => Request::WriteSingleCoil(a, false),
                    _ => return Err(ExceptionCode::IllegalDataValue),
                },
                _ => Request::WriteSingleRegister(a, b),
            })
        }
        0x0F => {
            if pdu.len() < 6 {
                return Err(ExceptionCode::IllegalDataValue);
            }
            let (address, quantity) = (word(pdu, 1), word(pdu, 3));
            let byte_count = usize::from(pdu[5]);
            if !(1..=MAX_WRITE_BITS).contains(&quantity)
                || byte_count != usize::from(quantity).div_ceil(8)
            {
                return Err(ExceptionCode::IllegalDataValue);
            }
            exact(6 + byte_count)?;
            let bits = (0..usize::from(quantity))
                .map(|i| (pdu[6 + i / 8] >> (i % 8)) & 1 == 1)
                .collect::<Vec<bool>>();
            Ok(Request::WriteMultipleCoils(address, bits.into()))
        }
        0x10 => {
            if pdu.len() < 6 {
                return Err(ExceptionCode::IllegalDataValue);
            }
            let (address, quantity) = (word(pdu, 1), word(pdu, 3));
            let byte_count = usize::from(pdu[5]);
            if !(1..=MAX_WRITE_REGISTERS).contains(&quantity)
                || byte_count != usize::from(quantity) * 2
            {
                return Err(ExceptionCode::IllegalDataValue);
            }
            exact(6 + byte_count)?;
            let words = (0..usize::from(quantity))
                .map(|i| word(pdu, 6 + 2 * i))
                .collect::<Vec<u16>>();
            Ok(Request::WriteMultipleRegisters(address, words.into()))
        }
        _ => Err(ExceptionCode::IllegalFunction),
    }
}

/// Encode a response PDU. `None` for response kinds this device never sends.
pub fn encode_response(response: &Response) -> Option<Vec<u8>> {
    let function = response.function_code().value();
    let mut out = vec![function];
    match response {
        Response::ReadCoils(bits) | Response::ReadDiscreteInputs(bits) => {
            let mut packed = vec![0u8; bits.len().div_ceil(8)];
            for (i, b) in bits.iter().enumerate() {
                if *b {
                    packed[i / 8] |= 1 << (i % 8);
                }
            }
            out.push(u8::try_from(packed.len()).ok()?);
            out.extend_from_slice(&packed);
        }
        Response::ReadHoldingRegisters(words) | Response::ReadInputRegisters(words) => {
            out.push(u8::try_from(words.len() * 2).ok()?);
            for w in words {
                out.extend_from_slice(&w.to_be_bytes());
            }
        }
        Response::WriteSingleCoil(address, value) => {
            out.extend_from_slice(&address.to_be_bytes());
            out.extend_from_slice(&(if *value { 0xFF00u16 } else { 0 }).to_be_bytes());
        }
        Response::WriteSingleRegister(address, value) => {
            out.extend_from_slice(&address.to_be_bytes());
            out.extend_from_slice(&value.to_be_bytes());
        }
        Response::WriteMultipleCoils(address, quantity)
        | Response::WriteMultipleRegisters(address, quantity) => {
            out.extend_from_slice(&address.to_be_bytes());
            out.extend_from_slice(&quantity.to_be_bytes());
        }
        _ => return None,
    }
    (out.len() <= MAX_PDU_LEN).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_waits_for_a_whole_frame_and_rejects_bad_lengths() {
        let adu = [0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 2];
        assert_eq!(split_adu(&adu[..5]), Split::Incomplete);
        assert_eq!(split_adu(&adu[..11]), Split::Incomplete);
        match split_adu(&adu) {
            Split::Frame { header, pdu, len } => {
                assert_eq!(header.unit_id, 1);
                assert_eq!(pdu, &[3, 0, 0, 0, 2]);
                assert_eq!(len, 12);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(split_adu(&[0, 1, 0, 0, 0, 0, 1]), Split::Desync);
        assert_eq!(split_adu(&[0, 1, 0, 0, 1, 0, 1]), Split::Desync);
    }

    #[test]
    fn short_write_multiple_coils_is_an_exception_not_a_panic() {
        // quantity 100 but one data byte: tokio-modbus 0.17 panics here.
        let pdu = [0x0F, 0, 0, 0, 100, 1, 0xFF];
        assert_eq!(parse_request(&pdu), Err(ExceptionCode::IllegalDataValue));
        // quantity 0xFFFF: `quantity * 2` overflows in tokio-modbus.
        let pdu = [0x10, 0, 0, 0xFF, 0xFF, 0xFE];
        assert_eq!(parse_request(&pdu), Err(ExceptionCode::IllegalDataValue));
    }

    #[test]
    fn unsupported_functions_are_illegal_function() {
        for f in [0x07, 0x08, 0x11, 0x16, 0x17, 0x2B, 0x41, 0x90] {
            assert_eq!(
                parse_request(&[f, 0, 0]),
                Err(ExceptionCode::IllegalFunction)
            );
        }
    }

    #[test]
    fn write_multiple_coils_unpacks_lsb_first() {
        let pdu = [0x0F, 0, 4, 0, 10, 2, 0b0000_0101, 0b10];
        let expect = [
            true, false, true, false, false, false, false, false, false, true,
        ];
        assert_eq!(
            parse_request(&pdu),
            Ok(Request::WriteMultipleCoils(4, expect.to_vec().into()))
        );
    }
}
