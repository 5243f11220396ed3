//! What attributes a rule cannot hold without.
//!
//! An op on an attribute the context lacks answers false, negated or not
//! (SPEC §2), so a rule whose every way to `JUMP_TRUE` passes an op on
//! attribute `a` with a true outcome cannot hold for a context without
//! `a`. For each rule, the set of such attributes is computed once at
//! load, as a [`Presence`] mask of their symbols; a context carries the
//! mask of its own attributes' symbols (`Context::presence`). A rule whose
//! mask has a bit the context's lacks is skipped without running an op:
//! in a large project most rules read attributes a given context does not
//! have. Bits are symbols modulo 64, so two names can share one: a shared
//! bit can only make a rule look possible when it is not (it then runs,
//! and fails), never the other way round.
//!
//! Over a program's ops (jumps go strictly forward, validated), processed
//! from the last: `needs(op) = (needs(on_true) ∪ {op's attribute}) ∩
//! needs(on_false)`, with `needs(JUMP_TRUE) = ∅` and `needs(JUMP_FALSE) =`
//! everything (no way to true). Segments and prerequisites read no
//! attribute of their own and add nothing; a `not (…)` swaps its jumps, so
//! its attribute is needed by neither side and drops out.

use super::ops::{Op, Test};
use crate::compile::tables::{Ruleset, JUMP_FALSE, JUMP_TRUE};
use crate::context::symbols::NO_SYMBOL;

/// A set of attribute symbols, one bit per symbol modulo 64.
pub(crate) type Presence = u64;

/// The bit of the attribute whose name has symbol `symbol`; none for a
/// name without a symbol (such names are found by text, and a rule's
/// mask must not ask for a bit no context sets).
#[inline]
pub(crate) fn presence_bit(symbol: u32) -> Presence {
    if symbol == NO_SYMBOL {
        0
    } else {
        1 << (symbol % 64)
    }
}

/// The attributes an op's true outcome proves present.
fn proves(op: &Op) -> Presence {
    match op.test {
        Test::Segment(_) | Test::Prereq { .. } => 0,
        _ => presence_bit(op.symbol),
    }
}

/// What every way to `JUMP_TRUE` from jump target `target` needs, given
/// `needs` per op. An op not yet computed, or a target that is neither an
/// op nor an end (validation rules both out), holds 0 or is taken as 0:
/// needing nothing is always safe.
fn at(needs: &[Presence], target: u32) -> Presence {
    match target {
        JUMP_TRUE => 0,
        JUMP_FALSE => Presence::MAX,
        t => needs.get(t as usize).copied().unwrap_or(0),
    }
}

/// For each op of `ops`, what every way from it to `JUMP_TRUE` needs
/// (from the last op: jumps go strictly forward, so an op's targets are
/// computed before it).
fn per_op(ops: &[Op]) -> Vec<Presence> {
    let mut needs = vec![0; ops.len()];
    for (i, op) in ops.iter().enumerate().rev() {
        needs[i] = (at(&needs, op.on_true) | proves(op)) & at(&needs, op.on_false);
    }
    needs
}

/// What each rule of `rules` needs (parallel to the ruleset's rules), and
/// each flag the union of its rules' (parallel to its flags): a flag whose
/// union the context has can hold any rule, and runs its chain.
pub(crate) fn build(rules: &Ruleset, ops: &[Op]) -> (Vec<Presence>, Vec<Presence>) {
    let needs = per_op(ops);
    let by_rule: Vec<Presence> = rules
        .tables()
        .rules
        .iter()
        .map(|rule| at(&needs, rule.entry))
        .collect();
    let by_flag = rules
        .flag_rows()
        .iter()
        .map(|flag| {
            let range = flag.rules.range();
            by_rule
                .get(range)
                .map_or(0, |r| r.iter().fold(0, |u, n| u | n))
        })
        .collect();
    (by_rule, by_flag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile_text;
    use crate::context::symbols;
    use crate::context::Context;

    /// What each rule of the only flag of `text` needs.
    fn needs_of(text: &str) -> Vec<Presence> {
        let ruleset = compile_text(text);
        let lowered = &ruleset.derived().lowered;
        lowered.rule_needs(ruleset.flag_row(0).rules).to_vec()
    }

    fn bit(name: &str) -> Presence {
        presence_bit(symbols::intern(name))
    }

    #[test]
    fn a_rule_needs_what_every_way_to_true_reads() {
        let needs = needs_of(
            r#"flag f {
                default off
                rule if nd_a == "x" and nd_b > 3 => on
                rule if nd_a == "x" or nd_b > 3 => on
                rule if nd_a == "x" and (nd_b > 3 or nd_c > 3) => on
                rule if not (nd_a == "x") => on
                rule if nd_a != "x" => on
                rule if segment s and nd_c exists => on
                rule if nd_a == "x" and not (nd_b > 3) => on
            }
            segment s { include ["k"] }"#,
        );
        let (a, b, c) = (bit("nd_a"), bit("nd_b"), bit("nd_c"));
        assert_eq!(
            needs,
            vec![a | b, a & b, a, 0, a, c, a],
            "and: both; or: what both sides read; not: nothing; != still reads its attribute"
        );
    }

    #[test]
    fn skipping_a_rule_never_changes_an_answer() {
        // A rule that holds without the attribute it reads (`not`) is not
        // skipped; one that cannot hold without it is, and the flag then
        // goes on to its next rule.
        let ruleset = compile_text(
            r#"flag f {
                variations { a: "a", b: "b", c: "c", d: "d" }
                default d
                rule "needs-x" if sk_x == "1" and sk_y == "2" => a
                rule "not-x" if not (sk_x == "1") => b
                rule "y" if sk_y == "2" => c
            }"#,
        );
        let answer = |context: &Context| ruleset.evaluate("f", context).variation;
        let mut both = Context::with_key("k");
        both.set("sk_x", serde_json::json!("1")).unwrap();
        both.set("sk_y", serde_json::json!("2")).unwrap();
        assert_eq!(answer(&both), Some("a"));
        let mut y_only = Context::with_key("k");
        y_only.set("sk_y", serde_json::json!("2")).unwrap();
        assert_eq!(answer(&y_only), Some("b"), "not (missing == ..) holds");
        let mut x_only = Context::with_key("k");
        x_only.set("sk_x", serde_json::json!("1")).unwrap();
        assert_eq!(answer(&x_only), Some("d"));
        assert_ne!(x_only.presence() & bit("sk_x"), 0);
        assert_eq!(y_only.presence() & bit("sk_x"), 0);
    }

    #[test]
    fn flags_of_more_than_64_rules_skip_rule_by_rule() {
        // 70 rules on an attribute the context lacks, one on one it has,
        // at each side of the 64-rule mask.
        for at in [3, 66] {
            let mut text = String::from("flag f {\n variations { a: 1, b: 2 }\n default a\n");
            for i in 0..70 {
                if i == at {
                    text.push_str(" rule \"hit\" if ml_have == \"1\" => b\n");
                }
                text.push_str(&format!(" rule if ml_lack == \"{i}\" => a\n"));
            }
            text.push('}');
            let ruleset = compile_text(&text);
            let mut context = Context::with_key("k");
            context.set("ml_have", serde_json::json!("1")).unwrap();
            let detail = ruleset.evaluate("f", &context);
            assert_eq!(detail.variation, Some("b"), "the rule at {at}");
            assert_eq!(
                detail.matched,
                Some(crate::detail::Matched::Rule {
                    index: at,
                    name: Some("hit")
                })
            );
        }
    }
}
