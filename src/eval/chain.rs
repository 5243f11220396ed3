//! Each flag's rules laid out as one condition program.
//!
//! A rule's program ends at `JUMP_TRUE` (the rule matches) or `JUMP_FALSE`
//! (go on to the next rule). Run rule by rule, every rule pays for a turn
//! of the rule loop and a fresh start of the op loop. A *chain* copies a
//! flag's rule programs one after another, after the ops of
//! `Ruleset::code`, so that a rule's `JUMP_FALSE` is a jump to the next
//! rule's first op and its `JUMP_TRUE` a terminal that names the rule
//! ([`matched_rule`]): the op loop then runs once for the whole flag and
//! stops only at the rule that matches or at the end.
//!
//! A rule's program is copied as the span of ops from its entry to past
//! the last op it can jump to (for compiled rules, exactly its ops). Jumps
//! stay strictly forward (a span keeps its order, and the next rule's span
//! is laid out after it), so a chain ends like any program. Programs that
//! rules share are copied once per rule; a snapshot whose rules share
//! programs so much that the chains would outgrow [`budget`] keeps the
//! remaining flags unchained, run rule by rule.

use super::ops::Op;
use crate::compile::tables::{Rule, Ruleset, JUMP_FALSE, JUMP_TRUE};

/// The terminal of rule 0 of a chain; rule `i` ends at `MATCHED - i`.
const MATCHED: u32 = JUMP_FALSE - 1;

/// Flags with this many rules or more are not chained, so the terminals of
/// their rules can never be mistaken for an op index.
const MAX_RULES: usize = 1 << 20;

/// No chain starts at or past this op index (far below [`MATCHED`] minus
/// [`MAX_RULES`]).
const MAX_OPS: usize = 1 << 30;

/// How many ops the chains of a ruleset may add: all of its ops twice over,
/// and a little more for tiny rulesets. Compiled rules share no programs,
/// so their chains add at most as many ops as the code has.
fn budget(code_len: usize) -> usize {
    code_len.saturating_mul(2).saturating_add(4096)
}

/// The terminal a chain reaches when rule `index` matches.
#[inline(always)]
fn matched(index: usize) -> u32 {
    MATCHED - index as u32
}

/// The local index of the rule a chain terminal `pc` says matched, or
/// `None` for `JUMP_FALSE` (no rule matched).
#[inline(always)]
pub(crate) fn matched_rule(pc: u32) -> Option<usize> {
    debug_assert!(
        pc != JUMP_TRUE,
        "chains end at a rule's terminal, not JUMP_TRUE"
    );
    (pc <= MATCHED).then(|| (MATCHED - pc) as usize)
}

/// Where each flag's chain starts, rule by rule.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chains {
    /// Per flag: where its rules' entries start in `entries` (it has one
    /// per rule), or `None` when its rules are run one by one.
    pub(crate) flags: Vec<Option<u32>>,
    /// The op index each chained rule's program starts at, flag after flag.
    pub(crate) entries: Vec<u32>,
}

impl Chains {
    /// The chain entries of flag `flag`'s `count` rules, if it is chained.
    #[inline(always)]
    pub(crate) fn of(&self, flag: u32, count: usize) -> Option<&[u32]> {
        let start = (*self.flags.get(flag as usize)?)? as usize;
        self.entries.get(start..start + count)
    }
}

/// Appends every flag's chain to `ops` (the lowered ops of `rules.code()`,
/// which must be all of `ops` when this is called).
pub(crate) fn build(rules: &Ruleset, ops: &mut Vec<Op>) -> Chains {
    let code_len = ops.len();
    build_within(rules, ops, budget(code_len))
}

