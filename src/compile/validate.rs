//! The invariants of the decision tables, checked: every index in range,
//! every range inside its array, jumps strictly forward, sets sorted, name
//! indexes consistent, no cycles through prerequisites and segments, each
//! regex compiling. [`Ruleset::from_tables`](super::tables::Ruleset::from_tables)
//! runs these on every [`Tables`] before it becomes a `Ruleset`, whoever
//! built them (the snapshot decoder, the linker, a patch, a test); after
//! that the accessors index freely.
//!
//! It lives beside the tables rather than in `crate::snapshot` because the
//! invariants are the tables' own, not the file format's: link output is
//! held to them too, and the one constructor that enforces them is here.
//! Errors are [`SnapshotError::Corrupt`] naming the section at fault (the
//! snapshot sections are the tables, one for one).

use super::strings::{NameIndex, StrId};
use super::tables::{Atom, Instr, Pred, Range32, ServeRef, Tables, JUMP_FALSE, JUMP_TRUE, NONE};
use crate::limits::REGEX_SIZE_LIMIT;
use crate::snapshot::SnapshotError;

type Result<T = ()> = std::result::Result<T, SnapshotError>;

fn corrupt(section: &'static str, detail: String) -> SnapshotError {
    SnapshotError::corrupt(section, detail)
}

/// Checks an index against a length.
fn index(section: &'static str, what: impl Fn() -> String, i: u32, len: usize) -> Result {
    if (i as usize) < len {
        Ok(())
    } else {
        Err(corrupt(
            section,
            format!("{} is {i}, out of range (there are {len})", what()),
        ))
    }
}

/// Checks a range against a length.
fn range(section: &'static str, what: impl Fn() -> String, r: Range32, len: usize) -> Result {
    let end = r.start as u64 + r.len as u64;
    if end <= len as u64 {
        Ok(())
    } else {
        Err(corrupt(
            section,
            format!(
                "{} {}..{end} runs past the end of its array ({len} elements)",
                what(),
                r.start
            ),
        ))
    }
}

fn str_id(section: &'static str, what: impl Fn() -> String, id: StrId, rs: &Tables) -> Result {
    index(section, what, id.0, rs.strings.len())
}

/// Validates everything but regex compilation.
pub(crate) fn validate(rs: &Tables) -> Result {
    let patterns = &rs.regexes;
    // Strings themselves were checked while decoding (UTF-8, ends).
    for (i, a) in rs.attrs.iter().enumerate() {
        str_id("attrs", || format!("attribute {i}"), *a, rs)?;
    }
    for (i, pair) in rs.attrs.windows(2).enumerate() {
        if let [a, b] = pair {
            let order = crate::context::name_order(rs.strings.get(*a), rs.strings.get(*b));
            if order != std::cmp::Ordering::Less {
                return Err(corrupt(
                    "attrs",
                    format!("attribute names not sorted and distinct at {}", i + 1),
                ));
            }
        }
    }
    // Every flag must be reachable by its key, so the flag index is checked
    // name by name. The key index can hold millions of names: for it the
    // structural checks suffice for safety (every probe is bounded and in
    // range), and the body checksum stands for it being the compiler's.
    name_index(&rs.keys, "keys", Reachability::Assumed)?;
    name_index(&rs.flag_keys, "flag_keys", Reachability::Checked)?;
    if rs.flags.len() != rs.flag_keys.len() {
        return Err(corrupt(
            "flags",
            format!(
                "{} flags but {} flag keys",
                rs.flags.len(),
                rs.flag_keys.len()
            ),
        ));
    }
    for (i, v) in rs.variations.iter().enumerate() {
        str_id("variations", || format!("variation {i} name"), v.name, rs)?;
    }
    let keys = rs.keys.len();
    for (i, t) in rs.targets.iter().enumerate() {
        bitmap_keys("targets", || format!("target {i}"), &t.keys, keys)?;
    }
    for (i, r) in rs.rules.iter().enumerate() {
        if r.name != NONE {
            index(
                "rules",
                || format!("rule {i} name"),
                r.name,
                rs.strings.len(),
            )?;
        }
        index(
            "rules",
            || format!("rule {i} entry"),
            r.entry,
            rs.code.len(),
        )?;
        if let ServeRef::Split(s) = r.serve {
            index("rules", || format!("rule {i} split"), s, rs.splits.len())?;
        }
    }
    for (i, s) in rs.splits.iter().enumerate() {
        if s.by != NONE {
            index(
                "splits",
                || format!("split {i} attribute"),
                s.by,
                rs.attrs.len(),
            )?;
        }
        str_id("splits", || format!("split {i} salt"), s.salt, rs)?;
        range(
            "splits",
            || format!("split {i} arms"),
            s.arms,
            rs.arms.len(),
        )?;
        let arms = rs.arms.get(s.arms.range()).unwrap_or(&[]);
        let mut prev = 0u32;
        for arm in arms {
            if arm.end <= prev {
                return Err(corrupt(
                    "arms",
                    format!(
                        "split {i}: arm ends not strictly increasing ({} after {prev})",
                        arm.end
                    ),
                ));
            }
            prev = arm.end;
        }
        if prev != 10_000 {
            return Err(corrupt(
                "arms",
                format!("split {i}: last arm ends at {prev}, not 10000"),
            ));
        }
    }
    for (i, s) in rs.segments.iter().enumerate() {
        str_id("segments", || format!("segment {i} name"), s.name, rs)?;
        if s.entry != NONE {
            index(
                "segments",
                || format!("segment {i} entry"),
                s.entry,
                rs.code.len(),
            )?;
        }
        bitmap_keys(
            "segments",
            || format!("segment {i} include"),
            &s.include,
            keys,
        )?;
        bitmap_keys(
            "segments",
            || format!("segment {i} exclude"),
            &s.exclude,
            keys,
        )?;
    }
    for (i, f) in rs.flags.iter().enumerate() {
        flag(rs, i, f)?;
    }
    for (i, s) in rs.str_sets.iter().enumerate() {
        str_id("str_sets", || format!("item {i}"), *s, rs)?;
    }
    if let Some(i) = rs.num_sets.iter().position(|n| n.is_nan()) {
        return Err(corrupt("num_sets", format!("item {i} is NaN")));
    }
    for (i, p) in patterns.iter().enumerate() {
        str_id("regexes", || format!("regex {i} pattern"), *p, rs)?;
    }
    for (i, ins) in rs.code.iter().enumerate() {
        instr(rs, patterns.len(), i, ins)?;
    }
    acyclic(rs)
}

