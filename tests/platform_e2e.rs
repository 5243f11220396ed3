//! End to end through real processes: origin → relay → relay → SDK
//! (the library client and `vexil watch`). Publishes, kills, restores and
//! rollbacks reach the SDK; relay restarts, origin outages and bad
//! publishes change nothing an SDK serves until they should.

mod platform;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use platform::{admin, eventually, get, origin, publish, Server, Stream, WAIT};
use vexil::context::Context;
use vexil::sdk::Client;

const V1: &str = r#"
segment beta { include ["bob"] }
flag checkout { default off target on ["alice"] rule "beta" if segment beta => on }
flag color { variations { red: "r", blue: "b" } default red }
"#;

fn relay(upstream: &str, extra: &[&str]) -> Server {
    relay_at("127.0.0.1:0", upstream, extra)
}

fn relay_at(listen: &str, upstream: &str, extra: &[&str]) -> Server {
    let upstream = format!("http://{upstream}");
    let mut args = vec![
        "relay",
        "--listen",
        listen,
        "--upstream",
        upstream.as_str(),
        "--env",
        "prod=sdk-prod",
        "--keepalive-secs",
        "1",
        "--reconnect-base-ms",
        "50",
        "--poll-interval",
        "1",
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn client(addr: &str) -> Client {
    Client::builder(format!("http://{addr}"), "sdk-prod")
        .init_timeout(WAIT)
        .reconnect_base(Duration::from_millis(50))
        .poll_interval(Duration::from_secs(1))
        .build()
        .expect("a client")
}

fn served_version(addr: &str) -> Option<u64> {
    let r = platform::try_request(
        addr,
        "GET",
        "/v1/snapshot",
        &[("Authorization", "sdk-prod")],
        b"",
    )?;
    (r.status == 200)
        .then(|| r.header("etag")?.trim_matches('"').parse().ok())
        .flatten()
}

#[test]
fn every_change_reaches_the_sdk_through_two_relays() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin(dir.path());
    let r1 = relay(&o.addr, &[]);
    let r2 = relay(&r1.addr, &[]);
    let sdk = client(&r2.addr);
    assert!(sdk.wait_ready(WAIT));
    let alice = Context::with_key("alice");
    let bob = Context::with_key("bob");

    let v = publish(&o.addr, "prod", V1);
    eventually("the publish to reach the SDK", || sdk.version() == Some(v));
    assert!(sdk.bool_value(&alice, "checkout", false));
    assert!(sdk.bool_value(&bob, "checkout", false));

    let k = admin(
        &o.addr,
        "POST",
        "/admin/v1/envs/prod/flags/checkout/kill",
        "adm",
        "",
    );
    let killed = k.json()["version"].as_u64().unwrap();
    eventually("the kill to reach the SDK", || {
        sdk.version() == Some(killed)
    });
    let d = sdk.detail(&alice, "checkout");
    assert_eq!(d.reason.as_str(), "DISABLED");

    let r = admin(
        &o.addr,
        "POST",
        "/admin/v1/envs/prod/flags/checkout/restore",
        "adm",
        "",
    );
    let restored = r.json()["version"].as_u64().unwrap();
    eventually("the restore to reach the SDK", || {
        sdk.version() == Some(restored)
    });
    assert_eq!(
        sdk.detail(&alice, "checkout").reason.as_str(),
        "TARGETING_MATCH"
    );

    let v2 = publish(&o.addr, "prod", &V1.replace("[\"bob\"]", "[\"carol\"]"));
    eventually("v2", || sdk.version() == Some(v2));
    assert!(!sdk.bool_value(&bob, "checkout", true));
    let rb = admin(
        &o.addr,
        "POST",
        &format!("/admin/v1/envs/prod/rollback/{v}"),
        "adm",
        "",
    );
    let rolled = rb.json()["version"].as_u64().unwrap();
    eventually("the rollback to reach the SDK", || {
        sdk.version() == Some(rolled)
    });
    assert!(sdk.bool_value(&bob, "checkout", false));

    // Every level serves byte-identical snapshots.
    let origin_bytes = get(&o.addr, "/v1/snapshot", "sdk-prod").body;
    eventually("relays to agree", || {
        get(&r1.addr, "/v1/snapshot", "sdk-prod").body == origin_bytes
            && get(&r2.addr, "/v1/snapshot", "sdk-prod").body == origin_bytes
    });

    // A bad publish changes nothing anywhere.
    let bad = admin(
        &o.addr,
        "PUT",
        "/admin/v1/envs/prod/rules",
        "adm",
        "flag x { default nope }",
    );
    assert_eq!(bad.status, 400);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sdk.version(), Some(rolled));
    assert_eq!(served_version(&r2.addr), Some(rolled));

    // Relays refuse unknown keys with 401 and reveal nothing.
    for a in [&r1.addr, &r2.addr] {
        let r = get(a, "/v1/snapshot", "sdk-wrong");
        assert_eq!(r.status, 401);
        assert!(!r.text().contains("prod"));
        assert_eq!(Stream::open(a, "sdk-wrong", None).status, 401);
    }
}

