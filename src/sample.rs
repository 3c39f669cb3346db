//! What a poller hands downstream: one [`Scan`] per PLC per scan, holding a
//! [`Reading`] for every configured tag. Plain data, no behaviour beyond
//! naming quality codes, so the KPI engine and the historian can consume it
//! independently.
use std::sync::Arc;
use std::time::Duration;

use crate::config::TagId;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    /// Unscaled integers (written with InfluxDB's `i` suffix).
    Int(i64),
    /// Floats and every scaled value.
    Float(f64),
    /// Boxed: string tags are rare, and a thin pointer keeps every
    /// [`Reading`] at 32 bytes instead of 40 (100 000 of them are in flight
    /// at each aligned scan instant of a large plant).
    Text(Box<String>),
}

impl Value {
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(Box::new(s.into()))
    }

    /// Numeric view for KPIs and deadbands; bools count as 0/1.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Text(_) => None,
        }
    }
}

/// DESIGN §5 quality codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quality {
    Good,
    /// No connection, or the connection failed during the request.
    CommFailure,
    Timeout,
    /// The PLC answered with this Modbus exception code for the tag's block.
    Exception(u8),
    /// The engineering value is outside the tag's min/max, or not finite.
    OutOfRange,
    /// The registers could not be decoded (e.g. invalid UTF-8 in a string).
    DecodeError,
}

impl Quality {
    pub fn is_good(self) -> bool {
        self == Quality::Good
    }

    pub fn code(self) -> std::borrow::Cow<'static, str> {
        match self {
            Quality::Good => "good".into(),
            Quality::CommFailure => "comm_failure".into(),
            Quality::Timeout => "timeout".into(),
            Quality::Exception(n) => format!("exception_{n}").into(),
            Quality::OutOfRange => "out_of_range".into(),
            Quality::DecodeError => "decode_error".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub tag: Arc<TagId>,
    /// `Some` only when quality is good: a bad reading never carries a value.
    pub value: Option<Value>,
    pub quality: Quality,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanStatus {
    pub connected: bool,
    /// Wall time the scan took, from first request to last answer.
    pub duration: Duration,
    pub requests: u32,
    pub errors: u32,
    pub timeouts: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub plc: Arc<str>,
    pub area: Arc<str>,
    /// Acquisition time on the plant clock, ms since the Unix epoch.
    pub ts_ms: i64,
    pub readings: Vec<Reading>,
    pub status: ScanStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_stays_small() {
        // Every tag of every PLC has one per scan; see `Value::Text`.
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<Reading>(), 32);
    }
}
