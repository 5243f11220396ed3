//! The byte layout: header (frame), body sections, and their encoders and
//! decoders. Both work on plain [`Tables`]. Decoding checks lengths and
//! encodings (UTF-8, values, roaring, record tags); cross-references are
//! checked afterwards, when the tables become a `Ruleset`
//! (`Ruleset::from_tables`, `crate::compile::validate`).

use xxhash_rust::xxh3::xxh3_64;

use super::wire::tags::*;
use super::wire::{read_rel, rel_tag, Out, Reader};
use super::{SnapshotError, SnapshotMeta};
use crate::compile::strings::{NameIndex, StrId};
use crate::compile::tables::{
    Arm, Atom, Flag, Instr, Pred, Range32, Rule, Segment, ServeRef, Split, Tables, Target,
    Variation,
};
use crate::values::date::Instant;
use crate::values::semver::Version;

/// The first 8 bytes of every snapshot.
pub const MAGIC: &[u8; 8] = b"VEXILSNP";

/// The snapshot format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 3;

/// The regex crate's `size_limit` used when recompiling a snapshot's regexes:
/// the ceiling of the compiler's regex cap, so a regex the compiler accepted
/// always loads (defined with every other limit in [`crate::limits`]).
pub use crate::limits::REGEX_SIZE_LIMIT;

/// Body sections, in the order they are written, with their tags.
pub(crate) const SECTIONS: [&str; 17] = [
    "strings",
    "attrs",
    "keys",
    "flag_keys",
    "flags",
    "variations",
    "targets",
    "rules",
    "splits",
    "arms",
    "segments",
    "code",
    "str_sets",
    "num_sets",
    "versions",
    "instants",
    "regexes",
];

const S_STRINGS: usize = 0;
const S_ATTRS: usize = 1;
const S_KEYS: usize = 2;
const S_FLAG_KEYS: usize = 3;
const S_FLAGS: usize = 4;
const S_VARIATIONS: usize = 5;
const S_TARGETS: usize = 6;
const S_RULES: usize = 7;
const S_SPLITS: usize = 8;
const S_ARMS: usize = 9;
const S_SEGMENTS: usize = 10;
const S_CODE: usize = 11;
const S_STR_SETS: usize = 12;
const S_NUM_SETS: usize = 13;
const S_VERSIONS: usize = 14;
const S_INSTANTS: usize = 15;
const S_REGEXES: usize = 16;

/// Size of a section's header: tag u32 + payload length u64.
pub(crate) const SECTION_HEADER: usize = 12;
/// Size of one `Flag` record.
const FLAG_RECORD: u64 = 44;
/// Size of one `Instr` record.
pub(crate) const INSTR_RECORD: u64 = 24;

// ---------------------------------------------------------------- writing

/// Bytes before the checksummed region: magic, format version, checksum.
pub(crate) const CHECKSUM_END: usize = 20;

/// Writes the header and appends the body. The checksum (at bytes 12..20)
/// covers every byte after itself: snapshot version, environment, body
/// length and body.
pub(crate) fn write_frame(meta: &SnapshotMeta, body: &[u8]) -> Vec<u8> {
    let mut out = Out(Vec::with_capacity(40 + meta.environment.len() + body.len()));
    out.0.extend_from_slice(MAGIC);
    out.u32(FORMAT_VERSION);
    out.u64(0); // the checksum, filled in below
    out.u64(meta.version);
    out.u32(meta.environment.len() as u32);
    out.0.extend_from_slice(meta.environment.as_bytes());
    out.len(body.len());
    out.0.extend_from_slice(body);
    let checksum = xxh3_64(&out.0[CHECKSUM_END..]);
    out.0[12..CHECKSUM_END].copy_from_slice(&checksum.to_le_bytes());
    out.0
}

/// The checksum field of an encoding `write_frame` produced.
pub(crate) fn header_checksum(bytes: &[u8]) -> u64 {
    let mut field = [0u8; 8];
    if let Some(b) = bytes.get(12..CHECKSUM_END) {
        field.copy_from_slice(b);
    }
    u64::from_le_bytes(field)
}

/// Writes all sections of the body.
pub(crate) fn write_body(rs: &Tables) -> Vec<u8> {
    let mut out = Out(Vec::new());
    for (tag, _) in SECTIONS.iter().enumerate() {
        out.u32(tag as u32);
        let len_at = out.0.len();
        out.u64(0);
        let start = out.0.len();
        write_section(&mut out, rs, tag);
        let len = (out.0.len() - start) as u64;
        out.0[len_at..len_at + 8].copy_from_slice(&len.to_le_bytes());
    }
    out.0
}