#[test]
fn a_restarted_relay_answers_503_then_200_and_sdks_ride_through() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin(dir.path());
    let v = publish(&o.addr, "prod", V1);
    let mut r1 = relay(&o.addr, &[]);
    let sdk = client(&r1.addr);
    assert!(sdk.wait_ready(WAIT));
    assert_eq!(sdk.version(), Some(v));
    let addr = r1.addr.clone();
    r1.kill9();

    // The SDK keeps serving while the relay is gone; meanwhile a publish.
    let alice = Context::with_key("alice");
    assert!(sdk.bool_value(&alice, "checkout", false));
    let v2 = publish(&o.addr, "prod", &V1.replace("alice", "dave"));

    // A relay whose upstream is not there yet answers valid keys 503, never 401.
    let dead_upstream = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let lonely = relay(&dead_upstream, &[]);
    let r = get(&lonely.addr, "/v1/snapshot", "sdk-prod");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(Stream::open(&lonely.addr, "sdk-prod", None).status, 503);
    assert_eq!(get(&lonely.addr, "/v1/snapshot", "sdk-other").status, 401);
    let ready = platform::request(&lonely.addr, "GET", "/readyz", &[], b"");
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["missing"][0], "prod");
    assert_eq!(
        platform::request(&lonely.addr, "GET", "/healthz", &[], b"").status,
        200
    );

    // The relay comes back on its address: loads, answers 200, the SDK
    // reconnects and catches up.
    let r1 = relay_at(&addr, &o.addr, &[]);
    eventually("the relay to load", || served_version(&r1.addr) == Some(v2));
    assert_eq!(
        platform::request(&r1.addr, "GET", "/readyz", &[], b"").status,
        200
    );
    eventually("the SDK to catch up", || sdk.version() == Some(v2));
    assert!(!sdk.bool_value(&alice, "checkout", true));
}

