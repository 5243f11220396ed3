//! Checker tests: one per error kind (message and exact line/column), the
//! shape of valid programs, caps at and over their limits, and cycles.

use super::program::{
    Cond, FlagId, List, Needle, Ordered, Ordering, Scalar, SegmentId, Serve, Test, VariationId,
};
use super::*;

fn sources(texts: &[&str]) -> Vec<Source> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| Source {
            name: format!("f{i}.flags"),
            text: (*t).to_string(),
        })
        .collect()
}

fn ok(text: &str) -> Program {
    match check(&sources(&[text]), &Limits::default()) {
        Ok(p) => p,
        Err(d) => panic!("unexpected errors: {}", render(&d, &sources(&[text]))),
    }
}

/// Every error as (file, line, col, message).
fn errors_in(texts: &[&str], limits: &Limits) -> Vec<(usize, usize, usize, String)> {
    let srcs = sources(texts);
    match check(&srcs, limits) {
        Ok(_) => panic!("expected errors in {texts:?}"),
        Err(diags) => diags
            .iter()
            .map(|d| {
                let (l, c) = location(d, &srcs);
                (d.file, l, c, d.message.clone())
            })
            .collect(),
    }
}

fn errors(text: &str) -> Vec<(usize, usize, String)> {
    errors_in(&[text], &Limits::default())
        .into_iter()
        .map(|(_, l, c, m)| (l, c, m))
        .collect()
}

/// The only error of `text`: (line, col, message).
fn one_error_with(text: &str, limits: &Limits) -> (usize, usize, String) {
    let mut all = errors_in(&[text], limits);
    assert_eq!(all.len(), 1, "expected exactly one error, got {all:?}");
    let (_, l, c, m) = all.remove(0);
    (l, c, m)
}

fn one_error(text: &str) -> (usize, usize, String) {
    one_error_with(text, &Limits::default())
}

fn assert_error(text: &str, line: usize, col: usize, needles: &[&str]) {
    let (l, c, m) = one_error(text);
    assert_eq!((l, c), (line, col), "position of {m:?}");
    for n in needles {
        assert!(m.contains(n), "message {m:?} should mention {n:?}");
    }
}

fn rule_test(p: &Program, flag: usize, rule: usize) -> &Test {
    match &p.flags[flag].rules[rule].cond {
        Cond::Compare { test, .. } => test,
        other => panic!("not a comparison: {other:?}"),
    }
}

// ---------- valid programs ----------

#[test]
fn boolean_flag_gets_the_defaults() {
    let p = ok("flag dark-mode { }");
    let f = &p.flags[0];
    assert_eq!(f.key, "dark-mode");
    assert_eq!(f.variations.len(), 2);
    assert_eq!(f.variations[0].name, "on");
    assert_eq!(f.variations[0].value, serde_json::json!(true));
    assert_eq!(f.variations[1].name, "off");
    assert_eq!(f.variations[1].value, serde_json::json!(false));
    assert_eq!(f.default, VariationId(1));
    assert_eq!(f.when_disabled, VariationId(1));
    assert!(f.enabled);
    assert_eq!(f.salt, "dark-mode");
    assert!(f.targets.is_empty() && f.rules.is_empty() && f.rollout.is_none());
}

