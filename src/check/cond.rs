//! Conditions: names resolved, literals parsed and typed, per-condition caps.
//!
//! Takes one syntax condition (a rule's `if` or a segment's `match` line) and
//! hands on a [`Cond`]: parentheses dropped, `segment S` and
//! `flag F is V` resolved against the [`Namespace`], every `OP LITERAL` fused
//! into a [`Test`] that only admits what SPEC §6 allows (semver and date
//! literals parsed, regexes compiled under the size cap). The caps on atoms,
//! parenthesis depth and inline list size are enforced here, and every
//! reference to a flag or segment is recorded, in source order, for the cycle
//! and depth checks of `graph`.

use super::diagnostic::Diags;
use super::names::{Namespace, Node};
use super::program::{Cond, List, Needle, Ordered, Ordering, Scalar, Test};
use super::Limits;
use crate::syntax::ast::{self, Atom, Ident, LitKind, Literal, Op, Span};
use crate::values::date::{self, Instant};
use crate::values::semver::Version;

/// A reference from one definition to a flag or segment, where it is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ref {
    /// What is referred to.
    pub to: Node,
    /// The file it is written in.
    pub file: usize,
    /// The referred name as written.
    pub span: Span,
}

/// Everything lowering a condition needs.
pub(crate) struct CondCx<'c, 'a> {
    /// The names to resolve against.
    pub ns: &'c Namespace<'a>,
    /// The caps.
    pub limits: &'c Limits,
    /// The file the condition is in.
    pub file: usize,
    /// Where errors go.
    pub diags: &'c mut Diags,
    /// Where references go, in source order.
    pub refs: &'c mut Vec<Ref>,
}

/// Per-condition counters for the caps.
#[derive(Default)]
struct Budget {
    atoms: usize,
    atoms_reported: bool,
    depth_reported: bool,
}

/// Lowers one condition; `None` when anything in it was reported.
pub(crate) fn lower_condition(cond: &ast::Cond, cx: &mut CondCx<'_, '_>) -> Option<Cond> {
    let mut budget = Budget::default();
    lower(cond, 0, cx, &mut budget)
}

fn lower_all(
    conds: &[ast::Cond],
    depth: usize,
    cx: &mut CondCx<'_, '_>,
    budget: &mut Budget,
) -> Option<Vec<Cond>> {
    // Lower every operand (no short-circuit) so all errors are reported.
    let lowered: Vec<Option<Cond>> = conds.iter().map(|c| lower(c, depth, cx, budget)).collect();
    lowered.into_iter().collect()
}

fn lower(
    cond: &ast::Cond,
    depth: usize,
    cx: &mut CondCx<'_, '_>,
    budget: &mut Budget,
) -> Option<Cond> {
    match cond {
        ast::Cond::Or(conds) => lower_all(conds, depth, cx, budget).map(Cond::Any),
        ast::Cond::And(conds) => lower_all(conds, depth, cx, budget).map(Cond::All),
        ast::Cond::Not(inner, _) => lower(inner, depth, cx, budget).map(|c| Cond::Not(Box::new(c))),
        ast::Cond::Paren(inner, span) => {
            let depth = depth + 1;
            let over = depth > cx.limits.condition_depth;
            if over && !budget.depth_reported {
                budget.depth_reported = true;
                cx.diags.error(
                    cx.file,
                    *span,
                    format!(
                        "condition nesting depth {depth} is over the limit of {}; flatten it or move part of it into a segment",
                        cx.limits.condition_depth
                    ),
                );
            }
            // Over the cap, the inside is not lowered: one error is enough,
            // and nothing deeper is walked.
            if over {
                None
            } else {
                lower(inner, depth, cx, budget)
            }
        }
        ast::Cond::Atom(atom) => {
            budget.atoms += 1;
            let over = budget.atoms > cx.limits.atoms_per_condition;
            if over && !budget.atoms_reported {
                budget.atoms_reported = true;
                cx.diags.error(
                    cx.file,
                    atom_name(atom).span,
                    format!(
                        "condition has more than {} atoms (the limit); move part of it into a segment",
                        cx.limits.atoms_per_condition
                    ),
                );
            }
            let lowered = lower_atom(atom, cx);
            if over {
                None
            } else {
                lowered
            }
        }
    }
}

/// The name an atom starts with: where a cap error about it points.
fn atom_name(atom: &Atom) -> &Ident {
    match atom {
        Atom::Segment(name) => name,
        Atom::Prereq { flag, .. } => flag,
        Atom::Exists(attr) => attr,
        Atom::Compare { attr, .. } => attr,
    }
}

