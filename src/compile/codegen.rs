//! Lowering a checked [`Program`] into a [`Ruleset`].
//!
//! Conditions become short-circuit jump programs: each atom is emitted once,
//! in source order, as an [`Instr`] whose two targets say where to go when it
//! holds and when it does not. `and` chains "true" to the next operand, `or`
//! chains "false" to it, and `not` swaps the targets, so a negation costs
//! nothing at run time and every jump goes forward.

use std::collections::{BTreeMap, BTreeSet};

use roaring::RoaringBitmap;

use super::strings::{NameIndex, StrId};
use super::tables::*;
use crate::check::program::{self, Cond, List, Needle, Ordered, Program, Scalar, Serve, Test};

/// Compiles a checked program into decision tables.
pub fn compile(program: &Program) -> Ruleset {
    let mut c = Compiler::default();
    c.collect_names(program);
    for flag in &program.flags {
        c.flag(flag);
    }
    for segment in &program.segments {
        c.segment(segment);
    }
    c.out
}

#[derive(Default)]
struct Compiler {
    out: Ruleset,
    interned: BTreeMap<String, StrId>,
    attr_ids: BTreeMap<String, u32>,
}

impl Compiler {
    fn intern(&mut self, s: &str) -> StrId {
        if let Some(&id) = self.interned.get(s) {
            return id;
        }
        let id = self.out.strings.push(s);
        self.interned.insert(s.to_string(), id);
        id
    }

    /// Interns attribute names (sorted, so contexts bind by merge-join), context keys and flag keys.
    fn collect_names(&mut self, program: &Program) {
        let mut attrs = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for flag in &program.flags {
            for target in &flag.targets {
                keys.extend(target.keys.iter().map(String::as_str));
            }
            for rule in &flag.rules {
                cond_attrs(&rule.cond, &mut attrs);
                if let Serve::Split(split) = &rule.serve {
                    attrs.extend(split.by.as_deref());
                }
            }
            if let Some(split) = &flag.rollout {
                attrs.extend(split.by.as_deref());
            }
        }
        for segment in &program.segments {
            keys.extend(segment.include.iter().map(String::as_str));
            keys.extend(segment.exclude.iter().map(String::as_str));
            for cond in &segment.matches {
                cond_attrs(cond, &mut attrs);
            }
        }
        for (i, attr) in attrs.iter().enumerate() {
            let id = self.intern(attr);
            self.out.attrs.push(id);
            self.attr_ids.insert((*attr).to_string(), i as u32);
        }
        self.out.keys = NameIndex::build(keys);
        self.out.flag_keys = NameIndex::build(program.flags.iter().map(|f| f.key.as_str()));
    }

    fn attr(&self, name: &str) -> u32 {
        // Every attribute was collected by `collect_names`.
        self.attr_ids.get(name).copied().unwrap_or(NONE)
    }

    fn bitmap(&self, keys: &[String]) -> RoaringBitmap {
        keys.iter().filter_map(|k| self.out.keys.find(k)).collect()
    }

    fn flag(&mut self, flag: &program::Flag) {
        let variations = Range32 {
            start: self.out.variations.len() as u32,
            len: flag.variations.len() as u32,
        };
        for v in &flag.variations {
            let name = self.intern(&v.name);
            self.out.variations.push(Variation {
                name,
                value: v.value.clone(),
            });
        }
        let salt = self.intern(&flag.salt);
        let targets_start = self.out.targets.len() as u32;
        for target in &flag.targets {
            let keys = self.bitmap(&target.keys);
            self.out.targets.push(Target {
                variation: target.variation.0,
                keys,
            });
        }
        let rules_start = self.out.rules.len() as u32;
        let mut rules = Vec::with_capacity(flag.rules.len());
        for rule in &flag.rules {
            let name = match &rule.name {
                Some(n) => self.intern(n).0,
                None => NONE,
            };
            let entry = self.condition(&rule.cond);
            let serve = match &rule.serve {
                Serve::Variation(v) => ServeRef::Variation(v.0),
                Serve::Split(split) => ServeRef::Split(self.split(split, salt)),
            };
            rules.push(Rule { name, entry, serve });
        }
        self.out.rules.extend(rules);
        let rollout = match &flag.rollout {
            Some(split) => self.split(split, salt),
            None => NONE,
        };
        self.out.flags.push(Flag {
            variations,
            default: flag.default.0,
            when_disabled: flag.when_disabled.0,
            enabled: flag.enabled,
            salt,
            targets: Range32 {
                start: targets_start,
                len: self.out.targets.len() as u32 - targets_start,
            },
            rules: Range32 {
                start: rules_start,
                len: flag.rules.len() as u32,
            },
            rollout,
        });
    }

