//! The origin (`vexil serve`) as operators and SDKs meet it: a real
//! process on 127.0.0.1 port 0, its admin API, `/v1/snapshot`,
//! `/v1/stream`, restarts and `kill -9` (SPEC §4, §5).

mod platform;

use std::time::Duration;

use platform::{admin, get, origin, origin_with, publish, request, Stream, WAIT};
use vexil::context::Context;
use vexil::protocol::Update;
use vexil::snapshot;

const V1: &str = r#"
flag checkout { default off target on ["alice"] }
flag color { variations { red: "r", blue: "b" } default red rule "pro" if plan == "pro" => blue }
"#;

fn answer(bytes: &[u8], flag: &str, key: &str) -> (Option<serde_json::Value>, String) {
    let snap = snapshot::from_bytes(bytes).expect("served snapshots load");
    let detail = snap.ruleset().evaluate(flag, &Context::with_key(key));
    (detail.value.cloned(), detail.reason.as_str().to_string())
}

#[test]
fn publish_kill_restore_rollback_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin(dir.path());
    let a = o.addr.as_str();

    // Before any publish: an empty version 0, ready.
    let r = get(a, "/v1/snapshot", "sdk-prod");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some("\"0\""));
    assert_eq!(request(a, "GET", "/readyz", &[], b"").status, 200);
    assert_eq!(request(a, "GET", "/healthz", &[], b"").status, 200);

    assert_eq!(publish(a, "prod", V1), 1);
    let r = get(a, "/v1/snapshot", "Bearer sdk-prod");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(answer(&r.body, "checkout", "alice").0, Some(true.into()));
    let not_modified = request(
        a,
        "GET",
        "/v1/snapshot",
        &[("Authorization", "sdk-prod"), ("If-None-Match", "\"1\"")],
        b"",
    );
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());

    // Kill: DISABLED; kill again: no new version; restore: back.
    let k = admin(
        a,
        "POST",
        "/admin/v1/envs/prod/flags/checkout/kill",
        "tok-alice",
        "",
    );
    assert_eq!((k.status, k.json()["version"].as_u64()), (200, Some(2)));
    let r = get(a, "/v1/snapshot", "sdk-prod");
    assert_eq!(
        answer(&r.body, "checkout", "alice"),
        (Some(false.into()), "DISABLED".into())
    );
    let again = admin(
        a,
        "POST",
        "/admin/v1/envs/prod/flags/checkout/kill",
        "adm",
        "",
    );
    assert_eq!(again.json()["version"].as_u64(), Some(2));
    // A kill survives a publish of the same flag.
    assert_eq!(
        publish(a, "prod", &format!("{V1}\nflag extra {{ default on }}")),
        3
    );
    let r = get(a, "/v1/snapshot", "sdk-prod");
    assert_eq!(answer(&r.body, "checkout", "alice").1, "DISABLED");
    let restored = admin(
        a,
        "POST",
        "/admin/v1/envs/prod/flags/checkout/restore",
        "adm",
        "",
    );
    assert_eq!(restored.json()["version"].as_u64(), Some(4));
    let r = get(a, "/v1/snapshot", "sdk-prod");
    assert_eq!(
        answer(&r.body, "checkout", "alice"),
        (Some(true.into()), "TARGETING_MATCH".into())
    );

    // Rollback to version 2: V1's source with checkout killed, as a new version.
    let rb = admin(a, "POST", "/admin/v1/envs/prod/rollback/2", "adm", "");
    assert_eq!(rb.json()["version"].as_u64(), Some(5));
    let r = get(a, "/v1/snapshot", "sdk-prod");
    assert_eq!(answer(&r.body, "checkout", "alice").1, "DISABLED");
    assert_eq!(answer(&r.body, "extra", "alice").1, "ERROR");
    let missing = admin(a, "POST", "/admin/v1/envs/prod/rollback/99", "adm", "");
    assert_eq!(missing.status, 404);

    // The audit log: newest first, who / what / versions / diff.
    let log = admin(a, "GET", "/admin/v1/envs/prod/audit", "adm", "").json();
    let log = log.as_array().expect("an array");
    let whats: Vec<&str> = log.iter().map(|e| e["what"].as_str().unwrap()).collect();
    assert_eq!(whats, ["rollback", "restore", "publish", "kill", "publish"]);
    assert_eq!(log[3]["who"], "alice");
    assert_eq!(log[4]["who"], "admin");
    assert_eq!(
        (
            log[0]["version_before"].as_u64(),
            log[0]["version_after"].as_u64()
        ),
        (Some(4), Some(5))
    );
    assert!(log[2]["diff"].as_str().unwrap().contains("+flag extra"));
    assert!(log[3]["diff"].as_str().unwrap().contains("checkout"));
    assert!(log[0]["when"].as_str().unwrap().ends_with('Z'));

    // Environments are separate.
    let r = get(a, "/v1/snapshot", "sdk-staging");
    assert_eq!(r.header("etag"), Some("\"0\""));
}

