//! plantgw-core: the vocabulary the gateway (`plantgw`) and the plant
//! simulator (`plantsim`) both speak, defined once so the two cannot drift.
//!
//! What belongs here: the names of things on the Modbus wire and in a tag
//! list ([`register`]: tables, data types, byte orders, with the spelling
//! the TOML config and CSV I/O lists use), how a value's bytes sit in
//! registers ([`codec`]: pure functions on `&[u16]`), and the plant clock
//! both sides run on ([`clock`]).
//!
//! What does not: anything with I/O, an async runtime, configuration
//! structure, scaling/quality rules of the gateway or the plant model of the
//! simulator. The gateway ships without the simulator, so whatever the
//! simulator needs from the gateway's side has to live here, and nothing
//! here may pull a dependency the installed gateway would not otherwise
//! carry.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod clock;
pub mod codec;
pub mod register;

pub use clock::PlantClock;
pub use register::{ByteOrder, DataType, Table};