/// [`build`], adding at most `limit` ops.
fn build_within(rules: &Ruleset, ops: &mut Vec<Op>, limit: usize) -> Chains {
    let code_len = ops.len();
    let limit = limit.min(MAX_OPS.saturating_sub(code_len));
    let mut chains = Chains {
        flags: Vec::with_capacity(rules.flag_rows().len()),
        entries: Vec::new(),
    };
    // Compiled rules' chains are at most as long as the code.
    ops.reserve(code_len.min(limit));
    let mut spans: Vec<(u32, u32)> = Vec::new();
    let mut exhausted = false;
    for flag in rules.flag_rows() {
        let flag_rules = rules.rules(flag.rules);
        let room = limit.saturating_sub(ops.len() - code_len);
        if exhausted
            || flag_rules.len() >= MAX_RULES
            || !program_spans(&ops[..code_len], flag_rules, room, &mut spans)
        {
            // Once one flag does not fit, no later one is tried: the work
            // of finding out is bounded by the budget too.
            exhausted = true;
            chains.flags.push(None);
            continue;
        }
        chains.flags.push(Some(chains.entries.len() as u32));
        // Rule `i`'s copy starts where the copies before it end.
        let first = chains.entries.len();
        let mut at = ops.len() as u32;
        for &(start, end) in &spans {
            chains.entries.push(at);
            at += end - start;
        }
        for (i, &(start, end)) in spans.iter().enumerate() {
            let entry = chains.entries[first + i];
            let next = chains
                .entries
                .get(first + i + 1)
                .copied()
                .unwrap_or(JUMP_FALSE);
            let remap = |target: u32| match target {
                JUMP_TRUE => matched(i),
                JUMP_FALSE => next,
                // Inside the span by construction (`program_spans`).
                t => entry + (t - start),
            };
            let copy = ops.len();
            ops.extend_from_within(start as usize..end as usize);
            for op in &mut ops[copy..] {
                op.on_true = remap(op.on_true);
                op.on_false = remap(op.on_false);
            }
        }
    }
    chains
}

