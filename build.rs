//! Records the git commit the binary is built from, so `plantgw --version`
//! and `/metrics` can tell a site which build it runs.
#[path = "build/commit.rs"]
mod commit;

fn main() {
    // What goes into the binary: a change here makes the build `-dirty`.
    commit::record(&[
        "crates",
        "src",
        "build.rs",
        "build",
        "Cargo.toml",
        "Cargo.lock",
        "simulators/src",
        "simulators/Cargo.toml",
    ]);
}
