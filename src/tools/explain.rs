//! `vexil explain`: why a flag serves what it serves to one context.
//!
//! [`explain`] walks SPEC §2 in order over a checked [`Program`] — flag found,
//! enabled, individual targets, each rule in file order, the rollout, the
//! default — and records every step in an [`Explanation`]. For each rule it
//! records the atoms that decided the condition (the first atom that failed
//! an `and`, every failing arm of an `or`, the atom that made an `or` hold),
//! each with the attribute value it saw; for each split, the hashed text, the
//! bucket, the arms' bucket ranges and the arm the bucket fell in. Atoms are
//! decided by the reference interpreter's own `holds` (`crate::interp`), so
//! the trace cannot drift from what the interpreter serves; the order of the
//! steps is re-walked here, and tests check the final answer against both
//! evaluators.
//!
//! [`explain_compiled`] explains from a loaded snapshot, where there is no
//! syntax tree: the steps come from the compiled tables (enabled state,
//! targets, rule names, splits, buckets), and which rule matched comes from
//! the compiled evaluator's answer. A rule before the one that matched is
//! reported as not matching, without the atom that failed (that needs the
//! sources: use `--rules`).
//!
//! [`Explanation::to_text`] renders the trace for a person; the type is
//! `serde::Serialize` for `--json`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::check::program::{
    Cond, Flag, List, Needle, Ordered, Ordering, Scalar, Serve, Split, Test,
};
use crate::check::Program;
use crate::compile::tables::{self, Ruleset};
use crate::context::{Attr, Context};
use crate::detail::{Detail, Matched, Reason};
use crate::values::bucket;
use crate::values::date::Instant;
use crate::values::semver::Version;

/// How many values of an inline list an atom's text shows.
const LIST_SHOWN: usize = 5;

/// Everything `explain` found, in SPEC §2 order, and the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The flag key asked about.
    pub flag: String,
    /// The context's key, if it has one.
    pub context_key: Option<String>,
    /// The steps taken, in order, up to the one that decided.
    pub steps: Vec<Step>,
    /// The served value (`None` for an unknown flag).
    pub value: Option<serde_json::Value>,
    /// The served variation's name.
    pub variation: Option<String>,
    /// `TARGETING_MATCH`, `SPLIT`, `DEFAULT`, `DISABLED` or `ERROR`.
    pub reason: &'static str,
    /// `"target"`, the rule's name or `rule#N`, or `"rollout"`.
    pub rule: Option<String>,
    /// The error code, with `ERROR` only.
    pub error: Option<&'static str>,
}

/// One step of SPEC §2.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step {
    /// Step 1: is there a flag with this key?
    Flag {
        /// Whether it exists.
        found: bool,
    },
    /// Step 2: is the flag enabled?
    Enabled {
        /// `false` when killed.
        enabled: bool,
        /// The `when_disabled` variation, served when killed.
        when_disabled: String,
    },
    /// Step 3: is the context key in a target list?
    Targets {
        /// How many target lists the flag has.
        lists: usize,
        /// The variation whose list holds the key, if one does.
        matched: Option<String>,
    },
    /// Step 4: one rule, in file order.
    Rule(RuleStep),
    /// Step 5: the rollout.
    Rollout {
        /// How the split went.
        split: SplitTrace,
    },
    /// Step 6: the default.
    Default {
        /// The default variation.
        variation: String,
    },
}

/// What happened to one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RuleStep {
    /// 0-based position among the flag's rules.
    pub index: usize,
    /// The name the result would carry: the rule's string, else `rule#N`.
    pub name: String,
    /// Whether the condition held; `None` when not known (a snapshot
    /// explanation of a rule that did not match).
    pub condition: Option<bool>,
    /// The atoms that decided the condition (empty when not known).
    pub atoms: Vec<AtomTrace>,
    /// The rule's split, when it serves one and its condition held (or, for
    /// a snapshot, when the split cannot bucket the context).
    pub split: Option<SplitTrace>,
    /// Whether the rule decided the answer.
    pub matched: bool,
    /// The variation it served, when it matched.
    pub variation: Option<String>,
}

