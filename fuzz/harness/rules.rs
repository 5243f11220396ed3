//! What the `parse_check` and `differential` fuzz targets check, as plain
//! functions of the input bytes.
//!
//! The fuzz targets (`fuzz/fuzz_targets/`) and `tests/fuzz_regressions.rs`
//! both include this file with `#[path]`, so every input committed under
//! `corpus/fuzz/` is replayed by `cargo test` exactly as the fuzzer ran it.
//! A finding is a panic: either one inside vexil, or an assertion here.

use vexil::check::{self, Limits, Source};
use vexil::compile;
use vexil::context::Context;
use vexil::detail::Detail;
use vexil::interp;

/// `parse_check` inputs larger than this are skipped. 1 MiB: big enough for
/// the nesting that once overflowed the stack (tens of thousands of `(`,
/// `not` or `[`), which `fuzz/run.sh` lets libFuzzer grow to.
pub const MAX_INPUT: usize = 1 << 20;

/// `differential` inputs larger than this are skipped: evaluation of huge
/// files only slows the fuzzer down.
pub const MAX_DIFFERENTIAL_INPUT: usize = 64 * 1024;

/// The file name the fuzzed text is checked under.
pub const SOURCE_NAME: &str = "fuzz.flags";

/// A flag key no source can define (keys are identifiers).
const UNKNOWN_FLAG: &str = "no such flag";

/// Parses, checks and, when there are diagnostics, renders one source text.
/// Never panics for any input.
pub fn parse_check(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = vexil::syntax::parse(text);
    let sources = [source(text)];
    match check::check(&sources, &Limits::default()) {
        Ok(_) => assert!(
            parsed.is_ok(),
            "check accepted a text that syntax::parse rejects: {:?}",
            parsed.err()
        ),
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "check failed with no diagnostic");
            let rendered = check::render(&diagnostics, &sources);
            // The first ones suffice: `location` and `contains` are linear,
            // and a 1 MiB input can hold many thousands of errors.
            for d in diagnostics.iter().take(64) {
                assert_eq!(
                    d.file, 0,
                    "diagnostic names a file that was not given: {d:?}"
                );
                assert!(
                    d.span.start <= d.span.end && d.span.end as usize <= text.len(),
                    "diagnostic span outside the text ({} bytes): {d:?}",
                    text.len()
                );
                let (line, col) = check::location(d, &sources);
                let head = format!("{SOURCE_NAME}:{line}:{col}: error: ");
                assert!(
                    rendered.contains(&head),
                    "rendering lacks `{head}` for {d:?}:\n{rendered}"
                );
            }
        }
    }
}

/// Splits the input at its first NUL into rule text and a JSON context; when
/// the text checks and the context is valid, asserts that the reference
/// interpreter and the compiled evaluator agree on every flag.
pub fn differential(data: &[u8]) {
    if data.len() > MAX_DIFFERENTIAL_INPUT {
        return;
    }
    let Some(nul) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let (Ok(text), Ok(json)) = (
        std::str::from_utf8(&data[..nul]),
        std::str::from_utf8(&data[nul + 1..]),
    ) else {
        return;
    };
    let Ok(context) = Context::from_json_str(json) else {
        return;
    };
    let Ok(program) = check::check(&[source(text)], &Limits::default()) else {
        return;
    };
    let ruleset = match compile::compile(&program) {
        Ok(ruleset) => ruleset,
        Err(e) => panic!("a checked program failed to link: {e}"),
    };
    let prepared = ruleset.prepare(&context);

    let compiled: Vec<(&str, Detail<'_>)> = prepared.all().collect();
    let keys: Vec<&str> = program.flag_keys().collect();
    let compiled_keys: Vec<&str> = compiled.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        compiled_keys, keys,
        "compiled flags differ from the program's"
    );

    for (key, from_all) in compiled {
        let expected = interp::evaluate(&program, key, &context);
        let actual = prepared.detail(key);
        assert_eq!(
            actual, expected,
            "flag `{key}`: compiled evaluator (left) disagrees with the interpreter (right)\n\
             context: {json}"
        );
        assert_eq!(
            from_all, actual,
            "flag `{key}`: Prepared::all disagrees with detail"
        );
    }
    assert_eq!(
        interp::evaluate(&program, UNKNOWN_FLAG, &context),
        Detail::not_found()
    );
    assert_eq!(prepared.detail(UNKNOWN_FLAG), Detail::not_found());
}

fn source(text: &str) -> Source {
    Source {
        name: SOURCE_NAME.to_string(),
        text: text.to_string(),
    }
}

/// The building blocks of [`shape_text`]: fragments of rule text that nest
/// (brackets, `not`), widen (atoms, rules, flags, arms, variations) or close
/// what was opened.
const FRAGMENTS: [&str; 16] = [
    "(",
    ")",
    "not ",
    "[",
    "]",
    "{",
    "}",
    "x == 1 and ",
    "flag f { ",
    "rule if ",
    " => on ",
    "variations { a: ",
    "split { on: 50%, off: 50% } ",
    "on: 0%, ",
    "segment s { match ",
    "flag g is on or ",
];

/// A structure-aware reading of fuzz bytes as a rule file: each pair of
/// bytes names a fragment and how often to repeat it (up to 65,536 times),
/// so a few bytes make files tens of thousands of levels deep or wide —
/// the shapes that once overflowed the stack — and libFuzzer mutates the
/// shape rather than the characters. Capped at [`MAX_INPUT`].
pub fn shape_text(data: &[u8]) -> String {
    let mut out = String::new();
    for pair in data.chunks(2) {
        let fragment = FRAGMENTS[usize::from(pair[0]) % FRAGMENTS.len()];
        let n = usize::from(pair.get(1).copied().unwrap_or(0));
        let times = (1 + n * n).min((MAX_INPUT - out.len()) / fragment.len());
        out.push_str(&fragment.repeat(times));
        if out.len() + 32 > MAX_INPUT {
            break;
        }
    }
    out
}

/// [`parse_check`] on the file [`shape_text`] builds from `data`.
pub fn parse_shapes(data: &[u8]) {
    parse_check(shape_text(data).as_bytes());
}