#[test]
fn boolean_flag_may_default_on_and_set_everything() {
    let p = ok(r#"flag f { default on enabled false when_disabled off salt "s1" }"#);
    let f = &p.flags[0];
    assert_eq!(f.default, VariationId(0));
    assert_eq!(f.when_disabled, VariationId(1));
    assert!(!f.enabled);
    assert_eq!(f.salt, "s1");
    let p = ok("flag g { default on }");
    assert_eq!(
        p.flags[0].when_disabled,
        VariationId(0),
        "when_disabled defaults to the default"
    );
}

#[test]
fn spec_example_shape() {
    let p = ok(r#"
segment beta { include ["u-1", "u-2"]  match plan == "enterprise" and country in ["DE", "FR"] }

flag new-checkout {
  variations { on: true, off: false }
  default off
  target on ["alice", "bob"]
  rule "beta users" if segment beta => on
  rule if platform == "ios" and app_version >= 2 => split { on: 10%, off: 90% }
  rollout split by org_id { on: 5%, off: 95% }
}
"#);
    assert_eq!(p.segments.len(), 1);
    let seg = &p.segments[0];
    assert_eq!(seg.include, vec!["u-1", "u-2"]);
    let Cond::All(parts) = &seg.matches[0] else {
        panic!("and → All")
    };
    assert!(
        matches!(&parts[1], Cond::Compare { attr, test: Test::In(List::Strs(v)) } if attr == "country" && v == &["DE", "FR"])
    );
    let f = &p.flags[0];
    assert_eq!(f.targets[0].variation, VariationId(0));
    assert_eq!(f.targets[0].keys, vec!["alice", "bob"]);
    assert_eq!(f.rules[0].name.as_deref(), Some("beta users"));
    assert!(matches!(f.rules[0].cond, Cond::Segment(SegmentId(0))));
    assert!(matches!(f.rules[0].serve, Serve::Variation(VariationId(0))));
    assert_eq!(f.rules[1].name, None);
    let Serve::Split(split) = &f.rules[1].serve else {
        panic!("split")
    };
    assert_eq!(split.by, None);
    assert_eq!(
        split.arms,
        vec![(VariationId(0), 1000), (VariationId(1), 9000)]
    );
    let rollout = f.rollout.as_ref().expect("rollout");
    assert_eq!(rollout.by.as_deref(), Some("org_id"));
    assert_eq!(
        rollout.arms,
        vec![(VariationId(0), 500), (VariationId(1), 9500)]
    );
}

#[test]
fn conditions_drop_parens_and_keep_structure() {
    let p = ok("flag f { rule if not (a exists or (b exists)) and c exists => on }");
    let Cond::All(parts) = &p.flags[0].rules[0].cond else {
        panic!("All on top")
    };
    let Cond::Not(inner) = &parts[0] else {
        panic!("Not")
    };
    let Cond::Any(alts) = inner.as_ref() else {
        panic!("paren dropped, Any inside: {inner:?}")
    };
    assert!(matches!(&alts[1], Cond::Exists(a) if a == "b"));
    assert!(matches!(&parts[1], Cond::Exists(a) if a == "c"));
}

#[test]
fn segments_join_lists_and_keep_match_order() {
    let p = ok(
        r#"segment s { include ["a"] exclude ["x"] match p == 1 include ["b", "c"] exclude ["y"] match q == 2 }"#,
    );
    let s = &p.segments[0];
    assert_eq!(s.include, vec!["a", "b", "c"]);
    assert_eq!(s.exclude, vec!["x", "y"]);
    assert_eq!(s.matches.len(), 2);
    assert!(matches!(&s.matches[0], Cond::Compare { attr, .. } if attr == "p"));
    assert!(matches!(&s.matches[1], Cond::Compare { attr, .. } if attr == "q"));
}

#[test]
fn names_resolve_across_files_and_forward() {
    let srcs = sources(&[
        "flag a { rule if flag b is on and segment s => on }",
        "flag b { rule if segment s => on } segment s { match x exists }",
    ]);
    let p = check(&srcs, &Limits::default()).expect("valid");
    let Cond::All(parts) = &p.flags[0].rules[0].cond else {
        panic!()
    };
    assert!(matches!(
        parts[0],
        Cond::Prereq {
            flag: FlagId(1),
            variation: VariationId(0)
        }
    ));
    assert!(matches!(parts[1], Cond::Segment(SegmentId(0))));
}

#[test]
fn flag_and_segment_may_share_a_name() {
    let p = ok("segment x { } flag x { rule if segment x => on }");
    assert_eq!(p.flags.len(), 1);
    assert_eq!(p.segments.len(), 1);
}

#[test]
fn typed_literals() {
    let p = ok(r#"flag f {
  rule if a == "s" => on
  rule if a != 3 => on
  rule if a == true => on
  rule if a < -0.0 => on
  rule if a in [] => on
  rule if a not in [1, 2.5] => on
  rule if a contains 4 => on
  rule if a contains "x" => on
  rule if a starts_with "p" => on
  rule if a ends_with "q" => on
  rule if a matches "v[0-9]+" => on
  rule if a >= 7 => on
}"#);
    assert!(matches!(rule_test(&p, 0, 0), Test::Eq(Scalar::Str(s)) if s == "s"));
    assert!(matches!(rule_test(&p, 0, 1), Test::Ne(Scalar::Num(n)) if *n == 3.0));
    assert!(matches!(rule_test(&p, 0, 2), Test::Eq(Scalar::Bool(true))));
    let Test::Order(Ordering::Lt, Ordered::Num(z)) = rule_test(&p, 0, 3) else {
        panic!()
    };
    assert!(z.is_sign_positive(), "-0.0 is normalized to 0.0");
    assert!(matches!(rule_test(&p, 0, 4), Test::In(List::Empty)));
    assert!(matches!(rule_test(&p, 0, 5), Test::NotIn(List::Nums(v)) if v == &[1.0, 2.5]));
    assert!(matches!(rule_test(&p, 0, 6), Test::Contains(Needle::Num(n)) if *n == 4.0));
    assert!(matches!(rule_test(&p, 0, 7), Test::Contains(Needle::Str(s)) if s == "x"));
    assert!(matches!(rule_test(&p, 0, 8), Test::StartsWith(s) if s == "p"));
    assert!(matches!(rule_test(&p, 0, 9), Test::EndsWith(s) if s == "q"));
    let Test::Matches(re) = rule_test(&p, 0, 10) else {
        panic!()
    };
    assert!(re.is_match("xv12"), "unanchored");
    assert!(
        matches!(rule_test(&p, 0, 11), Test::Order(Ordering::Ge, Ordered::Num(n)) if *n == 7.0)
    );
}

#[test]
fn repeated_target_key_of_one_variation_is_harmless() {
    let p = ok(r#"flag f { target on ["a", "a", "b"] target on ["b", "c"] }"#);
    let t = &p.flags[0].targets;
    assert_eq!(t[0].keys, vec!["a", "b"]);
    assert_eq!(t[1].keys, vec!["c"]);
}

// ---------- names ----------

#[test]
fn duplicate_flag_in_one_file() {
    assert_error("flag a { }\nflag a { }", 2, 6, &["flag `a`", "duplicate"]);
}

#[test]
fn duplicate_segment_across_files() {
    let all = errors_in(&["segment s { }", "\n  segment s { }"], &Limits::default());
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!((all[0].0, all[0].1, all[0].2), (1, 2, 11));
    assert!(
        all[0].3.contains("segment `s`") && all[0].3.contains("another file"),
        "{}",
        all[0].3
    );
}

#[test]
fn duplicate_flag_across_files() {
    let all = errors_in(&["flag a { }", "flag a { }"], &Limits::default());
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].0, all[0].1, all[0].2), (1, 1, 6));
}