/// One atom that decided a condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AtomTrace {
    /// The atom, written as in a `.flags` file.
    pub atom: String,
    /// Whether the atom itself held.
    pub holds: bool,
    /// Whether it sits under an odd number of `not`s (so it decided the
    /// condition by holding, or by failing, the other way round).
    pub negated: bool,
    /// The attribute's value as the context has it (`null` when missing;
    /// `{}` stands for any object). Absent for `segment` and `flag` atoms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saw: Option<serde_json::Value>,
    /// Whether the attribute was missing (comparisons with it are false).
    pub missing: bool,
    /// More about a `segment` or `flag F is V` atom.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How a split bucketed the context.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SplitTrace {
    /// The bucketing attribute (`key` unless `by ATTR`).
    pub by: String,
    /// The text that was hashed after `salt:`, or `None` when the attribute
    /// is missing or cannot bucket (then the split does not match).
    pub value: Option<String>,
    /// The flag's salt.
    pub salt: String,
    /// `xxh3_64(salt ++ ":" ++ value) mod 10000`.
    pub bucket: Option<u32>,
    /// Each arm's variation and bucket range `[from, to)`, in order.
    pub arms: Vec<ArmTrace>,
    /// The arm the bucket fell in.
    pub variation: Option<String>,
}

/// One arm of a split.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ArmTrace {
    /// The variation.
    pub variation: String,
    /// First bucket.
    pub from: u32,
    /// One past the last bucket (`from == to` for a 0% arm).
    pub to: u32,
}

/// Explains flag `key` for `context` over a checked program.
pub fn explain(program: &Program, key: &str, context: &Context) -> Explanation {
    let mut out = Explanation::new(key, context);
    let Some((_, flag)) = program.flag(key) else {
        out.steps.push(Step::Flag { found: false });
        return out;
    };
    out.steps.push(Step::Flag { found: true });
    let name_of = |v: crate::check::program::VariationId| variation_name(flag, v.0 as usize);

    // 2. Disabled.
    out.steps.push(Step::Enabled {
        enabled: flag.enabled,
        when_disabled: name_of(flag.when_disabled),
    });
    if !flag.enabled {
        out.answer(
            flag_value(flag, flag.when_disabled.0),
            name_of(flag.when_disabled),
            Reason::Disabled,
            None,
        );
        return out;
    }

    // 3. Targets.
    let hit = context.key().and_then(|key| {
        flag.targets
            .iter()
            .find(|t| t.keys.iter().any(|k| k == key))
    });
    out.steps.push(Step::Targets {
        lists: flag.targets.len(),
        matched: hit.map(|t| name_of(t.variation)),
    });
    if let Some(target) = hit {
        out.answer(
            flag_value(flag, target.variation.0),
            name_of(target.variation),
            Reason::TargetingMatch,
            Some("target".to_string()),
        );
        return out;
    }

    // 4. Rules.
    let tracer = Tracer { program, context };
    for (index, rule) in flag.rules.iter().enumerate() {
        let mut atoms = Vec::new();
        let holds = if too_deep(&rule.cond) {
            // Traced as a whole: the walk below recurses.
            crate::interp::holds(program, &rule.cond, context, 0)
        } else {
            tracer.trace(&rule.cond, false, &mut atoms)
        };
        let name = rule.name.clone().unwrap_or_else(|| format!("rule#{index}"));
        let mut step = RuleStep {
            index,
            name: name.clone(),
            condition: Some(holds),
            atoms,
            split: None,
            matched: false,
            variation: None,
        };
        if holds {
            let (served, reason) = match &rule.serve {
                Serve::Variation(v) => (Some(v.0), Reason::TargetingMatch),
                Serve::Split(split) => {
                    let trace = trace_split(flag, split, context);
                    let picked = trace
                        .variation
                        .as_ref()
                        .and_then(|v| flag.variations.iter().position(|fv| &fv.name == v));
                    step.split = Some(trace);
                    (picked.map(|p| p as u32), Reason::Split)
                }
            };
            if let Some(served) = served {
                step.matched = true;
                step.variation = Some(variation_name(flag, served as usize));
                out.steps.push(Step::Rule(step));
                out.answer(
                    flag_value(flag, served),
                    variation_name(flag, served as usize),
                    reason,
                    Some(name),
                );
                return out;
            }
        }
        out.steps.push(Step::Rule(step));
    }

    // 5. Rollout.
    if let Some(rollout) = &flag.rollout {
        let split = trace_split(flag, rollout, context);
        let picked = split
            .variation
            .as_ref()
            .and_then(|v| flag.variations.iter().position(|fv| &fv.name == v));
        out.steps.push(Step::Rollout { split });
        if let Some(picked) = picked {
            out.answer(
                flag_value(flag, picked as u32),
                variation_name(flag, picked),
                Reason::Split,
                Some("rollout".to_string()),
            );
            return out;
        }
    }

    // 6. Default.
    out.steps.push(Step::Default {
        variation: name_of(flag.default),
    });
    out.answer(
        flag_value(flag, flag.default.0),
        name_of(flag.default),
        Reason::Default,
        None,
    );
    out
}

