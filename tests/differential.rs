//! Differential property test: the compiled evaluator (`compile` + `eval`)
//! must agree with the reference interpreter (`interp`) on every flag of every
//! randomly generated, valid rule file, for every randomly generated context.
//!
//! The generator builds a *plan* out of independent proptest strategies
//! (so shrinking works well) and renders it to `.flags` text. Everything that
//! would make a file invalid is settled at render time:
//! - `segment S` and `flag F is V` point only at items earlier in a hidden
//!   dependency order (no cycles), and only at items whose reference depth
//!   keeps the chain at most 3 deep; the *text* order is an independent
//!   permutation, so forward references are exercised too;
//! - variation indices are taken modulo the flag's variation count;
//! - a target key is dropped from later target lines once used;
//! - split weights are normalised to exactly 100% (in whole percents or in
//!   hundredths), a variation appears at most once in a split.
//!
//! `PROPTEST_CASES` sets the number of cases (default 10,000).

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde_json::{json, Map, Number, Value};

use vexil::check::{self, Limits, Program, Source};
use vexil::compile::{self, Ruleset};
use vexil::context::Context;
use vexil::detail::{Detail, ErrorCode, Matched, Reason};
use vexil::interp;

// ---------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------

/// Attribute names conditions use. `key` is the context key itself.
const ATTRS: &[&str] = &[
    "plan",
    "country",
    "age",
    "score",
    "tags",
    "app_version",
    "signup",
    "email",
    "beta",
    "org_id",
    "key",
    "org.plan",
];

/// Context keys (targets, includes, excludes, contexts).
const KEYS: &[&str] = &[
    "u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "alice",
];

/// Strings shared by literals and context values so equality hits.
const STRS: &[&str] = &[
    "free",
    "pro",
    "enterprise",
    "Pro",
    "DE",
    "FR",
    "US",
    "a",
    "ab",
    "abc",
    "b",
    "x1",
    "123",
    "18",
    "",
    "1.2.0",
    "2024-01-01T00:00:00Z",
    "alice@example.com",
    "u1",
    "é",
    "a\"b\\c",
    "tab\there",
];

/// Number literals as written in a `.flags` file.
const NUM_LITS: &[&str] = &[
    "0",
    "-0",
    "0.0",
    "1",
    "-1",
    "18",
    "18.0",
    "2.5",
    "-0.5",
    "100",
    "1e2",
    "1704067200000",
];

const SEMVER_LITS: &[&str] = &[
    "1.2.0",
    "2.3.0",
    "1.2.0-rc.1",
    "1.2",
    "v2",
    "0.9.9",
    "1.2.0+build.5",
    "1.0.0-alpha",
    "1.2.0-rc.1.2",
];

const DATE_LITS: &[&str] = &[
    "2024-01-01T00:00:00Z",
    "2023-06-15T12:30:00+02:00",
    "2024-01-01T00:00:00.500Z",
    "2024-01-01t01:00:00z",
    "1970-01-01T00:00:00Z",
];

const REGEX_LITS: &[&str] = &[
    "^a",
    "b$",
    "[0-9]+",
    "^(free|pro)$",
    "e",
    "^$",
    "\\.",
    "(?i)^pro$",
];

/// Version-ish strings in contexts (valid and invalid).
const VERSION_VALS: &[&str] = &[
    "1.2.0",
    "v1.2",
    "1.2.0-rc.1",
    "1.2.0-rc.2",
    "1.2.0-alpha.1",
    "1.2.0-rc.1.2",
    "bad",
    "2.3",
    "2.3.0",
    "V3.0.0",
    "1.2.0+meta",
    "01.2.0",
    "1.2.3.4",
    "2",
    "",
];

/// Date-ish strings in contexts (valid and invalid).
const DATE_VALS: &[&str] = &[
    "2024-01-01T00:00:00Z",
    "2023-12-31T23:59:59Z",
    "2024-01-01T02:00:00+02:00",
    "2024-01-01T00:00:00.5Z",
    "2024-01-01T00:00:00.000000001Z",
    "2023-06-15T10:30:00z",
    "2024-01-01",
    "2024-01-01 00:00:00Z",
    "2016-12-31T23:59:60Z",
    "not a date",
];

const NUM_VALS: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    18.0,
    18.5,
    2.5,
    -0.5,
    100.0,
    42.0,
    1704067200000.0,
    1704067200000.5,
    1686825000000.0,
    9007199254740992.0,
    9007199254740994.0,
    1e300,
];

const RULE_NAMES: &[&str] = &["beta users", "ios 10%", "r", "ünï", "rule#0", "x"];
const SALTS: &[&str] = &["abc", "new-checkout", "", "s p a c e", "ü"];

const STR_VARIATIONS: &[&str] = &["\"red\"", "\"green\"", "\"\""];
const NUM_VARIATIONS: &[&str] = &["1", "2.5", "-3"];
const OBJ_VARIATIONS: &[&str] = &["{\"k\": 1}", "{\"k\": [1, 2], \"n\": null}", "{}"];
const ARR_VARIATIONS: &[&str] = &["[1]", "[]", "[\"x\", {\"y\": true}]"];

/// Deepest chain of references (segments and prerequisites together).
const MAX_REF_DEPTH: usize = 3;

// ---------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum AtomP {
    Exists(usize),
    /// Attribute index and the rendered `OP LITERAL`.
    Cmp(usize, String),
    Segment(usize),
    Prereq(usize, usize),
}

#[derive(Debug, Clone)]
enum CondP {
    Atom(AtomP),
    And(Vec<CondP>),
    Or(Vec<CondP>),
    Not(Box<CondP>),
    Paren(Box<CondP>),
}

#[derive(Debug, Clone)]
enum KindP {
    /// No `variations` block; `Some(true)` writes `default on`.
    BoolImplicit(Option<bool>),
    BoolExplicit,
    Str(usize),
    Num(usize),
    Obj(usize),
    Arr(usize),
}

#[derive(Debug, Clone)]
struct SplitP {
    by: Option<usize>,
    arms: Vec<(usize, u8)>,
    hundredths: bool,
}

#[derive(Debug, Clone)]
enum ServeP {
    Var(usize),
    Split(SplitP),
}

#[derive(Debug, Clone)]
struct RuleP {
    name: Option<usize>,
    cond: CondP,
    serve: ServeP,
}

