//! Condition programs lowered for the evaluator: one dense opcode per
//! (atom, predicate) with its operands inline.
//!
//! The tables of [`Ruleset`] say *what* a condition tests ([`Instr`]: an
//! [`Atom`] with a [`Pred`]); they are what a snapshot stores. [`lower`]
//! turns each instruction into an [`Op`] that says *how* to test it as
//! cheaply as possible: a string constant becomes a [`Needle`] (its bytes'
//! place in the blob, its length and its first eight bytes as one word, so
//! most comparisons are two integer compares), a short `in` list becomes a
//! run of needles scanned without hashing the attribute. Ops are derived at
//! load time, never written, and sit parallel to `Ruleset::code` (op `i` is
//! instruction `i`, with the same jump targets).

use crate::compile::strings::{StrId, StrTable};
use crate::compile::tables::{
    trusted, vouched, vouched_range, Atom, AttrKey, Instr, Pred, Range32, Rel, Ruleset,
};
use crate::context::symbols::NO_SYMBOL;

/// `in` lists up to this long are scanned as needles; longer ones are found
/// through the ruleset's constant index.
pub(crate) const SHORT_LIST: usize = 16;

/// A string constant, placed for fast comparison against attribute text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Needle {
    /// The string's id in the ruleset's table (for interned comparisons).
    pub(crate) id: u32,
    /// Where its bytes start in the string blob.
    pub(crate) start: u32,
    /// Its length in bytes.
    pub(crate) len: u32,
    /// [`key8`] of its bytes.
    pub(crate) key: u64,
}

/// The first eight bytes of `s` (all of it when shorter) as one little-endian
/// word, zero-extended: two texts of the same length at most eight bytes long
/// are equal exactly when their words are (longer texts also need their
/// remaining bytes compared). No branch on the content and no call to
/// `memcpy`: overlapping loads for 4–8 bytes, three byte loads below four.
/// A context's string has the word read from its text in one load
/// ([`key8_in`]).
#[inline(always)]
pub(crate) fn key8(s: &[u8]) -> u64 {
    let n = s.len();
    if n >= 8 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[..8]);
        u64::from_le_bytes(w)
    } else if n >= 4 {
        let mut lo = [0u8; 4];
        let mut hi = [0u8; 4];
        lo.copy_from_slice(&s[..4]);
        hi.copy_from_slice(&s[n - 4..]);
        // The overlap of the two loads holds the same bytes in both.
        u64::from(u32::from_le_bytes(lo)) | u64::from(u32::from_le_bytes(hi)) << (8 * (n - 4))
    } else if n > 0 {
        u64::from(s[0])
            | u64::from(s[n / 2]) << (8 * (n / 2))
            | u64::from(s[n - 1]) << (8 * (n - 1))
    } else {
        0
    }
}

/// [`key8`] of `s`, given `window`: the eight bytes of the text `s` lies in
/// from `s`'s start, when that text has eight bytes there
/// (`Context::str_window_at`). Then it is the window masked to `s`'s
/// length: no branch on the length, which for distinct contexts is data (a
/// branch on it mispredicts).
#[inline(always)]
pub(crate) fn key8_in(s: &[u8], window: Option<u64>) -> u64 {
    match window {
        Some(w) => w & prefix_mask(s.len()),
        None => key8(s),
    }
}

/// A mask of the low `min(n, 8)` bytes of a word: one load from a table
/// (the shift it replaces needs a compare and two moves on each side for
/// `n = 0` and `n >= 8`).
#[inline(always)]
fn prefix_mask(n: usize) -> u64 {
    PREFIX_MASKS[n.min(8)]
}

/// [`prefix_mask`] of `0..=8`.
const PREFIX_MASKS: [u64; 9] = {
    let mut masks = [0u64; 9];
    let mut n = 1;
    while n <= 8 {
        masks[n] = u64::MAX >> (8 * (8 - n));
        n += 1;
    }
    masks
};

/// [`top_mask`] of `0..=8`.
const TOP_MASKS: [u64; 9] = {
    let mut masks = [0u64; 9];
    let mut n = 1;
    while n <= 8 {
        masks[n] = u64::MAX << (8 * (8 - n));
        n += 1;
    }
    masks
};

