//! Tests of the snapshot stage: round trips, hostile bytes, files, the
//! store under concurrent readers, and patches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::fixture::{
    assert_same, assert_same_tables, body_offset, doctor, meta, reseal, ruleset, tables,
};
use super::*;
use crate::compile::tables::{Atom, Pred, Range32, Ruleset, Tables, JUMP_TRUE, NONE};

fn corrupt_detail(r: Result<Snapshot, SnapshotError>) -> String {
    match r {
        Err(SnapshotError::Corrupt { section, detail }) => format!("{section}: {detail}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// Writes `tables` (valid or not) and reads them back.
fn reload(tables: &Tables) -> Result<Snapshot, SnapshotError> {
    from_bytes(&format::write_frame(&meta(1), &format::write_body(tables)))
}

#[test]
fn round_trip_is_identical() {
    let rs = ruleset(7);
    let bytes = to_bytes(&rs, &meta(7));
    let snap = from_bytes(&bytes).unwrap();
    assert_eq!(snap.meta, meta(7));
    assert_eq!(snap.version(), 7);
    assert_eq!(snap.environment(), "production");
    assert_same(&rs, snap.ruleset());
    assert_eq!(to_bytes(&snap.ruleset, &snap.meta), bytes);
    // The tables work after loading: names are findable, regexes match.
    let loaded = &snap.ruleset;
    assert_eq!(loaded.flag_names().find("limits"), Some(2));
    assert_eq!(loaded.keys().find("ünïcode"), Some(4));
    assert!(loaded.regex(0).is_match("bob@example.com"));
}

#[test]
fn empty_ruleset_round_trips() {
    let rs = Ruleset::default();
    let bytes = to_bytes(&rs, &SnapshotMeta::default());
    let snap = from_bytes(&bytes).unwrap();
    assert_same(&rs, &snap.ruleset);
    assert_eq!(to_bytes(&snap.ruleset, &snap.meta), bytes);
}

#[test]
fn writing_is_deterministic() {
    let a = to_bytes(&ruleset(3), &meta(3));
    let b = to_bytes(&ruleset(3), &meta(3));
    let c = to_bytes(&ruleset(3).clone(), &meta(3));
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_ne!(a, to_bytes(&ruleset(4), &meta(3)));
}

#[test]
fn every_truncation_is_refused() {
    let bytes = to_bytes(&ruleset(1), &meta(1));
    for len in 0..bytes.len() {
        assert!(from_bytes(&bytes[..len]).is_err(), "length {len} accepted");
    }
    // Also with the header patched to agree with the shorter body, so the
    // section decoders see the truncation.
    let at = body_offset(&bytes);
    for cut in 1..bytes.len() - at {
        let short = doctor(&bytes, |b| b.truncate(b.len() - cut));
        assert!(from_bytes(&short).is_err(), "body cut by {cut} accepted");
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = to_bytes(&ruleset(1), &meta(1));
    bytes.push(0);
    assert!(matches!(
        from_bytes(&bytes),
        Err(SnapshotError::ChecksumMismatch { .. })
    ));
    reseal(&mut bytes);
    assert!(matches!(
        from_bytes(&bytes),
        Err(SnapshotError::Corrupt { .. })
    ));
    let extra = doctor(&to_bytes(&ruleset(1), &meta(1)), |b| b.push(0));
    assert!(matches!(
        from_bytes(&extra),
        Err(SnapshotError::Corrupt { .. })
    ));
}

#[test]
fn flipping_any_body_byte_fails_the_checksum() {
    let bytes = to_bytes(&ruleset(1), &meta(1));
    for at in body_offset(&bytes)..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 0x20;
        assert!(
            matches!(
                from_bytes(&bad),
                Err(SnapshotError::ChecksumMismatch { .. })
            ),
            "flip at {at}"
        );
    }
}

/// SPEC §4: the checksum covers every byte after itself, header fields
/// included, so one flipped bit anywhere — magic, format version, checksum,
/// snapshot version, environment, lengths, body — is refused.
#[test]
fn flipping_any_bit_anywhere_is_refused() {
    let sources = [crate::check::Source {
        name: "small.flags".into(),
        text: "flag a { default on }".into(),
    }];
    let program = crate::check::check(&sources, &crate::check::Limits::default()).unwrap();
    let rs = crate::compile::compile(&program).unwrap();
    let bytes = to_bytes(&rs, &meta(3));
    from_bytes(&bytes).unwrap();
    for at in 0..bytes.len() {
        for bit in 0..8 {
            let mut bad = bytes.clone();
            bad[at] ^= 1 << bit;
            let err = from_bytes(&bad).expect_err("a flipped bit was accepted");
            if at >= super::format::CHECKSUM_END {
                assert!(
                    matches!(err, SnapshotError::ChecksumMismatch { .. }),
                    "byte {at} bit {bit}: {err}"
                );
            }
        }
    }
}

#[test]
fn doctored_bodies_never_panic() {
    let bytes = to_bytes(&ruleset(1), &meta(1));
    let body_len = bytes.len() - body_offset(&bytes);
    let stride = (body_len / 400).max(1);
    let mut accepted = 0;
    for at in (0..body_len).step_by(stride) {
        for value in [0x00, 0xFF, 0x01, 0x80] {
            let bad = doctor(&bytes, |b| b[at] = value);
            if let Ok(snap) = from_bytes(&bad) {
                // Whatever was accepted is valid: it writes and reloads.
                accepted += 1;
                let again = to_bytes(&snap.ruleset, &snap.meta);
                from_bytes(&again).unwrap();
            }
        }
    }
    // Some edits are harmless (a name's bytes, a number), most are not.
    assert!(accepted > 0);
}

#[test]
fn header_errors_are_precise() {
    let bytes = to_bytes(&ruleset(1), &meta(1));
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(matches!(
        from_bytes(&bad),
        Err(SnapshotError::BadMagic {
            what: "snapshot",
            ..
        })
    ));
    let mut bad = bytes.clone();
    bad[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    match from_bytes(&bad) {
        Err(SnapshotError::UnsupportedVersion { found, supported }) => {
            assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
        }
        other => panic!("{other:?}"),
    }
    let mut bad = bytes.clone();
    bad[32] = 0xFF; // first byte of the environment name
    reseal(&mut bad);
    assert!(corrupt_detail(from_bytes(&bad)).contains("environment"));
    let mut bad = bytes.clone();
    let at = body_offset(&bytes);
    bad[at - 8..at].copy_from_slice(&u64::MAX.to_le_bytes());
    reseal(&mut bad);
    assert!(matches!(
        from_bytes(&bad),
        Err(SnapshotError::Truncated {
            section: "body",
            ..
        })
    ));
    assert!(matches!(
        from_bytes(b""),
        Err(SnapshotError::Truncated {
            section: "header",
            ..
        })
    ));
}

#[test]
fn hostile_counts_do_not_allocate() {
    let bytes = to_bytes(&ruleset(1), &meta(1));
    // The body opens with the strings section: tag (4), payload length (8),
    // then the blob length (8). A huge blob length, then a huge section
    // length: both refused before anything is allocated.
    let bad = doctor(&bytes, |b| {
        b[12..20].copy_from_slice(&u64::MAX.to_le_bytes())
    });
    assert!(matches!(
        from_bytes(&bad),
        Err(SnapshotError::Truncated { .. })
    ));
    let bad = doctor(&bytes, |b| {
        b[4..12].copy_from_slice(&(u64::MAX / 2).to_le_bytes())
    });
    assert!(matches!(
        from_bytes(&bad),
        Err(SnapshotError::Truncated { .. })
    ));
}

#[test]
fn file_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("production.snap");
    write_file(&path, &ruleset(5), &meta(5)).unwrap();
    let snap = open(&path).unwrap();
    assert_eq!(snap.meta, meta(5));
    assert_same(&ruleset(5), &snap.ruleset);
    // Overwriting replaces it atomically and leaves no temporary files.
    write_file(&path, &ruleset(6), &meta(6)).unwrap();
    assert_eq!(open(&path).unwrap().version(), 6);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("production.snap")]);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        to_bytes(&ruleset(6), &meta(6))
    );
}