#[derive(Debug, Clone)]
struct FlagP {
    kind: KindP,
    default: usize,
    enabled: Option<bool>,
    when_disabled: Option<usize>,
    salt: Option<usize>,
    targets: Vec<(usize, Vec<usize>)>,
    rules: Vec<RuleP>,
    rollout: Option<SplitP>,
    /// Where each non-rule item goes among the rules.
    positions: Vec<u8>,
    dep_pos: u8,
    text_pos: u8,
}

#[derive(Debug, Clone)]
enum SegItemP {
    Include(Vec<usize>),
    Exclude(Vec<usize>),
    Match(CondP),
}

#[derive(Debug, Clone)]
struct SegP {
    items: Vec<SegItemP>,
    dep_pos: u8,
    text_pos: u8,
}

#[derive(Debug, Clone)]
struct FileP {
    segs: Vec<SegP>,
    flags: Vec<FlagP>,
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// A string as the rule language writes it.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn pick(pool: &'static [&'static str]) -> impl Strategy<Value = &'static str> + Clone {
    proptest::sample::select(pool)
}

fn str_lit() -> impl Strategy<Value = String> + Clone {
    pick(STRS).prop_map(quote)
}

fn num_lit() -> impl Strategy<Value = String> + Clone {
    pick(NUM_LITS).prop_map(str::to_string)
}

fn semver_lit() -> impl Strategy<Value = String> + Clone {
    pick(SEMVER_LITS).prop_map(|v| format!("semver({})", quote(v)))
}

fn date_lit() -> impl Strategy<Value = String> + Clone {
    pick(DATE_LITS).prop_map(|v| format!("date({})", quote(v)))
}

fn list_lit() -> impl Strategy<Value = String> + Clone {
    let render = |items: Vec<String>, trailing: bool| {
        let mut s = format!("[{}", items.join(", "));
        if trailing && !items.is_empty() {
            s.push(',');
        }
        s.push(']');
        s
    };
    prop_oneof![
        1 => Just("[]".to_string()),
        3 => (vec(str_lit(), 1..=4), any::<bool>()).prop_map(move |(v, t)| render(v, t)),
        2 => (vec(num_lit(), 1..=4), any::<bool>()).prop_map(move |(v, t)| render(v, t)),
    ]
}

fn op_lit() -> impl Strategy<Value = String> + Clone {
    let eq = pick(&["==", "!="]);
    let ord = pick(&["<", "<=", ">", ">="]);
    let scalar = prop_oneof![
        4 => str_lit(),
        3 => num_lit(),
        1 => pick(&["true", "false"]).prop_map(str::to_string),
        2 => semver_lit(),
        2 => date_lit(),
    ];
    let ordered = prop_oneof![num_lit(), semver_lit(), date_lit()];
    prop_oneof![
        4 => (eq, scalar).prop_map(|(o, l)| format!("{o} {l}")),
        3 => (ord, ordered).prop_map(|(o, l)| format!("{o} {l}")),
        3 => (pick(&["in", "not in"]), list_lit()).prop_map(|(o, l)| format!("{o} {l}")),
        2 => prop_oneof![str_lit(), num_lit()].prop_map(|l| format!("contains {l}")),
        2 => (pick(&["starts_with", "ends_with"]), str_lit()).prop_map(|(o, l)| format!("{o} {l}")),
        2 => pick(REGEX_LITS).prop_map(|r| format!("matches {}", quote(r))),
    ]
}

fn attr_index(name: &str) -> usize {
    ATTRS
        .iter()
        .position(|a| *a == name)
        .expect("attribute in pool")
}

/// A comparison whose literal fits what contexts usually hold for that
/// attribute, so conditions are often true as well as often false.
fn typed_cmp() -> impl Strategy<Value = AtomP> + Clone {
    let strs = pick(&["plan", "country", "email", "org.plan", "key"]);
    let str_op = prop_oneof![
        3 => (pick(&["==", "!="]), str_lit()).prop_map(|(o, l)| format!("{o} {l}")),
        2 => (pick(&["in", "not in"]), vec(str_lit(), 0..=4))
            .prop_map(|(o, l)| format!("{o} [{}]", l.join(", "))),
        1 => str_lit().prop_map(|l| format!("contains {l}")),
        1 => (pick(&["starts_with", "ends_with"]), str_lit()).prop_map(|(o, l)| format!("{o} {l}")),
        1 => pick(REGEX_LITS).prop_map(|r| format!("matches {}", quote(r))),
    ];
    let nums = pick(&["age", "score", "org_id"]);
    let num_op = prop_oneof![
        (pick(&["==", "!=", "<", "<=", ">", ">="]), num_lit())
            .prop_map(|(o, l)| format!("{o} {l}")),
        (pick(&["in", "not in"]), vec(num_lit(), 0..=4))
            .prop_map(|(o, l)| format!("{o} [{}]", l.join(", "))),
    ];
    let any_rel = pick(&["==", "!=", "<", "<=", ">", ">="]);
    prop_oneof![
        3 => (strs, str_op).prop_map(|(a, o)| AtomP::Cmp(attr_index(a), o)),
        3 => (nums, num_op).prop_map(|(a, o)| AtomP::Cmp(attr_index(a), o)),
        2 => (any_rel.clone(), semver_lit())
            .prop_map(|(o, l)| AtomP::Cmp(attr_index("app_version"), format!("{o} {l}"))),
        2 => (any_rel, date_lit())
            .prop_map(|(o, l)| AtomP::Cmp(attr_index("signup"), format!("{o} {l}"))),
        2 => prop_oneof![
                str_lit().prop_map(|l| format!("contains {l}")),
                num_lit().prop_map(|l| format!("contains {l}")),
                (pick(&["in", "not in", "==", "!="]), prop_oneof![list_lit(), str_lit()])
                    .prop_map(|(o, l)| if l.starts_with('[') == o.contains("in") {
                        format!("{o} {l}")
                    } else if o.contains("in") {
                        format!("{o} [{l}]")
                    } else {
                        format!("{o} \"a\"")
                    }),
                (pick(&["starts_with", "ends_with"]), str_lit()).prop_map(|(o, l)| format!("{o} {l}")),
            ]
            .prop_map(|o| AtomP::Cmp(attr_index("tags"), o)),
        1 => (pick(&["==", "!="]), pick(&["true", "false"]))
            .prop_map(|(o, l)| AtomP::Cmp(attr_index("beta"), format!("{o} {l}"))),
    ]
}

