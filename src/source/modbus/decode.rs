//! Register decoding: raw Modbus words or bits → engineering values with
//! quality. Pure and tokio-free; property-tested and fuzzed because every
//! byte here comes from a PLC.
use crate::config::Tag;
use crate::sample::{Quality, Value};
// Words → typed raw value is shared with the simulator, which serves what
// this decodes; only scaling and quality are the gateway's own.
pub use plantgw_core::codec::{decode_raw, DecodeError, Raw};

/// Applies `raw × scale + offset` and the tag's min/max and finiteness
/// checks. Unscaled integers stay integers.
pub fn engineering(tag: &Tag, raw: Raw) -> (Option<Value>, Quality) {
    let scaled = tag.is_scaled();
    let value = match raw {
        Raw::Bool(b) => return (Some(Value::Bool(b)), Quality::Good),
        Raw::Text(s) => return (Some(Value::text(s)), Quality::Good),
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
    let outside = tag
        .extras
        .as_deref()
        .is_some_and(|e| e.min.is_some_and(|lo| x < lo) || e.max.is_some_and(|hi| x > hi));
    if !x.is_finite() || outside {
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
    use crate::config::{ByteOrder, DataType, Table, TagId};
    use proptest::prelude::*;

    fn tag(dt: DataType, order: ByteOrder, scale: f64, offset: f64) -> Tag {
        let id = TagId::new("p", "a", "e", "n");
        Tag {
            order,
            scale,
            offset,
            ..Tag::new(id, Table::Holding, 0, dt, 4)
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
        t = t.with_extras(crate::config::TagExtras {
            min: Some(0.0),
            max: Some(100.0),
            ..Default::default()
        });
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
        (0usize..4).prop_map(|i| ByteOrder::ALL[i])
    }

    proptest! {
        #[test]
        fn never_panics_and_never_yields_non_finite(words in proptest::collection::vec(any::<u16>(), 0..8), ty in 0usize..10, o in order(), scale in -1e6f64..1e6, offset in -1e6f64..1e6) {
            let dt = DataType::ALL[ty];
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
