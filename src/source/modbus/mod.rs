//! Modbus acquisition: plan the reads ([`planner`]), talk to the PLC
//! ([`link`]), decode the answers ([`decode`]), and poll each PLC on its
//! schedule ([`poller`]), isolating failing ranges ([`schedule`]).
pub mod decode;
pub mod link;
pub mod planner;
pub mod poller;
pub mod schedule;
