//! The origin's durable state in `--data DIR`: one SQLite database
//! (`vexil.db`, WAL journal, `synchronous = FULL`).
//!
//! Every change of an environment — publish, kill, restore, rollback — is
//! one transaction that writes the new version (rule source, killed flags,
//! compiled snapshot, the patch from the previous version) and its audit
//! record together. The origin answers only after the commit, so a `kill -9`
//! at any moment leaves the last acknowledged version, and a restart resumes
//! at it; a version is never half-written.
//!
//! Versions are kept up to a retention ([`Db::keep_versions`]): the
//! transaction that writes version `v` also deletes the versions at or
//! below `v - keep`, so the history (each version holds its source and its
//! compiled snapshot) does not grow without bound. The audit log is kept
//! whole: its records are small, and they are the record of who changed
//! what.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

/// One stored version of an environment.
#[derive(Debug, Clone)]
pub struct StoredVersion {
    /// The version number.
    pub version: u64,
    /// The rule source it was compiled from.
    pub source: String,
    /// Flags killed at this version.
    pub killed: Vec<String>,
    /// The compiled snapshot's bytes.
    pub snapshot: Vec<u8>,
    /// The patch from the previous version, when there was one.
    pub patch: Option<Vec<u8>>,
}

/// One audit record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditRecord {
    /// Increasing id.
    pub id: i64,
    /// The environment.
    pub env: String,
    /// When, RFC 3339 UTC.
    #[serde(rename = "when")]
    pub at: String,
    /// The admin token's name.
    pub who: String,
    /// What: `publish`, `kill`, `restore` or `rollback`.
    #[serde(rename = "what")]
    pub action: String,
    /// The flag of a kill or restore, the version of a rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The version before the change.
    pub version_before: u64,
    /// The version after it.
    pub version_after: u64,
    /// A unified diff of the rule source, or a line describing the kill.
    pub diff: String,
}

/// A change to record: the new version and its audit record.
pub struct Change<'a> {
    /// The environment.
    pub env: &'a str,
    /// The new version.
    pub version: &'a StoredVersion,
    /// Who made it.
    pub who: &'a str,
    /// What it was.
    pub action: &'a str,
    /// Its target, if any.
    pub target: Option<&'a str>,
    /// The version it replaces.
    pub version_before: u64,
    /// The diff to record.
    pub diff: &'a str,
    /// When, epoch milliseconds.
    pub at_ms: i64,
}

/// The database.
pub struct Db {
    conn: Connection,
    /// Versions of an environment kept (0: all of them).
    keep: u64,
}

/// A database failure, as text for the operator.
pub type DbError = String;

