//! The checker through the public API: rendered diagnostics read
//! `FILE:LINE:COL: error: MESSAGE`, then the source line and a caret.

use vexil::check::{check, location, render, Limits, Source};

fn source(name: &str, text: &str) -> Source {
    Source {
        name: name.to_string(),
        text: text.to_string(),
    }
}

fn rendered(sources: &[Source]) -> String {
    match check(sources, &Limits::default()) {
        Ok(_) => panic!("expected errors"),
        Err(diags) => render(&diags, sources),
    }
}

#[test]
fn unknown_variation_renders_header_source_line_and_caret() {
    let sources = [source(
        "checkout.flags",
        "flag new-checkout {\n  default off\n  target onn [\"a\"]\n}\n",
    )];
    let text = rendered(&sources);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "checkout.flags:3:10: error: unknown variation `onn` in flag `new-checkout` (variations: on, off)"
    );
    assert!(
        lines[1].ends_with("|   target onn [\"a\"]"),
        "{:?}",
        lines[1]
    );
    assert!(lines[1].trim_start().starts_with("3 |"), "{:?}", lines[1]);
    // The caret sits under `onn`: same offset past the gutter as in the source line.
    let gutter = lines[1].find('|').expect("gutter");
    assert_eq!(lines[2].find('|'), Some(gutter));
    let caret = lines[2].find('^').expect("caret");
    assert_eq!(&lines[1][caret..caret + 3], "onn");
    assert_eq!(lines[2][caret..].trim_end(), "^^^");
}

#[test]
fn every_error_of_every_file_is_rendered_in_order() {
    let sources = [
        source(
            "a.flags",
            "flag a { default nope }\nflag b { rollout split { on: 50% } }\n",
        ),
        source("b.flags", "flag a { }\n"),
    ];
    let text = rendered(&sources);
    let headers: Vec<&str> = text.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(headers.len(), 3, "{text}");
    assert!(
        headers[0].starts_with("a.flags:1:18: error: unknown variation `nope`"),
        "{}",
        headers[0]
    );
    assert!(
        headers[1].starts_with("a.flags:2:18: error: split percentages add up to 50%, not 100%"),
        "{}",
        headers[1]
    );
    assert!(
        headers[2].starts_with("b.flags:1:6: error: duplicate flag `a`"),
        "{}",
        headers[2]
    );
}

#[test]
fn columns_count_characters_and_carets_keep_tabs() {
    let sources = [source(
        "u.flags",
        "# héllo wörld\nflag f {\n\trule \"ü\" if segment nope => on\n}\n",
    )];
    let diags = check(&sources, &Limits::default()).expect_err("unknown segment");
    assert_eq!(diags.len(), 1);
    assert_eq!(location(&diags[0], &sources), (3, 22));
    let text = render(&diags, &sources);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("u.flags:3:22: error: unknown segment `nope`"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with("| \trule \"ü\" if segment nope => on"),
        "{:?}",
        lines[1]
    );
    assert!(
        lines[2].ends_with("| \t                    ^^^^"),
        "{:?}",
        lines[2]
    );
}

#[test]
fn syntax_errors_are_rendered_too() {
    let sources = [source("s.flags", "flag f {\n  default\n}\n")];
    let text = rendered(&sources);
    let first = text.lines().next().unwrap_or("");
    assert!(first.starts_with("s.flags:3:1: error: "), "{first}");
    assert!(
        text.lines().nth(2).is_some_and(|l| l.contains('^')),
        "{text}"
    );
}

#[test]
fn a_valid_file_checks() {
    let sources = [source(
        "ok.flags",
        "segment beta { include [\"u-1\"] match plan == \"enterprise\" }\nflag f { rule \"beta\" if segment beta => on }\n",
    )];
    let program = check(&sources, &Limits::default()).expect("valid");
    assert_eq!(program.flag_count(), 1);
    assert!(program.flag_keys().any(|k| k == "f"));
}