fn bitmap_keys(
    section: &'static str,
    what: impl Fn() -> String,
    b: &roaring::RoaringBitmap,
    keys: usize,
) -> Result {
    match b.max() {
        Some(m) if m as u64 >= keys as u64 => Err(corrupt(
            section,
            format!("{} names key id {m}, but there are {keys} keys", what()),
        )),
        _ => Ok(()),
    }
}

/// Whether [`name_index`] looks every name up through the slots.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reachability {
    /// Yes: each name must be found at its own id (which also proves the names distinct).
    Checked,
    /// No: only the slot structure is checked.
    Assumed,
}

fn name_index(idx: &NameIndex, section: &'static str, reachability: Reachability) -> Result {
    let len = idx.names.len();
    let slots = idx.slots.len();
    if len == 0 && slots == 0 {
        return Ok(());
    }
    if !slots.is_power_of_two() || slots <= len {
        return Err(corrupt(
            section,
            format!(
                "{slots} hash slots for {len} names: must be a power of two above the name count"
            ),
        ));
    }
    // One pass for the largest id (the compiler makes it wide compares),
    // and only when it is out of range a second for where it is.
    let largest = idx.slots.iter().copied().max().unwrap_or(0);
    if largest as usize > len {
        let (i, s) = idx
            .slots
            .iter()
            .copied()
            .enumerate()
            .find(|&(_, s)| s as usize > len)
            .unwrap_or((0, largest));
        return Err(corrupt(
            section,
            format!(
                "slot {i} holds id {}, but there are {len} names",
                s.wrapping_sub(1)
            ),
        ));
    }
    if reachability == Reachability::Assumed {
        return Ok(());
    }
    for id in 0..len as u32 {
        let name = idx.name(id);
        if idx.find(name) != Some(id) {
            return Err(corrupt(
                section,
                format!("name {name:?} (id {id}) cannot be found through the hash slots"),
            ));
        }
    }
    Ok(())
}