fn err(context: &str) -> impl Fn(rusqlite::Error) -> DbError + '_ {
    move |e| format!("{context}: {e}")
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Db {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Db, DbError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
        let path = dir.join("vexil.db");
        let conn = Connection::open(&path)
            .map_err(|e| format!("cannot open database {}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             CREATE TABLE IF NOT EXISTS versions (
                 env TEXT NOT NULL,
                 version INTEGER NOT NULL,
                 source TEXT NOT NULL,
                 killed TEXT NOT NULL,
                 snapshot BLOB NOT NULL,
                 patch BLOB,
                 PRIMARY KEY (env, version)
             );
             CREATE TABLE IF NOT EXISTS audit (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 env TEXT NOT NULL,
                 at_ms INTEGER NOT NULL,
                 who TEXT NOT NULL,
                 action TEXT NOT NULL,
                 target TEXT,
                 version_before INTEGER NOT NULL,
                 version_after INTEGER NOT NULL,
                 diff TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS audit_env ON audit (env, id);",
        )
        .map_err(|e| format!("cannot initialise database {}: {e}", path.display()))?;
        Ok(Db { conn, keep: 0 })
    }

    /// Keeps the last `keep` versions of each environment from the next
    /// change on (0 keeps every version).
    pub fn keep_versions(&mut self, keep: u64) {
        self.keep = keep;
    }

    /// The oldest version of `env` still kept, if it has any.
    pub fn oldest(&self, env: &str) -> Result<Option<u64>, DbError> {
        self.conn
            .query_row(
                "SELECT MIN(version) FROM versions WHERE env = ?1",
                params![env],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|v| v.map(to_u64))
            .map_err(err("reading the oldest version"))
    }

    fn row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredVersion> {
        let killed: String = row.get(2)?;
        Ok(StoredVersion {
            version: to_u64(row.get(0)?),
            source: row.get(1)?,
            killed: serde_json::from_str(&killed).unwrap_or_default(),
            snapshot: row.get(3)?,
            patch: row.get(4)?,
        })
    }

    /// The latest version of `env`, if it has any.
    pub fn latest(&self, env: &str) -> Result<Option<StoredVersion>, DbError> {
        self.conn
            .query_row(
                "SELECT version, source, killed, snapshot, patch FROM versions
                 WHERE env = ?1 ORDER BY version DESC LIMIT 1",
                params![env],
                Db::row,
            )
            .optional()
            .map_err(err("reading the latest version"))
    }

    /// Version `version` of `env`, if it exists.
    pub fn version(&self, env: &str, version: u64) -> Result<Option<StoredVersion>, DbError> {
        self.conn
            .query_row(
                "SELECT version, source, killed, snapshot, patch FROM versions
                 WHERE env = ?1 AND version = ?2",
                params![env, to_i64(version)],
                Db::row,
            )
            .optional()
            .map_err(err("reading a version"))
    }

    /// The patches that lead to the last `n` versions of `env`, oldest
    /// first: `(version, patch)`.
    pub fn recent_patches(&self, env: &str, n: usize) -> Result<Vec<(u64, Vec<u8>)>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT version, patch FROM versions WHERE env = ?1 AND patch IS NOT NULL
                 ORDER BY version DESC LIMIT ?2",
            )
            .map_err(err("reading recent patches"))?;
        let rows = stmt
            .query_map(params![env, to_i64(n as u64)], |r| {
                Ok((to_u64(r.get(0)?), r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(err("reading recent patches"))?;
        let mut out: Vec<(u64, Vec<u8>)> = rows
            .collect::<Result<_, _>>()
            .map_err(err("reading recent patches"))?;
        out.reverse();
        Ok(out)
    }

    /// Writes a new version and its audit record in one transaction.
    pub fn record(&mut self, change: &Change<'_>) -> Result<(), DbError> {
        let tx = self
            .conn
            .transaction()
            .map_err(err("starting a transaction"))?;
        let v = change.version;
        let killed = serde_json::to_string(&v.killed).unwrap_or_else(|_| "[]".into());
        tx.execute(
            "INSERT INTO versions (env, version, source, killed, snapshot, patch)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                change.env,
                to_i64(v.version),
                v.source,
                killed,
                v.snapshot,
                v.patch
            ],
        )
        .map_err(err("writing the version"))?;
        tx.execute(
            "INSERT INTO audit (env, at_ms, who, action, target, version_before, version_after, diff)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                change.env,
                change.at_ms,
                change.who,
                change.action,
                change.target,
                to_i64(change.version_before),
                to_i64(v.version),
                change.diff
            ],
        )
        .map_err(err("writing the audit record"))?;
        if self.keep > 0 && v.version > self.keep {
            tx.execute(
                "DELETE FROM versions WHERE env = ?1 AND version <= ?2",
                params![change.env, to_i64(v.version - self.keep)],
            )
            .map_err(err("removing versions past the retention"))?;
        }
        tx.commit().map_err(err("committing"))
    }

    /// The audit log of `env`, newest first, at most `limit` records.
    pub fn audit(&self, env: &str, limit: usize) -> Result<Vec<AuditRecord>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, env, at_ms, who, action, target, version_before, version_after, diff
                 FROM audit WHERE env = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(err("reading the audit log"))?;
        let rows = stmt
            .query_map(params![env, to_i64(limit as u64)], |r| {
                let at_ms: i64 = r.get(2)?;
                Ok(AuditRecord {
                    id: r.get(0)?,
                    env: r.get(1)?,
                    at: crate::values::date::format_epoch_millis(at_ms),
                    who: r.get(3)?,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    version_before: to_u64(r.get(6)?),
                    version_after: to_u64(r.get(7)?),
                    diff: r.get(8)?,
                })
            })
            .map_err(err("reading the audit log"))?;
        rows.collect::<Result<_, _>>()
            .map_err(err("reading the audit log"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change_to(db: &mut Db, version: u64) {
        let stored = StoredVersion {
            version,
            source: format!("# version {version}\n"),
            killed: Vec::new(),
            snapshot: vec![version as u8; 16],
            patch: (version > 1).then(|| vec![1, 2, 3]),
        };
        db.record(&Change {
            env: "prod",
            version: &stored,
            who: "adm",
            action: "publish",
            target: None,
            version_before: version - 1,
            diff: "",
            at_ms: 0,
        })
        .expect("recorded");
    }

    #[test]
    fn the_retention_keeps_the_last_versions_and_the_whole_audit_log() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut db = Db::open(dir.path()).expect("opens");
        for v in 1..=4 {
            change_to(&mut db, v);
        }
        // Without a retention every version stays.
        assert_eq!(db.oldest("prod").expect("reads"), Some(1));
        db.keep_versions(3);
        for v in 5..=10 {
            change_to(&mut db, v);
        }
        assert_eq!(db.oldest("prod").expect("reads"), Some(8));
        assert!(db.version("prod", 7).expect("reads").is_none());
        let kept = db.version("prod", 8).expect("reads").expect("kept");
        assert_eq!(
            (kept.source.as_str(), kept.snapshot[0]),
            ("# version 8\n", 8)
        );
        assert_eq!(
            db.latest("prod").expect("reads").map(|v| v.version),
            Some(10)
        );
        assert_eq!(db.recent_patches("prod", 5).expect("reads").len(), 3);
        assert_eq!(db.audit("prod", 100).expect("reads").len(), 10);
        // Another environment has its own history; an empty one has none.
        assert_eq!(db.oldest("staging").expect("reads"), None);
        // Reopened, the history is what was committed.
        drop(db);
        let db = Db::open(dir.path()).expect("reopens");
        assert_eq!(db.oldest("prod").expect("reads"), Some(8));
    }
}