#[test]
fn origin_down_relays_go_stale_and_catch_up_by_delta() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = origin(dir.path());
    let origin_addr = o.addr.clone();
    let v = publish(&o.addr, "prod", V1);
    let r1 = relay(&o.addr, &[]);
    let sdk = client(&r1.addr);
    assert!(sdk.wait_ready(WAIT));
    eventually("v1 everywhere", || sdk.version() == Some(v));
    // A stream on the relay, held by version, to see how it catches up.
    let mut s = Stream::open(&r1.addr, "sdk-prod", Some(v));
    o.kill9();

    eventually("the relay to report stale", || {
        let r = platform::request(&r1.addr, "GET", "/readyz", &[], b"");
        r.status == 200 && r.json()["stale"][0] == "prod"
    });
    let body = platform::request(&r1.addr, "GET", "/readyz", &[], b"").json();
    assert!(
        body["environments"]["prod"]["stale_since"].is_string(),
        "{body}"
    );
    assert_eq!(
        served_version(&r1.addr),
        Some(v),
        "the last state keeps serving"
    );
    assert!(sdk.bool_value(&Context::with_key("alice"), "checkout", false));

    // The origin returns on the same address and data; a new publish
    // arrives at the relay's stream as a delta.
    let o2 = Server::start(
        &o.args
            .iter()
            .map(|a| {
                if a == "127.0.0.1:0" {
                    origin_addr.as_str()
                } else {
                    a.as_str()
                }
            })
            .collect::<Vec<_>>(),
    );
    eventually("the relay to be fresh again", || {
        platform::request(&r1.addr, "GET", "/readyz", &[], b"").json()["stale"]
            .as_array()
            .is_some_and(|a| a.is_empty())
    });
    let v2 = publish(&o2.addr, "prod", &V1.replace("alice", "erin"));
    eventually("the SDK to catch up", || sdk.version() == Some(v2));
    let mut saw_delta = false;
    while let Some(u) = s.next_update(Duration::from_secs(5)) {
        if u.version() == v2 {
            saw_delta = matches!(u, vexil::protocol::Update::Delta { .. });
            break;
        }
    }
    assert!(
        saw_delta,
        "the relay's stream did not carry v{v2} as a delta"
    );
}

#[test]
fn max_stream_age_closes_streams_and_clients_resume() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin(dir.path());
    let v = publish(&o.addr, "prod", V1);
    let r = relay(&o.addr, &["--max-stream-age", "1"]);
    eventually("the relay to load", || served_version(&r.addr) == Some(v));
    let mut s = Stream::open(&r.addr, "sdk-prod", Some(v));
    assert!(
        s.closed_within(Duration::from_secs(5)),
        "not closed by its age"
    );
    let sdk = client(&r.addr);
    assert!(sdk.wait_ready(WAIT));
    std::thread::sleep(Duration::from_millis(2500));
    let v2 = publish(&o.addr, "prod", &V1.replace("alice", "frank"));
    eventually("changes still arrive across stream rotations", || {
        sdk.version() == Some(v2)
    });
}

/// `vexil watch` against a relay: the lines SPEC §3 describes.
#[test]
fn watch_prints_each_change_as_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin(dir.path());
    let v = publish(&o.addr, "prod", V1);
    let r = relay(&o.addr, &[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_vexil"))
        .args([
            "watch",
            "--upstream",
            &format!("http://{}", r.addr),
            "--sdk-key",
            "sdk-prod",
            "--flag",
            "checkout",
            "--flag",
            "color",
            "--context",
            r#"{"key":"alice"}"#,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || -> serde_json::Value {
        let line = rx.recv_timeout(WAIT).expect("a line from watch");
        serde_json::from_str(&line).expect("JSON")
    };
    let mut first = [next(), next()];
    first.sort_by_key(|l| l["flag"].as_str().unwrap().to_string());
    assert_eq!(first[0]["flag"], "checkout");
    assert_eq!(first[0]["value"], true);
    assert_eq!(first[0]["version"], v);
    assert_eq!(first[1]["flag"], "color");
    assert_eq!(first[1]["value"], "r");
    // A change to color only: one line, for color.
    let v2 = publish(&o.addr, "prod", &V1.replace("default red", "default blue"));
    let line = next();
    assert_eq!(line["flag"], "color");
    assert_eq!(line["value"], "b");
    assert_eq!(line["version"], v2);
    // A kill of checkout: one line.
    admin(
        &o.addr,
        "POST",
        "/admin/v1/envs/prod/flags/checkout/kill",
        "adm",
        "",
    );
    let line = next();
    assert_eq!(line["flag"], "checkout");
    assert_eq!(line["reason"], "DISABLED");
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "nothing else"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
