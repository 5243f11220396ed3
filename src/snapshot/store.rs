//! The serving snapshot, swapped atomically.
//!
//! [`Store`] holds the current [`Snapshot`] behind an `ArcSwap`: readers
//! [`load`](Store::load) it without locks and keep whatever version they got
//! for as long as they hold the guard; writers validate a new snapshot first
//! and only then publish it, so a snapshot that fails validation never
//! replaces the one serving.

use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, Guard};

use super::{apply_patch_to, from_bytes, Snapshot, SnapshotError};

/// The snapshot currently serving, replaced atomically.
#[derive(Debug)]
pub struct Store {
    current: ArcSwap<Snapshot>,
    /// Serializes writers so the version check and the swap are one step,
    /// and keeps the snapshot replaced last alive until the next swap, so a
    /// reader still evaluating on it never holds its last reference and never
    /// pays for freeing it: the writer does, one swap later. Readers never
    /// take this lock.
    writer: Mutex<Option<Arc<Snapshot>>>,
}

impl Store {
    /// A store serving `snapshot`.
    pub fn new(snapshot: Snapshot) -> Store {
        Store {
            current: ArcSwap::from_pointee(snapshot),
            writer: Mutex::new(None),
        }
    }

    /// The serving snapshot. Never blocks; the guard keeps that version alive
    /// even if a newer one is swapped in meanwhile. Hold it briefly (for one
    /// evaluation); use [`load_full`](Store::load_full) to keep it longer.
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The serving snapshot as an owned `Arc`.
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The version serving.
    pub fn version(&self) -> u64 {
        self.current.load().version()
    }

    /// Validates `bytes` and swaps them in; returns the new version. On any
    /// error (invalid bytes, stale version) the previous snapshot keeps
    /// serving.
    pub fn swap_bytes(&self, bytes: &[u8]) -> Result<u64, SnapshotError> {
        let snapshot = from_bytes(bytes)?;
        self.swap(snapshot)
    }

    /// Swaps in an already validated snapshot whose version is at least the
    /// current one; returns the new version, or [`SnapshotError::Stale`].
    pub fn swap(&self, snapshot: Snapshot) -> Result<u64, SnapshotError> {
        let mut retired = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.swap_locked(&mut retired, snapshot)
    }

    /// The version check and the swap, with the writer lock held.
    fn swap_locked(
        &self,
        retired: &mut Option<Arc<Snapshot>>,
        snapshot: Snapshot,
    ) -> Result<u64, SnapshotError> {
        let current = self.current.load().meta().version;
        let offered = snapshot.meta().version;
        if offered < current {
            return Err(SnapshotError::Stale { current, offered });
        }
        let replaced = self.current.swap(Arc::new(snapshot));
        // Frees the snapshot retired by the previous swap, here, on the writer.
        drop(retired.replace(replaced));
        Ok(offered)
    }

    /// Applies a delta patch to the serving snapshot and swaps the result
    /// in; returns the new version. A patch for another base, a damaged
    /// patch or an invalid result leaves the current snapshot serving.
    ///
    /// The base is read under the writer lock, so a concurrent swap or
    /// rollback either happens before (and the patch, made for another base,
    /// is refused) or after (and replaces the patched result): a patch in
    /// flight never silently undoes it. Readers are not blocked meanwhile.
    pub fn apply_patch(&self, patch: &[u8]) -> Result<u64, SnapshotError> {
        let mut retired = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let base = self.current.load_full();
        let next = apply_patch_to(&base, patch)?;
        drop(base);
        self.swap_locked(&mut retired, next)
    }

    /// Swaps in a snapshot whatever its version (a deliberate step back, for
    /// operators); returns the version it replaced.
    pub fn force_swap(&self, snapshot: Snapshot) -> u64 {
        let mut retired = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let replaced = self.current.swap(Arc::new(snapshot));
        let version = replaced.version();
        drop(retired.replace(replaced));
        version
    }
}
