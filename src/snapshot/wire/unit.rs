//! The unit codec: compiled, unlinked [units](crate::compile::unit) in the
//! snapshot body's conventions, for patches.
//!
//! Every field is fixed-width little-endian or `u64`-length-prefixed; lists
//! are a `u64` count then their items (the count checked against the bytes
//! left, with each item's smallest encoding); an `Option` is a `u8` 0 or 1
//! then the value; an enum a `u8` tag then its fields. Tags and booleans are
//! validated, strings must be UTF-8, bitmaps must be exactly their length,
//! variation values go through the [value codec](super::value) (nesting
//! capped) inside a length, and regexes are compiled on reading with
//! [`crate::limits::REGEX_SIZE_LIMIT`]. The layout, field by field, is in
//! docs/snapshot-format.md ("Patches").

use roaring::RoaringBitmap;

use super::tags::*;
use super::{read_rel, rel_tag, value, Out, Reader};
use crate::compile::unit::{
    FlagUnit, Pattern, SegmentUnit, UnitAtom, UnitInstr, UnitPred, UnitRule, UnitServe, UnitSplit,
};
use crate::snapshot::SnapshotError;
use crate::values::date::Instant;
use crate::values::semver::Version;

/// Smallest encodings, for checking counts against the bytes left.
const MIN_STR: u64 = 8;
/// key, variations count, default, when_disabled, enabled, salt, targets
/// count, rules count, rollout tag, code count.
pub(crate) const MIN_FLAG: u64 = 8 + 8 + 4 + 4 + 1 + 8 + 8 + 8 + 1 + 8;
/// name, include, exclude, code count.
pub(crate) const MIN_SEGMENT: u64 = 8 + 8 + 8 + 8;
/// name and value length.
const MIN_VARIATION: u64 = 8 + 8;
/// variation and bitmap length.
const MIN_TARGET: u64 = 4 + 8;
/// name tag, entry, serve tag and a variation id.
const MIN_RULE: u64 = 1 + 4 + 1 + 4;
/// atom tag, name, on_true, on_false.
const MIN_INSTR: u64 = 1 + 8 + 4 + 4;

// ---------------------------------------------------------------- writing

/// Appends a `u64`-length-prefixed UTF-8 string.
pub(crate) fn write_str(out: &mut Out, s: &str) {
    out.bytes(s.as_bytes());
}

/// Appends a count then each string.
pub(crate) fn write_strs<S: AsRef<str>>(out: &mut Out, items: &[S]) {
    out.len(items.len());
    for s in items {
        write_str(out, s.as_ref());
    }
}

fn write_opt_str(out: &mut Out, s: Option<&str>) {
    match s {
        None => out.u8(0),
        Some(s) => {
            out.u8(1);
            write_str(out, s);
        }
    }
}

/// Appends one flag unit.
pub(crate) fn write_flag(out: &mut Out, f: &FlagUnit) {
    write_str(out, &f.key);
    out.len(f.variations.len());
    for (name, v) in &f.variations {
        write_str(out, name);
        let mut encoded = Vec::new();
        value::write(&mut encoded, v);
        out.bytes(&encoded);
    }
    out.u32(f.default);
    out.u32(f.when_disabled);
    out.u8(f.enabled as u8);
    write_str(out, &f.salt);
    out.len(f.targets.len());
    for (variation, keys) in &f.targets {
        out.u32(*variation);
        out.bitmap(keys);
    }
    out.len(f.rules.len());
    for r in &f.rules {
        write_opt_str(out, r.name.as_deref());
        out.u32(r.entry);
        match &r.serve {
            UnitServe::Variation(v) => {
                out.u8(0);
                out.u32(*v);
            }
            UnitServe::Split(s) => {
                out.u8(1);
                write_split(out, s);
            }
        }
    }
    match &f.rollout {
        None => out.u8(0),
        Some(s) => {
            out.u8(1);
            write_split(out, s);
        }
    }
    write_code(out, &f.code);
}

