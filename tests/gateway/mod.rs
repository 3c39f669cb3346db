mod cli;
mod pymodbus_e2e;
