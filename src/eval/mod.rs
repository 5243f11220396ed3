//! Evaluation over the compiled decision tables.
//!
//! [`Ruleset::prepare`] binds a [`Context`] to a ruleset in constant time:
//! nothing is looked up until a flag reads it. An op finds its attribute in
//! the context by the process-wide symbol of its name: one load from the
//! context's direct map of symbols (`context::symbol_map`), no text
//! compared; the context key is interned the first time a target list or a
//! segment asks for it. So one check costs what the evaluated flag reads,
//! whatever the size of the ruleset. The resulting
//! [`Prepared`] answers any number of flags without allocating: a flag is
//! found by key through a hash index, targets are roaring bitmap probes,
//! conditions are jump programs, splits are one xxh3 and a scan of a small
//! cumulative table.

use std::cell::{Cell, RefCell};

use crate::compile::strings::StrId;
use crate::compile::tables::*;
use ops::{Op, Targets, Test};

mod chain;
mod needs;
pub(crate) mod ops;

pub(crate) use needs::presence_bit;

use crate::context::symbol_map::{direct_entry, FAR};
use crate::context::symbols::NO_SYMBOL;
use crate::context::{same_bytes, Attr, Context, Element};
use crate::detail::{Detail, ErrorCode, Matched, Reason};
use crate::values::{bucket, date, semver};

/// Deepest recursion through segments and prerequisites evaluation follows.
/// The checker refuses longer chains, so it never changes an answer; it only
/// keeps a hand-made ruleset from exhausting the stack.
const MAX_DEPTH: u32 = crate::limits::MAX_REFERENCE_DEPTH as u32;

/// A flag found by key once, to skip the lookup on later evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlagRef(u32);

/// A string attribute not yet looked up among the ruleset's constants.
const UNRESOLVED: u32 = u32::MAX;
/// A string attribute equal to no constant of the ruleset.
const NO_CONSTANT: u32 = u32::MAX - 1;
/// A string attribute compared once by text: looked up among the constants
/// the next time.
const SEEN_ONCE: u32 = u32::MAX - 2;
/// A memo slot not yet computed.
const UNKNOWN: u32 = u32::MAX;
/// The context key not yet interned.
const KEY_UNRESOLVED: u32 = u32::MAX - 1;

/// Context positions below this have the constant their string value equals
/// cached in the [`Prepared`].
const CONSTANT_CACHE: usize = 32;

/// A context bound to one ruleset, ready to evaluate any of its flags.
///
/// It is fixed-size and made in constant time. It caches, per evaluation
/// context, what does not change from one flag to the next (where each
/// attribute is in the context needs no cache: the context's direct map of
/// symbols answers in one load): the interned context key (on first use),
/// which interned constant a string attribute equals (so `==` and `in`
/// lists compare integers), the last semantic version and the last
/// instant parsed from an attribute, and the answers of segments and
/// prerequisite flags (so each is computed at most once, which is what makes
/// the complexity caps bound the work). The answers of the first 64
/// segments are two words of bits; the memo of the other segments and of
/// prerequisites lives in a buffer borrowed from a per-thread pool the first
/// time a flag reaches one, and returned when the `Prepared` is dropped; in
/// steady state nothing is allocated. The caches are `Cell`s: a `Prepared`
/// is meant for one thread, for one request.
#[derive(Debug)]
pub struct Prepared<'r, 'c> {
    rules: &'r Ruleset,
    context: &'c Context,
    /// The context's direct map of symbols (`context::shape`), read once.
    direct: &'c [u8],
    /// The interned id of the context key, [`NONE`] when it has none or is
    /// in no list, [`KEY_UNRESOLVED`] until asked.
    key: Cell<u32>,
    /// For context positions below [`CONSTANT_CACHE`]: the string constant
    /// the value equals ([`UNRESOLVED`] until asked, [`NO_CONSTANT`] when none).
    constants: [Cell<u32>; CONSTANT_CACHE],
    /// The last version parsed: (attribute id, version), NONE when empty.
    version: Cell<(u32, Option<semver::VersionRef<'c>>)>,
    /// The last instant parsed from a string: (attribute id, instant), NONE when empty.
    instant: Cell<(u32, Option<date::Instant>)>,
    /// The answers of segments `0..64`, known once their bit is in
    /// `segments_known`: a project's flags reach a few segments many times
    /// (all flags of the benchmarks' project, 20 segments, about 460
    /// references a context), and a bit is cheaper than the memo buffer.
    segments_known: Cell<u64>,
    /// Bit `s`: whether the context is in segment `s` (when known).
    segments_in: Cell<u64>,
    /// Memoized answers of the other segments (0/1) and prerequisite
    /// variations, taken from the thread's pool on first use.
    memo: RefCell<Option<Scratch>>,
}

impl Clone for Prepared<'_, '_> {
    /// A copy with the same caches, but its own (empty) memo.
    fn clone(&self) -> Self {
        Prepared {
            rules: self.rules,
            context: self.context,
            direct: self.direct,
            key: self.key.clone(),
            constants: self.constants.clone(),
            version: self.version.clone(),
            instant: self.instant.clone(),
            segments_known: self.segments_known.clone(),
            segments_in: self.segments_in.clone(),
            memo: RefCell::new(None),
        }
    }
}

impl Drop for Prepared<'_, '_> {
    #[inline]
    fn drop(&mut self) {
        // Most checks reach no segment or prerequisite: one test, no move.
        let memo = self.memo.get_mut();
        if memo.is_some() {
            give_back(memo);
        }
    }
}

/// Returns a dropped [`Prepared`]'s memo buffer to the thread's pool.
#[cold]
fn give_back(memo: &mut Option<Scratch>) {
    if let Some(scratch) = memo.take() {
        scratch.give_back();
    }
}

/// A memo buffer: entry `i` holds `(stamp, value)` and counts only when its
/// stamp is the buffer's current one, so reusing it needs no clearing.
#[derive(Debug, Default)]
struct Scratch {
    stamp: u32,
    entries: Vec<(u32, u32)>,
}

/// Most memo buffers a thread keeps for reuse.
const POOL_MAX: usize = 16;

thread_local! {
    /// Memo buffers returned by dropped [`Prepared`]s of this thread.
    static POOL: RefCell<Vec<Scratch>> = const { RefCell::new(Vec::new()) };
}

impl Scratch {
    /// A buffer of at least `len` unknown entries, from the pool if it has one.
    fn take(len: usize) -> Scratch {
        let mut scratch = POOL
            .try_with(|pool| pool.try_borrow_mut().ok().and_then(|mut p| p.pop()))
            .ok()
            .flatten()
            .unwrap_or_default();
        scratch.stamp = scratch.stamp.wrapping_add(1);
        if scratch.stamp == 0 {
            scratch.entries.iter_mut().for_each(|e| *e = (0, 0));
            scratch.stamp = 1;
        }
        if scratch.entries.len() < len {
            scratch.entries.resize(len, (0, 0));
        }
        scratch
    }