#[test]
fn file_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.snap");
    let err = open(&path).unwrap_err();
    assert!(matches!(err, SnapshotError::Io { .. }));
    assert!(err.to_string().contains("missing.snap"));
    let err = write_file(dir.path().join("no/such/dir.snap"), &ruleset(1), &meta(1)).unwrap_err();
    assert!(matches!(err, SnapshotError::Io { .. }));
    std::fs::write(&path, b"garbage").unwrap();
    assert!(open(&path).is_err());
}

#[test]
fn cyclic_prerequisites_are_refused() {
    // banner → (prereq) checkout → (segment) internal → (prereq) banner.
    let mut rs = tables(1);
    rs.code[8].atom = Atom::Prereq(1, 0);
    let detail = corrupt_detail(reload(&rs));
    assert!(detail.contains("cycle"), "{detail}");
    assert!(detail.contains("\"banner\""), "{detail}");
    // A flag that is its own prerequisite.
    let mut rs = tables(1);
    rs.code[6].atom = Atom::Prereq(1, 0);
    assert!(corrupt_detail(reload(&rs)).contains("cycle"));
    // A segment that contains itself.
    let mut rs = tables(1);
    rs.code[8].atom = Atom::Segment(0);
    assert!(corrupt_detail(reload(&rs)).contains("segment \"internal\""));
    // Two flags sharing a prerequisite is not a cycle.
    let mut rs = tables(1);
    rs.code[12].atom = Atom::Prereq(2, 0);
    reload(&rs).unwrap();
}

