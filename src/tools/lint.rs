//! `vexil lint`: what compiles but is almost certainly a mistake.
//!
//! [`lint`] takes the sources of one namespace, checks them (a file that
//! does not check gets its errors, not warnings), then reads their syntax
//! trees and hands back warnings as [`Diagnostic`]s, rendered like check
//! errors with `warning:`. The lints are syntactic, over conditions in a
//! normal form (parentheses dropped, `and`/`or` flattened), so they never
//! guess: each fires only when the text proves it.
//!
//! - **shadowed rule**: an earlier rule serving a plain variation has a
//!   condition the later one implies (the same condition, a subset of its
//!   `and`s, or one that is always true), or the rule only matches keys
//!   that a `target` list already serves;
//! - **constant condition**: `a == "x" and a == "y"`, `x > 5 and x < 3`,
//!   `c and not c` (always false for a single value), `c or not c`
//!   (always true);
//! - **unreachable rollout or default**: an earlier rule always holds and
//!   serves a plain variation;
//! - **unused segment**: no flag or segment mentions it;
//! - **prerequisite on a disabled flag**: `flag F is V` where `F` is
//!   `enabled false` (it always serves its `when_disabled` variation);
//! - **split of 100%**: a split whose arms give one variation every bucket
//!   could be a plain serve.

use std::collections::{HashMap, HashSet};

use crate::check::{self, Diagnostic, Limits, Source};
use crate::syntax::ast::{
    Atom, Cond, FlagDecl, FlagItemKind, Item, LitKind, Op, SegmentItem, Serve, SourceFile, Span,
    Split,
};

/// Lints a set of source files sharing one namespace. `Err` holds the check
/// errors of files that do not compile (nothing is linted then); `Ok` the
/// warnings, sorted by file and position.
pub fn lint(sources: &[Source], limits: &Limits) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
    check::check(sources, limits)?;
    let files: Vec<(usize, SourceFile)> = sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let text = s.text.strip_prefix('\u{feff}').unwrap_or(&s.text);
            crate::syntax::parse(text).ok().map(|f| (i, f))
        })
        .collect();
    let mut linter = Linter {
        warnings: Vec::new(),
        disabled: HashMap::new(),
        used_segments: HashSet::new(),
    };
    for (_, file) in &files {
        for item in &file.items {
            if let Item::Flag(flag) = item {
                if let Some(when) = disabled_serves(flag) {
                    linter.disabled.insert(flag.name.name.clone(), when);
                }
            }
        }
    }
    for (file, source) in &files {
        for item in &source.items {
            match item {
                Item::Flag(flag) => linter.flag(*file, flag),
                Item::Segment(segment) => {
                    for item in &segment.items {
                        if let SegmentItem::Match(cond) = item {
                            linter.used_in(cond);
                            if !too_deep(cond) {
                                linter.cond(*file, cond);
                            }
                        }
                    }
                }
            }
        }
    }
    for (file, source) in &files {
        for item in &source.items {
            if let Item::Segment(segment) = item {
                if !linter.used_segments.contains(&segment.name.name) {
                    linter.warn(
                        *file,
                        segment.name.span,
                        format!(
                            "segment `{}` is never used: no flag or segment refers to it",
                            segment.name.name
                        ),
                    );
                }
            }
        }
    }
    let mut warnings = linter.warnings;
    warnings.sort_by_key(|d| (d.file, d.span.start));
    Ok(warnings)
}

/// For a flag written `enabled false`: the variation it always serves.
fn disabled_serves(flag: &FlagDecl) -> Option<String> {
    let mut disabled = false;
    let mut when = None;
    let mut default = None;
    for item in &flag.items {
        match &item.kind {
            FlagItemKind::Enabled(false) => disabled = true,
            FlagItemKind::WhenDisabled(v) => when = Some(v.name.clone()),
            FlagItemKind::Default(v) => default = Some(v.name.clone()),
            _ => {}
        }
    }
    disabled.then(|| when.or(default).unwrap_or_else(|| "off".to_string()))
}

struct Linter {
    warnings: Vec<Diagnostic>,
    /// Flags written `enabled false`, and what they serve.
    disabled: HashMap<String, String>,
    used_segments: HashSet<String>,
}

/// A rule that serves one variation, as earlier rules shadow later ones.
struct Earlier {
    /// The conjuncts of its condition in normal form.
    conjuncts: Vec<String>,
    always: bool,
    label: String,
}