#[test]
fn duplicate_variation() {
    assert_error(
        "flag f {\n  variations { a: 1, b: 2, a: 3 }\n  default a\n}",
        2,
        28,
        &["variation `a`", "duplicate", "flag `f`"],
    );
}

#[test]
fn null_variation() {
    assert_error(
        "flag f { variations { a: 1, b: null } default a }",
        1,
        32,
        &["variation `b`", "null"],
    );
}

#[test]
fn mixed_variation_types_point_at_the_first_differing_one() {
    assert_error(
        r#"flag f { variations { a: 1, b: 2, c: "x", d: true } default a }"#,
        1,
        38,
        &["variation `c`", "a string", "a number"],
    );
}

#[test]
fn object_and_array_are_different_types() {
    assert_error(
        r#"flag f { variations { a: {"k": 1}, b: [1] } default a }"#,
        1,
        39,
        &["an array", "an object"],
    );
}

#[test]
fn variations_need_a_default() {
    assert_error(
        "\nflag f { variations { a: 1 } }",
        2,
        6,
        &["flag `f`", "default"],
    );
}

#[test]
fn flag_item_twice() {
    assert_error(
        "flag f {\n  salt \"a\"\n  salt \"b\"\n}",
        3,
        3,
        &["`salt`", "duplicate", "flag `f`"],
    );
    assert_error(
        "flag f { default on enabled true default off }",
        1,
        34,
        &["`default`"],
    );
}

