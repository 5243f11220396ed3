//! Delta patches: snapshot N-1 → snapshot N, flag by flag.
//!
//! A patch carries only what changed between two snapshots, at the grain a
//! person changes things: the flags and segments that were added or edited
//! (as compiled, unlinked [units](crate::compile::unit)), the names of those
//! removed, the context keys appended to the key table, and the new order of
//! flags or segments when it moved. The receiver unlinks its current
//! snapshot into units, swaps the patched ones in, links again and checks the
//! result against the new snapshot's checksum the patch names, so a patch either
//! reproduces the sender's snapshot N byte for byte or is refused.
//!
//! Key ids stay stable across versions when the origin compiles with
//! [`compile_with_keys`](crate::compile::compile_with_keys): then unchanged
//! flags and segments, even ones with a million-key bitmap, are not in the
//! patch at all. (A snapshot compiled afresh renumbers the keys; the patch is
//! then correct but carries the whole key table and every bitmap.)
//!
//! Layout: `VEXILPAT`, format version (u32 LE), payload length (u64 LE),
//! payload ([`Payload`] in the snapshot's own wire
//! format, [`super::wire`]; field by field in docs/snapshot-format.md), then the xxh3-64 of everything
//! before it (u64 LE).

use std::collections::{HashMap, HashSet};

use xxhash_rust::xxh3::xxh3_64;

use super::wire::unit as codec;
use super::wire::{Out, Reader};
use super::{from_bytes, BaseRef, Snapshot, SnapshotError, SnapshotMeta};
use crate::compile::link::{link_tables, unlink};
use crate::compile::strings::NameIndex;
use crate::compile::tables::{Regexes, Tables};
use crate::compile::unit::{FlagUnit, SegmentUnit};
use crate::compile::Ruleset;

/// The first 8 bytes of every patch.
pub const PATCH_MAGIC: &[u8; 8] = b"VEXILPAT";

/// The patch format version this build writes and reads.
pub const PATCH_FORMAT_VERSION: u32 = 4;

/// What a patch says.
#[derive(Debug, Clone, PartialEq)]
struct Payload {
    /// The snapshot it applies to.
    base_version: u64,
    /// That snapshot's header checksum.
    base_checksum: u64,
    /// The new snapshot's version.
    version: u64,
    /// The new snapshot's environment.
    environment: String,
    /// The new snapshot's header checksum.
    checksum: u64,
    /// How the key table changes.
    keys: KeyChange,
    /// Flag changes.
    flags: Changes<FlagUnit>,
    /// Segment changes.
    segments: Changes<SegmentUnit>,
}

/// How the key table of the new snapshot derives from the base's.
#[derive(Debug, Clone, PartialEq)]
enum KeyChange {
    /// The base's keys, then these (ids continue after the base's).
    Append(Vec<String>),
    /// A different table altogether.
    Replace(Vec<String>),
}

/// Added, edited and removed units of one kind.
#[derive(Debug, Clone, PartialEq)]
struct Changes<U> {
    /// New or edited units: an edited one keeps its place, a new one goes last.
    upsert: Vec<U>,
    /// Names of removed units.
    remove: Vec<String>,
    /// The full order of names, when it is not what upsert and remove give.
    order: Option<Vec<String>>,
}

/// The payload's encoding (docs/snapshot-format.md, "Patches").
fn write_payload(p: &Payload) -> Vec<u8> {
    let mut out = Out(Vec::new());
    out.u64(p.base_version);
    out.u64(p.base_checksum);
    out.u64(p.version);
    codec::write_str(&mut out, &p.environment);
    out.u64(p.checksum);
    match &p.keys {
        KeyChange::Append(keys) => {
            out.u8(0);
            codec::write_strs(&mut out, keys);
        }
        KeyChange::Replace(keys) => {
            out.u8(1);
            codec::write_strs(&mut out, keys);
        }
    }
    write_changes(&mut out, &p.flags, codec::write_flags);
    write_changes(&mut out, &p.segments, codec::write_segments);
    out.0
}