    fn split(&mut self, split: &program::Split, salt: StrId) -> u32 {
        let by = split.by.as_deref().map_or(NONE, |a| self.attr(a));
        let start = self.out.arms.len() as u32;
        let mut end = 0;
        for &(variation, width) in &split.arms {
            if width == 0 {
                continue;
            }
            end += width;
            self.out.arms.push(Arm {
                end,
                variation: variation.0,
            });
        }
        self.out.splits.push(Split {
            by,
            salt,
            arms: Range32 {
                start,
                len: self.out.arms.len() as u32 - start,
            },
        });
        self.out.splits.len() as u32 - 1
    }

    fn segment(&mut self, segment: &program::Segment) {
        let name = self.intern(&segment.name);
        let entry = match segment.matches.as_slice() {
            [] => NONE,
            [one] => self.condition(one),
            many => self.condition(&Cond::Any(many.to_vec())),
        };
        self.out.segments.push(Segment {
            name,
            include: self.bitmap(&segment.include),
            exclude: self.bitmap(&segment.exclude),
            entry,
        });
    }

    /// Emits a condition program and returns its entry point.
    fn condition(&mut self, cond: &Cond) -> u32 {
        let entry = self.out.code.len() as u32;
        self.emit(cond, JUMP_TRUE, JUMP_FALSE);
        entry
    }

    fn emit(&mut self, cond: &Cond, on_true: u32, on_false: u32) {
        match cond {
            Cond::All(parts) => {
                for (i, part) in parts.iter().enumerate() {
                    let next = self.out.code.len() as u32 + atoms(part);
                    let t = if i + 1 == parts.len() { on_true } else { next };
                    self.emit(part, t, on_false);
                }
            }
            Cond::Any(parts) => {
                for (i, part) in parts.iter().enumerate() {
                    let next = self.out.code.len() as u32 + atoms(part);
                    let f = if i + 1 == parts.len() { on_false } else { next };
                    self.emit(part, on_true, f);
                }
            }
            Cond::Not(inner) => self.emit(inner, on_false, on_true),
            Cond::Segment(s) => self.push(Atom::Segment(s.0), on_true, on_false),
            Cond::Prereq { flag, variation } => {
                self.push(Atom::Prereq(flag.0, variation.0), on_true, on_false)
            }
            Cond::Exists(attr) => {
                let attr = self.attr(attr);
                self.push(Atom::Exists(attr), on_true, on_false)
            }
            Cond::Compare { attr, test } => {
                let attr = self.attr(attr);
                let (negate, pred) = self.test(test);
                self.push(Atom::Cmp { attr, negate, pred }, on_true, on_false)
            }
        }
    }

    fn push(&mut self, atom: Atom, on_true: u32, on_false: u32) {
        self.out.code.push(Instr {
            atom,
            on_true,
            on_false,
        });
    }

