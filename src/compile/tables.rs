//! The decision tables: what a compiled ruleset is made of.
//!
//! Everything is flat. Flags, rules, splits and segments live in `Vec`s and
//! refer to each other by `u32` index; conditions are straight-line
//! [`Instr`] programs with forward jumps (short-circuit code, `not` folded
//! into swapped targets), so evaluating one never recurses and never chases a
//! `Box`. Strings live once in a [`StrTable`]; context keys and flag keys are
//! interned in [`NameIndex`]es; key lists are `roaring` bitmaps over interned
//! key ids. The snapshot format (`crate::snapshot`) writes these arrays as
//! they are, which is why they are plain data.

use roaring::RoaringBitmap;

use super::strings::{NameIndex, StrId, StrTable};
use crate::values::date::Instant;
use crate::values::semver::Version;

/// A `start..start + len` range into one of the ruleset's arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range32 {
    /// First index.
    pub start: u32,
    /// Number of elements.
    pub len: u32,
}

impl Range32 {
    /// As a `usize` range.
    #[inline]
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// No such thing (no rollout, no rule name, no condition...).
pub const NONE: u32 = u32::MAX;

/// Jump target meaning "the condition holds".
pub const JUMP_TRUE: u32 = u32::MAX;
/// Jump target meaning "the condition does not hold".
pub const JUMP_FALSE: u32 = u32::MAX - 1;

/// The compiled form of a set of flags and segments.
#[derive(Debug, Clone, Default)]
pub struct Ruleset {
    /// Names, salts and string constants.
    pub(crate) strings: StrTable,
    /// Attribute names in `context::name_order`; an attribute id is a position here.
    pub(crate) attrs: Vec<StrId>,
    /// Context keys named in targets and segment include/exclude lists.
    pub(crate) keys: NameIndex,
    /// Flag keys; a flag id is a position here and in `flags`.
    pub(crate) flag_keys: NameIndex,
    /// Flags, by flag id.
    pub(crate) flags: Vec<Flag>,
    /// Variations of all flags; each flag owns a range.
    pub(crate) variations: Vec<Variation>,
    /// Individual targets of all flags; each flag owns a range.
    pub(crate) targets: Vec<Target>,
    /// Rules of all flags; each flag owns a range.
    pub(crate) rules: Vec<Rule>,
    /// Splits (of rules and rollouts).
    pub(crate) splits: Vec<Split>,
    /// Split arms; each split owns a range.
    pub(crate) arms: Vec<Arm>,
    /// Segments, by segment id.
    pub(crate) segments: Vec<Segment>,
    /// All condition programs, back to back.
    pub(crate) code: Vec<Instr>,
    /// Items of string sets (`in [..]`), each set a range sorted by text.
    pub(crate) str_sets: Vec<StrId>,
    /// Items of number sets, each set a range sorted ascending.
    pub(crate) num_sets: Vec<f64>,
    /// Semver constants.
    pub(crate) versions: Vec<Version>,
    /// Date constants.
    pub(crate) instants: Vec<Instant>,
    /// Compiled regexes, with their pattern in `strings`.
    pub(crate) regexes: Vec<(StrId, regex::Regex)>,
    /// Lookup aids computed from the tables above ([`Ruleset::finish`]);
    /// never written to a snapshot.
    pub(crate) derived: Derived,
}

/// Lookup aids derived from a ruleset's tables, for evaluation.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    /// Hash slots over `strings`, so a context's string value can be matched
    /// to the interned constant it equals.
    pub(crate) string_slots: Vec<u32>,
    /// For each flag: its memo slot if some condition names it, else [`NONE`].
    pub(crate) flag_memo: Vec<u32>,
    /// For each segment: its memo slot if some condition names it, else [`NONE`].
    pub(crate) segment_memo: Vec<u32>,
    /// Number of memo slots.
    pub(crate) memo_len: u32,
    /// For each attribute id: the process-wide symbol of its name (what a
    /// context is searched for) and the name's byte range in `strings`.
    pub(crate) attr_keys: Vec<AttrKey>,
    /// The condition programs lowered to dense opcodes (`crate::eval::ops`).
    pub(crate) lowered: crate::eval::ops::Lowered,
    /// Each variation's name, parallel to `Ruleset::variations`, ready to
    /// hand out in a `Detail` without slicing the string table.
    pub(crate) variation_names: Vec<Box<str>>,
}

