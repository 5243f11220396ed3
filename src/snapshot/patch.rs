//! Delta patches: snapshot N-1 → snapshot N, section by section.
//!
//! A patch names its base (version and body checksum), carries the new
//! snapshot's header fields, and for each body section either "same as the
//! base" or the new section's bytes. Applying it rebuilds the new snapshot
//! byte for byte; the result is checked against the new body checksum, and
//! the caller loads it through `from_bytes`/`Store::swap_bytes` as usual.

use xxhash_rust::xxh3::xxh3_64;

use super::format::{read_frame, split_sections, write_frame, Reader, SECTIONS};
use super::{BaseRef, SnapshotError, SnapshotMeta};

/// The first 8 bytes of every patch.
pub const PATCH_MAGIC: &[u8; 8] = b"VEXILPAT";

/// The patch format version this build writes and reads.
pub const PATCH_FORMAT_VERSION: u32 = 1;

const SAME: u8 = 0;
const REPLACED: u8 = 1;

/// Makes a patch that turns the snapshot `base_bytes` into `new_bytes`.
/// Both must be well-formed snapshots (header, checksum and section framing
/// are checked; the tables themselves are not re-validated).
pub fn make_patch(base_bytes: &[u8], new_bytes: &[u8]) -> Result<Vec<u8>, SnapshotError> {
    let base = read_frame(base_bytes)?;
    let new = read_frame(new_bytes)?;
    let base_sections = split_sections(base.body)?;
    let new_sections = split_sections(new.body)?;

    let mut out = Vec::new();
    out.extend_from_slice(PATCH_MAGIC);
    out.extend_from_slice(&PATCH_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&base.meta.version.to_le_bytes());
    out.extend_from_slice(&base.checksum.to_le_bytes());
    out.extend_from_slice(&new.meta.version.to_le_bytes());
    out.extend_from_slice(&(new.meta.environment.len() as u32).to_le_bytes());
    out.extend_from_slice(new.meta.environment.as_bytes());
    out.extend_from_slice(&(new.body.len() as u64).to_le_bytes());
    out.extend_from_slice(&new.checksum.to_le_bytes());
    out.extend_from_slice(&(new_sections.len() as u32).to_le_bytes());
    for (i, section) in new_sections.iter().enumerate() {
        if base_sections.get(i) == Some(section) {
            out.push(SAME);
        } else {
            out.push(REPLACED);
            out.extend_from_slice(&(section.len() as u64).to_le_bytes());
            out.extend_from_slice(section);
        }
    }
    let checksum = xxh3_64(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    Ok(out)
}

/// Applies `patch` to the snapshot `base_bytes` and returns the new
/// snapshot's bytes. Refuses a patch made for another base
/// ([`SnapshotError::PatchBase`]) and a damaged patch.
pub fn apply_patch(base_bytes: &[u8], patch: &[u8]) -> Result<Vec<u8>, SnapshotError> {
    // Magic and version first, so a wrong kind of file says so.
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
    // Then the patch's own checksum, over everything before it.
    let content_len = patch.len().checked_sub(8).ok_or(SnapshotError::Truncated {
        section: "patch checksum",
        needed: 8,
        available: patch.len() as u64,
    })?;
    let (content, tail) = patch.split_at(content_len);
    let mut expected = [0u8; 8];
    expected.copy_from_slice(tail);
    let expected = u64::from_le_bytes(expected);
    let actual = xxh3_64(content);
    if expected != actual {
        return Err(SnapshotError::ChecksumMismatch { expected, actual });
    }

    let mut r = Reader::new(content.get(12..).unwrap_or(&[]), "patch header");
    let want = BaseRef {
        version: r.u64()?,
        checksum: r.u64()?,
    };
    let version = r.u64()?;
    let env_len = r.u32()?;
    let environment = std::str::from_utf8(r.take(env_len as u64)?)
        .map_err(|e| SnapshotError::corrupt("patch header", format!("environment name: {e}")))?
        .to_string();
    let body_len = r.u64()?;
    let body_checksum = r.u64()?;
    let count = r.u32()?;

    let base = read_frame(base_bytes)?;
    let found = BaseRef {
        version: base.meta.version,
        checksum: base.checksum,
    };
    if found != want {
        return Err(SnapshotError::PatchBase {
            expected: want,
            found,
        });
    }
    let base_sections = split_sections(base.body)?;
    if count as usize != SECTIONS.len() {
        return Err(SnapshotError::corrupt(
            "patch",
            format!("{count} sections, expected {}", SECTIONS.len()),
        ));
    }
    // The body cannot be larger than the base plus the patch.
    if body_len > base.body.len() as u64 + patch.len() as u64 {
        return Err(SnapshotError::corrupt(
            "patch",
            format!("announced body of {body_len} bytes is larger than base and patch together"),
        ));
    }
    let mut body = Vec::with_capacity(body_len as usize);
    r = Reader::new(r.take(r.remaining())?, "patch sections");
    for (i, name) in SECTIONS.iter().enumerate() {
        match r.u8()? {
            SAME => body.extend_from_slice(base_sections.get(i).copied().unwrap_or(&[])),
            REPLACED => body.extend_from_slice(r.bytes()?),
            op => {
                return Err(SnapshotError::corrupt(
                    "patch",
                    format!("section {name}: unknown operation {op}"),
                ))
            }
        }
    }
    if r.remaining() != 0 {
        return Err(SnapshotError::corrupt(
            "patch",
            format!("{} bytes after the last section", r.remaining()),
        ));
    }
    let actual = xxh3_64(&body);
    if body.len() as u64 != body_len || actual != body_checksum {
        return Err(SnapshotError::ChecksumMismatch {
            expected: body_checksum,
            actual,
        });
    }
    Ok(write_frame(
        &SnapshotMeta {
            version,
            environment,
        },
        &body,
    ))
}