fn lower_atom(atom: &Atom, cx: &mut CondCx<'_, '_>) -> Option<Cond> {
    match atom {
        Atom::Segment(name) => {
            let Some(id) = cx.ns.segment(&name.name) else {
                cx.diags.error(
                    cx.file,
                    name.span,
                    format!(
                        "unknown segment `{}` (no segment of that name is defined)",
                        name.name
                    ),
                );
                return None;
            };
            cx.refs.push(Ref {
                to: Node::Segment(id),
                file: cx.file,
                span: name.span,
            });
            Some(Cond::Segment(id))
        }
        Atom::Prereq { flag, variation } => {
            let Some((id, head)) = cx.ns.flag(&flag.name) else {
                cx.diags.error(
                    cx.file,
                    flag.span,
                    format!(
                        "unknown flag `{}` (no flag of that name is defined)",
                        flag.name
                    ),
                );
                return None;
            };
            cx.refs.push(Ref {
                to: Node::Flag(id),
                file: cx.file,
                span: flag.span,
            });
            let Some(v) = head.table.find(&variation.name) else {
                cx.diags.error(
                    cx.file,
                    variation.span,
                    format!(
                        "unknown variation `{}` in flag `{}` (variations: {})",
                        variation.name,
                        flag.name,
                        head.table.names()
                    ),
                );
                return None;
            };
            Some(Cond::Prereq {
                flag: id,
                variation: v,
            })
        }
        Atom::Exists(attr) => Some(Cond::Exists(attr.name.clone())),
        Atom::Compare { attr, op, lit, .. } => {
            let test = lower_test(*op, lit, cx)?;
            Some(Cond::Compare {
                attr: attr.name.clone(),
                test,
            })
        }
    }
}

/// What a literal is, for messages.
fn describe(kind: &LitKind) -> &'static str {
    match kind {
        LitKind::Str(_) => "a string",
        LitKind::Num(_) => "a number",
        LitKind::Bool(_) => "a boolean",
        LitKind::List(_) => "a list",
        LitKind::Semver(..) => "a semver(...) version",
        LitKind::Date(..) => "a date(...)",
    }
}

/// What an operator accepts, for messages.
fn accepts(op: Op) -> &'static str {
    match op {
        Op::Lt | Op::Le | Op::Gt | Op::Ge => "a number, semver(...) or date(...)",
        Op::In | Op::NotIn => "a list of strings or a list of numbers",
        Op::StartsWith | Op::EndsWith => "a string",
        Op::Matches => "a string holding a regex",
        Op::Contains => "a string or a number",
        Op::Eq | Op::Ne => "a string, number, boolean, semver(...) or date(...)",
    }
}

/// `-0.0` and `0.0` are one number.
fn number(n: f64) -> f64 {
    if n == 0.0 {
        0.0
    } else {
        n
    }
}

fn lower_test(op: Op, lit: &Literal, cx: &mut CondCx<'_, '_>) -> Option<Test> {
    let wrong = |cx: &mut CondCx<'_, '_>| {
        cx.diags.error(
            cx.file,
            lit.span,
            format!(
                "operator `{}` takes {}, not {}",
                op.as_str(),
                accepts(op),
                describe(&lit.kind)
            ),
        );
        None
    };
    match op {
        Op::Eq | Op::Ne => {
            let scalar = match &lit.kind {
                LitKind::Str(s) => Scalar::Str(s.clone()),
                LitKind::Num(n) => Scalar::Num(number(*n)),
                LitKind::Bool(b) => Scalar::Bool(*b),
                LitKind::Semver(text, span) => Scalar::Semver(semver_literal(text, *span, cx)?),
                LitKind::Date(text, span) => Scalar::Date(date_literal(text, *span, cx)?),
                LitKind::List(_) => return wrong(cx),
            };
            Some(if op == Op::Eq {
                Test::Eq(scalar)
            } else {
                Test::Ne(scalar)
            })
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ordering = match op {
                Op::Lt => Ordering::Lt,
                Op::Le => Ordering::Le,
                Op::Gt => Ordering::Gt,
                _ => Ordering::Ge,
            };
            let ordered = match &lit.kind {
                LitKind::Num(n) => Ordered::Num(number(*n)),
                LitKind::Semver(text, span) => Ordered::Semver(semver_literal(text, *span, cx)?),
                LitKind::Date(text, span) => Ordered::Date(date_literal(text, *span, cx)?),
                _ => return wrong(cx),
            };
            Some(Test::Order(ordering, ordered))
        }
        Op::In | Op::NotIn => {
            let LitKind::List(items) = &lit.kind else {
                return wrong(cx);
            };
            let list = lower_list(op, items, lit.span, cx)?;
            Some(if op == Op::In {
                Test::In(list)
            } else {
                Test::NotIn(list)
            })
        }
        Op::Contains => match &lit.kind {
            LitKind::Str(s) => Some(Test::Contains(Needle::Str(s.clone()))),
            LitKind::Num(n) => Some(Test::Contains(Needle::Num(number(*n)))),
            _ => wrong(cx),
        },
        Op::StartsWith | Op::EndsWith => {
            let LitKind::Str(s) = &lit.kind else {
                return wrong(cx);
            };
            Some(if op == Op::StartsWith {
                Test::StartsWith(s.clone())
            } else {
                Test::EndsWith(s.clone())
            })
        }
        Op::Matches => {
            let LitKind::Str(pattern) = &lit.kind else {
                return wrong(cx);
            };
            regex_literal(pattern, lit.span, cx).map(Test::Matches)
        }
    }
}

