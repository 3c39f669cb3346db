//! Renders a report page in a real browser, headless Chromium (Debian
//! `chromium`), to PNG and to PDF as an A4 print, and reads the print back
//! with poppler's `pdfinfo` / `pdftotext` (Debian `poppler-utils`).
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::require_binary;

const HINT: &str = "apt-get install chromium poppler-utils (or scripts/setup)";
/// A4 at 96 CSS px per inch.
pub const A4_PX: (u32, u32) = (794, 1123);

pub struct Printed {
    pub pages: u32,
    /// The PDF's text (`pdftotext -layout`: a table row stays one line)
    /// with runs of white space made one space.
    pub text: String,
}

fn chromium(args: &[&str], page: &Path, dir: &Path) {
    let bin = require_binary("chromium", HINT);
    let profile = tempfile::tempdir_in(dir).expect("chromium profile dir");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(page)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            assert!(status.success(), "chromium {args:?} failed: {status}");
            return;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Screenshot of the page at A4 size; returns the PNG's path.
pub fn screenshot(page: &Path, dir: &Path) -> PathBuf {
    let png = dir.join("report.png");
    chromium(
        &[
            &format!("--screenshot={}", png.display()),
            &format!("--window-size={},{}", A4_PX.0, A4_PX.1),
        ],
        page,
        dir,
    );
    png
}

/// Prints the page to PDF (no header or footer) and reads it back.
pub fn print(page: &Path, dir: &Path) -> Printed {
    let pdf = dir.join(format!(
        "{}.pdf",
        page.file_stem().and_then(|s| s.to_str()).unwrap_or("page")
    ));
    chromium(
        &[
            &format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer",
        ],
        page,
        dir,
    );
    let info = run(&require_binary("pdfinfo", HINT), &[pdf.as_os_str()]);
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("pdfinfo gave no page count:\n{info}"));
    let size = info
        .lines()
        .find(|l| l.starts_with("Page size:"))
        .unwrap_or_default()
        .to_string();
    assert!(size.contains("(A4)"), "not printed on A4: {size}");
    let text = run(
        &require_binary("pdftotext", HINT),
        &["-layout".as_ref(), pdf.as_os_str(), "-".as_ref()],
    );
    Printed {
        pages,
        text: text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn run(bin: &Path, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("run poppler tool");
    assert!(
        out.status.success(),
        "{} failed: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Width and height from a PNG's IHDR chunk.
pub fn png_size(png: &Path) -> (u32, u32) {
    let bytes = std::fs::read(png).unwrap_or_else(|e| panic!("read {}: {e}", png.display()));
    assert!(
        bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "{} is not a PNG",
        png.display()
    );
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// `plantgw report` for `day` into `out`; its stdout.
pub fn plantgw_report(config: &Path, day: &str, out: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_plantgw"))
        .args(["report", "--config"])
        .arg(config)
        .args(["--day", day, "--out"])
        .arg(out)
        .output()
        .expect("run plantgw report");
    assert!(
        o.status.success(),
        "plantgw report --day {day}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
