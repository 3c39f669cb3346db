//! The Modbus source: plan the reads ([`planner`]), talk to the PLC
//! ([`link`], over a [`transport`]: TCP, RTU over TCP or a serial line), decode the answers
//! ([`decode`]), and poll each PLC on its schedule ([`poller`]), isolating
//! failing ranges ([`schedule`]). Only `transport` knows how bytes reach
//! the PLC.
pub mod decode;
pub mod link;
pub mod planner;
pub mod poller;
pub mod schedule;
pub mod transport;
