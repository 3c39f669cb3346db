//! Records the git commit the binary is built from, so `plantsim --version`
//! tells which build of the simulator a test or demo ran.
#[path = "../build/commit.rs"]
mod commit;

fn main() {
    // What goes into the binary: a change here makes the build `-dirty`.
    commit::record(&["src", "build.rs", "../build", "Cargo.toml", "../Cargo.lock"]);
}
