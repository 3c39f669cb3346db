//! Answering Modbus requests from a PLC's process image, strictly:
//!
//! - quantity outside 1–125 registers / 1–2000 bits (writes: 1–123 / 1–1968)
//!   → exception 3, IllegalDataValue;
//! - any address of the range outside the mapped space (0 up to the last
//!   mapped address of that table; gaps inside read as 0) → exception 2;
//! - functions other than 1–6, 15, 16 → exception 1, and so are writes unless
//!   the simulator runs with `--allow-writes`;
//! - a request for another unit id → exception 0x0B (gateway target device
//!   failed to respond), as a Modbus TCP gateway answers for an absent
//!   device; unit id 0 (broadcast) is never answered.
//!
//! The std locks are never held across an await, so they are the right tool.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio_modbus::{ExceptionCode, Request, Response};

use crate::frame::{self, MAX_READ_BITS, MAX_READ_REGISTERS, MAX_WRITE_BITS, MAX_WRITE_REGISTERS};
use crate::image::PlcImage;
use crate::registers::Table;
use crate::scenario::CommsMode;

/// Everything a PLC's connections share with the model task.
#[derive(Debug)]
pub struct PlcState {
    pub name: String,
    pub unit_id: u8,
    pub allow_writes: bool,
    image: RwLock<PlcImage>,
    fault: RwLock<Option<CommsMode>>,
}

impl PlcState {
    pub fn new(name: String, unit_id: u8, allow_writes: bool, image: PlcImage) -> PlcState {
        PlcState {
            name,
            unit_id,
            allow_writes,
            image: RwLock::new(image),
            fault: RwLock::new(None),
        }
    }

    // A panic elsewhere while holding a lock leaves consistent plain data,
    // so a poisoned lock is still usable.
    pub fn image(&self) -> RwLockReadGuard<'_, PlcImage> {
        self.image.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn image_mut(&self) -> RwLockWriteGuard<'_, PlcImage> {
        self.image.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn fault(&self) -> Option<CommsMode> {
        *self.fault.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_fault(&self, fault: Option<CommsMode>) {
        *self.fault.write().unwrap_or_else(|e| e.into_inner()) = fault;
    }
}

/// The request handler of one PLC.
#[derive(Debug, Clone)]
pub struct PlcService {
    state: Arc<PlcState>,
}

impl PlcService {
    pub fn new(state: Arc<PlcState>) -> PlcService {
        PlcService { state }
    }

    pub fn state(&self) -> &Arc<PlcState> {
        &self.state
    }

    /// The response PDU for a request PDU, or `None` when nothing is to be
    /// sent (broadcast, empty PDU).
    pub fn respond(&self, unit_id: u8, pdu: &[u8]) -> Option<Vec<u8>> {
        let &function = pdu.first()?;
        if unit_id == 0 {
            return None;
        }
        if unit_id != self.state.unit_id {
            return Some(frame::exception_pdu(
                function,
                ExceptionCode::GatewayTargetDevice,
            ));
        }
        let result = frame::parse_request(pdu).and_then(|req| self.execute(req));
        Some(match result {
            Ok(response) => frame::encode_response(&response).unwrap_or_else(|| {
                frame::exception_pdu(function, ExceptionCode::ServerDeviceFailure)
            }),
            Err(code) => frame::exception_pdu(function, code),
        })
    }

    /// Carry out a parsed request against the image.
    pub fn execute(&self, request: Request<'_>) -> Result<Response, ExceptionCode> {
        use Request as R;
        match request {
            R::ReadCoils(a, n) => self.read_bits(Table::Coil, a, n).map(Response::ReadCoils),
            R::ReadDiscreteInputs(a, n) => self
                .read_bits(Table::Discrete, a, n)
                .map(Response::ReadDiscreteInputs),
            R::ReadHoldingRegisters(a, n) => self
                .read_registers(Table::Holding, a, n)
                .map(Response::ReadHoldingRegisters),
            R::ReadInputRegisters(a, n) => self
                .read_registers(Table::Input, a, n)
                .map(Response::ReadInputRegisters),
            R::WriteSingleCoil(a, v) => {
                self.writable(Table::Coil, a, 1, MAX_WRITE_BITS)?;
                self.state.image_mut().write_coils(a, &[v]);
                Ok(Response::WriteSingleCoil(a, v))
            }
            R::WriteMultipleCoils(a, values) => {
                let n = quantity(values.len())?;
                self.writable(Table::Coil, a, n, MAX_WRITE_BITS)?;
                self.state.image_mut().write_coils(a, &values);
                Ok(Response::WriteMultipleCoils(a, n))
            }
            R::WriteSingleRegister(a, v) => {
                self.writable(Table::Holding, a, 1, MAX_WRITE_REGISTERS)?;
                self.state.image_mut().write_holding(a, &[v]);
                Ok(Response::WriteSingleRegister(a, v))
            }
            R::WriteMultipleRegisters(a, values) => {
                let n = quantity(values.len())?;
                self.writable(Table::Holding, a, n, MAX_WRITE_REGISTERS)?;
                self.state.image_mut().write_holding(a, &values);
                Ok(Response::WriteMultipleRegisters(a, n))
            }
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }

    fn read_bits(&self, table: Table, address: u16, n: u16) -> Result<Vec<bool>, ExceptionCode> {
        check_quantity(n, MAX_READ_BITS)?;
        let image = self.state.image();
        slice(image.bits(table), address, n).map(<[bool]>::to_vec)
    }

    fn read_registers(
        &self,
        table: Table,
        address: u16,
        n: u16,
    ) -> Result<Vec<u16>, ExceptionCode> {
        check_quantity(n, MAX_READ_REGISTERS)?;
        let image = self.state.image();
        slice(image.registers(table), address, n).map(<[u16]>::to_vec)
    }

    fn writable(&self, table: Table, address: u16, n: u16, max: u16) -> Result<(), ExceptionCode> {
        if !self.state.allow_writes {
            return Err(ExceptionCode::IllegalFunction);
        }
        check_quantity(n, max)?;
        let image = self.state.image();
        let size = match table {
            Table::Coil => image.coils.len(),
            _ => image.holding.len(),
        };
        if usize::from(address) + usize::from(n) > size {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        Ok(())
    }
}

fn quantity(len: usize) -> Result<u16, ExceptionCode> {
    u16::try_from(len).map_err(|_| ExceptionCode::IllegalDataValue)
}

fn check_quantity(n: u16, max: u16) -> Result<(), ExceptionCode> {
    if (1..=max).contains(&n) {
        Ok(())
    } else {
        Err(ExceptionCode::IllegalDataValue)
    }
}

fn slice<T>(table: &[T], address: u16, n: u16) -> Result<&[T], ExceptionCode> {
    let start = usize::from(address);
    table
        .get(start..start + usize::from(n))
        .ok_or(ExceptionCode::IllegalDataAddress)
}
