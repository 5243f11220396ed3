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
//!
//! This module owns [`Ruleset`]. Its tables are private; builders (the
//! linker, the snapshot decoder, a patch, test fixtures) fill a plain
//! [`Tables`] and make a `Ruleset` through the one validated constructor,
//! [`Ruleset::from_tables`]: it runs `super::validate` (every index and
//! range in bounds, jumps strictly forward, sets sorted, no reference
//! cycles), compiles or checks the regexes, and computes the lookup aids.
//! So a `Ruleset` never holds an out-of-range index, and the accessors
//! below trust it: they index directly, with a `debug_assert!` that names
//! the invariant validation vouched for, and a panic (never a silently
//! wrong answer) should it not hold. Only what comes from outside is
//! checked on use: a `FlagRef` a caller passes goes through
//! [`Ruleset::flag_checked`]. The validation lives in its own module beside
//! this one, not in `crate::snapshot`, because the invariants are the
//! tables' own: link output is held to them as much as decoded bytes.

use roaring::RoaringBitmap;

use super::strings::{NameIndex, StrId, StrTable};
use crate::snapshot::SnapshotError;
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

/// The tables of a ruleset as plain data: what a builder fills (the linker,
/// the snapshot decoder, test fixtures) and what the snapshot encoder and
/// the unlinker read. Nothing about it is checked; it becomes a [`Ruleset`]
/// only through [`Ruleset::from_tables`], which validates every index.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tables {
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
    /// The pattern (in `strings`) of each regex; a regex id is a position here.
    pub(crate) regexes: Vec<StrId>,
}

/// Where [`Ruleset::from_tables`] gets the compiled regexes from.
pub(crate) enum Regexes {
    /// Compile each pattern of [`Tables::regexes`] (once per distinct
    /// pattern, under [`crate::limits::REGEX_SIZE_LIMIT`]): the snapshot
    /// decoder's case.
    Compile,
    /// Already compiled, one per pattern in order: the linker's case (the
    /// units carry compiled regexes). Each must have its pattern's text.
    Compiled(Vec<regex::Regex>),
}

/// The compiled form of a set of flags and segments.
///
/// Made only by `Ruleset::from_tables` (crate-internal), so every index one
/// table holds into another is in range, every jump goes forward inside the
/// code, and references are acyclic; the accessors below rely on that and
/// index directly.
#[derive(Debug, Clone)]
pub struct Ruleset {
    /// The validated tables.
    tables: Tables,
    /// The compiled regexes, parallel to `tables.regexes`.
    regexes: Vec<regex::Regex>,
    /// Lookup aids computed from the tables ([`Ruleset::finish`]); never
    /// written to a snapshot.
    derived: Derived,
}

impl Default for Ruleset {
    /// The empty ruleset: no flags, no segments.
    fn default() -> Ruleset {
        let mut rs = Ruleset {
            tables: Tables::default(),
            regexes: Vec::new(),
            derived: Derived::default(),
        };
        rs.finish();
        rs
    }
}

/// Says that `index < len` holds because validation vouched for it.
macro_rules! vouched {
    ($index:expr, $len:expr, $why:literal) => {
        debug_assert!(
            ($index as usize) < $len,
            concat!($why, " (validated by Ruleset::from_tables): {} of {}"),
            $index,
            $len
        )
    };
}
pub(crate) use vouched;

/// Says that range `r` lies inside an array of `len` because validation vouched for it.
macro_rules! vouched_range {
    ($r:expr, $len:expr, $why:literal) => {
        debug_assert!(
            $r.start as u64 + $r.len as u64 <= $len as u64,
            concat!($why, " (validated by Ruleset::from_tables): {:?} of {}"),
            $r,
            $len
        )
    };
}
pub(crate) use vouched_range;

/// An index validation vouched for is out of range: unreachable for a
/// `Ruleset` made by [`Ruleset::from_tables`]. Out of line and without
/// arguments, so the accessors stay small enough to inline everywhere.
#[cold]
#[inline(never)]
fn unvouched() -> ! {
    panic!("an index the ruleset's validation vouched for is out of range")
}

/// The element or slice at an index validation vouched for. The same check
/// as `[]` indexing, with a smaller failure path ([`unvouched`]): measured,
/// `[]`'s bounds-check panic (index, length and location set up inline) kept
/// the evaluator's segment path from inlining.
#[inline(always)]
pub(crate) fn trusted<T: ?Sized>(found: Option<&T>) -> &T {
    match found {
        Some(x) => x,
        None => unvouched(),
    }
}

