//! Sources: where readings come from. A source runs one task per device; the
//! task acquires on the device's own schedule and sends one [`Scan`] per
//! scan period down an `mpsc` channel, every configured tag in every scan
//! with a value or a quality code saying why there is none. It stops when
//! cancelled or when the channel closes, and never blocks another device's
//! task.
//!
//! Everything downstream (router, KPI engine, sinks) sees only `Scan`s, so a
//! new kind of source adds a module here and changes nothing after the
//! channel. Today there is one: [`modbus`].
//!
//! [`Scan`]: crate::sample::Scan
pub mod modbus;