/// Appends one segment unit.
pub(crate) fn write_segment(out: &mut Out, s: &SegmentUnit) {
    write_str(out, &s.name);
    out.bitmap(&s.include);
    out.bitmap(&s.exclude);
    write_code(out, &s.code);
}

fn write_split(out: &mut Out, s: &UnitSplit) {
    write_opt_str(out, s.by.as_deref());
    out.len(s.arms.len());
    for &(end, variation) in &s.arms {
        out.u32(end);
        out.u32(variation);
    }
}

fn write_code(out: &mut Out, code: &[UnitInstr]) {
    out.len(code.len());
    for i in code {
        write_atom(out, &i.atom);
        out.u32(i.on_true);
        out.u32(i.on_false);
    }
}

fn write_atom(out: &mut Out, atom: &UnitAtom) {
    match atom {
        UnitAtom::Exists(attr) => {
            out.u8(ATOM_EXISTS);
            write_str(out, attr);
        }
        UnitAtom::Segment(name) => {
            out.u8(ATOM_SEGMENT);
            write_str(out, name);
        }
        UnitAtom::Prereq(flag, v) => {
            out.u8(ATOM_PREREQ);
            write_str(out, flag);
            out.u32(*v);
        }
        UnitAtom::Cmp { attr, negate, pred } => {
            out.u8(ATOM_CMP);
            write_str(out, attr);
            out.u8(*negate as u8);
            write_pred(out, pred);
        }
    }
}

fn write_pred(out: &mut Out, pred: &UnitPred) {
    match pred {
        UnitPred::StrEq(s) => {
            out.u8(PRED_STR_EQ);
            write_str(out, s);
        }
        UnitPred::Num(rel, x) => {
            out.u8(PRED_NUM);
            out.u8(rel_tag(*rel));
            out.u64(x.to_bits());
        }
        UnitPred::BoolEq(b) => {
            out.u8(PRED_BOOL_EQ);
            out.u8(*b as u8);
        }
        UnitPred::Semver(rel, v) => {
            out.u8(PRED_SEMVER);
            out.u8(rel_tag(*rel));
            out.u64(v.major);
            out.u64(v.minor);
            out.u64(v.patch);
            write_str(out, &v.pre);
        }
        UnitPred::Date(rel, i) => {
            out.u8(PRED_DATE);
            out.u8(rel_tag(*rel));
            out.0.extend_from_slice(&i.0.to_le_bytes());
        }
        UnitPred::StrIn(items) => {
            out.u8(PRED_STR_IN);
            write_strs(out, items);
        }
        UnitPred::NumIn(items) => {
            out.u8(PRED_NUM_IN);
            out.len(items.len());
            for x in items {
                out.u64(x.to_bits());
            }
        }
        UnitPred::EmptyIn => out.u8(PRED_EMPTY_IN),
        UnitPred::ContainsStr(s) => {
            out.u8(PRED_CONTAINS_STR);
            write_str(out, s);
        }
        UnitPred::ContainsNum(x) => {
            out.u8(PRED_CONTAINS_NUM);
            out.u64(x.to_bits());
        }
        UnitPred::StartsWith(s) => {
            out.u8(PRED_STARTS_WITH);
            write_str(out, s);
        }
        UnitPred::EndsWith(s) => {
            out.u8(PRED_ENDS_WITH);
            write_str(out, s);
        }
        UnitPred::Matches(p) => {
            out.u8(PRED_MATCHES);
            write_str(out, p.0.as_str());
        }
    }
}

// ---------------------------------------------------------------- reading

fn bad(r: &Reader<'_>, detail: String) -> SnapshotError {
    SnapshotError::corrupt(r.section(), detail)
}

/// Reads a `u64`-length-prefixed UTF-8 string.
pub(crate) fn read_str(r: &mut Reader<'_>, what: &str) -> Result<String, SnapshotError> {
    r.str(what).map(str::to_string)
}

/// Reads a count then that many strings.
pub(crate) fn read_strs(r: &mut Reader<'_>, what: &str) -> Result<Vec<String>, SnapshotError> {
    let n = r.count(MIN_STR)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(read_str(r, what)?);
    }
    Ok(out)
}

