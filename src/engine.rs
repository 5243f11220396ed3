//! The evaluating end of the pipeline, as a user holds it: an [`Engine`]
//! owns the serving snapshot and answers flag questions with owned results.
//!
//! A [`Store`] hands out guards that borrow the serving snapshot; a library
//! user who keeps a [`Detail`] must keep that guard
//! alive. The engine removes that burden: its typed methods
//! (`bool_value(&ctx, key, default)` and friends) return plain values, and
//! [`Engine::detail`] returns an [`OwnedDetail`]. It also has a state before
//! the first snapshot arrives: then every answer is the caller's default
//! with the OpenFeature error `PROVIDER_NOT_READY`, never a panic. The SDK
//! client (`crate::sdk`, behind the `sdk` feature) is this engine fed by the
//! network.
//!
//! Reads never block: the store is set once (an atomic load afterwards) and
//! swaps are lock-free for readers.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use crate::context::Context;
use crate::detail::{Detail, ErrorCode, Reason};
use crate::snapshot::{self, Snapshot, SnapshotError, Store};

/// Evaluates flags against whatever snapshot is serving; see the module docs.
#[derive(Debug, Default)]
pub struct Engine {
    store: OnceLock<Store>,
}

/// The answer for one flag, owning its value (no borrow of the snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedDetail {
    /// The served value; `None` on error (the caller's default applies).
    pub value: Option<serde_json::Value>,
    /// The served variation's name; `None` on error.
    pub variation: Option<String>,
    /// Why.
    pub reason: Reason,
    /// `"target"`, the rule's name or `rule#N`, `"rollout"` — the `rule`
    /// field of SPEC §3 — when one decided.
    pub rule: Option<String>,
    /// What went wrong, with [`Reason::Error`].
    pub error: Option<ErrorCode>,
    /// The snapshot version it was evaluated on; `None` before any state.
    pub version: Option<u64>,
}

impl OwnedDetail {
    /// The answer while no state is loaded.
    pub fn not_ready() -> OwnedDetail {
        OwnedDetail {
            value: None,
            variation: None,
            reason: Reason::Error,
            rule: None,
            error: Some(ErrorCode::ProviderNotReady),
            version: None,
        }
    }

    /// Copies a borrowed detail evaluated on snapshot `version`.
    pub fn from_detail(detail: &Detail<'_>, version: u64) -> OwnedDetail {
        OwnedDetail {
            value: detail.value.cloned(),
            variation: detail.variation.map(str::to_string),
            reason: detail.reason,
            rule: detail.matched.map(|m| m.to_string()),
            error: detail.error,
            version: Some(version),
        }
    }

    /// True when the fields a user sees (`value`, `variation`, `reason`,
    /// `rule`, `error`) are the same; the version is not compared.
    pub fn same_answer(&self, other: &OwnedDetail) -> bool {
        self.value == other.value
            && self.variation == other.variation
            && self.reason == other.reason
            && self.rule == other.rule
            && self.error == other.error
    }

    /// Writes the SPEC §3 JSON line for flag `key` (no newline), with
    /// `"version"` added when the detail has one (the `watch` shape).
    pub fn write_json_line(&self, key: &str, out: &mut String) {
        out.push_str("{\"flag\":");
        push_json_str(out, key);
        out.push_str(",\"value\":");
        match &self.value {
            Some(v) => {
                let _ = write!(out, "{v}");
            }
            None => out.push_str("null"),
        }
        if let Some(v) = &self.variation {
            out.push_str(",\"variation\":");
            push_json_str(out, v);
        }
        out.push_str(",\"reason\":\"");
        out.push_str(self.reason.as_str());
        out.push('"');
        if let Some(rule) = &self.rule {
            out.push_str(",\"rule\":");
            push_json_str(out, rule);
        }
        if let Some(e) = self.error {
            out.push_str(",\"error\":\"");
            out.push_str(e.as_str());
            out.push('"');
        }
        if let Some(version) = self.version {
            let _ = write!(out, ",\"version\":{version}");
        }
        out.push('}');
    }
}