fn atom() -> impl Strategy<Value = AtomP> + Clone {
    prop_oneof![
        1 => (0..ATTRS.len()).prop_map(AtomP::Exists),
        4 => (0..ATTRS.len(), op_lit()).prop_map(|(a, o)| AtomP::Cmp(a, o)),
        6 => typed_cmp(),
        2 => (0usize..8).prop_map(AtomP::Segment),
        2 => (0usize..8, 0usize..3).prop_map(|(f, v)| AtomP::Prereq(f, v)),
    ]
}

fn cond() -> impl Strategy<Value = CondP> + Clone {
    atom()
        .prop_map(CondP::Atom)
        .prop_recursive(3, 24, 3, |inner| {
            prop_oneof![
                3 => vec(inner.clone(), 2..=3).prop_map(CondP::And),
                3 => vec(inner.clone(), 2..=3).prop_map(CondP::Or),
                2 => inner.clone().prop_map(|c| CondP::Not(Box::new(c))),
                1 => inner.prop_map(|c| CondP::Paren(Box::new(c))),
            ]
        })
}

fn split() -> impl Strategy<Value = SplitP> + Clone {
    (
        option::weighted(0.4, 0..ATTRS.len()),
        vec((0usize..3, 0u8..=10), 1..=3),
        any::<bool>(),
    )
        .prop_map(|(by, arms, hundredths)| SplitP {
            by,
            arms,
            hundredths,
        })
}

fn serve() -> impl Strategy<Value = ServeP> + Clone {
    prop_oneof![
        3 => (0usize..3).prop_map(ServeP::Var),
        2 => split().prop_map(ServeP::Split),
    ]
}

fn rule() -> impl Strategy<Value = RuleP> + Clone {
    (option::of(0..RULE_NAMES.len()), cond(), serve()).prop_map(|(name, cond, serve)| RuleP {
        name,
        cond,
        serve,
    })
}

fn kind() -> impl Strategy<Value = KindP> + Clone {
    prop_oneof![
        3 => option::of(any::<bool>()).prop_map(KindP::BoolImplicit),
        1 => Just(KindP::BoolExplicit),
        2 => (1usize..=3).prop_map(KindP::Str),
        2 => (1usize..=3).prop_map(KindP::Num),
        1 => (1usize..=3).prop_map(KindP::Obj),
        1 => (1usize..=3).prop_map(KindP::Arr),
    ]
}

fn flag() -> impl Strategy<Value = FlagP> + Clone {
    (
        (
            kind(),
            0usize..3,
            prop_oneof![
                4 => Just(None),
                1 => Just(Some(true)),
                1 => Just(Some(false)),
            ],
            option::of(0usize..3),
            option::weighted(0.3, 0..SALTS.len()),
        ),
        (
            vec((0usize..3, vec(0..KEYS.len(), 0..=3)), 0..=2),
            vec(rule(), 0..=4),
            option::weighted(0.4, split()),
            vec(any::<u8>(), 8),
            any::<u8>(),
            any::<u8>(),
        ),
    )
        .prop_map(
            |(
                (kind, default, enabled, when_disabled, salt),
                (targets, rules, rollout, positions, dep_pos, text_pos),
            )| FlagP {
                kind,
                default,
                enabled,
                when_disabled,
                salt,
                targets,
                rules,
                rollout,
                positions,
                dep_pos,
                text_pos,
            },
        )
}

fn segment() -> impl Strategy<Value = SegP> + Clone {
    let item = prop_oneof![
        2 => vec(0..KEYS.len(), 0..=3).prop_map(SegItemP::Include),
        1 => vec(0..KEYS.len(), 0..=3).prop_map(SegItemP::Exclude),
        3 => cond().prop_map(SegItemP::Match),
    ];
    (vec(item, 0..=4), any::<u8>(), any::<u8>()).prop_map(|(items, dep_pos, text_pos)| SegP {
        items,
        dep_pos,
        text_pos,
    })
}

fn file() -> impl Strategy<Value = FileP> {
    (vec(segment(), 1..=4), vec(flag(), 1..=6)).prop_map(|(segs, flags)| FileP { segs, flags })
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

impl KindP {
    fn variations(&self) -> Vec<(&'static str, &'static str)> {
        const NAMES: &[&str] = &["a", "b-2", "c_3"];
        let typed = |n: usize, values: &'static [&'static str]| {
            (0..n).map(|i| (NAMES[i], values[i])).collect::<Vec<_>>()
        };
        match *self {
            KindP::BoolImplicit(_) | KindP::BoolExplicit => vec![("on", "true"), ("off", "false")],
            KindP::Str(n) => typed(n, STR_VARIATIONS),
            KindP::Num(n) => typed(n, NUM_VARIATIONS),
            KindP::Obj(n) => typed(n, OBJ_VARIATIONS),
            KindP::Arr(n) => typed(n, ARR_VARIATIONS),
        }
    }
}

/// What earlier items (in dependency order) a condition may reference.
#[derive(Default)]
struct Env {
    /// Segment index and its reference depth.
    segs: Vec<(usize, usize)>,
    /// Flag index, variation names and reference depth.
    flags: Vec<(usize, Vec<&'static str>, usize)>,
}

impl Env {
    fn render_atom(&self, atom: &AtomP, depth: &mut usize) -> String {
        let fallback = |i: usize| format!("{} exists", ATTRS[i % ATTRS.len()]);
        match atom {
            AtomP::Exists(a) => format!("{} exists", ATTRS[*a]),
            AtomP::Cmp(a, op) => format!("{} {op}", ATTRS[*a]),
            AtomP::Segment(i) => {
                let ok: Vec<_> = self
                    .segs
                    .iter()
                    .filter(|(_, d)| *d < MAX_REF_DEPTH)
                    .collect();
                if ok.is_empty() {
                    return fallback(*i);
                }
                let (s, d) = ok[i % ok.len()];
                *depth = (*depth).max(d + 1);
                format!("segment s{s}")
            }
            AtomP::Prereq(i, v) => {
                let ok: Vec<_> = self
                    .flags
                    .iter()
                    .filter(|(_, _, d)| *d < MAX_REF_DEPTH)
                    .collect();
                if ok.is_empty() {
                    return fallback(*i);
                }
                let (f, vars, d) = ok[i % ok.len()];
                *depth = (*depth).max(d + 1);
                format!("flag f{f} is {}", vars[v % vars.len()])
            }
        }
    }