impl Explanation {
    fn new(key: &str, context: &Context) -> Explanation {
        let not_found = Detail::not_found();
        Explanation {
            flag: key.to_string(),
            context_key: context.key().map(str::to_string),
            steps: Vec::new(),
            value: None,
            variation: None,
            reason: not_found.reason.as_str(),
            rule: None,
            error: not_found.error.map(|e| e.as_str()),
        }
    }

    fn answer(
        &mut self,
        value: Option<serde_json::Value>,
        variation: String,
        reason: Reason,
        rule: Option<String>,
    ) {
        self.value = value;
        self.variation = Some(variation);
        self.reason = reason.as_str();
        self.rule = rule;
        self.error = None;
    }

    /// The answer as the SPEC §3 `eval` line would carry it.
    pub fn answer_json(&self) -> serde_json::Value {
        let mut line = serde_json::Map::new();
        line.insert("flag".into(), self.flag.clone().into());
        line.insert(
            "value".into(),
            self.value.clone().unwrap_or(serde_json::Value::Null),
        );
        if let Some(v) = &self.variation {
            line.insert("variation".into(), v.clone().into());
        }
        line.insert("reason".into(), self.reason.into());
        if let Some(r) = &self.rule {
            line.insert("rule".into(), r.clone().into());
        }
        if let Some(e) = self.error {
            line.insert("error".into(), e.into());
        }
        serde_json::Value::Object(line)
    }

    /// The trace for a person: one numbered line per SPEC §2 step, atoms and
    /// splits indented under their rule, the answer last.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let who = match &self.context_key {
            Some(key) => format!("context key {}", quote(key)),
            None => "a context without a key".to_string(),
        };
        let _ = writeln!(out, "flag {} for {who}", self.flag);
        for step in &self.steps {
            match step {
                Step::Flag { found: true } => {
                    let _ = writeln!(out, "  1. flag found");
                }
                Step::Flag { found: false } => {
                    let _ = writeln!(
                        out,
                        "  1. no flag `{}`: the caller's default is served",
                        self.flag
                    );
                }
                Step::Enabled { enabled: true, .. } => {
                    let _ = writeln!(out, "  2. enabled");
                }
                Step::Enabled {
                    enabled: false,
                    when_disabled,
                } => {
                    let _ = writeln!(
                        out,
                        "  2. disabled (enabled false): serves when_disabled `{when_disabled}`"
                    );
                }
                Step::Targets { lists, matched } => {
                    let line = match (matched, &self.context_key) {
                        (Some(v), Some(key)) => format!("key {} is targeted: `{v}`", quote(key)),
                        (_, None) => "no key, no individual target".to_string(),
                        (None, Some(key)) if *lists == 0 => {
                            format!("no target lists (key {})", quote(key))
                        }
                        (None, Some(key)) => format!(
                            "key {} is in none of {lists} target list{}",
                            quote(key),
                            if *lists == 1 { "" } else { "s" }
                        ),
                    };
                    let _ = writeln!(out, "  3. targets: {line}");
                }
                Step::Rule(rule) => rule.write_text(&mut out),
                Step::Rollout { split } => {
                    let _ = writeln!(
                        out,
                        "  5. rollout: {}",
                        if split.variation.is_some() {
                            "applies"
                        } else {
                            "does not apply"
                        }
                    );
                    split.write_text(&mut out, "       ");
                }
                Step::Default { variation } => {
                    let _ = writeln!(out, "  6. default: `{variation}`");
                }
            }
        }
        let value = self
            .value
            .as_ref()
            .map_or_else(|| "null".to_string(), |v| v.to_string());
        let _ = write!(out, "=> {value}");
        if let Some(v) = &self.variation {
            let _ = write!(out, " (variation `{v}`)");
        }
        let _ = write!(out, ", reason {}", self.reason);
        if let Some(rule) = &self.rule {
            let _ = write!(out, ", rule {}", quote(rule));
        }
        if let Some(error) = self.error {
            let _ = write!(out, ", error {error}");
        }
        out.push('\n');
        out
    }
}

impl RuleStep {
    fn write_text(&self, out: &mut String) {
        let label = if self.name == format!("rule#{}", self.index) {
            self.name.clone()
        } else {
            format!("{} (rule#{})", quote(&self.name), self.index)
        };
        let verdict = match (self.condition, self.matched) {
            (_, true) => format!("matches: `{}`", self.variation.as_deref().unwrap_or("?")),
            (Some(true), false) => {
                "condition holds, but its split cannot bucket the context".into()
            }
            (Some(false), false) => "condition does not hold".into(),
            (None, false) if self.split.as_ref().is_some_and(|s| s.bucket.is_none()) => {
                "does not match (its split cannot bucket the context)".into()
            }
            (None, false) => "does not match".into(),
        };
        let _ = writeln!(out, "  4. rule {label}: {verdict}");
        for atom in &self.atoms {
            let _ = writeln!(out, "       {}", atom.text());
        }
        if let Some(split) = &self.split {
            split.write_text(out, "       ");
        }
    }
}

