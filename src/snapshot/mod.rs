//! Snapshots: the compiled tables as one versioned, checksummed binary file.
//! (Interim stub; replaced by the snapshot format.)

use crate::compile::Ruleset;
use std::path::Path;

/// What a snapshot says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotMeta {
    /// Monotonic version.
    pub version: u64,
    /// Environment name.
    pub environment: String,
}

/// A loaded snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Header fields.
    pub meta: SnapshotMeta,
    /// The decision tables.
    pub ruleset: Ruleset,
}

/// Why a snapshot could not be read or written.
#[derive(Debug)]
pub struct SnapshotError(pub String);

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SnapshotError {}

/// Writes a snapshot file atomically.
pub fn write_file(
    path: &Path,
    ruleset: &Ruleset,
    meta: &SnapshotMeta,
) -> Result<(), SnapshotError> {
    let _ = (path, ruleset, meta);
    Err(SnapshotError("snapshots are not implemented yet".into()))
}

/// Opens and validates a snapshot file.
pub fn open(path: &Path) -> Result<Snapshot, SnapshotError> {
    let _ = path;
    Err(SnapshotError("snapshots are not implemented yet".into()))
}
