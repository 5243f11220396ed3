//! Units: one flag or one segment, compiled but not yet linked.
//!
//! A unit holds everything its flag or segment needs with no reference into
//! shared tables: strings are `String`s, references to other flags, segments
//! and attributes are by name, and its condition code jumps within its own
//! `code` (local indices, plus `JUMP_TRUE`/`JUMP_FALSE`). Only context keys
//! are global: target and include/exclude bitmaps hold ids of the key table
//! the unit was compiled against, which stays stable from one version to the
//! next (`compile::compile_with_keys`).
//!
//! Units are the grain of change. The compiler emits one per flag and
//! segment and [`link`](super::link) lays them out into a
//! [`Ruleset`](super::Ruleset); a delta patch ships the units that
//! changed (encoded by the snapshot's wire module; units are plain data), and the receiver unlinks its ruleset, swaps
//! them in and links again.

use roaring::RoaringBitmap;

use super::tables::Rel;
use crate::values::date::Instant;
use crate::values::semver::Version;

/// A compiled flag, unlinked.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagUnit {
    /// The flag's key.
    pub key: String,
    /// Variations: name and value.
    pub variations: Vec<(String, serde_json::Value)>,
    /// Local id of the default variation.
    pub default: u32,
    /// Local id of the variation served while disabled.
    pub when_disabled: u32,
    /// `false` when killed.
    pub enabled: bool,
    /// The bucketing salt.
    pub salt: String,
    /// Individual targets: local variation id and key ids.
    pub targets: Vec<(u32, RoaringBitmap)>,
    /// Rules in order.
    pub rules: Vec<UnitRule>,
    /// The rollout, if any.
    pub rollout: Option<UnitSplit>,
    /// The condition code of all rules, rule by rule; jumps are local.
    pub code: Vec<UnitInstr>,
}

/// A rule of a [`FlagUnit`].
#[derive(Debug, Clone, PartialEq)]
pub struct UnitRule {
    /// The rule's name, if written.
    pub name: Option<String>,
    /// Entry of its condition in the unit's `code`.
    pub entry: u32,
    /// What it serves.
    pub serve: UnitServe,
}

/// What a rule serves.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitServe {
    /// A local variation id.
    Variation(u32),
    /// A split.
    Split(UnitSplit),
}

/// A split: the bucketing attribute (`None`: the key) and the cumulative
/// arms `(end, local variation id)`, zero-width arms dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitSplit {
    /// The bucketing attribute, or `None` for the context key.
    pub by: Option<String>,
    /// `(exclusive end bucket, local variation id)`, ascending.
    pub arms: Vec<(u32, u32)>,
}

/// A compiled segment, unlinked.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentUnit {
    /// The segment's name.
    pub name: String,
    /// Key ids always in it.
    pub include: RoaringBitmap,
    /// Key ids never in it (unless included).
    pub exclude: RoaringBitmap,
    /// The OR of its `match` lines, entry 0; empty when it has none.
    pub code: Vec<UnitInstr>,
}

/// One instruction with local jump targets.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitInstr {
    /// What to test.
    pub atom: UnitAtom,
    /// Next local instruction when it holds, or a `JUMP_*` target.
    pub on_true: u32,
    /// Next local instruction when it does not.
    pub on_false: u32,
}

/// A test, referring to attributes, segments and flags by name.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitAtom {
    /// The attribute is present.
    Exists(String),
    /// The context is in the named segment.
    Segment(String),
    /// The named flag serves this local variation id (of that flag).
    Prereq(String, u32),
    /// Compare an attribute.
    Cmp {
        /// Attribute name.
        attr: String,
        /// `!=` / `not in`.
        negate: bool,
        /// The predicate.
        pred: UnitPred,
    },
}

/// A predicate with its constants inline.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitPred {
    /// String equals.
    StrEq(String),
    /// Number compares.
    Num(Rel, f64),
    /// Boolean equals.
    BoolEq(bool),
    /// Semver compares.
    Semver(Rel, Version),
    /// Instant compares.
    Date(Rel, Instant),
    /// String in a set (sorted, distinct).
    StrIn(Vec<String>),
    /// Number in a set (ascending, distinct).
    NumIn(Vec<f64>),
    /// In the empty list.
    EmptyIn,
    /// Substring / element.
    ContainsStr(String),
    /// Element.
    ContainsNum(f64),
    /// Prefix.
    StartsWith(String),
    /// Suffix.
    EndsWith(String),
    /// Regex match.
    Matches(Pattern),
}

/// A compiled regex; it travels as its pattern (the snapshot's unit codec
/// compiles it again with [`crate::limits::REGEX_SIZE_LIMIT`]).
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}