/// Reads a `u8` that must be 0 or 1.
pub(crate) fn read_bool(r: &mut Reader<'_>, what: &str) -> Result<bool, SnapshotError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        x => Err(bad(r, format!("{what} is {x}, not 0 or 1"))),
    }
}

fn read_opt_str(r: &mut Reader<'_>, what: &str) -> Result<Option<String>, SnapshotError> {
    Ok(if read_bool(r, what)? {
        Some(read_str(r, what)?)
    } else {
        None
    })
}

/// Reads a count then that many flag units.
pub(crate) fn read_flags(r: &mut Reader<'_>) -> Result<Vec<FlagUnit>, SnapshotError> {
    let n = r.count(MIN_FLAG)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(read_flag(r)?);
    }
    Ok(out)
}

/// Reads a count then that many segment units.
pub(crate) fn read_segments(r: &mut Reader<'_>) -> Result<Vec<SegmentUnit>, SnapshotError> {
    let n = r.count(MIN_SEGMENT)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(read_segment(r)?);
    }
    Ok(out)
}

/// Appends a count then each flag unit.
pub(crate) fn write_flags(out: &mut Out, flags: &[FlagUnit]) {
    out.len(flags.len());
    for f in flags {
        write_flag(out, f);
    }
}

/// Appends a count then each segment unit.
pub(crate) fn write_segments(out: &mut Out, segments: &[SegmentUnit]) {
    out.len(segments.len());
    for s in segments {
        write_segment(out, s);
    }
}

/// Reads one flag unit.
pub(crate) fn read_flag(r: &mut Reader<'_>) -> Result<FlagUnit, SnapshotError> {
    let key = read_str(r, "flag key")?;
    let n = r.count(MIN_VARIATION)?;
    let mut variations = Vec::with_capacity(n);
    for i in 0..n {
        let name = read_str(r, "variation name")?;
        let mut vr = Reader::new(r.bytes()?, r.section());
        let v = value::read(&mut vr, &format!("flag `{key}` variation {i} value"))?;
        vr.finish()?;
        variations.push((name, v));
    }
    let default = r.u32()?;
    let when_disabled = r.u32()?;
    let enabled = read_bool(r, "enabled")?;
    let salt = read_str(r, "salt")?;
    let n = r.count(MIN_TARGET)?;
    let mut targets = Vec::with_capacity(n);
    for i in 0..n {
        let variation = r.u32()?;
        let keys = r.bitmap(&format!("flag `{key}` target {i}"))?;
        targets.push((variation, keys));
    }
    let n = r.count(MIN_RULE)?;
    let mut rules = Vec::with_capacity(n);
    for _ in 0..n {
        let name = read_opt_str(r, "rule name")?;
        let entry = r.u32()?;
        let serve = match r.u8()? {
            0 => UnitServe::Variation(r.u32()?),
            1 => UnitServe::Split(read_split(r)?),
            t => return Err(bad(r, format!("flag `{key}`: unknown serve tag {t}"))),
        };
        rules.push(UnitRule { name, entry, serve });
    }
    let rollout = if read_bool(r, "rollout tag")? {
        Some(read_split(r)?)
    } else {
        None
    };
    let code = read_code(r)?;
    Ok(FlagUnit {
        key,
        variations,
        default,
        when_disabled,
        enabled,
        salt,
        targets,
        rules,
        rollout,
        code,
    })
}

/// Reads one segment unit.
pub(crate) fn read_segment(r: &mut Reader<'_>) -> Result<SegmentUnit, SnapshotError> {
    let name = read_str(r, "segment name")?;
    let include: RoaringBitmap = r.bitmap(&format!("segment `{name}` include"))?;
    let exclude = r.bitmap(&format!("segment `{name}` exclude"))?;
    let code = read_code(r)?;
    Ok(SegmentUnit {
        name,
        include,
        exclude,
        code,
    })
}

fn read_split(r: &mut Reader<'_>) -> Result<UnitSplit, SnapshotError> {
    let by = read_opt_str(r, "split attribute")?;
    let n = r.count(8)?;
    let mut arms = Vec::with_capacity(n);
    for _ in 0..n {
        arms.push((r.u32()?, r.u32()?));
    }
    Ok(UnitSplit { by, arms })
}