impl Ruleset {
    /// Computes the lookup aids. Called by the linker and by the snapshot
    /// loader after validation; a ruleset without them evaluates the same,
    /// only slower.
    pub(crate) fn finish(&mut self) {
        let attr_keys: Vec<AttrKey> = self
            .attrs
            .iter()
            .map(|&name| {
                let bytes = self.strings.get_bytes(name);
                let start = self.strings.start(name);
                AttrKey {
                    symbol: crate::context::symbols::intern(self.strings.get(name)),
                    start,
                    end: start + bytes.len() as u32,
                }
            })
            .collect();
        let mut derived = Derived {
            string_slots: super::strings::hash_slots(&self.strings),
            flag_memo: vec![NONE; self.flags.len()],
            segment_memo: vec![NONE; self.segments.len()],
            memo_len: 0,
            lowered: crate::eval::ops::lower(self, &attr_keys),
            attr_keys,
            variation_names: self
                .variations
                .iter()
                .map(|v| self.strings.get(v.name).into())
                .collect(),
        };
        for instr in &self.code {
            let slot = match instr.atom {
                Atom::Prereq(flag, _) => derived.flag_memo.get_mut(flag as usize),
                Atom::Segment(segment) => derived.segment_memo.get_mut(segment as usize),
                Atom::Exists(_) | Atom::Cmp { .. } => None,
            };
            if let Some(slot) = slot {
                if *slot == NONE {
                    *slot = derived.memo_len;
                    derived.memo_len += 1;
                }
            }
        }
        self.derived = derived;
    }
}

/// How evaluation finds an attribute in a context.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttrKey {
    /// The name's process-wide symbol (`context::symbols`).
    pub symbol: u32,
    /// The name's bytes in the string blob.
    pub start: u32,
    /// End of the name's bytes.
    pub end: u32,
}

/// One flag's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// Its variations (local variation ids index into this range).
    pub variations: Range32,
    /// Local id of the default variation.
    pub default: u32,
    /// Local id of the variation served while disabled.
    pub when_disabled: u32,
    /// `false` when killed.
    pub enabled: bool,
    /// Its bucketing salt.
    pub salt: StrId,
    /// Its individual targets.
    pub targets: Range32,
    /// Its rules, in order.
    pub rules: Range32,
    /// Index of its rollout split, or [`NONE`].
    pub rollout: u32,
}

/// A variation: name and JSON value.
#[derive(Debug, Clone, PartialEq)]
pub struct Variation {
    /// Its name.
    pub name: StrId,
    /// Its value.
    pub value: serde_json::Value,
}

/// A target list: the keys (as interned ids) that get one variation.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Local variation id.
    pub variation: u32,
    /// Interned key ids.
    pub keys: RoaringBitmap,
}

/// A rule's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Its name, or [`NONE`].
    pub name: u32,
    /// Entry point of its condition program in `code`.
    pub entry: u32,
    /// What it serves.
    pub serve: ServeRef,
}

/// What a rule serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeRef {
    /// A local variation id.
    Variation(u32),
    /// A split index.
    Split(u32),
}

/// A percentage split as a cumulative bucket table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// The bucketing attribute id, or [`NONE`] for the context key.
    pub by: u32,
    /// The salt (the flag's).
    pub salt: StrId,
    /// Its arms, ascending by `end`, zero-width arms dropped.
    pub arms: Range32,
}