#[test]
fn target_and_rule_may_repeat() {
    let p = ok(
        r#"flag f { target on ["a"] target off ["b"] rule if x exists => on rule if y exists => off }"#,
    );
    assert_eq!(p.flags[0].targets.len(), 2);
    assert_eq!(p.flags[0].rules.len(), 2);
}

#[test]
fn unknown_variation_in_target() {
    assert_error(
        "flag new-checkout {\n  target onn [\"a\"]\n}",
        2,
        10,
        &["unknown variation `onn` in flag `new-checkout` (variations: on, off)"],
    );
}

#[test]
fn unknown_variation_everywhere() {
    assert_error(
        "flag f { default maybe }",
        1,
        18,
        &["unknown variation `maybe`"],
    );
    assert_error(
        "flag f { when_disabled x }",
        1,
        24,
        &["unknown variation `x`"],
    );
    assert_error(
        "flag f { rule if a exists => yes }",
        1,
        30,
        &["unknown variation `yes`"],
    );
    assert_error(
        "flag f { rollout split { on: 50%, of: 50% } }",
        1,
        35,
        &["unknown variation `of`"],
    );
    assert_error(
        "flag g { variations { x: 1, y: 2 } default x }\nflag f { rule if flag g is z => on }",
        2,
        28,
        &["unknown variation `z` in flag `g` (variations: x, y)"],
    );
}

#[test]
fn unknown_segment_and_flag() {
    assert_error(
        "flag f { rule if segment betta => on }",
        1,
        26,
        &["unknown segment `betta`"],
    );
    assert_error(
        "segment s { match flag nope is on }",
        1,
        24,
        &["unknown flag `nope`"],
    );
}

#[test]
fn key_targeted_by_two_variations() {
    assert_error(
        "flag f {\n  target on [\"a\", \"b\"]\n  target off [\"c\", \"b\"]\n}",
        3,
        20,
        &["\"b\"", "two variations", "flag `f`"],
    );
}

#[test]
fn split_must_add_up_to_100() {
    assert_error(
        "flag f {\n  rollout split { on: 90%, off: 5% }\n}",
        2,
        11,
        &["split percentages add up to 95%, not 100%"],
    );
    assert_error(
        "flag f { rule if a exists => split { on: 60.5%, off: 40% } }",
        1,
        30,
        &["add up to 100.5%, not 100%"],
    );
}

#[test]
fn variation_twice_in_a_split() {
    assert_error(
        "flag f { rollout split { on: 50%, on: 50% } }",
        1,
        35,
        &["`on`", "duplicate", "split"],
    );
}

#[test]
fn empty_rule_name() {
    assert_error(
        "flag f {\n  rule \"\" if a exists => on\n}",
        2,
        8,
        &["rule name", "empty"],
    );
}

// ---------- literal typing ----------

#[test]
fn ordering_operator_takes_number_semver_or_date() {
    assert_error(
        r#"flag f { rule if age < "10" => on }"#,
        1,
        24,
        &[
            "operator `<`",
            "number, semver(...) or date(...)",
            "not a string",
        ],
    );
    assert_error(
        "flag f { rule if age >= true => on }",
        1,
        25,
        &["operator `>=`", "not a boolean"],
    );
}

#[test]
fn in_takes_a_list() {
    assert_error(
        r#"flag f { rule if c in "DE" => on }"#,
        1,
        23,
        &["operator `in`", "list"],
    );
}

