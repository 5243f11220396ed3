//! Replays the committed fuzz corpus: every file in `corpus/fuzz/parse_check/`
//! through parse, check and render (and every recipe in
//! `corpus/fuzz/parse_shapes/` the same way), every file in `corpus/fuzz/differential/`
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
fn parse_shapes_corpus_never_panics() {
    replay("parse_shapes", rules::parse_shapes);
}

#[test]
fn differential_corpus_agrees() {
    replay("differential", rules::differential);
}

/// The structure-aware target's recipes, from bytes naming deep and wide
/// shapes: each would have overflowed the stack before the nesting limits.
#[test]
fn parse_shapes_recipes_never_panic() {
    let on_small_stack = |recipe: Vec<u8>| {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || rules::parse_shapes(&recipe))
            .expect("thread spawns")
            .join()
            .is_ok()
    };
    let recipes: Vec<Vec<u8>> = vec![
        // flag f { rule if ((((... 65,536 deep
        vec![8, 0, 9, 0, 0, 255, 7, 0],
        // 65,536 nots
        vec![8, 0, 9, 0, 2, 255],
        // a variation 65,536 arrays deep, closed
        vec![8, 0, 11, 0, 3, 255, 4, 255, 6, 0, 6, 0],
        // wide: thousands of atoms, arms, flags
        vec![8, 0, 9, 0, 7, 255, 10, 0, 12, 0, 13, 255, 6, 0, 8, 200],
        // a segment whose match nests and refers to flags
        vec![14, 0, 0, 100, 15, 100, 2, 100, 1, 100, 6, 0],
    ];
    for recipe in recipes {
        let text = rules::shape_text(&recipe);
        assert!(
            text.len() > 10_000,
            "the recipe {recipe:?} builds a big file"
        );
        assert!(on_small_stack(recipe.clone()), "{recipe:?} panicked");
    }
}
