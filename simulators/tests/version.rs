//! `plantsim --version` names the build: package version and git commit.
use std::process::Command;

#[test]
fn version_names_the_package_version_and_the_commit() {
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git is installed (apt-get install git)");
    let commit = if git.status.success() {
        String::from_utf8_lossy(&git.stdout).trim().to_string()
    } else {
        "unknown".to_string()
    };
    let out = Command::new(env!("CARGO_BIN_EXE_plantsim"))
        .arg("--version")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let line = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
    let prefix = format!("plantsim {} (commit {commit}", env!("CARGO_PKG_VERSION"));
    assert!(
        line == format!("{prefix})") || line == format!("{prefix}-dirty)"),
        "`plantsim --version` printed {line:?}, want {prefix}[-dirty])"
    );
}
