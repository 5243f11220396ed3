//! Deterministic workloads shared by the benchmarks: rule sources and
//! contexts. Every generator is seeded, so two runs (and two machines)
//! measure exactly the same rules and contexts.
//!
//! Included by each bench with `#[path = "data.rs"] mod data;`; not every
//! bench uses every generator.
#![allow(dead_code)]

use std::fmt::Write as _;

use vexil::check::Source;
use vexil::compile::{compile_sources, CompileOptions, Ruleset};
use vexil::context::Context;

/// A tiny xorshift64* generator: deterministic, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

pub const COUNTRIES: &[&str] = &[
    "US", "DE", "FR", "GB", "IT", "ES", "NL", "SE", "PL", "BR", "IN", "JP", "CA", "AU", "MX", "KR",
    "CH", "AT", "BE", "DK",
];
pub const PLANS: &[&str] = &["free", "pro", "team", "enterprise", "enterprise-plus"];
pub const PLATFORMS: &[&str] = &["ios", "android", "web", "desktop"];
pub const DOMAINS: &[&str] = &[
    "@acme.io",
    "@example.com",
    "@gmail.com",
    "@corp.net",
    "@edu.org",
];
pub const VERSIONS: &[&str] = &[
    "1.9.3",
    "2.0.0",
    "2.2.9",
    "2.3.0",
    "2.4.1",
    "3.0.0-beta.2",
    "v3.1",
];
pub const NAMES: &[&str] = &[
    "Carol", "dave", "Erin", "frank", "Grace", "heidi", "Ivan", "judy",
];

/// Compiles one source text (panics with the diagnostics when it does not compile).
pub fn compile(name: &str, text: String) -> Ruleset {
    let sources = [Source {
        name: name.into(),
        text,
    }];
    match compile_sources(&sources, &CompileOptions::default()) {
        Ok(ruleset) => ruleset,
        Err(diagnostics) => {
            let mut shown = String::new();
            for d in diagnostics.iter().take(10) {
                let _ = writeln!(shown, "{:?}", d);
            }
            panic!(
                "{name} does not compile ({} errors):\n{shown}",
                diagnostics.len()
            );
        }
    }
}

pub fn sources(name: &str, text: &str) -> Vec<Source> {
    vec![Source {
        name: name.into(),
        text: text.into(),
    }]
}

// ---------------------------------------------------------------------------
// The typical flag: ten rules, one of each kind of atom (the flag of tests/alloc.rs).

pub const TYPICAL_KEY: &str = "typical";

pub const TYPICAL: &str = include_str!("../../corpus/bench/typical.flags");