    fn give_back(self) {
        let _ = POOL.try_with(|pool| {
            if let Ok(mut pool) = pool.try_borrow_mut() {
                if pool.len() < POOL_MAX {
                    pool.push(self);
                }
            }
        });
    }

    #[inline]
    fn get(&self, i: u32) -> u32 {
        match self.entries.get(i as usize) {
            Some(&(stamp, value)) if stamp == self.stamp => value,
            _ => UNKNOWN,
        }
    }

    #[inline]
    fn set(&mut self, i: u32, value: u32) {
        if let Some(e) = self.entries.get_mut(i as usize) {
            *e = (self.stamp, value);
        }
    }
}

impl Ruleset {
    /// Binds a context to this ruleset. Constant time: attributes and the
    /// key are looked up when a flag first reads them.
    #[inline]
    pub fn prepare<'r, 'c>(&'r self, context: &'c Context) -> Prepared<'r, 'c> {
        context.warm();
        Prepared {
            rules: self,
            context,
            direct: context.shape().direct(),
            key: Cell::new(KEY_UNRESOLVED),
            constants: [const { Cell::new(UNRESOLVED) }; CONSTANT_CACHE],
            version: Cell::new((NONE, None)),
            instant: Cell::new((NONE, None)),
            segments_known: Cell::new(0),
            segments_in: Cell::new(0),
            memo: RefCell::new(None),
        }
    }

    /// Finds a flag by key.
    pub fn flag(&self, key: &str) -> Option<FlagRef> {
        self.flag_names().find(key).map(FlagRef)
    }

    /// The keys of all flags, in definition order.
    pub fn flag_keys(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.flag_rows().len() as u32).map(|i| self.flag_names().name(i))
    }

    /// Number of flags.
    pub fn flag_count(&self) -> usize {
        self.flag_rows().len()
    }

    /// Evaluates one flag for one context (binds the context first; prefer
    /// [`Ruleset::prepare`] when evaluating several flags).
    pub fn evaluate<'r>(&'r self, flag: &str, context: &Context) -> Detail<'r> {
        self.prepare(context).detail(flag)
    }
}

/// The variation of the arm bucket `b` falls in: the first arm whose end
/// lies past it, i.e. the arm numbered by how many ends are at or below it
/// (ends increase and the last is 10,000, validated). Counted with no
/// branch on the bucket, which is random by design: a search that stops at
/// the arm mispredicts one split in two.
#[inline(always)]
fn arm_for(arms: &[Arm], b: u32) -> Option<u32> {
    let index: usize = arms.iter().map(|arm| usize::from(arm.end <= b)).sum();
    arms.get(index).map(|arm| arm.variation)
}

/// How a flag decided, before it is turned into a [`Detail`].
#[derive(Clone, Copy)]
struct Decision<'r> {
    variation: u32,
    reason: Reason,
    matched: Option<Matched<'r>>,
}

