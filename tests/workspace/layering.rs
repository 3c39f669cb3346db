//! Who may do what, checked on the sources: the library returns values and
//! typed errors; only the binary (`src/main.rs`, `src/cmd/`) prints, picks
//! the exit status, uses `anyhow` and installs signal handlers. Only the
//! `demo` module may name the simulator, which production builds leave out.
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Every `.rs` file of the library: `src/` without the binary's files.
fn library_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path != Path::new(SRC).join("cmd") {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs")
                && path != Path::new(SRC).join("main.rs")
            {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(Path::new(SRC), &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("lib.rs")),
        "no library sources found under {SRC}"
    );
    files
}

/// `file:line: text` for each line of a library file containing a pattern.
fn hits(patterns: &[&str], allow: impl Fn(&Path) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for file in library_files().into_iter().filter(|f| !allow(f)) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            if patterns.iter().any(|p| line.contains(p)) {
                let rel = file.strip_prefix(SRC).unwrap().display().to_string();
                found.push(format!("src/{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_library_neither_prints_nor_exits_nor_handles_signals() {
    let found = hits(
        &[
            "print!",
            "println!",
            "eprint!",
            "eprintln!",
            "std::io::stdout",
            "ExitCode",
            "process::exit",
            "anyhow",
            "tokio::signal",
        ],
        |_| false,
    );
    assert!(
        found.is_empty(),
        "library code doing the binary's job (move it to src/cmd/):\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_demo_names_the_simulator() {
    let found = hits(&["plantsim"], |f| f == Path::new(SRC).join("demo.rs"));
    assert!(
        found.is_empty(),
        "production code naming the simulator, which `--no-default-features` leaves out:\n{}",
        found.join("\n")
    );
}