impl Linter {
    fn warn(&mut self, file: usize, span: Span, message: String) {
        self.warnings.push(Diagnostic::warning(file, span, message));
    }

    fn flag(&mut self, file: usize, flag: &FlagDecl) {
        let mut targeted: HashSet<&str> = HashSet::new();
        for item in &flag.items {
            if let FlagItemKind::Target { keys, .. } = &item.kind {
                targeted.extend(keys.iter().map(|k| k.value.as_str()));
            }
        }
        let mut earlier: Vec<Earlier> = Vec::new();
        // The first rule that always holds and serves a plain variation.
        let mut catch_all: Option<String> = None;
        let mut index = 0usize;
        for item in &flag.items {
            match &item.kind {
                FlagItemKind::Rule(rule) => {
                    let label = match &rule.name {
                        Some(name) => format!("rule \"{}\"", name.value),
                        None => format!("rule#{index}"),
                    };
                    index += 1;
                    self.used_in(&rule.cond);
                    if too_deep(&rule.cond) {
                        // Not linted; it may still serve, so it shadows
                        // nothing and reaches nothing.
                        if let Serve::Split(split) = &rule.serve {
                            self.split(file, split, true);
                        }
                        continue;
                    }
                    self.cond(file, &rule.cond);
                    let always = always_true(&rule.cond);
                    let conjuncts = conjuncts(&rule.cond);
                    if let Some(by) = earlier
                        .iter()
                        .find(|e| e.always || e.conjuncts.iter().all(|c| conjuncts.contains(c)))
                    {
                        let why = if by.always {
                            "always holds"
                        } else {
                            "holds whenever this one does"
                        };
                        self.warn(
                            file,
                            item.span,
                            format!(
                                "{label} can never match: the earlier {} {why} and serves first",
                                by.label
                            ),
                        );
                    } else if only_targeted_keys(&rule.cond, &targeted) {
                        self.warn(
                            file,
                            item.span,
                            format!(
                                "{label} can never match: every key it matches is in a `target` list, and targets are served first"
                            ),
                        );
                    }
                    match &rule.serve {
                        Serve::Variation(_) => {
                            if always && catch_all.is_none() {
                                catch_all = Some(label.clone());
                            }
                            earlier.push(Earlier {
                                conjuncts,
                                always,
                                label,
                            });
                        }
                        Serve::Split(split) => self.split(file, split, true),
                    }
                }
                FlagItemKind::Rollout(split) => self.split(file, split, false),
                _ => {}
            }
        }
        if let Some(by) = catch_all {
            for item in &flag.items {
                let what = match item.kind {
                    FlagItemKind::Rollout(_) => "the rollout",
                    FlagItemKind::Default(_) => "the default",
                    _ => continue,
                };
                self.warn(
                    file,
                    item.span,
                    format!("{what} is never reached: {by} always holds and serves first"),
                );
            }
        }
    }

    fn split(&mut self, file: usize, split: &Split, in_rule: bool) {
        if let Some(arm) = split.arms.iter().find(|a| a.weight == 10_000) {
            let suggestion = if in_rule {
                format!("`=> {}`", arm.variation.name)
            } else {
                format!(
                    "a plain `default {}` (or a rule serving it)",
                    arm.variation.name
                )
            };
            self.warn(
                file,
                split.span,
                format!(
                    "this split gives `{}` 100%: it could be {suggestion}",
                    arm.variation.name
                ),
            );
        }
    }

    /// Records the segments a condition names (iteratively, at any depth).
    fn used_in(&mut self, cond: &Cond) {
        let mut stack = vec![cond];
        while let Some(c) = stack.pop() {
            match c {
                Cond::And(cs) | Cond::Or(cs) => stack.extend(cs.iter()),
                Cond::Not(inner, _) | Cond::Paren(inner, _) => stack.push(inner),
                Cond::Atom(Atom::Segment(name)) => {
                    self.used_segments.insert(name.name.clone());
                }
                Cond::Atom(_) => {}
            }
        }
    }