fn write_changes<U>(out: &mut Out, c: &Changes<U>, units: fn(&mut Out, &[U])) {
    units(out, &c.upsert);
    codec::write_strs(out, &c.remove);
    match &c.order {
        None => out.u8(0),
        Some(order) => {
            out.u8(1);
            codec::write_strs(out, order);
        }
    }
}

/// Decodes a payload; every byte must belong to it.
fn decode_payload(encoded: &[u8]) -> Result<Payload, SnapshotError> {
    let mut r = Reader::new(encoded, "patch");
    let base_version = r.u64()?;
    let base_checksum = r.u64()?;
    let version = r.u64()?;
    let environment = codec::read_str(&mut r, "environment name")?;
    let checksum = r.u64()?;
    let keys = match r.u8()? {
        0 => KeyChange::Append(codec::read_strs(&mut r, "context key")?),
        1 => KeyChange::Replace(codec::read_strs(&mut r, "context key")?),
        t => {
            return Err(SnapshotError::corrupt(
                "patch",
                format!("unknown key change tag {t}"),
            ))
        }
    };
    let flags = read_changes(&mut r, codec::read_flags)?;
    let segments = read_changes(&mut r, codec::read_segments)?;
    r.finish()?;
    Ok(Payload {
        base_version,
        base_checksum,
        version,
        environment,
        checksum,
        keys,
        flags,
        segments,
    })
}

