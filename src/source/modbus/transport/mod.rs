//! The transport seam: how the poller reaches a PLC. Scheduling, failing
//! range isolation, retry schedules and decoding live in the poller and do
//! not know what carries the bytes; a transport only opens connections
//! ([`Transport`]) that can issue the four Modbus read functions
//! ([`Connection`]).
//!
//! Modbus TCP to a PLC alone on its address is [`tcp`]: its own
//! connection. Everything else goes over a line (`line.rs`): one task per
//! connection, shared by every `[[plc]]` naming the same address (tcp,
//! rtu_over_tcp) or serial device (rtu), which sends their requests one at
//! a time; `rtu.rs` opens what the line runs on. `poller.rs` and the
//! decoding do not know which.
//!
//! What every implementation must do, and what it need not:
//! - **Read-only.** The seam has no write function, so no transport can
//!   carry a write; an implementation must not add another way to send a
//!   request.
//! - **Unit id.** A connection talks to the one unit id it was opened for,
//!   and an answer from any other unit is a [`LinkError::Protocol`] (the
//!   MBAP header's unit id for TCP, the frame's address byte for RTU; both
//!   checked by tokio-modbus). On a serial line unit 0 is broadcast, which
//!   no unit answers: an RTU transport refuses to connect to it.
//! - **Timeouts.** None needed inside: [`Link`](super::link::Link) runs every
//!   connect and every read under the PLC's timeout and drops the future
//!   when it expires. The poller then drops the connection too, because a
//!   late answer would be taken for the next request's, so dropping a
//!   future must leave nothing shared in a broken state (a line shared by
//!   several PLCs must release it).
//! - **Answers as received.** Bits come back with the padding of their last
//!   byte, registers as many as the answer holds; [`Link`](super::link::Link)
//!   checks the counts against the request, so every transport gets the same
//!   checks. An answer for another function is a [`LinkError::Protocol`].
//! - **Errors.** A Modbus exception is the inner `Err` ([`Exception`]) and
//!   leaves the connection usable; every outer [`LinkError`] makes the poller
//!   drop the connection and connect again.
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio_modbus::{Request, Response};

use crate::config::{Plc, Table};
use context::{answer, coils, discrete_inputs, holding_registers, input_registers};

mod context;
mod line;
mod rtu;
pub mod tcp;

pub use context::ContextConnection;
pub use line::Lines;

/// A boxed future, so transports can sit behind `dyn` and be chosen per PLC
/// at run time.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One read's outcome: the values, or the PLC's exception (in
/// tokio-modbus's style), or a failure of the link.
pub type ReadResult<T> = Result<Result<T, Exception>, LinkError>;

/// A Modbus exception code the PLC answered with, e.g. 2 (illegal data
/// address). The PLC is alive and the connection stays in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception(pub u8);

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The connection cannot be reused after this: tokio-modbus 0.17 clears
    /// its read buffer before each request, but an answer arriving later is
    /// decoded as the next request's and rejected on its transaction id.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("address {0:?} did not resolve")]
    Resolve(String),
    /// Mismatched transaction/unit id or function code: the stream can no
    /// longer be trusted.
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("answer has {got} values, {expected} were requested")]
    Length { expected: usize, got: usize },
    /// The PLC answered with a Modbus exception; the connection is fine.
    #[error("exception {0}")]
    Exception(u8),
}

/// Opens connections to one PLC. The poller holds one for the life of its
/// task and connects again through it after every link failure.
pub trait Transport: Send + Sync {
    /// Opens a connection to the PLC's unit. Called without a timeout of its
    /// own: the caller bounds it.
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Connection>, LinkError>>;
}

/// One open connection to one unit: the four Modbus read functions and
/// nothing else. See the module docs for what implementations check.
pub trait Connection: Send {
    /// Function 1. Every bit of the answer's bytes, padding included.
    fn read_coils(&mut self, start: u16, count: u16) -> BoxFuture<'_, ReadResult<Vec<bool>>>;
    /// Function 2. Every bit of the answer's bytes, padding included.
    fn read_discrete_inputs(
        &mut self,
        start: u16,
        count: u16,
    ) -> BoxFuture<'_, ReadResult<Vec<bool>>>;
    /// Function 3.
    fn read_holding_registers(
        &mut self,
        start: u16,
        count: u16,
    ) -> BoxFuture<'_, ReadResult<Vec<u16>>>;
    /// Function 4.
    fn read_input_registers(
        &mut self,
        start: u16,
        count: u16,
    ) -> BoxFuture<'_, ReadResult<Vec<u16>>>;

    /// True when the connection bounds each request by the PLC's timeout
    /// itself, from the moment it is sent: a request queued on a shared
    /// line must not time out while other units' requests go first.
    fn bounds_itself(&self) -> bool {
        false
    }
}

/// What a connection does for every read: send one request, get its
/// answer or exception. The four typed reads of [`Connection`] are built
/// on it once, for every transport.
pub(super) trait Call: Send {
    fn call(&mut self, request: Request<'static>) -> BoxFuture<'_, ReadResult<Response>>;

    /// See [`Connection::bounds_itself`].
    fn bounds_itself(&self) -> bool {
        false
    }
}

impl<C: Call> Connection for C {
    fn read_coils(&mut self, start: u16, count: u16) -> BoxFuture<'_, ReadResult<Vec<bool>>> {
        typed(self, Table::Coil, Request::ReadCoils(start, count), coils)
    }

    fn read_discrete_inputs(
        &mut self,
        start: u16,
        count: u16,
    ) -> BoxFuture<'_, ReadResult<Vec<bool>>> {
        let request = Request::ReadDiscreteInputs(start, count);
        typed(self, Table::Discrete, request, discrete_inputs)
    }

    fn read_holding_registers(
        &mut self,
        start: u16,
        count: u16,
    ) -> BoxFuture<'_, ReadResult<Vec<u16>>> {
        let request = Request::ReadHoldingRegisters(start, count);
        typed(self, Table::Holding, request, holding_registers)
    }

    fn read_input_registers(
        &mut self,
        start: u16,
        count: u16,
    ) -> BoxFuture<'_, ReadResult<Vec<u16>>> {
        let request = Request::ReadInputRegisters(start, count);
        typed(self, Table::Input, request, input_registers)
    }

    fn bounds_itself(&self) -> bool {
        Call::bounds_itself(self)
    }
}

/// One read through `conn`, its answer checked against the table asked.
fn typed<'a, C: Call, T: 'a>(
    conn: &'a mut C,
    table: Table,
    request: Request<'static>,
    pick: fn(Response) -> Result<T, Response>,
) -> BoxFuture<'a, ReadResult<T>> {
    Box::pin(async move {
        match conn.call(request).await? {
            Ok(response) => answer(table, response, pick).map(Ok),
            Err(exception) => Ok(Err(exception)),
        }
    })
}

/// The transport a PLC's settings ask for, on a line of its own. Pollers
/// started together take theirs from one [`Lines`], so PLCs naming the
/// same connection share it.
pub fn for_plc(plc: &Plc) -> Box<dyn Transport> {
    if line::direct(plc) {
        Box::new(tcp::TcpTransport::new(plc.address.clone(), plc.unit_id))
    } else {
        line::alone(plc)
    }
}

impl Lines {
    /// The transport a PLC's settings ask for: its own Modbus TCP
    /// connection, or its place on a shared line.
    pub fn for_plc(&self, plc: &Plc) -> Box<dyn Transport> {
        if line::direct(plc) {
            Box::new(tcp::TcpTransport::new(plc.address.clone(), plc.unit_id))
        } else {
            self.transport(plc)
        }
    }
}
