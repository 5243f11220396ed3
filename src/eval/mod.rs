//! Evaluation over the compiled decision tables.
//!
//! [`Ruleset::prepare`] binds a [`Context`] to a ruleset once: the context
//! key is looked up in the interned key table and every attribute the rules
//! use is resolved to a slot by a merge-join of two sorted name lists. The
//! resulting [`Prepared`] answers any number of flags without allocating:
//! a flag is found by key through a hash index, targets are roaring bitmap
//! probes, conditions are jump programs, splits are one xxh3 and a scan of a
//! small cumulative table.

use std::cell::Cell;

use smallvec::SmallVec;

use crate::compile::strings::StrId;
use crate::compile::tables::*;
use std::cmp::Ordering;

use crate::context::{name_order_bytes, Attr, Context, Element};
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
/// A memo slot not yet computed.
const UNKNOWN: u32 = u32::MAX;

/// A context bound to one ruleset, ready to evaluate any of its flags.
///
/// Besides the attribute slots it caches, per evaluation context, what does
/// not change from one flag to the next: which interned constant a string
/// attribute equals (so `==` and short `in` lists compare integers), the last
/// semantic version and the last instant parsed from an attribute, and the answers of segments and
/// prerequisite flags (so each is computed at most once, which is what makes
/// the complexity caps bound the work). The caches are `Cell`s: a `Prepared`
/// is meant for one thread, for one request.
#[derive(Debug, Clone)]
pub struct Prepared<'r, 'c> {
    rules: &'r Ruleset,
    context: &'c Context,
    /// For each attribute id: the index of the attribute in the context, or NONE.
    slots: SmallVec<[u32; 32]>,
    /// For each attribute id: the string constant its value equals
    /// ([`UNRESOLVED`] until asked, [`NO_CONSTANT`] when none).
    constants: SmallVec<[Cell<u32>; 32]>,
    /// The last version parsed: (attribute id, version), NONE when empty.
    version: Cell<(u32, Option<semver::VersionRef<'c>>)>,
    /// The last instant parsed from a string: (attribute id, instant), NONE when empty.
    instant: Cell<(u32, Option<date::Instant>)>,
    /// Memoized segment answers (0/1) and prerequisite variations, [`UNKNOWN`] until computed.
    memo: SmallVec<[Cell<u32>; 16]>,
    /// The interned id of the context key, or NONE.
    key: u32,
}

impl Ruleset {
    /// Binds a context to this ruleset.
    pub fn prepare<'r, 'c>(&'r self, context: &'c Context) -> Prepared<'r, 'c> {
        let mut slots: SmallVec<[u32; 32]> = SmallVec::with_capacity(self.attrs.len());
        let count = context.len();
        let mut at = 0;
        for &name in &self.attrs {
            let name = self.strings.get(name).as_bytes();
            let mut order = Ordering::Greater;
            while at < count {
                order = name_order_bytes(context.name_bytes_at(at), name);
                if order != Ordering::Less {
                    break;
                }
                at += 1;
            }
            slots.push(if at < count && order == Ordering::Equal {
                at as u32
            } else {
                NONE
            });
        }
        let key = context
            .key()
            .and_then(|k| self.keys.find(k))
            .unwrap_or(NONE);
        let constants = (0..self.attrs.len())
            .map(|_| Cell::new(UNRESOLVED))
            .collect();
        let memo = (0..self.derived.memo_len)
            .map(|_| Cell::new(UNKNOWN))
            .collect();
        Prepared {
            rules: self,
            context,
            slots,
            constants,
            version: Cell::new((NONE, None)),
            instant: Cell::new((NONE, None)),
            memo,
            key,
        }
    }

    /// Finds a flag by key.
    pub fn flag(&self, key: &str) -> Option<FlagRef> {
        self.flag_keys.find(key).map(FlagRef)
    }

    /// The keys of all flags, in definition order.
    pub fn flag_keys(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.flags.len() as u32).map(|i| self.flag_keys.name(i))
    }

    /// Number of flags.
    pub fn flag_count(&self) -> usize {
        self.flags.len()
    }