    /// Renders a condition; `compound` children are parenthesised where the
    /// grammar needs it.
    fn render_cond(&self, cond: &CondP, depth: &mut usize) -> String {
        match cond {
            CondP::Atom(a) => self.render_atom(a, depth),
            CondP::Paren(c) => format!("({})", self.render_cond(c, depth)),
            CondP::Not(c) => {
                let inner = self.render_cond(c, depth);
                match **c {
                    CondP::And(_) | CondP::Or(_) => format!("not ({inner})"),
                    _ => format!("not {inner}"),
                }
            }
            CondP::And(cs) => cs
                .iter()
                .map(|c| {
                    let inner = self.render_cond(c, depth);
                    match c {
                        CondP::Or(_) => format!("({inner})"),
                        _ => inner,
                    }
                })
                .collect::<Vec<_>>()
                .join(" and "),
            CondP::Or(cs) => cs
                .iter()
                .map(|c| self.render_cond(c, depth))
                .collect::<Vec<_>>()
                .join(" or "),
        }
    }
}

fn render_keys(keys: &[usize]) -> String {
    let keys: Vec<String> = keys.iter().map(|&k| quote(KEYS[k])).collect();
    format!("[{}]", keys.join(", "))
}

fn render_percent(h: u32) -> String {
    match h % 100 {
        0 => format!("{}%", h / 100),
        f if f % 10 == 0 => format!("{}.{}%", h / 100, f / 10),
        f => format!("{}.{f:02}%", h / 100),
    }
}

fn render_split(split: &SplitP, vars: &[&str]) -> String {
    let mut arms: Vec<(usize, u32)> = Vec::new();
    for &(v, w) in &split.arms {
        let v = v % vars.len();
        if !arms.iter().any(|(seen, _)| *seen == v) {
            arms.push((v, u32::from(w)));
        }
    }
    let total: u32 = arms.iter().map(|(_, w)| w).sum();
    if total == 0 {
        arms[0].1 = 1;
    }
    let total: u32 = arms.iter().map(|(_, w)| w).sum();
    let units = if split.hundredths { 10_000 } else { 100 };
    let mut widths: Vec<u32> = arms.iter().map(|(_, w)| w * units / total).collect();
    let rest = units - widths.iter().sum::<u32>();
    let last = widths.len() - 1;
    widths[last] += rest;
    let scale = 10_000 / units;
    let body: Vec<String> = arms
        .iter()
        .zip(&widths)
        .map(|((v, _), w)| format!("{}: {}", vars[*v], render_percent(w * scale)))
        .collect();
    match split.by {
        Some(a) => format!("split by {} {{ {} }}", ATTRS[a], body.join(", ")),
        None => format!("split {{ {} }}", body.join(", ")),
    }
}

fn render_flag(index: usize, flag: &FlagP, env: &Env, depth: &mut usize) -> String {
    let vars = flag.kind.variations();
    let names: Vec<&str> = vars.iter().map(|(n, _)| *n).collect();
    let var = |i: usize| names[i % names.len()];

    // Items other than rules, each placed among the rules.
    let mut others: Vec<String> = Vec::new();
    match flag.kind {
        KindP::BoolImplicit(default) => {
            if let Some(on) = default {
                others.push(format!("default {}", if on { "on" } else { "off" }));
            }
        }
        _ => {
            let body: Vec<String> = vars.iter().map(|(n, v)| format!("{n}: {v}")).collect();
            others.push(format!("variations {{ {} }}", body.join(", ")));
            others.push(format!("default {}", var(flag.default)));
        }
    }
    if let Some(e) = flag.enabled {
        others.push(format!("enabled {e}"));
    }
    if let Some(w) = flag.when_disabled {
        others.push(format!("when_disabled {}", var(w)));
    }
    if let Some(s) = flag.salt {
        others.push(format!("salt {}", quote(SALTS[s])));
    }
    let mut used: Vec<usize> = Vec::new();
    for (v, keys) in &flag.targets {
        let keys: Vec<usize> = keys.iter().copied().filter(|k| !used.contains(k)).collect();
        used.extend(&keys);
        others.push(format!("target {} {}", var(*v), render_keys(&keys)));
    }
    if let Some(r) = &flag.rollout {
        others.push(format!("rollout {}", render_split(r, &names)));
    }

    let rules: Vec<String> = flag
        .rules
        .iter()
        .map(|r| {
            let name = r.name.map(|n| format!("{} ", quote(RULE_NAMES[n])));
            let serve = match &r.serve {
                ServeP::Var(v) => var(*v).to_string(),
                ServeP::Split(s) => render_split(s, &names),
            };
            format!(
                "rule {}if {} => {serve}",
                name.unwrap_or_default(),
                env.render_cond(&r.cond, depth)
            )
        })
        .collect();

    // Slot i (0..=rules.len()) holds the non-rule items placed before rule i.
    let mut slots: Vec<Vec<String>> = vec![Vec::new(); rules.len() + 1];
    for (i, item) in others.into_iter().enumerate() {
        let at = usize::from(flag.positions[i % flag.positions.len()]) % slots.len();
        slots[at].push(item);
    }
    let mut out = format!("# flag {index}\nflag f{index} {{\n");
    for (i, slot) in slots.iter().enumerate() {
        for item in slot {
            out.push_str(&format!("  {item}\n"));
        }
        if let Some(rule) = rules.get(i) {
            out.push_str(&format!("  {rule}\n"));
        }
    }
    out.push_str("}\n");
    out
}

fn render_segment(index: usize, seg: &SegP, env: &Env, depth: &mut usize) -> String {
    let mut out = format!("segment s{index} {{");
    for item in &seg.items {
        out.push_str("\n  ");
        match item {
            SegItemP::Include(keys) => out.push_str(&format!("include {}", render_keys(keys))),
            SegItemP::Exclude(keys) => out.push_str(&format!("exclude {}", render_keys(keys))),
            SegItemP::Match(c) => out.push_str(&format!("match {}", env.render_cond(c, depth))),
        }
    }
    out.push_str("\n}\n");
    out
}

fn render_file(file: &FileP) -> String {
    // (dep_pos, text_pos, is_flag, index)
    let mut items: Vec<(u8, u8, bool, usize)> = Vec::new();
    for (i, s) in file.segs.iter().enumerate() {
        items.push((s.dep_pos, s.text_pos, false, i));
    }
    for (i, f) in file.flags.iter().enumerate() {
        items.push((f.dep_pos, f.text_pos, true, i));
    }
    items.sort_by_key(|&(dep, _, is_flag, i)| (dep, is_flag, i));
    let mut env = Env::default();
    let mut texts: Vec<((u8, bool, usize), String)> = Vec::new();
    for (_, text_pos, is_flag, i) in items {
        let mut depth = 1;
        if is_flag {
            let f = &file.flags[i];
            let text = render_flag(i, f, &env, &mut depth);
            let names = f.kind.variations().iter().map(|(n, _)| *n).collect();
            env.flags.push((i, names, depth));
            texts.push(((text_pos, is_flag, i), text));
        } else {
            let text = render_segment(i, &file.segs[i], &env, &mut depth);
            env.segs.push((i, depth));
            texts.push(((text_pos, is_flag, i), text));
        }
    }
    texts.sort_by_key(|(k, _)| *k);
    texts
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n")
}

fn source() -> impl Strategy<Value = String> {
    file().prop_map(|f| render_file(&f))
}

// ---------------------------------------------------------------------------
// Contexts
// ---------------------------------------------------------------------------

fn num_value() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        3 => proptest::sample::select(NUM_VALS)
            .prop_map(|n| Value::Number(Number::from_f64(n).expect("finite"))),
        2 => (-20i64..=20).prop_map(|n| json!(n)),
        1 => (-50.0f64..50.0).prop_map(|n| json!(n)),
        1 => Just(json!(1704067200000i64)),
    ]
}

