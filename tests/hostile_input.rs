//! Hostile input, through the library and through the `vexil` binary
//! (SPEC §6: "any input gets an answer or an error, never a crash"; "what
//! `compile` writes, every reader of that format loads").
//!
//! The library cases run on a thread with a 2 MiB stack, as a library user's
//! worker thread would have, at ten times the sizes that overflowed the stack
//! before the nesting limits of `vexil::limits`.

use std::path::Path;
use std::process::{Command, Output};

mod bin;
use bin::{vexil, write};

use vexil::check::{self, Limits, Source};
use vexil::compile::{self, CompileOptions};
use vexil::context::Context;
use vexil::limits::{
    MAX_CONDITION_NESTING, MAX_REFERENCE_DEPTH, MAX_VALUE_NESTING, REGEX_SIZE_LIMIT,
};
use vexil::snapshot::{self, SnapshotMeta};

/// Runs `f` on a thread with a 2 MiB stack; a stack overflow aborts the
/// whole test binary, which is the failure this file exists to catch.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    // A spawned thread's default stack (2 MiB) in an optimised build; an
    // unoptimised one's frames are several times larger, so a debug
    // `cargo test` gets 8 times the room.
    let stack = if cfg!(debug_assertions) {
        16 << 20
    } else {
        2 << 20
    };
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .expect("thread spawns")
        .join()
        .expect("no panic")
}

fn source(text: impl Into<String>) -> Vec<Source> {
    vec![Source {
        name: "hostile.flags".into(),
        text: text.into(),
    }]
}

/// The rendered diagnostics of a text that must not check.
fn errors_of(text: impl Into<String>, limits: Limits) -> String {
    let sources = source(text);
    match check::check(&sources, &limits) {
        Ok(_) => panic!("the text checked, but it should not"),
        Err(diagnostics) => check::render(&diagnostics, &sources),
    }
}

fn checks(text: &str) {
    let sources = source(text);
    if let Err(d) = check::check(&sources, &Limits::default()) {
        panic!("should check:\n{}", check::render(&d, &sources));
    }
}

fn rule(cond: &str) -> String {
    format!("flag f {{\n  rule if {cond} => on\n}}\n")
}

fn variation(value: &str) -> String {
    format!("flag f {{\n  variations {{ a: {value}, b: [] }}\n  default a\n}}\n")
}

