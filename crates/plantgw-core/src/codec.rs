//! How a value's bytes sit in Modbus registers, both ways: [`arrange`] lays
//! big-endian value bytes out as registers in a [`ByteOrder`] (the
//! simulator's side), [`decode_raw`] reads a typed raw value back (the
//! gateway's side). One definition of the layout, so the simulator serves
//! exactly what the gateway reads. Pure: every word here may come from a
//! PLC, so nothing panics on any input.
use crate::register::{ByteOrder, DataType};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("expected {expected} registers, got {got}")]
    Length { expected: usize, got: usize },
    #[error("string registers are not valid UTF-8")]
    Utf8,
}

/// A value before scaling.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Bool(bool),
    Int(i64),
    /// Kept apart from `Int`: above `i64::MAX` it has no integer field type
    /// in InfluxDB 1.x.
    U64(u64),
    Float(f64),
    Text(String),
}

/// Lays out big-endian value bytes as registers in `order`. An odd trailing
/// byte is padded with 0; one register is never reordered.
pub fn arrange(be: &[u8], order: ByteOrder) -> Vec<u16> {
    let mut words: Vec<u16> = be
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
        .collect();
    if words.len() < 2 {
        return words;
    }
    if order.swaps_words() {
        words.reverse();
    }
    if order.swaps_bytes() {
        words.iter_mut().for_each(|w| *w = w.swap_bytes());
    }
    words
}

/// Inverse of [`arrange`] for an `N`-byte value: the value's big-endian
/// bytes from exactly `N / 2` registers stored in `order`.
pub fn be_bytes<const N: usize>(words: &[u16], order: ByteOrder) -> Result<[u8; N], DecodeError> {
    let n = N / 2;
    if words.len() != n {
        return Err(DecodeError::Length {
            expected: n,
            got: words.len(),
        });
    }
    let mut out = [0u8; N];
    for (i, chunk) in out.chunks_exact_mut(2).enumerate() {
        let w = if order.swaps_words() {
            words[n - 1 - i]
        } else {
            words[i]
        };
        let w = if order.swaps_bytes() {
            w.swap_bytes()
        } else {
            w
        };
        chunk.copy_from_slice(&w.to_be_bytes());
    }
    Ok(out)
}