fn lower_list(op: Op, items: &[Literal], span: Span, cx: &mut CondCx<'_, '_>) -> Option<List> {
    if items.len() > cx.limits.list_values {
        // Point at the first value over the cap.
        let at = items
            .get(cx.limits.list_values)
            .map_or(span, |item| item.span);
        cx.diags.error(
            cx.file,
            at,
            format!(
                "list has {} values, more than the limit of {} for an inline list; put large sets of keys in a segment",
                items.len(),
                cx.limits.list_values
            ),
        );
        return None;
    }
    let mut strs = Vec::new();
    let mut nums = Vec::new();
    for item in items {
        let offending = match &item.kind {
            LitKind::Str(s) if nums.is_empty() => {
                strs.push(s.clone());
                None
            }
            LitKind::Num(n) if strs.is_empty() => {
                nums.push(number(*n));
                None
            }
            LitKind::Str(_) => Some("a string in a list of numbers".to_string()),
            LitKind::Num(_) => Some("a number in a list of strings".to_string()),
            other => Some(describe(other).to_string()),
        };
        if let Some(what) = offending {
            cx.diags.error(
                cx.file,
                item.span,
                format!(
                    "operator `{}` takes a list of strings or a list of numbers, not {what}",
                    op.as_str()
                ),
            );
            return None;
        }
    }
    Some(if !strs.is_empty() {
        List::Strs(strs)
    } else if !nums.is_empty() {
        List::Nums(nums)
    } else {
        List::Empty
    })
}

fn semver_literal(text: &str, span: Span, cx: &mut CondCx<'_, '_>) -> Option<Version> {
    let version = Version::parse(text);
    if version.is_none() {
        cx.diags.error(
            cx.file,
            span,
            format!(
                "invalid semver literal `{text}`; expected MAJOR[.MINOR[.PATCH]][-PRE][+BUILD], e.g. \"2.3.0\""
            ),
        );
    }
    version
}

fn date_literal(text: &str, span: Span, cx: &mut CondCx<'_, '_>) -> Option<Instant> {
    let instant = date::parse_rfc3339(text);
    if instant.is_none() {
        cx.diags.error(
            cx.file,
            span,
            format!(
                "invalid date literal `{text}`; expected RFC 3339, e.g. \"2024-01-31T12:00:00Z\""
            ),
        );
    }
    instant
}

fn regex_literal(pattern: &str, span: Span, cx: &mut CondCx<'_, '_>) -> Option<regex::Regex> {
    match regex::RegexBuilder::new(pattern)
        .size_limit(cx.limits.regex_size)
        .build()
    {
        Ok(re) => Some(re),
        Err(regex::Error::CompiledTooBig(limit)) => {
            cx.diags.error(
                cx.file,
                span,
                format!(
                    "regex is too big: it compiles to more than {limit} bytes (the limit); Unicode classes are large, so prefer ASCII ones such as `(?-u:\\w)`, `[a-zA-Z0-9_]` or `[0-9]`, or simplify it"
                ),
            );
            None
        }
        Err(regex::Error::Syntax(text)) => {
            let reason = text
                .lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix("error: "))
                .unwrap_or("syntax error")
                .to_string();
            cx.diags
                .error(cx.file, span, format!("invalid regex: {reason}"));
            None
        }
        Err(other) => {
            cx.diags
                .error(cx.file, span, format!("invalid regex: {other}"));
            None
        }
    }
}