#[test]
fn backward_and_wild_jumps_are_refused() {
    for (at, target) in [(1, 0), (1, 1), (2, 99), (15, 16)] {
        let mut rs = tables(1);
        rs.code[at].on_true = target;
        let detail = corrupt_detail(reload(&rs));
        assert!(detail.contains("strictly forward"), "{detail}");
        let mut rs = tables(1);
        rs.code[at].on_false = target;
        corrupt_detail(reload(&rs));
    }
    let mut rs = tables(1);
    rs.rules[0].entry = 16;
    assert!(corrupt_detail(reload(&rs)).contains("rule 0 entry"));
}

#[test]
fn indices_out_of_range_are_refused() {
    type Edit = fn(&mut Tables);
    let edits: &[(&str, Edit)] = &[
        ("default variation", |r| r.flags[0].default = 2),
        ("when-disabled", |r| r.flags[1].when_disabled = 3),
        ("\"limits\" variations", |r| r.flags[2].variations.len = 3),
        ("flag \"checkout\" targets", |r| {
            r.flags[0].targets.start = 2
        }),
        ("rules", |r| r.flags[0].rules = Range32 { start: 2, len: 2 }),
        ("salt", |r| r.flags[0].salt.0 = 10_000),
        ("rollout", |r| r.flags[0].rollout = 2),
        ("target variation", |r| r.targets[0].variation = 2),
        ("key id", |r| {
            r.targets[0].keys.insert(5);
        }),
        ("segment 0 exclude", |r| {
            r.segments[0].exclude.insert(1000);
        }),
        ("rule variation", |r| {
            r.rules[2].serve = crate::compile::tables::ServeRef::Variation(3)
        }),
        ("split", |r| {
            r.rules[0].serve = crate::compile::tables::ServeRef::Split(9)
        }),
        ("rule 0 name", |r| r.rules[0].name = 9999),
        ("arm variation", |r| r.arms[4].variation = 3),
        ("not 10000", |r| r.arms[1].end = 9999),
        ("strictly increasing", |r| r.arms[3].end = 2500),
        ("split 1 attribute", |r| r.splits[1].by = 7),
        ("split 0 arms", |r| r.splits[0].arms.len = 6),
        ("segment 1 entry", |r| r.segments[1].entry = 16),
        ("attribute", |r| r.code[8].atom = Atom::Exists(7)),
        ("segment", |r| r.code[3].atom = Atom::Segment(2)),
        ("prerequisite flag", |r| r.code[6].atom = Atom::Prereq(3, 0)),
        ("prerequisite variation", |r| {
            r.code[6].atom = Atom::Prereq(0, 2)
        }),
        ("version", |r| {
            set_pred(r, 1, Pred::Semver(crate::compile::tables::Rel::Lt, 1))
        }),
        ("date", |r| {
            set_pred(r, 5, Pred::Date(crate::compile::tables::Rel::Lt, 1))
        }),
        ("regex", |r| set_pred(r, 2, Pred::Matches(1))),
        ("string set", |r| {
            set_pred(r, 0, Pred::StrIn(Range32 { start: 1, len: 2 }))
        }),
        ("number set", |r| {
            set_pred(
                r,
                7,
                Pred::NumIn(Range32 {
                    start: u32::MAX,
                    len: 2,
                }),
            )
        }),
        ("string", |r| {
            set_pred(r, 4, Pred::StrEq(crate::compile::strings::StrId(u32::MAX)))
        }),
        ("NaN", |r| {
            set_pred(r, 10, Pred::Num(crate::compile::tables::Rel::Eq, f64::NAN))
        }),
        ("not sorted", |r| r.str_sets.swap(0, 1)),
        ("not sorted", |r| r.num_sets.swap(0, 2)),
        ("NaN", |r| r.num_sets[1] = f64::NAN),
        ("attribute names", |r| r.attrs.swap(0, 1)),
        ("regex 0 pattern", |r| r.regexes[0].0 = 5000),
        ("flag keys", |r| {
            r.flag_keys = crate::compile::strings::NameIndex::build(["a", "b"])
        }),
        ("cannot be found", |r| r.flag_keys.slots.rotate_left(1)),
        ("power of two", |r| r.keys.slots.push(0)),
        ("slot", |r| r.flag_keys.slots[0] = 9),
        ("cannot be found", |r| {
            r.flag_keys = crate::compile::strings::NameIndex::build(["a", "a", "b"])
        }),
    ];
    for (want, edit) in edits {
        let mut rs = tables(1);
        edit(&mut rs);
        let detail = corrupt_detail(reload(&rs));
        assert!(detail.contains(want), "{want:?} not in {detail:?}");
    }
}

