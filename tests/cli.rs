//! End-to-end tests of the `vexil` binary against SPEC §1–3.

use std::path::Path;
use std::process::Output;

mod bin;
use bin::{vexil, write};

use twox_hash::XxHash3_64;

const SPEC_EXAMPLE: &str = include_str!("../corpus/spec/example.flags");

fn stdout_json(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect()
}

/// The bucket per SPEC §2, computed with an independent xxh3 implementation.
fn spec_bucket(salt: &str, value: &str) -> u64 {
    XxHash3_64::oneshot(format!("{salt}:{value}").as_bytes()) % 10_000
}

fn eval_one(rules: &Path, context: &str) -> serde_json::Value {
    let out = vexil(&[
        "eval",
        "--rules",
        rules.to_str().expect("utf-8 path"),
        "--context",
        context,
    ]);
    assert!(
        out.status.success(),
        "eval failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout_json(&out);
    assert_eq!(lines.len(), 1, "one flag, one line");
    lines.into_iter().next().expect("one line")
}

#[test]
fn spec_example_targets_segments_and_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = write(dir.path(), "example.flags", SPEC_EXAMPLE);
    assert_eq!(
        eval_one(&rules, r#"{"key":"alice"}"#),
        serde_json::json!({"flag":"new-checkout","value":true,"variation":"on","reason":"TARGETING_MATCH","rule":"target"})
    );
    assert_eq!(
        eval_one(&rules, r#"{"key":"u-2"}"#),
        serde_json::json!({"flag":"new-checkout","value":true,"variation":"on","reason":"TARGETING_MATCH","rule":"beta users"})
    );
    assert_eq!(
        eval_one(&rules, r#"{"key":"x","plan":"enterprise","country":"FR"}"#)["rule"],
        "beta users"
    );
    // No org_id, no match: the rollout cannot bucket, so the default is served.
    assert_eq!(
        eval_one(&rules, r#"{"key":"nobody","plan":"free"}"#),
        serde_json::json!({"flag":"new-checkout","value":false,"variation":"off","reason":"DEFAULT"})
    );
}

#[test]
fn spec_example_splits_match_an_independent_xxh3() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = write(dir.path(), "example.flags", SPEC_EXAMPLE);
    let contexts: String = (0..60)
        .map(|i| format!("{{\"key\":\"user-{i}\",\"platform\":\"ios\",\"app_version\":\"2.3\"}}\n\n{{\"key\":\"k{i}\",\"org_id\":{}}}\n", i * 7919))
        .collect();
    let file = write(dir.path(), "contexts.jsonl", &contexts);
    let out = vexil(&[
        "eval",
        "--rules",
        rules.to_str().expect("utf-8"),
        "--contexts",
        file.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout_json(&out);
    assert_eq!(lines.len(), 120, "blank lines are skipped");
    let (mut on, mut off) = (0, 0);
    for (i, pair) in lines.chunks(2).enumerate() {
        let ios = &pair[0];
        let expect_on = spec_bucket("new-checkout", &format!("user-{i}")) < 1000;
        assert_eq!(ios["reason"], "SPLIT");
        assert_eq!(ios["rule"], "ios 10%");
        assert_eq!(ios["value"], expect_on, "user-{i}");
        let org = &pair[1];
        let expect_on = spec_bucket("new-checkout", &(i * 7919).to_string()) < 500;
        assert_eq!(org["rule"], "rollout");
        assert_eq!(
            org["variation"],
            if expect_on { "on" } else { "off" },
            "org {}",
            i * 7919
        );
        if expect_on {
            on += 1
        } else {
            off += 1
        }
    }
    assert!(off > 0 && on + off == 60);
}

#[test]
fn unknown_flag_prints_an_error_line_and_exits_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = write(dir.path(), "example.flags", SPEC_EXAMPLE);
    let out = vexil(&[
        "eval",
        "--rules",
        rules.to_str().expect("utf-8"),
        "--flag",
        "nope",
        "--flag",
        "new-checkout",
        "--context",
        r#"{"key":"bob"}"#,
    ]);
    assert!(out.status.success());
    let lines = stdout_json(&out);
    assert_eq!(
        lines[0],
        serde_json::json!({"flag":"nope","value":null,"reason":"ERROR","error":"FLAG_NOT_FOUND"})
    );
    assert_eq!(lines[1]["variation"], "on");
}

#[test]
fn rules_from_several_files_in_both_argument_forms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = write(
        dir.path(),
        "a.flags",
        r#"flag a { rule if flag b is on => on }"#,
    );
    let b = write(dir.path(), "b.flags", r#"flag b { default on }"#);
    let (a, b) = (a.to_str().expect("utf-8"), b.to_str().expect("utf-8"));
    for args in [vec!["--rules", a, b], vec!["--rules", a, "--rules", b]] {
        let mut full = vec!["eval"];
        full.extend(args);
        full.extend(["--flag", "a", "--context", "{}"]);
        let out = vexil(&full);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout_json(&out)[0]["rule"], "rule#0");
    }
}

#[test]
fn check_reports_errors_with_file_line_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = write(dir.path(), "good.flags", SPEC_EXAMPLE);
    let out = vexil(&["check", good.to_str().expect("utf-8")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = write(dir.path(), "bad.flags", "flag f {\n  default onn\n}\n");
    let out = vexil(&["check", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().next().expect("a diagnostic");
    assert!(
        first.starts_with(&format!("{}:2:11: error: ", bad.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("default onn"),
        "source line shown: {stderr}"
    );
    assert!(stderr.contains('^'), "caret shown: {stderr}");

    assert_eq!(vexil(&["check"]).status.code(), Some(2), "usage error");
}

#[test]
fn bad_input_gives_one_clear_line_and_no_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = write(dir.path(), "example.flags", SPEC_EXAMPLE);
    let rules = rules.to_str().expect("utf-8");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["eval", "--rules", rules, "--context", "{not json"],
            "invalid",
        ),
        (vec!["eval", "--rules", rules, "--context", "[1]"], "object"),
        (
            vec!["eval", "--rules", rules, "--context", r#"{"key": 3}"#],
            "key",
        ),
        (
            vec!["eval", "--rules", "/no/such/file.flags", "--context", "{}"],
            "/no/such/file.flags",
        ),
        (vec!["check", "/no/such/file.flags"], "/no/such/file.flags"),
    ];
    for (args, needle) in cases {
        let out = vexil(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let contexts = write(dir.path(), "c.jsonl", "{\"key\":\"a\"}\n\nnot json\n");
    let out = vexil(&[
        "eval",
        "--rules",
        rules,
        "--contexts",
        contexts.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("c.jsonl:3"), "names the line: {stderr}");
}

#[test]
fn disabled_flag_serves_when_disabled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = write(
        dir.path(),
        "k.flags",
        r#"flag k { variations { a: "A", b: "B", c: "C" } default a enabled false when_disabled c target b ["x"] }
flag d { enabled false }"#,
    );
    let out = vexil(&[
        "eval",
        "--rules",
        rules.to_str().expect("utf-8"),
        "--context",
        r#"{"key":"x"}"#,
    ]);
    let lines = stdout_json(&out);
    assert_eq!(
        lines[0],
        serde_json::json!({"flag":"k","value":"C","variation":"c","reason":"DISABLED"})
    );
    assert_eq!(
        lines[1],
        serde_json::json!({"flag":"d","value":false,"variation":"off","reason":"DISABLED"})
    );
}

#[test]
fn compiled_snapshot_answers_like_the_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/example");
    let mut rules: Vec<String> = std::fs::read_dir(&root)
        .expect("corpus/example")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "flags"))
        .map(|p| p.display().to_string())
        .collect();
    rules.sort();
    let snap = dir.path().join("example.snap");
    let snap_str = snap.to_str().expect("utf-8");
    let mut args = vec!["compile"];
    args.extend(rules.iter().map(String::as_str));
    args.extend(["-o", snap_str]);
    let out = vexil(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = std::fs::read(&snap).expect("snapshot written");
    // Deterministic: compiling again gives the same bytes.
    assert!(vexil(&args).status.success());
    assert_eq!(first, std::fs::read(&snap).expect("snapshot rewritten"));

    let contexts = root.join("contexts.jsonl");
    let contexts = contexts.to_str().expect("utf-8");
    let mut from_rules = vec!["eval", "--rules"];
    from_rules.extend(rules.iter().map(String::as_str));
    from_rules.extend(["--contexts", contexts]);
    let a = vexil(&from_rules);
    let b = vexil(&["eval", "--snapshot", snap_str, "--contexts", contexts]);
    assert!(a.status.success() && b.status.success());
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout, "snapshot and rules answer alike");
}

#[test]
fn corrupt_or_missing_snapshots_are_refused_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = write(dir.path(), "example.flags", SPEC_EXAMPLE);
    let snap = dir.path().join("x.snap");
    let snap_str = snap.to_str().expect("utf-8");
    assert!(
        vexil(&["compile", rules.to_str().expect("utf-8"), "-o", snap_str])
            .status
            .success()
    );
    let good = std::fs::read(&snap).expect("written");
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.snap", good[..good.len() / 2].to_vec()),
        ("flipped.snap", flipped),
        ("garbage.snap", b"not a snapshot at all".to_vec()),
        ("empty.snap", Vec::new()),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let out = vexil(&[
            "eval",
            "--snapshot",
            path.to_str().expect("utf-8"),
            "--context",
            "{}",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}: nothing evaluated");
    }
    let out = vexil(&["eval", "--snapshot", "/no/such.snap", "--context", "{}"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such.snap"));
    let out = vexil(&[
        "compile",
        rules.to_str().expect("utf-8"),
        "-o",
        "/no/such/dir/x.snap",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}