/// One arm of a split: buckets `[previous end, end)` get `variation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arm {
    /// Exclusive end bucket (the last arm ends at 10,000).
    pub end: u32,
    /// Local variation id.
    pub variation: u32,
}

/// A segment's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Its name.
    pub name: StrId,
    /// Keys always in it.
    pub include: RoaringBitmap,
    /// Keys never in it (unless included).
    pub exclude: RoaringBitmap,
    /// Entry of its `match` program (the OR of all lines), or [`NONE`].
    pub entry: u32,
}

/// One step of a condition program: test `atom`, then jump.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Instr {
    /// What to test.
    pub atom: Atom,
    /// Next instruction when it holds, or [`JUMP_TRUE`]/[`JUMP_FALSE`].
    pub on_true: u32,
    /// Next instruction when it does not.
    pub on_false: u32,
}

/// A single test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Atom {
    /// The attribute is present.
    Exists(u32),
    /// The context is in a segment.
    Segment(u32),
    /// A flag serves a variation: (flag id, local variation id).
    Prereq(u32, u32),
    /// Compare an attribute; `negate` is set for `!=` and `not in`.
    Cmp {
        /// Attribute id.
        attr: u32,
        /// `!=` / `not in`: negate the (any-element) result, but still
        /// require a value of the right type for a scalar.
        negate: bool,
        /// The predicate on one value.
        pred: Pred,
    },
}

/// Relation between an attribute and a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Rel {
    /// `==`
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Rel {
    /// Whether the relation holds given how the attribute compares to the literal.
    ///
    /// Branch-free: each relation is the set of orderings it accepts, one
    /// bit each (`Less` bit 0, `Equal` bit 1, `Greater` bit 2).
    #[inline(always)]
    pub fn holds(self, o: std::cmp::Ordering) -> bool {
        let accepts: u8 = match self {
            Rel::Eq => 0b010,
            Rel::Lt => 0b001,
            Rel::Le => 0b011,
            Rel::Gt => 0b100,
            Rel::Ge => 0b110,
        };
        accepts >> (o as i8 + 1) & 1 != 0
    }
}

/// A predicate over one attribute value, constants pre-parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pred {
    /// String equals.
    StrEq(StrId),
    /// Number compares.
    Num(Rel, f64),
    /// Boolean equals.
    BoolEq(bool),
    /// Semver compares (index into `versions`).
    Semver(Rel, u32),
    /// Instant compares (index into `instants`).
    Date(Rel, u32),
    /// String in a sorted set (range of `str_sets`).
    StrIn(Range32),
    /// Number in a sorted set (range of `num_sets`).
    NumIn(Range32),
    /// In the empty list: never holds, but strings and numbers have its type.
    EmptyIn,
    /// Substring of a string / element of an array.
    ContainsStr(StrId),
    /// Element of an array.
    ContainsNum(f64),
    /// Prefix.
    StartsWith(StrId),
    /// Suffix.
    EndsWith(StrId),
    /// Unanchored regex match (index into `regexes`).
    Matches(u32),
}

#[cfg(test)]
mod tests {
    use super::Rel;
    use std::cmp::Ordering::{self, *};

    #[test]
    fn relations_accept_exactly_their_orderings() {
        let reference = |rel: Rel, o: Ordering| match rel {
            Rel::Eq => o.is_eq(),
            Rel::Lt => o.is_lt(),
            Rel::Le => o.is_le(),
            Rel::Gt => o.is_gt(),
            Rel::Ge => o.is_ge(),
        };
        let mut accepted = 0;
        for rel in [Rel::Eq, Rel::Lt, Rel::Le, Rel::Gt, Rel::Ge] {
            for o in [Less, Equal, Greater] {
                assert_eq!(rel.holds(o), reference(rel, o), "{rel:?} {o:?}");
                accepted += usize::from(rel.holds(o));
            }
        }
        // 1 + 1 + 2 + 1 + 2 orderings accepted.
        assert_eq!(accepted, 7);
    }
}