#[test]
fn a_bad_publish_changes_nothing_and_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin(dir.path());
    let a = o.addr.as_str();
    publish(a, "prod", V1);
    let r = admin(
        a,
        "PUT",
        "/admin/v1/envs/prod/rules",
        "adm",
        "flag a { default off }\nflag b { default nope }\n",
    );
    assert_eq!(r.status, 400);
    let errors = r.json()["errors"].as_array().unwrap().clone();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["line"], 2);
    assert_eq!(errors[0]["col"], 18);
    assert!(errors[0]["message"].as_str().unwrap().contains("nope"));
    let not_utf8 = request(
        a,
        "PUT",
        "/admin/v1/envs/prod/rules",
        &[("Authorization", "Bearer adm")],
        b"flag a { default on }\n\xff\n",
    );
    assert_eq!(not_utf8.status, 400);
    assert_eq!(not_utf8.json()["errors"][0]["line"], 2);
    assert_eq!(
        get(a, "/v1/snapshot", "sdk-prod").header("etag"),
        Some("\"1\"")
    );
    let log = admin(a, "GET", "/admin/v1/envs/prod/audit", "adm", "").json();
    assert_eq!(log.as_array().unwrap().len(), 1);
}

#[test]
fn credentials_unknown_names_and_oversized_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let o = platform::origin_with(dir.path(), &["--max-body-bytes", "65536"]);
    let a = o.addr.as_str();
    for key in ["", "sdk-nope", "Bearer adm"] {
        let r = get(a, "/v1/snapshot", key);
        assert_eq!(r.status, 401, "key {key:?}");
        let text = r.text();
        assert!(!text.contains("prod") && !text.contains("sdk-"), "{text}");
        assert_eq!(Stream::open(a, key, None).status, 401);
    }
    for token in ["", "nope", "sdk-prod", "alice"] {
        let r = admin(a, "PUT", "/admin/v1/envs/prod/rules", token, V1);
        assert_eq!(r.status, 401, "token {token:?}");
        assert!(r.json()["error"].is_string());
        let r = admin(a, "GET", "/admin/v1/envs/prod/audit", token, "");
        assert_eq!(r.status, 401);
    }
    // Wrong credentials never reveal whether an environment exists.
    assert_eq!(
        admin(a, "GET", "/admin/v1/envs/nope/audit", "x", "").status,
        401
    );
    assert_eq!(
        admin(a, "GET", "/admin/v1/envs/nope/audit", "adm", "").status,
        404
    );
    assert_eq!(
        admin(a, "PUT", "/admin/v1/envs/nope/rules", "adm", V1).status,
        404
    );
    publish(a, "prod", V1);
    let r = admin(a, "POST", "/admin/v1/envs/prod/flags/nope/kill", "adm", "");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().unwrap().contains("nope"));
    let r = admin(a, "POST", "/admin/v1/envs/prod/rollback/abc", "adm", "");
    assert_eq!(r.status, 400);
    // Over the limit (here 64 KiB): 413 as JSON, read by a client that is
    // still sending (the origin drains up to four times the limit first).
    let big = "# padding\n".repeat(20 << 10);
    let r = admin(a, "PUT", "/admin/v1/envs/prod/rules", "adm", &big);
    assert_eq!(r.status, 413);
    assert!(r.json()["error"].is_string());
    assert_eq!(request(a, "GET", "/nope", &[], b"").status, 404);
    // Still up and unchanged.
    assert_eq!(
        get(a, "/v1/snapshot", "sdk-prod").header("etag"),
        Some("\"1\"")
    );
    let metrics = request(a, "GET", "/metrics", &[], b"");
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("vexil_"), "{}", metrics.text());
}