impl Needle {
    /// The needle of an empty slot ([`ListHash`]): no text is this long,
    /// so it matches nothing.
    pub(crate) const NEVER: Needle = Needle {
        id: u32::MAX,
        start: 0,
        len: u32::MAX,
        key: 0,
    };

    /// Whether `text` (whose [`key8`] is `key`) equals this needle. Length
    /// and word are compared together, as one word that is zero when both
    /// agree (one branch on both; two compares become two branches): most
    /// texts differ from the needle in either, and which one is data.
    #[inline(always)]
    pub(crate) fn matches(&self, blob: &[u8], text: &[u8], key: u64) -> bool {
        let differ = (text.len() as u64 ^ u64::from(self.len)) | (key ^ self.key);
        differ == 0 && (text.len() <= 8 || self.tail_matches(blob, text))
    }

    /// Whether `text` equals this needle, computing its [`key8`] only when
    /// the lengths agree (most texts compared with one needle differ in
    /// length, and then one compare answers).
    #[inline(always)]
    pub(crate) fn matches_text(&self, blob: &[u8], text: &[u8]) -> bool {
        text.len() == self.len as usize && self.matches(blob, text, key8(text))
    }

    /// Bytes 8.. of a needle longer than eight bytes against `text` of the same length.
    #[inline]
    fn tail_matches(&self, blob: &[u8], text: &[u8]) -> bool {
        let start = self.start as usize;
        match (
            blob.get(start + 8..start + self.len as usize),
            text.get(8..),
        ) {
            (Some(a), Some(b)) => crate::context::same_bytes(a, b),
            _ => false,
        }
    }

    /// The needle's bytes.
    #[inline]
    pub(crate) fn bytes<'b>(&self, blob: &'b [u8]) -> &'b [u8] {
        let start = self.start as usize;
        blob.get(start..start + self.len as usize).unwrap_or(&[])
    }
}

/// A needle in a slot of a hashed list ([`ListHash`]), with its last
/// bytes as one word ([`tail8`]): a text of at most sixteen bytes is
/// compared with it in three words and one branch, whatever its length
/// (lengths differ from context to context, and a branch on them
/// mispredicts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hashed {
    /// The needle.
    pub(crate) needle: Needle,
    /// [`tail8`] of its bytes.
    tail: u64,
}

impl Hashed {
    /// An empty slot: matches nothing.
    pub(crate) const NEVER: Hashed = Hashed {
        needle: Needle::NEVER,
        tail: 0,
    };

    /// `needle` in a slot.
    fn of(blob: &[u8], needle: Needle) -> Hashed {
        Hashed {
            needle,
            tail: tail8(needle.bytes(blob)),
        }
    }

    /// Whether `text` (whose [`key8`] is `key`) equals the needle, given
    /// `end`: the eight bytes of the text `text` lies in that end where it
    /// ends (`Context::str_end_window_at`), when there are eight.
    #[inline(always)]
    pub(crate) fn matches_in(&self, blob: &[u8], text: &[u8], key: u64, end: Option<u64>) -> bool {
        match end {
            Some(window) if text.len() <= 16 => {
                // First and last eight bytes cover a text of sixteen.
                let tail = window & top_mask(text.len());
                let differ = (text.len() as u64 ^ u64::from(self.needle.len))
                    | (key ^ self.needle.key)
                    | (tail ^ self.tail);
                differ == 0
            }
            _ => self.needle.matches(blob, text, key),
        }
    }
}

/// The last eight bytes of `s` (all of it when shorter) as one little-endian
/// word with `s`'s last byte on top, zeros below a shorter `s`.
#[inline]
pub(crate) fn tail8(s: &[u8]) -> u64 {
    match s.len().checked_sub(8) {
        Some(at) => key8(&s[at..]),
        None => key8(s).checked_shl(8 * (8 - s.len()) as u32).unwrap_or(0),
    }
}

/// A mask of the top `min(n, 8)` bytes of a word (a table, as
/// [`prefix_mask`]).
#[inline(always)]
pub(crate) fn top_mask(n: usize) -> u64 {
    TOP_MASKS[n.min(8)]
}

