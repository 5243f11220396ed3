//! End-to-end tests of `vexil explain`, `inspect`, `fmt`, `lint` and
//! `--format json`, run through the binary.

use std::path::PathBuf;
use std::process::Output;

mod bin;
use bin::{vexil, write};

const EXAMPLE_FILES: [&str; 5] = ["checkout", "mobile", "platform", "search", "segments"];

fn corpus(path: &str) -> String {
    format!("{}/corpus/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn example_files() -> Vec<String> {
    EXAMPLE_FILES
        .iter()
        .map(|n| corpus(&format!("example/{n}.flags")))
        .collect()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// explain's answer is eval's, for every flag of the example corpus and
/// every context of contexts.jsonl, from the rules and from a snapshot.
#[test]
fn explain_agrees_with_eval_on_the_example_corpus() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = example_files();
    let snap = dir.path().join("example.snap");
    let mut args = vec!["compile"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["-o", snap.to_str().expect("utf-8 path")]);
    assert!(vexil(&args).status.success());

    let contexts = std::fs::read_to_string(corpus("example/contexts.jsonl")).expect("contexts");
    let mut compared = 0;
    for context in contexts.lines().filter(|l| !l.trim().is_empty()) {
        let mut eval = vec!["eval", "--rules"];
        eval.extend(files.iter().map(String::as_str));
        eval.extend(["--context", context]);
        let out = vexil(&eval);
        assert!(out.status.success(), "{}", stderr(&out));
        let want = json_lines(&stdout(&out));
        // One explain call per context: every flag, in eval's order.
        let mut explain = vec!["explain", "--json", "--context", context];
        for line in &want {
            explain.extend(["--flag", line["flag"].as_str().expect("flag key")]);
        }
        let mut from_rules = explain.clone();
        from_rules.push("--rules");
        from_rules.extend(files.iter().map(String::as_str));
        let mut from_snapshot = explain.clone();
        from_snapshot.extend(["--snapshot", snap.to_str().expect("utf-8 path")]);
        for args in [from_rules, from_snapshot] {
            let out = vexil(&args);
            assert!(out.status.success(), "{}", stderr(&out));
            let got = json_lines(&stdout(&out));
            assert_eq!(got.len(), want.len());
            for (got, want) in got.iter().zip(&want) {
                for field in ["flag", "value", "variation", "reason", "rule", "error"] {
                    let null = serde_json::Value::Null;
                    assert_eq!(
                        got.get(field).unwrap_or(&null),
                        want.get(field).unwrap_or(&null),
                        "{field} of {} for {context}",
                        want["flag"]
                    );
                }
                compared += 1;
            }
        }
    }
    assert!(compared > 1000, "only {compared} comparisons");
}

#[test]
fn explain_text_names_the_failing_atom_the_value_and_the_bucket() {
    let files = example_files();
    let mut args = vec![
        "explain",
        "--flag",
        "new-checkout",
        "--context",
        r#"{"key":"u-77","platform":"android","org_id":1042}"#,
        "--rules",
    ];
    args.extend(files.iter().map(String::as_str));
    let out = vexil(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(r#"platform == "ios": fails (saw "android")"#),
        "{text}"
    );
    // docs/language.md §10: `new-checkout:1042` is bucket 4218.
    assert!(text.contains("bucket 4218"), "{text}");
    assert!(text.contains("5. rollout"), "{text}");
    assert!(
        text.trim_end().ends_with(r#"reason SPLIT, rule "rollout""#),
        "{text}"
    );
}

#[test]
fn explain_unknown_flag_and_bad_context() {
    let spec = corpus("spec/example.flags");
    let out = vexil(&[
        "explain",
        "--rules",
        &spec,
        "--flag",
        "nope",
        "--context",
        r#"{"key":"a"}"#,
    ]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("FLAG_NOT_FOUND"));
    let out = vexil(&[
        "explain",
        "--rules",
        &spec,
        "--flag",
        "new-checkout",
        "--context",
        "[1]",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid --context"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn inspect_shows_header_counts_and_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = dir.path().join("s.snap");
    let spec = corpus("spec/example.flags");
    let out = vexil(&[
        "compile",
        &spec,
        "-o",
        snap.to_str().expect("utf-8 path"),
        "--snapshot-version",
        "9",
        "--environment",
        "prod",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = vexil(&["inspect", snap.to_str().expect("utf-8 path"), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(summary["version"], 9);
    assert_eq!(summary["environment"], "prod");
    assert_eq!(summary["flag_count"], 1);
    assert_eq!(summary["segment_count"], 1);
    assert!(summary["checksum"]
        .as_str()
        .is_some_and(|c| c.starts_with("0x")));
    let flag = &summary["flags"][0];
    assert_eq!(flag["key"], "new-checkout");
    assert_eq!(flag["default"], "off");
    assert_eq!(flag["enabled"], true);
    assert_eq!(flag["variations"][0]["name"], "on");
    assert_eq!(flag["variations"][0]["value"], true);

    let out = vexil(&["inspect", snap.to_str().expect("utf-8 path")]);
    let text = stdout(&out);
    assert!(
        text.contains("snapshot version 9, environment \"prod\""),
        "{text}"
    );
    assert!(
        text.contains("flag new-checkout (enabled): default `off`"),
        "{text}"
    );

    let bad = write(dir.path(), "bad.snap", "not a snapshot");
    let out = vexil(&["inspect", bad.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bad.snap"), "{}", stderr(&out));
}

#[test]
fn fmt_rewrites_and_check_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    let messy = write(
        dir.path(),
        "messy.flags",
        "flag f {default on # keep me\n rule if a==1=>off}\n",
    );
    let tidy = write(dir.path(), "tidy.flags", "flag g {\n  default on\n}\n");
    let m = messy.to_str().expect("utf-8 path");
    let t = tidy.to_str().expect("utf-8 path");

    let out = vexil(&["fmt", "--check", m, t]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).trim(), m, "only the messy file is named");
    assert!(std::fs::read_to_string(&messy)
        .expect("readable")
        .contains("{default on"));

    let out = vexil(&["fmt", m, t]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&messy).expect("readable"),
        "flag f {\n  default on # keep me\n  rule if a == 1 => off\n}\n"
    );
    let out = vexil(&["fmt", "--check", m, t]);
    assert!(out.status.success(), "formatted files pass --check");
    assert!(stdout(&out).is_empty());
    let leftovers = std::fs::read_dir(dir.path()).expect("dir").count();
    assert_eq!(leftovers, 2, "no temporary file left behind");
}

#[test]
fn fmt_refuses_a_file_that_does_not_parse() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = write(dir.path(), "b.flags", "flag f { default }\n");
    let out = vexil(&["fmt", broken.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("b.flags:1:18: error:"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&broken).expect("readable"),
        "flag f { default }\n"
    );
}

/// Every corpus file that checks clean formats idempotently and compiles to
/// the same snapshot bytes after formatting.
#[test]
fn fmt_keeps_every_clean_corpus_file_byte_identical() {
    use vexil::check::{Limits, Source};
    let mut paths = Vec::new();
    let mut dirs = vec![PathBuf::from(corpus(""))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "flags") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let compile = |texts: &[(String, String)]| -> Option<Vec<u8>> {
        let sources: Vec<Source> = texts
            .iter()
            .map(|(name, text)| Source {
                name: name.clone(),
                text: text.clone(),
            })
            .collect();
        let options = vexil::compile::CompileOptions::new(Limits::default());
        let ruleset = vexil::compile::compile_sources(&sources, &options).ok()?;
        let meta = vexil::snapshot::SnapshotMeta {
            version: 1,
            environment: "t".into(),
        };
        Some(vexil::snapshot::to_bytes(&ruleset, &meta))
    };
    // Every file that parses (checked or not) formats idempotently.
    for path in &paths {
        let text = std::fs::read_to_string(path).expect("readable");
        if let Ok(once) = vexil::tools::fmt::format(&text) {
            let twice = vexil::tools::fmt::format(&once).expect("formatted text formats");
            assert_eq!(once, twice, "fmt is not idempotent on {}", path.display());
        }
    }
    let mut clean = 0;
    let mut groups: Vec<Vec<PathBuf>> = paths.iter().map(|p| vec![p.clone()]).collect();
    groups.push(example_files().into_iter().map(PathBuf::from).collect());
    for group in groups {
        let texts: Vec<(String, String)> = group
            .iter()
            .map(|p| {
                (
                    p.display().to_string(),
                    std::fs::read_to_string(p).expect("readable"),
                )
            })
            .collect();
        let Some(want) = compile(&texts) else {
            continue;
        };
        clean += 1;
        let formatted: Vec<(String, String)> = texts
            .iter()
            .map(|(name, text)| {
                let once = vexil::tools::fmt::format(text).expect("a clean file formats");
                let twice = vexil::tools::fmt::format(&once).expect("formatted text formats");
                assert_eq!(once, twice, "fmt is not idempotent on {name}");
                (name.clone(), once)
            })
            .collect();
        assert_eq!(
            compile(&formatted),
            Some(want),
            "snapshot differs for {group:?}"
        );
    }
    assert!(clean >= 10, "only {clean} clean groups");
}

#[test]
fn lint_warns_with_carets_and_deny_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(
        dir.path(),
        "w.flags",
        "segment lonely { include [\"a\"] }\nflag f {\n  rule if x > 5 and x < 3 => on\n}\n",
    );
    let f = file.to_str().expect("utf-8 path");
    let out = vexil(&["lint", f]);
    assert!(out.status.success(), "warnings alone exit 0");
    let text = stderr(&out);
    assert!(
        text.contains("w.flags:1:9: warning: segment `lonely` is never used"),
        "{text}"
    );
    assert!(
        text.contains("w.flags:3:21: warning: this condition is always false"),
        "{text}"
    );
    assert!(
        text.contains(" 3 |   rule if x > 5 and x < 3 => on\n   |                     ^^^^^\n"),
        "{text}"
    );

    let out = vexil(&["lint", "--deny", f]);
    assert_eq!(out.status.code(), Some(1));

    let out = vexil(&["lint", "--format", "json", f]);
    let lines = json_lines(&stdout(&out));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["severity"], "warning");
    assert_eq!(lines[1]["line"], 3);
    assert_eq!(lines[1]["col"], 21);

    let clean = write(dir.path(), "c.flags", "flag g { default on }\n");
    let out = vexil(&["lint", "--deny", clean.to_str().expect("utf-8 path")]);
    assert!(out.status.success());
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn the_example_corpus_is_lint_clean() {
    let files = example_files();
    let mut args = vec!["lint", "--deny"];
    args.extend(files.iter().map(String::as_str));
    let out = vexil(&args);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn check_and_compile_print_json_diagnostics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = write(dir.path(), "a.flags", "flag dup { default on }\n");
    let b = write(
        dir.path(),
        "b.flags",
        "\nflag dup { default off }\nflag x { default nope }\n",
    );
    let (a, b) = (a.to_str().expect("utf-8"), b.to_str().expect("utf-8"));
    for command in ["check", "compile"] {
        let mut args = vec![command, "--format", "json", a, b];
        let out_path = dir.path().join("o.snap");
        if command == "compile" {
            args.extend(["-o", out_path.to_str().expect("utf-8")]);
        }
        let out = vexil(&args);
        assert_eq!(out.status.code(), Some(1), "{command}");
        let lines = json_lines(&stdout(&out));
        assert_eq!(lines.len(), 2, "{command}: {lines:?}");
        assert_eq!(lines[0]["file"], b);
        assert_eq!(lines[0]["line"], 2);
        assert_eq!(lines[0]["col"], 6);
        assert_eq!(lines[0]["severity"], "error");
        assert_eq!(lines[0]["note"]["file"], a, "the first definition");
        assert_eq!(lines[0]["note"]["line"], 1);
        assert!(lines[1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nope")));
        assert!(!out_path.exists());
    }
    // The text form names the first definition under the caret.
    let out = vexil(&["check", a, b]);
    assert!(
        stderr(&out).contains(&format!("= note: first defined at {a}:1:6")),
        "{}",
        stderr(&out)
    );
}