impl Ruleset {
    /// The one way to make a ruleset: validates `tables` (every index and
    /// range in bounds, jumps strictly forward, sets sorted, name indexes
    /// consistent, no reference cycles: `super::validate`), compiles or
    /// checks the regexes, and computes the lookup aids. An error names the
    /// section at fault ([`SnapshotError::Corrupt`]) or the regex that does
    /// not compile ([`SnapshotError::Regex`]).
    pub(crate) fn from_tables(tables: Tables, regexes: Regexes) -> Result<Ruleset, SnapshotError> {
        super::validate::validate(&tables)?;
        let regexes = match regexes {
            Regexes::Compile => super::validate::compile_regexes(&tables)?,
            Regexes::Compiled(compiled) => {
                super::validate::compiled_regexes(&tables, &compiled)?;
                compiled
            }
        };
        let mut rs = Ruleset {
            tables,
            regexes,
            derived: Derived::default(),
        };
        rs.finish();
        Ok(rs)
    }

    /// The tables, for the snapshot encoder, the unlinker and lowering.
    pub(crate) fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The tables, owned (the compiled regexes and lookup aids are dropped).
    #[cfg(test)]
    pub(crate) fn into_tables(self) -> Tables {
        self.tables
    }

    /// The lookup aids.
    #[inline]
    pub(crate) fn derived(&self) -> &Derived {
        &self.derived
    }

    /// The string table (every [`StrId`] a table holds is in it).
    #[inline]
    pub(crate) fn strings(&self) -> &StrTable {
        &self.tables.strings
    }

    /// The name of attribute `id` (an id the tables hold).
    #[inline]
    pub(crate) fn attr(&self, id: u32) -> StrId {
        vouched!(id, self.tables.attrs.len(), "attribute ids are in range");
        *trusted(self.tables.attrs.get(id as usize))
    }

    /// The context key index.
    #[inline]
    pub(crate) fn keys(&self) -> &NameIndex {
        &self.tables.keys
    }

    /// The flag key index (flag id = position).
    #[inline]
    pub(crate) fn flag_names(&self) -> &NameIndex {
        &self.tables.flag_keys
    }

    /// Every flag's row, by flag id.
    #[inline]
    pub(crate) fn flag_rows(&self) -> &[Flag] {
        &self.tables.flags
    }

    /// Flag `id`'s row, for an id the tables hold (a prerequisite).
    #[inline]
    pub(crate) fn flag_row(&self, id: u32) -> &Flag {
        vouched!(
            id,
            self.tables.flags.len(),
            "prerequisite flag ids are in range"
        );
        trusted(self.tables.flags.get(id as usize))
    }

    /// Flag `id`'s row, or `None`: for an id from outside (a
    /// `FlagRef` the caller may have taken from another ruleset).
    #[inline]
    pub(crate) fn flag_checked(&self, id: u32) -> Option<&Flag> {
        self.tables.flags.get(id as usize)
    }

    /// The variations of all flags.
    #[inline]
    pub(crate) fn variations(&self, range: Range32) -> &[Variation] {
        vouched_range!(
            range,
            self.tables.variations.len(),
            "flag variation ranges are in range"
        );
        trusted(self.tables.variations.get(range.range()))
    }

    /// Local variation `local` of `flag` (a flag row of this ruleset; every
    /// local id its default, targets, rules and splits name is below its
    /// variation count).
    #[inline]
    pub(crate) fn variation(&self, flag: &Flag, local: u32) -> &Variation {
        vouched!(
            local,
            flag.variations.len as usize,
            "local variation ids are in range"
        );
        let at = flag.variations.start as usize + local as usize;
        vouched!(
            at,
            self.tables.variations.len(),
            "flag variation ranges are in range"
        );
        trusted(self.tables.variations.get(at))
    }

    /// A flag's target lists.
    #[inline]
    pub(crate) fn targets(&self, range: Range32) -> &[Target] {
        vouched_range!(
            range,
            self.tables.targets.len(),
            "flag target ranges are in range"
        );
        trusted(self.tables.targets.get(range.range()))
    }

    /// A flag's rules.
    #[inline]
    pub(crate) fn rules(&self, range: Range32) -> &[Rule] {
        vouched_range!(
            range,
            self.tables.rules.len(),
            "flag rule ranges are in range"
        );
        trusted(self.tables.rules.get(range.range()))
    }