/// One lowered test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Test {
    /// The attribute is present.
    Exists,
    /// The context is in segment `.0`.
    Segment(u32),
    /// Flag `flag` serves local variation `variation`.
    Prereq {
        /// Flag id.
        flag: u32,
        /// Local variation id.
        variation: u32,
    },
    /// String equals.
    StrEq(Needle),
    /// String in a short list: a range of `Lowered::needles`, scanned.
    StrInShort(Range32),
    /// String in a short list, found by one probe of its perfect hash
    /// (whose slots hold the list's needles).
    StrInHashed(ListHash),
    /// String in a long sorted list: a range of `Ruleset::str_sets`.
    StrInLong(Range32),
    /// Number compares.
    Num(Rel, f64),
    /// Boolean equals.
    BoolEq(bool),
    /// Semver compares (index into `versions`).
    Semver(Rel, u32),
    /// Instant compares (index into `instants`).
    Date(Rel, u32),
    /// Number in a sorted set (range of `num_sets`).
    NumIn(Range32),
    /// The empty list.
    EmptyIn,
    /// Substring of a string (with its searcher, an index into
    /// `Lowered::finders`) / element of an array.
    ContainsStr(Needle, u32),
    /// Element of an array.
    ContainsNum(f64),
    /// Prefix.
    StartsWith(Needle),
    /// Suffix.
    EndsWith(Needle),
    /// Regex (index into `regexes`).
    Matches(u32),
}

/// A perfect hash of a short `in` list's needles: needle `i` of the list is
/// in slot [`ListHash::slot`] of its [`key8`] and length, which holds
/// needle `i` itself; no two needles share a slot, and empty slots hold
/// [`Hashed::NEVER`]. So a text is in the list exactly when the needle in
/// its slot matches it: one probe and one compare, and no branch on
/// whether the slot is empty (which of a list's slots distinct texts land
/// in is data, and a branch on it mispredicts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListHash {
    /// The odd multiplier that separates the list's needles.
    mult: u64,
    /// 64 minus the number of bits of a slot.
    shift: u32,
    /// Where the list's slots start in `Lowered::slots`.
    slots: u32,
}

/// Lists shorter than this are scanned: a scan of so few needles costs no
/// more than a hash.
const HASHED_LIST: usize = 3;

impl ListHash {
    /// The slot, within the list's slots, of a text with [`key8`] `key` and
    /// length `len`.
    #[inline(always)]
    pub(crate) fn slot(&self, key: u64, len: usize) -> usize {
        ((key ^ len as u64).wrapping_mul(self.mult) >> self.shift) as usize
    }

    /// A perfect hash of `needles`, its slots appended to `slots`; `None`
    /// when no multiplier tried separates them (needles longer than eight
    /// bytes that share their first eight and their length never are).
    fn build(blob: &[u8], needles: &[Needle], slots: &mut Vec<Hashed>) -> Option<ListHash> {
        if needles.len() < HASHED_LIST || needles.len() >= usize::from(u8::MAX) {
            return None;
        }
        // Between two and four times as many slots as needles; on the
        // second try, twice that.
        let base = needles.len().next_power_of_two().trailing_zeros() + 1;
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        for bits in base..=base + 1 {
            let size = 1usize << bits;
            let mut table = vec![Hashed::NEVER; size];
            for _ in 0..64 {
                // splitmix64: a fixed sequence, so lowering is deterministic.
                seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = seed;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                let hash = ListHash {
                    mult: (z ^ (z >> 31)) | 1,
                    shift: 64 - bits,
                    slots: slots.len() as u32,
                };
                table.iter_mut().for_each(|t| *t = Hashed::NEVER);
                let separated = needles.iter().all(|n| {
                    let t = &mut table[hash.slot(n.key, n.len as usize)];
                    let free = *t == Hashed::NEVER;
                    *t = Hashed::of(blob, *n);
                    free
                });
                if separated {
                    slots.extend_from_slice(&table);
                    return Some(hash);
                }
            }
        }
        None
    }
}

/// One lowered instruction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Op {
    /// What to test.
    pub(crate) test: Test,
    /// The attribute it reads (unused by segments and prerequisites).
    pub(crate) attr: u32,
    /// The process-wide symbol of that attribute's name
    /// (`crate::context::symbols`), or `NO_SYMBOL` (a name the table had no
    /// room for, and always for segments and prerequisites): the context is
    /// probed with it directly.
    pub(crate) symbol: u32,
    /// `!=` / `not in`.
    pub(crate) negate: bool,
    /// Next op when the test holds (or a `JUMP_*` target).
    pub(crate) on_true: u32,
    /// Next op when it does not.
    pub(crate) on_false: u32,
}