/// The span of ops `[start, end)` each of `flag_rules`' programs lies in,
/// into `spans`: from the rule's entry to past the last op any op of the
/// span jumps to (jumps go strictly forward, so one pass finds it; a
/// compiled rule's program is exactly its span). `false` when the spans
/// come to more than `room` ops (the pass stops there).
fn program_spans(
    ops: &[Op],
    flag_rules: &[Rule],
    room: usize,
    spans: &mut Vec<(u32, u32)>,
) -> bool {
    spans.clear();
    let code_len = ops.len() as u32;
    let mut total = 0usize;
    for rule in flag_rules {
        let start = rule.entry;
        let mut end = start.saturating_add(1);
        let mut o = start;
        while o < end {
            let Some(op) = ops.get(o as usize) else {
                return false;
            };
            for t in [op.on_true, op.on_false] {
                if t < code_len {
                    end = end.max(t + 1);
                }
            }
            o += 1;
        }
        total += (end - start) as usize;
        if total > room {
            return false;
        }
        spans.push((start, end));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;
    use crate::detail::{Matched, Reason};

    use crate::compile::compile_text as compile;

    const TWO_FLAGS: &str = r#"
flag a {
  rule "pro" if plan == "pro" and age > 20 => on
  rule "de" if country == "DE" or country == "AT" => on
}
flag b {
  rule "x" if plan == "x" => on
}
flag c { default on }
"#;

    #[test]
    fn terminals_name_the_rule_and_never_an_op() {
        for i in [0, 1, 7, MAX_RULES - 1] {
            assert_eq!(matched_rule(matched(i)), Some(i));
            assert!(matched(i) as usize > MAX_OPS);
        }
        assert_eq!(matched_rule(JUMP_FALSE), None);
    }

    #[test]
    fn a_chain_runs_each_rule_into_the_next() {
        let rules = compile(TWO_FLAGS);
        let lowered = &rules.derived().lowered;
        let code_len = rules.code().len();
        let a = lowered.chains.of(0, 2).expect("flag a is chained");
        assert_eq!(a.len(), 2);
        // Rule 0 is two ops (`and`), rule 1 two ops (`or`), laid out in order.
        assert_eq!(a[0] as usize, code_len);
        assert_eq!(a[1], a[0] + 2);
        let op = |pc: u32| lowered.ops[pc as usize];
        // `plan == "pro"` false: on to rule 1; true: `age > 20`.
        assert_eq!(op(a[0]).on_false, a[1]);
        assert_eq!(op(a[0]).on_true, a[0] + 1);
        assert_eq!(op(a[0] + 1).on_true, matched(0));
        assert_eq!(op(a[0] + 1).on_false, a[1]);
        // The last rule falls off the end of the chain.
        assert_eq!(op(a[1]).on_true, matched(1));
        assert_eq!(op(a[1]).on_false, a[1] + 1);
        assert_eq!(op(a[1] + 1).on_false, JUMP_FALSE);
        // The copies test what the rules' own ops test.
        let entry = rules.rules(rules.flag_row(0).rules)[1].entry;
        assert_eq!(op(a[1]).test, lowered.ops[entry as usize].test);
        // A flag without rules has an empty chain.
        assert_eq!(lowered.chains.of(2, 0), Some(&[][..]));
    }

    #[test]
    fn flags_past_the_budget_stay_unchained() {
        let rules = compile(TWO_FLAGS);
        let mut ops = rules.derived().lowered.ops[..rules.code().len()].to_vec();
        // Room for flag a's four ops only: b, and every flag after it, is not tried.
        let chains = build_within(&rules, &mut ops, 4);
        assert!(chains.flags[0].is_some());
        assert_eq!(chains.flags[1..], [None, None]);
        assert_eq!(ops.len(), rules.code().len() + 4);
        let mut ops = rules.derived().lowered.ops[..rules.code().len()].to_vec();
        let chains = build_within(&rules, &mut ops, 3);
        assert_eq!(chains.flags, [None, None, None]);
        assert_eq!(ops.len(), rules.code().len());
    }

    #[test]
    fn rules_sharing_one_program_past_the_budget_still_evaluate() {
        // A hand-made snapshot may point every rule at the same program;
        // copied per rule it would outgrow the budget.
        let mut tables = compile(TWO_FLAGS).into_tables();
        let shared = tables.rules[0];
        let start = tables.rules.len() as u32;
        let count = 6000;
        tables.rules.extend(std::iter::repeat_n(shared, count));
        tables.flags[1].rules = crate::compile::tables::Range32 {
            start,
            len: count as u32,
        };
        let rules = Ruleset::from_tables(tables, crate::compile::tables::Regexes::Compile)
            .expect("valid tables");
        let lowered = &rules.derived().lowered;
        assert!(lowered.chains.flags[0].is_some());
        assert_eq!(
            lowered.chains.flags[1], None,
            "12,000 copied ops are past the budget"
        );
        assert!(lowered.ops.len() <= rules.code().len() + budget(rules.code().len()));
        let pro = Context::builder("u")
            .string("plan", "pro")
            .number("age", 30.0)
            .build()
            .expect("a valid context");
        let d = rules.evaluate("b", &pro);
        assert_eq!(d.reason, Reason::TargetingMatch);
        assert!(matches!(d.matched, Some(Matched::Rule { index: 0, .. })));
        let d = rules.evaluate("b", &Context::with_key("u"));
        assert_eq!(d.reason, Reason::Default);
    }

    #[test]
    fn a_rule_whose_split_cannot_bucket_hands_on_to_the_next() {
        let rules = compile(
            r#"
flag f {
  rule "by-org" if plan == "pro" => split by org { on: 100% }
  rule "pro" if plan == "pro" => on
}
"#,
        );
        assert!(rules.derived().lowered.chains.flags[0].is_some());
        let without_org = Context::builder("u")
            .string("plan", "pro")
            .build()
            .expect("a valid context");
        let d = rules.evaluate("f", &without_org);
        assert_eq!(d.reason, Reason::TargetingMatch);
        assert!(matches!(
            d.matched,
            Some(Matched::Rule {
                index: 1,
                name: Some("pro")
            })
        ));
        let with_org = Context::builder("u")
            .string("plan", "pro")
            .string("org", "o")
            .build()
            .expect("a valid context");
        let d = rules.evaluate("f", &with_org);
        assert_eq!(d.reason, Reason::Split);
        assert!(matches!(d.matched, Some(Matched::Rule { index: 0, .. })));
    }
}