    /// Split `i` (a rule's or a rollout's).
    #[inline]
    pub(crate) fn split(&self, i: u32) -> &Split {
        vouched!(i, self.tables.splits.len(), "split indices are in range");
        trusted(self.tables.splits.get(i as usize))
    }

    /// A split's arms.
    #[inline]
    pub(crate) fn arms(&self, range: Range32) -> &[Arm] {
        vouched_range!(
            range,
            self.tables.arms.len(),
            "split arm ranges are in range"
        );
        trusted(self.tables.arms.get(range.range()))
    }

    /// Every segment's row, by segment id.
    #[inline]
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.tables.segments
    }

    /// Segment `i`'s row (an id a condition holds).
    #[inline]
    pub(crate) fn segment(&self, i: u32) -> &Segment {
        vouched!(i, self.tables.segments.len(), "segment ids are in range");
        trusted(self.tables.segments.get(i as usize))
    }

    /// All condition programs.
    #[inline]
    pub(crate) fn code(&self) -> &[Instr] {
        &self.tables.code
    }

    /// A string set (sorted by text).
    #[inline]
    pub(crate) fn str_set(&self, range: Range32) -> &[StrId] {
        vouched_range!(
            range,
            self.tables.str_sets.len(),
            "string set ranges are in range"
        );
        trusted(self.tables.str_sets.get(range.range()))
    }

    /// A number set (sorted ascending, no NaN).
    #[inline]
    pub(crate) fn num_set(&self, range: Range32) -> &[f64] {
        vouched_range!(
            range,
            self.tables.num_sets.len(),
            "number set ranges are in range"
        );
        trusted(self.tables.num_sets.get(range.range()))
    }

    /// Semver constant `i`.
    #[inline]
    pub(crate) fn version(&self, i: u32) -> &Version {
        vouched!(
            i,
            self.tables.versions.len(),
            "version indices are in range"
        );
        trusted(self.tables.versions.get(i as usize))
    }

    /// Date constant `i`.
    #[inline]
    pub(crate) fn instant(&self, i: u32) -> &Instant {
        vouched!(
            i,
            self.tables.instants.len(),
            "instant indices are in range"
        );
        trusted(self.tables.instants.get(i as usize))
    }

    /// The compiled regexes, by regex id.
    #[inline]
    pub(crate) fn compiled_regexes(&self) -> &[regex::Regex] {
        &self.regexes
    }

    /// Compiled regex `i`.
    #[inline]
    pub(crate) fn regex(&self, i: u32) -> &regex::Regex {
        vouched!(i, self.regexes.len(), "regex indices are in range");
        trusted(self.regexes.get(i as usize))
    }

    /// Computes the lookup aids (only on validated tables: `from_tables`).
    fn finish(&mut self) {
        let t = &self.tables;
        let attr_keys: Vec<AttrKey> = t
            .attrs
            .iter()
            .map(|&name| {
                let bytes = t.strings.get_bytes(name);
                let start = t.strings.start(name);
                AttrKey {
                    symbol: crate::context::symbols::intern(t.strings.get(name)),
                    start,
                    end: start + bytes.len() as u32,
                }
            })
            .collect();
        let mut derived = Derived {
            string_slots: super::strings::hash_slots(&t.strings),
            flag_memo: vec![NONE; t.flags.len()],
            segment_memo: vec![NONE; t.segments.len()],
            memo_len: 0,
            lowered: crate::eval::ops::lower(self, &attr_keys),
            attr_keys,
            variation_names: t
                .variations
                .iter()
                .map(|v| t.strings.get(v.name).into())
                .collect(),
        };
        for instr in &t.code {
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

impl Derived {
    /// How evaluation finds attribute `id` (attribute ids are validated;
    /// `attr_keys` is parallel to the attributes).
    #[inline(always)]
    pub(crate) fn attr_key(&self, id: u32) -> &AttrKey {
        vouched!(id, self.attr_keys.len(), "attribute ids are in range");
        trusted(self.attr_keys.get(id as usize))
    }

    /// The memo slot of prerequisite flag `flag`, or [`NONE`].
    #[inline]
    pub(crate) fn flag_memo(&self, flag: u32) -> u32 {
        vouched!(
            flag,
            self.flag_memo.len(),
            "prerequisite flag ids are in range"
        );
        *trusted(self.flag_memo.get(flag as usize))
    }

    /// The memo slot of segment `segment`, or [`NONE`].
    #[inline]
    pub(crate) fn segment_memo(&self, segment: u32) -> u32 {
        vouched!(segment, self.segment_memo.len(), "segment ids are in range");
        *trusted(self.segment_memo.get(segment as usize))
    }

    /// The name of variation `at` (an index into `Ruleset::variations`).
    #[inline]
    pub(crate) fn variation_name(&self, at: usize) -> &str {
        vouched!(
            at,
            self.variation_names.len(),
            "variation indices are in range"
        );
        trusted(self.variation_names.get(at).map(|name| &**name))
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
    //! The one constructor refuses tables whose indices point nowhere, at
    //! the `Tables` level (src/snapshot/tests.rs does the same through bytes).

    use super::*;
    use crate::snapshot::fixture::tables;

    /// The section and detail of the error `from_tables` gives for `t`.
    fn refused(t: Tables) -> (&'static str, String) {
        match Ruleset::from_tables(t, Regexes::Compile) {
            Err(SnapshotError::Corrupt { section, detail }) => (section, detail),
            Err(other) => panic!("expected Corrupt, got {other}"),
            Ok(_) => panic!("out-of-range tables were accepted"),
        }
    }

    #[test]
    fn the_fixture_is_accepted_and_round_trips_through_into_tables() {
        let rs = Ruleset::from_tables(tables(1), Regexes::Compile).expect("valid");
        assert_eq!(rs.flag_rows().len(), 3);
        let again = Ruleset::from_tables(rs.into_tables(), Regexes::Compile).expect("valid");
        crate::snapshot::fixture::assert_same_tables(again.tables(), &tables(1));
    }

    #[test]
    fn a_rule_entry_past_the_code_is_refused() {
        let mut t = tables(1);
        t.rules[1].entry = t.code.len() as u32;
        let (section, detail) = refused(t);
        assert_eq!(section, "rules");
        assert!(detail.contains("rule 1 entry"), "{detail}");
    }

    #[test]
    fn a_jump_past_the_end_is_refused() {
        let mut t = tables(1);
        let last = t.code.len() - 1;
        t.code[last - 1].on_false = t.code.len() as u32;
        let (section, detail) = refused(t);
        assert_eq!(section, "code");
        assert!(detail.contains("strictly forward"), "{detail}");
    }

    #[test]
    fn a_split_arm_range_past_the_arms_is_refused() {
        let mut t = tables(1);
        t.splits[1].arms = Range32 {
            start: t.arms.len() as u32 - 1,
            len: 2,
        };
        let (section, detail) = refused(t);
        assert_eq!(section, "splits");
        assert!(detail.contains("split 1 arms"), "{detail}");
    }

    #[test]
    fn a_variation_past_the_flags_variations_is_refused() {
        // Flag 0 has two variations; variation 2 exists in the table (it is
        // flag 1's), but not in flag 0's range.
        let mut t = tables(1);
        t.rules[0].serve = ServeRef::Variation(2);
        let (section, detail) = refused(t);
        assert_eq!(section, "flags");
        assert!(detail.contains("\"checkout\" rule variation"), "{detail}");
        let mut t = tables(1);
        t.arms[1].variation = 2;
        let (section, detail) = refused(t);
        assert_eq!(section, "flags");
        assert!(detail.contains("split arm variation"), "{detail}");
    }

    #[test]
    fn compiled_regexes_must_match_their_patterns() {
        let t = tables(1);
        let wrong = regex::Regex::new("^other$").expect("compiles");
        match Ruleset::from_tables(t.clone(), Regexes::Compiled(vec![wrong])) {
            Err(SnapshotError::Corrupt { section, .. }) => assert_eq!(section, "regexes"),
            other => panic!("{other:?}"),
        }
        match Ruleset::from_tables(t.clone(), Regexes::Compiled(Vec::new())) {
            Err(SnapshotError::Corrupt { section, detail }) => {
                assert_eq!(section, "regexes");
                assert!(
                    detail.contains("0 compiled regexes for 1 patterns"),
                    "{detail}"
                );
            }
            other => panic!("{other:?}"),
        }
        let right = regex::Regex::new(t.strings.get(t.regexes[0])).expect("compiles");
        let rs = Ruleset::from_tables(t, Regexes::Compiled(vec![right])).expect("valid");
        assert!(rs.regex(0).is_match("bob@example.com"));
    }

    #[test]
    fn the_empty_ruleset_is_valid() {
        let rs = Ruleset::default();
        assert_eq!(rs.flag_count(), 0);
        Ruleset::from_tables(Tables::default(), Regexes::Compile).expect("valid");
    }

    #[test]
    fn relations_accept_exactly_their_orderings() {
        use std::cmp::Ordering::{self, *};
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
