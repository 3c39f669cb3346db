//! How a tag's engineering value becomes Modbus registers, and back.
//!
//! The conventions are the gateway's (and pymodbus's): take the value's
//! big-endian bytes B0 B1 …; ABCD puts (B0 B1) in the first register, CDAB
//! reverses the 16-bit words, BADC swaps the bytes inside each word, DCBA is
//! fully little-endian. Word order only applies to types wider than one
//! register. Strings are two ASCII characters per register, high byte first
//! (low byte first in BADC and DCBA), NUL padded. value = raw × scale + offset, so raw = (value − offset) / scale.

pub use plantgw_core::codec::arrange;
use plantgw_core::codec::{decode_raw, Raw};
// The vocabulary is the gateway's, shared through plantgw-core; re-exported
// here because the whole simulator names it through this module.
pub use plantgw_core::register::{ByteOrder, DataType, Table};

/// A value as the plant model (or a synthetic generator) produces it, in
/// engineering units.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    /// A measurement: integer encodings saturate at the type's limits.
    Number(f64),
    /// A running counter (totaliser, hour meter): integer encodings wrap
    /// around like the field device's register does.
    Counter(f64),
    Text(String),
}

impl Value {
    /// The number carried, if any (bools count as 0/1).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Number(v) | Value::Counter(v) => Some(*v),
            Value::Text(_) => None,
        }
    }

    pub fn as_bool(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Number(v) | Value::Counter(v) => *v != 0.0,
            Value::Text(s) => !s.is_empty(),
        }
    }
}

/// Everything needed to turn a value into registers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Encoding {
    pub data_type: DataType,
    pub order: ByteOrder,
    /// Registers, for strings.
    pub length: u16,
    pub scale: f64,
    pub offset: f64,
}

impl Encoding {
    pub fn words(&self) -> u16 {
        self.data_type.registers(self.length)
    }
}

fn raw_number(value: &Value, enc: &Encoding) -> f64 {
    let eng = value.as_f64().unwrap_or(0.0);
    let scale = if enc.scale == 0.0 || !enc.scale.is_finite() {
        1.0
    } else {
        enc.scale
    };
    (eng - enc.offset) / scale
}

/// Registers for `value` (register tables only; bit tables use [`Value::as_bool`]).
pub fn encode(value: &Value, enc: &Encoding) -> Vec<u16> {
    match enc.data_type {
        DataType::Bool => vec![u16::from(value.as_bool())],
        DataType::String => encode_text(value, enc.length, enc.order),
        DataType::F32 => {
            let raw = raw_number(value, enc) as f32;
            arrange(&raw.to_be_bytes(), enc.order)
        }
        DataType::F64 => {
            let raw = raw_number(value, enc);
            arrange(&raw.to_be_bytes(), enc.order)
        }
        int_type => {
            let raw = raw_number(value, enc);
            let int = integer_raw(raw, int_type, matches!(value, Value::Counter(_)));
            let bytes = int.to_be_bytes();
            let width = usize::from(int_type.registers(0)) * 2;
            arrange(&bytes[16 - width..], enc.order)
        }
    }
}

/// The raw integer as it sits in the device: two's complement in the type's
/// width, returned as the low bits of an i128.
fn integer_raw(raw: f64, data_type: DataType, wraps: bool) -> i128 {
    let Some((lo, hi)) = data_type.integer_range() else {
        return 0;
    };
    if !raw.is_finite() {
        return 0;
    }
    let rounded = raw.round();
    let bits = u32::from(data_type.registers(0)) * 16;
    let modulus: i128 = 1i128 << bits;
    let value = if wraps {
        // f64 → i128 saturates, which is fine: counters never approach 2^127.
        let v = (rounded as i128).rem_euclid(modulus);
        if lo < 0 && v > hi {
            v - modulus
        } else {
            v
        }
    } else {
        (rounded as i128).clamp(lo, hi)
    };
    // Two's complement bits in the type's width.
    value.rem_euclid(modulus)
}

