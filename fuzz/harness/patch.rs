//! What the `patch_apply` fuzz target checks, as plain functions of the
//! input bytes; `tests/fuzz_seeds.rs` includes this file with `#[path]` too.
//!
//! The input is a patch, applied to one fixed valid base snapshot (the SPEC
//! example, compiled): `snapshot::apply_patch` must refuse it with an error or
//! apply it, never panic (the fuzzers run with debug assertions, so integer
//! overflow counts), and a snapshot it produces must load and evaluate. Each
//! input is tried twice: as it is, and with its frame repaired (payload
//! length and trailing checksum recomputed), so mutations of the payload get
//! past the checksum into decoding and linking.

use std::sync::LazyLock;

use vexil::check::{Limits, Source};
use vexil::compile::{self, CompileOptions};
use vexil::context::Context;
use vexil::snapshot::{self, SnapshotMeta};

/// The rules of the base snapshot.
pub const BASE_RULES: &str = include_str!("../../corpus/spec/example.flags");

/// Magic (8) + format version (4) + payload length (8) before the payload;
/// the xxh3-64 checksum (8) after it.
const HEAD: usize = 20;
const TAIL: usize = 8;

/// Compiles rule text into snapshot bytes with version `version`.
pub fn snapshot_of(rules: &str, version: u64) -> Vec<u8> {
    let sources = [Source {
        name: "base.flags".into(),
        text: rules.into(),
    }];
    let options = CompileOptions::new(Limits::default());
    let ruleset = compile::compile_sources(&sources, &options).expect("fixed rules compile");
    let meta = SnapshotMeta {
        version,
        environment: "fuzz".into(),
    };
    snapshot::to_bytes(&ruleset, &meta)
}

/// The base every input is applied to: version 1 of [`BASE_RULES`].
pub static BASE: LazyLock<Vec<u8>> = LazyLock::new(|| snapshot_of(BASE_RULES, 1));

static CONTEXTS: LazyLock<Vec<Context>> = LazyLock::new(|| {
    [
        r#"{}"#,
        r#"{"key": "alice"}"#,
        r#"{"key": "u-3", "plan": "enterprise", "country": "DE", "platform": "ios",
            "app_version": "2.3.1", "org_id": 42}"#,
    ]
    .iter()
    .map(|json| Context::from_json_str(json).expect("fixed context is valid"))
    .collect()
});

/// Applies `data` as a patch to [`BASE`], as is and with a repaired frame.
pub fn apply(data: &[u8]) {
    apply_one(data);
    if let Some(fixed) = repaired(data) {
        apply_one(&fixed);
    }
}

fn apply_one(patch: &[u8]) {
    let Ok(new) = snapshot::apply_patch(&BASE, patch) else {
        return;
    };
    let snap = match snapshot::from_bytes(&new) {
        Ok(snap) => snap,
        Err(e) => panic!("an applied patch wrote a snapshot that does not load: {e}"),
    };
    for context in CONTEXTS.iter() {
        let prepared = snap.ruleset().prepare(context);
        for (key, detail) in prepared.all() {
            std::hint::black_box((detail, prepared.detail(key)));
        }
    }
}

/// `data` with its payload length and checksum made to match, when it is
/// long enough to have a frame at all.
fn repaired(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < HEAD + TAIL {
        return None;
    }
    let mut fixed = data.to_vec();
    let payload = (data.len() - HEAD - TAIL) as u64;
    fixed[12..20].copy_from_slice(&payload.to_le_bytes());
    let end = data.len() - TAIL;
    let sum = xxhash_rust::xxh3::xxh3_64(&fixed[..end]);
    fixed[end..].copy_from_slice(&sum.to_le_bytes());
    (fixed != data).then_some(fixed)
}

/// Seed patches from [`BASE`]: each a real patch to an edited version.
/// (Read by `tests/fuzz_seeds.rs`; the fuzz target itself starts from the
/// corpus, hence the allow.)
#[allow(dead_code)]
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let edits: [(&str, String); 5] = [
        (
            "edit-rule",
            BASE_RULES.replace(r#"platform == "ios""#, r#"platform == "android""#),
        ),
        (
            "add-flag",
            format!(
                "{BASE_RULES}\nflag dark-mode {{ variations {{ a: [1, {{\"x\": null}}], b: [] }} default b \
                 rule if email matches \"@example\\\\.com$\" and not (age < 18) => a }}\n"
            ),
        ),
        (
            "remove-segment",
            "flag new-checkout { default on }\n".to_string(),
        ),
        (
            "more-keys",
            BASE_RULES.replace(r#"["alice", "bob"]"#, r#"["alice", "bob", "carol", "dave"]"#),
        ),
        (
            "prerequisite",
            format!(
                "{BASE_RULES}\nsegment gate {{ match flag new-checkout is on or country == \"DE\" }}\n\
                 flag follow {{ rule if segment gate => on  rollout split {{ on: 50%, off: 50% }} }}\n"
            ),
        ),
    ];
    edits
        .into_iter()
        .map(|(name, rules)| {
            let new = snapshot_of(&rules, 2);
            let patch = snapshot::make_patch(&BASE, &new).expect("a patch between valid snapshots");
            (name, patch)
        })
        .collect()
}