#[test]
fn mixed_list_points_at_first_offender() {
    assert_error(
        r#"flag f { rule if c in ["a", 1, 2] => on }"#,
        1,
        29,
        &["operator `in`", "a number in a list of strings"],
    );
    assert_error(
        r#"flag f { rule if c not in [1, true] => on }"#,
        1,
        31,
        &["operator `not in`", "a boolean"],
    );
    assert_error(
        r#"flag f { rule if c in [["a"]] => on }"#,
        1,
        24,
        &["a list"],
    );
    assert_error(
        r#"flag f { rule if c in [semver("1.0.0")] => on }"#,
        1,
        24,
        &["semver"],
    );
}

#[test]
fn string_operators_take_strings() {
    assert_error(
        "flag f { rule if c starts_with 1 => on }",
        1,
        32,
        &["operator `starts_with`", "a string", "not a number"],
    );
    assert_error(
        "flag f { rule if c ends_with [] => on }",
        1,
        30,
        &["operator `ends_with`", "not a list"],
    );
    assert_error(
        "flag f { rule if c matches true => on }",
        1,
        28,
        &["operator `matches`", "regex"],
    );
}

#[test]
fn contains_takes_string_or_number() {
    assert_error(
        "flag f { rule if c contains false => on }",
        1,
        29,
        &["operator `contains`", "a string or a number"],
    );
}

#[test]
fn equality_rejects_lists() {
    assert_error(
        r#"flag f { rule if c == ["a"] => on }"#,
        1,
        23,
        &["operator `==`", "not a list"],
    );
    assert_error(
        r#"flag f { rule if c != [] => on }"#,
        1,
        23,
        &["operator `!=`"],
    );
}

#[test]
fn invalid_regex_points_at_the_string() {
    let (l, c, m) = one_error("flag f {\n  rule if a matches \"(abc\" => on\n}");
    assert_eq!((l, c), (2, 21));
    assert!(
        m.contains("invalid regex") && m.contains("unclosed group"),
        "{m}"
    );
    assert!(!m.contains('\n'), "one line: {m:?}");
}

