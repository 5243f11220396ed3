//! Snapshots: the compiled tables as one versioned, checksummed binary file.
//!
//! This stage takes a [`Ruleset`] (from `crate::compile`) plus its
//! [`SnapshotMeta`] (monotonic version, environment name) and writes it as
//! bytes ([`to_bytes`], [`write_file`]); it reads bytes back, validating
//! every length, offset and index, into a [`Snapshot`] ([`from_bytes`],
//! [`open`]) that `crate::eval` can run without further checks. [`Store`]
//! swaps validated snapshots in atomically for readers that never block, and
//! [`make_patch`]/[`apply_patch`] ship the difference between two versions.
//! The byte layout is documented in `docs/snapshot-format.md`.

/*
Why a bespoke format?

A snapshot is read on the hot path of every process that evaluates flags:
at start-up and on every publish. What we want from a format is that loading
is a bulk copy of flat arrays, not a rebuild: the decision tables are already
plain `u32`/`u64`/`f64` arrays that refer to each other by index, the string
table is one blob plus an `ends` array, and the name indexes are hash tables
whose slot arrays can be copied as they are. A general-purpose serializer
(serde + bincode, JSON, protobuf) would make us either rebuild those tables at
load time (re-interning, re-hashing) or describe them through a schema that
adds nothing but a dependency and a second source of truth. So, like
regex-automata's `util/wire.rs`, the format is written by hand: fixed-width
little-endian fields in a documented order, so that a snapshot can be mmapped,
checked, and used at once.

Hand-written also means we own validation. Snapshot bytes come from the
network and from disk, so they are hostile until proven otherwise:
`from_bytes` never panics and never allocates more than the input could
describe, checks the checksum first, then every offset, index, jump target
and reference (including that prerequisites and segments do not form cycles)
before a `Ruleset` is handed out. The evaluator therefore may index the
tables without re-checking. One error type, [`SnapshotError`], says exactly
what was wrong.
*/

pub(crate) mod format;
mod patch;
mod store;
pub(crate) mod wire;

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::compile::tables::Regexes;
use crate::compile::Ruleset;

pub use format::{FORMAT_VERSION, MAGIC, REGEX_SIZE_LIMIT};
pub use patch::{
    apply_patch, apply_patch_to, apply_patch_with_bytes, make_patch, make_patch_from,
    PATCH_FORMAT_VERSION, PATCH_MAGIC,
};
pub use store::Store;

/// What identifies a snapshot besides its tables.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotMeta {
    /// Monotonic snapshot version, assigned by whoever publishes.
    pub version: u64,
    /// The environment the snapshot belongs to (`production`, ...).
    pub environment: String,
}

/// A validated snapshot: its metadata, its decision tables and the checksum
/// of its encoding.
///
/// Immutable once built: the checksum always describes exactly these tables
/// and this metadata, so a patch can name its base without re-encoding it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    meta: SnapshotMeta,
    ruleset: Ruleset,
    checksum: u64,
    /// The tables unlinked into units, kept once computed: making or
    /// applying the next patch starts from them instead of unlinking the
    /// whole ruleset again (which dominates a patch's cost).
    units: std::sync::OnceLock<std::sync::Arc<patch::Units>>,
}

impl Snapshot {
    /// A snapshot of `ruleset` with `meta`. Encodes it once to learn its
    /// checksum; snapshots read with [`from_bytes`] get theirs for free.
    pub fn new(ruleset: Ruleset, meta: SnapshotMeta) -> Snapshot {
        let bytes = to_bytes(&ruleset, &meta);
        let checksum = format::header_checksum(&bytes);
        Snapshot {
            meta,
            ruleset,
            checksum,
            units: Default::default(),
        }
    }

    /// The snapshot version.
    pub fn version(&self) -> u64 {
        self.meta.version
    }

    /// The environment name.
    pub fn environment(&self) -> &str {
        &self.meta.environment
    }

    /// Version and environment.
    pub fn meta(&self) -> &SnapshotMeta {
        &self.meta
    }

    /// The decision tables.
    pub fn ruleset(&self) -> &Ruleset {
        &self.ruleset
    }