impl<'r, 'c> Prepared<'r, 'c> {
    /// The full answer for flag `key`.
    pub fn detail(&self, key: &str) -> Detail<'r> {
        match self.rules.flag(key) {
            Some(flag) => self.detail_of(flag),
            None => Detail::not_found(),
        }
    }

    /// The full answer for a flag found with [`Ruleset::flag`] on the same ruleset.
    #[inline]
    pub fn detail_of(&self, flag: FlagRef) -> Detail<'r> {
        let Some(row) = self.rules.flag_checked(flag.0) else {
            return Detail::not_found();
        };
        let decision = self.decide(flag.0, row, 0);
        let rules = self.rules;
        let value = &rules.variation(row, decision.variation).value;
        let at = row.variations.start as usize + decision.variation as usize;
        Detail {
            value: Some(value),
            variation: Some(rules.derived().variation_name(at)),
            reason: decision.reason,
            matched: decision.matched,
            error: None,
        }
    }

    /// Every flag's answer, in definition order.
    pub fn all(&self) -> impl Iterator<Item = (&'r str, Detail<'r>)> + use<'_, 'r, 'c> {
        let rules = self.rules;
        // Many flags will ask for the interned key: intern it once.
        self.key_id();
        (0..rules.flag_rows().len() as u32)
            .map(move |i| (rules.flag_names().name(i), self.detail_of(FlagRef(i))))
    }

    /// A boolean flag's value, or `default` when the flag is unknown or not boolean.
    pub fn bool_value(&self, key: &str, default: bool) -> bool {
        self.detail(key)
            .value
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(default)
    }

    /// A string flag's value, or `default` when the flag is unknown or not a string.
    pub fn string_value<'a>(&'a self, key: &str, default: &'a str) -> &'a str
    where
        'r: 'a,
    {
        self.detail(key)
            .value
            .and_then(serde_json::Value::as_str)
            .unwrap_or(default)
    }

    /// A number flag's value, or `default` when the flag is unknown or not a number.
    pub fn number_value(&self, key: &str, default: f64) -> f64 {
        self.detail(key)
            .value
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(default)
    }

    /// Any flag's JSON value, or `default` when the flag is unknown.
    pub fn json_value<'a>(
        &'a self,
        key: &str,
        default: &'a serde_json::Value,
    ) -> &'a serde_json::Value
    where
        'r: 'a,
    {
        self.detail(key).value.unwrap_or(default)
    }

    /// The full answer, with `TYPE_MISMATCH` when the value does not satisfy `is_type`.
    pub fn typed_detail(&self, key: &str, is_type: fn(&serde_json::Value) -> bool) -> Detail<'r> {
        let detail = self.detail(key);
        match detail.value {
            Some(v) if !is_type(v) => Detail {
                value: None,
                variation: None,
                reason: Reason::Error,
                matched: None,
                error: Some(ErrorCode::TypeMismatch),
            },
            _ => detail,
        }
    }

    /// The variation flag `id`'s individual targets give the context, if any.
    #[inline]
    fn target(&self, id: u32, flag: &Flag) -> Option<u32> {
        let rules = self.rules;
        let lowered = &rules.derived().lowered;
        match lowered.targets(id) {
            Targets::None => None,
            // Once the key is interned (`all` does it first), a bitmap
            // probe is cheaper than comparing texts.
            Targets::Short(range, lengths) if self.key.get() == KEY_UNRESOLVED => {
                let key = self.context.key_bytes()?;
                if lengths & ops::length_bit(key.len()) == 0 {
                    return None;
                }
                let word = ops::key8(key);
                let blob = rules.keys().names.blob_bytes();
                lowered
                    .target_keys(range)
                    .iter()
                    .find(|(needle, _)| needle.matches(blob, key, word))
                    .map(|&(_, variation)| variation)
            }
            Targets::Short(..) | Targets::Interned => {
                let key = self.key_id();
                if key == NONE {
                    return None;
                }
                rules
                    .targets(flag.targets)
                    .iter()
                    .find(|t| t.keys.contains(key))
                    .map(|t| t.variation)
            }
        }
    }

    fn decide(&self, id: u32, flag: &'r Flag, depth: u32) -> Decision<'r> {
        let rules = self.rules;
        if !flag.enabled {
            return Decision {
                variation: flag.when_disabled,
                reason: Reason::Disabled,
                matched: None,
            };
        }
        if let Some(variation) = self.target(id, flag) {
            return Decision {
                variation,
                reason: Reason::TargetingMatch,
                matched: Some(Matched::Target),
            };
        }
        let flag_rules = rules.rules(flag.rules);
        let code = Code::of(rules);
        let lowered = &rules.derived().lowered;
        let present = self.context.shape().presence();
        let chain = match lowered.flag_needs(id) & !present {
            0 => lowered.chains.of(id, flag_rules.len()),
            // Some rule needs an attribute the context lacks: rule by rule,
            // skipping those.
            _ => None,
        };
        if let Some(entries) = chain {
            // One op loop for all the rules; it stops at the rule that
            // matches, and goes on after it only when that rule's split
            // cannot bucket the context.
            let mut next = 0;
            while let Some(&entry) = entries.get(next) {
                let Some(index) = chain::matched_rule(self.run_to_end(code, entry, depth)) else {
                    break;
                };
                let Some(rule) = flag_rules.get(index) else {
                    break;
                };
                if let Some(decision) = self.serve(rule, index) {
                    return decision;
                }
                next = index + 1;
            }
        } else {
            let needs = lowered.rule_needs(flag.rules);
            if let Some(decision) = self.possible_rules(code, flag_rules, needs, present, depth) {
                return decision;
            }
        }
        if flag.rollout != NONE {
            if let Some(variation) = self.split(flag.rollout) {
                return Decision {
                    variation,
                    reason: Reason::Split,
                    matched: Some(Matched::Rollout),
                };
            }
        }
        Decision {
            variation: flag.default,
            reason: Reason::Default,
            matched: None,
        }
    }

    /// The first of `flag_rules` that holds and decides, skipping those
    /// whose `needs` the context's `present` lacks. Up to 64 rules, which
    /// rules can hold is worked out first as one mask with no branch per
    /// rule (which ones a context can satisfy is data, and a branch on it
    /// mispredicts), then only those are run.
    #[inline(always)]
    fn possible_rules(
        &self,
        code: Code<'r>,
        flag_rules: &'r [Rule],
        needs: &[needs::Presence],
        present: needs::Presence,
        depth: u32,
    ) -> Option<Decision<'r>> {
        if flag_rules.len() > 64 {
            for (index, (rule, &need)) in flag_rules.iter().zip(needs).enumerate() {
                if need & !present != 0 || !self.run(code, rule.entry, depth) {
                    continue;
                }
                if let Some(decision) = self.serve(rule, index) {
                    return Some(decision);
                }
            }
            return None;
        }
        // From the last rule to the first, shifting: rule `i` ends at bit
        // `i`. (Or-ing `bit << i` instead is vectorized into a loop that
        // costs twice as much for a flag's ten-odd rules.)
        let mut possible = needs
            .iter()
            .rev()
            .fold(0u64, |m, &need| m << 1 | u64::from(need & !present == 0));
        while possible != 0 {
            let index = possible.trailing_zeros() as usize;
            possible &= possible - 1;
            let Some(rule) = flag_rules.get(index) else {
                break;
            };
            if self.run(code, rule.entry, depth) {
                if let Some(decision) = self.serve(rule, index) {
                    return Some(decision);
                }
            }
        }
        None
    }

    /// What rule `index` of a flag, whose condition holds, decides: `None`
    /// when it serves a split that cannot bucket the context.
    #[inline(always)]
    fn serve(&self, rule: &Rule, index: usize) -> Option<Decision<'r>> {
        let rules = self.rules;
        let name = (rule.name != NONE).then(|| rules.strings().get(StrId(rule.name)));
        let matched = Some(Matched::Rule {
            index: index as u32,
            name,
        });
        match rule.serve {
            ServeRef::Variation(variation) => Some(Decision {
                variation,
                reason: Reason::TargetingMatch,
                matched,
            }),
            ServeRef::Split(split) => self.split(split).map(|variation| Decision {
                variation,
                reason: Reason::Split,
                matched,
            }),
        }
    }

    /// The variation a split serves, or `None` when the context cannot be bucketed.
    fn split(&self, split: u32) -> Option<u32> {
        let rules = self.rules;
        let salt = rules
            .derived()
            .lowered
            .salt(split)
            .bytes(rules.strings().blob_bytes());
        let split = rules.split(split);
        let b = if split.by == NONE {
            bucket::bucket_bytes(salt, self.context.key_bytes()?)
        } else {
            match self.attr(split.by)? {
                Attr::Str(s) => bucket::bucket_bytes(salt, s.as_bytes()),
                Attr::Num(n) => bucket::bucket_integer(salt, bucket::integral(n)?),
                _ => return None,
            }
        };
        arm_for(rules.arms(split.arms), b)
    }

    /// Attribute `id`'s value (a split's `by`).
    #[inline]
    fn attr(&self, id: u32) -> Option<Attr<'c>> {
        let symbol = self.rules.derived().attr_key(id).symbol;
        self.position(id, symbol).map(|at| self.context.attr_at(at))
    }

    /// Where attribute `id`, whose name has symbol `symbol`, is in the
    /// context: for the low symbols one load from the context's direct map
    /// (as cheap as a cache would be); otherwise out of line, by a probe of
    /// the context's symbol index, or for a name without a symbol (the
    /// process-wide table was full) by a binary search of its names.
    #[inline(always)]
    fn position(&self, id: u32, symbol: u32) -> Option<usize> {
        match direct_entry(self.direct, symbol) {
            FAR => self.position_far(id, symbol),
            d => usize::from(d).checked_sub(1),
        }
    }

    /// [`Prepared::position`] of an attribute the direct map does not hold.
    #[cold]
    #[inline(never)]
    fn position_far(&self, id: u32, symbol: u32) -> Option<usize> {
        if symbol != NO_SYMBOL {
            return self.context.position_in_index(symbol);
        }
        self.find_by_name(id)
    }

    /// Finds attribute `id` by its name: only names the full symbol table
    /// left without a symbol.
    fn find_by_name(&self, id: u32) -> Option<usize> {
        let k = self.rules.derived().attr_key(id);
        let name = self
            .rules
            .strings()
            .blob_bytes()
            .get(k.start as usize..k.end as usize)?;
        self.context.position_by_name(name)
    }

    /// The interned id of the context key ([`NONE`] when it has none or no
    /// list names it), looked up on first use.
    #[inline]
    fn key_id(&self) -> u32 {
        let known = self.key.get();
        if known != KEY_UNRESOLVED {
            return known;
        }
        let id = self
            .context
            .key()
            .and_then(|k| self.rules.keys().find(k))
            .unwrap_or(NONE);
        self.key.set(id);
        id
    }

    /// Runs a condition program from `entry`: whether it holds.
    #[inline(always)]
    fn run(&self, code: Code<'r>, entry: u32, depth: u32) -> bool {
        let end = self.run_to_end(code, entry, depth);
        debug_assert!(
            end == JUMP_TRUE || end == JUMP_FALSE,
            "a condition program ends at JUMP_TRUE or JUMP_FALSE (validated), not at {end}"
        );
        end == JUMP_TRUE
    }

    /// Runs a program (a condition's or a flag's [`chain`]) from `entry`
    /// and returns the target it ends at.
    ///
    /// Jumps go strictly forward and a program ends at a target that lies
    /// past every op index (validated by `Ruleset::from_tables`, kept by
    /// the chains), so the loop runs until `pc` leaves the code: one
    /// compare a step both bounds the read and finds the end.
    #[inline(always)]
    fn run_to_end(&self, code: Code<'r>, entry: u32, depth: u32) -> u32 {
        let mut pc = entry;
        while let Some(op) = code.ops.get(pc as usize) {
            pc = if self.test(op, code.blob, depth) {
                op.on_true
            } else {
                op.on_false
            };
        }
        pc
    }

    /// One op. Segments and prerequisites go out of line; every other op
    /// reads an attribute, and none holds when the context lacks it
    /// (negated or not), so the attribute is located before the dispatch:
    /// an op on a missing attribute (most ops of a project's flags, for any
    /// one context) costs one load and one branch, no jump through the op
    /// table. Then a dense match on the lowered test; each common test reads
    /// the attribute as the type it expects and compares in place (one
    /// dispatch per op), everything else (arrays, type mismatches, the rarer
    /// tests) goes through [`Prepared::general`].
    #[inline(always)]
    fn test(&self, op: &Op, blob: &'r [u8], depth: u32) -> bool {
        // Segments and prerequisites have no symbol, so the direct map
        // sends them out of line with the other rare ops: the common op
        // pays no test for them.
        let at = match direct_entry(self.direct, op.symbol) {
            FAR => {
                // A segment already answered: two bit tests, no call.
                if let Test::Segment(segment) = op.test {
                    if let Some(held) = self.settled_segment(segment) {
                        return held;
                    }
                }
                return self.test_far(op, blob, depth);
            }
            d => match usize::from(d).checked_sub(1) {
                Some(at) => at,
                None => return false,
            },
        };
        self.test_at(op, blob, at, depth)
    }

    /// [`Prepared::test`] of an op the direct map does not answer: a
    /// segment or prerequisite, or an attribute whose symbol is past the
    /// map (or that has none).
    #[inline(never)]
    fn test_far(&self, op: &Op, blob: &'r [u8], depth: u32) -> bool {
        if let Test::Segment(_) | Test::Prereq { .. } = op.test {
            return self.reference(op, depth);
        }
        match self.position_far(op.attr, op.symbol) {
            Some(at) => self.test_at(op, blob, at, depth),
            None => false,
        }
    }

    /// An attribute op on the attribute at context position `at`.
    #[inline(always)]
    fn test_at(&self, op: &Op, blob: &'r [u8], at: usize, depth: u32) -> bool {
        let context = self.context;
        match op.test {
            Test::StrEq(needle) => match context.str_bytes_at(at) {
                Some(b) => self.str_eq(blob, needle, Some(at), b) != op.negate,
                None => self.general(op, at),
            },
            Test::StrInShort(range) => match context.str_bytes_at(at) {
                Some(b) => self.str_in_short(blob, range, Some(at), b) != op.negate,
                None => self.general(op, at),
            },
            Test::StrInHashed(hash) => match context.str_windows_at(at) {
                Some((b, windows)) => {
                    let key = ops::key8_in(b, windows.map(|(head, _)| head));
                    let end = windows.map(|(_, end)| end);
                    self.str_in_hashed(blob, hash, b, key, end) != op.negate
                }
                None => self.general(op, at),
            },
            Test::StartsWith(needle) => match context.str_window_at(at) {
                Some((b, window)) => starts_with_in(blob, needle, b, window) != op.negate,
                None => self.general(op, at),
            },
            Test::EndsWith(needle) => match context.str_end_window_at(at) {
                Some((b, window)) => ends_with_in(blob, needle, b, window) != op.negate,
                None => self.general(op, at),
            },
            Test::Num(rel, lit) => match context.num_at(at) {
                Some(n) => match n.partial_cmp(&lit) {
                    Some(o) => rel.holds(o) != op.negate,
                    // NaN compares with nothing, negated or not.
                    None => false,
                },
                None => self.general(op, at),
            },
            Test::BoolEq(want) => match context.bool_at(at) {
                Some(b) => (b == want) != op.negate,
                None => self.general(op, at),
            },
            Test::Semver(rel, i) => match context.str_at(at) {
                Some(s) => {
                    // Parsed once per binding: a version already parsed
                    // is cheaper than the shortcut.
                    let parsed = self.version.get().0 == op.attr;
                    if !parsed && self.settled_false(rel, i, op.negate, s) {
                        return false;
                    }
                    self.semver(op.attr, rel, i, Some(at), s) == Some(!op.negate)
                }
                None => self.general(op, at),
            },
            Test::ContainsStr(needle, _) => {
                let element = |b: &[u8]| needle.matches_text(blob, b);
                match context.any_str_element_at(at, element) {
                    Some(hit) => hit != op.negate,
                    // A string (a substring search) or anything else.
                    None => self.general(op, at),
                }
            }
            Test::Exists => true,
            // Every test named (no `_`): the jump table then covers every
            // tag, so the dispatch needs no range check first.
            Test::StrInLong(_)
            | Test::Date(..)
            | Test::NumIn(_)
            | Test::EmptyIn
            | Test::ContainsNum(_)
            | Test::Matches(_) => self.general(op, at),
            // Not reached from `test` (references are far), but answered
            // right all the same.
            Test::Segment(_) | Test::Prereq { .. } => self.reference(op, depth),
        }
    }

    /// `==` a string constant. `at` is the attribute's position when `b` is
    /// its own value, so the comparison is of interned ids from the second
    /// read on; `None` for an array element.
    #[inline(always)]
    fn str_eq(&self, blob: &[u8], needle: ops::Needle, at: Option<usize>, b: &[u8]) -> bool {
        match self.constant_if_reused(at, b) {
            UNRESOLVED => needle.matches_text(blob, b),
            constant => constant == needle.id,
        }
    }

    /// `in` a short list (needles `range`); `at` as for [`Prepared::str_eq`].
    #[inline(always)]
    fn str_in_short(&self, blob: &[u8], range: Range32, at: Option<usize>, b: &[u8]) -> bool {
        let needles = self.rules.derived().lowered.needles(range);
        match self.constant_if_reused(at, b) {
            UNRESOLVED => {
                let key = ops::key8(b);
                needles.iter().any(|n| n.matches(blob, b, key))
            }
            constant => needles.iter().any(|n| n.id == constant),
        }
    }

    /// `in` a hashed short list: one probe, one needle compared; `key` is
    /// `b`'s [`ops::key8`], `end` the window that ends where `b` ends
    /// (`ops::Hashed::matches_in`).
    #[inline(always)]
    fn str_in_hashed(
        &self,
        blob: &[u8],
        hash: ops::ListHash,
        b: &[u8],
        key: u64,
        end: Option<u64>,
    ) -> bool {
        let lowered = &self.rules.derived().lowered;
        lowered
            .hashed(hash, hash.slot(key, b.len()))
            .matches_in(blob, b, key, end)
    }

    /// A semver compare of `s` (attribute `attr`'s value when `at` is its
    /// position, parsed once per [`Prepared`] then; an array element when
    /// `at` is `None`); `None` when `s` is not a version.
    #[inline]
    fn semver(&self, attr: u32, rel: Rel, i: u32, at: Option<usize>, s: &'c str) -> Option<bool> {
        let version = self.parsed(&self.version, attr, at, s, semver::parse)?;
        let lit = self.rules.version(i);
        Some(rel.holds(version.precedence(&lit.as_ref())))
    }

    /// Whether the semver test `rel` literal `i` (negated or not) of the
    /// text `s` is false without parsing `s`: the test holds when `s` is a
    /// version and the relation holds `!= negate`, so when the number parts
    /// already decide a relation that holds `== negate`, the test is false
    /// whether the rest of `s` is a version or not.
    #[inline(always)]
    fn settled_false(&self, rel: Rel, i: u32, negate: bool, s: &str) -> bool {
        let lit = self.rules.version(i).as_ref();
        match semver::precedence_if_version(s, &lit) {
            Some(order) => rel.holds(order) == negate,
            None => false,
        }
    }

    /// The tests against a string constant that compare bytes: `==`, a short
    /// `in` list, `starts_with`, `ends_with` (`None` for any other test), for
    /// the general path; `at` as for [`Prepared::str_eq`].
    fn needle_test(&self, test: &Test, at: Option<usize>, b: &[u8]) -> Option<bool> {
        let blob = self.rules.strings().blob_bytes();
        Some(match *test {
            Test::StrEq(needle) => self.str_eq(blob, needle, at, b),
            Test::StrInShort(range) => self.str_in_short(blob, range, at, b),
            Test::StrInHashed(hash) => self.str_in_hashed(blob, hash, b, ops::key8(b), None),
            Test::StartsWith(needle) => starts_with(blob, needle, b),
            Test::EndsWith(needle) => ends_with(blob, needle, b),
            _ => return None,
        })
    }

    /// Any attribute op, by the attribute's type.
    #[inline(never)]
    fn general(&self, op: &Op, at: usize) -> bool {
        match self.context.attr_at(at) {
            Attr::Str(s) => match self.on_str(op, Some(at), s) {
                Some(hit) => hit != op.negate,
                None => false,
            },
            Attr::Num(n) => match self.on_num(&op.test, n) {
                Some(hit) => hit != op.negate,
                None => false,
            },
            Attr::Bool(b) => match op.test {
                Test::BoolEq(want) => (want == b) != op.negate,
                _ => false,
            },
            Attr::List(items) => items.iter().any(|e| self.on_element(op, &e)) != op.negate,
            Attr::Object => false,
        }
    }

    /// Whether the context is in segment `segment`, if that is already
    /// known from the bits (`None` for a segment past 64 too).
    #[inline(always)]
    fn settled_segment(&self, segment: u32) -> Option<bool> {
        let bit = 1u64.checked_shl(segment).unwrap_or(0);
        (self.segments_known.get() & bit != 0).then(|| self.segments_in.get() & bit != 0)
    }

    /// Whether the context is in segment `segment` (below 64), computed
    /// once per binding.
    fn low_segment(&self, segment: u32, depth: u32) -> bool {
        if let Some(held) = self.settled_segment(segment) {
            return held;
        }
        let bit = 1u64 << segment;
        let held = depth < MAX_DEPTH && self.segment(segment, depth + 1);
        // Read the bits again: the segment's own condition may have
        // settled others meanwhile.
        self.segments_known.set(self.segments_known.get() | bit);
        if held {
            self.segments_in.set(self.segments_in.get() | bit);
        }
        held
    }

    /// A segment or prerequisite op: memoized, out of line (it recurses).
    #[inline(never)]
    fn reference(&self, op: &Op, depth: u32) -> bool {
        match op.test {
            Test::Segment(segment) if segment < u64::BITS => self.low_segment(segment, depth),
            Test::Segment(segment) => {
                self.memoized(self.rules.derived().segment_memo(segment), || {
                    u32::from(depth < MAX_DEPTH && self.segment(segment, depth + 1))
                }) == 1
            }
            Test::Prereq { flag, variation } => {
                self.memoized(self.rules.derived().flag_memo(flag), || {
                    match self.rules.flag_row(flag) {
                        f if depth < MAX_DEPTH => self.decide(flag, f, depth + 1).variation,
                        _ => NONE,
                    }
                }) == variation
            }
            _ => false,
        }
    }

    /// The memoized value of memo slot `slot`, computing it on first use
    /// ([`NONE`]: a reference no memo slot was given to, computed each time).
    fn memoized(&self, slot: u32, compute: impl FnOnce() -> u32) -> u32 {
        if slot == NONE {
            return compute();
        }
        if let Ok(memo) = self.memo.try_borrow() {
            let known = memo.as_ref().map_or(UNKNOWN, |m| m.get(slot));
            if known != UNKNOWN {
                return known;
            }
        }
        let value = compute();
        if let Ok(mut memo) = self.memo.try_borrow_mut() {
            memo.get_or_insert_with(|| Scratch::take(self.rules.derived().memo_len as usize))
                .set(slot, value);
        }
        value
    }

    /// A string against a test; `None` when the test is not about strings.
    /// `at` is the attribute's context position when `s` is the attribute's
    /// own value (so the per-attribute caches apply), `None` for an array
    /// element.
    #[inline]
    fn on_str(&self, op: &Op, at: Option<usize>, s: &'c str) -> Option<bool> {
        let rules = self.rules;
        let b = s.as_bytes();
        match op.test {
            Test::StrEq(_)
            | Test::StrInShort(_)
            | Test::StrInHashed(..)
            | Test::StartsWith(_)
            | Test::EndsWith(_) => self.needle_test(&op.test, at, b),
            Test::StrInLong(range) => {
                let set = rules.str_set(range);
                if let Some(at) = at {
                    if self.constant(at, b) == NO_CONSTANT {
                        // Equal to no string of the ruleset: in no list.
                        return Some(false);
                    }
                }
                Some(
                    set.binary_search_by(|id| rules.strings().get(*id).cmp(s))
                        .is_ok(),
                )
            }
            Test::ContainsStr(_, finder) => {
                Some(rules.derived().lowered.finder(finder).find(b).is_some())
            }
            Test::Semver(rel, i) => self.semver(op.attr, rel, i, at, s),
            Test::Date(rel, i) => {
                let instant = self.parsed(&self.instant, op.attr, at, s, date::parse_rfc3339)?;
                Some(rel.holds(instant.cmp(rules.instant(i))))
            }
            Test::Matches(i) => Some(rules.regex(i).is_match(s)),
            Test::EmptyIn => Some(false),
            _ => None,
        }
    }

    /// `s` parsed by `parse`, through the one-entry cache `cache` when `s`
    /// is attribute `attr`'s own value (`at` is its position), so several
    /// comparisons of one version or date parse it once.
    #[inline]
    fn parsed<T: Copy>(
        &self,
        cache: &Cell<(u32, Option<T>)>,
        attr: u32,
        at: Option<usize>,
        s: &'c str,
        parse: fn(&'c str) -> Option<T>,
    ) -> Option<T> {
        if at.is_none() {
            return parse(s);
        }
        let (cached, value) = cache.get();
        if cached == attr {
            return value;
        }
        let value = parse(s);
        cache.set((attr, value));
        value
    }

    /// A number against a test; `None` when the test is not about numbers
    /// (or the number is NaN).
    #[inline]
    fn on_num(&self, test: &Test, n: f64) -> Option<bool> {
        let rules = self.rules;
        match *test {
            Test::Num(rel, lit) => n.partial_cmp(&lit).map(|o| rel.holds(o)),
            Test::Date(rel, i) => {
                let attr = date::from_epoch_millis(n)?;
                Some(rel.holds(attr.cmp(rules.instant(i))))
            }
            Test::NumIn(range) => {
                let set = rules.num_set(range);
                Some(
                    set.binary_search_by(|x| x.partial_cmp(&n).unwrap_or(std::cmp::Ordering::Less))
                        .is_ok(),
                )
            }
            Test::EmptyIn => Some(false),
            _ => None,
        }
    }

    /// An array element against a test: `contains` means element equality,
    /// every other test holds when it holds for the element.
    fn on_element(&self, op: &Op, element: &Element<'c>) -> bool {
        match (*element, op.test) {
            (Element::Str(s), Test::ContainsStr(needle, _)) => {
                let b = s.as_bytes();
                needle.matches_text(self.rules.strings().blob_bytes(), b)
            }
            (Element::Num(n), Test::ContainsNum(want)) => n == want,
            (_, Test::ContainsStr(..) | Test::ContainsNum(_)) => false,
            (Element::Str(s), _) => self.on_str(op, None, s) == Some(true),
            (Element::Num(n), test) => self.on_num(&test, n) == Some(true),
            (Element::Other, _) => false,
        }
    }

    /// The interned constant the attribute at context position `at` (its
    /// value `b`) equals, once it is read a second time: [`UNRESOLVED`] the
    /// first time (the caller compares text, so a single check never pays
    /// for hashing), the constant or [`NO_CONSTANT`] from the second time on
    /// (many flags reading one attribute compare integers). Always
    /// [`UNRESOLVED`] for an array element (`at` is `None`).
    #[inline(always)]
    fn constant_if_reused(&self, at: Option<usize>, b: &[u8]) -> u32 {
        let Some((at, cell)) = at.and_then(|at| Some((at, self.constants.get(at)?))) else {
            return UNRESOLVED;
        };
        match cell.get() {
            UNRESOLVED => {
                cell.set(SEEN_ONCE);
                UNRESOLVED
            }
            SEEN_ONCE => self.constant(at, b),
            known => known,
        }
    }

    /// The interned constant equal to the string `b` at context position
    /// `at`, or [`NO_CONSTANT`]; looked up once per position.
    fn constant(&self, at: usize, b: &[u8]) -> u32 {
        let cell = self.constants.get(at);
        if let Some(cell) = cell {
            let known = cell.get();
            if known != UNRESOLVED && known != SEEN_ONCE {
                return known;
            }
        }
        let rules = self.rules;
        let found = if rules.derived().string_slots.is_empty() {
            // A ruleset without lookup aids: find the constant by scanning.
            (0..rules.strings().len() as u32).find(|&i| rules.strings().get_bytes(StrId(i)) == b)
        } else {
            crate::compile::strings::find_in(rules.strings(), &rules.derived().string_slots, b)
        };
        let found = found.unwrap_or(NO_CONSTANT);
        if let Some(cell) = cell {
            cell.set(found);
        }
        found
    }

    fn segment(&self, segment: u32, depth: u32) -> bool {
        let segment = self.rules.segment(segment);
        if !(segment.include.is_empty() && segment.exclude.is_empty()) {
            let key = self.key_id();
            if key != NONE {
                if segment.include.contains(key) {
                    return true;
                }
                if segment.exclude.contains(key) {
                    return false;
                }
            }
        }
        segment.entry != NONE && self.run(Code::of(self.rules), segment.entry, depth)
    }
}

