//! Former home of the InfluxDB sink and the pipeline, now
//! [`crate::sink::influxdb`] and [`crate::pipeline`]. These old paths stay
//! only while modules restructured in parallel (KPI, config, commands)
//! still name them; new code uses the new paths.
pub use crate::pipeline;
pub use crate::sink::influxdb::encoder as line;
pub use crate::sink::influxdb::query;

pub mod client {
    pub use crate::sink::influxdb::client::*;
    pub use crate::sink::influxdb::config::build_http;
}
pub use crate::sink::influxdb::{
    deliver, encode_point, Delivery, FieldValue, InfluxClient, Point, QueryClient, QueryError,
    Series,
};
