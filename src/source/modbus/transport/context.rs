//! A [`Connection`] over a tokio-modbus client context, whatever carries it
//! (TCP today; RTU and RTU-over-TCP build the same context with
//! `tokio_modbus::client::rtu`). The context is private and only the four
//! read requests are built here, so nothing can send a write through it.
use tokio_modbus::client::{Client, Context};
use tokio_modbus::{Request, Response};

use super::{BoxFuture, Call, Exception, LinkError, ReadResult};
use crate::config::Table;

pub struct ContextConnection {
    ctx: Context,
}

impl ContextConnection {
    pub fn new(ctx: Context) -> ContextConnection {
        ContextConnection { ctx }
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

impl Call for ContextConnection {
    /// The crate's `Reader` helpers debug-assert the answer's length (a
    /// hostile or broken PLC panics the poller in a debug build); the plain
    /// request/response call leaves every check to the link.
    fn call(&mut self, request: Request<'static>) -> BoxFuture<'_, ReadResult<Response>> {
        Box::pin(async move {
            match self.ctx.call(request).await {
                Ok(Ok(response)) => Ok(Ok(response)),
                Ok(Err(exception)) => Ok(Err(Exception(u8::from(exception)))),
                Err(tokio_modbus::Error::Transport(e)) => Err(LinkError::Io(e)),
                Err(tokio_modbus::Error::Protocol(e)) => Err(LinkError::Protocol(e.to_string())),
            }
        })
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