/// The tables every op of a condition program reads, looked up once per
/// flag rather than once per op (the evaluator's stores to its caches would
/// otherwise make the compiler load them again at every op).
#[derive(Clone, Copy)]
struct Code<'r> {
    /// The lowered ops.
    ops: &'r [Op],
    /// The ruleset's string blob, which needles point into.
    blob: &'r [u8],
}

impl<'r> Code<'r> {
    #[inline(always)]
    fn of(rules: &'r Ruleset) -> Code<'r> {
        Code {
            ops: &rules.derived().lowered.ops,
            blob: rules.strings().blob_bytes(),
        }
    }
}

/// Whether `b` starts with `needle`.
#[inline(always)]
fn starts_with(blob: &[u8], needle: ops::Needle, b: &[u8]) -> bool {
    let prefix = needle.bytes(blob);
    b.len() >= prefix.len() && same_bytes(&b[..prefix.len()], prefix)
}

/// Whether `b` ends with `needle`.
#[inline(always)]
fn ends_with(blob: &[u8], needle: ops::Needle, b: &[u8]) -> bool {
    let suffix = needle.bytes(blob);
    b.len() >= suffix.len() && same_bytes(&b[b.len() - suffix.len()..], suffix)
}

/// [`starts_with`] of a context's string `b`, given the eight bytes of
/// its text from `b`'s start (`Context::str_window_at`): the length and the
/// first eight bytes are compared together, with one branch on both (which
/// one fails is data, and a branch on it alone mispredicts); only a prefix
/// longer than eight bytes then compares the rest.
#[inline(always)]
fn starts_with_in(blob: &[u8], needle: ops::Needle, b: &[u8], window: Option<u64>) -> bool {
    let Some(window) = window else {
        return starts_with(blob, needle, b);
    };
    let prefix = needle.bytes(blob);
    let n = prefix.len();
    let head = ops::key8_in(prefix, Some(window));
    // A short text fails on length; a long one on its first bytes.
    let short = u64::from(b.len() < n);
    (short | (head ^ needle.key)) == 0
        && (n <= 8
            || matches!((b.get(8..n), prefix.get(8..)), (Some(x), Some(y)) if same_bytes(x, y)))
}

/// [`ends_with`] of a context's string `b`, given the eight bytes of its
/// text that end where `b` ends (`Context::str_end_window_at`): as
/// [`starts_with_in`], from the end.
#[inline(always)]
fn ends_with_in(blob: &[u8], needle: ops::Needle, b: &[u8], window: Option<u64>) -> bool {
    let Some(window) = window else {
        return ends_with(blob, needle, b);
    };
    let suffix = needle.bytes(blob);
    let n = suffix.len();
    // The last bytes of the text and of the suffix, top-aligned as in a
    // hashed list's slot (`ops::tail8`).
    let tail = window & ops::top_mask(n);
    let short = u64::from(b.len() < n);
    (short | (tail ^ ops::tail8(suffix))) == 0
        && (n <= 8
            || matches!((b.get(b.len() - n..b.len() - 8), suffix.get(..n - 8)), (Some(x), Some(y)) if same_bytes(x, y)))
}

#[cfg(test)]
mod tests {
    use super::arm_for;
    use crate::compile::compile_text;
    use crate::compile::tables::Arm;
    use crate::context::Context;
    use crate::detail::{ErrorCode, Reason};