impl AtomTrace {
    fn text(&self) -> String {
        let verdict = if self.holds { "holds" } else { "fails" };
        let mut line = format!("{}: {verdict}", self.atom);
        if self.negated {
            line.push_str(" (under `not`)");
        }
        if self.missing {
            line.push_str(" (attribute missing)");
        } else if let Some(saw) = &self.saw {
            let _ = write!(line, " (saw {saw})");
        }
        if let Some(note) = &self.note {
            let _ = write!(line, " ({note})");
        }
        line
    }
}

impl SplitTrace {
    fn write_text(&self, out: &mut String, indent: &str) {
        let arms: Vec<String> = self
            .arms
            .iter()
            .map(|a| {
                if a.from == a.to {
                    format!("{} (0%)", a.variation)
                } else {
                    format!("{} {}–{}", a.variation, a.from, a.to - 1)
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "{indent}split by {}: arms {}",
            self.by,
            arms.join(", ")
        );
        match (&self.value, self.bucket) {
            (Some(value), Some(bucket)) => {
                let _ = writeln!(
                    out,
                    "{indent}xxh3_64({}) mod 10000 = bucket {bucket} → `{}`",
                    quote(&format!("{}:{value}", self.salt)),
                    self.variation.as_deref().unwrap_or("?")
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{indent}`{}` is missing or not a string/integer: cannot bucket",
                    self.by
                );
            }
        }
    }
}

/// How deeply a condition may nest and still be traced atom by atom; a
/// deeper one is decided as a whole (no atoms shown), since the trace
/// recurses.
pub const MAX_TRACE_DEPTH: usize = crate::limits::MAX_CONDITION_NESTING / 2;

/// Whether `cond` nests deeper than [`MAX_TRACE_DEPTH`] (found iteratively).
fn too_deep(cond: &Cond) -> bool {
    let mut stack = vec![(cond, 1usize)];
    while let Some((c, depth)) = stack.pop() {
        if depth > MAX_TRACE_DEPTH {
            return true;
        }
        match c {
            Cond::All(cs) | Cond::Any(cs) => stack.extend(cs.iter().map(|c| (c, depth + 1))),
            Cond::Not(inner) => stack.push((inner, depth + 1)),
            _ => {}
        }
    }
    false
}

/// Walks a condition, asking the interpreter about each atom.
struct Tracer<'a> {
    program: &'a Program,
    context: &'a Context,
}

impl Tracer<'_> {
    /// Whether `cond` holds; pushes onto `out` the atoms that decided it.
    /// `negated` tells whether an odd number of `not`s encloses `cond`.
    fn trace(&self, cond: &Cond, negated: bool, out: &mut Vec<AtomTrace>) -> bool {
        match cond {
            Cond::All(conds) => {
                let mut all = Vec::new();
                for c in conds {
                    let mut sub = Vec::new();
                    if !self.trace(c, negated, &mut sub) {
                        out.extend(sub);
                        return false;
                    }
                    all.extend(sub);
                }
                out.extend(all);
                true
            }
            Cond::Any(conds) => {
                let mut failed = Vec::new();
                for c in conds {
                    let mut sub = Vec::new();
                    if self.trace(c, negated, &mut sub) {
                        out.extend(sub);
                        return true;
                    }
                    failed.extend(sub);
                }
                out.extend(failed);
                false
            }
            Cond::Not(inner) => !self.trace(inner, !negated, out),
            atom => {
                let holds = crate::interp::holds(self.program, atom, self.context, 0);
                out.push(self.atom_trace(atom, holds, negated));
                holds
            }
        }
    }

