//! Test fixtures: a small but complete ruleset built by hand, and helpers to
//! compare rulesets and to doctor snapshot bytes.

use roaring::RoaringBitmap;
use serde_json::json;

use super::SnapshotMeta;
use crate::compile::strings::{NameIndex, StrTable};
use crate::compile::tables::{
    Arm, Atom, Flag, Instr, Pred, Range32, Regexes, Rel, Rule, Ruleset, Segment, ServeRef, Split,
    Tables, Target, Variation, JUMP_FALSE, JUMP_TRUE, NONE,
};
use crate::values::date::Instant;
use crate::values::semver::Version;

/// Index of the flag whose default variation's value is the snapshot version.
pub(crate) const VERSION_FLAG: usize = 2;

pub(crate) fn meta(version: u64) -> SnapshotMeta {
    SnapshotMeta {
        version,
        environment: "production".to_string(),
    }
}

/// Three flags (bool, string/object, number variations), targets, named and
/// unnamed rules, two splits, two segments, a condition program using every
/// atom and predicate kind, string/number sets, a version, an instant and a
/// regex. The default of flag `limits` is `version` as a JSON number.
pub(crate) fn ruleset(version: u64) -> Ruleset {
    ruleset_with_keys(version, 0)
}

/// As [`ruleset`], with `extra` more context keys (a big `keys` section).
pub(crate) fn ruleset_with_keys(version: u64, extra: usize) -> Ruleset {
    Ruleset::from_tables(tables_with_keys(version, extra), Regexes::Compile)
        .expect("the fixture is valid")
}

/// The tables of [`ruleset`], as plain data to edit before validation.
pub(crate) fn tables(version: u64) -> Tables {
    tables_with_keys(version, 0)
}