fn str_value() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        4 => pick(STRS),
        2 => pick(VERSION_VALS),
        2 => pick(DATE_VALS),
        1 => pick(KEYS),
    ]
    .prop_map(|s| Value::String(s.to_string()))
}

fn attr_value() -> impl Strategy<Value = Value> + Clone {
    let element = prop_oneof![
        4 => str_value(),
        3 => num_value(),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        1 => Just(json!({"x": 1})),
        1 => Just(json!([1])),
    ];
    prop_oneof![
        5 => str_value(),
        4 => num_value(),
        2 => any::<bool>().prop_map(Value::Bool),
        1 => Just(json!([])),
        2 => vec(str_value(), 1..=3).prop_map(Value::Array),
        1 => vec(num_value(), 1..=3).prop_map(Value::Array),
        2 => vec(element, 1..=4).prop_map(Value::Array),
        1 => Just(json!({"plan": "pro"})),
        1 => Just(Value::Null),
    ]
}

/// A value of the type conditions on `name` usually expect (or anything).
fn typed_value(name: &'static str) -> BoxedStrategy<Value> {
    let typed: BoxedStrategy<Value> = match name {
        "plan" | "country" | "email" | "org.plan" => pick(STRS)
            .prop_map(|s| Value::String(s.to_string()))
            .boxed(),
        "age" | "score" | "org_id" => num_value().boxed(),
        "app_version" => pick(VERSION_VALS)
            .prop_map(|s| Value::String(s.to_string()))
            .boxed(),
        "signup" => prop_oneof![
            3 => pick(DATE_VALS).prop_map(|s| Value::String(s.to_string())),
            1 => proptest::sample::select(&[
                1704067200000.0f64, 1704067199999.5, 1686825000000.0, 1704067200500.0, 0.0, -1.0,
            ][..])
            .prop_map(|n| Value::Number(Number::from_f64(n).expect("finite"))),
        ]
        .boxed(),
        "tags" => vec(prop_oneof![3 => str_value(), 1 => num_value()], 0..=3)
            .prop_map(Value::Array)
            .boxed(),
        "beta" => any::<bool>().prop_map(Value::Bool).boxed(),
        _ => attr_value().boxed(),
    };
    prop_oneof![3 => typed, 1 => attr_value()].boxed()
}

fn context() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        6 => pick(KEYS).prop_map(|k| Some(Value::String(k.to_string()))),
        1 => Just(Some(Value::Null)),
        1 => Just(None),
        1 => pick(&["u-1", "", "zed"]).prop_map(|k| Some(Value::String(k.to_string()))),
    ];
    let values: Vec<_> = ATTRS
        .iter()
        .map(|a| option::weighted(0.6, typed_value(a)))
        .collect();
    (key, values).prop_map(|(key, values)| {
        let mut obj = Map::new();
        if let Some(k) = key {
            obj.insert("key".to_string(), k);
        }
        for (name, value) in ATTRS.iter().zip(values) {
            if *name == "key" {
                continue;
            }
            if let Some(v) = value {
                obj.insert(name.to_string(), v);
            }
        }
        Value::Object(obj)
    })
}

// ---------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------

fn sources(text: &str) -> Vec<Source> {
    vec![Source {
        name: "gen.flags".to_string(),
        text: text.to_string(),
    }]
}

fn checked(text: &str) -> Result<Program, String> {
    let srcs = sources(text);
    check::check(&srcs, &Limits::default()).map_err(|diags| {
        format!(
            "generated file does not check:\n{}\n--- source ---\n{text}",
            check::render(&diags, &srcs)
        )
    })
}

