//! Linking units into a [`Ruleset`], and unlinking a ruleset back into units.
//!
//! [`link`] is the one place that decides the layout of the decision tables:
//! strings are interned in a fixed traversal order, attribute names are
//! sorted and numbered, each unit's code is appended and its local jumps
//! relocated, names of flags, segments and attributes become indices. It is
//! deterministic: the same units and key table always give the same tables.
//!
//! [`unlink`] is its inverse on any valid ruleset: `link(unlink(r)) == r`
//! for rulesets produced by `link` (tested below and by the snapshot
//! patches, which depend on it).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::strings::{NameIndex, StrId};
use super::tables::*;
use super::unit::*;

/// Errors of linking: a unit names something that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// A condition names a flag that is not among the units.
    #[error("unknown flag `{0}` referenced by a condition")]
    UnknownFlag(String),
    /// A condition names a segment that is not among the units.
    #[error("unknown segment `{0}` referenced by a condition")]
    UnknownSegment(String),
    /// Two units have the same name.
    #[error("`{0}` is defined twice")]
    Duplicate(String),
    /// A ruleset cannot be unlinked (an index out of range, a jump out of its program).
    #[error("the ruleset cannot be split into units: {0}")]
    Malformed(String),
    /// The linked tables fail validation (a unit names a variation, an
    /// attribute or a jump that does not exist; only for units not made by
    /// the compiler).
    #[error("the linked tables are invalid: {0}")]
    Invalid(String),
}

/// Lays units out into decision tables, with `keys` as the key table, and
/// validates them ([`Ruleset::from_tables`]).
pub fn link(
    flags: &[FlagUnit],
    segments: &[SegmentUnit],
    keys: NameIndex,
) -> Result<Ruleset, LinkError> {
    let (tables, regexes) = link_tables(flags, segments, keys)?;
    Ruleset::from_tables(tables, Regexes::Compiled(regexes))
        .map_err(|e| LinkError::Invalid(e.to_string()))
}

/// Lays units out into decision tables, not yet validated, with the
/// compiled regexes (one per entry of [`Tables::regexes`]).
pub(crate) fn link_tables(
    flags: &[FlagUnit],
    segments: &[SegmentUnit],
    keys: NameIndex,
) -> Result<(Tables, Vec<regex::Regex>), LinkError> {
    let mut flag_ids = HashMap::with_capacity(flags.len());
    for (i, f) in flags.iter().enumerate() {
        if flag_ids.insert(f.key.as_str(), i as u32).is_some() {
            return Err(LinkError::Duplicate(f.key.clone()));
        }
    }
    let mut segment_ids = HashMap::with_capacity(segments.len());
    for (i, s) in segments.iter().enumerate() {
        if segment_ids.insert(s.name.as_str(), i as u32).is_some() {
            return Err(LinkError::Duplicate(s.name.clone()));
        }
    }
    let mut linker = Linker {
        out: Tables::default(),
        regexes: Vec::new(),
        interned: BTreeMap::new(),
        attr_ids: BTreeMap::new(),
        flag_ids,
        segment_ids,
    };
    linker.attributes(flags, segments);
    linker.out.keys = keys;
    linker.out.flag_keys = NameIndex::build(flags.iter().map(|f| f.key.as_str()));
    for flag in flags {
        linker.flag(flag)?;
    }
    for segment in segments {
        linker.segment(segment)?;
    }
    Ok((linker.out, linker.regexes))
}

struct Linker<'u> {
    out: Tables,
    /// The compiled regexes, parallel to `out.regexes`.
    regexes: Vec<regex::Regex>,
    interned: BTreeMap<&'u str, StrId>,
    attr_ids: BTreeMap<&'u str, u32>,
    flag_ids: HashMap<&'u str, u32>,
    segment_ids: HashMap<&'u str, u32>,
}

impl<'u> Linker<'u> {
    fn intern(&mut self, s: &'u str) -> StrId {
        if let Some(&id) = self.interned.get(s) {
            return id;
        }
        let id = self.out.strings.push(s);
        self.interned.insert(s, id);
        id
    }

    /// Attribute names in `context::name_order` (contexts bind to them by merge-join).
    fn attributes(&mut self, flags: &'u [FlagUnit], segments: &'u [SegmentUnit]) {
        let mut names = BTreeSet::new();
        for flag in flags {
            code_attrs(&flag.code, &mut names);
            for rule in &flag.rules {
                if let UnitServe::Split(split) = &rule.serve {
                    names.extend(split.by.as_deref());
                }
            }
            if let Some(split) = &flag.rollout {
                names.extend(split.by.as_deref());
            }
        }
        for segment in segments {
            code_attrs(&segment.code, &mut names);
        }
        let mut names: Vec<&str> = names.into_iter().collect();
        names.sort_by(|a, b| crate::context::name_order(a, b));
        for (i, name) in names.into_iter().enumerate() {
            let id = self.intern(name);
            self.out.attrs.push(id);
            self.attr_ids.insert(name, i as u32);
        }
    }