fn flag(rs: &Tables, i: usize, f: &crate::compile::tables::Flag) -> Result {
    let key = || rs.flag_keys.name(i as u32).to_string();
    range(
        "flags",
        || format!("flag {:?} variations", key()),
        f.variations,
        rs.variations.len(),
    )?;
    let nv = f.variations.len as usize;
    let local = |what: &str, v: u32| index("flags", || format!("flag {:?} {what}", key()), v, nv);
    local("default variation", f.default)?;
    local("when-disabled variation", f.when_disabled)?;
    str_id("flags", || format!("flag {:?} salt", key()), f.salt, rs)?;
    range(
        "flags",
        || format!("flag {:?} targets", key()),
        f.targets,
        rs.targets.len(),
    )?;
    for t in rs.targets.get(f.targets.range()).unwrap_or(&[]) {
        local("target variation", t.variation)?;
    }
    range(
        "flags",
        || format!("flag {:?} rules", key()),
        f.rules,
        rs.rules.len(),
    )?;
    let split_local = |what: &str, s: u32| -> Result {
        index(
            "flags",
            || format!("flag {:?} {what}", key()),
            s,
            rs.splits.len(),
        )?;
        let arms = rs
            .splits
            .get(s as usize)
            .and_then(|sp| rs.arms.get(sp.arms.range()))
            .unwrap_or(&[]);
        for a in arms {
            local("split arm variation", a.variation)?;
        }
        Ok(())
    };
    for r in rs.rules.get(f.rules.range()).unwrap_or(&[]) {
        match r.serve {
            ServeRef::Variation(v) => local("rule variation", v)?,
            ServeRef::Split(s) => split_local("rule split", s)?,
        }
    }
    if f.rollout != NONE {
        split_local("rollout split", f.rollout)?;
    }
    Ok(())
}

fn instr(rs: &Tables, nregex: usize, i: usize, ins: &Instr) -> Result {
    const S: &str = "code";
    let at = || format!("instruction {i}");
    for (what, t) in [("true", ins.on_true), ("false", ins.on_false)] {
        if t != JUMP_TRUE && t != JUMP_FALSE && (t as usize <= i || t as usize >= rs.code.len()) {
            return Err(corrupt(
                S,
                format!(
                    "instruction {i} jumps on {what} to {t}: jumps must go strictly forward \
                     inside the {} instructions",
                    rs.code.len()
                ),
            ));
        }
    }
    match ins.atom {
        Atom::Exists(a) => index(S, || format!("{} attribute", at()), a, rs.attrs.len()),
        Atom::Segment(s) => index(S, || format!("{} segment", at()), s, rs.segments.len()),
        Atom::Prereq(f, v) => {
            index(
                S,
                || format!("{} prerequisite flag", at()),
                f,
                rs.flags.len(),
            )?;
            let nv = rs
                .flags
                .get(f as usize)
                .map_or(0, |fl| fl.variations.len as usize);
            index(S, || format!("{} prerequisite variation", at()), v, nv)
        }
        Atom::Cmp { attr, pred, .. } => {
            index(S, || format!("{} attribute", at()), attr, rs.attrs.len())?;
            match pred {
                Pred::StrEq(s) | Pred::ContainsStr(s) | Pred::StartsWith(s) | Pred::EndsWith(s) => {
                    str_id(S, || format!("{} string", at()), s, rs)
                }
                Pred::Num(_, x) | Pred::ContainsNum(x) if x.is_nan() => {
                    Err(corrupt(S, format!("{} compares with NaN", at())))
                }
                Pred::Num(..) | Pred::ContainsNum(_) | Pred::BoolEq(_) | Pred::EmptyIn => Ok(()),
                Pred::Semver(_, v) => {
                    index(S, || format!("{} version", at()), v, rs.versions.len())
                }
                Pred::Date(_, d) => index(S, || format!("{} date", at()), d, rs.instants.len()),
                Pred::Matches(m) => index(S, || format!("{} regex", at()), m, nregex),
                Pred::StrIn(r) => {
                    range(S, || format!("{} string set", at()), r, rs.str_sets.len())?;
                    let set = rs.str_sets.get(r.range()).unwrap_or(&[]);
                    if set
                        .windows(2)
                        .any(|w| matches!(w, [a, b] if rs.strings.get(*a) > rs.strings.get(*b)))
                    {
                        return Err(corrupt(S, format!("{} string set is not sorted", at())));
                    }
                    Ok(())
                }
                Pred::NumIn(r) => {
                    range(S, || format!("{} number set", at()), r, rs.num_sets.len())?;
                    let set = rs.num_sets.get(r.range()).unwrap_or(&[]);
                    if set.windows(2).any(|w| matches!(w, [a, b] if a > b)) {
                        return Err(corrupt(S, format!("{} number set is not sorted", at())));
                    }
                    Ok(())
                }
            }
        }
    }
}