    #[test]
    fn segments_on_either_side_of_the_64_bits_answer_alike_fresh_or_settled() {
        // 70 segments: the first 64 are answered from bits, the rest from
        // the memo buffer; seg-68 nests one of each kind.
        let mut text = String::new();
        for i in 0..70 {
            match i {
                66 => text.push_str("segment seg-66 { include [\"u3\", \"u66\"] }\n"),
                68 => text.push_str("segment seg-68 { match segment seg-2 or segment seg-67 }\n"),
                _ => text.push_str(&format!("segment seg-{i} {{ include [\"u{i}\"] }}\n")),
            }
        }
        text.push_str(
            r#"flag f {
                variations { a: "a", b: "b", c: "c", d: "d" }
                default d
                rule if segment seg-3 and segment seg-66 => a
                rule if segment seg-68 => b
                rule if segment seg-3 => c
            }
            flag g {
                variations { y: true, n: false }
                default n
                rule if segment seg-2 or segment seg-67 or segment seg-66 => y
            }"#,
        );
        let ruleset = compile_text(&text);
        let cases = [
            ("u3", "a", "y"),
            ("u2", "b", "y"),
            ("u67", "b", "y"),
            ("u66", "d", "y"),
            ("u5", "d", "n"),
        ];
        for (key, f, g) in cases {
            let context = Context::with_key(key);
            // Fresh bindings, and one binding asked twice over (the second
            // round reads only settled answers).
            assert_eq!(ruleset.evaluate("f", &context).variation, Some(f), "{key}");
            assert_eq!(ruleset.evaluate("g", &context).variation, Some(g), "{key}");
            let prepared = ruleset.prepare(&context);
            for _ in 0..2 {
                let all: Vec<_> = prepared.all().map(|(_, d)| d.variation).collect();
                assert_eq!(all, vec![Some(f), Some(g)], "{key}");
            }
        }
    }

