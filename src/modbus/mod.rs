//! Modbus acquisition: plan the reads ([`planner`]), talk to the PLC
//! ([`link`]), decode the answers ([`decode`]), and poll each PLC on its
//! schedule ([`poller`]).
pub mod decode;
pub mod link;
pub mod planner;
pub mod poller;