fn write_section(out: &mut Out, rs: &Tables, tag: usize) {
    match tag {
        S_STRINGS => out.str_table(&rs.strings),
        S_ATTRS => {
            out.len(rs.attrs.len());
            for a in &rs.attrs {
                out.u32(a.0);
            }
        }
        S_KEYS => write_name_index(out, &rs.keys),
        S_FLAG_KEYS => write_name_index(out, &rs.flag_keys),
        S_FLAGS => {
            out.len(rs.flags.len());
            for f in &rs.flags {
                out.range(f.variations);
                out.u32(f.default);
                out.u32(f.when_disabled);
                out.u32(f.enabled as u32);
                out.u32(f.salt.0);
                out.range(f.targets);
                out.range(f.rules);
                out.u32(f.rollout);
            }
        }
        S_VARIATIONS => {
            out.len(rs.variations.len());
            for v in &rs.variations {
                out.u32(v.name.0);
                let mut value = Vec::new();
                super::wire::value::write(&mut value, &v.value);
                out.bytes(&value);
            }
        }
        S_TARGETS => {
            out.len(rs.targets.len());
            for t in &rs.targets {
                out.u32(t.variation);
                out.bitmap(&t.keys);
            }
        }
        S_RULES => {
            out.len(rs.rules.len());
            for r in &rs.rules {
                out.u32(r.name);
                out.u32(r.entry);
                match r.serve {
                    ServeRef::Variation(v) => {
                        out.u32(0);
                        out.u32(v);
                    }
                    ServeRef::Split(s) => {
                        out.u32(1);
                        out.u32(s);
                    }
                }
            }
        }
        S_SPLITS => {
            out.len(rs.splits.len());
            for s in &rs.splits {
                out.u32(s.by);
                out.u32(s.salt.0);
                out.range(s.arms);
            }
        }
        S_ARMS => {
            out.len(rs.arms.len());
            for a in &rs.arms {
                out.u32(a.end);
                out.u32(a.variation);
            }
        }
        S_SEGMENTS => {
            out.len(rs.segments.len());
            for s in &rs.segments {
                out.u32(s.name.0);
                out.u32(s.entry);
                out.bitmap(&s.include);
                out.bitmap(&s.exclude);
            }
        }
        S_CODE => {
            out.len(rs.code.len());
            for i in &rs.code {
                write_instr(out, i);
            }
        }
        S_STR_SETS => {
            out.len(rs.str_sets.len());
            for s in &rs.str_sets {
                out.u32(s.0);
            }
        }
        S_NUM_SETS => {
            out.len(rs.num_sets.len());
            for n in &rs.num_sets {
                out.u64(n.to_bits());
            }
        }
        S_VERSIONS => {
            out.len(rs.versions.len());
            for v in &rs.versions {
                out.u64(v.major);
                out.u64(v.minor);
                out.u64(v.patch);
                out.bytes(v.pre.as_bytes());
            }
        }
        S_INSTANTS => {
            out.len(rs.instants.len());
            for i in &rs.instants {
                out.0.extend_from_slice(&i.0.to_le_bytes());
            }
        }
        S_REGEXES => {
            out.len(rs.regexes.len());
            for p in &rs.regexes {
                out.u32(p.0);
            }
        }
        _ => {}
    }
}

fn write_name_index(out: &mut Out, idx: &NameIndex) {
    out.str_table(&idx.names);
    out.u32s(&idx.slots);
}

fn range_bits(r: Range32) -> u64 {
    r.start as u64 | (r.len as u64) << 32
}

