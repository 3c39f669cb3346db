//! `creds_file` against a real `nats-server` in operator mode: an
//! operator, a JetStream-enabled account and a user are made here with
//! nkeys and signed JWTs (what `nsc` would write), the server trusts the
//! operator and preloads the account. The user's creds file publishes;
//! a user signed by an account the server does not know is refused with
//! an alarm that shows no key material.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use nkeys::KeyPair;
use plantgw::config::{Nats, NatsAuth, NatsConn};
use plantgw::sink::nats::NatsSink;
use plantgw::sink::{Sink, SinkOutcome};
use serde_json::json;

use crate::common::{free_port, require_binary};

/// A JWT of `nats` claims about `subject`, signed by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = json!({
        "jti": format!("PLANTGWTEST{}", name.to_uppercase()),
        "iat": jiff::Timestamp::now().as_second(),
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig = issuer.sign(signed.as_bytes()).expect("sign claims");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// An account's JWT; `jetstream` gives it unlimited JetStream (the system
/// account must have none).
fn account_jwt(operator: &KeyPair, account: &KeyPair, name: &str, jetstream: bool) -> String {
    let mut limits = json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1
    });
    if jetstream {
        for k in ["mem_storage", "disk_storage", "streams", "consumer"] {
            limits[k] = json!(-1);
        }
    }
    jwt(
        operator,
        &account.public_key(),
        name,
        json!({"type": "account", "version": 2, "limits": limits}),
    )
}

/// A creds file (user JWT + seed) for a new user of `account`.
fn creds(dir: &Path, file: &str, account: &KeyPair) -> std::path::PathBuf {
    let user = KeyPair::new_user();
    let token = jwt(
        account,
        &user.public_key(),
        file,
        json!({"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1}),
    );
    let seed = user.seed().expect("user seed");
    let text = format!(
        "-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    );
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write creds");
    path
}

fn conn(port: u16, creds: &Path) -> NatsConn {
    NatsConn {
        servers: vec![format!("nats://127.0.0.1:{port}")],
        stream: "PLANT".into(),
        replicas: 1,
        auth: NatsAuth::Creds(creds.to_path_buf()),
        ca_file: None,
        timeout: Duration::from_secs(2),
    }
}

const LINE: &[u8] = b"mill_dev,site=s t000=1i 1700000000000\n";

#[tokio::test]
async fn a_creds_file_of_a_trusted_account_publishes_and_a_stranger_is_refused() {
    require_binary(
        "nats-server",
        "apt-get install nats-server (or scripts/setup)",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let operator = KeyPair::new_operator();
    let system = KeyPair::new_account();
    let plant = KeyPair::new_account();
    let op_jwt = jwt(
        &operator,
        &operator.public_key(),
        "op",
        json!({"type": "operator", "version": 2, "system_account": system.public_key()}),
    );
    std::fs::write(dir.path().join("op.jwt"), &op_jwt).expect("write operator");
    let port = free_port();
    let conf = dir.path().join("nats.conf");
    std::fs::write(
        &conf,
        format!(
            "listen: \"127.0.0.1:{port}\"\noperator: \"{}\"\nsystem_account: {}\n\
             resolver: MEMORY\nresolver_preload: {{\n  {}: \"{}\"\n  {}: \"{}\"\n}}\n\
             jetstream {{ store_dir: \"{}\" }}\n",
            dir.path().join("op.jwt").display(),
            system.public_key(),
            system.public_key(),
            account_jwt(&operator, &system, "sys", false),
            plant.public_key(),
            account_jwt(&operator, &plant, "plant", true),
            dir.path().join("store").display()
        ),
    )
    .expect("write nats.conf");
    let log = dir.path().join("nats.log");
    let mut server = Command::new("nats-server")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("nats log"))
        .spawn()
        .expect("start nats-server");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(s)) = server.try_wait() {
            panic!(
                "nats-server exited ({s}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "nats-server not listening");
        std::thread::sleep(Duration::from_millis(50));
    }

    let good = creds(dir.path(), "plant.creds", &plant);
    let sink = NatsSink::new(Nats {
        conn: conn(port, &good),
        subject: "plant.s.gw1".into(),
        gateway_id: "gw1".into(),
    });
    let outcome = sink.write(1, LINE).await;
    assert_eq!(
        outcome,
        SinkOutcome::Accepted { lines: 1 },
        "nats-server log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let stranger = KeyPair::new_account();
    let bad = creds(dir.path(), "stranger.creds", &stranger);
    let seed = std::fs::read_to_string(&bad).expect("read creds");
    let reason = match NatsSink::new(Nats {
        conn: conn(port, &bad),
        subject: "plant.s.gw1".into(),
        gateway_id: "gw1".into(),
    })
    .write(2, LINE)
    .await
    {
        SinkOutcome::KeepAndAlarm { reason } => reason,
        other => panic!("expected the batch kept with an alarm, got {other:?}"),
    };
    assert!(reason.to_lowercase().contains("authorization"), "{reason}");
    let secret = seed
        .lines()
        .find(|l| l.starts_with("SU"))
        .expect("seed line");
    assert!(
        !reason.contains(secret),
        "the seed is in the alarm: {reason}"
    );
    let _ = server.kill();
    let _ = server.wait();
    println!("nats creds: trusted account's user published; a stranger refused ({reason})");
}
