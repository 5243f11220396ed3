//! `vexil inspect`: what a snapshot file holds, without evaluating anything.
//!
//! Takes a validated [`Snapshot`] and the bytes it was loaded from, and hands
//! back an [`Inspection`]: the header (snapshot version, environment, format
//! version, checksum, size), the flag and segment counts, and for each flag
//! its variations (name and JSON value), default, `when_disabled` and enabled
//! state, with how many targets and rules it has and whether it has a
//! rollout. [`Inspection::to_text`] is the human form; the type is
//! `serde::Serialize` for `--json`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::snapshot::Snapshot;

/// A summary of one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Inspection {
    /// The snapshot version (monotonic, set by the publisher).
    pub version: u64,
    /// The environment it belongs to.
    pub environment: String,
    /// The file format version of the header.
    pub format_version: u32,
    /// The header's xxh3-64 checksum, as `0x` and 16 hex digits.
    pub checksum: String,
    /// The file's size in bytes.
    pub size: usize,
    /// How many flags.
    pub flag_count: usize,
    /// How many segments.
    pub segment_count: usize,
    /// Every flag, in the snapshot's order.
    pub flags: Vec<FlagSummary>,
    /// Every segment's name, in the snapshot's order.
    pub segments: Vec<String>,
}

/// One flag of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FlagSummary {
    /// The flag key.
    pub key: String,
    /// `false` when killed.
    pub enabled: bool,
    /// The default variation.
    pub default: String,
    /// The variation served while disabled.
    pub when_disabled: String,
    /// Its variations in order.
    pub variations: Vec<VariationSummary>,
    /// How many target lists.
    pub targets: usize,
    /// How many rules.
    pub rules: usize,
    /// Whether it has a rollout.
    pub rollout: bool,
}

/// A variation: its name and JSON value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct VariationSummary {
    /// The name.
    pub name: String,
    /// The value.
    pub value: serde_json::Value,
}

/// Summarises `snapshot`, which was loaded from `bytes`.
pub fn inspect(snapshot: &Snapshot, bytes: &[u8]) -> Inspection {
    let ruleset = snapshot.ruleset();
    let flags = ruleset
        .flag_rows()
        .iter()
        .enumerate()
        .map(|(id, flag)| {
            let variations: Vec<VariationSummary> = ruleset
                .variations(flag.variations)
                .iter()
                .map(|v| VariationSummary {
                    name: ruleset.strings().get(v.name).to_string(),
                    value: v.value.clone(),
                })
                .collect();
            let name = |local: u32| {
                let v = ruleset.variation(flag, local);
                ruleset.strings().get(v.name).to_string()
            };
            FlagSummary {
                key: ruleset.flag_names().name(id as u32).to_string(),
                enabled: flag.enabled,
                default: name(flag.default),
                when_disabled: name(flag.when_disabled),
                targets: flag.targets.len as usize,
                rules: flag.rules.len as usize,
                rollout: flag.rollout != crate::compile::tables::NONE,
                variations,
            }
        })
        .collect::<Vec<_>>();
    let segments = ruleset
        .segments()
        .iter()
        .map(|s| ruleset.strings().get(s.name).to_string())
        .collect::<Vec<_>>();
    Inspection {
        version: snapshot.version(),
        environment: snapshot.environment().to_string(),
        format_version: format_version(bytes),
        checksum: format!("{:#018x}", snapshot.checksum()),
        size: bytes.len(),
        flag_count: flags.len(),
        segment_count: segments.len(),
        flags,
        segments,
    }
}

/// The format version field of the header (offset 8, after the magic).
fn format_version(bytes: &[u8]) -> u32 {
    bytes
        .get(8..12)
        .and_then(|b| b.try_into().ok())
        .map_or(crate::snapshot::FORMAT_VERSION, u32::from_le_bytes)
}