    /// The decision tables, owned.
    pub fn into_ruleset(self) -> Ruleset {
        self.ruleset
    }

    /// The xxh3-64 checksum recorded in the header: it covers every byte of
    /// the encoding after itself (version, environment and body).
    pub fn checksum(&self) -> u64 {
        self.checksum
    }

    /// Names this snapshot as the base of a patch.
    pub fn base_ref(&self) -> BaseRef {
        BaseRef {
            version: self.meta.version,
            checksum: self.checksum,
        }
    }

    /// The snapshot's encoding (deterministic: what [`to_bytes`] writes).
    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(&self.ruleset, &self.meta)
    }
}

/// Names a base snapshot for a patch: its version and body checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseRef {
    /// Snapshot version.
    pub version: u64,
    /// The snapshot's header checksum ([`Snapshot::checksum`]).
    pub checksum: u64,
}

impl fmt::Display for BaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "version {} (checksum {:#018x})",
            self.version, self.checksum
        )
    }
}

/// Everything that can go wrong reading, writing, swapping or patching a snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Reading or writing a file failed.
    #[error("snapshot file {}: {source}", path.display())]
    Io {
        /// The file (or directory) involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The input does not start with the expected magic bytes.
    #[error("not a vexil {what}: the first 8 bytes are not `{}`", String::from_utf8_lossy(&expected[..]))]
    BadMagic {
        /// `"snapshot"` or `"patch"`.
        what: &'static str,
        /// The magic expected.
        expected: &'static [u8; 8],
    },
    /// The format version is not one this build reads.
    #[error(
        "unsupported format version {found} (this build reads version {supported}); \
         produce the file with a matching vexil or upgrade the reader"
    )]
    UnsupportedVersion {
        /// Version in the input.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The input ends before a field or section it announces.
    #[error(
        "truncated {section}: needs {needed} more bytes, only {available} left \
         (was the file cut short or is a length field damaged?)"
    )]
    Truncated {
        /// Where reading stopped.
        section: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// The bytes after the checksum do not hash to it.
    #[error(
        "checksum mismatch: header says {expected:#018x}, content hashes to {actual:#018x}; \
         the data was damaged or partially written, fetch it again"
    )]
    ChecksumMismatch {
        /// Checksum recorded in the input.
        expected: u64,
        /// Checksum computed over the content.
        actual: u64,
    },
    /// A structural check failed: an index out of range, a bad jump, a cycle...
    #[error("corrupt snapshot, section {section}: {detail}")]
    Corrupt {
        /// The section in which the problem was found.
        section: &'static str,
        /// What exactly is wrong.
        detail: String,
    },
    /// A regex stored in the snapshot does not compile here.
    #[error("regex {pattern:?} in the snapshot does not compile: {error}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// Why it does not compile (syntax, or over the size limit).
        #[source]
        error: regex::Error,
    },
    /// A swap offered a snapshot older than the one serving.
    #[error(
        "refusing stale snapshot version {offered}: version {current} is already serving \
         (use a forced swap to go back deliberately)"
    )]
    Stale {
        /// Version serving.
        current: u64,
        /// Version offered.
        offered: u64,
    },
    /// A patch was applied to a snapshot other than the one it was made from.
    #[error("patch made for base {expected} cannot apply to {found}; fetch the full snapshot")]
    PatchBase {
        /// The base the patch was made from.
        expected: BaseRef,
        /// The base it was applied to.
        found: BaseRef,
    },
}

impl SnapshotError {
    pub(crate) fn corrupt(section: &'static str, detail: impl Into<String>) -> SnapshotError {
        SnapshotError::Corrupt {
            section,
            detail: detail.into(),
        }
    }

