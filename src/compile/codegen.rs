//! Lowering a checked [`Program`] into units, one per flag and segment.
//!
//! Conditions become short-circuit jump programs: each atom is emitted once
//! as an instruction whose two targets say where to go when it holds and
//! when it does not. `and` chains "true" to the next operand, `or` chains
//! "false" to it, and `not` swaps the targets, so a negation costs nothing
//! at run time and every jump goes forward.
//!
//! The operands of an `and` or an `or` are emitted cheapest first (by
//! [`cost`], a static estimate; ties keep source order). Every atom is a
//! total, side-effect-free test — a missing attribute or a type mismatch
//! is false, segments and prerequisites are memoized — so the order changes
//! how much is evaluated, never the answer; `explain` follows the source
//! through the interpreter.

use std::collections::BTreeSet;

use roaring::RoaringBitmap;

use super::strings::NameIndex;
use super::tables::{Rel, JUMP_FALSE, JUMP_TRUE};
use super::unit::*;
use crate::check::program::{self, Cond, List, Needle, Ordered, Program, Scalar, Serve, Test};

/// The context keys a program names (targets, include, exclude), in order of
/// key ids: those of `base` first (keeping their ids), then new ones sorted.
pub fn key_index(program: &Program, base: Option<&NameIndex>) -> NameIndex {
    let mut named = BTreeSet::new();
    for flag in &program.flags {
        for target in &flag.targets {
            named.extend(target.keys.iter().map(String::as_str));
        }
    }
    for segment in &program.segments {
        named.extend(segment.include.iter().map(String::as_str));
        named.extend(segment.exclude.iter().map(String::as_str));
    }
    match base {
        None => NameIndex::build(named),
        Some(base) => {
            let old = (0..base.len() as u32).map(|i| base.name(i));
            let new = named.into_iter().filter(|k| base.find(k).is_none());
            NameIndex::build(old.chain(new))
        }
    }
}

/// Compiles every flag and segment of a program into units, with target and
/// segment keys numbered by `keys`.
pub fn units(program: &Program, keys: &NameIndex) -> (Vec<FlagUnit>, Vec<SegmentUnit>) {
    let flags = program
        .flags
        .iter()
        .map(|f| flag_unit(program, f, keys))
        .collect();
    let segments = program
        .segments
        .iter()
        .map(|s| segment_unit(program, s, keys))
        .collect();
    (flags, segments)
}

fn bitmap(keys: &NameIndex, list: &[String]) -> RoaringBitmap {
    list.iter().filter_map(|k| keys.find(k)).collect()
}

fn flag_unit(program: &Program, flag: &program::Flag, keys: &NameIndex) -> FlagUnit {
    let mut code = Code {
        program,
        instrs: Vec::new(),
    };
    let rules = flag
        .rules
        .iter()
        .map(|rule| {
            let entry = code.condition(&rule.cond);
            let serve = match &rule.serve {
                Serve::Variation(v) => UnitServe::Variation(v.0),
                Serve::Split(split) => UnitServe::Split(unit_split(split)),
            };
            UnitRule {
                name: rule.name.clone(),
                entry,
                serve,
            }
        })
        .collect();
    FlagUnit {
        key: flag.key.clone(),
        variations: flag
            .variations
            .iter()
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect(),
        default: flag.default.0,
        when_disabled: flag.when_disabled.0,
        enabled: flag.enabled,
        salt: flag.salt.clone(),
        targets: flag
            .targets
            .iter()
            .map(|t| (t.variation.0, bitmap(keys, &t.keys)))
            .collect(),
        rules,
        rollout: flag.rollout.as_ref().map(unit_split),
        code: code.instrs,
    }
}

fn unit_split(split: &program::Split) -> UnitSplit {
    let mut end = 0;
    let mut arms = Vec::with_capacity(split.arms.len());
    for &(variation, width) in &split.arms {
        if width > 0 {
            end += width;
            arms.push((end, variation.0));
        }
    }
    UnitSplit {
        by: split.by.clone(),
        arms,
    }
}

fn segment_unit(program: &Program, segment: &program::Segment, keys: &NameIndex) -> SegmentUnit {
    let mut code = Code {
        program,
        instrs: Vec::new(),
    };
    match segment.matches.as_slice() {
        [] => {}
        [one] => {
            code.condition(one);
        }
        many => {
            code.condition(&Cond::Any(many.to_vec()));
        }
    }
    SegmentUnit {
        name: segment.name.clone(),
        include: bitmap(keys, &segment.include),
        exclude: bitmap(keys, &segment.exclude),
        code: code.instrs,
    }
}

/// The code of one unit being emitted.
struct Code<'p> {
    program: &'p Program,
    instrs: Vec<UnitInstr>,
}