fn compare(
    text: &str,
    program: &Program,
    ruleset: &Ruleset,
    ctx_json: &Value,
) -> Result<(), String> {
    let ctx = Context::from_json(ctx_json).map_err(|e| format!("bad context {ctx_json}: {e}"))?;
    let prepared = ruleset.prepare(&ctx);
    let mut keys: Vec<&str> = program.flag_keys().collect();
    keys.push("no-such-flag");
    let mismatch = |key: &str, want: &Detail<'_>, got: &Detail<'_>, how: &str| {
        format!(
            "evaluators disagree on flag `{key}` ({how})\n--- source ---\n{text}\n--- context ---\n{ctx_json}\n--- interp ---\n{want:#?}\n--- compiled ---\n{got:#?}"
        )
    };
    for key in keys {
        let want = interp::evaluate(program, key, &ctx);
        let got = prepared.detail(key);
        if want != got {
            return Err(mismatch(key, &want, &got, "Prepared::detail"));
        }
    }
    let mut seen = 0;
    for (key, got) in prepared.all() {
        seen += 1;
        let want = interp::evaluate(program, key, &ctx);
        if want != got {
            return Err(mismatch(key, &want, &got, "Prepared::all"));
        }
    }
    if seen != program.flag_count() {
        return Err(format!(
            "Prepared::all yields {seen} flags, the program has {}\n--- source ---\n{text}",
            program.flag_count()
        ));
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// The generator only writes files that parse (needs no checker).
    #[test]
    fn generator_output_parses(text in source()) {
        if let Err(errors) = vexil::syntax::parse(&text) {
            let shown: Vec<String> = errors
                .iter()
                .map(|e| format!("{}..{}: {} (at {:?})", e.span.start, e.span.end, e.message,
                    text.get(e.span.start as usize..e.span.end as usize)))
                .collect();
            prop_assert!(false, "generated file does not parse:\n{}\n--- source ---\n{}", shown.join("\n"), text);
        }
    }

    /// The generator's contexts are valid contexts.
    #[test]
    fn generator_contexts_are_valid(ctx in context()) {
        prop_assert!(Context::from_json(&ctx).is_ok(), "{}", ctx);
    }

    /// The compiled evaluator agrees with the reference interpreter.
    #[test]
    fn compiled_agrees_with_interpreter(
        text in source(),
        contexts in vec(context(), 1..=8),
    ) {
        let program = checked(&text).map_err(TestCaseError::fail)?;
        let ruleset = compile::compile(&program).expect("a checked program links");
        for ctx in &contexts {
            compare(&text, &program, &ruleset, ctx).map_err(TestCaseError::fail)?;
        }
    }
}

/// Comments dropped into a generated file at spaces between tokens (never
/// inside a string): an own-line comment (`own`) or one that ends the line.
fn with_comments(text: &str, spots: &[(u16, bool)]) -> String {
    let mut gaps = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut in_comment = false;
    for (i, c) in text.char_indices() {
        if in_comment {
            in_comment = c != '\n';
            continue;
        }
        match (in_string, escaped, c) {
            (false, _, '#') => in_comment = true,
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (false, _, '"') => in_string = true,
            (false, _, ' ' | '\n') => gaps.push(i),
            _ => {}
        }
    }
    if gaps.is_empty() {
        return text.to_string();
    }
    let mut at: Vec<(usize, bool)> = spots
        .iter()
        .map(|&(n, own)| (gaps[usize::from(n) % gaps.len()], own))
        .collect();
    at.sort_unstable();
    at.dedup_by_key(|(i, _)| *i);
    let mut out = String::with_capacity(text.len() + 24 * at.len());
    let mut from = 0;
    for (i, own) in at {
        out.push_str(&text[from..i]);
        if own {
            out.push_str("\n  # a note on its own line\n");
        } else {
            out.push_str(" # a note at the end of a line\n");
        }
        from = i;
    }
    out.push_str(&text[from..]);
    out
}

fn snapshot_bytes(text: &str) -> Result<Vec<u8>, String> {
    let program = checked(text)?;
    let ruleset = compile::compile(&program).map_err(|e| e.to_string())?;
    let meta = vexil::snapshot::SnapshotMeta {
        version: 3,
        environment: "gen".into(),
    };
    Ok(vexil::snapshot::to_bytes(&ruleset, &meta))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases() / 10, ..ProptestConfig::default() })]

    /// `vexil fmt` keeps the meaning byte for byte and is idempotent, with
    /// comments anywhere a line ends.
    #[test]
    fn formatted_file_compiles_to_the_same_snapshot(
        text in source(),
        spots in vec((any::<u16>(), any::<bool>()), 0..10),
    ) {
        let text = with_comments(&text, &spots);
        let formatted = vexil::tools::fmt::format(&text)
            .map_err(|e| TestCaseError::fail(format!("{e:?}\n--- source ---\n{text}")))?;
        let again = vexil::tools::fmt::format(&formatted)
            .map_err(|e| TestCaseError::fail(format!("{e:?}\n--- formatted ---\n{formatted}")))?;
        prop_assert_eq!(&again, &formatted, "not idempotent\n--- source ---\n{}", text);
        let want = snapshot_bytes(&text).map_err(TestCaseError::fail)?;
        let got = snapshot_bytes(&formatted).map_err(TestCaseError::fail)?;
        prop_assert!(want == got, "snapshots differ\n--- source ---\n{}\n--- formatted ---\n{}", text, formatted);
        prop_assert_eq!(
            text.matches('#').count(),
            formatted.matches('#').count(),
            "comments lost\n--- formatted ---\n{}", formatted
        );
    }

    /// `vexil explain` ends with the interpreter's answer, for every flag.
    #[test]
    fn explain_agrees_with_the_interpreter(
        text in source(),
        contexts in vec(context(), 1..=4),
    ) {
        let program = checked(&text).map_err(TestCaseError::fail)?;
        let ruleset = compile::compile(&program).expect("a checked program links");
        for ctx_json in &contexts {
            let ctx = Context::from_json(ctx_json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for key in program.flag_keys() {
                let want = interp::evaluate(&program, key, &ctx);
                for e in [
                    vexil::tools::explain::explain(&program, key, &ctx),
                    vexil::tools::explain::explain_compiled(&ruleset, key, &ctx),
                ] {
                    prop_assert_eq!(e.value.as_ref(), want.value, "{}\n{}\n{}", key, ctx_json, text);
                    prop_assert_eq!(e.variation.as_deref(), want.variation);
                    prop_assert_eq!(e.reason, want.reason.as_str());
                    prop_assert_eq!(e.rule.clone(), want.matched.map(|m| m.to_string()));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Fixed files with known answers, checked against both evaluators
// ---------------------------------------------------------------------------

const EXAMPLE: &str = concat!(
    include_str!("../corpus/spec/example.flags"),
    r#"
flag killed {
  variations { a: "x", b: "y" }
  default a
  enabled false
  when_disabled b
  target a ["alice"]
}

flag killed-default {
  enabled false
  default on
}

flag salted {
  salt "exp-7"
  rollout split { on: 10%, off: 90% }
}
"#
);

struct Fixed {
    program: Program,
    ruleset: Ruleset,
}

fn fixed(text: &str) -> Fixed {
    let program = checked(text).unwrap_or_else(|e| panic!("{e}"));
    let ruleset = compile::compile(&program).expect("a checked program links");
    Fixed { program, ruleset }
}

impl Fixed {
    /// Evaluates with both evaluators, asserts they agree, and hands back
    /// `(value, variation, reason, rule text, error)`.
    fn eval(
        &self,
        key: &str,
        ctx: &Value,
    ) -> (
        Option<Value>,
        Option<String>,
        Reason,
        Option<String>,
        Option<ErrorCode>,
    ) {
        let c = Context::from_json(ctx).expect("valid context");
        let want = interp::evaluate(&self.program, key, &c);
        let got = self.ruleset.prepare(&c).detail(key);
        assert_eq!(
            want, got,
            "flag {key}, context {ctx}: interp vs compiled disagree"
        );
        (
            want.value.cloned(),
            want.variation.map(str::to_string),
            want.reason,
            want.matched.map(|m| m.to_string()),
            want.error,
        )
    }
}

fn bucket(salt: &str, value: &str) -> u64 {
    twox_hash::XxHash3_64::oneshot(format!("{salt}:{value}").as_bytes()) % 10_000
}

#[test]
fn example_target_match() {
    let f = fixed(EXAMPLE);
    let (value, variation, reason, rule, error) =
        f.eval("new-checkout", &json!({"key": "alice", "plan": "free"}));
    assert_eq!(value, Some(json!(true)));
    assert_eq!(variation.as_deref(), Some("on"));
    assert_eq!(reason, Reason::TargetingMatch);
    assert_eq!(rule.as_deref(), Some("target"));
    assert_eq!(error, None);
}

#[test]
fn example_segment_include_and_match() {
    let f = fixed(EXAMPLE);
    for ctx in [
        json!({"key": "u-1"}),
        json!({"key": "zed", "plan": "enterprise", "country": "FR"}),
        json!({"plan": "enterprise", "country": ["US", "DE"]}),
    ] {
        let (value, variation, reason, rule, _) = f.eval("new-checkout", &ctx);
        assert_eq!(value, Some(json!(true)), "{ctx}");
        assert_eq!(variation.as_deref(), Some("on"), "{ctx}");
        assert_eq!(reason, Reason::TargetingMatch, "{ctx}");
        assert_eq!(rule.as_deref(), Some("beta users"), "{ctx}");
    }
    // Right plan, wrong country: not in the segment; no org_id → default.
    let (_, variation, reason, rule, _) = f.eval(
        "new-checkout",
        &json!({"key": "zed", "plan": "enterprise", "country": "US"}),
    );
    assert_eq!(variation.as_deref(), Some("off"));
    assert_eq!(reason, Reason::Default);
    assert_eq!(rule, None);
}

#[test]
fn example_rule_index_matched_and_split() {
    let f = fixed(EXAMPLE);
    // The second rule splits by key with the flag key as salt.
    for i in 0..50 {
        let key = format!("dev-{i}");
        let (_, variation, reason, rule, _) = f.eval(
            "new-checkout",
            &json!({"key": key, "platform": "ios", "app_version": "2.3.1"}),
        );
        let expect = if bucket("new-checkout", &key) < 1000 {
            "on"
        } else {
            "off"
        };
        assert_eq!(variation.as_deref(), Some(expect), "key {key}");
        assert_eq!(reason, Reason::Split);
        assert_eq!(rule.as_deref(), Some("ios 10%"));
    }
    // The rollout splits by org_id; integral numbers bucket as integers.
    for org in 0..50i64 {
        let (_, variation, reason, rule, _) =
            f.eval("new-checkout", &json!({"key": "zed", "org_id": org as f64}));
        let expect = if bucket("new-checkout", &org.to_string()) < 500 {
            "on"
        } else {
            "off"
        };
        assert_eq!(variation.as_deref(), Some(expect), "org {org}");
        assert_eq!(reason, Reason::Split);
        assert_eq!(rule.as_deref(), Some("rollout"));
    }
    // A fractional org_id cannot bucket: the rollout does not match.
    let (_, variation, reason, _, _) =
        f.eval("new-checkout", &json!({"key": "zed", "org_id": 1.5}));
    assert_eq!(variation.as_deref(), Some("off"));
    assert_eq!(reason, Reason::Default);
}

#[test]
fn example_disabled() {
    let f = fixed(EXAMPLE);
    // Disabled wins over a target.
    let (value, variation, reason, rule, error) = f.eval("killed", &json!({"key": "alice"}));
    assert_eq!(value, Some(json!("y")));
    assert_eq!(variation.as_deref(), Some("b"));
    assert_eq!(reason, Reason::Disabled);
    assert_eq!(rule, None);
    assert_eq!(error, None);
    // Without when_disabled: the default variation.
    let (value, variation, reason, _, _) = f.eval("killed-default", &json!({"key": "u0"}));
    assert_eq!(value, Some(json!(true)));
    assert_eq!(variation.as_deref(), Some("on"));
    assert_eq!(reason, Reason::Disabled);
}

#[test]
fn example_unknown_flag() {
    let f = fixed(EXAMPLE);
    let (value, variation, reason, rule, error) = f.eval("nope", &json!({"key": "alice"}));
    assert_eq!(value, None);
    assert_eq!(variation, None);
    assert_eq!(reason, Reason::Error);
    assert_eq!(rule, None);
    assert_eq!(error, Some(ErrorCode::FlagNotFound));
}

#[test]
fn salted_rollout_buckets_match_xxh3() {
    let f = fixed(EXAMPLE);
    let mut on = 0;
    for i in 0..200 {
        let key = format!("user-{i}");
        let (value, variation, reason, rule, _) = f.eval("salted", &json!({"key": key}));
        let b = bucket("exp-7", &key);
        let expect = if b < 1000 { "on" } else { "off" };
        assert_eq!(variation.as_deref(), Some(expect), "key {key}, bucket {b}");
        assert_eq!(value, Some(json!(expect == "on")));
        assert_eq!(reason, Reason::Split);
        assert_eq!(rule.as_deref(), Some("rollout"));
        on += usize::from(expect == "on");
    }
    // Sanity: the test is not vacuous.
    assert!(on > 0 && on < 200, "{on} of 200 on");
    // No key: the rollout cannot bucket; the default is served.
    let (_, variation, reason, _, _) = f.eval("salted", &json!({"plan": "pro"}));
    assert_eq!(variation.as_deref(), Some("off"));
    assert_eq!(reason, Reason::Default);
}

#[test]
fn rule_without_name_is_numbered() {
    let f = fixed(
        r#"flag g { variations { a: 1, b: 2 } default a
             rule "first" if plan == "x" => b
             rule if plan == "pro" => b }"#,
    );
    let (_, variation, reason, rule, _) = f.eval("g", &json!({"key": "u0", "plan": "pro"}));
    assert_eq!(variation.as_deref(), Some("b"));
    assert_eq!(reason, Reason::TargetingMatch);
    assert_eq!(rule.as_deref(), Some("rule#1"));
    let c = Context::from_json(&json!({"plan": "pro"})).expect("valid");
    let d = interp::evaluate(&f.program, "g", &c);
    assert_eq!(
        d.matched,
        Some(Matched::Rule {
            index: 1,
            name: None
        })
    );
}

/// The generator exercises every way a flag can decide: each reason, and
/// targets, rules and rollouts, each in at least 2% of evaluations (the
/// tally is printed with `--nocapture`).
#[test]
fn generator_covers_every_reason() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeMap;
    let mut runner = TestRunner::deterministic();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..500 {
        let text = source().new_tree(&mut runner).expect("tree").current();
        let program = checked(&text).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..4 {
            let ctx = context().new_tree(&mut runner).expect("tree").current();
            let ctx = Context::from_json(&ctx).expect("valid");
            for key in program.flag_keys() {
                let d = interp::evaluate(&program, key, &ctx);
                let what = match d.matched {
                    Some(Matched::Rule { index, .. }) => format!("{} rule {index}", d.reason),
                    Some(m) => format!("{} {m}", d.reason),
                    None => d.reason.to_string(),
                };
                *tally.entry(what).or_default() += 1;
            }
        }
    }
    let total: usize = tally.values().sum();
    let share = |prefix: &str| -> usize {
        tally
            .iter()
            .filter(|(w, _)| w.starts_with(prefix))
            .map(|(_, n)| n)
            .sum::<usize>()
            * 100
            / total
    };
    for (what, n) in &tally {
        println!("{n:8} {what}");
    }
    for prefix in [
        "DEFAULT",
        "DISABLED",
        "SPLIT rollout",
        "SPLIT rule",
        "TARGETING_MATCH target",
        "TARGETING_MATCH rule",
    ] {
        assert!(
            share(prefix) >= 2,
            "{prefix} is {}% of {total} evaluations",
            share(prefix)
        );
    }
}

/// The evaluator lowers conditions by size: target lists of up to 16 keys
/// and `in` lists of up to 16 items are compared as texts, longer ones
/// through the interned tables; strings up to 8 bytes compare as one word.
/// Both sides of each boundary agree with the interpreter.
#[test]
fn lowering_boundaries_agree_with_the_interpreter() {
    let keys = |n: usize| {
        (0..n)
            .map(|i| format!("\"user-{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Half the items share their first eight bytes and length.
    let item = |i: usize| {
        if i % 2 == 0 {
            format!("category-{i:02}")
        } else {
            format!("c{i:02}-{}", "x".repeat(i % 12))
        }
    };
    let items = |n: usize| {
        (0..n)
            .map(|i| format!("\"{}\"", item(i)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        r#"
flag t16 {{ target on [{k16}] default off }}
flag t17 {{ target on [{k17}] default off }}
flag split-targets {{
  target on [{k8}]
  target off ["user-9", "user-10"]
  default off
}}
flag in16 {{ rule "r" if c in [{i16}] => on  default off }}
flag in17 {{ rule "r" if c in [{i17}] => on  default off }}
flag notin17 {{ rule "r" if c not in [{i17}] => on  default off }}
flag eq {{
  rule "short" if c == "abc" => on
  rule "eight" if c == "abcdefgh" => on
  rule "long" if c == "abcdefgh-tail" => on
  default off
}}
flag words {{
  rule "pre" if c starts_with "abcdefgh-" => on
  rule "suf" if c ends_with "-tail" => on
  rule "sub" if c contains "def" => on
  default off
}}
flag tags {{
  rule "elem" if tags contains "vip-internal" => on
  rule "in" if tags in ["a", "abcdefgh-tail"] => on
  default off
}}
"#,
        k16 = keys(16),
        k17 = keys(17),
        k8 = keys(8),
        i16 = items(16),
        i17 = items(17),
    );
    let f = fixed(&text);
    let mut values: Vec<String> = (0..18).map(item).collect();
    values.extend(
        [
            "",
            "a",
            "ab",
            "abc",
            "abd",
            "abcd",
            "abcdefg",
            "abcdefgh",
            "abcdefgi",
            "abcdefgh-",
            "abcdefgh-tail",
            "abcdefgh-tall",
            "abcdefgh-tai1",
            "abcdefgh-tailx",
            "xabcdefgh-tail",
            "c00",
            "c01-x",
            "category-99",
            "category-0",
            "category-001",
        ]
        .map(String::from),
    );
    let flags = [
        "t16",
        "t17",
        "split-targets",
        "in16",
        "in17",
        "notin17",
        "eq",
        "words",
        "tags",
    ];
    let mut matched = 0;
    for (i, value) in values.iter().enumerate() {
        for key in [format!("user-{i}"), format!("user-{}", i + 100)] {
            let ctx = json!({
                "key": key,
                "c": value,
                "tags": [value, "a-tag", if i % 3 == 0 { "vip-internal" } else { "x" }],
            });
            for flag in flags {
                // `eval` asserts agreement.
                if f.eval(flag, &ctx).2 == Reason::TargetingMatch {
                    matched += 1;
                }
            }
        }
    }
    // The contexts reach both answers of every flag, not only defaults.
    assert!(matched > 100, "only {matched} targeting matches");
    for flag in flags {
        let hit = values.iter().enumerate().any(|(i, v)| {
            let ctx = json!({"key": format!("user-{i}"), "c": v, "tags": [v, "vip-internal"]});
            f.eval(flag, &ctx).2 == Reason::TargetingMatch
        });
        assert!(hit, "{flag} never matched");
    }
    // Short target lists rule a key out by its length first; lengths of 63
    // bytes and more share one bit, so keys of 65 and 70 bytes must still be
    // compared in full against the 64-byte one.
    let long = |n: usize| format!("{}{}", "k".repeat(n - 3), n % 1000 + 100);
    let listed = [5usize, 62, 63, 64];
    let list = listed
        .iter()
        .map(|&n| format!("\"{}\"", long(n)))
        .collect::<Vec<_>>()
        .join(", ");
    let f = fixed(&format!(
        "flag lengths {{ target on [{list}] default off }}"
    ));
    let mut hits = 0;
    for n in [4usize, 5, 6, 61, 62, 63, 64, 65, 70] {
        for key in [long(n), "x".repeat(n)] {
            let reason = f.eval("lengths", &json!({ "key": key })).2;
            hits += usize::from(reason == Reason::TargetingMatch);
        }
    }
    assert_eq!(hits, listed.len());
}
