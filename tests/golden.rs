//! Golden outputs for the bundled example product.
//!
//! Every flag of `corpus/example/*.flags` is evaluated for every context of
//! `corpus/example/contexts.jsonl`, by the compiled evaluator AND by the
//! reference interpreter; both must reproduce `corpus/example/expected.jsonl`
//! line for line. After an intended change of semantics or of the corpus,
//! regenerate with `VEXIL_BLESS=1 cargo test --test golden` and review the diff.

use std::fs;
use std::path::{Path, PathBuf};

use vexil::check::{self, Limits, Source};
use vexil::compile;
use vexil::context::Context;
use vexil::interp;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/example")
}

fn sources() -> Vec<Source> {
    let mut paths: Vec<PathBuf> = fs::read_dir(example_dir())
        .expect("corpus/example exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "flags"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| Source {
            name: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            text: fs::read_to_string(p).expect("corpus file readable"),
        })
        .collect()
}

#[test]
fn example_corpus_matches_golden_output() {
    let sources = sources();
    assert!(sources.len() >= 3, "the example spans several files");
    let program = match check::check(&sources, &Limits::default()) {
        Ok(p) => p,
        Err(d) => panic!(
            "example corpus does not check:\n{}",
            check::render(&d, &sources)
        ),
    };
    assert!(
        program.flag_count() >= 50,
        "the example has 50+ flags, found {}",
        program.flag_count()
    );
    let ruleset = compile::compile(&program).expect("a checked program links");
    let contexts =
        fs::read_to_string(example_dir().join("contexts.jsonl")).expect("contexts.jsonl");
    let mut compiled = String::new();
    let mut interpreted = String::new();
    for line in contexts.lines().filter(|l| !l.trim().is_empty()) {
        let context = Context::from_json_str(line).expect("example contexts are valid");
        let prepared = ruleset.prepare(&context);
        for (key, detail) in prepared.all() {
            detail.write_json_line(key, &mut compiled);
            compiled.push('\n');
            interp::evaluate(&program, key, &context).write_json_line(key, &mut interpreted);
            interpreted.push('\n');
        }
    }
    assert_eq!(
        compiled, interpreted,
        "compiled and interpreted answers differ"
    );
    let golden = example_dir().join("expected.jsonl");
    if std::env::var_os("VEXIL_BLESS").is_some() {
        fs::write(&golden, &compiled).expect("write golden file");
    }
    let expected = fs::read_to_string(&golden)
        .expect("corpus/example/expected.jsonl (bless with VEXIL_BLESS=1)");
    for (i, (got, want)) in compiled.lines().zip(expected.lines()).enumerate() {
        assert_eq!(got, want, "line {} of expected.jsonl", i + 1);
    }
    assert_eq!(
        compiled.lines().count(),
        expected.lines().count(),
        "number of lines"
    );
}