fn read_code(r: &mut Reader<'_>) -> Result<Vec<UnitInstr>, SnapshotError> {
    let n = r.count(MIN_INSTR)?;
    let mut code = Vec::with_capacity(n);
    for _ in 0..n {
        let atom = read_atom(r)?;
        code.push(UnitInstr {
            atom,
            on_true: r.u32()?,
            on_false: r.u32()?,
        });
    }
    Ok(code)
}

fn read_atom(r: &mut Reader<'_>) -> Result<UnitAtom, SnapshotError> {
    Ok(match r.u8()? {
        ATOM_EXISTS => UnitAtom::Exists(read_str(r, "attribute")?),
        ATOM_SEGMENT => UnitAtom::Segment(read_str(r, "segment name")?),
        ATOM_PREREQ => UnitAtom::Prereq(read_str(r, "flag key")?, r.u32()?),
        ATOM_CMP => {
            let attr = read_str(r, "attribute")?;
            let negate = read_bool(r, "negate")?;
            let pred = read_pred(r)?;
            UnitAtom::Cmp { attr, negate, pred }
        }
        t => return Err(bad(r, format!("unknown atom tag {t}"))),
    })
}

fn read_rel_tag(r: &mut Reader<'_>) -> Result<crate::compile::tables::Rel, SnapshotError> {
    let tag = r.u8()?;
    read_rel(tag).ok_or_else(|| bad(r, format!("unknown relation {tag}")))
}

fn read_f64s(r: &mut Reader<'_>) -> Result<Vec<f64>, SnapshotError> {
    let n = r.count(8)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(f64::from_bits(r.u64()?));
    }
    Ok(out)
}

