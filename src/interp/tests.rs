//! One small test per rule of SPEC §2 and §6 "Evaluation", on programs built
//! by hand.

use serde_json::{json, Value as Json};
use xxhash_rust::xxh3::xxh3_64;

use super::{evaluate, MAX_REFERENCE_DEPTH};
use crate::check::program::{
    Cond, Flag, FlagId, List, Needle, Ordered, Ordering, Rule, Scalar, Segment, SegmentId, Serve,
    Split, Target, Test, Variation, VariationId,
};
use crate::check::Program;
use crate::context::Context;
use crate::detail::{Detail, ErrorCode, Matched, Reason};
use crate::values::date::{self, Instant};
use crate::values::semver::Version;

// ---------------------------------------------------------------- helpers

const ON: VariationId = VariationId(0);
const OFF: VariationId = VariationId(1);

/// A boolean flag `{ on: true, off: false }`, default `off`, nothing else.
fn bool_flag(key: &str) -> Flag {
    Flag {
        key: key.to_string(),
        variations: vec![variation("on", json!(true)), variation("off", json!(false))],
        default: OFF,
        enabled: true,
        when_disabled: OFF,
        salt: key.to_string(),
        targets: Vec::new(),
        rules: Vec::new(),
        rollout: None,
    }
}

/// A string flag with variations `a`, `b`, `c` (ids 0, 1, 2), default `c`.
fn abc_flag(key: &str) -> Flag {
    Flag {
        variations: vec![
            variation("a", json!("A")),
            variation("b", json!("B")),
            variation("c", json!("C")),
        ],
        default: VariationId(2),
        when_disabled: VariationId(2),
        ..bool_flag(key)
    }
}

const A: VariationId = VariationId(0);
const B: VariationId = VariationId(1);
const C: VariationId = VariationId(2);

fn variation(name: &str, value: Json) -> Variation {
    Variation {
        name: name.to_string(),
        value,
    }
}

fn program(flags: Vec<Flag>) -> Program {
    Program {
        flags,
        segments: Vec::new(),
    }
}

fn ctx(value: Json) -> Context {
    Context::from_json(&value).expect("a valid context")
}

fn rule(cond: Cond, serve: Serve) -> Rule {
    Rule {
        name: None,
        cond,
        serve,
    }
}

fn named(name: &str, cond: Cond, serve: Serve) -> Rule {
    Rule {
        name: Some(name.to_string()),
        cond,
        serve,
    }
}

fn cmp(attr: &str, test: Test) -> Cond {
    Cond::Compare {
        attr: attr.to_string(),
        test,
    }
}

fn always() -> Cond {
    Cond::All(Vec::new())
}

fn never() -> Cond {
    Cond::Any(Vec::new())
}

fn split(by: Option<&str>, arms: &[(VariationId, u32)]) -> Split {
    Split {
        by: by.map(str::to_string),
        arms: arms.to_vec(),
    }
}

fn target(variation: VariationId, keys: &[&str]) -> Target {
    Target {
        variation,
        keys: keys.iter().map(|k| k.to_string()).collect(),
    }
}

fn segment(name: &str, include: &[&str], exclude: &[&str], matches: Vec<Cond>) -> Segment {
    Segment {
        name: name.to_string(),
        include: include.iter().map(|k| k.to_string()).collect(),
        exclude: exclude.iter().map(|k| k.to_string()).collect(),
        matches,
    }
}

fn sv(text: &str) -> Version {
    Version::parse(text).expect("a valid version")
}

fn dt(text: &str) -> Instant {
    date::parse_rfc3339(text).expect("a valid date")
}

fn re(text: &str) -> regex::Regex {
    regex::Regex::new(text).expect("a valid regex")
}

fn strs(items: &[&str]) -> List {
    List::Strs(items.iter().map(|s| s.to_string()).collect())
}

/// The bucket SPEC §2 defines, computed independently of `values::bucket`.
fn expected_bucket(salt: &str, value: &str) -> u32 {
    (xxh3_64(format!("{salt}:{value}").as_bytes()) % 10_000) as u32
}

/// The first key `user-N` whose bucket under `salt` satisfies `wanted`.
fn key_where(salt: &str, wanted: impl Fn(u32) -> bool) -> (String, u32) {
    (0..1_000_000)
        .map(|i| format!("user-{i}"))
        .map(|k| {
            let b = expected_bucket(salt, &k);
            (k, b)
        })
        .find(|(_, b)| wanted(*b))
        .expect("some key has such a bucket")
}

/// Whether `cond` holds for `context` in `program` (seen through an extra
/// flag `probe` with the single rule `if cond => on`).
fn holds_in(mut program: Program, cond: Cond, context: Json) -> bool {
    let mut probe = bool_flag("probe");
    probe.rules.push(rule(cond, Serve::Variation(ON)));
    program.flags.push(probe);
    let detail = evaluate(&program, "probe", &ctx(context));
    detail.variation == Some("on")
}

fn holds(cond: Cond, context: Json) -> bool {
    holds_in(Program::default(), cond, context)
}

/// Whether `a TEST` holds when the attribute `a` is `value`.
fn on(test: Test, value: Json) -> bool {
    holds(cmp("a", test), json!({ "key": "k", "a": value }))
}

/// Whether `a TEST` holds when `a` is missing.
fn missing(test: Test) -> bool {
    holds(cmp("a", test), json!({ "key": "k", "a": null }))
}

