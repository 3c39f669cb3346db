//! Modbus TCP: one TCP connection per PLC, MBAP framing. tokio-modbus
//! checks each answer's transaction and unit ids.
use tokio::net::TcpStream;
use tokio_modbus::Slave;

use super::{BoxFuture, Connection, ContextConnection, LinkError, Transport};

pub struct TcpTransport {
    /// `host:port`, resolved at each connect so a DNS change is picked up.
    address: String,
    unit_id: u8,
}

impl TcpTransport {
    pub fn new(address: String, unit_id: u8) -> TcpTransport {
        TcpTransport { address, unit_id }
    }

    async fn open(&self) -> Result<Box<dyn Connection>, LinkError> {
        let mut last = LinkError::Resolve(self.address.clone());
        for addr in tokio::net::lookup_host(self.address.as_str()).await? {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    // Requests are tiny; waiting for Nagle would add latency to every scan.
                    stream.set_nodelay(true)?;
                    let ctx = tokio_modbus::client::tcp::attach_slave(stream, Slave(self.unit_id));
                    return Ok(Box::new(ContextConnection::new(ctx)));
                }
                Err(e) => last = LinkError::Io(e),
            }
        }
        Err(last)
    }
}

impl Transport for TcpTransport {
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Connection>, LinkError>> {
        Box::pin(self.open())
    }
}
