//! Modbus response decoding: any register contents, any tag shape, must
//! decode to a good finite value or a bad quality, never panic.
#![no_main]
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use plantgw::config::{ByteOrder, DataType, Table, Tag, TagId};
use plantgw::source::modbus::decode::{decode_bit_tag, decode_register_tag};
use plantgw::sample::Value;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let dt = DataType::ALL[data[0] as usize % DataType::ALL.len()];
    let order = ByteOrder::ALL[data[1] as usize % ByteOrder::ALL.len()];
    let length = u16::from(data[2] % 8);
    let address = u16::from(data[3] % 16);
    let block_start = u16::from(data[4] % 16);
    let scale = if data[5] == 0 { 1.0 } else { f64::from(data[5]) / 7.0 };
    let words: Vec<u16> = data[8..].chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])).collect();
    let tag = Tag {
        id: Arc::new(TagId::new("p", "a", "e", "n")),
        table: Table::Holding,
        address,
        data_type: dt,
        order,
        bit: (dt == DataType::Bool).then_some(data[6] % 16),
        count: dt.registers(length),
        scale,
        offset: f64::from(data[7] as i8),
        extras: None,
        scan_every: 1,
    };
    let (value, quality) = decode_register_tag(&tag, block_start, &words);
    assert_eq!(value.is_some(), quality.is_good());
    if let Some(x) = value.as_ref().and_then(Value::as_f64) {
        assert!(x.is_finite());
    }
    let bits: Vec<bool> = data[8..].iter().map(|b| b & 1 == 1).collect();
    let _ = decode_bit_tag(&tag, block_start, &bits);
});