fn read_changes<U>(
    r: &mut Reader<'_>,
    units: fn(&mut Reader<'_>) -> Result<Vec<U>, SnapshotError>,
) -> Result<Changes<U>, SnapshotError> {
    let upsert = units(r)?;
    let remove = codec::read_strs(r, "removed name")?;
    let order = if codec::read_bool(r, "order tag")? {
        Some(codec::read_strs(r, "order name")?)
    } else {
        None
    };
    Ok(Changes {
        upsert,
        remove,
        order,
    })
}

/// A unit that has a name.
trait Named {
    fn name(&self) -> &str;
}

impl Named for FlagUnit {
    fn name(&self) -> &str {
        &self.key
    }
}

impl Named for SegmentUnit {
    fn name(&self) -> &str {
        &self.name
    }
}

fn names<U: Named>(units: &[U]) -> Vec<String> {
    units.iter().map(|u| u.name().to_string()).collect()
}

/// `base` with `changes` applied.
fn apply_changes<U: Named + Clone>(
    base: Vec<U>,
    changes: &Changes<U>,
) -> Result<Vec<U>, SnapshotError> {
    let removed: HashSet<&str> = changes.remove.iter().map(String::as_str).collect();
    let mut units: Vec<U> = base
        .into_iter()
        .filter(|u| !removed.contains(u.name()))
        .collect();
    for unit in &changes.upsert {
        match units.iter_mut().find(|u| u.name() == unit.name()) {
            Some(slot) => *slot = unit.clone(),
            None => units.push(unit.clone()),
        }
    }
    if let Some(order) = &changes.order {
        let mut by_name: HashMap<String, U> = units
            .into_iter()
            .map(|u| (u.name().to_string(), u))
            .collect();
        let mut ordered = Vec::with_capacity(order.len());
        for name in order {
            let unit = by_name.remove(name).ok_or_else(|| {
                SnapshotError::corrupt("patch", format!("order names unknown or repeated `{name}`"))
            })?;
            ordered.push(unit);
        }
        if !by_name.is_empty() {
            return Err(SnapshotError::corrupt("patch", "order leaves units out"));
        }
        units = ordered;
    }
    Ok(units)
}

/// The changes that turn `base` into `new`.
fn diff<U: Named + Clone + PartialEq>(base: &[U], new: &[U]) -> Changes<U> {
    let old: HashMap<&str, &U> = base.iter().map(|u| (u.name(), u)).collect();
    let upsert: Vec<U> = new
        .iter()
        .filter(|u| old.get(u.name()) != Some(u))
        .cloned()
        .collect();
    let kept: HashSet<&str> = new.iter().map(Named::name).collect();
    let remove: Vec<String> = base
        .iter()
        .filter(|u| !kept.contains(u.name()))
        .map(|u| u.name().to_string())
        .collect();
    let mut changes = Changes {
        upsert,
        remove,
        order: None,
    };
    let implied = apply_changes(base.to_vec(), &changes)
        .map(|units| names(&units))
        .ok();
    if implied.as_deref() != Some(&names(new)[..]) {
        changes.order = Some(names(new));
    }
    changes
}

fn key_names(index: &NameIndex) -> Vec<&str> {
    (0..index.len() as u32).map(|i| index.name(i)).collect()
}

/// The snapshot bytes of (not yet validated) tables.
fn encode(tables: &Tables, meta: &SnapshotMeta) -> Vec<u8> {
    super::format::write_frame(meta, &super::format::write_body(tables))
}

/// A snapshot's tables as units (see [`Snapshot::units`]).
#[derive(Debug)]
pub(crate) struct Units {
    flags: Vec<FlagUnit>,
    segments: Vec<SegmentUnit>,
}

#[cfg(test)]
impl Units {
    pub(crate) fn flags_and_segments(&self) -> (&[FlagUnit], &[SegmentUnit]) {
        (&self.flags, &self.segments)
    }
}

impl Snapshot {
    /// The snapshot's units: unlinked on first use, then kept.
    pub(crate) fn units(&self) -> Result<&Units, SnapshotError> {
        if let Some(units) = self.units.get() {
            return Ok(units);
        }
        let (flags, segments) =
            unlink(&self.ruleset).map_err(|e| SnapshotError::corrupt("units", e.to_string()))?;
        Ok(self
            .units
            .get_or_init(|| std::sync::Arc::new(Units { flags, segments })))
    }
}

/// Makes a patch that turns snapshot `base` into snapshot `new`.
///
/// Applying it yields `new` exactly when `new` is laid out as the compiler
/// lays it out (always, for snapshots vexil wrote); otherwise it yields the
/// same flags in the compiler's layout.
pub fn make_patch_from(base: &Snapshot, new: &Snapshot) -> Result<Vec<u8>, SnapshotError> {
    let Units {
        flags: base_flags,
        segments: base_segments,
    } = base.units()?;
    let Units {
        flags: new_flags,
        segments: new_segments,
    } = new.units()?;
    let base_keys = key_names(base.ruleset().keys());
    let new_keys = key_names(new.ruleset().keys());
    let keys = if new_keys.starts_with(&base_keys) {
        KeyChange::Append(
            new_keys[base_keys.len()..]
                .iter()
                .map(|k| k.to_string())
                .collect(),
        )
    } else {
        KeyChange::Replace(new_keys.iter().map(|k| k.to_string()).collect())
    };
    // The checksum of what the receiver will link, which is `new` in the compiler's layout.
    // (Only its bytes are needed: `new` itself was validated.)
    let (relinked, _) = link_tables(new_flags, new_segments, new.ruleset().keys().clone())
        .map_err(|e| SnapshotError::corrupt("units", e.to_string()))?;
    let payload = Payload {
        base_version: base.version(),
        base_checksum: base.checksum(),
        version: new.version(),
        environment: new.environment().to_string(),
        checksum: super::format::header_checksum(&encode(&relinked, new.meta())),
        keys,
        flags: diff(base_flags, new_flags),
        segments: diff(base_segments, new_segments),
    };
    let encoded = write_payload(&payload);
    let mut out = Vec::with_capacity(encoded.len() + 28);
    out.extend_from_slice(PATCH_MAGIC);
    out.extend_from_slice(&PATCH_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
    out.extend_from_slice(&encoded);
    let checksum = xxh3_64(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    Ok(out)
}

/// Makes a patch from snapshot bytes (both are fully validated first).
pub fn make_patch(base_bytes: &[u8], new_bytes: &[u8]) -> Result<Vec<u8>, SnapshotError> {
    make_patch_from(&from_bytes(base_bytes)?, &from_bytes(new_bytes)?)
}

fn read_payload(patch: &[u8]) -> Result<Payload, SnapshotError> {
    let mut r = Reader::new(patch, "patch header");
    if r.take(8)? != PATCH_MAGIC {
        return Err(SnapshotError::BadMagic {
            what: "patch",
            expected: PATCH_MAGIC,
        });
    }
    let format = r.u32()?;
    if format != PATCH_FORMAT_VERSION {
        return Err(SnapshotError::UnsupportedVersion {
            found: format,
            supported: PATCH_FORMAT_VERSION,
        });
    }
    let len = r.u64()?;
    let encoded = r.take(len)?;
    let content_len = patch.len() - r.remaining() as usize;
    let expected = r.u64()?;
    if r.remaining() != 0 {
        return Err(SnapshotError::corrupt(
            "patch",
            format!("{} bytes after the checksum", r.remaining()),
        ));
    }
    let actual = xxh3_64(&patch[..content_len]);
    if expected != actual {
        return Err(SnapshotError::ChecksumMismatch { expected, actual });
    }
    decode_payload(encoded)
}

/// Applies `patch` to the snapshot `base` and returns the new snapshot,
/// fully validated. Refuses a patch made for another base
/// ([`SnapshotError::PatchBase`]), a damaged patch, and a result that does
/// not hash to the checksum the patch names.
pub fn apply_patch_to(base: &Snapshot, patch: &[u8]) -> Result<Snapshot, SnapshotError> {
    apply_patch_with_bytes(base, patch).map(|(snapshot, _)| snapshot)
}

/// [`apply_patch_to`], also handing back the new snapshot's file bytes
/// (which it encodes anyway to check them against the patch's checksum), for
/// callers that serve or cache them.
///
/// The linked result is validated in memory with the same structural checks
/// [`from_bytes`] runs after decoding; decoding it again would only repeat
/// what the typed tables already guarantee (UTF-8 strings, record tags).
pub fn apply_patch_with_bytes(
    base: &Snapshot,
    patch: &[u8],
) -> Result<(Snapshot, Vec<u8>), SnapshotError> {
    let payload = read_payload(patch)?;
    let found = base.base_ref();
    let expected = BaseRef {
        version: payload.base_version,
        checksum: payload.base_checksum,
    };
    if found != expected {
        return Err(SnapshotError::PatchBase { expected, found });
    }
    let base_rs = base.ruleset();
    let units = base.units()?;
    let flags = apply_changes(units.flags.clone(), &payload.flags)?;
    let segments = apply_changes(units.segments.clone(), &payload.segments)?;
    let keys = match &payload.keys {
        KeyChange::Append(new) if new.is_empty() => base_rs.keys().clone(),
        KeyChange::Append(new) => NameIndex::build(
            key_names(base_rs.keys())
                .into_iter()
                .chain(new.iter().map(String::as_str)),
        ),
        KeyChange::Replace(all) => NameIndex::build(all.iter().map(String::as_str)),
    };
    let (tables, regexes) = link_tables(&flags, &segments, keys)
        .map_err(|e| SnapshotError::corrupt("patch", e.to_string()))?;
    let meta = SnapshotMeta {
        version: payload.version,
        environment: payload.environment,
    };
    let bytes = encode(&tables, &meta);
    let checksum = super::format::header_checksum(&bytes);
    if checksum != payload.checksum {
        return Err(SnapshotError::ChecksumMismatch {
            expected: payload.checksum,
            actual: checksum,
        });
    }
    let ruleset = Ruleset::from_tables(tables, Regexes::Compiled(regexes))?;
    let snapshot = Snapshot {
        meta,
        ruleset,
        checksum,
        // The units it was linked from are its units: kept for the next
        // patch. (Should they ever differ from what unlinking gives, the
        // next patch's result would miss its checksum and be refused, never
        // served.)
        units: std::sync::Arc::new(Units { flags, segments }).into(),
    };
    Ok((snapshot, bytes))
}

/// Applies `patch` to snapshot bytes and returns the new snapshot's bytes.
pub fn apply_patch(base_bytes: &[u8], patch: &[u8]) -> Result<Vec<u8>, SnapshotError> {
    // A wrong kind of input says so before the base is even read.
    read_payload(patch)?;
    let base = from_bytes(base_bytes)?;
    apply_patch_with_bytes(&base, patch).map(|(_, bytes)| bytes)
}
