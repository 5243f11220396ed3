//! The example corpus and the error corpus, against the front end.
//!
//! `corpus/example/*.flags` is a realistic set of flags that must be valid;
//! `corpus/errors/*.flags` holds one mistake per file, each announced by
//! `# expect: LINE:COL substring` comment lines (see `corpus/errors/README.md`).
//! Checking them is tested by `tests/golden.rs` and `tests/error_corpus.rs`.

use std::fs;
use std::path::{Path, PathBuf};

use vexil::syntax::parse;

fn corpus(dir: &str, ext: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .{ext} files in {}", root.display());
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// 1-based line and column (in chars) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// An `# expect: LINE:COL substring` line of an error file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expect {
    line: usize,
    col: usize,
    needle: String,
}

fn expectations(path: &Path, text: &str) -> Vec<Expect> {
    let expects: Vec<Expect> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|rest| {
            let (pos, needle) = rest
                .split_once(' ')
                .unwrap_or_else(|| panic!("{}: bad expect line {rest:?}", path.display()));
            let (line, col) = pos
                .split_once(':')
                .unwrap_or_else(|| panic!("{}: bad position {pos:?}", path.display()));
            Expect {
                line: line.parse().expect("line number"),
                col: col.parse().expect("column number"),
                needle: needle.trim().to_lowercase(),
            }
        })
        .collect();
    assert!(
        !expects.is_empty(),
        "{}: no `# expect:` line",
        path.display()
    );
    assert!(
        text.starts_with("# expect: "),
        "{}: must start with an `# expect:` line",
        path.display()
    );
    expects
}

/// Every found (line, col, message) matches one expectation and every
/// expectation is met.
fn assert_matches(path: &Path, expects: &[Expect], found: &[(usize, usize, String)]) {
    for (line, col, message) in found {
        assert!(
            expects.iter().any(|e| e.line == *line
                && e.col == *col
                && message.to_lowercase().contains(&e.needle)),
            "{}: unexpected error at {line}:{col}: {message}\n expected one of {expects:?}",
            path.display()
        );
    }
    for e in expects {
        assert!(
            found.iter().any(|(line, col, message)| e.line == *line
                && e.col == *col
                && message.to_lowercase().contains(&e.needle)),
            "{}: no error at {}:{} containing {:?}; found {found:?}",
            path.display(),
            e.line,
            e.col,
            e.needle
        );
    }
}

#[test]
fn example_files_parse() {
    let mut flags = 0;
    for path in corpus("example", "flags") {
        let text = read(&path);
        match parse(&text) {
            Ok(file) => {
                flags += file
                    .items
                    .iter()
                    .filter(|i| matches!(i, vexil::syntax::ast::Item::Flag(_)))
                    .count()
            }
            Err(errors) => {
                let shown: Vec<String> = errors
                    .iter()
                    .map(|e| {
                        let (line, col) = line_col(&text, e.span.start as usize);
                        format!(
                            "{}:{line}:{col} (byte {}): {}",
                            path.display(),
                            e.span.start,
                            e.message
                        )
                    })
                    .collect();
                panic!("example file does not parse:\n{}", shown.join("\n"));
            }
        }
    }
    assert!(
        flags >= 55,
        "the example corpus should hold at least 55 flags, has {flags}"
    );
}

#[test]
fn example_contexts_are_json_objects() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/example/contexts.jsonl");
    let text = read(&path);
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1));
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("{}:{}: not an object", path.display(), n + 1));
        if let Some(key) = object.get("key") {
            assert!(
                key.is_string() || key.is_null(),
                "{}:{}: key must be a string",
                path.display(),
                n + 1
            );
        }
        count += 1;
    }
    assert!((40..=60).contains(&count), "{count} contexts");
}

/// The error files whose mistake is lexical or grammatical. All others parse,
/// and their errors are the checker's to find.
const SYNTAX_ERRORS: &[&str] = &[
    "bad-escape",
    "condition-nested-too-deep",
    "keyword-as-attribute",
    "keyword-as-flag-name",
    "negative-percent",
    "non-ascii-name",
    "number-overflow",
    "number-underflow",
    "percent-three-decimals",
    "single-equals",
    "single-quoted-string",
    "unterminated-string",
    "variation-nested-too-deep",
];

/// Error files whose mistake is lexical or grammatical must fail to parse at
/// the announced place; all others must parse, so that their errors are left
/// for the checker.
#[test]
fn error_files_syntax() {
    for path in corpus("errors", "flags") {
        let text = read(&path);
        let expects = expectations(&path, &text);
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let parsed = parse(&text);
        assert_eq!(
            parsed.is_err(),
            SYNTAX_ERRORS.contains(&stem),
            "{}: expected {}",
            path.display(),
            if SYNTAX_ERRORS.contains(&stem) {
                "a syntax error"
            } else {
                "to parse"
            }
        );
        if let Err(errors) = parsed {
            let found: Vec<(usize, usize, String)> = errors
                .iter()
                .map(|e| {
                    let (line, col) = line_col(&text, e.span.start as usize);
                    (line, col, e.message.clone())
                })
                .collect();
            assert_matches(&path, &expects, &found);
        }
    }
}
