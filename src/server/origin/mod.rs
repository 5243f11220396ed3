//! The origin (`vexil serve`): rule sources, versions, the audit log, and
//! the admin API of SPEC §5 on top of the shared read side.
//!
//! Each environment has one live state — its rule source, the flags killed
//! by operators, the compiled snapshot — and a history in the database
//! (`db`). A change (publish, kill, restore, rollback) is compiled
//! server-side against the previous version's key table
//! (`compile::compile_with_keys`, so unchanged bitmaps stay byte-identical
//! and the delta carries only what changed), validated exactly as an SDK
//! will validate it, written with its audit record in one transaction, and
//! only then handed to the environment's `Hub` and acknowledged. A source
//! that does not compile changes nothing and answers the diagnostics.
//!
//! Kills are kept beside the source rather than edited into it: a version
//! is `compile(source)` with the killed flags' `enabled` cleared, so a kill
//! survives later publishes (until restored, or the flag is removed) and a
//! rollback brings back the source and the kills of that version.

pub(crate) mod db;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use bytes::Bytes;
use tokio::sync::watch;

use self::db::{Change, Db, StoredVersion};
use super::http::{self, error, Env, Served, StreamConfig};
use super::hub::{Hub, HubConfig};
use super::EnvKey;
use crate::check::{self, Limits, Source};
use crate::compile::{self, link, Ruleset};
use crate::snapshot::{self, Snapshot, SnapshotMeta};

/// One admin credential: `--admin-token TOKEN` (named `admin`) or
/// `--admin-token NAME:TOKEN`.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// Who it is, for the audit log.
    pub name: String,
    /// The secret.
    pub token: String,
    /// The argument as written, also accepted whole (so a plain token
    /// containing `:` keeps working as it did).
    whole: String,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdminToken({}: ****)", self.name)
    }
}

impl std::str::FromStr for AdminToken {
    type Err = String;

    fn from_str(s: &str) -> Result<AdminToken, String> {
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("an admin token must be non-empty, without spaces".into());
        }
        let (name, token) = match s.split_once(':') {
            Some((name, token)) if !name.is_empty() && !token.is_empty() => (name, token),
            _ => ("admin", s),
        };
        Ok(AdminToken {
            name: name.to_string(),
            token: token.to_string(),
            whole: s.to_string(),
        })
    }
}

/// The origin's settings.
///
/// New settings may be added: build it with [`OriginConfig::new`], then set
/// fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OriginConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The data directory.
    pub data: PathBuf,
    /// Admin credentials.
    pub admin_tokens: Vec<AdminToken>,
    /// Environments and their SDK keys.
    pub envs: Vec<EnvKey>,
    /// Stream settings.
    pub stream: StreamConfig,
    /// Largest accepted request body, bytes.
    pub max_body: usize,
    /// Complexity caps for published sources.
    pub limits: Limits,
    /// Sizing of each environment's hub (subscriber lag, delta window).
    pub hub: HubConfig,
    /// Versions of each environment kept in the data directory, for
    /// rollback (0: all). Older ones are removed as new ones are written;
    /// the audit log is kept whole.
    pub keep_versions: u64,
}

impl OriginConfig {
    /// Listening on `listen` with its durable state in `data`, no admin
    /// tokens and no environments yet, and every other setting at the
    /// default of `vexil serve` (8 MiB bodies, default caps, stream and hub).
    pub fn new(listen: SocketAddr, data: impl Into<PathBuf>) -> OriginConfig {
        OriginConfig {
            listen,
            data: data.into(),
            admin_tokens: Vec::new(),
            envs: Vec::new(),
            stream: StreamConfig::default(),
            max_body: 8 << 20,
            limits: Limits::default(),
            hub: HubConfig::default(),
            keep_versions: DEFAULT_KEEP_VERSIONS,
        }
    }
}

/// Versions of each environment `vexil serve` keeps unless told otherwise.
pub const DEFAULT_KEEP_VERSIONS: u64 = 1000;

/// The live state of one environment.
struct Live {
    source: String,
    killed: BTreeSet<String>,
    snapshot: Arc<Snapshot>,
}

struct EnvState {
    hub: Arc<Hub>,
    /// Serializes changes of this environment; held while compiling and
    /// writing, never by readers (they go through the hub).
    live: Mutex<Live>,
}