fn served<'p>(detail: &Detail<'p>) -> (Option<&'p str>, Reason, Option<Matched<'p>>) {
    (detail.variation, detail.reason, detail.matched)
}

// ---------------------------------------------------------------- order of evaluation

#[test]
fn unknown_flag_is_not_found() {
    let p = program(vec![bool_flag("f")]);
    let d = evaluate(&p, "nope", &ctx(json!({ "key": "k" })));
    assert_eq!(d, Detail::not_found());
    assert_eq!(d.error, Some(ErrorCode::FlagNotFound));
    assert_eq!(d.value, None);
}

#[test]
fn disabled_serves_when_disabled_before_targets_and_rules() {
    let mut f = abc_flag("f");
    f.enabled = false;
    f.when_disabled = B;
    f.targets.push(target(A, &["k"]));
    f.rules.push(rule(always(), Serve::Variation(A)));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &ctx(json!({ "key": "k" })));
    assert_eq!(served(&d), (Some("b"), Reason::Disabled, None));
    assert_eq!(d.value, Some(&json!("B")));
    assert_eq!(d.error, None);
}

#[test]
fn target_beats_rules_and_names_target() {
    let mut f = abc_flag("f");
    f.targets.push(target(A, &["x"]));
    f.targets.push(target(B, &["k", "y"]));
    f.rules.push(rule(always(), Serve::Variation(C)));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &ctx(json!({ "key": "k" })));
    assert_eq!(
        served(&d),
        (Some("b"), Reason::TargetingMatch, Some(Matched::Target))
    );
    let d = evaluate(&p, "f", &ctx(json!({ "key": "z" })));
    assert_eq!(d.variation, Some("c"));
    assert_eq!(d.reason, Reason::TargetingMatch);
}

#[test]
fn context_without_key_skips_targets() {
    let mut f = bool_flag("f");
    f.targets.push(target(ON, &[""]));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &ctx(json!({ "name": "" })));
    assert_eq!(served(&d), (Some("off"), Reason::Default, None));
}

#[test]
fn first_matching_rule_wins_with_index_and_name() {
    let mut f = abc_flag("f");
    f.rules.push(rule(never(), Serve::Variation(A)));
    f.rules.push(named("second", always(), Serve::Variation(B)));
    f.rules.push(rule(always(), Serve::Variation(A)));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &ctx(json!({ "key": "k" })));
    let rule = Matched::Rule {
        index: 1,
        name: Some("second"),
    };
    assert_eq!(served(&d), (Some("b"), Reason::TargetingMatch, Some(rule)));
    assert_eq!(rule.to_string(), "second");
}

#[test]
fn unnamed_rule_is_counted_among_all_rules() {
    let mut f = abc_flag("f");
    f.rules.push(named("first", never(), Serve::Variation(A)));
    f.rules.push(rule(never(), Serve::Variation(A)));
    f.rules.push(rule(always(), Serve::Variation(B)));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &ctx(json!({ "key": "k" })));
    let matched = d.matched.expect("a rule matched");
    assert_eq!(
        matched,
        Matched::Rule {
            index: 2,
            name: None
        }
    );
    assert_eq!(matched.to_string(), "rule#2");
}

#[test]
fn rule_split_serves_split_reason() {
    let mut f = abc_flag("f");
    f.rules.push(rule(
        always(),
        Serve::Split(split(None, &[(A, 0), (B, 10_000)])),
    ));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &ctx(json!({ "key": "k" })));
    let rule = Matched::Rule {
        index: 0,
        name: None,
    };
    assert_eq!(served(&d), (Some("b"), Reason::Split, Some(rule)));
}

#[test]
fn rule_whose_split_cannot_bucket_does_not_match() {
    let mut f = abc_flag("f");
    f.rules.push(rule(
        always(),
        Serve::Split(split(Some("org"), &[(A, 10_000)])),
    ));
    f.rules.push(rule(always(), Serve::Variation(B)));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &ctx(json!({ "key": "k" })));
    let rule = Matched::Rule {
        index: 1,
        name: None,
    };
    assert_eq!(served(&d), (Some("b"), Reason::TargetingMatch, Some(rule)));
}

#[test]
fn rollout_after_rules() {
    let mut f = abc_flag("f");
    f.rules.push(rule(never(), Serve::Variation(A)));
    f.rollout = Some(split(None, &[(B, 10_000), (A, 0)]));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &ctx(json!({ "key": "k" })));
    assert_eq!(
        served(&d),
        (Some("b"), Reason::Split, Some(Matched::Rollout))
    );
    assert_eq!(Matched::Rollout.to_string(), "rollout");
}

#[test]
fn unbucketable_rollout_falls_through_to_default() {
    let mut f = abc_flag("f");
    f.rollout = Some(split(None, &[(A, 10_000)]));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &ctx(json!({ "plan": "x" })));
    assert_eq!(served(&d), (Some("c"), Reason::Default, None));
    // The same with a key buckets.
    let d = evaluate(&p, "f", &ctx(json!({ "key": "k" })));
    assert_eq!(d.variation, Some("a"));
}

#[test]
fn default_when_nothing_matches() {
    let mut f = abc_flag("f");
    f.rules.push(rule(never(), Serve::Variation(A)));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &ctx(json!({ "key": "k" })));
    assert_eq!(served(&d), (Some("c"), Reason::Default, None));
    assert_eq!(d.value, Some(&json!("C")));
    assert_eq!(d.error, None);
}