#[test]
fn the_stream_sends_full_state_then_deltas_and_resumes_by_last_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin(dir.path());
    let a = o.addr.as_str();
    publish(a, "prod", V1);
    let mut s = Stream::open(a, "sdk-prod", None);
    assert_eq!(s.status, 200);
    let first = s.next_update(WAIT).expect("the full state");
    assert!(matches!(first, Update::Full { version: 1, .. }));
    publish(a, "prod", &V1.replace("alice", "bob"));
    let delta = s.next_update(WAIT).expect("a delta");
    let Update::Delta {
        version: 2,
        base: 1,
        patch,
    } = delta
    else {
        panic!("expected the delta 1 -> 2, got {delta:?}");
    };
    let Update::Full { snapshot: v1, .. } = first else {
        unreachable!()
    };
    let v2 = snapshot::apply_patch(&v1, &patch).expect("the delta applies");
    assert_eq!(v2, get(a, "/v1/snapshot", "sdk-prod").body);
    // Keep-alive comments flow while nothing changes (1 s here).
    let before = s.bytes_seen;
    assert!(s.next_event(Duration::from_millis(2500)).is_none());
    assert!(s.bytes_seen > before, "no keep-alive within 2.5 s");

    // Resume: only the missed deltas, in order.
    publish(a, "prod", &V1.replace("alice", "carol"));
    publish(a, "prod", &V1.replace("alice", "dave"));
    let mut resumed = Stream::open(a, "sdk-prod", Some(2));
    let got: Vec<(bool, u64)> = (0..2)
        .map(|_| resumed.next_update(WAIT).expect("a missed delta"))
        .map(|u| (matches!(u, Update::Full { .. }), u.version()))
        .collect();
    assert_eq!(got, [(false, 3), (false, 4)]);
    // Current: nothing until the next change. Newer than the origin: full state.
    let mut current = Stream::open(a, "sdk-prod", Some(4));
    assert!(current.next_event(Duration::from_millis(300)).is_none());
    let mut future = Stream::open(a, "sdk-prod", Some(40));
    assert!(matches!(
        future.next_update(WAIT),
        Some(Update::Full { version: 4, .. })
    ));
}

#[test]
fn restart_and_kill_9_keep_every_acknowledged_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = origin(dir.path());
    let a = o.addr.clone();
    publish(&a, "prod", V1);
    admin(
        &a,
        "POST",
        "/admin/v1/envs/prod/flags/checkout/kill",
        "adm",
        "",
    );
    let before = get(&a, "/v1/snapshot", "sdk-prod").body;
    assert_eq!(o.terminate().code(), Some(0), "SIGTERM exits 0");

    let o2 = origin(dir.path());
    let r = get(&o2.addr, "/v1/snapshot", "sdk-prod");
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(r.body, before, "the same bytes after a restart");
    // Resume by delta across the restart.
    let mut s = Stream::open(&o2.addr, "sdk-prod", Some(1));
    assert!(matches!(
        s.next_update(WAIT),
        Some(Update::Delta {
            version: 2,
            base: 1,
            ..
        })
    ));
    drop(s);

    // kill -9 while publishes are in flight: every acknowledged version
    // survives, and what is served after the restart loads.
    let mut o2 = o2;
    let addr = o2.addr.clone();
    let publisher = std::thread::spawn(move || {
        let mut acked = 0;
        for i in 0..200 {
            let r = platform::try_request(
                &addr,
                "PUT",
                "/admin/v1/envs/prod/rules",
                &[("Authorization", "Bearer adm")],
                format!("{V1}\nflag n{i} {{ default on }}").as_bytes(),
            );
            match r {
                Some(r) if r.status == 200 => acked = r.json()["version"].as_u64().unwrap(),
                _ => break,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(400));
    o2.kill9();
    let acked_version = publisher.join().expect("the publisher never panics");
    assert!(
        acked_version > 2,
        "no publish was acknowledged before the kill"
    );
    let o3 = origin(dir.path());
    let r = get(&o3.addr, "/v1/snapshot", "sdk-prod");
    let served: u64 = r.header("etag").unwrap().trim_matches('"').parse().unwrap();
    assert!(
        served >= acked_version,
        "acknowledged version {acked_version} lost: serving {served}"
    );
    let snap = snapshot::from_bytes(&r.body).expect("not half-written");
    assert_eq!(snap.version(), served);
    let n = publish(&o3.addr, "prod", V1);
    assert_eq!(n, served + 1, "versions continue by one");
}

/// A subscriber that never reads falls behind and is dropped; the others
/// get every version, in order, and the origin stays responsive.
#[test]
fn a_client_that_never_reads_is_dropped_and_the_others_are_unaffected() {
    let dir = tempfile::tempdir().unwrap();
    let o = platform::origin_with(dir.path(), &["--stream-buffer", "4"]);
    let a = o.addr.as_str();
    publish(a, "prod", V1);
    // A 16 KB receive buffer: what it does not read stays on the server.
    let mut slow = Stream::open_small(a, "sdk-prod", Some(1), 16 << 10);
    let mut fast = Stream::open(a, "sdk-prod", Some(1));
    // Each version changes a 300 KB variation value: 300 KB deltas, far
    // more than the kernel's send buffer and the 4-event channel hold.
    let versions = 40u64;
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while let Some(u) = fast.next_update(WAIT) {
            seen.push(u.version());
            if u.version() == versions + 1 {
                break;
            }
        }
        seen
    });
    let padding = "x".repeat(300 << 10);
    for v in 0..versions {
        let source =
            format!("{V1}\nflag big {{ variations {{ a: \"{padding}{v}\", b: \"\" }} default a }}");
        publish(a, "prod", &source);
    }
    let seen = reader.join().unwrap();
    assert_eq!(seen, (2..=versions + 1).collect::<Vec<_>>());
    // The slow one, reading at last, finds its stream ended early.
    let mut got = 0;
    while slow.next_event(Duration::from_secs(5)).is_some() {
        got += 1;
    }
    assert!(
        got < versions as usize,
        "the slow client got all {got} events"
    );
    let metrics = request(a, "GET", "/metrics", &[], b"").text();
    assert!(metrics.contains("vexil_stream_lagged_total"), "{metrics}");
    // And it resumes where it stopped, by delta.
    let mut again = Stream::open(a, "sdk-prod", Some(versions));
    assert!(matches!(
        again.next_update(WAIT),
        Some(Update::Delta { .. })
    ));
}