/// The origin: environments, database, credentials.
pub(crate) struct Origin {
    envs: HashMap<String, EnvState>,
    db: Mutex<Db>,
    tokens: Vec<AdminToken>,
    limits: Limits,
}

/// Why a change was refused.
#[derive(Debug)]
pub(crate) enum ChangeError {
    /// No such environment.
    UnknownEnv,
    /// No such flag in the current version.
    UnknownFlag(String),
    /// No such version in the history.
    UnknownVersion(u64),
    /// The version is older than the retention keeps: `(version, oldest
    /// kept)`.
    PrunedVersion(u64, u64),
    /// The source does not compile: `(line, col, message)` for each error.
    Compile(Vec<(usize, usize, String)>),
    /// Storage or an invariant failed; nothing changed.
    Internal(String),
}

/// One requested change.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Publish a new rule source.
    Publish(String),
    /// Disable a flag.
    Kill(String),
    /// Undo a kill.
    Restore(String),
    /// Publish again what was live at a version.
    Rollback(u64),
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn unified_diff(old: &str, new: &str, from: u64, to: u64) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("version {from}"), &format!("version {to}"))
        .to_string()
}

/// Compiles `source` against the key table of `previous`, with `killed`
/// flags disabled, into validated snapshot bytes for `env` at `version`.
fn build(
    env: &str,
    version: u64,
    source: &str,
    killed: &BTreeSet<String>,
    previous: Option<&Ruleset>,
    limits: &Limits,
) -> Result<(Snapshot, Vec<u8>), ChangeError> {
    let sources = [Source {
        name: format!("{env}.flags"),
        text: source.to_string(),
    }];
    let program = check::check(&sources, limits).map_err(|diagnostics| {
        ChangeError::Compile(
            diagnostics
                .iter()
                .map(|d| {
                    let (line, col) = check::location(d, &sources);
                    (line, col, d.message.clone())
                })
                .collect(),
        )
    })?;
    let mut ruleset = compile::compile_with_keys(&program, previous)
        .map_err(|e| ChangeError::Internal(format!("compiling: {e}")))?;
    if !killed.is_empty() {
        let (mut flags, segments) =
            link::unlink(&ruleset).map_err(|e| ChangeError::Internal(e.to_string()))?;
        for flag in &mut flags {
            if killed.contains(&flag.key) {
                flag.enabled = false;
            }
        }
        ruleset = link::link(&flags, &segments, ruleset.keys().clone())
            .map_err(|e| ChangeError::Internal(e.to_string()))?;
    }
    let meta = SnapshotMeta {
        version,
        environment: env.to_string(),
    };
    let bytes = snapshot::to_bytes(&ruleset, &meta);
    // Validated as every SDK will validate it: what the origin serves loads.
    let snapshot = snapshot::from_bytes(&bytes)
        .map_err(|e| ChangeError::Internal(format!("the compiled snapshot does not load: {e}")))?;
    Ok((snapshot, bytes))
}

impl Origin {
    /// Opens the data directory and loads every environment's latest
    /// version (an environment never published serves an empty version 0).
    pub fn open(config: &OriginConfig) -> Result<Origin, String> {
        let mut db = Db::open(&config.data)?;
        db.keep_versions(config.keep_versions);
        let mut envs = HashMap::new();
        for name in super::env_names(&config.envs) {
            let hub = Arc::new(Hub::new(config.hub));
            let live = match db.latest(&name)? {
                Some(stored) => {
                    let snap = snapshot::from_bytes(&stored.snapshot).map_err(|e| {
                        format!(
                            "environment `{name}`: stored version {} does not load: {e}",
                            stored.version
                        )
                    })?;
                    let snap = Arc::new(snap);
                    hub.publish_full(snap.clone(), Bytes::from(stored.snapshot));
                    let patches = db.recent_patches(&name, config.hub.window)?;
                    hub.remember(&patches);
                    Live {
                        source: stored.source,
                        killed: stored.killed.into_iter().collect(),
                        snapshot: snap,
                    }
                }
                None => {
                    let (snap, bytes) = build(&name, 0, "", &BTreeSet::new(), None, &config.limits)
                        .map_err(|e| {
                            format!("environment `{name}`: cannot build version 0: {e:?}")
                        })?;
                    let snap = Arc::new(snap);
                    hub.publish_full(snap.clone(), Bytes::from(bytes));
                    Live {
                        source: String::new(),
                        killed: BTreeSet::new(),
                        snapshot: snap,
                    }
                }
            };
            envs.insert(
                name,
                EnvState {
                    hub,
                    live: Mutex::new(live),
                },
            );
        }
        Ok(Origin {
            envs,
            db: Mutex::new(db),
            tokens: config.admin_tokens.clone(),
            limits: config.limits,
        })
    }