    fn atom_trace(&self, atom: &Cond, holds: bool, negated: bool) -> AtomTrace {
        let mut trace = AtomTrace {
            atom: atom_text(self.program, atom),
            holds,
            negated,
            saw: None,
            missing: false,
            note: None,
        };
        match atom {
            Cond::Exists(attr) | Cond::Compare { attr, .. } => match self.context.get(attr) {
                Some(value) => trace.saw = Some(value.to_json()),
                None => {
                    trace.saw = Some(serde_json::Value::Null);
                    trace.missing = true;
                }
            },
            Cond::Segment(id) => {
                trace.note = self
                    .program
                    .segments
                    .get(id.0 as usize)
                    .map(|segment| self.segment_note(segment, holds));
            }
            Cond::Prereq { flag, .. } => {
                trace.note = self.program.flags.get(flag.0 as usize).map(|f| {
                    let detail = crate::interp::evaluate(self.program, &f.key, self.context);
                    format!(
                        "`{}` serves `{}`, reason {}",
                        f.key,
                        detail.variation.unwrap_or("?"),
                        detail.reason
                    )
                });
            }
            Cond::All(_) | Cond::Any(_) | Cond::Not(_) => {}
        }
        trace
    }

    fn segment_note(&self, segment: &crate::check::program::Segment, holds: bool) -> String {
        if let Some(key) = self.context.key() {
            if segment.include.iter().any(|k| k == key) {
                return format!("key {} is in its include list", quote(key));
            }
            if segment.exclude.iter().any(|k| k == key) {
                return format!("key {} is in its exclude list", quote(key));
            }
        }
        if holds {
            let line = segment
                .matches
                .iter()
                .position(|c| crate::interp::holds(self.program, c, self.context, 1));
            match line {
                Some(i) => format!("its match line {} holds", i + 1),
                None => "a match line holds".to_string(),
            }
        } else if segment.matches.is_empty() {
            "not included, and it has no match line".to_string()
        } else {
            format!(
                "not included, and none of its {} match line{} holds",
                segment.matches.len(),
                if segment.matches.len() == 1 { "" } else { "s" }
            )
        }
    }
}

/// A flag's variation value by local id.
fn flag_value(flag: &Flag, id: u32) -> Option<serde_json::Value> {
    flag.variations.get(id as usize).map(|v| v.value.clone())
}

fn variation_name(flag: &Flag, id: usize) -> String {
    flag.variations
        .get(id)
        .map_or_else(|| "?".to_string(), |v| v.name.clone())
}

/// The text a split hashes, per SPEC §2: the key, or the `by` attribute
/// when it is a string or an integral number.
fn bucketing_value(by: Option<&str>, context: &Context) -> Option<String> {
    match by {
        None => context.key().map(str::to_string),
        Some(attr) => match context.get(attr)? {
            Attr::Str(text) => Some(text.to_string()),
            Attr::Num(n) => bucket::integral(n).map(|i| i.to_string()),
            Attr::Bool(_) | Attr::List(_) | Attr::Object => None,
        },
    }
}

/// Buckets `context` for a split of `(variation, width)` arms.
fn split_trace(
    by: Option<&str>,
    salt: &str,
    arms: impl Iterator<Item = (String, u32)>,
    context: &Context,
) -> SplitTrace {
    let value = bucketing_value(by, context);
    let bucket = value.as_deref().map(|v| bucket::bucket(salt, v));
    let mut from = 0u32;
    let mut picked = None;
    let arms: Vec<ArmTrace> = arms
        .map(|(variation, width)| {
            let to = from.saturating_add(width);
            if let Some(b) = bucket {
                if picked.is_none() && b >= from && b < to {
                    picked = Some(variation.clone());
                }
            }
            let arm = ArmTrace {
                variation,
                from,
                to,
            };
            from = to;
            arm
        })
        .collect();
    SplitTrace {
        by: by.unwrap_or("key").to_string(),
        value,
        salt: salt.to_string(),
        bucket,
        arms,
        variation: picked,
    }
}

fn trace_split(flag: &Flag, split: &Split, context: &Context) -> SplitTrace {
    split_trace(
        split.by.as_deref(),
        &flag.salt,
        split
            .arms
            .iter()
            .map(|&(v, w)| (variation_name(flag, v.0 as usize), w)),
        context,
    )
}

/// A string as a double-quoted literal.
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn number(n: f64) -> String {
    format!("{n}")
}

fn version_text(v: &Version) -> String {
    let mut text = format!("{}.{}.{}", v.major, v.minor, v.patch);
    if !v.pre.is_empty() {
        text.push('-');
        text.push_str(&v.pre);
    }
    format!("semver({})", quote(&text))
}

/// An instant as RFC 3339 UTC text.
fn instant_text(instant: Instant) -> String {
    const NANOS: i128 = 1_000_000_000;
    let seconds = instant.0.div_euclid(NANOS);
    let nanos = instant.0.rem_euclid(NANOS);
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        text.push('.');
        text.push_str(frac.trim_end_matches('0'));
    }
    text.push('Z');
    format!("date({})", quote(&text))
}

