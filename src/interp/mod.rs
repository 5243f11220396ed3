//! The reference interpreter: walks the checked [`Program`] directly.
//!
//! Written to be obviously correct, not fast: it is the definition of SPEC §2
//! that the compiled evaluator (`crate::eval`) is tested against. It takes a
//! [`Program`] from the checker and a [`Context`], and hands back a
//! [`Detail`]. This file holds the order in which a flag is decided and the
//! percentage splits; `cond.rs` says when a condition holds.
//!
//! The interpreter never panics on a context. It also does not trust the
//! program's indices blindly: an id out of range (which the checker never
//! produces) is treated as a flag that does not exist or a condition that does
//! not hold, and references nested deeper than [`MAX_REFERENCE_DEPTH`] (only
//! possible with a cycle the checker would have refused) stop holding instead
//! of overflowing the stack.

mod cond;
#[cfg(test)]
mod tests;

pub(crate) use cond::holds;

use crate::check::program::{Flag, Rule, Serve, Split, VariationId};
use crate::check::Program;
use crate::context::{Attr, Context};
use crate::detail::{Detail, Matched, Reason};
use crate::values::bucket;

/// How deep segment and prerequisite references may nest before the
/// interpreter gives up on them (the condition does not hold). The checker
/// refuses longer chains, so a checked program never reaches it.
pub use crate::limits::MAX_REFERENCE_DEPTH;

/// Evaluates flag `key` for `context`.
pub fn evaluate<'p>(program: &'p Program, key: &str, context: &Context) -> Detail<'p> {
    let Some((_, flag)) = program.flag(key) else {
        return Detail::not_found();
    };
    match decide(program, flag, context, 0) {
        Some(decision) => decision.detail(flag),
        None => Detail::not_found(),
    }
}

/// What a flag serves and why, before the variation is looked up.
#[derive(Debug, Clone, Copy)]
struct Decision<'p> {
    variation: VariationId,
    reason: Reason,
    matched: Option<Matched<'p>>,
}

impl<'p> Decision<'p> {
    fn new(variation: VariationId, reason: Reason, matched: Option<Matched<'p>>) -> Decision<'p> {
        Decision {
            variation,
            reason,
            matched,
        }
    }

    /// The decision as a [`Detail`] borrowing the variation from `flag`;
    /// not found when the variation id is out of range.
    fn detail(self, flag: &'p Flag) -> Detail<'p> {
        match flag.variations.get(self.variation.0 as usize) {
            Some(variation) => Detail {
                value: Some(&variation.value),
                variation: Some(&variation.name),
                reason: self.reason,
                matched: self.matched,
                error: None,
            },
            None => Detail::not_found(),
        }
    }
}

/// SPEC §2, steps 2–6, for one flag. `depth` counts the references
/// (segments, prerequisites) followed to get here. `None` only for a
/// malformed program (see the module docs).
fn decide<'p>(
    program: &'p Program,
    flag: &'p Flag,
    context: &Context,
    depth: usize,
) -> Option<Decision<'p>> {
    // 2. A disabled flag serves `when_disabled`.
    if !flag.enabled {
        return Some(Decision::new(flag.when_disabled, Reason::Disabled, None));
    }

    // 3. Individual targets.
    if let Some(key) = context.key() {
        for target in &flag.targets {
            if target.keys.iter().any(|k| k == key) {
                return Some(Decision::new(
                    target.variation,
                    Reason::TargetingMatch,
                    Some(Matched::Target),
                ));
            }
        }
    }

    // 4. Rules in order; a rule whose split cannot bucket does not match.
    for (index, rule) in flag.rules.iter().enumerate() {
        if !cond::holds(program, &rule.cond, context, depth) {
            continue;
        }
        let matched = Some(rule_matched(index, rule));
        match &rule.serve {
            Serve::Variation(variation) => {
                return Some(Decision::new(*variation, Reason::TargetingMatch, matched));
            }
            Serve::Split(split) => {
                if let Some(variation) = split_variation(split, &flag.salt, context) {
                    return Some(Decision::new(variation, Reason::Split, matched));
                }
            }
        }
    }

    // 5. The rollout, unless it cannot bucket.
    if let Some(rollout) = &flag.rollout {
        if let Some(variation) = split_variation(rollout, &flag.salt, context) {
            return Some(Decision::new(
                variation,
                Reason::Split,
                Some(Matched::Rollout),
            ));
        }
    }

    // 6. The default.
    Some(Decision::new(flag.default, Reason::Default, None))
}

fn rule_matched(index: usize, rule: &Rule) -> Matched<'_> {
    Matched::Rule {
        index: u32::try_from(index).unwrap_or(u32::MAX),
        name: rule.name.as_deref(),
    }
}

/// The variation a split picks for `context`, or `None` when the context
/// cannot be bucketed.
fn split_variation(split: &Split, salt: &str, context: &Context) -> Option<VariationId> {
    let value = bucketing_value(split, context)?;
    let bucket = bucket::bucket(salt, &value);
    // Arms take consecutive ranges: the first [0, w1), the next [w1, w1 + w2), ...
    let mut end = 0u32;
    for &(variation, width) in &split.arms {
        end = end.saturating_add(width);
        if bucket < end {
            return Some(variation);
        }
    }
    // Only reachable when the widths do not add up to 10,000.
    None
}

/// The text a split hashes: the context key, or the `by` attribute when it is
/// a string or an integral number (|x| ≤ 2^53, written in decimal).
fn bucketing_value(split: &Split, context: &Context) -> Option<String> {
    match &split.by {
        None => context.key().map(str::to_string),
        Some(attr) => match context.get(attr)? {
            Attr::Str(text) => Some(text.to_string()),
            Attr::Num(n) => bucket::integral(n).map(|i| i.to_string()),
            Attr::Bool(_) | Attr::List(_) | Attr::Object => None,
        },
    }
}

/// The variation flag `flag` serves `context`, whatever the reason: what a
/// prerequisite `flag F is V` looks at.
fn served_variation(
    program: &Program,
    flag: &Flag,
    context: &Context,
    depth: usize,
) -> Option<VariationId> {
    decide(program, flag, context, depth).map(|decision| decision.variation)
}