    /// The hubs, for the read side.
    pub fn served_envs(&self) -> Vec<Env> {
        let mut envs: Vec<Env> = self
            .envs
            .iter()
            .map(|(name, e)| Env {
                name: name.clone(),
                hub: e.hub.clone(),
            })
            .collect();
        envs.sort_by(|a, b| a.name.cmp(&b.name));
        envs
    }

    /// The name of the admin token an `Authorization` header carries.
    /// Every configured token is compared, in constant time each.
    fn admin(&self, headers: &HeaderMap) -> Option<&str> {
        use subtle::ConstantTimeEq;
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let presented = crate::protocol::sdk_key(value).as_bytes();
        let mut found = None;
        for t in &self.tokens {
            let hit = t.token.as_bytes().ct_eq(presented) | t.whole.as_bytes().ct_eq(presented);
            if bool::from(hit) && found.is_none() {
                found = Some(t.name.as_str());
            }
        }
        found
    }

    /// Applies one change to `env` on behalf of `who`; returns the version
    /// serving afterwards. Blocking (compiles and writes): call it off the
    /// async runtime.
    pub fn change(&self, env: &str, op: Op, who: &str) -> Result<u64, ChangeError> {
        let state = self.envs.get(env).ok_or(ChangeError::UnknownEnv)?;
        let mut live = state.live.lock().unwrap_or_else(|e| e.into_inner());
        let before = live.snapshot.version();
        let has_flag = |key: &str| live.snapshot.ruleset().flag(key).is_some();
        let (source, killed, action, target, diff) = match &op {
            Op::Publish(source) => {
                let killed = live.killed.clone();
                let diff = unified_diff(&live.source, source, before, before + 1);
                (source.clone(), killed, "publish", None, diff)
            }
            Op::Kill(key) => {
                if !has_flag(key) {
                    return Err(ChangeError::UnknownFlag(key.clone()));
                }
                if live.killed.contains(key) {
                    return Ok(before);
                }
                let mut killed = live.killed.clone();
                killed.insert(key.clone());
                let diff = format!("kill flag {key}: it serves its when_disabled variation\n");
                (live.source.clone(), killed, "kill", Some(key.clone()), diff)
            }
            Op::Restore(key) => {
                if !has_flag(key) {
                    return Err(ChangeError::UnknownFlag(key.clone()));
                }
                if !live.killed.contains(key) {
                    return Ok(before);
                }
                let mut killed = live.killed.clone();
                killed.remove(key);
                let diff = format!("restore flag {key}: its rules serve again\n");
                (
                    live.source.clone(),
                    killed,
                    "restore",
                    Some(key.clone()),
                    diff,
                )
            }
            Op::Rollback(version) => {
                if *version > before {
                    return Err(ChangeError::UnknownVersion(*version));
                }
                let (source, killed) = if *version == 0 {
                    (String::new(), BTreeSet::new())
                } else {
                    let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
                    let Some(stored) = db.version(env, *version).map_err(ChangeError::Internal)?
                    else {
                        return Err(match db.oldest(env).map_err(ChangeError::Internal)? {
                            Some(oldest) if *version < oldest => {
                                ChangeError::PrunedVersion(*version, oldest)
                            }
                            _ => ChangeError::UnknownVersion(*version),
                        });
                    };
                    drop(db);
                    (stored.source, stored.killed.into_iter().collect())
                };
                let mut diff = unified_diff(&live.source, &source, before, before + 1);
                if killed != live.killed {
                    diff.push_str(&format!(
                        "killed flags: {:?} -> {:?}\n",
                        live.killed, killed
                    ));
                }
                (source, killed, "rollback", Some(version.to_string()), diff)
            }
        };
        let version = before + 1;
        let (next, bytes) = build(
            env,
            version,
            &source,
            &killed,
            Some(live.snapshot.ruleset()),
            &self.limits,
        )?;
        // Kills of flags the source no longer has lapse.
        let mut killed = killed;
        killed.retain(|k| next.ruleset().flag(k).is_some());
        let patch = snapshot::make_patch_from(&live.snapshot, &next)
            .map_err(|e| ChangeError::Internal(format!("making the delta: {e}")))?;
        let stored = StoredVersion {
            version,
            source,
            killed: killed.iter().cloned().collect(),
            snapshot: bytes,
            patch: Some(patch),
        };
        self.db
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(&Change {
                env,
                version: &stored,
                who,
                action,
                target: target.as_deref(),
                version_before: before,
                diff: &diff,
                at_ms: now_ms(),
            })
            .map_err(ChangeError::Internal)?;
        // Durable: now serve it.
        let next = Arc::new(next);
        let patch = stored.patch.unwrap_or_default();
        state
            .hub
            .publish_delta(next.clone(), Bytes::from(stored.snapshot), before, &patch);
        metrics::counter!("vexil_changes_total", "action" => action).increment(1);
        *live = Live {
            source: stored.source,
            killed,
            snapshot: next,
        };
        Ok(version)
    }
}

