//! A [`Connection`] over a tokio-modbus client context, whatever carries it
//! (TCP today; RTU and RTU-over-TCP build the same context with
//! `tokio_modbus::client::rtu`). The context is private and only the four
//! read requests are built here, so nothing can send a write through it.
use tokio_modbus::client::{Client, Context};
use tokio_modbus::{Request, Response};

use super::{BoxFuture, Connection, Exception, LinkError, ReadResult};
use crate::config::Table;

pub struct ContextConnection {
    ctx: Context,
}

impl ContextConnection {
    pub fn new(ctx: Context) -> ContextConnection {
        ContextConnection { ctx }
    }

    /// The crate's `Reader` helpers debug-assert the answer's length (a
    /// hostile or broken PLC panics the poller in a debug build); the plain
    /// request/response call leaves every check to the link.
    async fn read<T>(
        &mut self,
        table: Table,
        request: Request<'static>,
        pick: fn(Response) -> Result<T, Response>,
    ) -> ReadResult<T> {
        let response = match self.ctx.call(request).await {
            Ok(Ok(response)) => response,
            Ok(Err(exception)) => return Ok(Err(Exception(u8::from(exception)))),
            Err(tokio_modbus::Error::Transport(e)) => return Err(LinkError::Io(e)),
            Err(tokio_modbus::Error::Protocol(e)) => {
                return Err(LinkError::Protocol(e.to_string()))
            }
        };
        answer(table, response, pick).map(Ok)
    }
}

/// The values of an answer to a `table` read; an answer for another
/// function means the stream is out of step.
pub(super) fn answer<T>(
    table: Table,
    response: Response,
    pick: fn(Response) -> Result<T, Response>,
) -> Result<T, LinkError> {
    pick(response).map_err(|other| {
        LinkError::Protocol(format!(
            "answer {other:?} does not match a {} read",
            table.as_str()
        ))
    })
}

pub(super) fn coils(r: Response) -> Result<Vec<bool>, Response> {
    match r {
        Response::ReadCoils(bits) => Ok(bits),
        other => Err(other),
    }
}

pub(super) fn discrete_inputs(r: Response) -> Result<Vec<bool>, Response> {
    match r {
        Response::ReadDiscreteInputs(bits) => Ok(bits),
        other => Err(other),
    }
}

pub(super) fn holding_registers(r: Response) -> Result<Vec<u16>, Response> {
    match r {
        Response::ReadHoldingRegisters(words) => Ok(words),
        other => Err(other),
    }
}

pub(super) fn input_registers(r: Response) -> Result<Vec<u16>, Response> {
    match r {
        Response::ReadInputRegisters(words) => Ok(words),
        other => Err(other),
    }
}

impl Connection for ContextConnection {
    fn read_coils(&mut self, start: u16, count: u16) -> BoxFuture<'_, ReadResult<Vec<bool>>> {
        Box::pin(self.read(Table::Coil, Request::ReadCoils(start, count), coils))
    }

    fn read_discrete_inputs(
        &mut self,
        start: u16,
        count: u16,
    ) -> BoxFuture<'_, ReadResult<Vec<bool>>> {
        let request = Request::ReadDiscreteInputs(start, count);
        Box::pin(self.read(Table::Discrete, request, discrete_inputs))
    }

    fn read_holding_registers(
        &mut self,
        start: u16,
        count: u16,
    ) -> BoxFuture<'_, ReadResult<Vec<u16>>> {
        let request = Request::ReadHoldingRegisters(start, count);
        Box::pin(self.read(Table::Holding, request, holding_registers))
    }

    fn read_input_registers(
        &mut self,
        start: u16,
        count: u16,
    ) -> BoxFuture<'_, ReadResult<Vec<u16>>> {
        let request = Request::ReadInputRegisters(start, count);
        Box::pin(self.read(Table::Input, request, input_registers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_for_another_table_is_a_protocol_error() {
        let r = answer(
            Table::Holding,
            Response::ReadInputRegisters(vec![1, 2]),
            holding_registers,
        );
        assert!(matches!(r, Err(LinkError::Protocol(_))), "{r:?}");
        let r = answer(
            Table::Coil,
            Response::ReadDiscreteInputs(vec![true; 8]),
            coils,
        );
        assert!(matches!(r, Err(LinkError::Protocol(_))), "{r:?}");
        let r = answer(
            Table::Input,
            Response::ReadInputRegisters(vec![7, 8]),
            input_registers,
        );
        assert_eq!(r.ok(), Some(vec![7, 8]));
    }
}
