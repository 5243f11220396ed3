//! Running the `vexil` binary from the tests that drive it as a user does
//! (`tests/cli.rs`, `tests/tools.rs`, `tests/hostile_input.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `vexil` with `args` and collects its output.
pub fn vexil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vexil"))
        .args(args)
        .output()
        .expect("the vexil binary runs")
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("temp file is writable");
    path
}