fn set_pred(rs: &mut Tables, at: usize, new: Pred) {
    if let Atom::Cmp { pred, .. } = &mut rs.code[at].atom {
        *pred = new;
    } else {
        panic!("instruction {at} is not a comparison");
    }
}

#[test]
fn string_tables_are_checked() {
    let bytes = to_bytes(&ruleset(1), &meta(1));
    // The strings section: tag, length, blob length, blob, ends count, ends.
    let blob_len = u64::from_le_bytes(bytes[body_offset(&bytes) + 12..][..8].try_into().unwrap());
    let ends_at = 12 + 8 + blob_len as usize + 8;
    // An end past the blob.
    let bad = doctor(&bytes, |b| {
        b[ends_at..ends_at + 4].copy_from_slice(&9999u32.to_le_bytes())
    });
    assert!(corrupt_detail(from_bytes(&bad)).contains("string 0 ends"));
    // Ends going backwards.
    let bad = doctor(&bytes, |b| {
        b[ends_at + 4..ends_at + 8].copy_from_slice(&0u32.to_le_bytes())
    });
    assert!(corrupt_detail(from_bytes(&bad)).contains("before the previous"));
    // Invalid UTF-8 in the blob.
    let bad = doctor(&bytes, |b| b[20] = 0xC3);
    assert!(corrupt_detail(from_bytes(&bad)).contains("UTF-8"));
    // An end inside a multi-byte character (the ünïcode key).
    let mut rs = tables(1);
    rs.keys.names.ends[3] += 1;
    assert!(corrupt_detail(reload(&rs)).contains("inside a character"));
}