#[test]
fn malformed_ids_do_not_panic() {
    let mut f = bool_flag("f");
    f.default = VariationId(9);
    f.rules
        .push(rule(Cond::Segment(SegmentId(3)), Serve::Variation(ON)));
    f.rules.push(rule(
        Cond::Prereq {
            flag: FlagId(7),
            variation: ON,
        },
        Serve::Variation(ON),
    ));
    let p = program(vec![f]);
    assert_eq!(
        evaluate(&p, "f", &ctx(json!({ "key": "k" }))),
        Detail::not_found()
    );
}

#[test]
fn prerequisite_cycle_stops_at_the_depth_guard() {
    // The checker refuses cycles; the interpreter still must not overflow.
    let mut f = bool_flag("f");
    f.rules.push(rule(
        Cond::Prereq {
            flag: FlagId(0),
            variation: ON,
        },
        Serve::Variation(ON),
    ));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &ctx(json!({ "key": "k" })));
    assert_eq!(d.variation, Some("off"));
    const { assert!(MAX_REFERENCE_DEPTH >= 4) };
}

// ---------------------------------------------------------------- splits

#[test]
fn split_boundary_is_exclusive() {
    let (key, b) = key_where("f", |b| b > 0 && b < 9_999);
    let context = json!({ "key": key });
    for (width, expected) in [(b, "off"), (b + 1, "on")] {
        let mut f = bool_flag("f");
        f.rollout = Some(split(None, &[(ON, width), (OFF, 10_000 - width)]));
        let p = program(vec![f]);
        let d = evaluate(&p, "f", &ctx(context.clone()));
        assert_eq!(
            d.variation,
            Some(expected),
            "bucket {b}, first arm {width} wide"
        );
        assert_eq!(d.reason, Reason::Split);
    }
}

#[test]
fn arms_take_consecutive_ranges_in_order() {
    let arms = [(A, 3_000), (B, 3_000), (C, 4_000)];
    for (range, expected) in [(0..3_000, "a"), (3_000..6_000, "b"), (6_000..10_000, "c")] {
        let (key, _) = key_where("f", |b| range.contains(&b));
        let mut f = abc_flag("f");
        f.default = A;
        f.rollout = Some(split(None, &arms));
        let p = program(vec![f]);
        let d = evaluate(&p, "f", &ctx(json!({ "key": key })));
        assert_eq!(d.variation, Some(expected));
    }
}

#[test]
fn zero_width_arms_get_nothing() {
    let (key, _) = key_where("f", |b| b == 0);
    let mut f = abc_flag("f");
    f.rollout = Some(split(None, &[(A, 0), (B, 10_000)]));
    let p = program(vec![f]);
    assert_eq!(
        evaluate(&p, "f", &ctx(json!({ "key": key }))).variation,
        Some("b")
    );
}

#[test]
fn split_by_integer_attribute_buckets_its_decimal_text() {
    let b = expected_bucket("f", "42");
    for (width, expected) in [(b, "off"), (b + 1, "on")] {
        let mut f = bool_flag("f");
        f.rollout = Some(split(Some("org"), &[(ON, width), (OFF, 10_000 - width)]));
        let p = program(vec![f]);
        for org in [json!(42), json!(42.0), json!("42")] {
            let d = evaluate(&p, "f", &ctx(json!({ "key": "k", "org": org })));
            assert_eq!(d.variation, Some(expected), "org {org}, bucket {b}");
        }
    }
}

#[test]
fn split_by_negative_integer_and_two_to_the_53() {
    for (number, text) in [
        (json!(-7), "-7"),
        (json!(9_007_199_254_740_992u64), "9007199254740992"),
    ] {
        let b = expected_bucket("f", text);
        let mut f = bool_flag("f");
        f.rollout = Some(split(Some("n"), &[(ON, b + 1), (OFF, 9_999 - b)]));
        let p = program(vec![f]);
        let d = evaluate(&p, "f", &ctx(json!({ "n": number })));
        assert_eq!(d.variation, Some("on"), "{text}");
    }
}

#[test]
fn split_by_string_attribute_ignores_the_key() {
    let (org, b) = key_where("f", |b| b < 9_999);
    let mut f = bool_flag("f");
    f.rollout = Some(split(Some("org"), &[(ON, b + 1), (OFF, 9_999 - b)]));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &ctx(json!({ "org": org })));
    assert_eq!(
        served(&d),
        (Some("on"), Reason::Split, Some(Matched::Rollout))
    );
}

#[test]
fn unbucketable_by_values_fall_through() {
    let mut f = abc_flag("f");
    f.rules.push(rule(
        always(),
        Serve::Split(split(Some("v"), &[(A, 10_000)])),
    ));
    f.rollout = Some(split(Some("v"), &[(B, 10_000)]));
    let p = program(vec![f]);
    for value in [
        json!(42.5),
        json!(18_014_398_509_481_984u64), // 2^54
        json!(true),
        json!(["x"]),
        json!({ "x": 1 }),
        json!(null),
    ] {
        let d = evaluate(&p, "f", &ctx(json!({ "key": "k", "v": value })));
        assert_eq!(
            served(&d),
            (Some("c"), Reason::Default, None),
            "v = {value}"
        );
    }
}

