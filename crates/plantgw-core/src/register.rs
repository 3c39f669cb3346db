//! Names of the Modbus data tables, the tag data types and the byte orders,
//! spelled as the config file, the CSV I/O list and the simulator's map
//! spell them (`holding`, `f32`, `CDAB`).
use std::fmt;

use serde::{Deserialize, Serialize};

/// One of the four Modbus data tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    Coil,
    Discrete,
    Input,
    Holding,
}

impl Table {
    /// In protocol order (function codes 1 to 4).
    pub const ALL: [Table; 4] = [Table::Coil, Table::Discrete, Table::Input, Table::Holding];

    /// Coils and discrete inputs hold bits; the other two hold 16-bit registers.
    pub fn is_bits(self) -> bool {
        matches!(self, Table::Coil | Table::Discrete)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Table::Coil => "coil",
            Table::Discrete => "discrete",
            Table::Input => "input",
            Table::Holding => "holding",
        }
    }

    pub fn parse(s: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tag's type as it sits in the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    Bool,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    String,
}

impl DataType {
    pub const ALL: [DataType; 10] = [
        DataType::Bool,
        DataType::U16,
        DataType::I16,
        DataType::U32,
        DataType::I32,
        DataType::U64,
        DataType::I64,
        DataType::F32,
        DataType::F64,
        DataType::String,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::U16 => "u16",
            DataType::I16 => "i16",
            DataType::U32 => "u32",
            DataType::I32 => "i32",
            DataType::U64 => "u64",
            DataType::I64 => "i64",
            DataType::F32 => "f32",
            DataType::F64 => "f64",
            DataType::String => "string",
        }
    }

    pub fn parse(s: &str) -> Option<DataType> {
        DataType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Registers occupied in a register table (`length` is only used by
    /// strings, two ASCII characters per register).
    pub fn registers(self, length: u16) -> u16 {
        match self {
            DataType::Bool | DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
            DataType::String => length,
        }
    }

    pub fn is_integer(self) -> bool {
        self.integer_range().is_some()
    }

    /// Inclusive raw range of an integer type, as i128 so every type fits;
    /// `None` for the other types.
    pub fn integer_range(self) -> Option<(i128, i128)> {
        match self {
            DataType::U16 => Some((0, u16::MAX.into())),
            DataType::I16 => Some((i16::MIN.into(), i16::MAX.into())),
            DataType::U32 => Some((0, u32::MAX.into())),
            DataType::I32 => Some((i32::MIN.into(), i32::MAX.into())),
            DataType::U64 => Some((0, u64::MAX.into())),
            DataType::I64 => Some((i64::MIN.into(), i64::MAX.into())),
            _ => None,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Byte order of a multi-register value, named by where the value's
/// big-endian bytes A B C D … land: ABCD big-endian, CDAB word-swapped,
/// BADC byte-swapped, DCBA little-endian. Single-register values ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
pub enum ByteOrder {
    #[default]
    ABCD,
    CDAB,
    BADC,
    DCBA,
}

impl ByteOrder {
    pub const ALL: [ByteOrder; 4] = [
        ByteOrder::ABCD,
        ByteOrder::CDAB,
        ByteOrder::BADC,
        ByteOrder::DCBA,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ByteOrder::ABCD => "ABCD",
            ByteOrder::CDAB => "CDAB",
            ByteOrder::BADC => "BADC",
            ByteOrder::DCBA => "DCBA",
        }
    }

    pub fn parse(s: &str) -> Option<ByteOrder> {
        ByteOrder::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The 16-bit words are stored last-first.
    pub fn swaps_words(self) -> bool {
        matches!(self, ByteOrder::CDAB | ByteOrder::DCBA)
    }

    /// The two bytes inside each word are swapped.
    pub fn swaps_bytes(self) -> bool {
        matches!(self, ByteOrder::BADC | ByteOrder::DCBA)
    }
}

impl fmt::Display for ByteOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spelling is a contract with every config file and I/O list in
    /// the field: `parse`, `as_str` and serde must agree on it.
    #[test]
    fn names_round_trip_through_parse_and_serde() {
        #[derive(Deserialize)]
        struct Row {
            table: Table,
            #[serde(rename = "type")]
            data_type: DataType,
            order: ByteOrder,
        }
        for table in Table::ALL {
            for data_type in DataType::ALL {
                for order in ByteOrder::ALL {
                    assert_eq!(Table::parse(table.as_str()), Some(table));
                    assert_eq!(DataType::parse(data_type.as_str()), Some(data_type));
                    assert_eq!(ByteOrder::parse(order.as_str()), Some(order));
                    let text =
                        format!(r#"{{"table":"{table}","type":"{data_type}","order":"{order}"}}"#);
                    let row: Row = serde_json_lite(&text);
                    assert_eq!(
                        (row.table, row.data_type, row.order),
                        (table, data_type, order)
                    );
                }
            }
        }
        assert_eq!(Table::parse("Holding"), None);
        assert_eq!(ByteOrder::parse("abcd"), None);
    }

    /// A three-field flat JSON object through serde's value deserializer,
    /// so this crate needs no JSON dependency for one test.
    fn serde_json_lite<'de, T: Deserialize<'de>>(text: &'de str) -> T {
        use serde::de::value::{Error, MapDeserializer};
        let body = text.trim_start_matches('{').trim_end_matches('}');
        let pairs = body.split(',').map(|kv| {
            let (k, v) = kv.split_once(':').unwrap();
            (k.trim_matches('"'), v.trim_matches('"'))
        });
        T::deserialize(MapDeserializer::<_, Error>::new(pairs)).unwrap()
    }

    #[test]
    fn register_counts() {
        assert_eq!(DataType::Bool.registers(9), 1);
        assert_eq!(DataType::F32.registers(9), 2);
        assert_eq!(DataType::I64.registers(9), 4);
        assert_eq!(DataType::String.registers(9), 9);
        assert!(DataType::U64.is_integer() && !DataType::F64.is_integer());
        assert!(Table::Coil.is_bits() && !Table::Input.is_bits());
    }
}