/// The raw (unscaled) value in `words`, which must be exactly the tag's
/// registers. Bools here are register bits (`bit`, default 0); bit tables
/// carry their bools directly.
pub fn decode_raw(
    dt: DataType,
    order: ByteOrder,
    bit: Option<u8>,
    words: &[u16],
) -> Result<Raw, DecodeError> {
    let one = || -> Result<u16, DecodeError> {
        match words {
            [w] => Ok(*w),
            _ => Err(DecodeError::Length {
                expected: 1,
                got: words.len(),
            }),
        }
    };
    Ok(match dt {
        DataType::Bool => Raw::Bool(one()? >> bit.unwrap_or(0).min(15) & 1 == 1),
        DataType::U16 => Raw::Int(i64::from(one()?)),
        DataType::I16 => Raw::Int(i64::from(one()? as i16)),
        DataType::U32 => Raw::Int(i64::from(u32::from_be_bytes(be_bytes(words, order)?))),
        DataType::I32 => Raw::Int(i64::from(i32::from_be_bytes(be_bytes(words, order)?))),
        DataType::U64 => Raw::U64(u64::from_be_bytes(be_bytes(words, order)?)),
        DataType::I64 => Raw::Int(i64::from_be_bytes(be_bytes(words, order)?)),
        DataType::F32 => Raw::Float(f64::from(f32::from_be_bytes(be_bytes(words, order)?))),
        DataType::F64 => Raw::Float(f64::from_be_bytes(be_bytes(words, order)?)),
        DataType::String => {
            // Two characters per register, high byte first; BADC and DCBA
            // devices put the low byte first. Word order does not apply.
            let mut bytes = Vec::with_capacity(words.len() * 2);
            for w in words {
                if order.swaps_bytes() {
                    bytes.extend_from_slice(&w.to_le_bytes());
                } else {
                    bytes.extend_from_slice(&w.to_be_bytes());
                }
            }
            // PLCs pad fixed-length strings with NULs or spaces.
            let end = bytes
                .iter()
                .rposition(|&b| b != 0 && b != b' ')
                .map_or(0, |p| p + 1);
            bytes.truncate(end);
            Raw::Text(String::from_utf8(bytes).map_err(|_| DecodeError::Utf8)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Independent of both directions under test: places big-endian bytes
    /// per the documented layout.
    fn encode(be: &[u8], order: ByteOrder) -> Vec<u16> {
        let mut words: Vec<u16> = be
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        if matches!(order, ByteOrder::CDAB | ByteOrder::DCBA) {
            words.reverse();
        }
        if matches!(order, ByteOrder::BADC | ByteOrder::DCBA) {
            words.iter_mut().for_each(|w| *w = w.swap_bytes());
        }
        words
    }

    #[test]
    fn byte_orders_match_the_documented_layout() {
        let be = [0x11, 0x22, 0x33, 0x44];
        assert_eq!(arrange(&be, ByteOrder::ABCD), vec![0x1122, 0x3344]);
        assert_eq!(arrange(&be, ByteOrder::CDAB), vec![0x3344, 0x1122]);
        assert_eq!(arrange(&be, ByteOrder::BADC), vec![0x2211, 0x4433]);
        assert_eq!(arrange(&be, ByteOrder::DCBA), vec![0x4433, 0x2211]);
        // One register is never reordered.
        assert_eq!(arrange(&[0x11, 0x22], ByteOrder::DCBA), vec![0x1122]);
    }

    #[test]
    fn byte_orders_of_a_known_float() {
        // 123.456f32 = 0x42F6E979: A=42 B=F6 C=E9 D=79.
        let cases = [
            (ByteOrder::ABCD, [0x42F6, 0xE979]),
            (ByteOrder::CDAB, [0xE979, 0x42F6]),
            (ByteOrder::BADC, [0xF642, 0x79E9]),
            (ByteOrder::DCBA, [0x79E9, 0xF642]),
        ];
        for (order, words) in cases {
            let raw = decode_raw(DataType::F32, order, None, &words).unwrap();
            assert_eq!(raw, Raw::Float(f64::from(123.456f32)), "{order:?}");
        }
    }

    #[test]
    fn strings_in_badc_and_dcba_are_low_byte_first() {
        // "JC-02" as a low-byte-first device stores it: "CJ" "0-" "\0 2".
        let words = [0x434A, 0x302D, 0x0032];
        for order in [ByteOrder::BADC, ByteOrder::DCBA] {
            assert_eq!(
                decode_raw(DataType::String, order, None, &words).unwrap(),
                Raw::Text("JC-02".into())
            );
        }
        let high_first = [0x4A43, 0x2D30, 0x3200];
        for order in [ByteOrder::ABCD, ByteOrder::CDAB] {
            assert_eq!(
                decode_raw(DataType::String, order, None, &high_first).unwrap(),
                Raw::Text("JC-02".into())
            );
        }
    }

    #[test]
    fn signed_bits_strings() {
        assert_eq!(
            decode_raw(DataType::I16, ByteOrder::ABCD, None, &[0xFFFE]).unwrap(),
            Raw::Int(-2)
        );
        assert_eq!(
            decode_raw(DataType::Bool, ByteOrder::ABCD, Some(3), &[0b1000]).unwrap(),
            Raw::Bool(true)
        );
        assert_eq!(
            decode_raw(DataType::Bool, ByteOrder::ABCD, Some(2), &[0b1000]).unwrap(),
            Raw::Bool(false)
        );
        assert_eq!(
            decode_raw(
                DataType::String,
                ByteOrder::ABCD,
                None,
                &[0x4A43, 0x2D31, 0x0000]
            )
            .unwrap(),
            Raw::Text("JC-1".into())
        );
        assert_eq!(
            decode_raw(DataType::String, ByteOrder::ABCD, None, &[0xFFFE]),
            Err(DecodeError::Utf8)
        );
        assert!(matches!(
            decode_raw(DataType::F64, ByteOrder::ABCD, None, &[1, 2]),
            Err(DecodeError::Length {
                expected: 4,
                got: 2
            })
        ));
    }

    fn order() -> impl Strategy<Value = ByteOrder> {
        (0usize..4).prop_map(|i| ByteOrder::ALL[i])
    }

    proptest! {
        #[test]
        fn round_trips_every_type_and_order(o in order(), a in any::<u32>(), b in any::<i64>(), f in any::<f64>(), g in any::<f32>()) {
            prop_assert_eq!(decode_raw(DataType::U32, o, None, &encode(&a.to_be_bytes(), o)).unwrap(), Raw::Int(i64::from(a)));
            prop_assert_eq!(decode_raw(DataType::I32, o, None, &encode(&(a as i32).to_be_bytes(), o)).unwrap(), Raw::Int(i64::from(a as i32)));
            prop_assert_eq!(decode_raw(DataType::I64, o, None, &encode(&b.to_be_bytes(), o)).unwrap(), Raw::Int(b));
            prop_assert_eq!(decode_raw(DataType::U64, o, None, &encode(&(b as u64).to_be_bytes(), o)).unwrap(), Raw::U64(b as u64));
            let Raw::Float(x) = decode_raw(DataType::F64, o, None, &encode(&f.to_be_bytes(), o)).unwrap() else { panic!() };
            prop_assert_eq!(x.to_bits(), f.to_bits());
            let Raw::Float(y) = decode_raw(DataType::F32, o, None, &encode(&g.to_be_bytes(), o)).unwrap() else { panic!() };
            prop_assert_eq!((y as f32).to_bits(), g.to_bits());
        }

        /// The simulator's side and the gateway's side are inverses.
        #[test]
        fn arrange_and_be_bytes_are_inverse(o in order(), b in any::<[u8; 8]>()) {
            prop_assert_eq!(arrange(&b, o), encode(&b, o));
            prop_assert_eq!(be_bytes::<8>(&arrange(&b, o), o).unwrap(), b);
            let four: [u8; 4] = [b[0], b[1], b[2], b[3]];
            prop_assert_eq!(be_bytes::<4>(&arrange(&four, o), o).unwrap(), four);
        }

        #[test]
        fn never_panics(words in proptest::collection::vec(any::<u16>(), 0..8), ty in 0usize..10, o in order(), bit in proptest::option::of(any::<u8>())) {
            let _ = decode_raw(DataType::ALL[ty], o, bit, &words);
        }
    }
}