#[test]
fn salt_overrides_the_flag_key() {
    let (key, _) = key_where("custom", |b| b < 5_000);
    let (other, _) = key_where("custom", |b| b >= 5_000);
    let mut f = bool_flag("f");
    f.salt = "custom".to_string();
    f.rollout = Some(split(None, &[(ON, 5_000), (OFF, 5_000)]));
    let p = program(vec![f]);
    assert_eq!(
        evaluate(&p, "f", &ctx(json!({ "key": key }))).variation,
        Some("on")
    );
    assert_eq!(
        evaluate(&p, "f", &ctx(json!({ "key": other }))).variation,
        Some("off")
    );
    // And the salt really is used: a key the flag key would put in `off`.
    let disagree = (0..1_000_000)
        .map(|i| format!("user-{i}"))
        .find(|k| expected_bucket("custom", k) < 5_000 && expected_bucket("f", k) >= 5_000)
        .expect("such a key exists");
    assert_eq!(
        evaluate(&p, "f", &ctx(json!({ "key": disagree }))).variation,
        Some("on")
    );
}

// ---------------------------------------------------------------- all, any, not

#[test]
fn all_any_not() {
    let yes = cmp("a", Test::Eq(Scalar::Num(1.0)));
    let no = cmp("a", Test::Eq(Scalar::Num(2.0)));
    let c = json!({ "key": "k", "a": 1 });
    assert!(holds(Cond::All(vec![yes.clone(), yes.clone()]), c.clone()));
    assert!(!holds(Cond::All(vec![yes.clone(), no.clone()]), c.clone()));
    assert!(holds(Cond::Any(vec![no.clone(), yes.clone()]), c.clone()));
    assert!(!holds(Cond::Any(vec![no.clone(), no.clone()]), c.clone()));
    assert!(holds(Cond::Not(Box::new(no.clone())), c.clone()));
    assert!(!holds(Cond::Not(Box::new(Cond::Any(vec![no, yes]))), c));
}

#[test]
fn not_negates_a_false_comparison_on_a_missing_attribute() {
    let eq = cmp("a", Test::Eq(Scalar::Str("x".into())));
    assert!(holds(Cond::Not(Box::new(eq)), json!({ "key": "k" })));
    let ne = cmp("a", Test::Ne(Scalar::Str("x".into())));
    assert!(holds(Cond::Not(Box::new(ne)), json!({ "key": "k" })));
}

// ---------------------------------------------------------------- segments

fn segment_program(seg: Segment) -> Program {
    Program {
        flags: Vec::new(),
        segments: vec![seg],
    }
}

fn plan_is_pro() -> Cond {
    cmp("plan", Test::Eq(Scalar::Str("pro".into())))
}

#[test]
fn segment_include_beats_a_failing_match() {
    let p = segment_program(segment("s", &["k"], &[], vec![plan_is_pro()]));
    assert!(holds_in(
        p,
        Cond::Segment(SegmentId(0)),
        json!({ "key": "k", "plan": "free" })
    ));
}

#[test]
fn segment_include_beats_exclude() {
    let p = segment_program(segment("s", &["k"], &["k"], Vec::new()));
    assert!(holds_in(
        p,
        Cond::Segment(SegmentId(0)),
        json!({ "key": "k" })
    ));
}

#[test]
fn segment_exclude_beats_a_match() {
    let p = segment_program(segment("s", &[], &["k"], vec![plan_is_pro()]));
    assert!(!holds_in(
        p,
        Cond::Segment(SegmentId(0)),
        json!({ "key": "k", "plan": "pro" })
    ));
}

#[test]
fn segment_matches_are_or_ed() {
    let other = cmp("country", Test::In(strs(&["DE", "FR"])));
    let p = segment_program(segment("s", &[], &[], vec![plan_is_pro(), other]));
    let s = Cond::Segment(SegmentId(0));
    assert!(holds_in(
        p.clone(),
        s.clone(),
        json!({ "key": "k", "country": "FR" })
    ));
    assert!(holds_in(
        p.clone(),
        s.clone(),
        json!({ "key": "k", "plan": "pro" })
    ));
    assert!(!holds_in(
        p.clone(),
        s.clone(),
        json!({ "key": "k", "plan": "free" })
    ));
    let empty = segment_program(segment("s", &[], &[], Vec::new()));
    assert!(!holds_in(empty, s, json!({ "key": "k" })));
}

#[test]
fn segment_without_key_uses_only_matches() {
    let p = segment_program(segment("s", &[], &["k"], vec![plan_is_pro()]));
    assert!(holds_in(
        p,
        Cond::Segment(SegmentId(0)),
        json!({ "plan": "pro" })
    ));
}

#[test]
fn segment_nested_in_segment() {
    let inner = segment("inner", &["k"], &[], Vec::new());
    let outer = segment("outer", &[], &[], vec![Cond::Segment(SegmentId(0))]);
    let p = Program {
        flags: Vec::new(),
        segments: vec![inner, outer],
    };
    assert!(holds_in(
        p.clone(),
        Cond::Segment(SegmentId(1)),
        json!({ "key": "k" })
    ));
    assert!(!holds_in(
        p,
        Cond::Segment(SegmentId(1)),
        json!({ "key": "z" })
    ));
}

// ---------------------------------------------------------------- prerequisites

fn prereq(flag: u32, variation: VariationId) -> Cond {
    Cond::Prereq {
        flag: FlagId(flag),
        variation,
    }
}

#[test]
fn prerequisite_compares_the_served_variation() {
    let mut gate = bool_flag("gate");
    gate.rules.push(rule(plan_is_pro(), Serve::Variation(ON)));
    let p = program(vec![gate]);
    assert!(holds_in(
        p.clone(),
        prereq(0, ON),
        json!({ "key": "k", "plan": "pro" })
    ));
    assert!(!holds_in(
        p.clone(),
        prereq(0, ON),
        json!({ "key": "k", "plan": "free" })
    ));
    assert!(holds_in(
        p,
        prereq(0, OFF),
        json!({ "key": "k", "plan": "free" })
    ));
}