/// Builds the origin and its router (the shared read side plus the admin
/// API), without binding: tests and the binary share it.
pub(crate) fn app(
    config: &OriginConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<(Arc<Origin>, Router), String> {
    let origin = Arc::new(Origin::open(config)?);
    let keys: Vec<(String, String)> = config
        .envs
        .iter()
        .map(|k| (k.env.clone(), k.key.clone()))
        .collect();
    let served = Arc::new(Served::new(
        origin.served_envs(),
        &keys,
        config.stream,
        shutdown,
    )?);
    let admin = Router::new()
        .route("/admin/v1/envs/{env}/rules", put(publish))
        .route("/admin/v1/envs/{env}/flags/{key}/kill", post(kill))
        .route("/admin/v1/envs/{env}/flags/{key}/restore", post(restore))
        .route("/admin/v1/envs/{env}/rollback/{version}", post(rollback))
        .route("/admin/v1/envs/{env}/audit", get(audit))
        .with_state(AdminState {
            origin: origin.clone(),
            max_body: config.max_body,
        });
    Ok((origin, http::router(served).merge(admin)))
}

/// Runs the origin until SIGINT or SIGTERM.
pub async fn serve(config: OriginConfig) -> Result<(), String> {
    if config.admin_tokens.is_empty() {
        return Err("at least one --admin-token is required".into());
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (_, router) = app(&config, shutdown_rx)?;
    let listener = super::bind(config.listen).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    eprintln!("vexil serve: listening on http://{addr}");
    super::serve_until(listener, router, shutdown_tx, super::termination()).await
}

#[derive(Clone)]
struct AdminState {
    origin: Arc<Origin>,
    max_body: usize,
}

fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "missing or invalid admin token (Authorization: Bearer TOKEN)",
    )
}

fn answer(result: Result<u64, ChangeError>) -> Response {
    match result {
        Ok(version) => axum::Json(serde_json::json!({ "version": version })).into_response(),
        Err(ChangeError::UnknownEnv) => error(StatusCode::NOT_FOUND, "unknown environment"),
        Err(ChangeError::UnknownFlag(key)) => {
            error(StatusCode::NOT_FOUND, &format!("unknown flag `{key}`"))
        }
        Err(ChangeError::UnknownVersion(v)) => {
            error(StatusCode::NOT_FOUND, &format!("unknown version {v}"))
        }
        Err(ChangeError::PrunedVersion(v, oldest)) => error(
            StatusCode::NOT_FOUND,
            &format!(
                "version {v} is no longer kept: the oldest kept is {oldest} \
                 (`vexil serve --keep-versions` sets how many are)"
            ),
        ),
        Err(ChangeError::Compile(errors)) => {
            let errors: Vec<_> = errors
                .into_iter()
                .map(|(line, col, message)| {
                    serde_json::json!({ "line": line, "col": col, "message": message })
                })
                .collect();
            (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({ "errors": errors })),
            )
                .into_response()
        }
        Err(ChangeError::Internal(message)) => {
            tracing::error!("change failed: {message}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("nothing changed: {message}"),
            )
        }
    }
}

