//! Replays the committed fuzz corpus: every file in `corpus/fuzz/parse_check/`
//! through parse, check and render, every file in `corpus/fuzz/differential/`
//! through the interpreter-versus-compiled comparison. The checks are the fuzz
//! targets' own (`fuzz/harness/rules.rs`), so a crash input saved to the corpus
//! is a regression test from then on.

#[allow(dead_code)] // the fuzz targets' helpers this test does not call
#[path = "../fuzz/harness/rules.rs"]
mod rules;

use std::panic;
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/fuzz")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    files
}

/// Runs `check` on every input of `target`'s corpus and reports every input
/// that panics, not just the first.
fn replay(target: &str, check: fn(&[u8])) {
    let failed: Vec<String> = corpus(target)
        .into_iter()
        .filter(|path| {
            let data = std::fs::read(path).expect("readable corpus file");
            panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} input(s) of corpus/fuzz/{target} panicked (messages above):\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn parse_check_corpus_never_panics() {
    replay("parse_check", rules::parse_check);
}

#[test]
fn differential_corpus_agrees() {
    replay("differential", rules::differential);
}