#[test]
fn prerequisite_through_a_disabled_flag_sees_when_disabled() {
    let mut gate = abc_flag("gate");
    gate.enabled = false;
    gate.when_disabled = B;
    gate.targets.push(target(A, &["k"]));
    let p = program(vec![gate]);
    assert!(holds_in(p.clone(), prereq(0, B), json!({ "key": "k" })));
    assert!(!holds_in(p.clone(), prereq(0, A), json!({ "key": "k" })));
    assert!(!holds_in(p, prereq(0, C), json!({ "key": "k" })));
}

#[test]
fn prerequisite_sees_targets_splits_and_defaults() {
    let mut gate = abc_flag("gate");
    gate.targets.push(target(A, &["t"]));
    gate.rollout = Some(split(Some("org"), &[(B, 10_000)]));
    let p = program(vec![gate]);
    assert!(holds_in(
        p.clone(),
        prereq(0, A),
        json!({ "key": "t", "org": "o" })
    ));
    assert!(holds_in(
        p.clone(),
        prereq(0, B),
        json!({ "key": "k", "org": "o" })
    ));
    assert!(holds_in(p, prereq(0, C), json!({ "key": "k" })));
}

#[test]
fn prerequisite_inside_a_segment_match() {
    let mut gate = bool_flag("gate");
    gate.targets.push(target(ON, &["k"]));
    let p = Program {
        flags: vec![gate],
        segments: vec![segment("s", &[], &[], vec![prereq(0, ON)])],
    };
    assert!(holds_in(
        p.clone(),
        Cond::Segment(SegmentId(0)),
        json!({ "key": "k" })
    ));
    assert!(!holds_in(
        p,
        Cond::Segment(SegmentId(0)),
        json!({ "key": "z" })
    ));
}

// ---------------------------------------------------------------- exists

#[test]
fn exists_counts_present_values() {
    let e = || Cond::Exists("a".to_string());
    assert!(holds(e(), json!({ "a": "" })));
    assert!(holds(e(), json!({ "a": 0 })));
    assert!(holds(e(), json!({ "a": false })));
    assert!(holds(e(), json!({ "a": [] })));
    assert!(holds(e(), json!({ "a": { "x": 1 } })));
    assert!(!holds(e(), json!({ "a": null })));
    assert!(!holds(e(), json!({ "b": 1 })));
    assert!(holds(
        Cond::Exists("key".to_string()),
        json!({ "key": "k" })
    ));
}

// ---------------------------------------------------------------- missing attributes

#[test]
fn missing_attribute_fails_every_comparison() {
    assert!(!missing(Test::Eq(Scalar::Str("x".into()))));
    assert!(!missing(Test::Ne(Scalar::Str("x".into()))));
    assert!(!missing(Test::Ne(Scalar::Num(1.0))));
    assert!(!missing(Test::In(strs(&["x"]))));
    assert!(!missing(Test::NotIn(strs(&["x"]))));
    assert!(!missing(Test::NotIn(List::Empty)));
    assert!(!missing(Test::Order(Ordering::Lt, Ordered::Num(1.0))));
    assert!(!missing(Test::Contains(Needle::Str(String::new()))));
    assert!(!missing(Test::StartsWith(String::new())));
    assert!(!missing(Test::Matches(re(""))));
}

// ---------------------------------------------------------------- == and !=

#[test]
fn string_equality_is_exact() {
    let eq = || Test::Eq(Scalar::Str("Pro".into()));
    assert!(on(eq(), json!("Pro")));
    assert!(!on(eq(), json!("pro")));
    assert!(!on(eq(), json!("Pro ")));
    let ne = || Test::Ne(Scalar::Str("Pro".into()));
    assert!(on(ne(), json!("pro")));
    assert!(!on(ne(), json!("Pro")));
}

#[test]
fn numbers_compare_as_f64() {
    assert!(on(Test::Eq(Scalar::Num(18.0)), json!(18)));
    assert!(on(Test::Eq(Scalar::Num(18.0)), json!(18.0)));
    assert!(on(Test::Eq(Scalar::Num(0.5)), json!(0.5)));
    assert!(!on(Test::Eq(Scalar::Num(18.0)), json!(18.5)));
    assert!(on(Test::Ne(Scalar::Num(18.0)), json!(18.5)));
    assert!(!on(Test::Ne(Scalar::Num(18.0)), json!(18)));
}

#[test]
fn booleans_compare_to_booleans() {
    assert!(on(Test::Eq(Scalar::Bool(true)), json!(true)));
    assert!(!on(Test::Eq(Scalar::Bool(true)), json!(false)));
    assert!(on(Test::Ne(Scalar::Bool(true)), json!(false)));
    assert!(!on(Test::Ne(Scalar::Bool(true)), json!(true)));
}

#[test]
fn equality_across_types_is_false_both_ways() {
    let cases = [
        (Scalar::Str("18".into()), json!(18)),
        (Scalar::Num(18.0), json!("18")),
        (Scalar::Bool(true), json!("true")),
        (Scalar::Bool(true), json!(1)),
        (Scalar::Str("true".into()), json!(true)),
        (Scalar::Num(1.0), json!(true)),
    ];
    for (literal, value) in cases {
        assert!(
            !on(Test::Eq(literal.clone()), value.clone()),
            "{literal:?} == {value}"
        );
        assert!(
            !on(Test::Ne(literal.clone()), value.clone()),
            "{literal:?} != {value}"
        );
    }
}