/// `Instr` record: atom u8, pred u8, rel u8, negate u8, a u32, b u64,
/// on_true u32, on_false u32 (24 bytes).
fn write_instr(out: &mut Out, i: &Instr) {
    let (atom, pred, rel, negate, a, b) = match i.atom {
        Atom::Exists(attr) => (ATOM_EXISTS, 0, 0, false, attr, 0),
        Atom::Segment(s) => (ATOM_SEGMENT, 0, 0, false, s, 0),
        Atom::Prereq(f, v) => (ATOM_PREREQ, 0, 0, false, f, v as u64),
        Atom::Cmp { attr, negate, pred } => {
            let (p, rel, b) = match pred {
                Pred::StrEq(s) => (PRED_STR_EQ, 0, s.0 as u64),
                Pred::Num(r, x) => (PRED_NUM, rel_tag(r), x.to_bits()),
                Pred::BoolEq(x) => (PRED_BOOL_EQ, 0, x as u64),
                Pred::Semver(r, i) => (PRED_SEMVER, rel_tag(r), i as u64),
                Pred::Date(r, i) => (PRED_DATE, rel_tag(r), i as u64),
                Pred::StrIn(r) => (PRED_STR_IN, 0, range_bits(r)),
                Pred::NumIn(r) => (PRED_NUM_IN, 0, range_bits(r)),
                Pred::EmptyIn => (PRED_EMPTY_IN, 0, 0),
                Pred::ContainsStr(s) => (PRED_CONTAINS_STR, 0, s.0 as u64),
                Pred::ContainsNum(x) => (PRED_CONTAINS_NUM, 0, x.to_bits()),
                Pred::StartsWith(s) => (PRED_STARTS_WITH, 0, s.0 as u64),
                Pred::EndsWith(s) => (PRED_ENDS_WITH, 0, s.0 as u64),
                Pred::Matches(i) => (PRED_MATCHES, 0, i as u64),
            };
            (ATOM_CMP, p, rel, negate, attr, b)
        }
    };
    out.u8(atom);
    out.u8(pred);
    out.u8(rel);
    out.u8(negate as u8);
    out.u32(a);
    out.u64(b);
    out.u32(i.on_true);
    out.u32(i.on_false);
}

// ---------------------------------------------------------------- reading

/// The header of a snapshot and its checksummed body.
pub(crate) struct Frame<'a> {
    pub(crate) meta: SnapshotMeta,
    pub(crate) checksum: u64,
    pub(crate) body: &'a [u8],
}

/// Reads the header, checks magic, version, lengths and checksum.
pub(crate) fn read_frame(bytes: &[u8]) -> Result<Frame<'_>, SnapshotError> {
    let mut r = Reader::new(bytes, "header");
    let magic = r.take(8)?;
    if magic != MAGIC {
        return Err(SnapshotError::BadMagic {
            what: "snapshot",
            expected: MAGIC,
        });
    }
    let format = r.u32()?;
    if format != FORMAT_VERSION {
        return Err(SnapshotError::UnsupportedVersion {
            found: format,
            supported: FORMAT_VERSION,
        });
    }
    let checksum = r.u64()?;
    // Checked before any field it covers is interpreted: a damaged version
    // or environment name is a checksum mismatch, not another snapshot.
    let covered = bytes.get(CHECKSUM_END..).unwrap_or(&[]);
    let actual = xxh3_64(covered);
    if actual != checksum {
        return Err(SnapshotError::ChecksumMismatch {
            expected: checksum,
            actual,
        });
    }
    let version = r.u64()?;
    let env_len = r.u32()?;
    let env = r.take(env_len as u64)?;
    let environment = std::str::from_utf8(env)
        .map_err(|e| SnapshotError::corrupt("header", format!("environment name: {e}")))?
        .to_string();
    let body_len = r.u64()?;
    let mut body_reader = Reader::new(bytes.get(r.position()..).unwrap_or(&[]), "body");
    let body = body_reader.take(body_len)?;
    if body_reader.remaining() != 0 {
        return Err(SnapshotError::corrupt(
            "header",
            format!(
                "{} bytes after the {body_len}-byte body",
                body_reader.remaining()
            ),
        ));
    }
    Ok(Frame {
        meta: SnapshotMeta {
            version,
            environment,
        },
        checksum,
        body,
    })
}

/// Splits a body into its sections, each the full record (tag, length,
/// payload), checking the tags come in order and nothing is left over.
pub(crate) fn split_sections(body: &[u8]) -> Result<Vec<&[u8]>, SnapshotError> {
    let mut r = Reader::new(body, "body");
    let mut out = Vec::with_capacity(SECTIONS.len());
    for (tag, name) in SECTIONS.iter().enumerate() {
        let start = r.position();
        r.set_section(name);
        let found = r.u32()?;
        if found != tag as u32 {
            return Err(SnapshotError::corrupt(
                name,
                format!("expected section tag {tag}, found {found}"),
            ));
        }
        r.bytes()?;
        out.push(body.get(start..r.position()).unwrap_or(&[]));
    }
    r.set_section("body");
    r.finish()?;
    Ok(out)
}