    #[test]
    fn windowed_prefix_and_suffix_tests_agree_with_the_plain_ones() {
        // Needles of every length up to 12 at the start of a blob; texts
        // cut from a longer text so the windows hold neighbouring bytes.
        let blob: &[u8] = b"xyz-corp.comxyz";
        let text: &[u8] = b"AAxyz-corp.comxyzBBxyz";
        // Windows as `Context::str_window_at` makes them: zeros past
        // either end of the text.
        let mut padded = vec![0u8; 8];
        padded.extend_from_slice(text);
        padded.extend_from_slice(&[0; 8]);
        let word = |at: Option<&[u8]>| {
            at.map(|w| {
                let mut word = [0u8; 8];
                word.copy_from_slice(w);
                u64::from_le_bytes(word)
            })
        };
        for (start, len) in
            (0..blob.len()).flat_map(|s| (0..=12.min(blob.len() - s)).map(move |l| (s, l)))
        {
            let bytes = &blob[start..start + len];
            let needle = super::ops::Needle {
                id: 0,
                start: start as u32,
                len: len as u32,
                key: super::ops::key8(bytes),
            };
            for a in 0..text.len() {
                for b in a..=text.len() {
                    let s = &text[a..b];
                    let head = word(padded.get(a + 8..a + 16));
                    let tail = word(padded.get(b..b + 8));
                    assert_eq!(
                        super::starts_with_in(blob, needle, s, head),
                        s.starts_with(bytes),
                        "{s:?} starts_with {bytes:?}"
                    );
                    assert_eq!(
                        super::ends_with_in(blob, needle, s, tail),
                        s.ends_with(bytes),
                        "{s:?} ends_with {bytes:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_bucket_falls_in_the_first_arm_ending_past_it() {
        let arm = |end, variation| Arm { end, variation };
        let arms = [arm(1000, 7), arm(5000, 8), arm(10_000, 9)];
        for (b, want) in [(0, 7), (999, 7), (1000, 8), (4999, 8), (5000, 9), (9999, 9)] {
            assert_eq!(arm_for(&arms, b), Some(want), "bucket {b}");
        }
        // An arm of zero width is never chosen; no arm past the last end.
        let arms = [arm(0, 1), arm(10_000, 2)];
        assert_eq!(arm_for(&arms, 0), Some(2));
        assert_eq!(arm_for(&arms, 10_000), None);
        assert_eq!(arm_for(&[], 5), None);
    }

    const RULES: &str = r#"
flag dark { default on }
flag copy { variations { a: "Buy", b: "Order" } default b }
flag limit { variations { low: 10, high: 99.5 } default high }
flag config { variations { x: {"k": [1]}, y: {"k": []} } default x }
"#;

    #[test]
    fn typed_accessors_serve_values_or_the_callers_default() {
        let ruleset = compile_text(RULES);
        let context = Context::with_key("u");
        let p = ruleset.prepare(&context);
        assert!(p.bool_value("dark", false));
        assert_eq!(p.string_value("copy", "fallback"), "Order");
        assert_eq!(p.number_value("limit", 0.0), 99.5);
        assert_eq!(
            p.json_value("config", &serde_json::json!(null)),
            &serde_json::json!({"k": [1]})
        );
        // Unknown flag or wrong type: the caller's default.
        assert!(p.bool_value("nope", true));
        assert_eq!(p.string_value("limit", "fallback"), "fallback");
        assert_eq!(p.number_value("copy", -1.0), -1.0);
        assert!(!p.bool_value("copy", false));
        // The detailed call says why.
        let wrong = p.typed_detail("copy", serde_json::Value::is_boolean);
        assert_eq!(
            (wrong.reason, wrong.error, wrong.value),
            (Reason::Error, Some(ErrorCode::TypeMismatch), None)
        );
        let right = p.typed_detail("copy", serde_json::Value::is_string);
        assert_eq!(
            (right.reason, right.variation),
            (Reason::Default, Some("b"))
        );
        let missing = p.typed_detail("nope", serde_json::Value::is_string);
        assert_eq!(missing.error, Some(ErrorCode::FlagNotFound));
    }
}