/// Two characters per register, high byte first (low byte first for BADC
/// and DCBA devices), NUL padded.
fn encode_text(value: &Value, length: u16, order: ByteOrder) -> Vec<u16> {
    let text = match value {
        Value::Text(s) => s.clone(),
        other => other.as_f64().map(|v| v.to_string()).unwrap_or_default(),
    };
    let mut bytes: Vec<u8> = text
        .bytes()
        .map(|b| if b.is_ascii() { b } else { b'?' })
        .take(usize::from(length) * 2)
        .collect();
    bytes.resize(usize::from(length) * 2, 0);
    bytes
        .chunks(2)
        .map(|c| {
            if order.swaps_bytes() {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        })
        .collect()
}

/// Decode registers back to an engineering value (the gateway's rule).
/// Returns `None` when the register count does not match the type.
pub fn decode(regs: &[u16], enc: &Encoding) -> Option<Value> {
    if regs.len() != usize::from(enc.words()) {
        return None;
    }
    let scaled = |raw: f64| raw * enc.scale + enc.offset;
    let value = match enc.data_type {
        DataType::Bool => Value::Bool(regs[0] != 0),
        DataType::String => {
            let raw: Vec<u8> = regs
                .iter()
                .flat_map(|w| {
                    if enc.order.swaps_bytes() {
                        w.to_le_bytes()
                    } else {
                        w.to_be_bytes()
                    }
                })
                .collect();
            let text = String::from_utf8_lossy(&raw);
            Value::Text(text.trim_end_matches(['\0', ' ']).to_string())
        }
        // Numbers are read exactly as the gateway reads them.
        number => match decode_raw(number, enc.order, None, regs).ok()? {
            Raw::Int(i) => Value::Number(scaled(i as f64)),
            Raw::U64(u) => Value::Number(scaled(u as f64)),
            Raw::Float(f) => Value::Number(scaled(f)),
            Raw::Bool(_) | Raw::Text(_) => return None,
        },
    };
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(data_type: DataType, order: ByteOrder, scale: f64) -> Encoding {
        Encoding {
            data_type,
            order,
            length: 4,
            scale,
            offset: 0.0,
        }
    }

    #[test]
    fn totaliser_u32_wraps_like_the_bw500_register() {
        let e = enc(DataType::U32, ByteOrder::ABCD, 0.001);
        assert_eq!(
            encode(&Value::Counter(4_294_967.295), &e),
            vec![0xFFFF, 0xFFFF]
        );
        assert_eq!(encode(&Value::Counter(4_294_967.296), &e), vec![0, 0]);
        assert_eq!(encode(&Value::Counter(4_294_967.297), &e), vec![0, 1]);
        // A measurement saturates instead.
        assert_eq!(
            encode(&Value::Number(5_000_000.0), &e),
            vec![0xFFFF, 0xFFFF]
        );
    }

    #[test]
    fn scaled_i16_is_twos_complement() {
        let e = enc(DataType::I16, ByteOrder::ABCD, 0.1);
        assert_eq!(encode(&Value::Number(-1.5), &e), vec![0xFFF1]);
        assert_eq!(decode(&[0xFFF1], &e), Some(Value::Number(-1.5)));
    }

    #[test]
    fn strings_are_high_byte_first_and_nul_padded() {
        let e = enc(DataType::String, ByteOrder::ABCD, 1.0);
        let regs = encode(&Value::Text("BW500".into()), &e);
        assert_eq!(regs, vec![0x4257, 0x3530, 0x3000, 0x0000]);
        assert_eq!(decode(&regs, &e), Some(Value::Text("BW500".into())));
    }

    proptest! {
        #[test]
        fn f64_round_trips_in_every_order(v in -1e12f64..1e12, o in 0usize..4) {
            let e = enc(DataType::F64, ByteOrder::ALL[o], 1.0);
            prop_assert_eq!(decode(&encode(&Value::Number(v), &e), &e), Some(Value::Number(v)));
        }

        #[test]
        fn i32_round_trips_in_every_order(v in i32::MIN..=i32::MAX, o in 0usize..4) {
            let e = enc(DataType::I32, ByteOrder::ALL[o], 1.0);
            let back = decode(&encode(&Value::Number(f64::from(v)), &e), &e);
            prop_assert_eq!(back, Some(Value::Number(f64::from(v))));
        }

        #[test]
        fn u64_counter_round_trips(v in 0u64..(1u64 << 52), o in 0usize..4) {
            let e = enc(DataType::U64, ByteOrder::ALL[o], 1.0);
            let back = decode(&encode(&Value::Counter(v as f64), &e), &e);
            prop_assert_eq!(back, Some(Value::Number(v as f64)));
        }
    }
}