fn push_json_str(out: &mut String, s: &str) {
    let _ = write!(out, "{}", serde_json::Value::from(s));
}

impl Engine {
    /// An engine with no state yet: every answer is the caller's default.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// An engine serving `snapshot`.
    pub fn with_snapshot(snapshot: Snapshot) -> Engine {
        let engine = Engine::new();
        // A fresh OnceLock is always empty, so this cannot fail.
        let _ = engine.store.set(Store::new(snapshot));
        engine
    }

    /// The store, once a first snapshot has been installed.
    pub fn store(&self) -> Option<&Store> {
        self.store.get()
    }

    /// True once a snapshot is serving.
    pub fn is_ready(&self) -> bool {
        self.store.get().is_some()
    }

    /// The serving snapshot, if any.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.store.get().map(Store::load_full)
    }

    /// The serving version, if any.
    pub fn version(&self) -> Option<u64> {
        self.store.get().map(Store::version)
    }

    /// Installs `snapshot`: the first one, or a newer one than serving.
    /// Returns the version now serving; an older snapshot is refused
    /// ([`SnapshotError::Stale`]) and the current one keeps serving.
    pub fn install(&self, snapshot: Snapshot) -> Result<u64, SnapshotError> {
        let mut fresh = Some(snapshot);
        let store = self
            .store
            .get_or_init(|| Store::new(fresh.take().expect("taken only here")));
        match fresh {
            None => Ok(store.version()),
            Some(snapshot) => store.swap(snapshot),
        }
    }

    /// Validates snapshot bytes and installs them ([`Engine::install`]).
    pub fn install_bytes(&self, bytes: &[u8]) -> Result<u64, SnapshotError> {
        self.install(snapshot::from_bytes(bytes)?)
    }

    /// Installs `snapshot` whatever its version (an operator's deliberate
    /// step back, or a full resync from an upstream that restarted).
    pub fn force(&self, snapshot: Snapshot) -> u64 {
        let version = snapshot.version();
        let mut fresh = Some(snapshot);
        let store = self
            .store
            .get_or_init(|| Store::new(fresh.take().expect("taken only here")));
        if let Some(snapshot) = fresh {
            store.force_swap(snapshot);
        }
        version
    }

    /// Applies a delta patch to the serving snapshot ([`Store::apply_patch`]).
    /// With no state yet there is nothing to patch: the error says to fetch
    /// the full snapshot.
    pub fn apply_patch(&self, patch: &[u8]) -> Result<u64, SnapshotError> {
        match self.store.get() {
            Some(store) => store.apply_patch(patch),
            None => Err(SnapshotError::corrupt(
                "patch",
                "no snapshot is loaded to apply it to; fetch the full snapshot",
            )),
        }
    }

    /// The full answer for flag `key`, owned.
    pub fn detail(&self, context: &Context, key: &str) -> OwnedDetail {
        match self.store.get() {
            None => OwnedDetail::not_ready(),
            Some(store) => {
                let snap = store.load();
                let detail = snap.ruleset().evaluate(key, context);
                OwnedDetail::from_detail(&detail, snap.version())
            }
        }
    }

    /// Runs `f` on the serving snapshot (or `None`), for callers that want
    /// borrowed details without copying, e.g. several flags for one context.
    pub fn with_snapshot_ref<T>(&self, f: impl FnOnce(Option<&Snapshot>) -> T) -> T {
        match self.store.get() {
            None => f(None),
            Some(store) => f(Some(&store.load())),
        }
    }

    /// A boolean flag's value, or `default` (unknown flag, other type, no state).
    pub fn bool_value(&self, context: &Context, key: &str, default: bool) -> bool {
        self.with_snapshot_ref(|s| {
            s.map_or(default, |s| {
                s.ruleset().prepare(context).bool_value(key, default)
            })
        })
    }

    /// A number flag's value, or `default`.
    pub fn number_value(&self, context: &Context, key: &str, default: f64) -> f64 {
        self.with_snapshot_ref(|s| {
            s.map_or(default, |s| {
                s.ruleset().prepare(context).number_value(key, default)
            })
        })
    }

    /// A string flag's value, or `default`.
    pub fn string_value(&self, context: &Context, key: &str, default: &str) -> String {
        self.with_snapshot_ref(|s| match s {
            None => default.to_string(),
            Some(s) => s
                .ruleset()
                .prepare(context)
                .string_value(key, default)
                .to_string(),
        })
    }

    /// Any flag's JSON value, or `default`.
    pub fn json_value(
        &self,
        context: &Context,
        key: &str,
        default: serde_json::Value,
    ) -> serde_json::Value {
        self.with_snapshot_ref(|s| match s {
            None => default,
            Some(s) => s
                .ruleset()
                .evaluate(key, context)
                .value
                .cloned()
                .unwrap_or(default),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile_text;
    use crate::snapshot::SnapshotMeta;

    fn snap(text: &str, version: u64) -> Snapshot {
        let rs = compile_text(text);
        Snapshot::new(
            rs,
            SnapshotMeta {
                version,
                environment: "test".into(),
            },
        )
    }

    #[test]
    fn before_any_state_every_answer_is_the_default() {
        let engine = Engine::new();
        let ctx = Context::with_key("alice");
        assert!(!engine.is_ready());
        assert!(engine.bool_value(&ctx, "a", true));
        assert_eq!(engine.string_value(&ctx, "a", "x"), "x");
        let d = engine.detail(&ctx, "a");
        assert_eq!(d.error, Some(ErrorCode::ProviderNotReady));
        let mut line = String::new();
        d.write_json_line("a", &mut line);
        assert_eq!(
            line,
            r#"{"flag":"a","value":null,"reason":"ERROR","error":"PROVIDER_NOT_READY"}"#
        );
        assert!(engine.apply_patch(b"VEXILPAT").is_err());
    }

    #[test]
    fn installs_swaps_and_refuses_stale() {
        let engine = Engine::new();
        let ctx = Context::with_key("alice");
        assert_eq!(
            engine.install(snap("flag a { default off }", 1)).unwrap(),
            1
        );
        assert!(!engine.bool_value(&ctx, "a", true));
        assert_eq!(engine.install(snap("flag a { default on }", 2)).unwrap(), 2);
        assert!(engine.bool_value(&ctx, "a", false));
        assert!(matches!(
            engine.install(snap("flag a { default off }", 1)),
            Err(SnapshotError::Stale { .. })
        ));
        assert!(engine.bool_value(&ctx, "a", false));
        assert_eq!(engine.force(snap("flag a { default off }", 1)), 1);
        assert_eq!(engine.version(), Some(1));
        assert!(!engine.bool_value(&ctx, "a", true));
    }

    #[test]
    fn owned_detail_outlives_the_snapshot_and_prints_the_watch_shape() {
        let engine = Engine::with_snapshot(snap(
            r#"flag color { variations { red: "r", blue: "b" } default red target blue ["bob"] }"#,
            7,
        ));
        let d = engine.detail(&Context::with_key("bob"), "color");
        engine
            .install(snap("flag other { default on }", 8))
            .unwrap();
        assert_eq!(d.value, Some(serde_json::json!("b")));
        let mut line = String::new();
        d.write_json_line("color", &mut line);
        assert_eq!(
            line,
            r#"{"flag":"color","value":"b","variation":"blue","reason":"TARGETING_MATCH","rule":"target","version":7}"#
        );
        let now = engine.detail(&Context::with_key("bob"), "color");
        assert_eq!(now.error, Some(ErrorCode::FlagNotFound));
        assert!(!now.same_answer(&d));
    }
}