impl Code<'_> {
    /// Emits a condition program and returns its entry point.
    fn condition(&mut self, cond: &Cond) -> u32 {
        let entry = self.instrs.len() as u32;
        self.emit(cond, JUMP_TRUE, JUMP_FALSE);
        entry
    }

    fn next_after(&self, part: &Cond) -> u32 {
        self.instrs.len() as u32 + atoms(part)
    }

    fn emit(&mut self, cond: &Cond, on_true: u32, on_false: u32) {
        match cond {
            Cond::All(parts) => {
                for (i, part) in cheapest_first(parts).enumerate() {
                    let t = if i + 1 == parts.len() {
                        on_true
                    } else {
                        self.next_after(part)
                    };
                    self.emit(part, t, on_false);
                }
            }
            Cond::Any(parts) => {
                for (i, part) in cheapest_first(parts).enumerate() {
                    let f = if i + 1 == parts.len() {
                        on_false
                    } else {
                        self.next_after(part)
                    };
                    self.emit(part, on_true, f);
                }
            }
            Cond::Not(inner) => self.emit(inner, on_false, on_true),
            atom => {
                let atom = self.atom(atom);
                self.instrs.push(UnitInstr {
                    atom,
                    on_true,
                    on_false,
                });
            }
        }
    }

    fn atom(&self, cond: &Cond) -> UnitAtom {
        let name_of_segment = |id: program::SegmentId| {
            self.program
                .segments
                .get(id.0 as usize)
                .map(|s| s.name.clone())
                .unwrap_or_default()
        };
        let key_of_flag = |id: program::FlagId| {
            self.program
                .flags
                .get(id.0 as usize)
                .map(|f| f.key.clone())
                .unwrap_or_default()
        };
        match cond {
            Cond::Segment(s) => UnitAtom::Segment(name_of_segment(*s)),
            Cond::Prereq { flag, variation } => UnitAtom::Prereq(key_of_flag(*flag), variation.0),
            Cond::Exists(attr) => UnitAtom::Exists(attr.clone()),
            Cond::Compare { attr, test } => {
                let (negate, pred) = test_pred(test);
                UnitAtom::Cmp {
                    attr: attr.clone(),
                    negate,
                    pred,
                }
            }
            // `emit` handles the connectives; they never reach here.
            Cond::All(_) | Cond::Any(_) | Cond::Not(_) => UnitAtom::Exists(String::new()),
        }
    }
}

fn test_pred(test: &Test) -> (bool, UnitPred) {
    match test {
        Test::Eq(s) => (false, scalar(s)),
        Test::Ne(s) => (true, scalar(s)),
        Test::Order(ord, lit) => {
            let rel = match ord {
                program::Ordering::Lt => Rel::Lt,
                program::Ordering::Le => Rel::Le,
                program::Ordering::Gt => Rel::Gt,
                program::Ordering::Ge => Rel::Ge,
            };
            let pred = match lit {
                Ordered::Num(n) => UnitPred::Num(rel, *n),
                Ordered::Semver(v) => UnitPred::Semver(rel, v.clone()),
                Ordered::Date(d) => UnitPred::Date(rel, *d),
            };
            (false, pred)
        }
        Test::In(list) => (false, list_pred(list)),
        Test::NotIn(list) => (true, list_pred(list)),
        Test::Contains(Needle::Str(s)) => (false, UnitPred::ContainsStr(s.clone())),
        Test::Contains(Needle::Num(n)) => (false, UnitPred::ContainsNum(*n)),
        Test::StartsWith(s) => (false, UnitPred::StartsWith(s.clone())),
        Test::EndsWith(s) => (false, UnitPred::EndsWith(s.clone())),
        Test::Matches(re) => (false, UnitPred::Matches(Pattern(re.clone()))),
    }
}

fn scalar(s: &Scalar) -> UnitPred {
    match s {
        Scalar::Str(s) => UnitPred::StrEq(s.clone()),
        Scalar::Num(n) => UnitPred::Num(Rel::Eq, *n),
        Scalar::Bool(b) => UnitPred::BoolEq(*b),
        Scalar::Semver(v) => UnitPred::Semver(Rel::Eq, v.clone()),
        Scalar::Date(d) => UnitPred::Date(Rel::Eq, *d),
    }
}

fn list_pred(list: &List) -> UnitPred {
    match list {
        List::Empty => UnitPred::EmptyIn,
        List::Strs(items) => {
            let sorted: BTreeSet<&str> = items.iter().map(String::as_str).collect();
            UnitPred::StrIn(sorted.into_iter().map(str::to_string).collect())
        }
        List::Nums(items) => {
            // -0 and 0 are one number.
            let mut sorted: Vec<f64> = items
                .iter()
                .map(|n| if *n == 0.0 { 0.0 } else { *n })
                .collect();
            sorted.sort_by(f64::total_cmp);
            sorted.dedup();
            UnitPred::NumIn(sorted)
        }
    }
}

