//! HTTPS: `ca_file` adds a private CA to the trust roots, and a server
//! certificate from an unknown CA is refused (kept for retry, not ignored).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use plantgw::sink::influxdb::{InfluxClient, WriteOutcome};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::common::influx::v2_settings;
use crate::common::repo_path;

/// A TLS server answering every request with 204, on its own thread.
fn tls_server() -> SocketAddr {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = repo_path("tests/historian/fixtures/tls");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, stream);
            // A refused handshake surfaces here as an error; next client.
            let _ = answer_204(&mut tls);
        }
    });
    addr
}

fn answer_204<S: Read + Write>(stream: &mut S) -> std::io::Result<()> {
    let mut reader = BufReader::new(&mut *stream);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    drop(reader);
    stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")?;
    stream.flush()
}

#[tokio::test]
async fn ca_file_trusts_a_private_ca_and_unknown_cas_are_refused() {
    let addr = tls_server();
    let url = format!("https://localhost:{}", addr.port());

    let mut s = v2_settings(&url, "t");
    s.ca_file = Some(repo_path("tests/historian/fixtures/tls/ca.pem"));
    let client = InfluxClient::new(&s).unwrap();
    assert_eq!(client.write_once(b"m v=1 1").await, WriteOutcome::Written);

    let ip = format!("https://127.0.0.1:{}", addr.port());
    let mut s = v2_settings(&ip, "t");
    s.ca_file = Some(repo_path("tests/historian/fixtures/tls/ca.pem"));
    let client = InfluxClient::new(&s).unwrap();
    assert_eq!(
        client.write_once(b"m v=1 1").await,
        WriteOutcome::Written,
        "IP SAN"
    );

    let client = InfluxClient::new(&v2_settings(&url, "t")).unwrap();
    let o = client.write_once(b"m v=1 1").await;
    assert!(
        matches!(&o, WriteOutcome::Retry { status: None, reason } if reason.to_lowercase().contains("certificate") || reason.contains("UnknownIssuer")),
        "{o:?}"
    );
}