#[test]
fn semver_equality() {
    let eq = || Test::Eq(Scalar::Semver(sv("2.3.0")));
    let ne = || Test::Ne(Scalar::Semver(sv("2.3.0")));
    assert!(on(eq(), json!("2.3.0")));
    assert!(on(eq(), json!("v2.3")));
    assert!(on(eq(), json!("2.3.0+build.7")));
    assert!(!on(eq(), json!("2.3.0-rc.1")));
    assert!(on(ne(), json!("2.3.1")));
    assert!(!on(ne(), json!("V2.3.0")));
}

#[test]
fn semver_against_non_versions_is_false() {
    for value in [
        json!("2.3.0.1"),
        json!("not a version"),
        json!("02.3.0"),
        json!(2.3),
        json!(true),
    ] {
        assert!(
            !on(Test::Eq(Scalar::Semver(sv("2.3.0"))), value.clone()),
            "== {value}"
        );
        assert!(
            !on(Test::Ne(Scalar::Semver(sv("2.3.0"))), value.clone()),
            "!= {value}"
        );
    }
}

#[test]
fn date_equality_accepts_text_and_epoch_millis() {
    let eq = || Test::Eq(Scalar::Date(dt("2024-01-01T00:00:00Z")));
    let ne = || Test::Ne(Scalar::Date(dt("2024-01-01T00:00:00Z")));
    assert!(on(eq(), json!("2024-01-01T01:00:00+01:00")));
    assert!(on(eq(), json!("2024-01-01t00:00:00z")));
    assert!(on(eq(), json!(1_704_067_200_000u64)));
    assert!(on(eq(), json!(1_704_067_200_000.0)));
    assert!(!on(eq(), json!(1_704_067_200_001u64)));
    assert!(on(ne(), json!("2024-01-01T00:00:01Z")));
    assert!(on(ne(), json!(0)));
    assert!(!on(ne(), json!(1_704_067_200_000u64)));
}

#[test]
fn date_against_non_dates_is_false() {
    for value in [
        json!("2024-01-01"),
        json!("2024-01-01 00:00:00Z"),
        json!("2024-01-01T00:00:60Z"),
        json!(true),
    ] {
        assert!(
            !on(
                Test::Eq(Scalar::Date(dt("2024-01-01T00:00:00Z"))),
                value.clone()
            ),
            "== {value}"
        );
        assert!(
            !on(
                Test::Ne(Scalar::Date(dt("2024-01-01T00:00:00Z"))),
                value.clone()
            ),
            "!= {value}"
        );
    }
}

// ---------------------------------------------------------------- < <= > >=

#[test]
fn ordering_numbers() {
    let t = |op, n| Test::Order(op, Ordered::Num(n));
    assert!(on(t(Ordering::Lt, 18.0), json!(17.5)));
    assert!(!on(t(Ordering::Lt, 18.0), json!(18)));
    assert!(on(t(Ordering::Le, 18.0), json!(18)));
    assert!(!on(t(Ordering::Le, 18.0), json!(18.01)));
    assert!(on(t(Ordering::Gt, 18.0), json!(19)));
    assert!(!on(t(Ordering::Gt, 18.0), json!(18.0)));
    assert!(on(t(Ordering::Ge, 18.0), json!(18.0)));
    assert!(!on(t(Ordering::Ge, 18.0), json!(-18)));
}

#[test]
fn ordering_a_number_literal_needs_a_number() {
    let t = || Test::Order(Ordering::Ge, Ordered::Num(1.0));
    assert!(!on(t(), json!("5")));
    assert!(!on(t(), json!(true)));
}

#[test]
fn ordering_semver() {
    let t = |op, v| Test::Order(op, Ordered::Semver(sv(v)));
    assert!(on(t(Ordering::Ge, "2.3.0"), json!("2.3")));
    assert!(on(t(Ordering::Ge, "2.3.0"), json!("2.10.0")));
    assert!(!on(t(Ordering::Ge, "2.3.0"), json!("2.3.0-rc.1")));
    assert!(on(t(Ordering::Lt, "2.3.0"), json!("2.3.0-rc.1")));
    assert!(on(t(Ordering::Lt, "1.0.0-beta.11"), json!("1.0.0-beta.2")));
    assert!(on(t(Ordering::Gt, "1.0.0-alpha"), json!("1.0.0-alpha.1")));
    assert!(on(t(Ordering::Le, "1.0.0"), json!("1.0.0+anything")));
    // Not a version, or not a string: false.
    assert!(!on(t(Ordering::Lt, "9.0.0"), json!("1.2.3.4")));
    assert!(!on(t(Ordering::Lt, "9.0.0"), json!(1)));
}

#[test]
fn ordering_dates_as_text_or_epoch_millis() {
    let t = |op| Test::Order(op, Ordered::Date(dt("2024-01-01T00:00:00Z")));
    assert!(on(t(Ordering::Gt), json!("2024-01-01T00:00:00.000000001Z")));
    assert!(on(t(Ordering::Lt), json!("2024-01-01T00:30:00+01:00")));
    assert!(on(t(Ordering::Ge), json!(1_704_067_200_000u64)));
    assert!(on(t(Ordering::Lt), json!(1_704_067_199_999.5)));
    assert!(!on(t(Ordering::Lt), json!("yesterday")));
    assert!(!on(t(Ordering::Lt), json!(false)));
}

