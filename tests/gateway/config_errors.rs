//! Configuration errors as the binary prints them (issue 10, item 8): they
//! name the file, the line and the key, and never the value of a token, a
//! password or an unknown key, on every path that reports them: `check`,
//! `run` and a refused SIGHUP reload. And a secret given in the environment
//! reaches InfluxDB exactly as typed.
use std::process::Output;
use std::time::{Duration, Instant};

use super::{plantgw, Running};

use crate::common::influx::InfluxD;
use crate::common::pymodbus::PymodbusPlc;

const SECRET: &str = "s3cr3t-XYZ";

/// A valid v1 config with a username (InfluxDB need not answer);
/// `{influx}` is the section's extra lines, `{top}` goes before `[site]`.
fn config(top: &str, influx: &str, plc_port: u16) -> String {
    let influxdb = format!("username = \"admin\"\n{influx}");
    let text = crate::common::fixture_config("http://127.0.0.1:9", plc_port, &influxdb, "");
    format!("{top}{text}")
}

/// Line (1-based) of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the config"))
        + 1
}

struct Case {
    what: &'static str,
    top: &'static str,
    influx: &'static str,
    env: Option<(&'static str, &'static str)>,
    /// The value that must not be printed.
    secret: &'static str,
    /// Text of the line the error must point at (None: env overrides).
    line_with: Option<&'static str>,
    /// What the error must say.
    says: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        what: "misspelt password key",
        top: "",
        influx: "pasword = \"s3cr3t-XYZ\"",
        env: None,
        secret: SECRET,
        line_with: Some("pasword ="),
        says: &[
            "influxdb.pasword",
            "unknown key",
            "did you mean `password`?",
        ],
    },
    Case {
        what: "token of the wrong type",
        top: "",
        influx: "password = 987654321",
        env: None,
        secret: "987654321",
        line_with: Some("password ="),
        says: &["influxdb.password", "expected a string"],
    },
    Case {
        what: "token given as a number",
        top: "",
        influx: "token = 987654321",
        env: None,
        secret: "987654321",
        line_with: Some("token ="),
        says: &["influxdb.token", "expected a string"],
    },
    Case {
        what: "unterminated token string",
        top: "",
        influx: "token = \"s3cr3t-XYZ",
        env: None,
        secret: SECRET,
        line_with: Some("token ="),
        says: &["influxdb.token"],
    },
    Case {
        what: "password in a misspelt section (dotted key)",
        top: "influxd.password = \"s3cr3t-XYZ\"",
        influx: "",
        env: None,
        secret: SECRET,
        line_with: Some("influxd.password"),
        says: &["influxd", "unknown key", "did you mean `influxdb`?"],
    },
    Case {
        what: "password in a misspelt section (inline table)",
        top: "influxd = { password = \"s3cr3t-XYZ\" }",
        influx: "",
        env: None,
        secret: SECRET,
        line_with: Some("influxd = {"),
        says: &["influxd", "unknown key"],
    },
    Case {
        what: "misspelt environment override",
        top: "",
        influx: "",
        env: Some(("PLANTGW_INFLUXDB__PASWORD", SECRET)),
        secret: SECRET,
        line_with: None,
        says: &["PLANTGW_INFLUXDB__PASWORD", "unknown key"],
    },
];

fn assert_reported(case: &Case, text: &str, out: &str) {
    let Case {
        what,
        secret,
        line_with,
        says,
        ..
    } = case;
    assert!(
        !out.contains(secret),
        "{what}: the value {secret:?} was printed:\n{out}"
    );
    assert!(out.contains("plant.toml"), "{what}: no file named:\n{out}");
    if let Some(l) = line_with {
        let at = format!("plant.toml:{}:", line_of(text, l));
        assert!(out.contains(&at), "{what}: no {at} in:\n{out}");
    }
    for s in *says {
        assert!(out.contains(s), "{what}: no {s:?} in:\n{out}");
    }
}

fn stdout_and_stderr(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn check_and_run_name_file_line_and_key_but_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plant.toml");
    for case in CASES {
        let text = config(case.top, case.influx, 502);
        std::fs::write(&path, &text).unwrap();
        for cmd in ["check", "run"] {
            let mut c = plantgw();
            c.args([cmd, "--config"]).arg(&path);
            if let Some((k, v)) = case.env {
                c.env(k, v);
            }
            let out = c.output().unwrap();
            let printed = stdout_and_stderr(&out);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{cmd}, {}: exit status\n{printed}",
                case.what
            );
            assert_reported(case, &text, &printed);
        }
    }
}

/// A refused reload is logged (to the journal, under systemd): the same
/// rules hold there.
#[test]
fn a_refused_reload_logs_file_line_and_key_but_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plant.toml");
    let port = crate::common::free_port();
    std::fs::write(&path, config("", "", port)).unwrap();
    let gw = Running::start(&path, &[]);
    std::thread::sleep(Duration::from_secs(2));
    let file_cases: Vec<&Case> = CASES.iter().filter(|c| c.env.is_none()).collect();
    for case in &file_cases {
        std::fs::write(&path, config(case.top, case.influx, port)).unwrap();
        gw.signal("-HUP");
        // Reloads are handled one at a time; give each its own moment.
        std::thread::sleep(Duration::from_millis(700));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (_, log) = gw.stop(Duration::from_secs(30));
    let refused = log.matches("reload refused").count();
    assert_eq!(
        refused,
        file_cases.len(),
        "each bad config must be refused once:\n{log}"
    );
    for case in file_cases {
        assert_reported(case, &config(case.top, case.influx, port), &log);
    }
}

/// `PLANTGW_INFLUXDB__PASSWORD=0123` is the password "0123", not the
/// number 123: a real InfluxDB with authentication must accept it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_password_with_a_leading_zero_reaches_influxdb_as_typed() {
    let plc = PymodbusPlc::start();
    let influx = InfluxD::start_with_auth();
    let client = crate::common::influx::http_client();
    let query_url = |q: &str| {
        reqwest::Url::parse_with_params(&format!("{}/query", influx.url), &[("q", q)]).unwrap()
    };
    let admin = |q: &str| {
        client
            .post(query_url(q))
            .basic_auth("admin", Some("0123"))
            .send()
    };
    // With no user yet, InfluxDB lets anyone create the first admin.
    let r = client
        .post(query_url(
            "CREATE USER admin WITH PASSWORD '0123' WITH ALL PRIVILEGES",
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create user: {}", r.status());
    let r = admin("CREATE DATABASE plant").await.unwrap();
    assert!(r.status().is_success(), "create database: {}", r.status());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plant.toml");
    let influxdb = "username = \"admin\"\nflush_interval_ms = 200";
    let text = crate::common::fixture_config(&influx.url, plc.port, influxdb, "");
    std::fs::write(&path, text).unwrap();
    let gw = Running::start(&path, &[("PLANTGW_INFLUXDB__PASSWORD", "0123")]);

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        let r = admin(r#"SELECT count("u16") FROM "plant"."autogen"."fixture_dev""#)
            .await
            .unwrap();
        last = r.text().await.unwrap();
        if last.contains("\"count\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (_, log) = gw.stop(Duration::from_secs(30));
    assert!(
        last.contains("\"count\""),
        "nothing reached InfluxDB with password \"0123\" in 30 s (last answer {last}); gateway log:\n{log}"
    );
}
