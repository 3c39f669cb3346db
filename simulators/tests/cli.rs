//! The `plantsim` binary: flags, exit codes, signals.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

fn plantsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_plantsim"))
}

#[test]
fn print_config_writes_the_shipped_file() {
    let out = plantsim().arg("--print-config").output().expect("runs");
    assert!(out.status.success());
    let shipped = std::fs::read_to_string(common::shipped_config_path()).expect("shipped");
    assert!(String::from_utf8_lossy(&out.stdout) == shipped);
}

#[test]
fn bad_input_exits_2_with_a_reason() {
    for (args, needle) in [
        (vec!["--speed", "0"], "--speed"),
        (vec!["--scenario", "meteor"], "crusher_trip"),
        (vec!["--day-start", "25:00"], "--day-start"),
        (vec!["--timezone", "Mars/Olympus"], "--timezone"),
        (vec!["--listen", "kiln=127.0.0.1:0"], "kiln"),
        (
            vec!["--from-config", "/nonexistent.toml"],
            "/nonexistent.toml",
        ),
        (vec!["--start", "yesterday"], "--start"),
        (
            vec!["--scenario-file", "/nonexistent.toml"],
            "/nonexistent.toml",
        ),
    ] {
        let out = plantsim().args(&args).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn config_moves_listeners_by_plc_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("listen.toml");
    std::fs::write(
        &path,
        "[site]\nname = \"x\"\n[[plc]]\nname = \"grinding\"\naddress = \"127.0.0.1:1502\"\nunit_id = 5\n",
    )
    .expect("write config");
    let out = plantsim()
        .arg("--config")
        .arg(&path)
        .arg("--print-config")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = common::read_config(&String::from_utf8_lossy(&out.stdout));
    let grinding = printed
        .plc
        .iter()
        .find(|p| p.name == "grinding")
        .expect("grinding");
    assert_eq!(
        (grinding.address.as_str(), grinding.unit_id),
        ("127.0.0.1:1502", 5)
    );

    std::fs::write(
        &path,
        "[[plc]]\nname = \"kiln\"\naddress = \"127.0.0.1:1\"\n",
    )
    .expect("write config");
    let out = plantsim()
        .arg("--config")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kiln"));
}

#[test]
fn sigterm_stops_it_and_flushes_the_truth_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let truth = dir.path().join("truth.jsonl");
    let mut child = plantsim()
        .args(["--listen", "crushing=127.0.0.1:0"])
        .args(["--listen", "grinding=127.0.0.1:0"])
        .args(["--listen", "flotation=127.0.0.1:0"])
        .args(["--speed", "7200", "--start", common::DAY_START])
        .arg("--truth")
        .arg(&truth)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("plantsim starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut serving = 0;
    for line in lines.by_ref() {
        let line = line.expect("log line");
        if line.contains("serving") {
            serving += 1;
            if serving == 3 {
                break;
            }
        }
    }
    assert_eq!(serving, 3, "three listeners announced");
    // Two plant hours close at 7200x within a second or so.
    std::thread::sleep(Duration::from_millis(1500));
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "plantsim ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(&truth).expect("truth log");
    assert!(log
        .lines()
        .any(|l| l.contains(r#""kind":"hour""#) && l.contains(r#""complete":true"#)));
    assert!(
        log.lines().any(|l| l.contains(r#""complete":false"#)),
        "open periods flushed"
    );
}