// ---------------------------------------------------------------- in / not in

#[test]
fn in_lists_of_the_attribute_type() {
    assert!(on(Test::In(strs(&["DE", "FR"])), json!("FR")));
    assert!(!on(Test::In(strs(&["DE", "FR"])), json!("fr")));
    assert!(on(Test::In(List::Nums(vec![1.0, 2.0])), json!(2.0)));
    assert!(!on(Test::In(List::Nums(vec![1.0, 2.0])), json!(3)));
    // Other types.
    assert!(!on(Test::In(strs(&["1"])), json!(1)));
    assert!(!on(Test::In(List::Nums(vec![1.0])), json!("1")));
    assert!(!on(Test::In(strs(&["true"])), json!(true)));
}

#[test]
fn in_empty_holds_for_nothing() {
    for value in [json!("x"), json!(1), json!(true), json!(["x"]), json!([])] {
        assert!(!on(Test::In(List::Empty), value.clone()), "{value}");
    }
}

#[test]
fn not_in_lists_of_the_attribute_type() {
    assert!(on(Test::NotIn(strs(&["DE", "FR"])), json!("US")));
    assert!(!on(Test::NotIn(strs(&["DE", "FR"])), json!("DE")));
    assert!(on(Test::NotIn(List::Nums(vec![1.0])), json!(2)));
    assert!(!on(Test::NotIn(List::Nums(vec![1.0])), json!(1.0)));
    // Another type: false.
    assert!(!on(Test::NotIn(strs(&["DE"])), json!(5)));
    assert!(!on(Test::NotIn(List::Nums(vec![1.0])), json!("x")));
    assert!(!on(Test::NotIn(strs(&["DE"])), json!(true)));
}

#[test]
fn not_in_empty_holds_for_strings_and_numbers_only() {
    assert!(on(Test::NotIn(List::Empty), json!("x")));
    assert!(on(Test::NotIn(List::Empty), json!(0)));
    assert!(!on(Test::NotIn(List::Empty), json!(false)));
    assert!(!on(Test::NotIn(List::Empty), json!({ "x": 1 })));
}

// ---------------------------------------------------------------- string operators

#[test]
fn contains_is_substring_on_strings() {
    assert!(on(
        Test::Contains(Needle::Str("ell".into())),
        json!("hello")
    ));
    assert!(on(Test::Contains(Needle::Str(String::new())), json!("")));
    assert!(!on(
        Test::Contains(Needle::Str("Ell".into())),
        json!("hello")
    ));
    assert!(!on(Test::Contains(Needle::Str("1".into())), json!(12)));
}

#[test]
fn contains_number_on_a_scalar_is_false() {
    assert!(!on(Test::Contains(Needle::Num(1.0)), json!(1)));
    assert!(!on(Test::Contains(Needle::Num(1.0)), json!("1")));
}

#[test]
fn starts_with_and_ends_with() {
    assert!(on(Test::StartsWith("he".into()), json!("hello")));
    assert!(!on(Test::StartsWith("lo".into()), json!("hello")));
    assert!(on(Test::EndsWith("lo".into()), json!("hello")));
    assert!(!on(Test::EndsWith("he".into()), json!("hello")));
    assert!(!on(Test::StartsWith("1".into()), json!(12)));
    assert!(!on(Test::EndsWith("e".into()), json!(true)));
}

#[test]
fn matches_is_unanchored() {
    assert!(on(Test::Matches(re("b+c")), json!("abbcd")));
    assert!(!on(Test::Matches(re("^b")), json!("abc")));
    assert!(on(Test::Matches(re("^a.c$")), json!("abc")));
    assert!(!on(Test::Matches(re("1")), json!(1)));
}

// ---------------------------------------------------------------- objects

#[test]
fn objects_match_no_operator() {
    let object = json!({ "x": "y" });
    for test in [
        Test::Eq(Scalar::Str("y".into())),
        Test::Ne(Scalar::Str("y".into())),
        Test::Ne(Scalar::Num(1.0)),
        Test::Ne(Scalar::Bool(true)),
        Test::In(strs(&["y"])),
        Test::NotIn(strs(&["y"])),
        Test::NotIn(List::Empty),
        Test::Contains(Needle::Str("y".into())),
        Test::StartsWith(String::new()),
        Test::Matches(re("")),
        Test::Order(Ordering::Ge, Ordered::Num(0.0)),
    ] {
        assert!(!on(test.clone(), object.clone()), "{test:?}");
    }
}

// ---------------------------------------------------------------- arrays

#[test]
fn array_equality_holds_when_any_element_does() {
    assert!(on(Test::Eq(Scalar::Str("b".into())), json!(["a", "b"])));
    assert!(on(Test::Eq(Scalar::Num(2.0)), json!(["a", 2])));
    assert!(!on(Test::Eq(Scalar::Str("c".into())), json!(["a", "b"])));
    assert!(!on(Test::Eq(Scalar::Str("a".into())), json!([])));
}

#[test]
fn array_ne_is_not_eq_over_the_whole_array() {
    let ne = || Test::Ne(Scalar::Str("a".into()));
    assert!(on(ne(), json!([])));
    assert!(on(ne(), json!(["b", "c"])));
    assert!(!on(ne(), json!(["b", "a"])));
    // No element of the literal's type: still "no element equals".
    assert!(on(ne(), json!([1, true])));
}