fn payload<'a>(sections: &[&'a [u8]], tag: usize) -> Reader<'a> {
    let name = SECTIONS.get(tag).copied().unwrap_or("body");
    let raw = sections.get(tag).copied().unwrap_or(&[]);
    Reader::new(raw.get(SECTION_HEADER..).unwrap_or(&[]), name)
}

/// Decodes every section into tables, not yet validated.
pub(crate) fn read_body(sections: &[&[u8]]) -> Result<Tables, SnapshotError> {
    let mut rs = Tables::default();
    for tag in 0..SECTIONS.len() {
        let mut r = payload(sections, tag);
        read_section(&mut r, &mut rs, tag)?;
        r.finish()?;
    }
    Ok(rs)
}

fn read_section(r: &mut Reader<'_>, rs: &mut Tables, tag: usize) -> Result<(), SnapshotError> {
    match tag {
        S_STRINGS => rs.strings = r.str_table()?,
        S_ATTRS => rs.attrs = r.u32s()?.into_iter().map(StrId).collect(),
        S_KEYS => rs.keys = read_name_index(r)?,
        S_FLAG_KEYS => rs.flag_keys = read_name_index(r)?,
        S_FLAGS => {
            let n = r.count(FLAG_RECORD)?;
            let mut flags = Vec::with_capacity(n);
            for i in 0..n {
                let variations = r.range()?;
                let default = r.u32()?;
                let when_disabled = r.u32()?;
                let enabled = match r.u32()? {
                    0 => false,
                    1 => true,
                    x => {
                        return Err(SnapshotError::corrupt(
                            r.section(),
                            format!("flag {i}: enabled is {x}, not 0 or 1"),
                        ))
                    }
                };
                flags.push(Flag {
                    variations,
                    default,
                    when_disabled,
                    enabled,
                    salt: StrId(r.u32()?),
                    targets: r.range()?,
                    rules: r.range()?,
                    rollout: r.u32()?,
                });
            }
            rs.flags = flags;
        }
        S_VARIATIONS => {
            let n = r.count(12)?;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let name = StrId(r.u32()?);
                let mut vr = Reader::new(r.bytes()?, r.section());
                let value = super::wire::value::read(&mut vr, &format!("variation {i} value"))?;
                vr.finish()?;
                out.push(Variation { name, value });
            }
            rs.variations = out;
        }
        S_TARGETS => {
            let n = r.count(12)?;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let variation = r.u32()?;
                let keys = r.bitmap(&format!("target {i}"))?;
                out.push(Target { variation, keys });
            }
            rs.targets = out;
        }
        S_RULES => {
            let n = r.count(16)?;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let name = r.u32()?;
                let entry = r.u32()?;
                let serve = match (r.u32()?, r.u32()?) {
                    (0, v) => ServeRef::Variation(v),
                    (1, s) => ServeRef::Split(s),
                    (k, _) => {
                        return Err(SnapshotError::corrupt(
                            r.section(),
                            format!(
                                "rule {i}: serve kind {k} is neither 0 (variation) nor 1 (split)"
                            ),
                        ))
                    }
                };
                out.push(Rule { name, entry, serve });
            }
            rs.rules = out;
        }
        S_SPLITS => {
            let n = r.count(16)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push(Split {
                    by: r.u32()?,
                    salt: StrId(r.u32()?),
                    arms: r.range()?,
                });
            }
            rs.splits = out;
        }
        S_ARMS => {
            let n = r.count(8)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push(Arm {
                    end: r.u32()?,
                    variation: r.u32()?,
                });
            }
            rs.arms = out;
        }
        S_SEGMENTS => {
            let n = r.count(24)?;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let name = StrId(r.u32()?);
                let entry = r.u32()?;
                let include = r.bitmap(&format!("segment {i} include"))?;
                let exclude = r.bitmap(&format!("segment {i} exclude"))?;
                out.push(Segment {
                    name,
                    include,
                    exclude,
                    entry,
                });
            }
            rs.segments = out;
        }
        S_CODE => {
            let n = r.count(INSTR_RECORD)?;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(read_instr(r, i)?);
            }
            rs.code = out;
        }
        S_STR_SETS => rs.str_sets = r.u32s()?.into_iter().map(StrId).collect(),
        S_NUM_SETS => {
            let n = r.count(8)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push(f64::from_bits(r.u64()?));
            }
            rs.num_sets = out;
        }
        S_VERSIONS => {
            let n = r.count(32)?;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let major = r.u64()?;
                let minor = r.u64()?;
                let patch = r.u64()?;
                let pre = r.str(&format!("version {i} pre-release"))?.to_string();
                out.push(Version {
                    major,
                    minor,
                    patch,
                    pre,
                });
            }
            rs.versions = out;
        }
        S_INSTANTS => {
            let n = r.count(16)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push(Instant(r.i128()?));
            }
            rs.instants = out;
        }
        S_REGEXES => rs.regexes = r.u32s()?.into_iter().map(StrId).collect(),
        _ => {}
    }
    Ok(())
}