/// Individual target lists of this many keys or fewer (all of a flag's
/// lists together) are compared with the context key directly instead of
/// interning the key first.
pub(crate) const SHORT_TARGETS: usize = 16;

/// A text length as one bit of a `u64` (lengths of 63 bytes and more share
/// the top bit), to rule out a whole list of needles in one test.
#[inline(always)]
pub(crate) fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// How a flag's individual targets are tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Targets {
    /// The flag has none.
    None,
    /// A few keys: a range of `Lowered::target_keys`, in list order, and
    /// the [`length_bit`]s of their lengths (a key of no listed length is
    /// in no list, which is one test).
    Short(Range32, u64),
    /// Many keys: intern the context key, probe each list's bitmap.
    Interned,
}

/// The lowered form of a ruleset's code.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lowered {
    /// One op per instruction of `Ruleset::code`.
    pub(crate) ops: Vec<Op>,
    /// Items of the short `in` lists that are scanned (a hashed list's
    /// needles are in its slots).
    pub(crate) needles: Vec<Needle>,
    /// The slots of the hashed short lists ([`ListHash`]): a needle each.
    pub(crate) slots: Vec<Hashed>,
    /// For each flag, how its targets are tested.
    pub(crate) targets: Vec<Targets>,
    /// Keys of short target lists (needles into the key table's blob), with
    /// the local variation their list serves.
    pub(crate) target_keys: Vec<(Needle, u32)>,
    /// Substring searchers of `contains` constants, built once at load.
    pub(crate) finders: Vec<memchr::memmem::Finder<'static>>,
    /// Each flag's rules as one program, in `ops` after the code's own ops.
    pub(crate) chains: super::chain::Chains,
    /// What each rule needs of a context to hold (`super::needs`),
    /// parallel to the ruleset's rules.
    pub(crate) rule_needs: Vec<super::needs::Presence>,
    /// The union of each flag's rules' needs, parallel to its flags.
    pub(crate) flag_needs: Vec<super::needs::Presence>,
    /// Each split's salt as a needle into the string blob, parallel to the
    /// ruleset's splits (so a split slices its salt once, unchecked by the
    /// string table's offsets).
    pub(crate) salts: Vec<Needle>,
}

impl Lowered {
    // Everything here is built by `lower` from tables `Ruleset::from_tables`
    // validated, so the indices the evaluator passes (rule and segment
    // entries, jump targets, flag ids, ranges `lower` made) are in range.

    /// The needles of a short `in` list.
    #[inline(always)]
    pub(crate) fn needles(&self, range: Range32) -> &[Needle] {
        vouched_range!(range, self.needles.len(), "short lists were lowered whole");
        trusted(self.needles.get(range.range()))
    }

    /// The needle in slot `slot` of a hashed list ([`Hashed::NEVER`] when
    /// the slot is empty).
    #[inline(always)]
    pub(crate) fn hashed(&self, hash: ListHash, slot: usize) -> &Hashed {
        // The slot is below the list's slot count by construction (the
        // hash's shift leaves that many values).
        trusted(self.slots.get(hash.slots as usize + slot))
    }

    /// The substring searcher of a `contains` op.
    #[inline]
    pub(crate) fn finder(&self, i: u32) -> &memchr::memmem::Finder<'static> {
        vouched!(i, self.finders.len(), "each contains op has its finder");
        trusted(self.finders.get(i as usize))
    }

    /// The salt of split `i`.
    #[inline(always)]
    pub(crate) fn salt(&self, i: u32) -> &Needle {
        vouched!(i, self.salts.len(), "split indices are in range");
        trusted(self.salts.get(i as usize))
    }

    /// How flag `flag`'s targets are tested.
    #[inline(always)]
    pub(crate) fn targets(&self, flag: u32) -> Targets {
        vouched!(flag, self.targets.len(), "flag ids are in range");
        *trusted(self.targets.get(flag as usize))
    }

    /// What the rules in `range` need (see `super::needs`).
    #[inline(always)]
    pub(crate) fn rule_needs(&self, range: Range32) -> &[super::needs::Presence] {
        vouched_range!(
            range,
            self.rule_needs.len(),
            "flag rule ranges are in range"
        );
        trusted(self.rule_needs.get(range.range()))
    }

    /// The union of what flag `flag`'s rules need.
    #[inline(always)]
    pub(crate) fn flag_needs(&self, flag: u32) -> super::needs::Presence {
        vouched!(flag, self.flag_needs.len(), "flag ids are in range");
        *trusted(self.flag_needs.get(flag as usize))
    }

    /// The keys of a short target list.
    #[inline]
    pub(crate) fn target_keys(&self, range: Range32) -> &[(Needle, u32)] {
        vouched_range!(
            range,
            self.target_keys.len(),
            "short target lists were lowered whole"
        );
        trusted(self.target_keys.get(range.range()))
    }
}

