//! plantsim: a Modbus TCP simulator of the Caylloma concentrator.
pub mod clock;