fn read_name_index(r: &mut Reader<'_>) -> Result<NameIndex, SnapshotError> {
    let names = r.str_table()?;
    let slots = r.u32s()?;
    Ok(NameIndex { names, slots })
}

fn read_instr(r: &mut Reader<'_>, i: usize) -> Result<Instr, SnapshotError> {
    let section = r.section();
    let bad = |what: String| SnapshotError::corrupt(section, format!("instruction {i}: {what}"));
    let atom = r.u8()?;
    let pred = r.u8()?;
    let rel = r.u8()?;
    let negate = r.u8()?;
    let a = r.u32()?;
    let b = r.u64()?;
    let on_true = r.u32()?;
    let on_false = r.u32()?;
    let b32 = || u32::try_from(b).map_err(|_| bad(format!("operand {b:#x} does not fit 32 bits")));
    let range = || Range32 {
        start: b as u32,
        len: (b >> 32) as u32,
    };
    if atom != ATOM_CMP && (pred, rel, negate) != (0, 0, 0) {
        return Err(bad("non-zero predicate fields on a non-comparison".into()));
    }
    let atom = match atom {
        ATOM_EXISTS if b == 0 => Atom::Exists(a),
        ATOM_SEGMENT if b == 0 => Atom::Segment(a),
        ATOM_EXISTS | ATOM_SEGMENT => return Err(bad("non-zero unused operand".into())),
        ATOM_PREREQ => Atom::Prereq(a, b32()?),
        ATOM_CMP => {
            let negate = match negate {
                0 => false,
                1 => true,
                x => return Err(bad(format!("negate is {x}, not 0 or 1"))),
            };
            let with_rel = matches!(pred, PRED_NUM | PRED_SEMVER | PRED_DATE);
            let rel_v = read_rel(rel).ok_or_else(|| bad(format!("unknown relation {rel}")))?;
            if !with_rel && rel != 0 {
                return Err(bad(format!("relation {rel} on predicate {pred}")));
            }
            let pred = match pred {
                PRED_STR_EQ => Pred::StrEq(StrId(b32()?)),
                PRED_NUM => Pred::Num(rel_v, f64::from_bits(b)),
                PRED_BOOL_EQ => match b {
                    0 => Pred::BoolEq(false),
                    1 => Pred::BoolEq(true),
                    _ => return Err(bad(format!("boolean operand {b}"))),
                },
                PRED_SEMVER => Pred::Semver(rel_v, b32()?),
                PRED_DATE => Pred::Date(rel_v, b32()?),
                PRED_STR_IN => Pred::StrIn(range()),
                PRED_NUM_IN => Pred::NumIn(range()),
                PRED_EMPTY_IN if b == 0 => Pred::EmptyIn,
                PRED_EMPTY_IN => return Err(bad("non-zero unused operand".into())),
                PRED_CONTAINS_STR => Pred::ContainsStr(StrId(b32()?)),
                PRED_CONTAINS_NUM => Pred::ContainsNum(f64::from_bits(b)),
                PRED_STARTS_WITH => Pred::StartsWith(StrId(b32()?)),
                PRED_ENDS_WITH => Pred::EndsWith(StrId(b32()?)),
                PRED_MATCHES => Pred::Matches(b32()?),
                p => return Err(bad(format!("unknown predicate tag {p}"))),
            };
            Atom::Cmp {
                attr: a,
                negate,
                pred,
            }
        }
        t => return Err(bad(format!("unknown atom tag {t}"))),
    };
    Ok(Instr {
        atom,
        on_true,
        on_false,
    })
}