#[test]
fn name_index_slots_past_the_names_are_refused() {
    // The largest id is checked first; the error still names the slot.
    let mut rs = tables(1);
    let names = rs.keys.names.len() as u32;
    let last = rs.keys.slots.len() - 1;
    rs.keys.slots[last] = names + 5;
    let detail = corrupt_detail(reload(&rs));
    assert!(
        detail.contains(&format!("slot {last} holds id {}", names + 4)),
        "{detail}"
    );
}

#[test]
fn bad_regex_is_refused() {
    let mut rs = tables(1);
    let p = rs.strings.push("(unclosed");
    rs.regexes[0] = p;
    match reload(&rs) {
        Err(e @ SnapshotError::Regex { .. }) => assert!(e.to_string().contains("(unclosed")),
        other => panic!("{other:?}"),
    }
    let mut rs = tables(1);
    let p = rs.strings.push(r"\w{1000}\w{1000}\w{1000}");
    rs.regexes[0] = p;
    assert!(matches!(reload(&rs), Err(SnapshotError::Regex { .. })));
}

#[test]
fn optional_references_accept_none() {
    let mut rs = tables(1);
    rs.rules[0].name = NONE;
    rs.splits[0].by = NONE;
    rs.segments[0].entry = NONE;
    rs.code[2].on_true = JUMP_TRUE;
    let snap = reload(&rs).unwrap();
    assert_same_tables(&rs, snap.ruleset.tables());
}

#[test]
fn errors_read_well() {
    let e = SnapshotError::Truncated {
        section: "flags",
        needed: 44,
        available: 3,
    };
    assert_eq!(
        e.to_string(),
        "truncated flags: needs 44 more bytes, only 3 left (was the file cut short or is a length field damaged?)"
    );
    let e = SnapshotError::Stale {
        current: 9,
        offered: 8,
    };
    assert!(e.to_string().contains("version 8"));
    let e = SnapshotError::BadMagic {
        what: "snapshot",
        expected: MAGIC,
    };
    assert!(e.to_string().contains("VEXILSNP"));
}

// ------------------------------------------------------------------ store

fn snapshot(version: u64) -> Snapshot {
    Snapshot::new(ruleset(version), meta(version))
}

/// The value `limits` serves by default: the version the ruleset was built for.
fn encoded_version(snap: &Snapshot) -> u64 {
    let rs = &snap.ruleset;
    let flag = &rs.flag_rows()[super::fixture::VERSION_FLAG];
    let v = rs.variation(flag, flag.default);
    v.value.as_u64().unwrap()
}

#[test]
fn store_refuses_stale_and_invalid_snapshots() {
    let store = Store::new(snapshot(5));
    assert_eq!(store.version(), 5);
    match store.swap(snapshot(4)) {
        Err(SnapshotError::Stale { current, offered }) => assert_eq!((current, offered), (5, 4)),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.swap(snapshot(5)).unwrap(), 5);
    let mut bytes = to_bytes(&ruleset(6), &meta(6));
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert!(store.swap_bytes(&bytes).is_err());
    assert_eq!(store.version(), 5);
    assert_eq!(
        store.swap_bytes(&to_bytes(&ruleset(6), &meta(6))).unwrap(),
        6
    );
    assert_eq!(encoded_version(&store.load()), 6);
    // A deliberate step back.
    assert_eq!(store.force_swap(snapshot(2)), 6);
    assert_eq!(store.load_full().version(), 2);
}