    fn flag(&mut self, flag: &'u FlagUnit) -> Result<(), LinkError> {
        let variations = Range32 {
            start: self.out.variations.len() as u32,
            len: flag.variations.len() as u32,
        };
        for (name, value) in &flag.variations {
            let name = self.intern(name);
            self.out.variations.push(Variation {
                name,
                value: value.clone(),
            });
        }
        let salt = self.intern(&flag.salt);
        let targets_start = self.out.targets.len() as u32;
        for (variation, keys) in &flag.targets {
            self.out.targets.push(Target {
                variation: *variation,
                keys: keys.clone(),
            });
        }
        let code_base = self.code(&flag.code)?;
        let rules_start = self.out.rules.len() as u32;
        for rule in &flag.rules {
            let name = match &rule.name {
                Some(n) => self.intern(n).0,
                None => NONE,
            };
            let serve = match &rule.serve {
                UnitServe::Variation(v) => ServeRef::Variation(*v),
                UnitServe::Split(split) => ServeRef::Split(self.split(split, salt)),
            };
            // Entries come from patch bytes too: overflow is malformed input.
            let entry = code_base
                .checked_add(rule.entry)
                .ok_or_else(|| malformed("rule entry out of range"))?;
            self.out.rules.push(Rule { name, entry, serve });
        }
        let rollout = match &flag.rollout {
            Some(split) => self.split(split, salt),
            None => NONE,
        };
        self.out.flags.push(Flag {
            variations,
            default: flag.default,
            when_disabled: flag.when_disabled,
            enabled: flag.enabled,
            salt,
            targets: Range32 {
                start: targets_start,
                len: flag.targets.len() as u32,
            },
            rules: Range32 {
                start: rules_start,
                len: flag.rules.len() as u32,
            },
            rollout,
        });
        Ok(())
    }

    fn split(&mut self, split: &'u UnitSplit, salt: StrId) -> u32 {
        let by = split
            .by
            .as_deref()
            .and_then(|a| self.attr_ids.get(a).copied())
            .unwrap_or(NONE);
        let start = self.out.arms.len() as u32;
        for &(end, variation) in &split.arms {
            self.out.arms.push(Arm { end, variation });
        }
        self.out.splits.push(Split {
            by,
            salt,
            arms: Range32 {
                start,
                len: split.arms.len() as u32,
            },
        });
        self.out.splits.len() as u32 - 1
    }

    fn segment(&mut self, segment: &'u SegmentUnit) -> Result<(), LinkError> {
        let name = self.intern(&segment.name);
        let entry = if segment.code.is_empty() {
            NONE
        } else {
            self.code(&segment.code)?
        };
        self.out.segments.push(Segment {
            name,
            include: segment.include.clone(),
            exclude: segment.exclude.clone(),
            entry,
        });
        Ok(())
    }

    /// Appends a unit's code, relocating its jumps; returns where it starts.
    fn code(&mut self, code: &'u [UnitInstr]) -> Result<u32, LinkError> {
        let base = u32::try_from(self.out.code.len())
            .map_err(|_| malformed("more instructions than 32-bit offsets reach"))?;
        // Jump offsets come from patch bytes too: one that overflows, or
        // lands on a reserved jump value, is malformed input, not a panic.
        let relocate = |t: u32| -> Result<u32, LinkError> {
            if t == JUMP_TRUE || t == JUMP_FALSE {
                return Ok(t);
            }
            base.checked_add(t)
                .filter(|&at| at < JUMP_FALSE)
                .ok_or_else(|| malformed("jump offset out of range"))
        };
        for instr in code {
            let atom = self.atom(&instr.atom)?;
            self.out.code.push(Instr {
                atom,
                on_true: relocate(instr.on_true)?,
                on_false: relocate(instr.on_false)?,
            });
        }
        Ok(base)
    }

    fn attr(&self, name: &str) -> u32 {
        self.attr_ids.get(name).copied().unwrap_or(NONE)
    }