#[test]
fn array_ordering_holds_when_any_element_does() {
    assert!(on(
        Test::Order(Ordering::Gt, Ordered::Num(10.0)),
        json!([1, 20])
    ));
    assert!(!on(
        Test::Order(Ordering::Gt, Ordered::Num(10.0)),
        json!([1, "20"])
    ));
    assert!(!on(
        Test::Order(Ordering::Gt, Ordered::Num(10.0)),
        json!([])
    ));
}

#[test]
fn array_in_and_not_in() {
    assert!(on(Test::In(strs(&["x", "y"])), json!(["a", "y"])));
    assert!(!on(Test::In(strs(&["x", "y"])), json!(["a", "b"])));
    assert!(on(Test::NotIn(strs(&["x", "y"])), json!(["a", "b"])));
    assert!(!on(Test::NotIn(strs(&["x", "y"])), json!(["a", "y"])));
    assert!(on(Test::In(List::Nums(vec![3.0])), json!(["3", 3])));
}

#[test]
fn array_not_in_holds_for_the_empty_array() {
    assert!(on(Test::NotIn(strs(&["x"])), json!([])));
    assert!(on(Test::NotIn(List::Empty), json!([])));
    assert!(on(Test::NotIn(List::Empty), json!(["a", 1])));
}

#[test]
fn array_contains_is_element_equality() {
    assert!(on(
        Test::Contains(Needle::Str("beta".into())),
        json!(["alpha", "beta"])
    ));
    assert!(!on(
        Test::Contains(Needle::Str("bet".into())),
        json!(["alpha", "beta"])
    ));
    assert!(on(Test::Contains(Needle::Num(2.0)), json!([1, 2.0])));
    assert!(!on(Test::Contains(Needle::Num(2.0)), json!(["2"])));
    assert!(!on(Test::Contains(Needle::Str("2".into())), json!([2])));
    assert!(!on(Test::Contains(Needle::Str("a".into())), json!([])));
}

#[test]
fn array_string_operators_hold_when_any_element_does() {
    assert!(on(Test::StartsWith("be".into()), json!(["alpha", "beta"])));
    assert!(!on(Test::StartsWith("ga".into()), json!(["alpha", "beta"])));
    assert!(on(Test::EndsWith("ta".into()), json!([1, "beta"])));
    assert!(on(Test::Matches(re("^al")), json!(["beta", "alpha"])));
    assert!(!on(Test::Matches(re("^al")), json!([1, 2])));
}

#[test]
fn array_elements_that_are_not_strings_or_numbers_match_nothing() {
    assert!(!on(Test::Eq(Scalar::Bool(true)), json!([true])));
    assert!(on(Test::Ne(Scalar::Bool(true)), json!([true])));
    assert!(!on(
        Test::Eq(Scalar::Str("x".into())),
        json!([["x"], { "x": "x" }, null])
    ));
    assert!(!on(Test::Contains(Needle::Str("x".into())), json!([["x"]])));
    assert!(!on(Test::Matches(re("")), json!([null, false])));
}

#[test]
fn array_semver_and_date_elements() {
    let newer = || Test::Order(Ordering::Ge, Ordered::Semver(sv("2.0.0")));
    assert!(on(newer(), json!(["1.0.0", "v2.1"])));
    assert!(!on(newer(), json!(["1.0.0", "junk", 3])));
    let date = dt("2024-01-01T00:00:00Z");
    assert!(on(
        Test::Eq(Scalar::Date(date)),
        json!(["x", 1_704_067_200_000u64])
    ));
    assert!(on(
        Test::Eq(Scalar::Date(date)),
        json!([0, "2024-01-01T00:00:00Z"])
    ));
    assert!(on(
        Test::Order(Ordering::Lt, Ordered::Date(date)),
        json!([1_704_067_300_000u64, 0])
    ));
    assert!(on(Test::Ne(Scalar::Date(date)), json!([0, "junk"])));
    assert!(!on(Test::Ne(Scalar::Semver(sv("1.0.0"))), json!(["v1"])));
}

// ---------------------------------------------------------------- contexts built by hand

#[test]
fn contexts_built_with_set_evaluate_alike() {
    let mut context = Context::with_key("k");
    context.set("tags", json!(["a", true])).expect("not key");
    let mut f = bool_flag("f");
    f.rules.push(rule(
        cmp("tags", Test::Contains(Needle::Str("a".into()))),
        Serve::Variation(ON),
    ));
    let p = program(vec![f]);
    let d = evaluate(&p, "f", &context);
    assert_eq!(d.variation, Some("on"));
}

#[test]
fn nan_numbers_equal_nothing_and_order_nowhere() {
    let mut context = Context::with_key("k");
    context.set_number("a", f64::NAN).expect("not key");
    let mut f = abc_flag("f");
    f.rules.push(rule(
        cmp("a", Test::Eq(Scalar::Num(f64::NAN))),
        Serve::Variation(A),
    ));
    f.rules.push(rule(
        cmp("a", Test::Order(Ordering::Le, Ordered::Num(0.0))),
        Serve::Variation(A),
    ));
    f.rules.push(rule(
        cmp("a", Test::Order(Ordering::Gt, Ordered::Date(Instant(0)))),
        Serve::Variation(A),
    ));
    f.rules.push(rule(
        cmp("a", Test::Ne(Scalar::Num(0.0))),
        Serve::Variation(B),
    ));
    let p = program(vec![f]);
    assert_eq!(evaluate(&p, "f", &context).variation, Some("b"));
}