/// The tables of [`ruleset_with_keys`].
pub(crate) fn tables_with_keys(version: u64, extra: usize) -> Tables {
    let mut s = StrTable::default();
    // Attribute names, in `context::name_order` (by length, then bytes).
    let attr_names = [
        "age",
        "plan",
        "tags",
        "email",
        "signup",
        "country",
        "app_version",
    ];
    let attrs: Vec<_> = attr_names.iter().map(|a| s.push(a)).collect();
    let attr = |name: &str| attr_names.iter().position(|a| *a == name).unwrap() as u32;
    let salt_checkout = s.push("checkout");
    let salt_banner = s.push("banner");
    let salt_limits = s.push("limits");
    let v_on = s.push("on");
    let v_off = s.push("off");
    let v_red = s.push("red");
    let v_blue = s.push("blue");
    let v_fancy = s.push("fancy");
    let v_cur = s.push("current");
    let v_big = s.push("big");
    let rule_beta = s.push("beta");
    let rule_gated = s.push("gated");
    let seg_internal = s.push("internal");
    let seg_nobody = s.push("nobody");
    let de = s.push("de");
    let fr = s.push("fr");
    let enterprise = s.push("enterprise");
    let example = s.push("@example.com");
    let vip = s.push("vip");
    let admin = s.push("admin-");
    let pattern = s.push(r"^[a-z]+@example\.com$");

    let mut key_names: Vec<String> = ["alice", "bob", "carol", "dave", "ünïcode"]
        .iter()
        .map(|k| k.to_string())
        .collect();
    key_names.extend((0..extra).map(|i| format!("user-{i:06}")));
    let keys = NameIndex::build(key_names.iter().map(String::as_str));
    let flag_keys = NameIndex::build(["checkout", "banner", "limits"]);

    let variations = vec![
        Variation {
            name: v_on,
            value: json!(true),
        },
        Variation {
            name: v_off,
            value: json!(false),
        },
        Variation {
            name: v_red,
            value: json!("red"),
        },
        Variation {
            name: v_blue,
            value: json!("blue"),
        },
        Variation {
            name: v_fancy,
            value: json!({"colour": "gold", "sizes": [1, 2.5, null], "z": {"a": true}}),
        },
        Variation {
            name: v_cur,
            value: json!(version),
        },
        Variation {
            name: v_big,
            value: json!(10.5),
        },
    ];
    let bitmap = |ids: &[u32]| ids.iter().copied().collect::<RoaringBitmap>();
    let targets = vec![
        Target {
            variation: 0,
            keys: bitmap(&[0, 1]),
        },
        Target {
            variation: 2,
            keys: bitmap(&[2, 4]),
        },
    ];
    let flags = vec![
        Flag {
            variations: Range32 { start: 0, len: 2 },
            default: 1,
            when_disabled: 1,
            enabled: true,
            salt: salt_checkout,
            targets: Range32 { start: 0, len: 1 },
            rules: Range32 { start: 0, len: 2 },
            rollout: NONE,
        },
        Flag {
            variations: Range32 { start: 2, len: 3 },
            default: 0,
            when_disabled: 1,
            enabled: false,
            salt: salt_banner,
            targets: Range32 { start: 1, len: 1 },
            rules: Range32 { start: 2, len: 1 },
            rollout: 1,
        },
        Flag {
            variations: Range32 { start: 5, len: 2 },
            default: 0,
            when_disabled: 1,
            enabled: true,
            salt: salt_limits,
            targets: Range32 { start: 2, len: 0 },
            rules: Range32 { start: 3, len: 0 },
            rollout: NONE,
        },
    ];
    let rules = vec![
        Rule {
            name: rule_beta.0,
            entry: 0,
            serve: ServeRef::Variation(0),
        },
        Rule {
            name: NONE,
            entry: 3,
            serve: ServeRef::Split(0),
        },
        Rule {
            name: rule_gated.0,
            entry: 6,
            serve: ServeRef::Variation(1),
        },
    ];
    let splits = vec![
        Split {
            by: NONE,
            salt: salt_checkout,
            arms: Range32 { start: 0, len: 2 },
        },
        Split {
            by: attr("plan"),
            salt: salt_banner,
            arms: Range32 { start: 2, len: 3 },
        },
    ];
    let arms = vec![
        Arm {
            end: 5000,
            variation: 0,
        },
        Arm {
            end: 10_000,
            variation: 1,
        },
        Arm {
            end: 2500,
            variation: 0,
        },
        Arm {
            end: 7000,
            variation: 1,
        },
        Arm {
            end: 10_000,
            variation: 2,
        },
    ];
    let segments = vec![
        Segment {
            name: seg_internal,
            include: bitmap(&[0]),
            exclude: bitmap(&[3]),
            entry: 8,
        },
        Segment {
            name: seg_nobody,
            include: RoaringBitmap::new(),
            exclude: RoaringBitmap::new(),
            entry: NONE,
        },
    ];
    let cmp = |a: &str, negate: bool, pred: Pred| Atom::Cmp {
        attr: attr(a),
        negate,
        pred,
    };
    let ins = |atom: Atom, on_true: u32, on_false: u32| Instr {
        atom,
        on_true,
        on_false,
    };
    let code = vec![
        // Rule "beta": country in [de, fr] and app_version >= 1.2.0-beta.1 and email matches.
        ins(
            cmp("country", false, Pred::StrIn(Range32 { start: 0, len: 2 })),
            1,
            JUMP_FALSE,
        ),
        ins(
            cmp("app_version", false, Pred::Semver(Rel::Ge, 0)),
            2,
            JUMP_FALSE,
        ),
        ins(cmp("email", false, Pred::Matches(0)), JUMP_TRUE, JUMP_FALSE),
        // Rule 2: in segment internal or (plan != enterprise and signup < date).
        ins(Atom::Segment(0), JUMP_TRUE, 4),
        ins(cmp("plan", true, Pred::StrEq(enterprise)), 5, JUMP_FALSE),
        ins(
            cmp("signup", false, Pred::Date(Rel::Lt, 0)),
            JUMP_TRUE,
            JUMP_FALSE,
        ),
        // Rule "gated": flag checkout is on and age in [1, 2.5, 30].
        ins(Atom::Prereq(0, 0), 7, JUMP_FALSE),
        ins(
            cmp("age", false, Pred::NumIn(Range32 { start: 0, len: 3 })),
            JUMP_TRUE,
            JUMP_FALSE,
        ),
        // Segment internal: an OR of everything else.
        ins(Atom::Exists(attr("email")), 9, JUMP_FALSE),
        ins(cmp("email", false, Pred::EndsWith(example)), JUMP_TRUE, 10),
        ins(cmp("age", false, Pred::Num(Rel::Ge, 18.0)), JUMP_TRUE, 11),
        ins(cmp("tags", false, Pred::ContainsStr(vip)), JUMP_TRUE, 12),
        ins(cmp("tags", false, Pred::ContainsNum(7.0)), JUMP_TRUE, 13),
        ins(cmp("email", false, Pred::StartsWith(admin)), JUMP_TRUE, 14),
        ins(cmp("tags", true, Pred::EmptyIn), JUMP_TRUE, 15),
        ins(
            cmp("plan", false, Pred::BoolEq(true)),
            JUMP_TRUE,
            JUMP_FALSE,
        ),
    ];
    Tables {
        strings: s,
        attrs,
        keys,
        flag_keys,
        flags,
        variations,
        targets,
        rules,
        splits,
        arms,
        segments,
        code,
        str_sets: vec![de, fr],
        num_sets: vec![1.0, 2.5, 30.0],
        versions: vec![Version {
            major: 1,
            minor: 2,
            patch: 0,
            pre: "beta.1".to_string(),
        }],
        instants: vec![Instant(1_700_000_000_000_000_000)],
        regexes: vec![pattern],
    }
}

