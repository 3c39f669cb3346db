//! Register decoding: raw Modbus words or bits → engineering values with
//! quality. Pure and tokio-free; property-tested and fuzzed because every
//! byte here comes from a PLC.
use crate::config::{ByteOrder, DataType, Tag};
use crate::sample::{Quality, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("expected {expected} registers, got {got}")]
    Length { expected: usize, got: usize },
    #[error("string registers are not valid UTF-8")]
    Utf8,
}

/// Puts the value's big-endian bytes in order from registers stored in
/// `order` (see [`ByteOrder`]).
fn be_bytes<const N: usize>(words: &[u16], order: ByteOrder) -> Result<[u8; N], DecodeError> {
    let n = N / 2;
    if words.len() != n {
        return Err(DecodeError::Length {
            expected: n,
            got: words.len(),
        });
    }
    let mut out = [0u8; N];
    for (i, chunk) in out.chunks_exact_mut(2).enumerate() {
        let w = match order {
            ByteOrder::ABCD | ByteOrder::BADC => words[i],
            ByteOrder::CDAB | ByteOrder::DCBA => words[n - 1 - i],
        };
        let w = match order {
            ByteOrder::ABCD | ByteOrder::CDAB => w,
            ByteOrder::BADC | ByteOrder::DCBA => w.swap_bytes(),
        };
        chunk.copy_from_slice(&w.to_be_bytes());
    }
    Ok(out)
}