    fn atom(&mut self, atom: &'u UnitAtom) -> Result<Atom, LinkError> {
        Ok(match atom {
            UnitAtom::Exists(attr) => Atom::Exists(self.attr(attr)),
            UnitAtom::Segment(name) => Atom::Segment(
                *self
                    .segment_ids
                    .get(name.as_str())
                    .ok_or_else(|| LinkError::UnknownSegment(name.clone()))?,
            ),
            UnitAtom::Prereq(flag, variation) => Atom::Prereq(
                *self
                    .flag_ids
                    .get(flag.as_str())
                    .ok_or_else(|| LinkError::UnknownFlag(flag.clone()))?,
                *variation,
            ),
            UnitAtom::Cmp { attr, negate, pred } => Atom::Cmp {
                attr: self.attr(attr),
                negate: *negate,
                pred: self.pred(pred),
            },
        })
    }

    fn pred(&mut self, pred: &'u UnitPred) -> Pred {
        match pred {
            UnitPred::StrEq(s) => Pred::StrEq(self.intern(s)),
            UnitPred::Num(rel, n) => Pred::Num(*rel, *n),
            UnitPred::BoolEq(b) => Pred::BoolEq(*b),
            UnitPred::Semver(rel, v) => {
                self.out.versions.push(v.clone());
                Pred::Semver(*rel, self.out.versions.len() as u32 - 1)
            }
            UnitPred::Date(rel, d) => {
                self.out.instants.push(*d);
                Pred::Date(*rel, self.out.instants.len() as u32 - 1)
            }
            UnitPred::StrIn(items) => {
                let start = self.out.str_sets.len() as u32;
                for s in items {
                    let id = self.intern(s);
                    self.out.str_sets.push(id);
                }
                Pred::StrIn(Range32 {
                    start,
                    len: items.len() as u32,
                })
            }
            UnitPred::NumIn(items) => {
                let start = self.out.num_sets.len() as u32;
                self.out.num_sets.extend_from_slice(items);
                Pred::NumIn(Range32 {
                    start,
                    len: items.len() as u32,
                })
            }
            UnitPred::EmptyIn => Pred::EmptyIn,
            UnitPred::ContainsStr(s) => Pred::ContainsStr(self.intern(s)),
            UnitPred::ContainsNum(n) => Pred::ContainsNum(*n),
            UnitPred::StartsWith(s) => Pred::StartsWith(self.intern(s)),
            UnitPred::EndsWith(s) => Pred::EndsWith(self.intern(s)),
            UnitPred::Matches(Pattern(re)) => {
                let pattern = self.intern(re.as_str());
                self.out.regexes.push(pattern);
                self.regexes.push(re.clone());
                Pred::Matches(self.out.regexes.len() as u32 - 1)
            }
        }
    }
}

fn code_attrs<'u>(code: &'u [UnitInstr], names: &mut BTreeSet<&'u str>) {
    for instr in code {
        match &instr.atom {
            UnitAtom::Exists(attr) | UnitAtom::Cmp { attr, .. } => {
                names.insert(attr);
            }
            UnitAtom::Segment(_) | UnitAtom::Prereq(..) => {}
        }
    }
}

/// Splits a ruleset back into units (and its key table).
pub fn unlink(ruleset: &Ruleset) -> Result<(Vec<FlagUnit>, Vec<SegmentUnit>), LinkError> {
    let rs = ruleset.tables();
    let u = Unlinker {
        rs,
        regexes: ruleset.compiled_regexes(),
    };
    let flags = (0..rs.flags.len())
        .map(|i| u.flag(i))
        .collect::<Result<_, _>>()?;
    let segments = (0..rs.segments.len())
        .map(|i| u.segment(i))
        .collect::<Result<_, _>>()?;
    Ok((flags, segments))
}

struct Unlinker<'r> {
    rs: &'r Tables,
    /// The compiled regexes, parallel to `rs.regexes`.
    regexes: &'r [regex::Regex],
}

fn malformed(what: &str) -> LinkError {
    LinkError::Malformed(what.to_string())
}