/// Asserts two rulesets hold the same tables (regexes by pattern).
pub(crate) fn assert_same(a: &Ruleset, b: &Ruleset) {
    assert_same_tables(a.tables(), b.tables());
    let re = |r: &Ruleset| {
        r.compiled_regexes()
            .iter()
            .map(|re| re.as_str().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(re(a), re(b));
}

/// Asserts two sets of tables are the same.
pub(crate) fn assert_same_tables(a: &Tables, b: &Tables) {
    assert_eq!(a.strings, b.strings);
    assert_eq!(a.attrs, b.attrs);
    assert_eq!(a.keys, b.keys);
    assert_eq!(a.flag_keys, b.flag_keys);
    assert_eq!(a.flags, b.flags);
    assert_eq!(a.variations, b.variations);
    assert_eq!(a.targets, b.targets);
    assert_eq!(a.rules, b.rules);
    assert_eq!(a.splits, b.splits);
    assert_eq!(a.arms, b.arms);
    assert_eq!(a.segments, b.segments);
    assert_eq!(a.code, b.code);
    assert_eq!(a.str_sets, b.str_sets);
    assert_eq!(
        a.num_sets.iter().map(|n| n.to_bits()).collect::<Vec<_>>(),
        b.num_sets.iter().map(|n| n.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(a.versions, b.versions);
    assert_eq!(a.instants, b.instants);
    assert_eq!(a.regexes, b.regexes);
}

/// Offset of the body in snapshot bytes.
pub(crate) fn body_offset(bytes: &[u8]) -> usize {
    let env_len = u32::from_le_bytes(bytes[28..32].try_into().unwrap()) as usize;
    32 + env_len + 8
}

/// Edits the body with `f`, then rewrites the body length and checksum so
/// only the structural validation stands between the edit and a ruleset.
pub(crate) fn doctor(bytes: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let at = body_offset(bytes);
    let mut body = bytes[at..].to_vec();
    f(&mut body);
    let mut out = bytes[..at].to_vec();
    let n = out.len();
    out[n - 8..].copy_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    reseal(&mut out);
    out
}

/// Rewrites the checksum of (edited) snapshot bytes so that the edit meets
/// the structural checks instead of the checksum.
pub(crate) fn reseal(bytes: &mut [u8]) {
    let checksum = xxhash_rust::xxh3::xxh3_64(&bytes[super::format::CHECKSUM_END..]);
    bytes[12..20].copy_from_slice(&checksum.to_le_bytes());
}