/// The operands of an `and` or `or`, cheapest first ([`cost`]; a stable
/// sort, so equal costs keep their source order).
fn cheapest_first(parts: &[Cond]) -> impl Iterator<Item = &Cond> {
    // Each part's cost computed once; most connectives have few operands,
    // so the order lives on the stack.
    let mut order: smallvec::SmallVec<[(u32, &Cond); 8]> =
        parts.iter().map(|part| (cost(part), part)).collect();
    order.sort_by_key(|&(cost, _)| cost);
    order.into_iter().map(|(_, part)| part)
}

/// A static estimate of what evaluating a condition costs, in rough units
/// of one attribute read and compare (relative only: it orders operands).
/// Scalar compares are cheapest; list lookups, prefix and suffix tests
/// read a string; semver and dates may parse one; `contains` scans an
/// array or searches a string; a regex runs an automaton; a segment or a
/// prerequisite evaluates other rules.
fn cost(cond: &Cond) -> u32 {
    match cond {
        Cond::All(parts) | Cond::Any(parts) => parts.iter().map(cost).fold(0, u32::saturating_add),
        Cond::Not(inner) => cost(inner),
        Cond::Exists(_) => 1,
        Cond::Compare { test, .. } => match test {
            Test::Eq(s) | Test::Ne(s) => match s {
                Scalar::Bool(_) | Scalar::Num(_) => 2,
                Scalar::Str(_) => 3,
                Scalar::Semver(_) | Scalar::Date(_) => 6,
            },
            Test::Order(_, Ordered::Num(_)) => 2,
            Test::Order(..) => 6,
            Test::In(_) | Test::NotIn(_) | Test::StartsWith(_) | Test::EndsWith(_) => 4,
            Test::Contains(_) => 8,
            Test::Matches(_) => 20,
        },
        Cond::Segment(_) => 30,
        Cond::Prereq { .. } => 40,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{check, Limits, Source};

    /// The first flag's code, compiled from `text`.
    fn first_flag_code(text: &str) -> Vec<UnitInstr> {
        let sources = [Source {
            name: "t.flags".into(),
            text: text.into(),
        }];
        let program = check(&sources, &Limits::default()).expect("compiles");
        let (flags, _) = units(&program, &key_index(&program, None));
        flags.into_iter().next().expect("one flag").code
    }

    /// The attributes the first flag's code reads, in emitted order.
    fn emitted(text: &str) -> Vec<String> {
        first_flag_code(text)
            .iter()
            .map(|i| match &i.atom {
                UnitAtom::Cmp { attr, .. } | UnitAtom::Exists(attr) => attr.clone(),
                UnitAtom::Segment(s) => format!("segment {s}"),
                UnitAtom::Prereq(f, _) => format!("flag {f}"),
            })
            .collect()
    }

    #[test]
    fn operands_run_cheapest_first() {
        // An array scan after a number compare, for `and` and for `or`.
        let and = emitted(r#"flag f { rule "r" if tags contains "x" and score < 3 => on }"#);
        assert_eq!(and, ["score", "tags"]);
        let or = emitted(r#"flag f { rule "r" if tags contains "x" or score < 3 => on }"#);
        assert_eq!(or, ["score", "tags"]);
        // A segment after the attribute tests, a regex after a list.
        let text = r#"
segment s { include ["u"] }
flag f { rule "r" if segment s and email matches "a+" and plan in ["a", "b"] => on }"#;
        assert_eq!(emitted(text), ["plan", "email", "segment s"]);
        // Equal costs keep their source order.
        let ties = emitted(r#"flag f { rule "r" if b == "x" and a == "y" and c == "z" => on }"#);
        assert_eq!(ties, ["b", "a", "c"]);
    }

    #[test]
    fn reordered_operands_keep_their_jumps() {
        // `not (a contains "x" and n > 1)`: n first, and the negation
        // swaps the ends: n false makes the whole condition true.
        let code =
            first_flag_code(r#"flag f { rule "r" if not (a contains "x" and n > 1) => on }"#);
        assert!(matches!(&code[0].atom, UnitAtom::Cmp { attr, .. } if attr == "n"));
        assert_eq!((code[0].on_true, code[0].on_false), (1, JUMP_TRUE));
        assert_eq!((code[1].on_true, code[1].on_false), (JUMP_FALSE, JUMP_TRUE));
    }
}