    /// Lints inside a condition: constant sub-conditions, references.
    fn cond(&mut self, file: usize, cond: &Cond) {
        let mut stack = vec![cond];
        while let Some(c) = stack.pop() {
            match c {
                Cond::And(cs) => {
                    if let Some((span, why)) = contradiction(cs) {
                        self.warn(
                            file,
                            span,
                            format!("this condition is always false for a single value: {why}"),
                        );
                    }
                    stack.extend(cs.iter());
                }
                Cond::Or(cs) => {
                    if let Some(span) = excluded_middle(cs) {
                        self.warn(
                            file,
                            span,
                            "this condition is always true: it holds a condition or its negation"
                                .to_string(),
                        );
                    }
                    stack.extend(cs.iter());
                }
                Cond::Not(inner, _) | Cond::Paren(inner, _) => stack.push(inner),
                Cond::Atom(Atom::Prereq { flag, variation }) => {
                    if let Some(serves) = self.disabled.get(&flag.name) {
                        let verdict = if *serves == variation.name {
                            "always true"
                        } else {
                            "always false"
                        };
                        let message = format!(
                            "flag `{}` is disabled (`enabled false`): it always serves `{serves}`, so this prerequisite is {verdict}",
                            flag.name
                        );
                        self.warn(file, flag.span, message);
                    }
                }
                Cond::Atom(_) => {}
            }
        }
    }
}

/// How deeply a condition may nest (`not`, parentheses, `and`/`or`) and
/// still be linted: the lints recurse, so deeper conditions are skipped.
pub const MAX_LINT_DEPTH: usize = crate::limits::MAX_CONDITION_NESTING / 2;

/// Whether `cond` nests deeper than [`MAX_LINT_DEPTH`] (found iteratively).
fn too_deep(cond: &Cond) -> bool {
    let mut stack = vec![(cond, 1usize)];
    while let Some((c, depth)) = stack.pop() {
        if depth > MAX_LINT_DEPTH {
            return true;
        }
        match c {
            Cond::And(cs) | Cond::Or(cs) => stack.extend(cs.iter().map(|c| (c, depth + 1))),
            Cond::Not(inner, _) | Cond::Paren(inner, _) => stack.push((inner, depth + 1)),
            Cond::Atom(_) => {}
        }
    }
    false
}

/// A condition in normal form: parentheses dropped, `and`/`or` flattened,
/// so that equal texts mean equal conditions.
fn normal(cond: &Cond) -> String {
    match cond {
        Cond::Paren(inner, _) => normal(inner),
        Cond::Not(inner, _) => format!("not({})", normal(inner)),
        Cond::And(cs) => format!(
            "and({})",
            flatten(cs, true)
                .iter()
                .map(|c| normal(c))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Cond::Or(cs) => format!(
            "or({})",
            flatten(cs, false)
                .iter()
                .map(|c| normal(c))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Cond::Atom(atom) => atom_normal(atom),
    }
}

fn atom_normal(atom: &Atom) -> String {
    match atom {
        Atom::Segment(s) => format!("segment {}", s.name),
        Atom::Prereq { flag, variation } => format!("flag {} is {}", flag.name, variation.name),
        Atom::Exists(a) => format!("{} exists", a.name),
        Atom::Compare { attr, op, lit, .. } => {
            format!("{} {} {}", attr.name, op.as_str(), lit_normal(&lit.kind))
        }
    }
}

fn lit_normal(lit: &LitKind) -> String {
    match lit {
        LitKind::Str(s) => format!("{s:?}"),
        LitKind::Num(n) => format!("{n:?}"),
        LitKind::Bool(b) => b.to_string(),
        LitKind::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|l| lit_normal(&l.kind))
                .collect::<Vec<_>>()
                .join(",")
        ),
        LitKind::Semver(s, _) => format!("semver({s:?})"),
        LitKind::Date(s, _) => format!("date({s:?})"),
    }
}

/// The children of an `and` (or an `or`) with nested ones of the same kind
/// and parentheses around them spliced in.
fn flatten(cs: &[Cond], and: bool) -> Vec<&Cond> {
    let mut out = Vec::new();
    let mut stack: Vec<&Cond> = cs.iter().rev().collect();
    while let Some(c) = stack.pop() {
        match c {
            Cond::Paren(inner, _) => stack.push(inner),
            Cond::And(inner) if and => stack.extend(inner.iter().rev()),
            Cond::Or(inner) if !and => stack.extend(inner.iter().rev()),
            other => out.push(other),
        }
    }
    out
}

fn unparen(cond: &Cond) -> &Cond {
    match cond {
        Cond::Paren(inner, _) => unparen(inner),
        other => other,
    }
}

/// The conjuncts of a condition in normal form (one for a non-`and`).
fn conjuncts(cond: &Cond) -> Vec<String> {
    match unparen(cond) {
        Cond::And(cs) => flatten(cs, true).into_iter().map(normal).collect(),
        other => vec![normal(other)],
    }
}