fn list_text<T>(items: &[T], show: impl Fn(&T) -> String) -> String {
    let mut shown: Vec<String> = items.iter().take(LIST_SHOWN).map(show).collect();
    if items.len() > LIST_SHOWN {
        shown.push(format!("… {} values in all", items.len()));
    }
    format!("[{}]", shown.join(", "))
}

fn list_literal(list: &List) -> String {
    match list {
        List::Empty => "[]".to_string(),
        List::Strs(items) => list_text(items, |s| quote(s)),
        List::Nums(items) => list_text(items, |n| number(*n)),
    }
}

fn scalar_text(scalar: &Scalar) -> String {
    match scalar {
        Scalar::Str(s) => quote(s),
        Scalar::Num(n) => number(*n),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Semver(v) => version_text(v),
        Scalar::Date(d) => instant_text(*d),
    }
}

/// An atom written back as `.flags` text (long lists shortened).
fn atom_text(program: &Program, atom: &Cond) -> String {
    match atom {
        Cond::Exists(attr) => format!("{attr} exists"),
        Cond::Segment(id) => format!(
            "segment {}",
            program
                .segments
                .get(id.0 as usize)
                .map_or("?", |s| s.name.as_str())
        ),
        Cond::Prereq { flag, variation } => {
            let flag = program.flags.get(flag.0 as usize);
            format!(
                "flag {} is {}",
                flag.map_or("?", |f| f.key.as_str()),
                flag.map_or_else(
                    || "?".to_string(),
                    |f| variation_name(f, variation.0 as usize)
                )
            )
        }
        Cond::Compare { attr, test } => {
            let (op, literal) = match test {
                Test::Eq(s) => ("==", scalar_text(s)),
                Test::Ne(s) => ("!=", scalar_text(s)),
                Test::Order(op, lit) => (
                    match op {
                        Ordering::Lt => "<",
                        Ordering::Le => "<=",
                        Ordering::Gt => ">",
                        Ordering::Ge => ">=",
                    },
                    match lit {
                        Ordered::Num(n) => number(*n),
                        Ordered::Semver(v) => version_text(v),
                        Ordered::Date(d) => instant_text(*d),
                    },
                ),
                Test::In(list) => ("in", list_literal(list)),
                Test::NotIn(list) => ("not in", list_literal(list)),
                Test::Contains(Needle::Str(s)) => ("contains", quote(s)),
                Test::Contains(Needle::Num(n)) => ("contains", number(*n)),
                Test::StartsWith(s) => ("starts_with", quote(s)),
                Test::EndsWith(s) => ("ends_with", quote(s)),
                Test::Matches(re) => ("matches", quote(re.as_str())),
            };
            format!("{attr} {op} {literal}")
        }
        Cond::All(_) | Cond::Any(_) | Cond::Not(_) => String::new(),
    }
}

