//! Historian against servers: the documented InfluxDB 2 answers (in-test
//! mock), a real InfluxDB 1.x, VictoriaMetrics for the v2 write path, TLS.
mod influxdb_v1;
mod mock_write;
mod tls;
mod victoria_v2;

use std::time::Duration;

use plantgw::config::{DataType, Plc, Table, Tag, TagId};
use plantgw::sample::{Quality, Reading, Scan, ScanStatus, Value};
use plantgw::sink::influxdb::RetryPolicy;

/// Fast, deterministic retries so error paths take milliseconds.
pub fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        retry_after_max: Duration::from_secs(5),
        jitter: false,
        probe_interval: Duration::from_millis(20),
        bisect_budget: 32,
    }
}

pub fn tag(plc: &str, equipment: &str, name: &str, data_type: DataType) -> Tag {
    let id = TagId::new(plc, plc, equipment, name);
    Tag::new(id, Table::Holding, 0, data_type, 2)
}

pub fn plc(name: &str, tags: Vec<Tag>) -> Plc {
    Plc {
        name: name.into(),
        area: name.into(),
        address: "127.0.0.1:502".into(),
        unit_id: 1,
        scan: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        max_gap: 0,
        tags,
        link: Default::default(),
    }
}

pub fn scan(p: &Plc, ts_ms: i64, values: Vec<Option<Value>>) -> Scan {
    Scan {
        plc: p.name.clone(),
        area: p.area.clone(),
        ts_ms,
        readings: p
            .tags
            .iter()
            .zip(values)
            .map(|(t, v)| Reading {
                tag: t.id.clone(),
                quality: if v.is_some() {
                    Quality::Good
                } else {
                    Quality::Timeout
                },
                value: v,
            })
            .collect(),
        status: ScanStatus {
            connected: true,
            duration: Duration::from_millis(42),
            requests: 2,
            errors: 0,
            timeouts: 0,
        },
    }
}

/// The grinding PLC with one tag of each written type.
pub fn grinding() -> Plc {
    plc(
        "grinding",
        vec![
            tag("grinding", "ball_mill", "power_kw", DataType::F32),
            tag("grinding", "ball_mill", "running", DataType::Bool),
            tag("grinding", "ball_mill", "starts", DataType::U16),
            tag("grinding", "ball_mill", "mode", DataType::String),
            tag("grinding", "mill_feed_belt", "feed_rate_tph", DataType::F32),
        ],
    )
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