    fn test(&mut self, test: &Test) -> (bool, Pred) {
        match test {
            Test::Eq(s) => (false, self.scalar(s)),
            Test::Ne(s) => (true, self.scalar(s)),
            Test::Order(ord, lit) => {
                let rel = match ord {
                    program::Ordering::Lt => Rel::Lt,
                    program::Ordering::Le => Rel::Le,
                    program::Ordering::Gt => Rel::Gt,
                    program::Ordering::Ge => Rel::Ge,
                };
                let pred = match lit {
                    Ordered::Num(n) => Pred::Num(rel, *n),
                    Ordered::Semver(v) => Pred::Semver(rel, self.version(v)),
                    Ordered::Date(d) => Pred::Date(rel, self.instant(*d)),
                };
                (false, pred)
            }
            Test::In(list) => (false, self.list(list)),
            Test::NotIn(list) => (true, self.list(list)),
            Test::Contains(Needle::Str(s)) => (false, Pred::ContainsStr(self.intern(s))),
            Test::Contains(Needle::Num(n)) => (false, Pred::ContainsNum(*n)),
            Test::StartsWith(s) => (false, Pred::StartsWith(self.intern(s))),
            Test::EndsWith(s) => (false, Pred::EndsWith(self.intern(s))),
            Test::Matches(re) => {
                let pattern = self.intern(re.as_str());
                self.out.regexes.push((pattern, re.clone()));
                (false, Pred::Matches(self.out.regexes.len() as u32 - 1))
            }
        }
    }

    fn scalar(&mut self, s: &Scalar) -> Pred {
        match s {
            Scalar::Str(s) => Pred::StrEq(self.intern(s)),
            Scalar::Num(n) => Pred::Num(Rel::Eq, *n),
            Scalar::Bool(b) => Pred::BoolEq(*b),
            Scalar::Semver(v) => Pred::Semver(Rel::Eq, self.version(v)),
            Scalar::Date(d) => Pred::Date(Rel::Eq, self.instant(*d)),
        }
    }

    fn version(&mut self, v: &crate::values::semver::Version) -> u32 {
        self.out.versions.push(v.clone());
        self.out.versions.len() as u32 - 1
    }

    fn instant(&mut self, d: crate::values::date::Instant) -> u32 {
        self.out.instants.push(d);
        self.out.instants.len() as u32 - 1
    }

    fn list(&mut self, list: &List) -> Pred {
        match list {
            List::Empty => Pred::EmptyIn,
            List::Strs(items) => {
                let sorted: BTreeSet<&str> = items.iter().map(String::as_str).collect();
                let start = self.out.str_sets.len() as u32;
                for s in sorted {
                    let id = self.intern(s);
                    self.out.str_sets.push(id);
                }
                Pred::StrIn(Range32 {
                    start,
                    len: self.out.str_sets.len() as u32 - start,
                })
            }
            List::Nums(items) => {
                let mut sorted: Vec<f64> = items
                    .iter()
                    .map(|n| if *n == 0.0 { 0.0 } else { *n })
                    .collect();
                sorted.sort_by(f64::total_cmp);
                sorted.dedup();
                let start = self.out.num_sets.len() as u32;
                self.out.num_sets.extend(sorted);
                Pred::NumIn(Range32 {
                    start,
                    len: self.out.num_sets.len() as u32 - start,
                })
            }
        }
    }
}

/// Number of atoms (instructions) a condition compiles to.
fn atoms(cond: &Cond) -> u32 {
    match cond {
        Cond::All(parts) | Cond::Any(parts) => parts.iter().map(atoms).sum(),
        Cond::Not(inner) => atoms(inner),
        _ => 1,
    }
}

fn cond_attrs<'p>(cond: &'p Cond, out: &mut BTreeSet<&'p str>) {
    match cond {
        Cond::All(parts) | Cond::Any(parts) => parts.iter().for_each(|p| cond_attrs(p, out)),
        Cond::Not(inner) => cond_attrs(inner, out),
        Cond::Exists(attr) | Cond::Compare { attr, .. } => {
            out.insert(attr);
        }
        Cond::Segment(_) | Cond::Prereq { .. } => {}
    }
}
