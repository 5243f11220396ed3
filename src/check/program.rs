//! The checked program: every name resolved, every literal parsed and typed.
//!
//! This is what the checker hands on. Both the reference interpreter
//! (`crate::interp`) and the compiler (`crate::compile`) consume it, so it is
//! plain, owned data with no spans: anything that could be wrong has already
//! been reported. Operators and literals are fused into [`Test`], whose
//! variants admit only the combinations SPEC §6 allows, so an ill-typed
//! comparison cannot be represented.

use crate::values::date::Instant;
use crate::values::semver::Version;

/// Index of a flag in [`Program::flags`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlagId(pub u32);

/// Index of a segment in [`Program::segments`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentId(pub u32);

/// Index of a variation in its flag's [`Flag::variations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VariationId(pub u32);

/// All flags and segments of a set of source files, checked.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// Flags in definition order (files in the order given).
    pub(crate) flags: Vec<Flag>,
    /// Segments in definition order.
    pub(crate) segments: Vec<Segment>,
}

impl Program {
    /// The flag keys, in definition order (files in the order given).
    pub fn flag_keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.flags.iter().map(|f| f.key.as_str())
    }

    /// How many flags there are.
    pub fn flag_count(&self) -> usize {
        self.flags.len()
    }

    /// The segment names, in definition order.
    pub fn segment_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments.iter().map(|s| s.name.as_str())
    }

    /// Finds a flag by key.
    pub(crate) fn flag(&self, key: &str) -> Option<(FlagId, &Flag)> {
        self.flags
            .iter()
            .enumerate()
            .find(|(_, f)| f.key == key)
            .map(|(i, f)| (FlagId(i as u32), f))
    }
}

/// A flag, resolved.
#[derive(Debug, Clone)]
pub struct Flag {
    /// The flag's key.
    pub key: String,
    /// Its variations in the order written (`on`, `off` for a boolean flag
    /// without a `variations` block).
    pub variations: Vec<Variation>,
    /// Served when nothing else matches.
    pub default: VariationId,
    /// `false` when the flag is killed.
    pub enabled: bool,
    /// Served while disabled (the default variation unless set).
    pub when_disabled: VariationId,
    /// The bucketing salt (the flag key unless set).
    pub salt: String,
    /// Individual targets in the order written. A key appears in at most one.
    pub targets: Vec<Target>,
    /// Rules in the order written.
    pub rules: Vec<Rule>,
    /// The final percentage rollout, if any.
    pub rollout: Option<Split>,
}

/// A named value a flag can serve.
#[derive(Debug, Clone, PartialEq)]
pub struct Variation {
    /// The variation's name.
    pub name: String,
    /// Its JSON value (never `null`; all of one flag share one type).
    pub value: serde_json::Value,
}

/// `target VARIATION ["key", ...]`
#[derive(Debug, Clone)]
pub struct Target {
    /// The variation served.
    pub variation: VariationId,
    /// The context keys that get it.
    pub keys: Vec<String>,
}

/// `rule "name"? if COND => SERVE`
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's name, if written (never empty).
    pub name: Option<String>,
    /// When it applies.
    pub cond: Cond,
    /// What it serves.
    pub serve: Serve,
}

/// What a rule serves.
#[derive(Debug, Clone)]
pub enum Serve {
    /// One variation.
    Variation(VariationId),
    /// A percentage split.
    Split(Split),
}

/// A deterministic percentage split.
#[derive(Debug, Clone)]
pub struct Split {
    /// The bucketing attribute; `None` means the context key.
    pub by: Option<String>,
    /// Variations and their widths in buckets (hundredths of a percent), in
    /// the order written. The widths add up to exactly 10,000; no variation
    /// appears twice. Zero widths are kept.
    pub arms: Vec<(VariationId, u32)>,
}

/// A segment, resolved.
#[derive(Debug, Clone)]
pub struct Segment {
    /// The segment's name.
    pub name: String,
    /// Keys always in the segment (all `include` lines joined).
    pub include: Vec<String>,
    /// Keys never in it, unless included (all `exclude` lines joined).
    pub exclude: Vec<String>,
    /// `match` conditions; the segment holds when any does.
    pub matches: Vec<Cond>,
}

/// A condition, resolved. Parentheses are gone; `and`/`or` keep their order.
#[derive(Debug, Clone)]
pub enum Cond {
    /// All hold (`and`).
    All(Vec<Cond>),
    /// Any holds (`or`).
    Any(Vec<Cond>),
    /// Negation of the whole inner condition.
    Not(Box<Cond>),
    /// `segment S`
    Segment(SegmentId),
    /// `flag F is V`
    Prereq {
        /// The prerequisite flag.
        flag: FlagId,
        /// The variation it must serve.
        variation: VariationId,
    },
    /// `ATTR exists`
    Exists(String),
    /// `ATTR OP LITERAL`
    Compare {
        /// The attribute name.
        attr: String,
        /// The operator with its typed literal.
        test: Test,
    },
}

/// An operator fused with its literal; only legal combinations exist.
#[derive(Debug, Clone)]
pub enum Test {
    /// `== literal`
    Eq(Scalar),
    /// `!= literal`
    Ne(Scalar),
    /// `< <= > >=` against a number, semver or date.
    Order(Ordering, Ordered),
    /// `in [..]`
    In(List),
    /// `not in [..]`
    NotIn(List),
    /// `contains "s"` or `contains 3`
    Contains(Needle),
    /// `starts_with "s"`
    StartsWith(String),
    /// `ends_with "s"`
    EndsWith(String),
    /// `matches "re"` (unanchored)
    Matches(regex::Regex),
}

/// Which ordering comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ordering {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Ordering {
    /// Whether `attr OP literal` holds given how `attr` compares to `literal`.
    pub fn holds(self, attr_vs_literal: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Ordering::Lt => attr_vs_literal == Less,
            Ordering::Le => attr_vs_literal != Greater,
            Ordering::Gt => attr_vs_literal == Greater,
            Ordering::Ge => attr_vs_literal != Less,
        }
    }
}

/// A literal `==`/`!=` can take.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string: equal text.
    Str(String),
    /// A number: equal as f64.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// `semver("..")`: the attribute (a string) parsed as a version.
    Semver(Version),
    /// `date("..")`: the attribute as RFC 3339 text or epoch milliseconds.
    Date(Instant),
}

/// A literal the ordering operators can take.
#[derive(Debug, Clone, PartialEq)]
pub enum Ordered {
    /// A number.
    Num(f64),
    /// `semver("..")`
    Semver(Version),
    /// `date("..")`
    Date(Instant),
}

/// The list of `in` / `not in`.
#[derive(Debug, Clone, PartialEq)]
pub enum List {
    /// `[]`: holds no value; `not in []` holds for any string or number.
    Empty,
    /// A list of strings.
    Strs(Vec<String>),
    /// A list of numbers.
    Nums(Vec<f64>),
}

/// The literal of `contains`.
#[derive(Debug, Clone, PartialEq)]
pub enum Needle {
    /// Substring of a string attribute, or element of an array.
    Str(String),
    /// Element of an array attribute.
    Num(f64),
}