/// Prerequisites and segment references must not form a cycle, since
/// evaluation recurses on them. Graph nodes: flags, segments, instructions;
/// edges: flag → its rules' entries, segment → its entry, instruction → its
/// jump targets and the flag or segment its atom names. Instruction edges
/// only go forward, so every cycle passes through a flag or a segment and is
/// exactly a dependency cycle. Iterative DFS, O(nodes + edges).
fn acyclic(rs: &Tables) -> Result {
    let nf = rs.flags.len();
    let ns = rs.segments.len();
    let nc = rs.code.len();
    let total = nf + ns + nc;
    let succ = |node: usize, out: &mut Vec<usize>| {
        out.clear();
        if node < nf {
            if let Some(f) = rs.flags.get(node) {
                for r in rs.rules.get(f.rules.range()).unwrap_or(&[]) {
                    out.push(nf + ns + r.entry as usize);
                }
            }
        } else if node < nf + ns {
            if let Some(s) = rs.segments.get(node - nf) {
                if s.entry != NONE {
                    out.push(nf + ns + s.entry as usize);
                }
            }
        } else if let Some(ins) = rs.code.get(node - nf - ns) {
            for t in [ins.on_true, ins.on_false] {
                if (t as usize) < nc {
                    out.push(nf + ns + t as usize);
                }
            }
            match ins.atom {
                Atom::Prereq(f, _) => out.push(f as usize),
                Atom::Segment(s) => out.push(nf + s as usize),
                _ => {}
            }
        }
        out.retain(|&n| n < total);
    };
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; total];
    let mut stack: Vec<(usize, Vec<usize>, usize)> = Vec::new();
    for root in 0..nf + ns {
        if state.get(root) != Some(&0) {
            continue;
        }
        let mut s = Vec::new();
        succ(root, &mut s);
        state[root] = 1;
        stack.push((root, s, 0));
        while let Some((node, succs, next)) = stack.last_mut() {
            let node = *node;
            match succs.get(*next).copied() {
                None => {
                    state[node] = 2;
                    stack.pop();
                }
                Some(n) => {
                    *next += 1;
                    match state.get(n).copied() {
                        Some(0) => {
                            let mut s = Vec::new();
                            succ(n, &mut s);
                            state[n] = 1;
                            stack.push((n, s, 0));
                        }
                        Some(1) => return Err(cycle(rs, &stack, n)),
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(())
}

/// Describes the cycle closing at `to`: the flags and segments on the stack from `to`.
fn cycle(rs: &Tables, stack: &[(usize, Vec<usize>, usize)], to: usize) -> SnapshotError {
    let nf = rs.flags.len();
    let ns = rs.segments.len();
    let describe = |n: usize| -> Option<String> {
        if n < nf {
            Some(format!("flag {:?}", rs.flag_keys.name(n as u32)))
        } else if n < nf + ns {
            let name = rs
                .segments
                .get(n - nf)
                .map_or("", |s| rs.strings.get(s.name));
            Some(format!("segment {name:?}"))
        } else {
            None
        }
    };
    let start = stack.iter().position(|(n, _, _)| *n == to).unwrap_or(0);
    let mut path: Vec<String> = stack
        .get(start..)
        .unwrap_or(&[])
        .iter()
        .filter_map(|(n, _, _)| describe(*n))
        .collect();
    if let Some(first) = path.first().cloned() {
        path.push(first);
    }
    corrupt("code", format!("reference cycle: {}", path.join(" -> ")))
}

/// Compiles the regexes (their pattern ids already validated). A pattern id
/// listed more than once is compiled once, so a hostile snapshot cannot make
/// us compile the same pattern over and over.
pub(crate) fn compile_regexes(rs: &Tables) -> Result<Vec<regex::Regex>> {
    let mut compiled: std::collections::BTreeMap<StrId, regex::Regex> = Default::default();
    let mut regexes = Vec::with_capacity(rs.regexes.len());
    for &p in &rs.regexes {
        let re = match compiled.get(&p) {
            Some(re) => re.clone(),
            None => {
                let pattern = rs.strings.get(p);
                let re = regex::RegexBuilder::new(pattern)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|error| SnapshotError::Regex {
                        pattern: pattern.to_string(),
                        error,
                    })?;
                compiled.insert(p, re.clone());
                re
            }
        };
        regexes.push(re);
    }
    Ok(regexes)
}

/// Checks regexes compiled elsewhere (the linker's, from units) against the
/// pattern ids (already validated): one per pattern, each of its pattern's text.
pub(crate) fn compiled_regexes(rs: &Tables, compiled: &[regex::Regex]) -> Result {
    if compiled.len() != rs.regexes.len() {
        return Err(corrupt(
            "regexes",
            format!(
                "{} compiled regexes for {} patterns",
                compiled.len(),
                rs.regexes.len()
            ),
        ));
    }
    for (i, (&p, re)) in rs.regexes.iter().zip(compiled).enumerate() {
        if re.as_str() != rs.strings.get(p) {
            return Err(corrupt(
                "regexes",
                format!("regex {i} is not the pattern its id names"),
            ));
        }
    }
    Ok(())
}