fn read_pred(r: &mut Reader<'_>) -> Result<UnitPred, SnapshotError> {
    Ok(match r.u8()? {
        PRED_STR_EQ => UnitPred::StrEq(read_str(r, "string")?),
        PRED_NUM => UnitPred::Num(read_rel_tag(r)?, f64::from_bits(r.u64()?)),
        PRED_BOOL_EQ => UnitPred::BoolEq(read_bool(r, "boolean operand")?),
        PRED_SEMVER => {
            let rel = read_rel_tag(r)?;
            let major = r.u64()?;
            let minor = r.u64()?;
            let patch = r.u64()?;
            let pre = read_str(r, "version pre-release")?;
            UnitPred::Semver(
                rel,
                Version {
                    major,
                    minor,
                    patch,
                    pre,
                },
            )
        }
        PRED_DATE => UnitPred::Date(read_rel_tag(r)?, Instant(r.i128()?)),
        PRED_STR_IN => UnitPred::StrIn(read_strs(r, "list string")?),
        PRED_NUM_IN => UnitPred::NumIn(read_f64s(r)?),
        PRED_EMPTY_IN => UnitPred::EmptyIn,
        PRED_CONTAINS_STR => UnitPred::ContainsStr(read_str(r, "string")?),
        PRED_CONTAINS_NUM => UnitPred::ContainsNum(f64::from_bits(r.u64()?)),
        PRED_STARTS_WITH => UnitPred::StartsWith(read_str(r, "string")?),
        PRED_ENDS_WITH => UnitPred::EndsWith(read_str(r, "string")?),
        PRED_MATCHES => {
            let pattern = read_str(r, "regex")?;
            let regex = regex::RegexBuilder::new(&pattern)
                .size_limit(crate::limits::REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| bad(r, format!("regex {pattern:?}: {e}")))?;
            UnitPred::Matches(Pattern(regex))
        }
        t => return Err(bad(r, format!("unknown predicate tag {t}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::tables::Rel;
    use serde_json::{json, Value};

    fn cmp(attr: &str, pred: UnitPred) -> UnitInstr {
        UnitInstr {
            atom: UnitAtom::Cmp {
                attr: attr.into(),
                negate: attr.len() % 2 == 0,
                pred,
            },
            on_true: 1,
            on_false: u32::MAX,
        }
    }

    /// A value nested `depth` arrays deep.
    fn nested(depth: usize) -> Value {
        let mut v = json!("leaf");
        for _ in 0..depth {
            v = Value::Array(vec![v]);
        }
        v
    }

    fn regex(p: &str) -> Pattern {
        Pattern(regex::Regex::new(p).unwrap())
    }

    /// A flag using every atom and predicate, and a deep value.
    fn sample_flag() -> FlagUnit {
        let version = Version {
            major: 2,
            minor: 3,
            patch: 1,
            pre: "rc.1".into(),
        };
        let preds = vec![
            UnitPred::StrEq("DE".into()),
            UnitPred::Num(Rel::Lt, -0.0),
            UnitPred::BoolEq(true),
            UnitPred::BoolEq(false),
            UnitPred::Semver(Rel::Ge, version),
            UnitPred::Date(Rel::Gt, Instant(-1_700_000_000_123_456_789)),
            UnitPred::StrIn(vec!["a".into(), "ü".into()]),
            UnitPred::NumIn(vec![1.5, 1e300]),
            UnitPred::EmptyIn,
            UnitPred::ContainsStr("x".into()),
            UnitPred::ContainsNum(7.0),
            UnitPred::StartsWith("pre".into()),
            UnitPred::EndsWith("suf".into()),
            UnitPred::Matches(regex(r"^[a-z]+@example\.com$")),
            UnitPred::Num(Rel::Eq, 1.0),
            UnitPred::Num(Rel::Le, 2.0),
        ];
        let mut code: Vec<UnitInstr> = preds
            .into_iter()
            .enumerate()
            .map(|(i, p)| cmp(&"a".repeat(i + 1), p))
            .collect();
        code.push(UnitInstr {
            atom: UnitAtom::Exists("plan".into()),
            on_true: 0,
            on_false: 2,
        });
        code.push(UnitInstr {
            atom: UnitAtom::Segment("beta".into()),
            on_true: 3,
            on_false: 4,
        });
        code.push(UnitInstr {
            atom: UnitAtom::Prereq("other".into(), 9),
            on_true: 5,
            on_false: 6,
        });
        let split = UnitSplit {
            by: Some("org_id".into()),
            arms: vec![(50_000, 0), (100_000, 1)],
        };
        FlagUnit {
            key: "checkout".into(),
            variations: vec![
                ("on".into(), json!(true)),
                ("deep".into(), nested(crate::limits::MAX_VALUE_NESTING)),
                ("obj".into(), json!({"b": [1, -2, 0.5], "a": null})),
            ],
            default: 0,
            when_disabled: 1,
            enabled: false,
            salt: "checkout-salt".into(),
            targets: vec![(1, (0..1000).step_by(7).collect::<RoaringBitmap>())],
            rules: vec![
                UnitRule {
                    name: Some("first".into()),
                    entry: 0,
                    serve: UnitServe::Variation(2),
                },
                UnitRule {
                    name: None,
                    entry: 3,
                    serve: UnitServe::Split(split.clone()),
                },
            ],
            rollout: Some(UnitSplit {
                by: None,
                arms: vec![(100_000, 2)],
            }),
            code,
        }
    }

    fn sample_segment() -> SegmentUnit {
        SegmentUnit {
            name: "beta".into(),
            include: [1u32, 5, 1 << 20].into_iter().collect(),
            exclude: RoaringBitmap::new(),
            code: vec![cmp("country", UnitPred::StrEq("FR".into()))],
        }
    }

    fn encoded() -> Vec<u8> {
        let mut out = Out(Vec::new());
        write_flags(&mut out, &[sample_flag(), sample_flag()]);
        write_segments(&mut out, &[sample_segment()]);
        out.0
    }

    fn decode(bytes: &[u8]) -> Result<(Vec<FlagUnit>, Vec<SegmentUnit>), SnapshotError> {
        let mut r = Reader::new(bytes, "patch");
        let flags = read_flags(&mut r)?;
        let segments = read_segments(&mut r)?;
        r.finish()?;
        Ok((flags, segments))
    }

    #[test]
    fn units_round_trip_exactly() {
        let bytes = encoded();
        let (flags, segments) = decode(&bytes).unwrap();
        assert_eq!(flags, vec![sample_flag(), sample_flag()]);
        assert_eq!(segments, vec![sample_segment()]);
        // Bit-exact floats (PartialEq would take -0.0 for 0.0).
        let UnitAtom::Cmp { pred, .. } = &flags[0].code[1].atom else {
            panic!("the second instruction compares a number");
        };
        assert!(matches!(pred, UnitPred::Num(Rel::Lt, x) if x.to_bits() == (-0.0f64).to_bits()));
        // The regex is compiled again and matches.
        let UnitAtom::Cmp { pred, .. } = &flags[0].code[13].atom else {
            panic!("the fourteenth instruction matches a regex");
        };
        let UnitPred::Matches(p) = pred else {
            panic!("a regex predicate");
        };
        assert!(p.0.is_match("ann@example.com") && !p.0.is_match("ann@example.org"));
        // Canonical: encoding what was read gives the same bytes.
        let mut again = Out(Vec::new());
        write_flags(&mut again, &flags);
        write_segments(&mut again, &segments);
        assert_eq!(again.0, bytes);
    }

    #[test]
    fn values_past_the_nesting_limit_are_refused() {
        let mut flag = sample_flag();
        flag.variations[1].1 = nested(crate::limits::MAX_VALUE_NESTING + 1);
        let mut out = Out(Vec::new());
        write_flags(&mut out, &[flag]);
        write_segments(&mut out, &[]);
        assert!(matches!(decode(&out.0), Err(SnapshotError::Corrupt { .. })));
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = encoded();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut} loaded");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn huge_counts_are_refused_before_allocating() {
        // A flag list claiming u64::MAX units, and a flag claiming u64::MAX
        // variations: each refused as truncated, with nothing reserved.
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(&[0; 64]);
        assert!(matches!(
            read_flags(&mut Reader::new(&huge, "patch")),
            Err(SnapshotError::Truncated { .. })
        ));
        let mut out = Out(Vec::new());
        out.len(1);
        write_str(&mut out, "f");
        out.u64(u64::MAX / 2);
        out.0.extend_from_slice(&[0; 64]);
        assert!(matches!(
            read_flags(&mut Reader::new(&out.0, "patch")),
            Err(SnapshotError::Truncated { .. })
        ));
    }

    #[test]
    fn unknown_tags_and_bad_fields_are_refused() {
        let encode_segment = |s: &SegmentUnit| {
            let mut out = Out(Vec::new());
            write_segment(&mut out, s);
            out.0
        };
        let decode_segment = |b: &[u8]| {
            let mut r = Reader::new(b, "patch");
            read_segment(&mut r).and_then(|s| r.finish().map(|_| s))
        };
        let good = encode_segment(&sample_segment());
        assert_eq!(decode_segment(&good).unwrap(), sample_segment());
        // The atom tag of the segment's only instruction: after the name,
        // both bitmaps and the code count.
        let mut r = Reader::new(&good, "patch");
        r.bytes().unwrap();
        r.bytes().unwrap();
        r.bytes().unwrap();
        r.u64().unwrap();
        let atom_at = r.position();
        for (offset, tag) in [(0, 4u8), (0, 255), (1 + 8 + 7, 2), (1 + 8 + 7 + 1, 13)] {
            let mut bad = good.clone();
            bad[atom_at + offset] = tag;
            assert!(
                matches!(decode_segment(&bad), Err(SnapshotError::Corrupt { .. })),
                "tag {tag} at +{offset} loaded"
            );
        }
        // A regex that does not compile.
        let mut seg = sample_segment();
        seg.code = vec![cmp("a", UnitPred::StrEq("(".into()))];
        let mut bytes = encode_segment(&seg);
        let at = bytes.len() - 8 - 9 - 1;
        bytes[at] = PRED_MATCHES;
        assert!(matches!(
            decode_segment(&bytes),
            Err(SnapshotError::Corrupt { .. })
        ));
    }
}
