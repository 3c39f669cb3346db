//! All integration tests build into this one binary (see Cargo.toml).
mod common;
mod fleet;
mod gateway;
mod historian;
mod kpi;
mod ops;
mod reliability;
mod report;
mod transport;
mod workspace;
