//! `[nats]` over TLS against a real `nats-server` with a certificate from
//! a CA made here with `openssl`: with the site CA the records arrive;
//! with another CA the gateway raises an alarm naming the certificate and
//! keeps every record spooled, and once the right CA is configured the
//! stream gets them all, from the first.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::Proc;
use super::{assert_contiguous, seqs_by_gateway, status_ts_in, stream_messages, SETTLE};
use crate::common::influx::InfluxD;
use crate::common::{eventually, free_port, require_binary};
use crate::reliability::peer::{Mode, ScriptedPlc};
use crate::reliability::{metric, query_client, status_ts, tags, GatewayToml, PlcToml};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` (`name.pem`, `name.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    let (key, pem, subj) = (
        format!("{name}.key"),
        format!("{name}.pem"),
        format!("/CN=plantgw test {name}"),
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &subj,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// `server.pem`/`server.key` for 127.0.0.1, signed by the CA `ca`.
fn make_server_cert(dir: &Path, ca: &str) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write extensions");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

/// A single JetStream node that speaks TLS only.
struct TlsNode {
    port: u16,
    child: std::process::Child,
}

impl TlsNode {
    fn start(dir: &Path) -> TlsNode {
        require_binary(
            "nats-server",
            "apt-get install nats-server (or scripts/setup)",
        );
        let port = free_port();
        let conf = dir.join("nats.conf");
        std::fs::write(
            &conf,
            format!(
                "listen: \"127.0.0.1:{port}\"\njetstream {{ store_dir: \"{}\" }}\n\
                 tls {{ cert_file: \"{}\", key_file: \"{}\" }}\n",
                dir.join("store").display(),
                dir.join("server.pem").display(),
                dir.join("server.key").display()
            ),
        )
        .expect("write nats.conf");
        let log = std::fs::File::create(dir.join("nats.log")).expect("nats log");
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "TLS nats-server not listening:\n{}",
                std::fs::read_to_string(dir.join("nats.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsNode { port, child }
    }

    /// A client trusting `ca_pem`.
    async fn jetstream(&self, ca_pem: &Path) -> async_nats::jetstream::Context {
        let client = async_nats::ConnectOptions::new()
            .add_root_certificates(ca_pem.to_path_buf())
            .require_tls(true)
            .connect(format!("tls://127.0.0.1:{}", self.port))
            .await
            .expect("connect over TLS");
        async_nats::jetstream::new(client)
    }
}

impl Drop for TlsNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_site_ca_delivers_and_a_wrong_ca_alarms_and_keeps_the_records() {
    require_binary("openssl", "apt-get install openssl (or scripts/setup)");
    let dir = tempfile::tempdir().expect("temp dir");
    make_ca(dir.path(), "ca");
    make_ca(dir.path(), "other");
    make_server_cert(dir.path(), "ca");
    let node = TlsNode::start(dir.path());
    let influx = InfluxD::start();
    let q = query_client(&influx.url).await;
    let peer = ScriptedPlc::start(Mode::Healthy).await;
    let spool = dir.path().join("spool");
    let http = free_port();
    let config = |ca: &str| {
        let mut gw = GatewayToml::new(
            &influx.url,
            &spool,
            vec![PlcToml {
                name: "mill".into(),
                address: peer.address(),
                scan_ms: 200,
                timeout_ms: 1000,
                tags: tags("mill_dev", "holding", "u16", "t", 0, 5),
            }],
        );
        gw.http_listen = format!("127.0.0.1:{http}");
        gw.render()
            + &format!(
                "\n[nats]\nservers = [\"tls://127.0.0.1:{}\"]\nstream = \"PLANT\"\nreplicas = 1\n\
                 gateway_id = \"gw1\"\ntimeout_ms = 2000\nca_file = \"{}\"\n",
                node.port,
                dir.path().join(format!("{ca}.pem")).display()
            )
    };
    let path = dir.path().join("gw.toml");
    let log = dir.path().join("gw.log");
    let metrics = format!("http://127.0.0.1:{http}/metrics");

    // A CA that did not sign the server's certificate: refused, alarmed,
    // and the records wait in the spool.
    std::fs::write(&path, config("other")).expect("write config");
    let mut gw = Proc::spawn("run", &path, &log);
    let deadline = Instant::now() + Duration::from_secs(20);
    let alarm = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let found = text
            .lines()
            .find(|l| l.contains("the sink refuses the data") && l.contains("nats"))
            .map(str::to_string);
        if let Some(l) = found {
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "no alarm from the nats sink within 20 s; log:\n{}",
            gw.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let lower = alarm.to_lowercase();
    assert!(
        lower.contains("certificate") && lower.contains("tls"),
        "the alarm does not name TLS and the certificate: {alarm}"
    );
    tokio::time::sleep(SETTLE).await;
    let published = metric(&metrics, "plantgw_nats_published_total")
        .await
        .unwrap_or(0.0);
    assert_eq!(published, 0.0, "published through a refused TLS handshake");
    gw.assert_running();
    gw.terminate(Duration::from_secs(30));

    // The site's CA: every record spooled meanwhile arrives, from the first.
    std::fs::write(&path, config("ca")).expect("write config");
    let fixed_at = jiff::Timestamp::now().as_millisecond();
    gw.start();
    let js = node.jetstream(&dir.path().join("ca.pem")).await;
    eventually(Duration::from_secs(20), "records in the stream", || {
        let js = js.clone();
        async move {
            let mut s = js.get_stream("PLANT").await.ok()?;
            let info = s.info().await.ok()?;
            (info.state.messages >= 10).then_some(())
        }
    })
    .await;
    gw.terminate(Duration::from_secs(30));
    let msgs = stream_messages(&js, "PLANT").await;
    let seqs = seqs_by_gateway(&msgs);
    assert_contiguous("gw1", &seqs["gw1"]);
    assert_eq!(
        seqs["gw1"].first(),
        Some(&1),
        "records spooled while the CA was wrong were lost"
    );
    // Nothing lost: the stream holds every scan the local InfluxDB holds,
    // those of the refused minute included.
    let in_stream = status_ts_in(msgs.iter().map(|m| m.2.clone()), "mill");
    let in_influx = status_ts(&q, "mill").await;
    assert_eq!(in_stream, in_influx, "the stream and InfluxDB differ");
    assert!(
        in_stream.first().is_some_and(|t| *t < fixed_at),
        "no scan from before the CA was fixed in the stream"
    );
    println!(
        "nats tls: wrong CA alarmed ({}); with the site CA {} records ({} scans) arrived, seq 1..={}",
        alarm.split("reason=").nth(1).unwrap_or(&alarm),
        msgs.len(),
        in_stream.len(),
        seqs["gw1"].last().copied().unwrap_or(0)
    );
}