#[test]
fn a_reader_never_frees_the_snapshot_it_was_reading() {
    let store = Store::new(snapshot(1));
    let reading = store.load_full();
    store.swap(snapshot(2)).unwrap();
    // The store keeps the replaced snapshot until the next swap, so the
    // reader's reference is not the last one...
    assert_eq!(Arc::strong_count(&reading), 2);
    store.swap(snapshot(3)).unwrap();
    // ...and lets go of it on that swap, on the writer's thread.
    assert_eq!(Arc::strong_count(&reading), 1);
    assert_eq!(reading.version(), 1);
}

#[test]
fn readers_see_whole_snapshots_in_order() {
    const SWAPS: u64 = 200;
    let snaps: Vec<Vec<u8>> = (1..=SWAPS)
        .map(|v| to_bytes(&ruleset(v), &meta(v)))
        .collect();
    let store = Arc::new(Store::new(from_bytes(&snaps[0]).unwrap()));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let store = Arc::clone(&store);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut last = 0;
                let mut seen = 0u64;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let snap = store.load();
                    let version = snap.version();
                    assert_eq!(encoded_version(&snap), version, "torn snapshot");
                    assert!(
                        version >= last,
                        "version went back from {last} to {version}"
                    );
                    last = version;
                    seen += 1;
                    if finished {
                        return (last, seen);
                    }
                }
            })
        })
        .collect();
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            for (i, bytes) in snaps.iter().enumerate().skip(1) {
                if i == SWAPS as usize / 2 {
                    // An invalid snapshot in the middle changes nothing.
                    let before = store.version();
                    assert!(store.swap_bytes(&bytes[..bytes.len() - 1]).is_err());
                    assert_eq!(store.version(), before);
                }
                assert_eq!(store.swap_bytes(bytes).unwrap(), i as u64 + 1);
            }
        })
    };
    writer.join().unwrap();
    done.store(true, Ordering::Release);
    for r in readers {
        let (last, seen) = r.join().unwrap();
        assert_eq!(last, SWAPS);
        assert!(seen > 0);
    }
}

// ---------------------------------------------------------------- patches

/// A snapshot compiled from source, keeping the key ids of `base` if given.
fn compiled(text: &str, version: u64, base: Option<&Snapshot>) -> Snapshot {
    let sources = [crate::check::Source {
        name: "patch.flags".into(),
        text: text.into(),
    }];
    let program = crate::check::check(&sources, &crate::check::Limits::default()).unwrap();
    let ruleset = crate::compile::compile_with_keys(&program, base.map(|b| &b.ruleset)).unwrap();
    Snapshot::new(ruleset, meta(version))
}

fn rules_v1() -> String {
    let mut text = String::from("segment big { include [");
    for i in 0..3000 {
        text.push_str(&format!("\"user-{i}\", "));
    }
    text.push_str("] match plan == \"enterprise\" }\n");
    for i in 0..40 {
        text.push_str(&format!(
            "flag f{i} {{ variations {{ a: \"A{i}\", b: \"B{i}\" }} default a target b [\"vip-{i}\"] \
             rule \"r{i}\" if segment big and country in [\"DE\", \"FR\"] => b \
             rule if email ends_with \"@x{i}.io\" or age > {i} => split {{ a: 30%, b: 70% }} }}\n"
        ));
    }
    text
}

fn bytes(s: &Snapshot) -> Vec<u8> {
    to_bytes(&s.ruleset, &s.meta)
}

#[test]
fn patch_reproduces_the_new_snapshot_exactly() {
    let base = compiled(&rules_v1(), 1, None);
    // Edit one flag, add a target key, remove a flag, add a flag.
    let text = rules_v1()
        .replace("age > 7 ", "age > 70 ")
        .replace("[\"vip-3\"]", "[\"vip-3\", \"brand-new-key\"]")
        .replace("flag f9 {", "flag gone {")
        .replace("flag gone {", "flag f9-renamed {");
    let new = compiled(&text, 2, Some(&base));
    let patch = make_patch(&bytes(&base), &bytes(&new)).unwrap();
    assert_eq!(apply_patch(&bytes(&base), &patch).unwrap(), bytes(&new));
    let applied = apply_patch_to(&base, &patch).unwrap();
    assert_eq!(applied.meta.version, 2);
    assert_eq!(bytes(&applied), bytes(&new));
    // Only the changed flags travel: far smaller than the snapshot.
    assert!(
        patch.len() * 10 < bytes(&new).len(),
        "patch {} bytes for a {}-byte snapshot",
        patch.len(),
        bytes(&new).len()
    );
    // Identical snapshots make an empty patch that still applies.
    let same = make_patch(&bytes(&new), &bytes(&new)).unwrap();
    assert_eq!(apply_patch(&bytes(&new), &same).unwrap(), bytes(&new));
}