/// Whether a condition is provably always true (`c or not c`, or a
/// conjunction of such).
fn always_true(cond: &Cond) -> bool {
    match unparen(cond) {
        Cond::Or(cs) => excluded_middle(cs).is_some(),
        Cond::And(cs) => flatten(cs, true).into_iter().all(always_true),
        Cond::Not(inner, _) => always_false(inner),
        _ => false,
    }
}

fn always_false(cond: &Cond) -> bool {
    match unparen(cond) {
        Cond::And(cs) => contradiction(cs).is_some(),
        Cond::Or(cs) => flatten(cs, false).into_iter().all(always_false),
        Cond::Not(inner, _) => always_true(inner),
        _ => false,
    }
}

/// In an `or`: a child whose negation is another child (the span of the
/// later one).
fn excluded_middle(cs: &[Cond]) -> Option<Span> {
    let arms = flatten(cs, false);
    let normals: Vec<String> = arms.iter().map(|c| normal(c)).collect();
    for (i, arm) in arms.iter().enumerate() {
        let negated = match arm {
            Cond::Not(inner, _) => normal(inner),
            other => format!("not({})", normal(other)),
        };
        if let Some(j) = normals.iter().position(|n| *n == negated) {
            return Some(cond_span(arms[i.max(j)]));
        }
    }
    None
}

/// A number range `lo..hi` with inclusive flags, for `x > 5 and x < 3`.
#[derive(Debug, Clone, Copy)]
struct Range {
    lo: f64,
    lo_incl: bool,
    hi: f64,
    hi_incl: bool,
}

impl Range {
    fn is_empty(&self) -> bool {
        self.lo > self.hi || (self.lo == self.hi && !(self.lo_incl && self.hi_incl))
    }
}

/// In an `and`: two tests of one attribute no single value passes, or a
/// child and its negation. Returns the span of the test that closes it and
/// why.
fn contradiction(cs: &[Cond]) -> Option<(Span, String)> {
    let parts = flatten(cs, true);
    let normals: Vec<String> = parts.iter().map(|c| normal(c)).collect();
    for (i, part) in parts.iter().enumerate() {
        if let Cond::Not(inner, _) = part {
            let inner = normal(inner);
            if let Some(j) = normals.iter().position(|n| *n == inner) {
                return Some((
                    cond_span(parts[i.max(j)]),
                    "it requires a condition and its negation".to_string(),
                ));
            }
        }
    }
    // Equalities and ranges per attribute.
    let mut equal: HashMap<&str, (&LitKind, Span)> = HashMap::new();
    let mut ranges: HashMap<&str, Range> = HashMap::new();
    for part in &parts {
        let Cond::Atom(Atom::Compare { attr, op, lit, .. }) = part else {
            continue;
        };
        let span = cond_span(part);
        let name = attr.name.as_str();
        match (op, &lit.kind) {
            (Op::Eq, kind @ (LitKind::Str(_) | LitKind::Num(_) | LitKind::Bool(_))) => {
                if let Some((first, _)) = equal.get(name) {
                    if lit_normal(first) != lit_normal(kind) {
                        return Some((
                            span,
                            format!(
                                "`{name}` cannot equal both {} and {}",
                                lit_normal(first),
                                lit_normal(kind)
                            ),
                        ));
                    }
                } else {
                    equal.insert(name, (kind, span));
                }
            }
            (Op::Ne, kind @ (LitKind::Str(_) | LitKind::Num(_) | LitKind::Bool(_))) => {
                if let Some((first, _)) = equal.get(name) {
                    if lit_normal(first) == lit_normal(kind) {
                        return Some((
                            span,
                            format!("`{name}` cannot be and not be {}", lit_normal(kind)),
                        ));
                    }
                }
            }
            _ => {}
        }
        let bound = match (op, &lit.kind) {
            (Op::Gt, LitKind::Num(n)) => Some((Some((*n, false)), None)),
            (Op::Ge, LitKind::Num(n)) => Some((Some((*n, true)), None)),
            (Op::Lt, LitKind::Num(n)) => Some((None, Some((*n, false)))),
            (Op::Le, LitKind::Num(n)) => Some((None, Some((*n, true)))),
            (Op::Eq, LitKind::Num(n)) => Some((Some((*n, true)), Some((*n, true)))),
            _ => None,
        };
        if let Some((lo, hi)) = bound {
            let range = ranges.entry(name).or_insert(Range {
                lo: f64::NEG_INFINITY,
                lo_incl: true,
                hi: f64::INFINITY,
                hi_incl: true,
            });
            if let Some((n, incl)) = lo {
                if n > range.lo || (n == range.lo && !incl) {
                    range.lo = n;
                    range.lo_incl = incl;
                }
            }
            if let Some((n, incl)) = hi {
                if n < range.hi || (n == range.hi && !incl) {
                    range.hi = n;
                    range.hi_incl = incl;
                }
            }
            if range.is_empty() {
                return Some((span, format!("no number `{name}` satisfies all its bounds")));
            }
        }
    }
    None
}