fn nested_array(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

// ---- stack safety, library -------------------------------------------------

#[test]
fn deep_parentheses_are_an_error_not_a_crash() {
    let rendered = on_small_stack(|| {
        let n = 216_000;
        let closed = rule(&format!("{}x == 1{}", "(".repeat(n), ")".repeat(n)));
        let open = rule(&"(".repeat(n));
        (
            errors_of(closed, Limits::default()),
            errors_of(open, Limits::default()),
        )
    });
    for text in [rendered.0, rendered.1] {
        // At the first parenthesis one level too deep: line 2, column 11 + 64.
        let head = format!(
            "hostile.flags:2:{}: error: condition nested deeper than {MAX_CONDITION_NESTING} levels",
            11 + MAX_CONDITION_NESTING
        );
        assert!(text.starts_with(&head), "{}", &text[..text.len().min(300)]);
    }
}

#[test]
fn long_not_chains_are_an_error_not_a_crash() {
    let text = on_small_stack(|| errors_of(rule(&"not ".repeat(60_000)), Limits::default()));
    assert!(
        text.contains("error: condition nested deeper than"),
        "{}",
        &text[..text.len().min(300)]
    );
    // Up to the limit, `not`s are fine (and cancel out).
    let ok = rule(&format!("{}x == 1", "not ".repeat(MAX_CONDITION_NESTING)));
    on_small_stack(move || checks(&ok));
}

#[test]
fn deep_variation_values_are_an_error_not_a_crash() {
    let text = on_small_stack(|| errors_of(variation(&"[".repeat(345_000)), Limits::default()));
    assert!(
        text.contains(&format!(
            "error: variation value nested deeper than {MAX_VALUE_NESTING} levels"
        )),
        "{}",
        &text[..text.len().min(300)]
    );
    let closed = on_small_stack(|| errors_of(variation(&nested_array(345_000)), Limits::default()));
    assert!(closed.contains("nested deeper than"));
}

#[test]
fn deep_lists_and_braces_anywhere_are_an_error_not_a_crash() {
    let inputs = [
        rule(&format!("x in {}", "[".repeat(345_000))),
        "{".repeat(345_000),
        format!("segment s {{ include {} }}", "[".repeat(345_000)),
        format!("flag f {{ rollout split {} }}", "{".repeat(345_000)),
    ];
    for input in inputs {
        let text = on_small_stack(move || errors_of(input, Limits::default()));
        assert!(text.contains("error: "), "{text}");
    }
}

#[test]
fn deep_contexts_are_an_error_not_a_crash() {
    let err = on_small_stack(|| {
        let deep = format!(r#"{{"key": "k", "a": {}}}"#, nested_array(345_000));
        Context::from_json_str(&deep)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let err = err.expect_err("refused");
    assert!(err.contains("nested deeper than 128"), "{err}");
}

#[test]
fn contexts_and_variations_share_one_nesting_limit() {
    // A context is one level itself: its attribute may nest one less.
    let context = |attr_depth: usize| format!(r#"{{"key":"k","a":{}}}"#, nested_array(attr_depth));
    assert!(Context::from_json_str(&context(MAX_VALUE_NESTING - 1)).is_ok());
    assert!(Context::from_json_str(&context(MAX_VALUE_NESTING)).is_err());
    // Brackets inside strings do not count.
    let quoted = format!(r#"{{"key":"{}"}}"#, "[".repeat(1000));
    assert!(Context::from_json_str(&quoted).is_ok());
}

#[test]
fn a_variation_at_the_nesting_limit_compiles_and_loads_one_more_does_not() {
    let options = CompileOptions::default();
    let at_limit = source(variation(&nested_array(MAX_VALUE_NESTING)));
    let ruleset = compile::compile_sources(&at_limit, &options).expect("128 deep compiles");
    let meta = SnapshotMeta {
        version: 1,
        environment: "test".into(),
    };
    let loaded = snapshot::from_bytes(&snapshot::to_bytes(&ruleset, &meta)).expect("and loads");
    let answer = loaded.ruleset().evaluate("f", &Context::with_key("k"));
    assert_eq!(
        answer.value.map(|v| v.to_string()),
        Some(nested_array(MAX_VALUE_NESTING))
    );

    let over = variation(&nested_array(MAX_VALUE_NESTING + 1));
    let text = errors_of(over, Limits::default());
    // At the 129th bracket: line 2, column 19 + 128.
    let head = format!(
        "hostile.flags:2:{}: error: variation value nested deeper than 128",
        19 + MAX_VALUE_NESTING
    );
    assert!(text.starts_with(&head), "{text}");
}

// ---- limits: one contract ---------------------------------------------------

#[test]
fn the_regex_cap_is_one_mebibyte_and_everyday_patterns_fit() {
    assert_eq!(Limits::default().regex_size, 1 << 20);
    checks(&rule(r#"email matches "^\\w+@\\w+\\.com$""#));
    checks(&rule(r#"name matches "\\w{10}""#));
    let text = errors_of(rule(r#"name matches "\\w{50}""#), Limits::default());
    assert!(text.contains("regex is too big"), "{text}");
    assert!(
        text.contains("(?-u:\\w)"),
        "the hint names ASCII classes: {text}"
    );
}

#[test]
fn caps_above_their_ceiling_are_refused_or_clamped() {
    let over = Limits::default().with_regex_size(REGEX_SIZE_LIMIT + 1);
    let e = over.validate().expect_err("over the loader's regex limit");
    assert_eq!((e.cap, e.ceiling), ("regex_size", REGEX_SIZE_LIMIT));
    assert_eq!(over.clamped().regex_size, REGEX_SIZE_LIMIT);
    let chain = Limits::default().with_reference_depth(MAX_REFERENCE_DEPTH + 1);
    assert_eq!(chain.validate().map_err(|e| e.cap), Err("reference_depth"));
    let at = Limits::default()
        .with_regex_size(REGEX_SIZE_LIMIT)
        .with_condition_depth(MAX_CONDITION_NESTING)
        .with_reference_depth(MAX_REFERENCE_DEPTH);
    assert!(at.validate().is_ok());
}

#[test]
fn a_regex_at_the_raised_cap_compiles_and_the_snapshot_loads() {
    // Too big for the default cap, fine at the ceiling: what compiles loads.
    let text = rule(r#"name matches "\\w{50}""#);
    let sources = source(text.clone());
    assert!(check::check(&sources, &Limits::default()).is_err());
    let options = CompileOptions::new(Limits::default().with_regex_size(REGEX_SIZE_LIMIT));
    let ruleset = compile::compile_sources(&sources, &options).expect("compiles at the ceiling");
    let meta = SnapshotMeta {
        version: 1,
        environment: "test".into(),
    };
    snapshot::from_bytes(&snapshot::to_bytes(&ruleset, &meta)).expect("the snapshot loads");
}

#[test]
fn huge_rule_caps_do_not_overflow() {
    let limits = Limits::default()
        .with_rules_per_flag(usize::MAX)
        .with_atoms_per_condition(usize::MAX)
        .with_list_values(usize::MAX);
    let sources = source(rule("x == 1"));
    assert!(check::check(&sources, &limits).is_ok());
    let limits = Limits::default().with_rules_per_flag(0);
    let text = errors_of(rule("x == 1"), limits);
    assert!(text.contains("more than 0 rules"), "{text}");
}

#[test]
fn reference_chains_longer_than_evaluation_follows_are_refused() {
    // Flags and segments alternate, so neither per-kind cap (raised to its
    // ceiling) sees the whole chain; together it is longer than 64.
    let mut text = String::new();
    let pairs = MAX_REFERENCE_DEPTH / 2 + 2;
    for i in 0..pairs {
        text.push_str(&format!("flag f{i} {{ rule if segment s{i} => on }}\n"));
        if i + 1 < pairs {
            text.push_str(&format!("segment s{i} {{ match flag f{} is on }}\n", i + 1));
        } else {
            text.push_str(&format!("segment s{i} {{ include [\"k\"] }}\n"));
        }
    }
    let limits = Limits::default().with_reference_depth(MAX_REFERENCE_DEPTH);
    let rendered = errors_of(text, limits);
    assert!(
        rendered.contains("references through segments and prerequisites"),
        "{rendered}"
    );
}

// ---- SPEC §6 lexing corners ------------------------------------------------

#[test]
fn numbers_must_fit_an_f64() {
    for (literal, why) in [
        ("1e-400", "too small"),
        ("-1e-400", "too small"),
        ("0.5e-330", "too small"),
        ("1e400", "too large"),
        ("-1e309", "too large"),
    ] {
        let text = errors_of(rule(&format!("x == {literal}")), Limits::default());
        // At the token: line 2, column 16.
        assert!(
            text.starts_with("hostile.flags:2:16: error: number out of range"),
            "{literal}: {text}"
        );
        assert!(text.contains(why), "{literal}: {text}");
        let text = errors_of(variation(literal), Limits::default());
        assert!(text.contains("number out of range"), "{literal}: {text}");
    }
    for fine in ["0e-400", "0.0", "-0", "5e-324", "1.7e308", "1e-300"] {
        checks(&rule(&format!("x == {fine}")));
    }
}

#[test]
fn a_byte_order_mark_is_ignored_and_columns_do_not_count_it() {
    checks("\u{feff}flag f { default on }");
    let text = errors_of("\u{feff}flag f { default onn }", Limits::default());
    assert!(
        text.starts_with("hostile.flags:1:18: error: unknown variation `onn`"),
        "{text}"
    );
    // Only at the start: elsewhere it is a stray character.
    assert!(check::check(&source("flag f { }\u{feff}"), &Limits::default()).is_err());
}

#[test]
fn a_file_that_is_not_utf8_names_the_line_of_its_first_bad_byte() {
    let bytes = b"flag f {\n  # caf\xc3\xa9 ok\n  rule if x == \"\xff\" => on\n}\n".to_vec();
    let e = Source::from_bytes("bad.flags", bytes).expect_err("not UTF-8");
    assert_eq!((e.line, e.column, e.byte), (3, 17, 0xff));
    let shown = e.to_string();
    assert!(
        shown.starts_with("bad.flags:3:17: error: invalid UTF-8 (byte 0xFF)"),
        "{shown}"
    );
    assert!(
        shown.lines().nth(2).is_some_and(|l| l.ends_with('^')),
        "{shown}"
    );
    let bom = Source::from_bytes("bom.flags", b"\xef\xbb\xbfflag \xff".to_vec()).expect_err("bad");
    assert_eq!((bom.line, bom.column), (1, 6), "the BOM is no column");
    let ok = Source::from_bytes("ok.flags", "\u{feff}flag é".into()).expect("UTF-8");
    assert_eq!(ok.text, "\u{feff}flag é");
}

#[test]
fn lexer_messages_say_what_was_meant() {
    for (cond, wanted, col) in [
        ("x = 1", "did you mean `==`?", 13),
        ("x == 'abc'", "double quotes", 16),
        ("café == 1", "non-ASCII character `é` in a name", 14),
        ("x == 1 && y == 2", "joined with `and`", 18),
    ] {
        let text = errors_of(rule(cond), Limits::default());
        let head = format!("hostile.flags:2:{col}: error: ");
        assert!(text.starts_with(&head), "{cond}: {text}");
        assert!(text.contains(wanted), "{cond}: {text}");
        // One slip, one error.
        assert_eq!(text.matches(": error: ").count(), 1, "{cond}: {text}");
    }
    let text = errors_of(
        "flag f { rollout split { on: -5%, off: 105% } }",
        Limits::default(),
    );
    assert!(text.contains("a percentage cannot be negative"), "{text}");
}

// ---- through the binary ---------------------------------------------------

fn vexil_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vexil"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the vexil binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    pipe.write_all(stdin.as_bytes())
        .expect("stdin takes the input");
    drop(pipe);
    child.wait_with_output().expect("vexil finishes")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 1 (not a signal), and stderr says `wanted`.
fn refused(out: &Output, wanted: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(wanted), "{}", &err[..err.len().min(500)]);
}

#[test]
fn cli_refuses_deep_nesting_with_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n = 216_000;
    let cases = [
        (
            rule(&format!("{}x == 1{}", "(".repeat(n), ")".repeat(n))),
            "condition nested deeper",
        ),
        (rule(&"not ".repeat(60_000)), "condition nested deeper"),
        (
            variation(&nested_array(345_000)),
            "variation value nested deeper",
        ),
    ];
    for (i, (text, wanted)) in cases.iter().enumerate() {
        let file = write(dir.path(), &format!("deep{i}.flags"), text);
        refused(&vexil(&["check", path(&file)]), wanted);
        let out = dir.path().join(format!("deep{i}.snap"));
        refused(&vexil(&["compile", path(&file), "-o", path(&out)]), wanted);
        assert!(!out.exists());
        let ctx = r#"{"key":"k"}"#;
        refused(
            &vexil(&["eval", "--rules", path(&file), "--context", ctx]),
            wanted,
        );
    }
}

#[test]
fn cli_refuses_deep_contexts_naming_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = write(dir.path(), "a.flags", "flag f { }\n");
    // An argument is at most 128 KiB (Linux), so --context gets 60,000 levels.
    let arg = format!(r#"{{"key":"k","a":{}}}"#, nested_array(60_000));
    let deep = format!(r#"{{"key":"k","a":{}}}"#, nested_array(345_000));
    refused(
        &vexil(&["eval", "--rules", path(&rules), "--context", &arg]),
        "invalid --context: invalid JSON: nested deeper than 128",
    );
    let contexts = write(
        dir.path(),
        "c.jsonl",
        format!("{{\"key\":\"a\"}}\n\n{deep}\n"),
    );
    let out = vexil(&[
        "eval",
        "--rules",
        path(&rules),
        "--contexts",
        path(&contexts),
    ]);
    refused(&out, &format!("{}:3: invalid context", path(&contexts)));
    // Streamed: the line before the bad one was answered.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[test]
fn cli_variation_nesting_limit_holds_from_compile_to_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ok = write(dir.path(), "ok.flags", variation(&nested_array(128)));
    let snap = dir.path().join("ok.snap");
    let out = vexil(&["compile", path(&ok), "-o", path(&snap)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = vexil(&[
        "eval",
        "--snapshot",
        path(&snap),
        "--context",
        r#"{"key":"k"}"#,
    ]);
    assert!(out.status.success(), "the snapshot loads: {}", stderr(&out));
    let over = write(dir.path(), "over.flags", variation(&nested_array(129)));
    let snap = dir.path().join("over.snap");
    refused(
        &vexil(&["compile", path(&over), "-o", path(&snap)]),
        "over.flags:2:147: error: variation value nested deeper than 128",
    );
    assert!(!snap.exists());
}

#[test]
fn cli_reads_bytes_ignores_a_bom_and_names_the_line_of_bad_utf8() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bom = write(dir.path(), "bom.flags", "\u{feff}flag f { default on }\n");
    let out = vexil(&["check", path(&bom)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bom_err = write(dir.path(), "bom2.flags", "\u{feff}flag f { default onn }\n");
    refused(
        &vexil(&["check", path(&bom_err)]),
        "bom2.flags:1:18: error: unknown variation",
    );
    let bad = write(dir.path(), "bad.flags", b"flag f {\n\n  salt \"\xfe\"\n}\n");
    let out = vexil(&["check", path(&bad)]);
    refused(&out, "bad.flags:3:9: error: invalid UTF-8 (byte 0xFE)");
    assert!(!stderr(&out).contains("stream did not contain valid UTF-8"));
}

#[test]
fn cli_caps_have_ceilings_and_eval_takes_them_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = write(dir.path(), "a.flags", rule("(x == 1)"));
    let snap = dir.path().join("a.snap");
    let too_big = (REGEX_SIZE_LIMIT + 1).to_string();
    let out = vexil(&[
        "compile",
        path(&rules),
        "-o",
        path(&snap),
        "--max-regex-size",
        &too_big,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--max-regex-size"),
        "{}",
        stderr(&out)
    );
    assert!(!snap.exists());
    let at = REGEX_SIZE_LIMIT.to_string();
    let out = vexil(&[
        "compile",
        path(&rules),
        "-o",
        path(&snap),
        "--max-regex-size",
        &at,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = vexil(&["check", path(&rules), "--max-rules", "18446744073709551615"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // `eval --rules` takes the caps of `check` and `compile`.
    let ctx = r#"{"key":"k","x":1}"#;
    refused(
        &vexil(&[
            "eval",
            "--rules",
            path(&rules),
            "--max-depth",
            "0",
            "--context",
            ctx,
        ]),
        "condition nesting depth 1 is over the limit of 0",
    );
    let out = vexil(&[
        "eval",
        "--rules",
        path(&rules),
        "--max-rules",
        "1",
        "--context",
        ctx,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn cli_eval_contexts_streams_from_stdin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = write(dir.path(), "a.flags", rule("x == 1"));
    let input = "{\"key\":\"a\",\"x\":1}\n\n   \n{\"key\":\"b\",\"x\":2}\n{\"key\":\"c\",\"x\":1}";
    let out = vexil_stdin(&["eval", "--rules", path(&rules), "--contexts", "-"], input);
    assert!(out.status.success(), "{}", stderr(&out));
    let reasons: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line")["reason"].clone())
        .collect();
    assert_eq!(reasons, ["TARGETING_MATCH", "DEFAULT", "TARGETING_MATCH"]);
    let out = vexil_stdin(
        &["eval", "--rules", path(&rules), "--contexts", "-"],
        "{\"key\":\"a\"}\n[1]\n",
    );
    refused(&out, "-:2: invalid context");
}

#[cfg(unix)]
#[test]
fn cli_compile_output_is_never_a_device_directory_fifo_or_input() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "flag f { default on }\n";
    let rules = write(dir.path(), "a.flags", text);

    let out = vexil(&["compile", path(&rules), "-o", "/dev/null"]);
    refused(
        &out,
        "/dev/null: it is a character device, not a regular file",
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    let null = std::fs::metadata("/dev/null").expect("/dev/null exists");
    assert!(null.file_type().is_char_device());

    refused(
        &vexil(&["compile", path(&rules), "-o", path(dir.path())]),
        "it is a directory",
    );

    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        refused(
            &vexil(&["compile", path(&rules), "-o", path(&fifo)]),
            "it is a FIFO",
        );
        assert!(std::fs::symlink_metadata(&fifo)
            .expect("fifo is still there")
            .file_type()
            .is_fifo());
    }

    refused(
        &vexil(&["compile", path(&rules), "-o", path(&rules)]),
        "it is the input file",
    );
    let link = dir.path().join("hard.flags");
    std::fs::hard_link(&rules, &link).expect("hard link");
    let other = write(dir.path(), "b.flags", "flag g { }\n");
    refused(
        &vexil(&["compile", path(&other), path(&rules), "-o", path(&link)]),
        "it is the input file",
    );
    assert_eq!(std::fs::read_to_string(&rules).expect("still there"), text);

    // A regular file is replaced, atomically, and nothing is left behind.
    let snap = write(dir.path(), "out.snap", "old");
    let out = vexil(&["compile", path(&rules), "-o", path(&snap)]);
    assert!(out.status.success(), "{}", stderr(&out));
    snapshot::open(&snap).expect("a valid snapshot replaced the file");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir lists")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(names.is_empty(), "temp files left: {names:?}");
}

#[cfg(unix)]
#[test]
fn write_file_refuses_what_is_not_a_regular_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sources = source("flag f { }");
    let ruleset = compile::compile_sources(&sources, &CompileOptions::default()).expect("compiles");
    let meta = SnapshotMeta {
        version: 1,
        environment: "t".into(),
    };
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    let e = snapshot::write_file(&sub, &ruleset, &meta).expect_err("a directory");
    assert!(e.to_string().contains("it is a directory"), "{e}");
    assert!(sub.is_dir());
}

#[test]
fn the_deepest_program_the_checker_accepts_evaluates_on_a_small_stack() {
    // 64 flags in one prerequisite chain, each condition nested as deep as
    // the parser allows, caps raised to their ceilings.
    let limits = Limits::default()
        .with_condition_depth(MAX_CONDITION_NESTING)
        .with_reference_depth(MAX_REFERENCE_DEPTH);
    let wrap = |atom: String| {
        let half = MAX_CONDITION_NESTING / 2;
        format!("{}{atom}{}", "not (".repeat(half), ")".repeat(half))
    };
    let mut text = String::new();
    for i in 0..MAX_REFERENCE_DEPTH - 1 {
        let cond = wrap(format!("flag f{} is on", i + 1));
        text.push_str(&format!("flag f{i} {{ rule if {cond} => on }}\n"));
    }
    let last = MAX_REFERENCE_DEPTH - 1;
    text.push_str(&format!(
        "flag f{last} {{ rule if {} => on }}\n",
        wrap("x == 1".into())
    ));
    let (interpreted, compiled) = on_small_stack(move || {
        let sources = source(text);
        let program = match check::check(&sources, &limits) {
            Ok(p) => p,
            Err(d) => panic!("{}", check::render(&d, &sources)),
        };
        let ruleset = compile::compile(&program).expect("links");
        let mut context = Context::with_key("k");
        context.set_number("x", 1.0).expect("number attribute");
        let a = vexil::interp::evaluate(&program, "f0", &context)
            .variation
            .map(str::to_string);
        let b = ruleset
            .evaluate("f0", &context)
            .variation
            .map(str::to_string);
        (a, b)
    });
    // An even number of `not`s per level: the chain is all `on`.
    assert_eq!(interpreted.as_deref(), Some("on"));
    assert_eq!(compiled, interpreted);
}

// ---- scale: time and output linear in the input ------------------------------

/// Checks and renders `text`, failing when it takes more than `secs`
/// (quadratic work on these inputs takes many minutes; linear, seconds).
fn render_within(text: String, secs: u64) -> (usize, String) {
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let sources = source(text);
        let result = match check::check(&sources, &Limits::default()) {
            Ok(_) => (0, String::new()),
            Err(d) => (d.len(), check::render(&d, &sources)),
        };
        let _ = done.send(result);
    });
    wait.recv_timeout(std::time::Duration::from_secs(secs))
        .expect("checked and rendered in linear time")
}

#[test]
fn many_errors_on_one_long_line_are_reported_in_linear_time_and_space() {
    let arms: Vec<String> = (0..100_000).map(|i| format!("v{i}: 0%,")).collect();
    let text = format!("flag f {{ rollout split {{ {} }} }}\n", arms.join(" "));
    let (errors, rendered) = render_within(text, 90);
    // Every unknown variation is reported, plus the sum.
    assert_eq!(errors, 100_001);
    assert!(rendered.len() < errors * 1024, "{} bytes", rendered.len());
    assert!(rendered.contains("(variations: on, off)"));

    let (errors, rendered) =
        render_within(format!("flag f {{ {} }}", "x = 1 ".repeat(100_000)), 90);
    assert_eq!(errors, 100_000);
    assert!(rendered.len() < errors * 1024, "{} bytes", rendered.len());
    // Columns are still exact, far into the line.
    let last = 12 + 6 * 99_999;
    assert!(rendered.contains(&format!(
        ":1:{last}: error: unexpected `=`; did you mean `==`?"
    )));
}

#[test]
fn many_variations_and_broken_items_are_checked_in_linear_time() {
    let vars: Vec<String> = (0..100_000).map(|i| format!("v{i}: {i},")).collect();
    let targets: Vec<String> = (0..20_000)
        .map(|i| format!("target w{i} [\"k\"]"))
        .collect();
    let text = format!(
        "flag f {{ variations {{ {} }} default v0 {} }}\n",
        vars.join(" "),
        targets.join(" ")
    );
    let (errors, rendered) = render_within(text, 90);
    assert_eq!(errors, 20_000);
    assert!(
        rendered.contains("and 99984 more)"),
        "variation lists are cut short"
    );
    let (errors, _) = render_within("flag a { default }\n".repeat(50_000), 90);
    assert_eq!(errors, 50_000);
}
