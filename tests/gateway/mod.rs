mod cli;
mod demo;
mod pymodbus_e2e;
mod v2_victoria;