/// Lowers every instruction of `rules.code`; `attr_keys` are the
/// ruleset's attributes as evaluation finds them.
pub(crate) fn lower(rules: &Ruleset, attr_keys: &[AttrKey]) -> Lowered {
    let mut out = Lowered {
        ops: Vec::with_capacity(rules.code().len()),
        needles: Vec::new(),
        slots: Vec::new(),
        targets: Vec::with_capacity(rules.flag_rows().len()),
        target_keys: Vec::new(),
        finders: Vec::new(),
        chains: super::chain::Chains::default(),
        rule_needs: Vec::new(),
        flag_needs: Vec::new(),
        salts: Vec::new(),
    };
    for instr in rules.code() {
        let mut op = lower_one(rules, instr, &mut out);
        // Segments and prerequisites read no attribute and must have no
        // symbol: the evaluator finds them on its out-of-line path, which
        // the direct map sends every `NO_SYMBOL` op to.
        op.symbol = match op.test {
            Test::Segment(_) | Test::Prereq { .. } => NO_SYMBOL,
            _ => attr_keys
                .get(op.attr as usize)
                .map_or(NO_SYMBOL, |k| k.symbol),
        };
        out.ops.push(op);
    }
    for flag in rules.flag_rows() {
        let lists = rules.targets(flag.targets);
        let count: u64 = lists.iter().map(|t| t.keys.len()).sum();
        let targets = if lists.is_empty() {
            Targets::None
        } else if count as usize <= SHORT_TARGETS {
            let start = out.target_keys.len() as u32;
            let mut lengths = 0u64;
            for list in lists {
                for id in &list.keys {
                    let needle = needle_in(&rules.keys().names, StrId(id));
                    lengths |= length_bit(needle.len as usize);
                    out.target_keys.push((needle, list.variation));
                }
            }
            let range = Range32 {
                start,
                len: out.target_keys.len() as u32 - start,
            };
            Targets::Short(range, lengths)
        } else {
            Targets::Interned
        };
        out.targets.push(targets);
    }
    (out.rule_needs, out.flag_needs) = super::needs::build(rules, &out.ops);
    out.chains = super::chain::build(rules, &mut out.ops);
    out.salts = rules
        .tables()
        .splits
        .iter()
        .map(|split| needle(rules, split.salt))
        .collect();
    out
}

/// String `id` of `table` as a needle into that table's blob.
fn needle_in(table: &StrTable, id: StrId) -> Needle {
    let bytes = table.get_bytes(id);
    Needle {
        id: id.0,
        start: table.start(id),
        len: bytes.len() as u32,
        key: key8(bytes),
    }
}

/// A string constant of the ruleset as a needle.
fn needle(rules: &Ruleset, id: StrId) -> Needle {
    needle_in(rules.strings(), id)
}