impl Inspection {
    /// The summary for a person.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "snapshot version {}, environment {}",
            self.version,
            serde_json::Value::String(self.environment.clone())
        );
        let _ = writeln!(
            out,
            "format version {}, checksum {}, {} bytes",
            self.format_version, self.checksum, self.size
        );
        let _ = writeln!(
            out,
            "{} flag{}, {} segment{}",
            self.flag_count,
            if self.flag_count == 1 { "" } else { "s" },
            self.segment_count,
            if self.segment_count == 1 { "" } else { "s" }
        );
        for flag in &self.flags {
            let _ = write!(
                out,
                "\nflag {} ({}): default `{}`",
                flag.key,
                if flag.enabled { "enabled" } else { "disabled" },
                flag.default
            );
            if flag.when_disabled != flag.default || !flag.enabled {
                let _ = write!(out, ", when disabled `{}`", flag.when_disabled);
            }
            let _ = writeln!(
                out,
                "; {} target list{}, {} rule{}{}",
                flag.targets,
                if flag.targets == 1 { "" } else { "s" },
                flag.rules,
                if flag.rules == 1 { "" } else { "s" },
                if flag.rollout { ", rollout" } else { "" }
            );
            for v in &flag.variations {
                let _ = writeln!(out, "  {}: {}", v.name, v.value);
            }
        }
        if !self.segments.is_empty() {
            let _ = writeln!(out, "\nsegments: {}", self.segments.join(", "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile_text;
    use crate::snapshot::{self, SnapshotMeta};

    fn bytes_of(text: &str) -> Vec<u8> {
        let ruleset = compile_text(text);
        snapshot::to_bytes(
            &ruleset,
            &SnapshotMeta {
                version: 42,
                environment: "staging".into(),
            },
        )
    }

    #[test]
    fn header_counts_and_flags() {
        let bytes = bytes_of(
            r#"segment s { include ["a"] }
               flag k { variations { x: {"n": 1}, y: {"n": 2} } default y enabled false when_disabled x }
               flag b { target on ["a"] rule if segment s => on rollout split { on: 1%, off: 99% } }"#,
        );
        let snap = snapshot::from_bytes(&bytes).expect("loads");
        let i = inspect(&snap, &bytes);
        assert_eq!((i.version, i.environment.as_str()), (42, "staging"));
        assert_eq!(i.format_version, snapshot::FORMAT_VERSION);
        assert_eq!((i.flag_count, i.segment_count), (2, 1));
        assert_eq!(i.size, bytes.len());
        assert_eq!(i.checksum.len(), 18);
        let k = i.flags.iter().find(|f| f.key == "k").expect("flag k");
        assert!(!k.enabled);
        assert_eq!((k.default.as_str(), k.when_disabled.as_str()), ("y", "x"));
        assert_eq!(k.variations[0].value, serde_json::json!({"n": 1}));
        let b = i.flags.iter().find(|f| f.key == "b").expect("flag b");
        assert_eq!((b.targets, b.rules, b.rollout), (1, 1, true));
        assert_eq!(b.variations.len(), 2);
        assert_eq!(i.segments, vec!["s".to_string()]);
        let text = i.to_text();
        assert!(text.contains("flag k (disabled)"), "{text}");
        assert!(text.contains("environment \"staging\""), "{text}");
    }

    #[test]
    fn checksum_is_the_headers() {
        let bytes = bytes_of("flag f { default on }");
        let i = inspect(&snapshot::from_bytes(&bytes).expect("loads"), &bytes);
        // docs/snapshot-format.md: xxh3-64 of every byte from offset 20 on,
        // stored little-endian at offset 12.
        let stored = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        assert_eq!(stored, xxhash_rust::xxh3::xxh3_64(&bytes[20..]));
        assert_eq!(i.checksum, format!("{stored:#018x}"));
    }

    #[test]
    fn checksum_changes_with_the_content() {
        let a = bytes_of("flag f { default on }");
        let b = bytes_of("flag f { default off }");
        let ia = inspect(&snapshot::from_bytes(&a).expect("loads"), &a);
        let ib = inspect(&snapshot::from_bytes(&b).expect("loads"), &b);
        assert_ne!(ia.checksum, ib.checksum);
    }
}
