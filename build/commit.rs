//! The git commit a binary is built from, for `--version` and `/metrics`,
//! shared by the build scripts of plantgw and plantsim (each includes this
//! file with `#[path]`). Outside a git checkout (a source tarball) it is
//! `unknown`, unless the packager sets BUILD_COMMIT.
use std::path::Path;
use std::process::Command;

/// Emits `BUILD_COMMIT` for the crate being built; a change under one of
/// `inputs` (paths relative to that crate) makes the build `-dirty`.
pub fn record(inputs: &[&str]) {
    // Without any rerun-if line cargo would rerun on every file of the package.
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=BUILD_COMMIT");
    let commit = match std::env::var("BUILD_COMMIT") {
        Ok(c) if !c.is_empty() => c,
        _ => from_git(inputs).unwrap_or_else(|| "unknown".into()),
    };
    // Not PLANTGW_*: `cargo run`/`cargo test` also put this variable in the
    // binary's environment, where PLANTGW_* are configuration overrides.
    println!("cargo::rustc-env=BUILD_COMMIT={commit}");
}

fn from_git(inputs: &[&str]) -> Option<String> {
    let hash = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Rerun when HEAD moves (checkout, commit) or the sources change; only
    // paths that exist, as a missing one would rerun on every build.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])?];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch])?);
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"])?);
    watched.extend(inputs.iter().map(|p| p.to_string()));
    for path in watched.iter().filter(|p| Path::new(p).exists()) {
        println!("cargo::rerun-if-changed={path}");
    }
    // No optional locks: a build must not take the index lock from a
    // concurrent git command.
    let mut status = vec!["--no-optional-locks", "status", "--porcelain", "--"];
    status.extend(inputs);
    let dirty = !git(&status)?.is_empty();
    Some(if dirty { format!("{hash}-dirty") } else { hash })
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