/// The raw (unscaled) value in `words`, which must be exactly the tag's
/// registers. Bools here are register bits; bit tables use [`decode_bit`].
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
            let mut bytes = Vec::with_capacity(words.len() * 2);
            for w in words {
                bytes.extend_from_slice(&w.to_be_bytes());
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

/// Applies `raw × scale + offset` and the tag's min/max and finiteness
/// checks. Unscaled integers stay integers.
pub fn engineering(tag: &Tag, raw: Raw) -> (Option<Value>, Quality) {
    let scaled = tag.is_scaled();
    let value = match raw {
        Raw::Bool(b) => return (Some(Value::Bool(b)), Quality::Good),
        Raw::Text(s) => return (Some(Value::Text(s)), Quality::Good),
        Raw::Int(i) if !scaled => Value::Int(i),
        Raw::U64(u) if !scaled => match i64::try_from(u) {
            Ok(i) => Value::Int(i),
            Err(_) => return (None, Quality::OutOfRange),
        },
        Raw::Int(i) => Value::Float(i as f64 * tag.scale + tag.offset),
        Raw::U64(u) => Value::Float(u as f64 * tag.scale + tag.offset),
        Raw::Float(f) if !scaled => Value::Float(f),
        Raw::Float(f) => Value::Float(f * tag.scale + tag.offset),
    };
    let Some(x) = value.as_f64() else {
        return (Some(value), Quality::Good);
    };
    // NaN and ±inf are never written: a NaN fails a whole InfluxDB batch.
    if !x.is_finite() || tag.min.is_some_and(|lo| x < lo) || tag.max.is_some_and(|hi| x > hi) {
        return (None, Quality::OutOfRange);
    }
    (Some(value), Quality::Good)
}

/// Decodes a register-table tag from its block's words (`block_start` is the
/// block's first address).
pub fn decode_register_tag(tag: &Tag, block_start: u16, words: &[u16]) -> (Option<Value>, Quality) {
    let off = usize::from(tag.address.wrapping_sub(block_start));
    let Some(slice) = words.get(off..off + usize::from(tag.count)) else {
        return (None, Quality::DecodeError);
    };
    match decode_raw(tag.data_type, tag.order, tag.bit, slice) {
        Ok(raw) => engineering(tag, raw),
        Err(_) => (None, Quality::DecodeError),
    }
}

/// Decodes a coil/discrete-input tag from its block's bits.
pub fn decode_bit_tag(tag: &Tag, block_start: u16, bits: &[bool]) -> (Option<Value>, Quality) {
    match bits.get(usize::from(tag.address.wrapping_sub(block_start))) {
        Some(b) => (Some(Value::Bool(*b)), Quality::Good),
        None => (None, Quality::DecodeError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Table, TagId};
    use proptest::prelude::*;
    use std::sync::Arc;

    fn tag(dt: DataType, order: ByteOrder, scale: f64, offset: f64) -> Tag {
        Tag {
            id: Arc::new(TagId {
                plc: "p".into(),
                area: "a".into(),
                equipment: "e".into(),
                name: "n".into(),
            }),
            table: Table::Holding,
            address: 0,
            data_type: dt,
            order,
            bit: None,
            count: dt.registers(4),
            scale,
            offset,
            unit: None,
            deadband: None,
            max_interval: None,
            min: None,
            max: None,
        }
    }

    /// Independent encoder for the tests: places big-endian bytes per order.
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
    fn totaliser_u32_with_implied_decimals() {
        let t = tag(DataType::U32, ByteOrder::ABCD, 0.001, 0.0);
        // 4,294,967.295 t: the BW500-style maximum before wrap.
        let (v, q) = engineering(
            &t,
            decode_raw(DataType::U32, ByteOrder::ABCD, None, &[0xFFFF, 0xFFFF]).unwrap(),
        );
        assert_eq!(q, Quality::Good);
        assert_eq!(v, Some(Value::Float(4_294_967.295)));
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

    #[test]
    fn range_and_finiteness_make_bad_quality() {
        let mut t = tag(DataType::F32, ByteOrder::ABCD, 1.0, 0.0);
        assert_eq!(
            engineering(&t, Raw::Float(f64::NAN)),
            (None, Quality::OutOfRange)
        );
        assert_eq!(
            engineering(&t, Raw::Float(f64::INFINITY)),
            (None, Quality::OutOfRange)
        );
        t.min = Some(0.0);
        t.max = Some(100.0);
        assert_eq!(
            engineering(&t, Raw::Float(100.5)),
            (None, Quality::OutOfRange)
        );
        assert_eq!(
            engineering(&t, Raw::Float(50.0)),
            (Some(Value::Float(50.0)), Quality::Good)
        );
        let u = tag(DataType::U64, ByteOrder::ABCD, 1.0, 0.0);
        assert_eq!(
            engineering(&u, Raw::U64(u64::MAX)),
            (None, Quality::OutOfRange)
        );
        let s = tag(DataType::I16, ByteOrder::ABCD, 0.1, -10.0);
        assert_eq!(
            engineering(&s, Raw::Int(250)),
            (Some(Value::Float(15.0)), Quality::Good)
        );
    }

    fn order() -> impl Strategy<Value = ByteOrder> {
        prop_oneof![
            Just(ByteOrder::ABCD),
            Just(ByteOrder::CDAB),
            Just(ByteOrder::BADC),
            Just(ByteOrder::DCBA)
        ]
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

        #[test]
        fn never_panics_and_never_yields_non_finite(words in proptest::collection::vec(any::<u16>(), 0..8), ty in 0usize..10, o in order(), scale in -1e6f64..1e6, offset in -1e6f64..1e6) {
            let dt = [DataType::Bool, DataType::U16, DataType::I16, DataType::U32, DataType::I32, DataType::U64, DataType::I64, DataType::F32, DataType::F64, DataType::String][ty];
            let mut t = tag(dt, o, if scale == 0.0 { 1.0 } else { scale }, offset);
            t.count = words.len().min(4) as u16;
            if dt == DataType::Bool { t.bit = Some(5); }
            let (v, q) = decode_register_tag(&t, 0, &words);
            if let Some(x) = v.as_ref().and_then(Value::as_f64) {
                prop_assert!(x.is_finite());
            }
            prop_assert_eq!(v.is_some(), q == Quality::Good);
        }
    }
}
