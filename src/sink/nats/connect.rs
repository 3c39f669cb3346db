//! One way to reach the cluster for the sink and the relay alike: auth,
//! TLS, and an answer that says whether a person must act.
use async_nats::{Client, ConnectErrorKind, ConnectOptions};

use crate::config::{NatsAuth, NatsConn};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Credentials refused or unreadable, or TLS set up wrongly: retrying
    /// will not help until a person fixes the config.
    #[error("NATS {servers}: {reason}")]
    Refused { servers: String, reason: String },
    /// The cluster cannot be reached now; try again later.
    #[error("NATS {servers}: unreachable: {reason}")]
    Unreachable { servers: String, reason: String },
}

/// Connects to any of `c.servers`. Once connected the client reconnects by
/// itself for ever (any node of the cluster will do); only this first
/// connection is the caller's to retry.
pub async fn connect(c: &NatsConn, name: &str) -> Result<Client, ConnectError> {
    let servers = c.servers.join(",");
    let mut opts = ConnectOptions::new()
        .name(name)
        .connection_timeout(c.timeout)
        .request_timeout(Some(c.timeout))
        .max_reconnects(None::<usize>);
    match &c.auth {
        NatsAuth::None => {}
        NatsAuth::Token(t) => opts = opts.token(t.expose().to_string()),
        NatsAuth::Creds(path) => {
            opts = opts
                .credentials_file(path)
                .await
                .map_err(|e| ConnectError::Refused {
                    servers: servers.clone(),
                    reason: format!("creds_file {}: {e}", path.display()),
                })?;
        }
    }
    if let Some(ca) = &c.ca_file {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    let addrs: Vec<async_nats::ServerAddr> =
        c.servers.iter().filter_map(|s| s.parse().ok()).collect();
    opts.connect(addrs).await.map_err(|e| {
        // A handshake the server's certificate fails reaches us as an I/O
        // error; it is no outage: it fails the same way until the CA or
        // the certificate is fixed.
        if let Some(tls) = tls_failure(&e) {
            return ConnectError::Refused {
                servers,
                reason: format!(
                    "TLS handshake failed: {tls} (check nats.ca_file against the servers' certificates)"
                ),
            };
        }
        let reason = e.to_string();
        match e.kind() {
            ConnectErrorKind::Authentication
            | ConnectErrorKind::AuthorizationViolation
            | ConnectErrorKind::Tls
            | ConnectErrorKind::ServerParse => ConnectError::Refused { servers, reason },
            _ => ConnectError::Unreachable { servers, reason },
        }
    })
}

/// The TLS library's own error somewhere in `e`'s chain of causes.
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t.to_string());
        }
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|i| i.downcast_ref::<rustls::Error>());
        if let Some(t) = inner {
            return Some(t.to_string());
        }
        cause = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::tls_failure;

    #[test]
    fn a_certificate_error_inside_an_io_error_is_found() {
        let cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, cert);
        let found = tls_failure(&io).unwrap();
        assert!(found.contains("certificate"), "{found}");
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(tls_failure(&refused), None);
    }
}
