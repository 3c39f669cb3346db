//! What a new operator meets first: the log as it lands in a file or the
//! journal, and which build is running (`--version`, `/metrics`).
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, repo_path};

/// The commit `--version` must name: HEAD of the checkout the test binary
/// was built from, or `unknown` outside a git checkout.
fn expected_commit() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo_path(""))
        .output()
        .expect("git is installed (apt-get install git)");
    if out.status.success() {
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    } else {
        "unknown".to_string()
    }
}

/// A gateway whose PLC and InfluxDB are both unreachable (closed loopback
/// ports), so it logs a start line and warnings straight away.
fn lonely_config(dir: &Path, http_listen: &str) -> std::path::PathBuf {
    let path = dir.join("gw.toml");
    let influx_url = format!("http://127.0.0.1:{}", free_port());
    let text =
        crate::common::fixture_config(&influx_url, free_port(), "flush_interval_ms = 200", "")
            .replacen("listen = \"\"", &format!("listen = \"{http_listen}\""), 1);
    std::fs::write(&path, text).unwrap();
    path
}

/// `plantgw run` with its log going to `log` (a plain file) and the
/// environment a service manager would give it, stopped by SIGTERM after
/// `during` has run; returns the log's bytes.
fn run_logging_to_file(
    config: &Path,
    log: &Path,
    env: &[(&str, String)],
    during: impl FnOnce(),
) -> Vec<u8> {
    let file = std::fs::File::create(log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plantgw"));
    cmd.args(["run", "--config"])
        .arg(config)
        .env_remove("NO_COLOR")
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    during();
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM");
    let sent = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(30),
            "gateway did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let bytes = std::fs::read(log).unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    bytes
}

/// A gateway left running by a failed assertion would outlive the test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the log has the lines the assertions look at: the spool's
/// start-up line and the warning about the unreachable PLC.
fn wait_for_lines(log: &Path) {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("spool opened") && text.contains("PLC down") {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no start-up line and PLC warning after 30 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_log_written_to_a_file_has_no_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let config = lonely_config(dir.path(), "");
    let log = dir.path().join("plantgw.log");
    let bytes = run_logging_to_file(&config, &log, &[], || wait_for_lines(&log));
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !bytes.contains(&0x1b),
        "escape codes in a log written to a file:\n{text:?}"
    );
    // Outside the journal each line carries its own timestamp.
    let start = text.lines().find(|l| l.contains("spool opened")).unwrap();
    assert!(starts_with_timestamp(start), "{start:?}");
}

#[test]
fn under_systemd_lines_carry_the_journal_priority_and_no_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let config = lonely_config(dir.path(), "");
    let log = dir.path().join("journal-stream");
    // systemd names the stream it connected to the journal by device and
    // inode; here that stream is the log file.
    std::fs::write(&log, "").unwrap();
    let meta = std::fs::metadata(&log).unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    let bytes = run_logging_to_file(&config, &log, &[("JOURNAL_STREAM", stream)], || {
        wait_for_lines(&log)
    });
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains('\u{1b}'), "escape codes:\n{text:?}");
    for line in text.lines() {
        let Some(rest) = line.strip_prefix('<') else {
            panic!("no <priority> prefix: {line:?}\n{text}");
        };
        let (prio, rest) = rest.split_once('>').unwrap();
        assert!(
            matches!(prio, "3" | "4" | "6" | "7"),
            "priority {prio:?}: {line:?}"
        );
        assert!(
            !starts_with_timestamp(rest.trim_start()),
            "timestamp the journal already adds: {line:?}"
        );
    }
    let opened = text.lines().find(|l| l.contains("spool opened")).unwrap();
    assert!(opened.starts_with("<6> INFO"), "{opened:?}");
    let down = text.lines().find(|l| l.contains("PLC down")).unwrap();
    assert!(down.starts_with("<4> WARN"), "{down:?}");
}

/// `2026-11-30T22:58:08...`, as tracing's default format begins a line.
fn starts_with_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 11
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
}

#[test]
fn version_names_the_package_version_and_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_plantgw"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let commit = expected_commit();
    let prefix = format!("plantgw {} (commit {commit}", env!("CARGO_PKG_VERSION"));
    assert!(
        line.trim_end() == format!("{prefix})") || line.trim_end() == format!("{prefix}-dirty)"),
        "`plantgw --version` printed {line:?}, want {prefix}[-dirty])"
    );
}

#[test]
fn metrics_carry_a_build_info_gauge() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = lonely_config(dir.path(), &format!("127.0.0.1:{port}"));
    let log = dir.path().join("plantgw.log");
    let mut metrics = String::new();
    run_logging_to_file(&config, &log, &[], || {
        metrics = scrape(port);
    });
    let line = metrics
        .lines()
        .find(|l| l.starts_with("plantgw_build_info{"))
        .unwrap_or_else(|| panic!("no plantgw_build_info in /metrics:\n{metrics}"));
    let commit = expected_commit();
    assert!(
        line.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && (line.contains(&format!("commit=\"{commit}\""))
                || line.contains(&format!("commit=\"{commit}-dirty\"")))
            && line.ends_with("} 1"),
        "{line:?}, want version {} and commit {commit}",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        metrics.contains("# TYPE plantgw_build_info gauge\n"),
        "{metrics}"
    );
}

/// `/metrics` once the gateway listens (plain HTTP/1.0 over loopback).
fn scrape(port: u16) -> String {
    let start = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .unwrap();
            let mut response = String::new();
            s.read_to_string(&mut response).unwrap();
            if let Some((head, body)) = response.split_once("\r\n\r\n") {
                assert!(
                    head.starts_with("HTTP/1.") && head.contains(" 200 "),
                    "{head}"
                );
                return body.to_string();
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "/metrics not answering on port {port} after 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