/// One realistic context: a key, a handful of attributes, some missing.
pub fn context_json(rng: &mut Rng, i: usize) -> String {
    let mut s = String::with_capacity(256);
    let key = match rng.below(50) {
        0 => "alice".to_string(),
        1 => format!("u-{}", rng.below(300)),
        _ => format!("user-{i:06}"),
    };
    let _ = write!(s, r#"{{"key":"{key}""#);
    if rng.chance(90) {
        let _ = write!(s, r#","country":"{}""#, rng.pick(COUNTRIES));
    }
    if rng.chance(90) {
        let _ = write!(s, r#","plan":"{}""#, rng.pick(PLANS));
    }
    if rng.chance(70) {
        let _ = write!(s, r#","email":"u{}{}""#, i, rng.pick(DOMAINS));
    }
    if rng.chance(80) {
        let _ = write!(s, r#","app_version":"{}""#, rng.pick(VERSIONS));
    }
    if rng.chance(85) {
        let _ = write!(s, r#","platform":"{}""#, rng.pick(PLATFORMS));
    }
    if rng.chance(60) {
        let _ = write!(s, r#","age":{}"#, 16 + rng.below(60));
    }
    if rng.chance(50) {
        let tags: Vec<String> = (0..rng.below(4))
            .map(|_| {
                format!(
                    "\"{}\"",
                    rng.pick(&["vip", "beta", "staff", "new", "churn-risk"])
                )
            })
            .collect();
        let _ = write!(s, r#","tags":[{}]"#, tags.join(","));
    }
    if rng.chance(50) {
        if rng.chance(50) {
            let _ = write!(
                s,
                r#","signup":"{}-0{}-1{}T08:30:00Z""#,
                2015 + rng.below(10),
                1 + rng.below(9),
                rng.below(10)
            );
        } else {
            let _ = write!(
                s,
                r#","signup":{}"#,
                1_400_000_000_000 + rng.below(300_000_000_000)
            );
        }
    }
    if rng.chance(60) {
        let _ = write!(s, r#","name":"{}""#, rng.pick(NAMES));
    }
    if rng.chance(70) {
        let _ = write!(s, r#","score":{}"#, rng.below(100));
    }
    if rng.chance(80) {
        let _ = write!(
            s,
            r#","org":{},"org_id":"org-{}""#,
            rng.below(5000),
            rng.below(5000)
        );
    }
    if rng.chance(30) {
        let _ = write!(s, r#","beta_opt_in":{}"#, rng.chance(50));
    }
    s.push('}');
    s
}

/// `n` deterministic contexts (≈1000 in the benches, so the evaluated path
/// changes from one call to the next and branch predictors cannot learn one).
pub fn contexts(n: usize, seed: u64) -> Vec<Context> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            Context::from_json_str(&context_json(&mut rng, i)).expect("generated context is valid")
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Many flags: N flags × R rules over a few shared segments.

/// Segments `seg-0 .. seg-{n-1}`, each with an include list and a match.
fn write_segments(out: &mut String, rng: &mut Rng, n: usize, include: usize) {
    for s in 0..n {
        let _ = write!(out, "segment seg-{s} {{\n  include [");
        for k in 0..include {
            if k > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "\"user-{:06}\"", rng.below(1_000_000));
        }
        out.push_str("]\n");
        let _ = writeln!(
            out,
            "  match plan == \"{}\" and country in [\"{}\", \"{}\"]",
            rng.pick(PLANS),
            rng.pick(COUNTRIES),
            rng.pick(COUNTRIES)
        );
        out.push_str("}\n");
    }
}

/// One condition of the many-flags workload: 1–3 atoms of mixed kinds.
fn write_condition(out: &mut String, rng: &mut Rng, segments: usize) {
    let atoms = 1 + rng.below(3);
    for a in 0..atoms {
        if a > 0 {
            out.push_str(if rng.chance(75) { " and " } else { " or " });
        }
        match rng.below(9) {
            0 | 1 => {
                let n = 2 + rng.below(6);
                let list: Vec<String> = (0..n)
                    .map(|_| format!("\"{}\"", rng.pick(COUNTRIES)))
                    .collect();
                let _ = write!(out, "country in [{}]", list.join(", "));
            }
            2 => {
                let _ = write!(out, "plan == \"{}\"", rng.pick(PLANS));
            }
            3 => {
                let _ = write!(out, "platform == \"{}\"", rng.pick(PLATFORMS));
            }
            4 => {
                let op = *rng.pick(&[">=", "<", ">"]);
                let _ = write!(
                    out,
                    "app_version {op} semver(\"{}.{}.0\")",
                    1 + rng.below(3),
                    rng.below(5)
                );
            }
            5 if segments > 0 => {
                let _ = write!(out, "segment seg-{}", rng.below(segments as u64));
            }
            6 => {
                let _ = write!(out, "email ends_with \"{}\"", rng.pick(DOMAINS));
            }
            7 => {
                let op = *rng.pick(&[">", "<", ">=", "<="]);
                let _ = write!(out, "age {op} {}", 18 + rng.below(50));
            }
            _ => {
                let _ = write!(out, "score > {}", rng.below(100));
            }
        }
    }
}

/// `flags` flags of `rules` rules each (plus `segments` segments), as one file.
/// Every third flag is a string flag with three variations; the rest are boolean.
pub fn many_flags(flags: usize, rules: usize, segments: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(flags * rules * 80);
    write_segments(&mut out, &mut rng, segments, 200);
    for f in 0..flags {
        let _ = writeln!(out, "flag flag-{f:04} {{");
        let three = f % 3 == 0;
        let vars: &[&str] = if three {
            out.push_str("  variations { control: \"control\", treatment: \"treatment\", holdout: \"holdout\" }\n  default control\n");
            &["control", "treatment", "holdout"]
        } else {
            out.push_str("  variations { on: true, off: false }\n  default off\n");
            &["on", "off"]
        };
        if rng.chance(30) {
            let _ = writeln!(
                out,
                "  target {} [\"user-{:06}\", \"alice\"]",
                vars[0],
                rng.below(1000)
            );
        }
        for r in 0..rules {
            if rng.chance(50) {
                let _ = write!(out, "  rule \"r{r}\" if ");
            } else {
                out.push_str("  rule if ");
            }
            write_condition(&mut out, &mut rng, segments);
            out.push_str(" => ");
            if rng.chance(20) {
                write_split(&mut out, &mut rng, vars);
            } else {
                out.push_str(rng.pick::<&str>(vars));
            }
            out.push('\n');
        }
        if rng.chance(50) {
            out.push_str("  rollout ");
            write_split(&mut out, &mut rng, vars);
            out.push('\n');
        }
        out.push_str("}\n");
    }
    out
}

/// A split over the variations, percentages adding up to exactly 100%.
fn write_split(out: &mut String, rng: &mut Rng, vars: &[&str]) {
    let by = if rng.chance(30) { "by org_id " } else { "" };
    let first = 1 + rng.below(9_000); // hundredths of a percent
    let _ = write!(out, "split {by}{{ ");
    let mut left = 10_000 - first;
    let _ = write!(out, "{}: {}.{:02}%", vars[0], first / 100, first % 100);
    for (i, v) in vars.iter().enumerate().skip(1) {
        let share = if i + 1 == vars.len() { left } else { left / 2 };
        left -= share;
        let _ = write!(out, ", {v}: {}.{:02}%", share / 100, share % 100);
    }
    out.push_str(" }");
}

// ---------------------------------------------------------------------------
// The worst case: one flag at every complexity cap, with (almost) nothing
// matching, so every atom of every rule is evaluated.

pub const WORST_KEY: &str = "worst";
pub const WORST_RULES: usize = 256;
pub const WORST_ATOMS: usize = 32;

/// Writes one atom of the worst-case flag that does not hold for
/// [`worst_contexts`]. `k` selects the kind.
fn worst_atom(out: &mut String, rng: &mut Rng, rule: usize, k: usize) {
    match k {
        // A long inline list: contexts' `user_group` is never in it.
        0 => {
            let len = [16usize, 256, 1024, 4096][rule % 4];
            let _ = write!(out, "user_group in [");
            for i in 0..len {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "\"grp-{rule}-{i}\"");
            }
            out.push(']');
        }
        1 => {
            let _ = write!(
                out,
                "email matches \"^(admin|root|ops)[0-9]{{2,4}}@(acme|corp)\\\\.(io|net)$\""
            );
        }
        2 => {
            let _ = write!(out, "segment wc-s4");
        }
        3 if rule % 8 == 0 => {
            let _ = write!(out, "flag wc-p3 is on");
        }
        3 => {
            let _ = write!(out, "app_version >= semver(\"9.{}.0\")", rng.below(9));
        }
        4 => {
            let _ = write!(
                out,
                "signup < date(\"2001-0{}-01T00:00:00Z\")",
                1 + rng.below(9)
            );
        }
        5 => {
            let _ = write!(out, "email ends_with \"@never-{rule}.example\"");
        }
        6 => {
            let _ = write!(out, "name starts_with \"Zz{rule}\"");
        }
        7 => {
            let _ = write!(out, "tags contains \"never-{rule}\"");
        }
        8 => {
            let _ = write!(out, "missing_{} exists", rule % 7);
        }
        9 => {
            let _ = write!(
                out,
                "app_version < semver(\"0.{}.{}\")",
                rng.below(9),
                rng.below(9)
            );
        }
        10 => {
            let _ = write!(
                out,
                "country in [\"AQ\", \"BV\", \"HM\", \"{}\"]",
                ["TF", "UM", "GS"][rule % 3]
            );
        }
        11 => {
            let _ = write!(
                out,
                "score in [{}, {}, {}]",
                1000 + rule,
                2000 + rule,
                3000 + rule
            );
        }
        12 => {
            let _ = write!(out, "name matches \"^x{rule}[a-f]+$\"");
        }
        _ => match k % 4 {
            0 => {
                let _ = write!(out, "age > {}", 200 + k);
            }
            1 => {
                let _ = write!(out, "plan == \"tier-{rule}-{k}\"");
            }
            2 => {
                let _ = write!(out, "score < -{k}");
            }
            _ => {
                let _ = write!(out, "platform == \"os-{k}\"");
            }
        },
    }
}

/// The worst-case flag and everything it refers to:
/// - `wc-s1` … `wc-s4`: segments nested four deep, each with an include list
///   and a `match` that does not hold;
/// - `wc-p1` … `wc-p3`: a prerequisite chain (`worst` → p3 → p2 → p1 is
///   depth 4), ten rules each, none matching, so each serves `off`;
/// - `worst`: 256 rules × 32 atoms joined by `or`, a quarter of them with
///   parentheses nested 8 deep; inline lists of 16–4,096 values; regexes;
///   every rule refers to `segment wc-s4`, every eighth to `flag wc-p3 is on`.
pub fn worst_case() -> String {
    let mut rng = Rng::new(0xBAD);
    let mut out = String::with_capacity(4 << 20);
    // Segments nested four deep.
    for s in 1..=4 {
        let _ = write!(out, "segment wc-s{s} {{\n  include [");
        for k in 0..500 {
            if k > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "\"inc-{s}-{k}\"");
        }
        out.push_str("]\n  exclude [\"blocked\"]\n");
        let _ = write!(
            out,
            "  match plan == \"seg-plan-{s}\" and country in [\"AQ\", \"BV\"]"
        );
        if s > 1 {
            let _ = write!(out, " or segment wc-s{}", s - 1);
        }
        let _ = writeln!(out, " or email ends_with \"@seg{s}.invalid\"\n}}");
    }
    // A prerequisite chain.
    for p in 1..=3 {
        let _ = write!(out, "flag wc-p{p} {{\n  default off\n");
        for r in 0..10 {
            let _ = write!(out, "  rule if plan == \"p{p}-{r}\" or age > {} ", 300 + r);
            if p > 1 && r == 9 {
                let _ = write!(out, "or flag wc-p{} is on", p - 1);
            } else {
                let _ = write!(out, "or country == \"X{r}\"");
            }
            out.push_str(" => on\n");
        }
        out.push_str("}\n");
    }
    // The flag itself.
    out.push_str("flag worst {\n  variations { a: \"a\", b: \"b\", c: \"c\" }\n  default c\n");
    let _ = writeln!(out, "  target a [\"t-1\", \"t-2\", \"t-3\"]");
    for rule in 0..WORST_RULES {
        let _ = write!(out, "  rule if ");
        let mut atoms: Vec<String> = (0..WORST_ATOMS)
            .map(|k| {
                let mut a = String::new();
                worst_atom(&mut a, &mut rng, rule, k);
                a
            })
            .collect();
        // Put the expensive kinds at varying positions (still all evaluated).
        let rot = rule % WORST_ATOMS;
        atoms.rotate_left(rot);
        if rule % 4 == 0 {
            // ((((((((a0 or a1) or a2) or a3) … ) or a8) or a9 … a31: depth 8.
            let mut expr = format!("{} or {}", atoms[0], atoms[1]);
            for a in &atoms[2..10] {
                expr = format!("({expr}) or {a}");
            }
            out.push_str(&expr);
            for a in &atoms[10..] {
                out.push_str(" or ");
                out.push_str(a);
            }
        } else if rule % 4 == 1 {
            // not (x and y) where x holds and y does not: evaluates both, still false overall
            // is not what we want; keep `or` chains but wrap pairs in parentheses.
            for (i, pair) in atoms.chunks(2).enumerate() {
                if i > 0 {
                    out.push_str(" or ");
                }
                let _ = write!(out, "({} or {})", pair[0], pair[1]);
            }
        } else {
            out.push_str(&atoms.join(" or "));
        }
        let _ = writeln!(out, " => {}", ["a", "b"][rule % 2]);
    }
    out.push_str("  rollout split { a: 50%, b: 50% }\n}\n");
    out
}

/// Contexts that match none of the worst-case rules (nor the segments,
/// nor the prerequisites), but carry every attribute the rules test, so
/// each atom does its full work (no early "missing attribute" exit).
pub fn worst_contexts(n: usize) -> Vec<Context> {
    let mut rng = Rng::new(0x5EED);
    (0..n)
        .map(|i| {
            let text = format!(
                r#"{{"key":"worst-{i}","user_group":"grp-x-{i}","email":"someone{i}@example.com","app_version":"{}.{}.{}","signup":"2019-0{}-15T10:00:00Z","name":"Person{i}","tags":["alpha","beta","gamma"],"country":"{}","score":{},"age":{},"plan":"{}","platform":"{}"}}"#,
                1 + rng.below(4),
                rng.below(10),
                rng.below(10),
                1 + rng.below(9),
                rng.pick(COUNTRIES),
                rng.below(100),
                18 + rng.below(60),
                rng.pick(PLANS),
                rng.pick(PLATFORMS),
            );
            Context::from_json_str(&text).expect("worst-case context is valid")
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Snapshot workload: 5,000 rules in total plus one segment with a
// 1,000,000-key include list.

pub const HUGE_SEGMENT_KEYS: usize = 1_000_000;

/// 500 flags × 10 rules, with one of the flags using `segment huge`, whose
/// include list holds one million keys.
pub fn snapshot_source() -> String {
    let mut out = many_flags(500, 10, 20, 0x5AA9);
    out.reserve(HUGE_SEGMENT_KEYS * 16 + 256);
    out.push_str("segment huge {\n  include [");
    for k in 0..HUGE_SEGMENT_KEYS {
        if k > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "\"member-{k:07}\"");
    }
    out.push_str("]\n  match plan == \"enterprise\"\n}\n");
    out.push_str("flag huge-gate {\n  default off\n  rule \"members\" if segment huge => on\n}\n");
    out
}

// ---------------------------------------------------------------------------
// The peers' bench flag (benches/peers/flag.flags), alone and inside a
// project: 500 more flags × 10 rules over 60 attributes, contexts of 16
// attributes.

/// The context of the `context` benchmarks (building and editing one), as
/// JSON: the peer bench's ten attributes.
pub fn context_value() -> serde_json::Value {
    serde_json::json!({
        "key": "user-123456", "country": "DE", "email": "u123456@gmail.com",
        "app_version": "4.12.1", "age": 42, "plan": "pro", "region": "eu-west",
        "tags": ["mobile", "vip"], "score": 17, "beta": false,
    })
}

/// [`context_value`]'s attributes through the builder, keyed `key`.
pub fn built_context(key: &str) -> Result<Context, vexil::context::ContextError> {
    Context::builder(key)
        .string("country", "DE")
        .string("email", "u123456@gmail.com")
        .string("app_version", "4.12.1")
        .number("age", 42.0)
        .string("plan", "pro")
        .string("region", "eu-west")
        .strings("tags", ["mobile", "vip"])
        .number("score", 17.0)
        .bool("beta", false)
        .build()
}

pub const PEER_KEY: &str = "bench-flag";

pub const PEER_FLAG: &str = include_str!("../peers/flag.flags");

/// The nine attributes the peer flag reads, in the project's attribute list.
pub const PEER_ATTRS: &[&str] = &[
    "country",
    "email",
    "app_version",
    "age",
    "plan",
    "region",
    "tags",
    "score",
    "beta",
];

/// What kind of value a project attribute `a_NN` holds.
#[derive(Clone, Copy)]
enum Kind {
    /// One of `v0`…`v19`.
    Enum,
    /// 0…99.
    Num,
    /// `x.y.z`.
    Version,
    /// `pre-NNN`.
    Prefixed,
}

fn kind(i: usize) -> Kind {
    [Kind::Enum, Kind::Num, Kind::Version, Kind::Prefixed][i % 4]
}

/// One atom of a project rule over attribute `i` (of `attrs`; the first nine
/// are the peer flag's attributes, the rest `a_NN`).
fn project_atom(out: &mut String, rng: &mut Rng, i: usize, segments: usize) {
    if segments > 0 && rng.chance(8) {
        let _ = write!(out, "segment pseg-{}", rng.below(segments as u64));
        return;
    }
    match i {
        0 => {
            let list: Vec<String> = (0..2 + rng.below(5))
                .map(|_| format!("\"{}\"", rng.pick(PEER_COUNTRIES)))
                .collect();
            let _ = write!(out, "country in [{}]", list.join(", "));
        }
        1 => {
            let _ = write!(out, "email ends_with \"@{}\"", rng.pick(PEER_DOMAINS));
        }
        2 => {
            let _ = write!(
                out,
                "app_version >= semver(\"{}.{}.0\")",
                2 + rng.below(4),
                rng.below(10)
            );
        }
        3 => {
            let _ = write!(out, "age > {}", 18 + rng.below(70));
        }
        4 => {
            let _ = write!(out, "plan == \"{}\"", rng.pick(PEER_PLANS));
        }
        5 => {
            let _ = write!(out, "region != \"{}\"", rng.pick(PEER_REGIONS));
        }
        6 => {
            let _ = write!(out, "tags contains \"{}\"", rng.pick(PEER_TAGS));
        }
        7 => {
            let _ = write!(out, "score < {}", rng.below(30));
        }
        8 => out.push_str("beta == true"),
        _ => match kind(i) {
            Kind::Enum if rng.chance(50) => {
                let list: Vec<String> = (0..2 + rng.below(6))
                    .map(|_| format!("\"v{}\"", rng.below(20)))
                    .collect();
                let _ = write!(out, "a_{i:02} in [{}]", list.join(", "));
            }
            Kind::Enum => {
                let _ = write!(out, "a_{i:02} == \"v{}\"", rng.below(20));
            }
            Kind::Num => {
                let op = *rng.pick(&[">", "<", ">=", "<="]);
                let _ = write!(out, "a_{i:02} {op} {}", rng.below(100));
            }
            Kind::Version => {
                let _ = write!(
                    out,
                    "a_{i:02} < semver(\"{}.{}.0\")",
                    rng.below(4),
                    rng.below(10)
                );
            }
            Kind::Prefixed => {
                let _ = write!(out, "a_{i:02} starts_with \"pre-{}\"", rng.below(10));
            }
        },
    }
}

/// The peer flag plus `flags` flags of `rules` rules over `attrs` attributes
/// (the peer flag's nine and `a_09` … `a_{attrs-1}`) and `segments` segments.
pub fn project(flags: usize, rules: usize, attrs: usize, segments: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(flags * rules * 80);
    out.push_str(PEER_FLAG);
    for s in 0..segments {
        let _ = write!(out, "segment pseg-{s} {{\n  include [");
        for k in 0..50 {
            if k > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "\"user-{}\"", rng.below(1_000_000));
        }
        out.push_str("]\n  match ");
        let a = rng.below(attrs as u64) as usize;
        project_atom(&mut out, &mut rng, a, 0);
        out.push_str("\n}\n");
    }
    // Every attribute is named at least once, so the ruleset has `attrs` of them.
    let mut unnamed: Vec<usize> = (0..attrs).collect();
    for f in 0..flags {
        let _ = writeln!(out, "flag pflag-{f:04} {{");
        let vars: &[&str] = if f % 3 == 0 {
            out.push_str("  variations { control: \"control\", treatment: \"treatment\", holdout: \"holdout\" }\n  default control\n");
            &["control", "treatment", "holdout"]
        } else {
            out.push_str("  variations { on: true, off: false }\n  default off\n");
            &["on", "off"]
        };
        if rng.chance(30) {
            let _ = writeln!(
                out,
                "  target {} [\"user-{}\", \"alice\"]",
                vars[0],
                rng.below(1_000_000)
            );
        }
        for _ in 0..rules {
            out.push_str("  rule if ");
            for a in 0..1 + rng.below(3) {
                if a > 0 {
                    out.push_str(if rng.chance(75) { " and " } else { " or " });
                }
                let i = unnamed
                    .pop()
                    .unwrap_or_else(|| rng.below(attrs as u64) as usize);
                project_atom(&mut out, &mut rng, i, segments);
            }
            out.push_str(" => ");
            if rng.chance(20) {
                write_split(&mut out, &mut rng, vars);
            } else {
                out.push_str(rng.pick::<&str>(vars));
            }
            out.push('\n');
        }
        if rng.chance(50) {
            out.push_str("  rollout ");
            write_split(&mut out, &mut rng, vars);
            out.push('\n');
        }
        out.push_str("}\n");
    }
    out
}

const PEER_COUNTRIES: &[&str] = &["US", "GB", "DE", "FR", "JP", "BR", "IN", "CA", "AU", "ES"];
const PEER_RARE_COUNTRIES: &[&str] = &["IS", "LU", "MT", "LI", "MC"];
const PEER_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "example.org",
    "notexample-corp.com",
    "corp-example.com",
];
const PEER_VERSIONS: &[&str] = &["2.7.13", "3.9.2", "4.0.0", "4.12.1", "5.0.0", "5.0.0-rc.1"];
const PEER_NEW_VERSIONS: &[&str] = &["5.0.1", "5.2.0", "6.0.0-beta.1"];
const PEER_PLANS: &[&str] = &["free", "pro", "team", "enterprise"];
const PEER_ENT_PLANS: &[&str] = &["enterprise-gold", "enterprise-plus"];
const PEER_REGIONS: &[&str] = &[
    "eu-west",
    "eu-central",
    "us-east",
    "us-west",
    "ap-south",
    "ap-northeast",
];
const PEER_RARE_REGIONS: &[&str] = &["sa-east", "af-south"];
const PEER_TAGS: &[&str] = &["mobile", "desktop", "newsletter", "beta-tester", "vip"];

fn rare<'a>(rng: &mut Rng, per_mille: u64, rare: &[&'a str], common: &[&'a str]) -> &'a str {
    if rng.below(1000) < per_mille {
        rare[rng.below(rare.len() as u64) as usize]
    } else {
        common[rng.below(common.len() as u64) as usize]
    }
}

/// `n` contexts as the peer bench draws them (`benches/peers/src/main.rs`,
/// `generate`: the key and the flag's nine attributes), plus `extra`
/// attributes of the project (`a_09` … `a_{attrs-1}`, picked at random), built
/// with [`Context::builder`].
pub fn peer_contexts(n: usize, extra: usize, attrs: usize) -> Vec<Context> {
    let mut rng = Rng::new(0x9E37_79B9);
    (0..n)
        .map(|i| {
            let domain = if rng.below(1000) < 10 {
                "example-corp.com"
            } else {
                rng.pick(PEER_DOMAINS)
            };
            let age = if rng.below(1000) < 10 {
                91 + rng.below(9)
            } else {
                18 + rng.below(73)
            };
            let mut tags: Vec<&str> = (0..rng.below(4)).map(|_| *rng.pick(PEER_TAGS)).collect();
            if rng.below(1000) < 50 {
                tags.push("vip-internal");
            }
            let mut b = Context::builder(&format!("user-{i}"))
                .string(
                    "country",
                    rare(&mut rng, 10, PEER_RARE_COUNTRIES, PEER_COUNTRIES),
                )
                .string("email", &format!("u{i}@{domain}"))
                .string(
                    "app_version",
                    rare(&mut rng, 10, PEER_NEW_VERSIONS, PEER_VERSIONS),
                )
                .number("age", age as f64)
                .string("plan", rare(&mut rng, 10, PEER_ENT_PLANS, PEER_PLANS))
                .string(
                    "region",
                    rare(&mut rng, 10, PEER_RARE_REGIONS, PEER_REGIONS),
                )
                .strings("tags", tags)
                .number("score", rng.below(30) as f64)
                .bool("beta", rng.below(1000) < 10);
            // The extra attributes draw from their own generator, so the
            // peer attributes are the same whatever `extra` is.
            let mut rng = Rng::new(i as u64 + 1);
            let mut chosen: Vec<usize> = Vec::with_capacity(extra);
            while chosen.len() < extra.min(attrs.saturating_sub(PEER_ATTRS.len())) {
                let a = PEER_ATTRS.len() + rng.below((attrs - PEER_ATTRS.len()) as u64) as usize;
                if chosen.contains(&a) {
                    continue;
                }
                chosen.push(a);
                let name = format!("a_{a:02}");
                b = match kind(a) {
                    Kind::Enum => b.string(&name, &format!("v{}", rng.below(20))),
                    Kind::Num => b.number(&name, rng.below(100) as f64),
                    Kind::Version => b.string(
                        &name,
                        &format!("{}.{}.{}", rng.below(4), rng.below(10), rng.below(10)),
                    ),
                    Kind::Prefixed => b.string(&name, &format!("pre-{}", rng.below(1000))),
                };
            }
            b.build().expect("generated context is valid")
        })
        .collect()
}
