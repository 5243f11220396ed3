//! What the `snapshot_load` fuzz target checks, as a plain function of the
//! input bytes; `tests/fuzz_seeds.rs` includes it with `#[path]` too.
//!
//! Any byte string may be handed to `snapshot::from_bytes`: it must refuse a
//! bad one with an error, and a snapshot it accepts must evaluate every flag
//! for any context without a panic (or, under the sanitizer, any UB).
//! Whether a corrupt snapshot that passes validation answers *correctly* is
//! not checked here.

use std::sync::LazyLock;

use vexil::context::Context;
use vexil::snapshot;

/// A few fixed contexts: empty, keyed only, and one with an attribute of
/// every type the operators look at.
static CONTEXTS: LazyLock<Vec<Context>> = LazyLock::new(|| {
    [
        r#"{}"#,
        r#"{"key": "alice"}"#,
        r#"{"key": "u-1", "plan": "enterprise", "country": "DE", "platform": "ios",
            "app_version": "2.3.1", "signup": "2024-01-15T10:00:00Z", "age": 30,
            "org_id": 42, "beta": true, "tags": ["a", 1, null], "meta": {"x": 1}}"#,
    ]
    .iter()
    .map(|json| Context::from_json_str(json).expect("fixed context is valid"))
    .collect()
});

/// Loads `data` as a snapshot and, when it loads, evaluates every flag for
/// each fixed context.
pub fn load(data: &[u8]) -> Result<snapshot::Snapshot, snapshot::SnapshotError> {
    let snap = snapshot::from_bytes(data)?;
    let ruleset = snap.ruleset();
    for context in CONTEXTS.iter() {
        let prepared = ruleset.prepare(context);
        for (key, detail) in prepared.all() {
            std::hint::black_box((detail, prepared.detail(key)));
        }
        std::hint::black_box(prepared.detail("no such flag"));
    }
    Ok(snap)
}