/// Explains flag `key` for `context` from a loaded snapshot's tables.
///
/// The answer is the compiled evaluator's; the steps are read from the
/// tables. Rules before the one that matched are reported with an unknown
/// condition (see the module docs).
pub fn explain_compiled(ruleset: &Ruleset, key: &str, context: &Context) -> Explanation {
    let mut out = Explanation::new(key, context);
    let detail = ruleset.evaluate(key, context);
    let Some(id) = ruleset.flag_names().find(key) else {
        out.steps.push(Step::Flag { found: false });
        return out;
    };
    let flag = ruleset.flag_row(id);
    out.steps.push(Step::Flag { found: true });
    let name_of = |local: u32| -> String {
        let v = ruleset.variation(flag, local);
        ruleset.strings().get(v.name).to_string()
    };
    out.steps.push(Step::Enabled {
        enabled: flag.enabled,
        when_disabled: name_of(flag.when_disabled),
    });
    // The answer is the evaluator's, whatever the steps below show.
    out.value = detail.value.cloned();
    out.variation = detail.variation.map(str::to_string);
    out.reason = detail.reason.as_str();
    out.rule = detail.matched.map(|m| m.to_string());
    out.error = detail.error.map(|e| e.as_str());
    if !flag.enabled {
        return out;
    }

    let targets = ruleset.targets(flag.targets);
    let key_id = context.key().and_then(|k| ruleset.keys().find(k));
    let hit = key_id.and_then(|k| targets.iter().find(|t| t.keys.contains(k)));
    out.steps.push(Step::Targets {
        lists: targets.len(),
        matched: hit.map(|t| name_of(t.variation)),
    });
    if hit.is_some() {
        return out;
    }

    let compiled_split = |split_index: u32| -> Option<SplitTrace> {
        let split = ruleset.split(split_index);
        let by = (split.by != tables::NONE).then(|| ruleset.strings().get(ruleset.attr(split.by)));
        let arms = ruleset.arms(split.arms);
        let mut start = 0u32;
        let widths = arms.iter().map(|arm| {
            let width = arm.end.saturating_sub(start);
            start = arm.end;
            (name_of(arm.variation), width)
        });
        Some(split_trace(
            by,
            ruleset.strings().get(split.salt),
            widths.collect::<Vec<_>>().into_iter(),
            context,
        ))
    };

    let matched_rule = match detail.matched {
        Some(Matched::Rule { index, .. }) => Some(index as usize),
        _ => None,
    };
    let rules = ruleset.rules(flag.rules);
    for (index, rule) in rules.iter().enumerate() {
        let name = if rule.name == tables::NONE {
            format!("rule#{index}")
        } else {
            ruleset
                .strings()
                .get(crate::compile::strings::StrId(rule.name))
                .to_string()
        };
        let matched = matched_rule == Some(index);
        let split = match rule.serve {
            tables::ServeRef::Split(s) => compiled_split(s),
            tables::ServeRef::Variation(_) => None,
        };
        let cannot_bucket = split.as_ref().is_some_and(|s| s.bucket.is_none());
        out.steps.push(Step::Rule(RuleStep {
            index,
            name,
            condition: matched.then_some(true),
            atoms: Vec::new(),
            split: split.filter(|_| matched || cannot_bucket),
            matched,
            variation: if matched { out.variation.clone() } else { None },
        }));
        if matched {
            return out;
        }
    }

    if flag.rollout != tables::NONE {
        if let Some(split) = compiled_split(flag.rollout) {
            let applies = split.variation.is_some();
            out.steps.push(Step::Rollout { split });
            if applies {
                return out;
            }
        }
    }
    out.steps.push(Step::Default {
        variation: name_of(flag.default),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{check, Limits, Source};

    fn program(text: &str) -> Program {
        let sources = [Source {
            name: "t.flags".into(),
            text: text.into(),
        }];
        match check(&sources, &Limits::default()) {
            Ok(p) => p,
            Err(d) => panic!("{}", crate::check::render(&d, &sources)),
        }
    }

    fn ctx(json: &str) -> Context {
        Context::from_json_str(json).expect("valid context")
    }

    const SPEC: &str = include_str!("../../corpus/spec/example.flags");

    #[test]
    fn first_failing_atom_and_the_value_it_saw() {
        let p = program(SPEC);
        let e = explain(
            &p,
            "new-checkout",
            &ctx(r#"{"key":"zed","platform":"android"}"#),
        );
        let rule = e
            .steps
            .iter()
            .find_map(|s| match s {
                Step::Rule(r) if r.index == 1 => Some(r),
                _ => None,
            })
            .expect("rule 1 tried");
        assert_eq!(rule.condition, Some(false));
        assert_eq!(rule.atoms.len(), 1, "{:?}", rule.atoms);
        assert_eq!(rule.atoms[0].atom, r#"platform == "ios""#);
        assert_eq!(rule.atoms[0].saw, Some(serde_json::json!("android")));
        assert!(!rule.atoms[0].holds);
    }

    #[test]
    fn split_reports_the_bucket_and_the_arm() {
        let p = program(SPEC);
        let context = ctx(r#"{"key":"zed","org_id":1042}"#);
        let e = explain(&p, "new-checkout", &context);
        let Some(Step::Rollout { split }) = e.steps.last() else {
            panic!("rollout tried: {e:?}")
        };
        // docs/language.md §10: `new-checkout:1042` is bucket 4218.
        assert_eq!(split.bucket, Some(4218));
        assert_eq!(split.value.as_deref(), Some("1042"));
        assert_eq!(split.variation.as_deref(), Some("off"));
        assert_eq!(split.arms[0].to, 500);
        assert_eq!(e.rule.as_deref(), Some("rollout"));
    }

    #[test]
    fn disabled_unknown_and_target_stop_early() {
        let p = program(
            "flag k { enabled false when_disabled on rule if a == 1 => off }\nflag t { target on [\"x\"] }",
        );
        let e = explain(&p, "k", &ctx(r#"{"key":"x"}"#));
        assert_eq!(e.reason, "DISABLED");
        assert_eq!(e.steps.len(), 2);
        let e = explain(&p, "nope", &ctx(r#"{"key":"x"}"#));
        assert_eq!(e.reason, "ERROR");
        assert_eq!(e.error, Some("FLAG_NOT_FOUND"));
        assert_eq!(e.steps, vec![Step::Flag { found: false }]);
        let e = explain(&p, "t", &ctx(r#"{"key":"x"}"#));
        assert_eq!(e.rule.as_deref(), Some("target"));
        assert!(e.to_text().contains("is targeted"), "{}", e.to_text());
    }

    #[test]
    fn or_lists_every_failing_arm_and_not_is_marked() {
        let p = program("flag f { rule if a == 1 or not b exists => on }");
        let e = explain(&p, "f", &ctx(r#"{"key":"x","a":2,"b":true}"#));
        let Some(Step::Rule(rule)) = e.steps.get(3) else {
            panic!("{e:?}")
        };
        assert_eq!(rule.atoms.len(), 2);
        assert!(rule.atoms[1].negated && rule.atoms[1].holds);
        assert_eq!(e.reason, "DEFAULT");
    }

    #[test]
    fn unbucketable_rule_split_falls_through() {
        let p = program("flag f { rule \"r\" if a exists => split by org { on: 50%, off: 50% } }");
        let e = explain(&p, "f", &ctx(r#"{"key":"x","a":1}"#));
        assert_eq!(e.reason, "DEFAULT");
        let text = e.to_text();
        assert!(text.contains("cannot bucket"), "{text}");
    }

    #[test]
    fn agrees_with_the_interpreter_on_the_example_corpus() {
        let names = ["checkout", "mobile", "platform", "search", "segments"];
        let sources: Vec<Source> = names
            .iter()
            .map(|n| Source {
                name: format!("{n}.flags"),
                text: std::fs::read_to_string(format!(
                    "{}/corpus/example/{n}.flags",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .expect("corpus file"),
            })
            .collect();
        let p = check(&sources, &Limits::default()).expect("corpus checks");
        let ruleset = crate::compile::compile(&p).expect("links");
        let lines = std::fs::read_to_string(format!(
            "{}/corpus/example/contexts.jsonl",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("contexts");
        let mut checked = 0;
        for line in lines.lines().filter(|l| !l.trim().is_empty()) {
            let context = ctx(line);
            for flag in &p.flags {
                let want = crate::interp::evaluate(&p, &flag.key, &context);
                for e in [
                    explain(&p, &flag.key, &context),
                    explain_compiled(&ruleset, &flag.key, &context),
                ] {
                    assert_eq!(e.value.as_ref(), want.value, "{} {line}", flag.key);
                    assert_eq!(e.variation.as_deref(), want.variation);
                    assert_eq!(e.reason, want.reason.as_str());
                    assert_eq!(e.rule, want.matched.map(|m| m.to_string()));
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }

    #[test]
    fn compiled_split_trace_matches_the_served_arm() {
        let p = program(SPEC);
        let ruleset = crate::compile::compile(&p).expect("links");
        let e = explain_compiled(
            &ruleset,
            "new-checkout",
            &ctx(r#"{"key":"zed","org_id":1042}"#),
        );
        let Some(Step::Rollout { split }) = e.steps.last() else {
            panic!("{e:?}")
        };
        assert_eq!(split.bucket, Some(4218));
        assert_eq!(split.variation, e.variation);
    }

    #[test]
    fn deep_conditions_are_decided_whole() {
        let deep = format!("{}a exists", "not ".repeat(MAX_TRACE_DEPTH + 1));
        let p = program(&format!("flag f {{ rule if {deep} => on }}"));
        let e = explain(&p, "f", &ctx(r#"{"key":"x"}"#));
        let Some(Step::Rule(rule)) = e.steps.get(3) else {
            panic!("{e:?}")
        };
        // An odd number of `not`s over a missing attribute's `exists`: true.
        assert_eq!(rule.condition, Some(true));
        assert!(rule.atoms.is_empty());
        assert_eq!(e.variation.as_deref(), Some("on"));
    }

    #[test]
    fn dates_and_versions_read_back() {
        let p = program(
            r#"flag f { rule if d >= date("2024-09-01T00:00:00.5+02:00") and v < semver("v2.3-rc.1") => on }"#,
        );
        let e = explain(
            &p,
            "f",
            &ctx(r#"{"key":"x","d":"2030-01-01T00:00:00Z","v":"1.0.0"}"#),
        );
        let Some(Step::Rule(rule)) = e.steps.get(3) else {
            panic!("{e:?}")
        };
        assert_eq!(rule.atoms[0].atom, r#"d >= date("2024-08-31T22:00:00.5Z")"#);
        assert_eq!(rule.atoms[1].atom, r#"v < semver("2.3.0-rc.1")"#);
        assert!(rule.matched);
    }
}