fn lower_one(rules: &Ruleset, instr: &Instr, out: &mut Lowered) -> Op {
    let (test, attr, negate) = match instr.atom {
        Atom::Exists(attr) => (Test::Exists, attr, false),
        Atom::Segment(s) => (Test::Segment(s), u32::MAX, false),
        Atom::Prereq(flag, variation) => (Test::Prereq { flag, variation }, u32::MAX, false),
        Atom::Cmp { attr, negate, pred } => {
            let test = match pred {
                Pred::StrEq(id) => Test::StrEq(needle(rules, id)),
                Pred::StrIn(range) => match rules.str_set(range) {
                    set if set.len() <= SHORT_LIST => {
                        let start = out.needles.len() as u32;
                        out.needles.extend(set.iter().map(|&id| needle(rules, id)));
                        let range = Range32 {
                            start,
                            len: set.len() as u32,
                        };
                        let items = &out.needles[start as usize..];
                        match ListHash::build(rules.strings().blob_bytes(), items, &mut out.slots) {
                            Some(hash) => {
                                // The slots hold the needles themselves.
                                out.needles.truncate(start as usize);
                                Test::StrInHashed(hash)
                            }
                            None => Test::StrInShort(range),
                        }
                    }
                    _ => Test::StrInLong(range),
                },
                Pred::Num(rel, n) => Test::Num(rel, n),
                Pred::BoolEq(b) => Test::BoolEq(b),
                Pred::Semver(rel, i) => Test::Semver(rel, i),
                Pred::Date(rel, i) => Test::Date(rel, i),
                Pred::NumIn(range) => Test::NumIn(range),
                Pred::EmptyIn => Test::EmptyIn,
                Pred::ContainsStr(id) => {
                    let finder = out.finders.len() as u32;
                    out.finders.push(
                        memchr::memmem::Finder::new(rules.strings().get_bytes(id)).into_owned(),
                    );
                    Test::ContainsStr(needle(rules, id), finder)
                }
                Pred::ContainsNum(n) => Test::ContainsNum(n),
                Pred::StartsWith(id) => Test::StartsWith(needle(rules, id)),
                Pred::EndsWith(id) => Test::EndsWith(needle(rules, id)),
                Pred::Matches(i) => Test::Matches(i),
            };
            (test, attr, negate)
        }
    };
    Op {
        test,
        attr,
        symbol: NO_SYMBOL,
        negate,
        on_true: instr.on_true,
        on_false: instr.on_false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_tables_keep_the_bytes_they_say() {
        for n in 0..=20usize {
            let kept = n.min(8);
            for byte in 0..8 {
                let bits = 0xFFu64 << (8 * byte);
                // The low `kept` bytes, and the top `kept` bytes.
                assert_eq!(
                    prefix_mask(n) & bits != 0,
                    byte < kept,
                    "prefix {n} byte {byte}"
                );
                assert_eq!(
                    top_mask(n) & bits != 0,
                    byte >= 8 - kept,
                    "top {n} byte {byte}"
                );
                assert!(prefix_mask(n) & bits == 0 || prefix_mask(n) & bits == bits);
                assert!(top_mask(n) & bits == 0 || top_mask(n) & bits == bits);
            }
        }
    }

    #[test]
    fn key8_is_exact_up_to_eight_bytes() {
        // Every pair of distinct texts of equal length ≤ 8 over a small
        // alphabet gets distinct words.
        let alphabet = [b'a', b'b', 0u8, 0xff];
        for len in 0..=5usize {
            let count = alphabet.len().pow(len as u32);
            let texts: Vec<Vec<u8>> = (0..count)
                .map(|mut i| {
                    (0..len)
                        .map(|_| {
                            let c = alphabet[i % alphabet.len()];
                            i /= alphabet.len();
                            c
                        })
                        .collect()
                })
                .collect();
            let mut keys: Vec<u64> = texts.iter().map(|t| key8(t)).collect();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), texts.len(), "length {len}");
        }
        assert_ne!(key8(b"abcdefgh"), key8(b"abcdefgi"));
        assert_ne!(key8(b"abcdefg"), key8(b"abcxefg"));
    }

    /// Needles for `items`, with their blob.
    fn needles_of(items: &[&str]) -> (Vec<u8>, Vec<Needle>) {
        let mut blob = Vec::new();
        let needles = items
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let start = blob.len() as u32;
                blob.extend_from_slice(t.as_bytes());
                Needle {
                    id: i as u32,
                    start,
                    len: t.len() as u32,
                    key: key8(t.as_bytes()),
                }
            })
            .collect();
        (blob, needles)
    }

    #[test]
    fn hashed_lists_find_exactly_their_items() {
        let mut slots = Vec::new();
        for n in HASHED_LIST..=SHORT_LIST {
            let items: Vec<String> = (0..n)
                .map(|i| format!("item-{i}-{}", "x".repeat(i)))
                .collect();
            let refs: Vec<&str> = items.iter().map(String::as_str).collect();
            let (blob, needles) = needles_of(&refs);
            let hash = ListHash::build(&blob, &needles, &mut slots).expect("separable");
            let lowered = Lowered {
                slots: slots.clone(),
                ..Lowered::default()
            };
            // With no window, and with the window a context gives the
            // text when it follows other bytes.
            let lookup = |t: &[u8], with_window: bool| {
                let key = key8(t);
                let slot = lowered.hashed(hash, hash.slot(key, t.len()));
                let mut padded = b"ZZZZZZZZ".to_vec();
                padded.extend_from_slice(t);
                let end = padded.len();
                let window = u64::from_le_bytes(padded[end - 8..].try_into().expect("eight"));
                slot.matches_in(&blob, t, key, with_window.then_some(window))
            };
            for w in [false, true] {
                for item in &items {
                    assert!(lookup(item.as_bytes(), w), "{item} in a list of {n}");
                }
                let others = [
                    "", "item-", "item-0-y", "item-1-", "IS", "item-99-", "item-0-x", "jtem-1-x",
                ];
                for other in others {
                    assert!(
                        !lookup(other.as_bytes(), w),
                        "{other:?} not in a list of {n}"
                    );
                }
                // One byte changed anywhere in an item.
                for item in &items {
                    for i in 0..item.len() {
                        let mut changed = item.as_bytes().to_vec();
                        changed[i] ^= 1;
                        assert!(!lookup(&changed, w), "{changed:?} not in a list of {n}");
                    }
                }
            }
        }
        // The peer flag's lists.
        let (blob, countries) = needles_of(&["IS", "LU", "MT", "LI", "MC"]);
        assert!(ListHash::build(&blob, &countries, &mut slots).is_some());
        // Too short to be worth hashing; inseparable (same length, same
        // first eight bytes): scanned instead.
        let (blob, two) = needles_of(&["a", "b"]);
        assert!(ListHash::build(&blob, &two, &mut slots).is_none());
        let (blob, alike) = needles_of(&["enterprise-a", "enterprise-b", "enterprise-c"]);
        assert!(ListHash::build(&blob, &alike, &mut slots).is_none());
    }

    #[test]
    fn needles_compare_whole_texts() {
        let blob = b"enterprise-xIS";
        let long = Needle {
            id: 0,
            start: 0,
            len: 12,
            key: key8(b"enterprise-x"),
        };
        let t = b"enterprise-x";
        assert!(long.matches(blob, t, key8(t)));
        let t = b"enterprise-y";
        assert!(!long.matches(blob, t, key8(t)));
        let t = b"enterprise-";
        assert!(!long.matches(blob, t, key8(t)));
        let short = Needle {
            id: 1,
            start: 12,
            len: 2,
            key: key8(b"IS"),
        };
        assert!(short.matches(blob, b"IS", key8(b"IS")));
        assert!(!short.matches(blob, b"IT", key8(b"IT")));
        assert_eq!(short.bytes(blob), b"IS");
        // An empty slot's needle matches nothing, not even the empty text.
        assert!(!Needle::NEVER.matches(blob, b"", key8(b"")));
        assert!(!Hashed::NEVER.matches_in(blob, b"", 0, Some(0)));
        // The last bytes, top-aligned.
        assert_eq!(tail8(b""), 0);
        assert_eq!(tail8(b"ab"), u64::from_le_bytes(*b"\0\0\0\0\0\0ab"));
        assert_eq!(tail8(b"0123456789"), u64::from_le_bytes(*b"23456789"));
    }

    #[test]
    fn key8_is_the_zero_extended_prefix_with_or_without_a_window() {
        let text = b"abcdefghijklmnop";
        for start in 0..text.len() {
            for end in start..=text.len() {
                let s = &text[start..end];
                let mut want = [0u8; 8];
                let n = s.len().min(8);
                want[..n].copy_from_slice(&s[..n]);
                let want = u64::from_le_bytes(want);
                assert_eq!(key8(s), want, "key8 of {s:?}");
                // The window: the text's eight bytes from `start`, whatever
                // follows `s` in it.
                let window = text.get(start..start + 8).map(|w| {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(w);
                    u64::from_le_bytes(word)
                });
                assert_eq!(key8_in(s, window), want, "key8_in of {s:?}");
                assert_eq!(key8_in(s, None), want);
            }
        }
    }
}