#[test]
fn regex_over_the_size_cap_is_too_big() {
    let limits = Limits {
        regex_size: 1000,
        ..Limits::default()
    };
    let (l, c, m) = one_error_with(r#"flag f { rule if a matches "\\w{50}" => on }"#, &limits);
    assert_eq!((l, c), (1, 28));
    assert!(m.contains("too big") && !m.contains("invalid"), "{m}");
    assert!(check(
        &sources(&[r#"flag f { rule if a matches "ab+c" => on }"#]),
        &limits
    )
    .is_ok());
}

// Depends on `crate::values::semver` and `crate::values::date` being implemented.
#[test]
fn values_semver_and_date_literals() {
    let p = ok(r#"flag f {
  rule if v >= semver("2.3.0") => on
  rule if t < date("2024-01-31T12:00:00Z") => on
  rule if v == semver("1.2") => on
}"#);
    assert!(
        matches!(rule_test(&p, 0, 0), Test::Order(Ordering::Ge, Ordered::Semver(v)) if v.major == 2 && v.minor == 3)
    );
    assert!(matches!(
        rule_test(&p, 0, 1),
        Test::Order(Ordering::Lt, Ordered::Date(_))
    ));
    assert!(matches!(rule_test(&p, 0, 2), Test::Eq(Scalar::Semver(_))));
}

// Depends on `crate::values::semver` and `crate::values::date` being implemented.
#[test]
fn values_invalid_semver_and_date_literals() {
    assert_error(
        r#"flag f { rule if v >= semver("1.2.3.4") => on }"#,
        1,
        30,
        &["invalid semver", "1.2.3.4"],
    );
    assert_error(
        r#"flag f { rule if t > date("2024-01-31") => on }"#,
        1,
        27,
        &["invalid date", "2024-01-31"],
    );
}

// ---------- cycles ----------

#[test]
fn self_reference_is_a_cycle() {
    assert_error(
        "flag a { rule if flag a is on => on }",
        1,
        23,
        &["closes a cycle", "flag `a` → flag `a`"],
    );
}

#[test]
fn flag_to_flag_cycle() {
    assert_error(
        "flag a { rule if flag b is on => on }\nflag b { rule if flag a is off => on }",
        2,
        23,
        &["cycle", "flag `a` → flag `b` → flag `a`"],
    );
}

#[test]
fn segment_to_segment_cycle() {
    assert_error(
        "segment x { match segment y }\nsegment y { match segment z }\nsegment z { match segment x }",
        3,
        27,
        &["segment `x` → segment `y` → segment `z` → segment `x`"],
    );
}

#[test]
fn flag_segment_flag_cycle() {
    assert_error(
        "flag a { rule if segment s => on }\nsegment s { match flag a is on }",
        2,
        24,
        &["flag `a` → segment `s` → flag `a`"],
    );
}

#[test]
fn each_back_edge_is_reported_once() {
    let all = errors("flag a { rule if flag b is on => on }\nflag b { rule if flag a is on => on }\nflag c { rule if flag a is on => on }");
    assert_eq!(all.len(), 1, "{all:?}");
}

// ---------- caps ----------

fn small() -> Limits {
    Limits {
        rules_per_flag: 2,
        atoms_per_condition: 3,
        condition_depth: 2,
        list_values: 3,
        regex_size: 64 * 1024,
        reference_depth: 2,
    }
}

fn passes(text: &str, limits: &Limits) {
    if let Err(d) = check(&sources(&[text]), limits) {
        panic!("unexpected errors: {}", render(&d, &sources(&[text])));
    }
}

#[test]
fn rules_per_flag_cap() {
    passes(
        "flag f { rule if a exists => on rule if b exists => on }",
        &small(),
    );
    let (l, c, m) = one_error_with(
        "flag f {\n rule if a exists => on\n rule if b exists => on\n rule if c exists => on\n rule if d exists => on\n}",
        &small(),
    );
    assert_eq!((l, c), (4, 2));
    assert!(
        m.contains("flag `f`") && m.contains("more than 2 rules"),
        "{m}"
    );
}

#[test]
fn rules_per_flag_cap_default_is_256() {
    let mut text = String::from("flag f {\n");
    for _ in 0..256 {
        text.push_str("rule if a exists => on\n");
    }
    passes(&format!("{text}}}"), &Limits::default());
    text.push_str("rule if a exists => on\n}");
    let (l, c, m) = one_error(&text);
    assert_eq!((l, c), (258, 1));
    assert!(m.contains("256"), "{m}");
}

#[test]
fn atoms_per_condition_cap() {
    passes(
        "flag f { rule if a exists and segment s or flag g is on => on } flag g { } segment s { }",
        &small(),
    );
    let (l, c, m) = one_error_with(
        "flag f { rule if a exists and b == 1 and c exists and d == 2 => on }",
        &small(),
    );
    assert_eq!((l, c), (1, 55));
    assert!(m.contains("more than 3 atoms"), "{m}");
    // The cap is per condition: each segment match line has its own budget.
    passes("segment s { match a exists and b exists and c exists match d exists and e exists and f exists }", &small());
}

#[test]
fn condition_depth_cap() {
    passes(
        "flag f { rule if ((a exists)) and (b exists) => on }",
        &small(),
    );
    let (l, c, m) = one_error_with(
        "flag f { rule if (b exists or ((a exists))) => on }",
        &small(),
    );
    assert_eq!((l, c), (1, 32));
    assert!(m.contains("depth 3") && m.contains("limit of 2"), "{m}");
}

#[test]
fn inline_list_cap() {
    passes(r#"flag f { rule if a in [1, 2, 3] => on }"#, &small());
    let (l, c, m) = one_error_with(r#"flag f { rule if a in [1, 2, 3, 4] => on }"#, &small());
    assert_eq!((l, c), (1, 33), "points at the first value over the cap");
    assert!(m.contains("4 values") && m.contains("limit of 3"), "{m}");
    // Not applied to include/exclude/target lists.
    passes(
        r#"segment s { include ["a", "b", "c", "d"] exclude ["a", "b", "c", "d"] } flag f { target on ["a", "b", "c", "d"] }"#,
        &small(),
    );
}

#[test]
fn segment_nesting_cap() {
    passes("segment a { match segment b } segment b { }", &small());
    let (l, c, m) = one_error_with(
        "segment a { match segment b }\nsegment b { match segment c }\nsegment c { }",
        &small(),
    );
    assert_eq!((l, c), (1, 9));
    assert!(m.contains("segment `a`") && m.contains("depth 3"), "{m}");
}

#[test]
fn prerequisite_chain_cap() {
    passes("flag a { rule if flag b is on => on } flag b { }", &small());
    let (l, c, m) = one_error_with(
        "flag a { rule if flag b is on => on }\nflag b { rule if flag c is on => on }\nflag c { }",
        &small(),
    );
    assert_eq!((l, c), (1, 6));
    assert!(m.contains("flag `a`") && m.contains("depth 3"), "{m}");
}

#[test]
fn prerequisite_chain_counts_direct_prerequisites_only() {
    // a → s → t → b → c: the chain of a is 1 (its rules name no flag), b's is 2;
    // prerequisites inside segments do not lengthen the chain of the flags using them.
    let text = "flag a { rule if segment s => on }\nsegment s { match segment t }\nsegment t { match flag b is on }\nflag b { rule if flag c is on => on }\nflag c { }";
    passes(text, &small());
    let direct =
        "flag a { rule if flag b is on => on }\nflag b { rule if flag c is on => on }\nflag c { }";
    let (l, c, m) = one_error_with(direct, &small());
    assert_eq!((l, c), (1, 6));
    assert!(m.contains("prerequisite chain depth 3"), "{m}");
}

#[test]
fn default_limits_reference_depth_is_four() {
    passes("segment a { match segment b } segment b { match segment c } segment c { match segment d } segment d { }", &Limits::default());
    let all = errors("segment a { match segment b } segment b { match segment c } segment c { match segment d } segment d { match segment e } segment e { }");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!((all[0].0, all[0].1), (1, 9));
}

// ---------- collecting errors ----------

#[test]
fn all_errors_of_a_file_are_reported_in_order() {
    let all = errors("flag f {\n  default nope\n  rule \"\" if segment ghost => on\n  rollout split { on: 1% }\n}");
    let positions: Vec<(usize, usize)> = all.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(
        positions,
        vec![(2, 11), (3, 8), (3, 22), (4, 11)],
        "{all:?}"
    );
}

#[test]
fn syntax_errors_do_not_stop_other_files() {
    let all = errors_in(
        &["flag f { default on", "flag g { default maybe }"],
        &Limits::default(),
    );
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].0, 0);
    assert!(all[0].3.contains("end of file"), "{}", all[0].3);
    assert_eq!((all[1].0, all[1].1, all[1].2), (1, 1, 18));
}

#[test]
fn errors_inside_a_duplicate_definition_are_reported() {
    let all = errors("flag a { }\nflag a { default nope }");
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!((all[1].0, all[1].1), (2, 18));
}

#[test]
fn duplicates_point_back_at_the_first_definition() {
    let srcs = sources(&[
        "segment s {}\nflag f { variations { a: 1, b: 2, a: 3 } default a }",
        "\nsegment s {}\nflag f { default on }",
    ]);
    let diags = check(&srcs, &Limits::default()).expect_err("three duplicates");
    let labelled: Vec<(usize, (usize, usize))> = diags
        .iter()
        .filter_map(|d| {
            let label = d.label.as_ref()?;
            let first = Diagnostic::new(label.file, label.span, "");
            Some((d.file, location(&first, &srcs)))
        })
        .collect();
    // The variation `a` (first at 2:23), the segment `s` and the flag `f`
    // (first in file 0 at 1:9 and 2:6).
    assert_eq!(labelled, vec![(0, (2, 23)), (1, (1, 9)), (1, (2, 6))]);
    let text = render(&diags, &srcs);
    assert!(
        text.contains("= note: first defined at f0.flags:1:9"),
        "{text}"
    );
}
