//! Transports other than Modbus TCP, against real peers: RTU on a pty pair
//! (socat) and RTU over TCP, both served by pymodbus
//! (tests/fixtures/rtu_server.py), and shared lines.
mod bad_line;
mod peers;
mod rtu_e2e;
mod scan_classes;
mod shared_line;