/// SPEC §5: every setting can come from a `VEXIL_...` environment variable.
#[test]
fn settings_come_from_the_environment_too() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let o = platform::Server::start_with_env(
        &["serve"],
        &[
            ("VEXIL_LISTEN", "127.0.0.1:0"),
            ("VEXIL_DATA", data),
            ("VEXIL_ADMIN_TOKEN", "env-token,bob:bob-token"),
            ("VEXIL_ENV", "prod=sdk-a,prod=sdk-b,dev=sdk-dev"),
            ("VEXIL_MAX_RULES", "1"),
        ],
    );
    let a = o.addr.as_str();
    let two_rules = "flag a { rule if x == 1 => on rule if x == 2 => on }";
    let r = admin(
        a,
        "PUT",
        "/admin/v1/envs/prod/rules",
        "bob-token",
        two_rules,
    );
    assert_eq!(
        r.status, 400,
        "the cap of one rule per flag came from VEXIL_MAX_RULES"
    );
    let ok = admin(
        a,
        "PUT",
        "/admin/v1/envs/prod/rules",
        "env-token",
        "flag a { default on }",
    );
    assert_eq!(ok.json()["version"], 1);
    for key in ["sdk-a", "sdk-b"] {
        assert_eq!(get(a, "/v1/snapshot", key).header("etag"), Some("\"1\""));
    }
    assert_eq!(
        get(a, "/v1/snapshot", "sdk-dev").header("etag"),
        Some("\"0\"")
    );
}

#[test]
fn the_history_keeps_as_many_versions_as_told_and_says_so_on_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin_with(dir.path(), &["--keep-versions", "2"]);
    let a = o.addr.as_str();
    for i in 1..=4 {
        let source = format!("flag f{i} {{ default on }}\n");
        assert_eq!(publish(a, "prod", &source), i);
    }
    // Versions 3 and 4 are kept: 3 rolls back, 1 is gone and says why.
    let gone = admin(a, "POST", "/admin/v1/envs/prod/rollback/1", "adm", "");
    assert_eq!(gone.status, 404);
    assert!(
        gone.text().contains("no longer kept") && gone.text().contains("--keep-versions"),
        "{}",
        gone.text()
    );
    let rb = admin(a, "POST", "/admin/v1/envs/prod/rollback/3", "adm", "");
    assert_eq!(rb.status, 200, "{}", rb.text());
    assert_eq!(rb.json()["version"].as_u64(), Some(5));
    let r = get(a, "/v1/snapshot", "sdk-prod");
    assert_eq!(answer(&r.body, "f3", "alice").0, Some(true.into()));
    // The audit log keeps every change.
    let log = admin(a, "GET", "/admin/v1/envs/prod/audit", "adm", "").json();
    assert_eq!(log.as_array().map(Vec::len), Some(5));
    // A version past the latest is unknown, not pruned.
    let ahead = admin(a, "POST", "/admin/v1/envs/prod/rollback/9", "adm", "");
    assert_eq!(ahead.status, 404);
    assert!(
        ahead.text().contains("unknown version 9"),
        "{}",
        ahead.text()
    );
}