    fn io(path: &Path, source: std::io::Error) -> SnapshotError {
        SnapshotError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes `ruleset` as snapshot bytes. Deterministic: the same tables and
/// metadata always give the same bytes.
pub fn to_bytes(ruleset: &Ruleset, meta: &SnapshotMeta) -> Vec<u8> {
    let body = format::write_body(ruleset.tables());
    format::write_frame(meta, &body)
}

/// Reads and fully validates snapshot bytes. Never panics; any input that is
/// not a valid snapshot gives an error saying what is wrong.
pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    let frame = format::read_frame(bytes)?;
    let sections = format::split_sections(frame.body)?;
    let tables = format::read_body(&sections)?;
    let ruleset = Ruleset::from_tables(tables, Regexes::Compile)?;
    Ok(Snapshot {
        meta: frame.meta,
        ruleset,
        checksum: frame.checksum,
        units: Default::default(),
    })
}

/// What kind of file `meta` (from `symlink_metadata`) describes when
/// [`write_file`] must not rename over it: a directory, a device, a FIFO or
/// a socket. `None` for a regular file or a symbolic link (the rename
/// replaces the link itself, never what it points to).
pub fn not_replaceable(meta: &std::fs::Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    if kind.is_file() || kind.is_symlink() {
        return None;
    }
    if kind.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            return Some("a character device");
        }
        if kind.is_block_device() {
            return Some("a block device");
        }
        if kind.is_fifo() {
            return Some("a FIFO");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// Writes a snapshot file atomically: a temporary file in the same
/// directory, fsynced, then renamed over `path` (and the directory fsynced),
/// so readers see the old file or the new one, never a partial one. Renames
/// only over a regular file, a symbolic link or nothing: a directory, device,
/// FIFO or socket at `path` is an error ([`not_replaceable`]) and nothing is
/// written.
pub fn write_file(
    path: impl AsRef<Path>,
    ruleset: &Ruleset,
    meta: &SnapshotMeta,
) -> Result<(), SnapshotError> {
    write_bytes(path, &to_bytes(ruleset, meta))
}

/// Writes already encoded snapshot bytes (a downloaded snapshot, an SDK's
/// cache) to `path` the way [`write_file`] does: temporary file, fsync,
/// rename over a regular file or nothing, directory fsync.
pub fn write_bytes(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), SnapshotError> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let path = path.as_ref();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        SnapshotError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name"),
        )
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    let refuse = |meta: &std::fs::Metadata| -> Result<(), SnapshotError> {
        match not_replaceable(meta) {
            Some(kind) => Err(SnapshotError::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("it is {kind}, not a regular file"),
                ),
            )),
            None => Ok(()),
        }
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        refuse(&meta)?;
    }

    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| SnapshotError::io(&tmp, e))?;
        file.write_all(bytes)
            .map_err(|e| SnapshotError::io(&tmp, e))?;
        file.sync_all().map_err(|e| SnapshotError::io(&tmp, e))?;
        drop(file);
        // Once more, as close to the rename as possible.
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            refuse(&meta)?;
        }
        std::fs::rename(&tmp, path).map_err(|e| SnapshotError::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable. Directories cannot be opened for
    // syncing everywhere (Windows), so this is best effort off Unix.
    #[cfg(unix)]
    {
        let d = std::fs::File::open(&dir).map_err(|e| SnapshotError::io(&dir, e))?;
        d.sync_all().map_err(|e| SnapshotError::io(&dir, e))?;
    }
    Ok(())
}

/// Opens a snapshot file (read-only), memory-maps it and validates it.
pub fn open(path: impl AsRef<Path>) -> Result<Snapshot, SnapshotError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| SnapshotError::io(path, e))?;
    // SAFETY: `Mmap::map` is unsafe because the file may change under us
    // while it is mapped (another process writing or truncating it), which
    // would break the promise that the `&[u8]` we read is immutable. We
    // argue it is sound to use here:
    // - vexil never modifies a snapshot file in place: `write_file` writes a
    //   new file and renames it over the old name, so an existing mapping
    //   keeps the old inode, whose pages do not change;
    // - the mapping lives only for the duration of this function: `from_bytes`
    //   copies everything it keeps into owned tables, so no reference into
    //   the map escapes;
    // - `from_bytes` treats the bytes as hostile: it checks the checksum and
    //   then every length, offset and index it reads, using checked
    //   arithmetic and `get()`, so even if a foreign process rewrote the file
    //   concurrently the outcome is an error or a fully validated ruleset,
    //   never an out-of-bounds access. (A foreign truncation can still raise
    //   SIGBUS, the documented limit of any mmap reader.)
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| SnapshotError::io(path, e))?;
    from_bytes(&map)
}