/// Whether a rule's condition only holds for keys a target list serves:
/// `key == "k"` or `key in [...]` (possibly `or`-ed) with every key targeted.
fn only_targeted_keys(cond: &Cond, targeted: &HashSet<&str>) -> bool {
    if targeted.is_empty() {
        return false;
    }
    let arms = match unparen(cond) {
        Cond::Or(cs) => flatten(cs, false),
        other => vec![other],
    };
    arms.iter().all(|arm| match arm {
        Cond::Atom(Atom::Compare { attr, op, lit, .. }) if attr.name == "key" => {
            match (op, &lit.kind) {
                (Op::Eq, LitKind::Str(k)) => targeted.contains(k.as_str()),
                (Op::In, LitKind::List(items)) => {
                    !items.is_empty()
                        && items.iter().all(
                            |l| matches!(&l.kind, LitKind::Str(k) if targeted.contains(k.as_str())),
                        )
                }
                _ => false,
            }
        }
        Cond::And(cs) => flatten(cs, true)
            .iter()
            .any(|c| only_targeted_keys(c, targeted)),
        _ => false,
    })
}

/// Where a condition is written (from its first to its last token).
fn cond_span(cond: &Cond) -> Span {
    match cond {
        Cond::Or(cs) | Cond::And(cs) => match (cs.first(), cs.last()) {
            (Some(first), Some(last)) => cond_span(first).to(cond_span(last)),
            _ => Span::default(),
        },
        Cond::Not(inner, at) | Cond::Paren(inner, at) => at.to(cond_span(inner)),
        Cond::Atom(atom) => match atom {
            Atom::Segment(name) | Atom::Exists(name) => name.span,
            Atom::Prereq { flag, variation } => flag.span.to(variation.span),
            Atom::Compare { attr, lit, .. } => attr.span.to(lit.span),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(text: &str) -> Vec<String> {
        let sources = [Source {
            name: "t.flags".into(),
            text: text.into(),
        }];
        match lint(&sources, &Limits::default()) {
            Ok(w) => w.into_iter().map(|d| d.message).collect(),
            Err(e) => panic!("{}", check::render(&e, &sources)),
        }
    }

    fn fires(text: &str, needle: &str) {
        let w = warnings(text);
        assert!(
            w.iter().any(|m| m.contains(needle)),
            "no `{needle}` in {w:?}"
        );
    }

    fn silent(text: &str) {
        let w = warnings(text);
        assert!(w.is_empty(), "unexpected warnings {w:?}");
    }

    #[test]
    fn shadowed_by_the_same_or_a_weaker_condition() {
        fires(
            r#"flag f { rule if plan == "pro" => on  rule "late" if plan == "pro" and country == "DE" => off }"#,
            "rule \"late\" can never match: the earlier rule#0 holds whenever this one does",
        );
        fires(
            r#"flag f { rule if (a exists) => on  rule if a exists => off }"#,
            "rule#1 can never match",
        );
        fires(
            r#"flag f { rule if a exists or not a exists => on  rule if b == 1 => off }"#,
            "always holds",
        );
    }

    #[test]
    fn not_shadowed_by_a_stronger_condition_or_a_split() {
        silent(
            r#"flag f { rule if plan == "pro" and country == "DE" => on  rule if plan == "pro" => off }"#,
        );
        silent(
            r#"flag f { rule if plan == "pro" => split by org { on: 50%, off: 50% }  rule if plan == "pro" => off }"#,
        );
        silent(r#"flag f { rule if a == 1 or b == 2 => on  rule if a == 1 => off }"#);
    }

    #[test]
    fn shadowed_by_targets() {
        fires(
            r#"flag f { target on ["a", "b"] rule if key in ["a", "b"] => off }"#,
            "every key it matches is in a `target` list",
        );
        silent(r#"flag f { target on ["a"] rule if key in ["a", "c"] => off }"#);
    }

    #[test]
    fn constant_conditions() {
        fires(
            r#"flag f { rule if a == "x" and a == "y" => on }"#,
            "`a` cannot equal both",
        );
        fires(
            r#"flag f { rule if x > 5 and x < 3 => on }"#,
            "no number `x`",
        );
        fires(
            r#"flag f { rule if x >= 3 and (x < 3) => on }"#,
            "no number `x`",
        );
        fires(
            r#"flag f { rule if a exists and not a exists => on }"#,
            "its negation",
        );
        fires(
            r#"flag f { rule if b == 1 and (a exists or not (a exists)) => on }"#,
            "always true",
        );
    }

    #[test]
    fn satisfiable_conditions_are_quiet() {
        silent(r#"flag f { rule if a == "x" and b == "y" => on }"#);
        silent(r#"flag f { rule if x > 3 and x <= 5 => on }"#);
        silent(r#"flag f { rule if x >= 3 and x <= 3 => on }"#);
        silent(r#"flag f { rule if a == "x" or a == "y" => on }"#);
        silent(r#"flag f { rule if a == "x" and a != "y" => on }"#);
        silent(r#"flag f { rule if a exists or not b exists => on }"#);
    }

    #[test]
    fn unreachable_rollout_and_default() {
        let w = warnings(
            r#"flag f { default off rule "all" if a exists or not a exists => on rollout split { on: 5%, off: 95% } }"#,
        );
        assert!(
            w.iter()
                .any(|m| m.starts_with("the rollout is never reached")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|m| m.starts_with("the default is never reached")),
            "{w:?}"
        );
        silent(
            r#"flag f { default off rule "some" if a exists => on rollout split { on: 5%, off: 95% } }"#,
        );
    }

    #[test]
    fn unused_segments() {
        fires(
            r#"segment lonely { include ["a"] } flag f { default on }"#,
            "segment `lonely` is never used",
        );
        silent(
            r#"segment s { include ["a"] } segment t { match segment s } flag f { rule if segment t => on }"#,
        );
    }

    #[test]
    fn prerequisite_on_a_disabled_flag() {
        fires(
            r#"flag old { enabled false } flag f { rule if flag old is on => on }"#,
            "flag `old` is disabled (`enabled false`): it always serves `off`, so this prerequisite is always false",
        );
        silent(r#"flag old { enabled true } flag f { rule if flag old is on => on }"#);
    }

    #[test]
    fn splits_of_one_hundred_percent() {
        fires(
            r#"flag f { rule if a exists => split { on: 100%, off: 0% } }"#,
            "could be `=> on`",
        );
        fires(
            r#"flag f { rollout split { on: 0%, off: 100% } }"#,
            "gives `off` 100%",
        );
        silent(r#"flag f { rollout split { on: 99.99%, off: 0.01% } }"#);
    }

    #[test]
    fn deep_conditions_are_skipped_but_still_use_segments() {
        let deep = format!("{}segment s", "not ".repeat(MAX_LINT_DEPTH + 10));
        const { assert!(MAX_LINT_DEPTH + 10 < crate::limits::MAX_CONDITION_NESTING) };
        silent(&format!(
            r#"segment s {{ include ["a"] }} flag f {{ rule if {deep} and x > 5 and x < 3 => on }}"#
        ));
        fires(
            &format!(
                "flag f {{ rule if x > 5 and x < 3 and {}a exists => on }}",
                "not ".repeat(10)
            ),
            "no number `x`",
        );
    }

    #[test]
    fn check_errors_come_back_as_errors() {
        let sources = [Source {
            name: "t.flags".into(),
            text: "flag f { default nope }".into(),
        }];
        assert!(lint(&sources, &Limits::default()).is_err());
    }

    #[test]
    fn warnings_point_at_the_offending_text() {
        let text = r#"flag f { rule if x > 5 and x < 3 => on }"#;
        let sources = [Source {
            name: "t.flags".into(),
            text: text.into(),
        }];
        let w = lint(&sources, &Limits::default()).expect("checks");
        assert_eq!(w.len(), 1);
        assert_eq!(
            &text[w[0].span.start as usize..w[0].span.end as usize],
            "x < 3"
        );
        assert_eq!(w[0].severity, check::Severity::Warning);
    }
}