impl Unlinker<'_> {
    fn str(&self, id: StrId) -> String {
        self.rs.strings.get(id).to_string()
    }

    fn flag(&self, i: usize) -> Result<FlagUnit, LinkError> {
        let rs = self.rs;
        let flag = rs.flags.get(i).ok_or_else(|| malformed("flag index"))?;
        let variations = rs
            .variations
            .get(flag.variations.range())
            .ok_or_else(|| malformed("variation range"))?
            .iter()
            .map(|v| (self.str(v.name), v.value.clone()))
            .collect();
        let targets = rs
            .targets
            .get(flag.targets.range())
            .ok_or_else(|| malformed("target range"))?
            .iter()
            .map(|t| (t.variation, t.keys.clone()))
            .collect();
        let rules = rs
            .rules
            .get(flag.rules.range())
            .ok_or_else(|| malformed("rule range"))?;
        let (code, local) = self.extract(rules.iter().map(|r| r.entry))?;
        let rules = rules
            .iter()
            .map(|r| {
                let serve = match r.serve {
                    ServeRef::Variation(v) => UnitServe::Variation(v),
                    ServeRef::Split(s) => UnitServe::Split(self.split(s)?),
                };
                Ok(UnitRule {
                    name: (r.name != NONE).then(|| self.str(StrId(r.name))),
                    entry: local(r.entry),
                    serve,
                })
            })
            .collect::<Result<_, LinkError>>()?;
        let rollout = if flag.rollout == NONE {
            None
        } else {
            Some(self.split(flag.rollout)?)
        };
        Ok(FlagUnit {
            key: rs.flag_keys.name(i as u32).to_string(),
            variations,
            default: flag.default,
            when_disabled: flag.when_disabled,
            enabled: flag.enabled,
            salt: self.str(flag.salt),
            targets,
            rules,
            rollout,
            code,
        })
    }

    fn split(&self, i: u32) -> Result<UnitSplit, LinkError> {
        let split = self
            .rs
            .splits
            .get(i as usize)
            .ok_or_else(|| malformed("split index"))?;
        let arms = self
            .rs
            .arms
            .get(split.arms.range())
            .ok_or_else(|| malformed("arm range"))?
            .iter()
            .map(|a| (a.end, a.variation))
            .collect();
        let by = (split.by != NONE)
            .then(|| self.attr(split.by))
            .transpose()?;
        Ok(UnitSplit { by, arms })
    }

    fn attr(&self, id: u32) -> Result<String, LinkError> {
        self.rs
            .attrs
            .get(id as usize)
            .map(|&s| self.str(s))
            .ok_or_else(|| malformed("attribute index"))
    }

    fn segment(&self, i: usize) -> Result<SegmentUnit, LinkError> {
        let segment = self
            .rs
            .segments
            .get(i)
            .ok_or_else(|| malformed("segment index"))?;
        let entries: Vec<u32> = if segment.entry == NONE {
            Vec::new()
        } else {
            vec![segment.entry]
        };
        let (code, _) = self.extract(entries.into_iter())?;
        Ok(SegmentUnit {
            name: self.str(segment.name),
            include: segment.include.clone(),
            exclude: segment.exclude.clone(),
            code,
        })
    }

    /// The instructions reachable from `entries`, in ascending order, with
    /// jumps renumbered locally; and the map from global to local index.
    #[allow(clippy::type_complexity)]
    fn extract(
        &self,
        entries: impl Iterator<Item = u32>,
    ) -> Result<(Vec<UnitInstr>, impl Fn(u32) -> u32), LinkError> {
        let code = &self.rs.code;
        let mut reached = BTreeSet::new();
        let mut todo: Vec<u32> = entries.collect();
        while let Some(pc) = todo.pop() {
            if pc == JUMP_TRUE || pc == JUMP_FALSE || !reached.insert(pc) {
                continue;
            }
            let instr = code
                .get(pc as usize)
                .ok_or_else(|| malformed("jump target"))?;
            todo.push(instr.on_true);
            todo.push(instr.on_false);
        }
        let order: Vec<u32> = reached.into_iter().collect();
        let local = move |pc: u32| -> u32 {
            if pc == JUMP_TRUE || pc == JUMP_FALSE {
                pc
            } else {
                order.binary_search(&pc).map_or(NONE, |i| i as u32)
            }
        };
        let mut out = Vec::new();
        for pc in (0..code.len() as u32).filter(|pc| local(*pc) != NONE) {
            let instr = &code[pc as usize];
            out.push(UnitInstr {
                atom: self.atom(&instr.atom)?,
                on_true: local(instr.on_true),
                on_false: local(instr.on_false),
            });
        }
        Ok((out, local))
    }

    fn atom(&self, atom: &Atom) -> Result<UnitAtom, LinkError> {
        let rs = self.rs;
        Ok(match *atom {
            Atom::Exists(a) => UnitAtom::Exists(self.attr(a)?),
            Atom::Segment(s) => UnitAtom::Segment(
                rs.segments
                    .get(s as usize)
                    .map(|seg| self.str(seg.name))
                    .ok_or_else(|| malformed("segment reference"))?,
            ),
            Atom::Prereq(f, v) => {
                if f as usize >= rs.flags.len() {
                    return Err(malformed("flag reference"));
                }
                UnitAtom::Prereq(rs.flag_keys.name(f).to_string(), v)
            }
            Atom::Cmp { attr, negate, pred } => UnitAtom::Cmp {
                attr: self.attr(attr)?,
                negate,
                pred: self.pred(&pred)?,
            },
        })
    }

    fn pred(&self, pred: &Pred) -> Result<UnitPred, LinkError> {
        let rs = self.rs;
        Ok(match *pred {
            Pred::StrEq(s) => UnitPred::StrEq(self.str(s)),
            Pred::Num(rel, n) => UnitPred::Num(rel, n),
            Pred::BoolEq(b) => UnitPred::BoolEq(b),
            Pred::Semver(rel, i) => UnitPred::Semver(
                rel,
                rs.versions
                    .get(i as usize)
                    .cloned()
                    .ok_or_else(|| malformed("version index"))?,
            ),
            Pred::Date(rel, i) => UnitPred::Date(
                rel,
                *rs.instants
                    .get(i as usize)
                    .ok_or_else(|| malformed("instant index"))?,
            ),
            Pred::StrIn(r) => UnitPred::StrIn(
                rs.str_sets
                    .get(r.range())
                    .ok_or_else(|| malformed("string set range"))?
                    .iter()
                    .map(|&s| self.str(s))
                    .collect(),
            ),
            Pred::NumIn(r) => UnitPred::NumIn(
                rs.num_sets
                    .get(r.range())
                    .ok_or_else(|| malformed("number set range"))?
                    .to_vec(),
            ),
            Pred::EmptyIn => UnitPred::EmptyIn,
            Pred::ContainsStr(s) => UnitPred::ContainsStr(self.str(s)),
            Pred::ContainsNum(n) => UnitPred::ContainsNum(n),
            Pred::StartsWith(s) => UnitPred::StartsWith(self.str(s)),
            Pred::EndsWith(s) => UnitPred::EndsWith(self.str(s)),
            Pred::Matches(i) => UnitPred::Matches(Pattern(
                self.regexes
                    .get(i as usize)
                    .cloned()
                    .ok_or_else(|| malformed("regex index"))?,
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{link, LinkError};
    use crate::compile::strings::NameIndex;
    use crate::compile::tables::{JUMP_FALSE, JUMP_TRUE};
    use crate::compile::unit::{FlagUnit, UnitAtom, UnitInstr, UnitRule, UnitServe};

    /// `x exists`, jumping to `on_true` when it holds.
    fn exists(on_true: u32) -> UnitInstr {
        UnitInstr {
            atom: UnitAtom::Exists("x".into()),
            on_true,
            on_false: JUMP_FALSE,
        }
    }

    /// A boolean flag unit `key` (variations `on`, `off`; default `off`)
    /// with one rule entering `code` at `entry` and serving `serve`.
    fn boolean(key: &str, entry: u32, serve: u32, code: Vec<UnitInstr>) -> FlagUnit {
        FlagUnit {
            key: key.into(),
            variations: vec![
                ("on".into(), serde_json::json!(true)),
                ("off".into(), serde_json::json!(false)),
            ],
            default: 1,
            when_disabled: 1,
            enabled: true,
            salt: key.into(),
            targets: Vec::new(),
            rules: vec![UnitRule {
                name: None,
                entry,
                serve: UnitServe::Variation(serve),
            }],
            rollout: None,
            code,
        }
    }

    /// Moved from tests/hostile_input.rs (the units are internal): relocating
    /// code whose jump offsets overflow `u32` is a malformed unit, not a panic.
    #[test]
    fn jump_offsets_that_overflow_are_malformed_not_a_panic() {
        let first = boolean("a", u32::MAX - 2, 0, vec![exists(JUMP_TRUE); 8]);
        let second = boolean("b", u32::MAX - 2, 0, vec![exists(u32::MAX - 3)]);
        let keys = NameIndex::build(std::iter::empty());
        let result = link(&[first, second], &[], keys);
        assert!(matches!(result, Err(LinkError::Malformed(_))), "{result:?}");
    }

    /// Link output goes through the tables' validation: a unit (say, from
    /// a patch) serving a variation its flag does not have is refused, not
    /// linked into a ruleset whose accessors would index past the flag.
    #[test]
    fn link_output_is_validated() {
        let unit = |serve: u32| boolean("f", 0, serve, vec![exists(JUMP_TRUE)]);
        let keys = || NameIndex::build(std::iter::empty());
        link(&[unit(1)], &[], keys()).expect("a valid unit links");
        match link(&[unit(2)], &[], keys()) {
            Err(LinkError::Invalid(detail)) => {
                assert!(detail.contains("rule variation is 2"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }
}