    /// Evaluates one flag for one context (binds the context first; prefer
    /// [`Ruleset::prepare`] when evaluating several flags).
    pub fn evaluate<'r>(&'r self, flag: &str, context: &Context) -> Detail<'r> {
        self.prepare(context).detail(flag)
    }
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
    pub fn detail_of(&self, flag: FlagRef) -> Detail<'r> {
        let Some(row) = self.rules.flags.get(flag.0 as usize) else {
            return Detail::not_found();
        };
        let decision = self.decide(row, 0);
        let variation = self
            .rules
            .variations
            .get(row.variations.start as usize + decision.variation as usize);
        match variation {
            Some(v) => Detail {
                value: Some(&v.value),
                variation: Some(self.rules.strings.get(v.name)),
                reason: decision.reason,
                matched: decision.matched,
                error: None,
            },
            None => Detail::not_found(),
        }
    }

    /// Every flag's answer, in definition order.
    pub fn all(&self) -> impl Iterator<Item = (&'r str, Detail<'r>)> + use<'_, 'r, 'c> {
        let rules = self.rules;
        (0..rules.flags.len() as u32)
            .map(move |i| (rules.flag_keys.name(i), self.detail_of(FlagRef(i))))
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

    fn decide(&self, flag: &'r Flag, depth: u32) -> Decision<'r> {
        let rules = self.rules;
        if !flag.enabled {
            return Decision {
                variation: flag.when_disabled,
                reason: Reason::Disabled,
                matched: None,
            };
        }
        if self.key != NONE {
            for target in &rules.targets[flag.targets.range()] {
                if target.keys.contains(self.key) {
                    return Decision {
                        variation: target.variation,
                        reason: Reason::TargetingMatch,
                        matched: Some(Matched::Target),
                    };
                }
            }
        }
        for (index, rule) in rules.rules[flag.rules.range()].iter().enumerate() {
            if !self.run(rule.entry, depth) {
                continue;
            }
            let name = (rule.name != NONE).then(|| rules.strings.get(StrId(rule.name)));
            let matched = Some(Matched::Rule {
                index: index as u32,
                name,
            });
            match rule.serve {
                ServeRef::Variation(variation) => {
                    return Decision {
                        variation,
                        reason: Reason::TargetingMatch,
                        matched,
                    }
                }
                ServeRef::Split(split) => {
                    if let Some(variation) = self.split(split) {
                        return Decision {
                            variation,
                            reason: Reason::Split,
                            matched,
                        };
                    }
                }
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

    /// The variation a split serves, or `None` when the context cannot be bucketed.
    fn split(&self, split: u32) -> Option<u32> {
        let rules = self.rules;
        let split = rules.splits.get(split as usize)?;
        let salt = rules.strings.get(split.salt);
        let b = if split.by == NONE {
            bucket::bucket(salt, self.context.key()?)
        } else {
            match self.attr(split.by)? {
                Attr::Str(s) => bucket::bucket(salt, s),
                Attr::Num(n) => bucket::bucket_integer(salt, bucket::integral(n)?),
                _ => return None,
            }
        };
        rules.arms[split.arms.range()]
            .iter()
            .find(|arm| b < arm.end)
            .map(|arm| arm.variation)
    }

    #[inline]
    fn attr(&self, id: u32) -> Option<Attr<'c>> {
        let slot = *self.slots.get(id as usize)?;
        (slot != NONE).then(|| self.context.attr_at(slot as usize))
    }

    /// Runs a condition program from `entry`.
    fn run(&self, entry: u32, depth: u32) -> bool {
        let code = &self.rules.code;
        let mut pc = entry;
        loop {
            let Some(instr) = code.get(pc as usize) else {
                return false;
            };
            pc = if self.atom(&instr.atom, depth) {
                instr.on_true
            } else {
                instr.on_false
            };
            match pc {
                JUMP_TRUE => return true,
                JUMP_FALSE => return false,
                _ => {}
            }
        }
    }

    fn atom(&self, atom: &Atom, depth: u32) -> bool {
        match *atom {
            Atom::Exists(attr) => self.attr(attr).is_some(),
            Atom::Cmp { attr, negate, pred } => match self.attr(attr) {
                None => false,
                Some(Attr::List(items)) => items.iter().any(|e| self.element(&pred, &e)) != negate,
                Some(Attr::Str(s)) => match self.string(attr, s, &pred) {
                    Some(hit) => hit != negate,
                    None => false,
                },
                Some(scalar) => match self.scalar(&pred, &scalar) {
                    Some(hit) => hit != negate,
                    None => false,
                },
            },
            Atom::Segment(segment) => {
                self.memoized(
                    self.rules.derived.segment_memo.get(segment as usize),
                    || u32::from(depth < MAX_DEPTH && self.segment(segment, depth + 1)),
                ) == 1
            }
            Atom::Prereq(flag, variation) => {
                self.memoized(
                    self.rules.derived.flag_memo.get(flag as usize),
                    || match self.rules.flags.get(flag as usize) {
                        Some(f) if depth < MAX_DEPTH => self.decide(f, depth + 1).variation,
                        _ => NONE,
                    },
                ) == variation
            }
        }
    }

    /// The memoized value of a memo slot, computing it on first use.
    fn memoized(&self, slot: Option<&u32>, compute: impl FnOnce() -> u32) -> u32 {
        let cell = slot.and_then(|&i| self.memo.get(i as usize));
        if let Some(cell) = cell {
            let known = cell.get();
            if known != UNKNOWN {
                return known;
            }
        }
        let value = compute();
        if let Some(cell) = cell {
            cell.set(value);
        }
        value
    }

    /// A string attribute against a predicate: equality and short lists by
    /// interned id, versions through the one-entry cache, the rest by text.
    fn string(&self, attr: u32, s: &'c str, pred: &Pred) -> Option<bool> {
        match *pred {
            Pred::StrEq(id) => Some(self.constant(attr, s) == id.0),
            Pred::StrIn(range) if range.len <= 16 => {
                let constant = self.constant(attr, s);
                let set = self.rules.str_sets.get(range.range())?;
                Some(constant != NO_CONSTANT && set.iter().any(|id| id.0 == constant))
            }
            Pred::Semver(rel, i) => {
                let (cached, version) = self.version.get();
                let version = if cached == attr {
                    version
                } else {
                    let parsed = semver::parse(s);
                    self.version.set((attr, parsed));
                    parsed
                }?;
                let lit = self.rules.versions.get(i as usize)?;
                Some(rel.holds(version.precedence(&lit.as_ref())))
            }
            Pred::Date(rel, i) => {
                let (cached, instant) = self.instant.get();
                let instant = if cached == attr {
                    instant
                } else {
                    let parsed = date::parse_rfc3339(s);
                    self.instant.set((attr, parsed));
                    parsed
                }?;
                Some(rel.holds(instant.cmp(self.rules.instants.get(i as usize)?)))
            }
            _ => self.test(pred, Value::Str(s)),
        }
    }

    /// The interned constant equal to attribute `attr`'s string value `s`, or [`NO_CONSTANT`].
    fn constant(&self, attr: u32, s: &str) -> u32 {
        let Some(cell) = self.constants.get(attr as usize) else {
            return NO_CONSTANT;
        };
        let known = cell.get();
        if known != UNRESOLVED {
            return known;
        }
        let rules = self.rules;
        let found = if rules.derived.string_slots.is_empty() {
            // A ruleset without lookup aids: find the constant by scanning.
            (0..rules.strings.len() as u32).find(|&i| rules.strings.get(StrId(i)) == s)
        } else {
            crate::compile::strings::find_in(&rules.strings, &rules.derived.string_slots, s)
        };
        let found = found.unwrap_or(NO_CONSTANT);
        cell.set(found);
        found
    }

    fn segment(&self, segment: u32, depth: u32) -> bool {
        let Some(segment) = self.rules.segments.get(segment as usize) else {
            return false;
        };
        if self.key != NONE {
            if segment.include.contains(self.key) {
                return true;
            }
            if segment.exclude.contains(self.key) {
                return false;
            }
        }
        segment.entry != NONE && self.run(segment.entry, depth)
    }

    /// An array element against a predicate: `contains` means element equality.
    fn element(&self, pred: &Pred, element: &Element) -> bool {
        let value = match element {
            Element::Str(s) => Value::Str(s),
            Element::Num(n) => Value::Num(*n),
            Element::Other => return false,
        };
        match (pred, value) {
            (Pred::ContainsStr(s), Value::Str(e)) => self.rules.strings.get(*s) == e,
            (Pred::ContainsNum(n), Value::Num(e)) => e == *n,
            (Pred::ContainsStr(_) | Pred::ContainsNum(_), _) => false,
            _ => self.test(pred, value) == Some(true),
        }
    }

    /// A scalar attribute against a predicate; `None` when the types differ.
    fn scalar(&self, pred: &Pred, attr: &Attr) -> Option<bool> {
        let value = match attr {
            Attr::Str(s) => Value::Str(s),
            Attr::Num(n) => Value::Num(*n),
            Attr::Bool(b) => Value::Bool(*b),
            Attr::List(_) | Attr::Object => return None,
        };
        self.test(pred, value)
    }

    fn test(&self, pred: &Pred, value: Value<'_>) -> Option<bool> {
        let rules = self.rules;
        match (*pred, value) {
            (Pred::StrEq(s), Value::Str(v)) => Some(rules.strings.get(s) == v),
            (Pred::Num(rel, n), Value::Num(v)) => v.partial_cmp(&n).map(|o| rel.holds(o)),
            (Pred::BoolEq(b), Value::Bool(v)) => Some(b == v),
            (Pred::Semver(rel, i), Value::Str(v)) => {
                let attr = semver::parse(v)?;
                let lit = rules.versions.get(i as usize)?;
                Some(rel.holds(attr.precedence(&lit.as_ref())))
            }
            (Pred::Date(rel, i), Value::Str(v)) => {
                let attr = date::parse_rfc3339(v)?;
                Some(rel.holds(attr.cmp(rules.instants.get(i as usize)?)))
            }
            (Pred::Date(rel, i), Value::Num(v)) => {
                let attr = date::from_epoch_millis(v)?;
                Some(rel.holds(attr.cmp(rules.instants.get(i as usize)?)))
            }
            (Pred::StrIn(range), Value::Str(v)) => {
                let set = rules.str_sets.get(range.range())?;
                Some(
                    set.binary_search_by(|id| rules.strings.get(*id).cmp(v))
                        .is_ok(),
                )
            }
            (Pred::NumIn(range), Value::Num(v)) => {
                let set = rules.num_sets.get(range.range())?;
                Some(
                    set.binary_search_by(|n| n.partial_cmp(&v).unwrap_or(std::cmp::Ordering::Less))
                        .is_ok(),
                )
            }
            (Pred::EmptyIn, Value::Str(_) | Value::Num(_)) => Some(false),
            (Pred::ContainsStr(s), Value::Str(v)) => Some(v.contains(rules.strings.get(s))),
            (Pred::StartsWith(s), Value::Str(v)) => Some(v.starts_with(rules.strings.get(s))),
            (Pred::EndsWith(s), Value::Str(v)) => Some(v.ends_with(rules.strings.get(s))),
            (Pred::Matches(i), Value::Str(v)) => Some(rules.regexes.get(i as usize)?.1.is_match(v)),
            _ => None,
        }
    }
}

/// A scalar seen by a predicate.
#[derive(Clone, Copy)]
enum Value<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
}

#[cfg(test)]
mod tests {
    use crate::check::Source;
    use crate::compile::{compile_sources, CompileOptions};
    use crate::context::Context;
    use crate::detail::{ErrorCode, Reason};

    const RULES: &str = r#"
flag dark { default on }
flag copy { variations { a: "Buy", b: "Order" } default b }
flag limit { variations { low: 10, high: 99.5 } default high }
flag config { variations { x: {"k": [1]}, y: {"k": []} } default x }
"#;

    #[test]
    fn typed_accessors_serve_values_or_the_callers_default() {
        let sources = [Source {
            name: "t.flags".into(),
            text: RULES.into(),
        }];
        let ruleset = compile_sources(&sources, &CompileOptions::default()).expect("compiles");
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