#[test]
fn patch_carries_moves_and_key_renumbering() {
    let base = compiled(&rules_v1(), 1, None);
    // Reorder: put the last flag first.
    let text = rules_v1();
    let last = text.lines().last().unwrap().to_string();
    let reordered = format!(
        "{last}\n{}",
        text.lines()
            .take(text.lines().count() - 1)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let moved = compiled(&reordered, 2, Some(&base));
    let patch = make_patch(&bytes(&base), &bytes(&moved)).unwrap();
    assert_eq!(apply_patch(&bytes(&base), &patch).unwrap(), bytes(&moved));
    // Compiled afresh (keys renumbered): still exact, just bigger.
    let fresh = compiled(&rules_v1().replace("vip-0", "aaa-first"), 3, None);
    let patch = make_patch(&bytes(&base), &bytes(&fresh)).unwrap();
    assert_eq!(apply_patch(&bytes(&base), &patch).unwrap(), bytes(&fresh));
}

#[test]
fn store_applies_patches_and_refuses_bad_ones() {
    let base = compiled(&rules_v1(), 1, None);
    let new = compiled(&rules_v1().replace("A0", "changed"), 2, Some(&base));
    let patch = make_patch_from(&base, &new).unwrap();
    let store = Store::new(base.clone());
    let mut broken = patch.clone();
    let mid = broken.len() / 2;
    broken[mid] ^= 1;
    assert!(store.apply_patch(&broken).is_err());
    assert_eq!(
        store.version(),
        1,
        "a damaged patch leaves the old snapshot serving"
    );
    assert_eq!(store.apply_patch(&patch).unwrap(), 2);
    assert_eq!(bytes(&store.load_full()), bytes(&new));
    // The same patch again: its base is gone.
    assert!(matches!(
        store.apply_patch(&patch),
        Err(SnapshotError::PatchBase { .. })
    ));
}

#[test]
fn patch_refuses_the_wrong_base() {
    let base = compiled(&rules_v1(), 1, None);
    let new = compiled(&rules_v1().replace("B1\"", "B1x\""), 2, Some(&base));
    let patch = make_patch(&bytes(&base), &bytes(&new)).unwrap();
    // Another version.
    match apply_patch(&bytes(&new), &patch) {
        Err(SnapshotError::PatchBase { expected, found }) => {
            assert_eq!((expected.version, found.version), (1, 2));
        }
        other => panic!("{other:?}"),
    }
    // Same version, different content.
    let other = compiled(&rules_v1().replace("B5\"", "B5y\""), 1, None);
    match apply_patch(&bytes(&other), &patch) {
        Err(SnapshotError::PatchBase { expected, found }) => {
            assert_eq!(expected.version, found.version);
            assert_ne!(expected.checksum, found.checksum);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn corrupt_patches_are_refused() {
    let small =
        "segment s { include [\"a\"] }\nflag f { rule if segment s => on }\nflag g { default on }";
    let base = compiled(small, 1, None);
    let new = compiled(&small.replace("default on", "default off"), 2, Some(&base));
    let (base, new) = (bytes(&base), bytes(&new));
    let patch = make_patch(&base, &new).unwrap();
    for at in 0..patch.len() {
        let mut bad = patch.clone();
        bad[at] ^= 0x04;
        assert!(apply_patch(&base, &bad).is_err(), "flip at {at}");
    }
    for len in 0..patch.len() {
        assert!(apply_patch(&base, &patch[..len]).is_err(), "length {len}");
    }
    assert!(matches!(
        apply_patch(&base, &base),
        Err(SnapshotError::BadMagic { what: "patch", .. })
    ));
}

#[test]
fn unlink_then_link_is_the_identity_on_compiled_rulesets() {
    let snap = compiled(&rules_v1(), 1, None);
    let (flags, segments) = crate::compile::link::unlink(&snap.ruleset).unwrap();
    let again = crate::compile::link::link(&flags, &segments, snap.ruleset.keys().clone()).unwrap();
    assert_eq!(to_bytes(&again, &snap.meta), bytes(&snap));
}

#[test]
fn json_numbers_survive_the_round_trip() {
    // Variation values once went through JSON text, which lost f64 bits; check that f64s come back
    // bit for bit (xorshift over bit patterns, finite values only).
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rs = tables(1);
    for _ in 0..5_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let f = f64::from_bits(x);
        if !f.is_finite() {
            continue;
        }
        rs.variations[6].value = serde_json::json!(f);
        let snap = reload(&rs).unwrap();
        let back = snap.ruleset.tables().variations[6].value.as_f64().unwrap();
        assert_eq!(back.to_bits(), f.to_bits(), "{f:e}");
    }
}

/// A patch in flight must not undo a rollback that lands meanwhile: the
/// patch reads its base under the writer lock, so either the rollback comes
/// first (the patch no longer fits its base and is refused) or the patch
/// does (and the rollback replaces it). Either way version 1 serves.
#[test]
fn a_patch_in_flight_never_undoes_a_concurrent_rollback() {
    use std::sync::{Arc, Barrier};
    let v1 = compiled("flag a { default off }", 1, None);
    let v2 = compiled("flag a { default on }", 2, Some(&v1));
    let v3 = compiled(&rules_v1(), 3, Some(&v2));
    let patch = Arc::new(make_patch_from(&v2, &v3).unwrap());
    for _ in 0..40 {
        let store = Arc::new(Store::new(v2.clone()));
        let barrier = Arc::new(Barrier::new(2));
        let patcher = {
            let (store, barrier, patch) = (store.clone(), barrier.clone(), patch.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store.apply_patch(&patch)
            })
        };
        barrier.wait();
        store.force_swap(v1.clone());
        match patcher.join().unwrap() {
            Ok(version) => assert_eq!(version, 3),
            Err(e) => assert!(matches!(e, SnapshotError::PatchBase { .. }), "{e}"),
        }
        assert_eq!(store.version(), 1, "the rollback was undone");
        assert_eq!(bytes(&store.load()), bytes(&v1));
    }
}

/// The units a patched snapshot keeps are exactly what unlinking it gives,
/// so a chain of patches applies on cached units as it would from scratch.
#[test]
fn patched_snapshots_keep_their_true_units() {
    let v1 = compiled(&rules_v1(), 1, None);
    let v2 = compiled(&rules_v1().replace("age > 7 ", "age > 70 "), 2, Some(&v1));
    let v3 = compiled(
        &rules_v1().replace("[\"vip-3\"]", "[\"vip-3\", \"k-new\"]"),
        3,
        Some(&v2),
    );
    let p12 = make_patch_from(&v1, &v2).unwrap();
    let p23 = make_patch_from(&v2, &v3).unwrap();
    let fresh = from_bytes(&bytes(&v1)).unwrap();
    let got2 = apply_patch_to(&fresh, &p12).unwrap();
    let cached = got2.units.get().expect("kept by apply");
    let (flags, segments) = crate::compile::link::unlink(got2.ruleset()).unwrap();
    assert_eq!(cached.flags_and_segments(), (&flags[..], &segments[..]));
    let got3 = apply_patch_to(&got2, &p23).unwrap();
    assert_eq!(bytes(&got3), bytes(&v3));
}