/// Authorizes, then runs the change off the runtime.
async fn run_change(state: &AdminState, headers: &HeaderMap, env: String, op: Op) -> Response {
    let Some(who) = state.origin.admin(headers).map(str::to_string) else {
        return unauthorized();
    };
    let origin = state.origin.clone();
    match tokio::task::spawn_blocking(move || origin.change(&env, op, &who)).await {
        Ok(result) => answer(result),
        Err(e) => answer(Err(ChangeError::Internal(format!(
            "the change failed: {e}"
        )))),
    }
}

/// The line (1-based) of the first byte that is not UTF-8.
fn bad_utf8_line(bytes: &[u8], error: &std::str::Utf8Error) -> usize {
    1 + bytes[..error.valid_up_to()]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// A request body as read: whole, over the limit, or cut off.
enum Body {
    Whole(Vec<u8>),
    TooLarge,
    Broken,
}

/// Reads a body of at most `limit` bytes. An oversized one is still read
/// (and dropped) up to four times the limit, so the client, which is busy
/// sending, gets to read the 413 instead of a reset connection; beyond
/// that the connection is closed.
async fn read_body(body: axum::body::Body, limit: usize) -> Body {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Body::Broken;
        };
        seen = seen.saturating_add(chunk.len());
        if seen <= limit {
            out.extend_from_slice(&chunk);
        } else if seen > limit.saturating_mul(4) {
            return Body::TooLarge;
        }
    }
    if seen > limit {
        Body::TooLarge
    } else {
        Body::Whole(out)
    }
}

async fn publish(
    State(state): State<AdminState>,
    Path(env): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if state.origin.admin(&headers).is_none() {
        return unauthorized();
    }
    let bytes = match read_body(body, state.max_body).await {
        Body::Whole(bytes) => bytes,
        Body::TooLarge => {
            let mut r = error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the rule source is larger than {} bytes", state.max_body),
            );
            r.headers_mut().insert(
                header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            return r;
        }
        Body::Broken => {
            return error(
                StatusCode::BAD_REQUEST,
                "the upload broke off before its end",
            )
        }
    };
    let source = match std::str::from_utf8(&bytes) {
        Ok(s) => s.to_string(),
        Err(e) => {
            return answer(Err(ChangeError::Compile(vec![(
                bad_utf8_line(&bytes, &e),
                1,
                "the rule source is not UTF-8".into(),
            )])))
        }
    };
    run_change(&state, &headers, env, Op::Publish(source)).await
}

async fn kill(
    State(state): State<AdminState>,
    Path((env, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    run_change(&state, &headers, env, Op::Kill(key)).await
}

async fn restore(
    State(state): State<AdminState>,
    Path((env, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    run_change(&state, &headers, env, Op::Restore(key)).await
}

async fn rollback(
    State(state): State<AdminState>,
    Path((env, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if state.origin.admin(&headers).is_none() {
        return unauthorized();
    }
    let Ok(version) = version.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "the version must be a non-negative integer",
        );
    };
    run_change(&state, &headers, env, Op::Rollback(version)).await
}

async fn audit(
    State(state): State<AdminState>,
    Path(env): Path<String>,
    headers: HeaderMap,
) -> Response {
    if state.origin.admin(&headers).is_none() {
        return unauthorized();
    }
    if !state.origin.envs.contains_key(&env) {
        return error(StatusCode::NOT_FOUND, "unknown environment");
    }
    let origin = state.origin.clone();
    let records = tokio::task::spawn_blocking(move || {
        origin
            .db
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .audit(&env, 10_000)
    })
    .await;
    match records {
        Ok(Ok(records)) => axum::Json(records).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_tokens_parse_with_and_without_names() {
        let t: AdminToken = "s3cret".parse().unwrap();
        assert_eq!((t.name.as_str(), t.token.as_str()), ("admin", "s3cret"));
        let t: AdminToken = "alice:s3cret".parse().unwrap();
        assert_eq!((t.name.as_str(), t.token.as_str()), ("alice", "s3cret"));
        assert_eq!(t.whole, "alice:s3cret");
        let t: AdminToken = ":x".parse().unwrap();
        assert_eq!(t.name, "admin");
        assert!("".parse::<AdminToken>().is_err());
        assert!(!format!("{t:?}").contains('x'));
    }

    #[test]
    fn bad_utf8_names_its_line() {
        let bytes = [b"flag a { default on }\n# ".as_slice(), &[0xff], b"\n"].concat();
        let e = std::str::from_utf8(&bytes).unwrap_err();
        assert_eq!(bad_utf8_line(&bytes, &e), 2);
    }
}
