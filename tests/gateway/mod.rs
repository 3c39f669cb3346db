mod cli;
mod config_errors;
mod demo;
mod pymodbus_e2e;
mod v2_victoria;
