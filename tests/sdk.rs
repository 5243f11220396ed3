//! The SDK client and `vexil watch` against a fake upstream (SPEC §3, §4):
//! loopback only, port 0, every wait bounded, every server stopped.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::upstream::{Fake, Upstream};
use support::{eventually, free_addr, snap};
use vexil::context::Context;
use vexil::detail::ErrorCode;
use vexil::sdk::{Client, ClientBuilder, Status};

const KEY: &str = "sdk-test";
const WAIT: Duration = Duration::from_secs(10);

const V1: &str = r#"
    segment beta { include ["bob"] }
    flag a { default off rule "beta" if segment beta => on }
    flag b { variations { x: "x", y: "y" } default x }
"#;

fn v2() -> String {
    V1.replace("default x", "default y")
}

fn v3() -> String {
    V1.replace(r#"include ["bob"]"#, r#"include ["bob", "alice"]"#)
}

fn quick(url: &str) -> ClientBuilder {
    Client::builder(url, KEY)
        .init_timeout(WAIT)
        .reconnect_base(Duration::from_millis(50))
        .reconnect_max(Duration::from_millis(300))
        .poll_interval(Duration::from_millis(200))
}

fn alice() -> Context {
    Context::with_key("alice")
}

fn b_of(client: &Client) -> String {
    client.string_value(&alice(), "b", "default")
}

#[test]
fn blocking_init_gets_the_first_state_then_a_delta_applies() {
    let up = Upstream::start(KEY);
    up.fake.set_state(snap(V1, 1));
    let client = quick(&up.url()).build().expect("client");
    assert!(client.is_ready(), "build blocks until the first state");
    assert_eq!(client.version(), Some(1));
    assert_eq!(b_of(&client), "x");
    assert!(!client.bool_value(&alice(), "a", true));
    assert_eq!(
        client.wait_for_status(WAIT, |s| s == Status::Streaming),
        Status::Streaming
    );
    let seen = up.fake.seen();
    assert_eq!(seen[0].path, "stream");
    assert_eq!(seen[0].authorization.as_deref(), Some(KEY));
    assert_eq!(seen[0].last_event_id, None, "nothing held yet");

    let changes = client.subscribe();
    up.fake.publish_delta(snap(&v2(), 2));
    let change = changes.recv_timeout(WAIT).expect("a change");
    assert_eq!(change.version, 2);
    assert_eq!(change.flags, ["b"]);
    assert_eq!(b_of(&client), "y");

    // A segment edit names the flags that use it.
    up.fake
        .publish_delta(snap(&v3().replace("default x", "default y"), 3));
    let change = changes.recv_timeout(WAIT).expect("a change");
    assert_eq!((change.version, change.flags), (3, vec!["a".to_string()]));
    assert!(client.bool_value(&alice(), "a", false));
    assert_eq!(
        client.detail(&alice(), "a").rule.as_deref(),
        Some("beta"),
        "the owned detail names the rule"
    );
    assert!(
        up.fake.seen().iter().all(|s| s.path == "stream"),
        "deltas applied without fetching the snapshot"
    );
    client.close();
}

#[test]
fn a_corrupt_delta_is_refused_and_the_full_state_is_fetched() {
    let up = Upstream::start(KEY);
    up.fake.set_state(snap(V1, 1));
    let client = quick(&up.url()).build().expect("client");
    assert_eq!(client.version(), Some(1));

    // Garbage of every kind first: unknown events, a bad data line.
    up.fake
        .send_raw(b"event: message\ndata: hello\n\n: comment\n\nevent: patch\ndata: {not json\n\n");
    // Then a patch for the right base whose bytes are damaged; meanwhile
    // the upstream's state moved to version 2.
    let good = snap(&v2(), 2);
    let mut patch = vexil::snapshot::make_patch_from(&snap(V1, 1), &good).expect("patch");
    let last = patch.len() - 1;
    patch[last] ^= 0x40;
    up.fake.set_state(good);
    up.fake.send_raw(
        &vexil::protocol::Update::Delta {
            version: 2,
            base: 1,
            patch,
        }
        .to_sse(),
    );
    assert!(eventually(WAIT, || client.version() == Some(2)), "resynced");
    assert_eq!(b_of(&client), "y");
    let fetches: Vec<_> = up
        .fake
        .seen()
        .into_iter()
        .filter(|s| s.path == "snapshot")
        .collect();
    assert!(!fetches.is_empty(), "the full state was fetched");
    assert!(fetches
        .iter()
        .all(|s| s.if_none_match.as_deref() == Some("\"1\"")));

    // A delta for another base also means: fetch the full state.
    up.fake.set_state(snap(V1, 4));
    up.fake.send_raw(
        &vexil::protocol::Update::Delta {
            version: 4,
            base: 3,
            patch: b"whatever".to_vec(),
        }
        .to_sse(),
    );
    assert!(eventually(WAIT, || client.version() == Some(4)));
    assert_eq!(b_of(&client), "x");

    // A corrupt full state (stream and snapshot alike) is refused; 4 keeps serving.
    let mut bytes = snap(&v2(), 5).to_bytes();
    bytes[20] ^= 1;
    up.fake.set_snapshot_body(Some(bytes.clone()));
    up.fake.set_state(snap(&v2(), 5));
    up.fake.send_raw(
        &vexil::protocol::Update::Full {
            version: 5,
            snapshot: bytes,
        }
        .to_sse(),
    );
    assert!(eventually(WAIT, || up.fake.seen().len() >= fetches.len() + 3));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(client.version(), Some(4));
    assert_eq!(b_of(&client), "x");
    assert_eq!(client.status(), Status::Streaming, "the stream stays up");
    client.close();
}

#[test]
fn garbage_and_oversized_events_never_stop_the_client() {
    let up = Upstream::start(KEY);
    up.fake.set_state(snap(V1, 1));
    let client = quick(&up.url())
        .feed_config(|c| c.max_event_bytes = 64 << 10)
        .build()
        .expect("client");
    assert_eq!(client.version(), Some(1));
    let mut rng = fastrand::Rng::with_seed(42);
    for round in 0..50 {
        let mut chunk: Vec<u8> = (0..rng.usize(1..300)).map(|_| rng.u8(..)).collect();
        if round % 5 == 0 {
            chunk.extend_from_slice(
                b"\nevent: put\nid: 9\ndata: {\"version\":9,\"snapshot\":\"AAAA\"}\n\n",
            );
        }
        if round % 7 == 0 {
            chunk.extend_from_slice(
                b"\nevent: patch\ndata: {\"version\":2,\"base\":1,\"patch\":\"%%\"}\n\n",
            );
        }
        up.fake.send_raw(&chunk);
    }
    // One event over the size cap: the stream is refused and reopened.
    up.fake.send_raw(b"\n\ndata: ");
    up.fake.send_raw(&vec![b'x'; 70 << 10]);
    up.fake.set_state(snap(&v2(), 2));
    assert!(
        eventually(WAIT, || client.version() == Some(2)),
        "recovered"
    );
    assert_eq!(b_of(&client), "y");
    assert!(eventually(WAIT, || up.fake.open_streams() == 1));
    up.fake.publish_delta(snap(&v3(), 3));
    assert!(
        eventually(WAIT, || client.version() == Some(3)),
        "and streams again"
    );
    client.close();
}

#[test]
fn a_stream_cut_mid_event_reconnects_with_the_version_held() {
    let up = Upstream::start(KEY);
    up.fake.set_state(snap(V1, 1));
    let client = quick(&up.url()).build().expect("client");
    up.fake.publish_delta(snap(&v2(), 2));
    assert!(eventually(WAIT, || client.version() == Some(2)));

    let next = snap(&v3(), 3);
    let event = vexil::protocol::Update::Full {
        version: 3,
        snapshot: next.to_bytes(),
    }
    .to_sse();
    up.fake.set_state(next);
    up.fake.send_raw(&event[..event.len() / 2]);
    up.fake.cut_streams();

    assert!(
        eventually(WAIT, || client.version() == Some(3)),
        "caught up"
    );
    assert!(client.bool_value(&alice(), "a", false));
    let streams: Vec<_> = up
        .fake
        .seen()
        .into_iter()
        .filter(|s| s.path == "stream")
        .collect();
    assert!(streams.len() >= 2, "reconnected: {streams:?}");
    assert_eq!(streams[1].last_event_id.as_deref(), Some("2"));
    assert_eq!(
        client.wait_for_status(WAIT, |s| s == Status::Streaming),
        Status::Streaming
    );
    client.close();
}

#[test]
fn a_silent_stream_is_reconnected_after_the_read_timeout() {
    let up = Upstream::start(KEY);
    up.fake.set_state(snap(V1, 1));
    let client = quick(&up.url())
        .read_timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    // Keep-alives hold it open...
    for _ in 0..6 {
        up.fake.send_raw(vexil::protocol::KEEPALIVE);
        std::thread::sleep(Duration::from_millis(100));
    }
    let streams = |up: &Upstream| up.fake.seen().iter().filter(|s| s.path == "stream").count();
    assert_eq!(streams(&up), 1, "keep-alives keep the stream");
    // ...silence does not.
    assert!(eventually(WAIT, || streams(&up) >= 2), "reconnected");
    let again = up
        .fake
        .seen()
        .into_iter()
        .filter(|s| s.path == "stream")
        .nth(1);
    assert_eq!(again.and_then(|s| s.last_event_id).as_deref(), Some("1"));
    assert_eq!(client.version(), Some(1));
    client.close();
}

#[test]
fn polling_serves_while_the_stream_fails_and_the_stream_comes_back() {
    let up = Upstream::start(KEY);
    up.fake.set_state(snap(V1, 1));
    up.fake.set_stream_status(Some(500));
    let client = quick(&up.url()).build().expect("client");
    assert_eq!(
        client.version(),
        Some(1),
        "the snapshot was fetched at once"
    );
    assert_eq!(
        client.wait_for_status(WAIT, |s| s == Status::Polling),
        Status::Polling
    );
    // Polls repeat with If-None-Match and get 304 while nothing changes.
    assert!(eventually(WAIT, || up
        .fake
        .seen()
        .iter()
        .any(|s| s.path == "snapshot"
            && s.status == 304
            && s.if_none_match.as_deref() == Some("\"1\""))));
    up.fake.set_state(snap(&v2(), 2));
    assert!(eventually(WAIT, || client.version() == Some(2)), "polled");
    assert_eq!(client.status(), Status::Polling);

    up.fake.set_stream_status(None);
    assert_eq!(
        client.wait_for_status(WAIT, |s| s == Status::Streaming),
        Status::Streaming
    );
    up.fake.publish_delta(snap(&v3(), 3));
    assert!(eventually(WAIT, || client.version() == Some(3)));
    client.close();
}

#[test]
fn a_stream_that_ends_before_its_first_byte_counts_as_down() {
    let up = Upstream::start(KEY);
    up.fake.set_state(snap(V1, 1));
    up.fake.set_stream_empty(true);
    let client = quick(&up.url()).build().expect("client");
    assert_eq!(client.version(), Some(1), "the snapshot was fetched");
    up.fake.set_state(snap(&v2(), 2));
    assert!(
        eventually(WAIT, || client.version() == Some(2)),
        "and polled"
    );
    up.fake.set_stream_empty(false);
    assert!(eventually(WAIT, || up.fake.open_streams() == 1));
    up.fake.publish_delta(snap(&v3(), 3));
    assert!(eventually(WAIT, || client.version() == Some(3)));
    client.close();
}

#[test]
fn with_the_upstream_down_defaults_are_served_then_it_catches_up() {
    let addr = free_addr();
    let client = quick(&format!("http://{addr}"))
        .init_timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    assert!(!client.is_ready());
    assert!(
        client.bool_value(&alice(), "a", true),
        "the caller's default"
    );
    assert_eq!(b_of(&client), "default");
    assert_eq!(
        client.detail(&alice(), "a").error,
        Some(ErrorCode::ProviderNotReady)
    );
    assert_eq!(
        client.wait_for_status(WAIT, |s| s == Status::Offline),
        Status::Offline
    );

    let fake = Fake::new();
    fake.set_state(snap(V1, 1));
    let up = Upstream::start_on(addr, KEY, fake).expect("the port is free again");
    assert!(
        client.wait_ready(WAIT),
        "caught up when the upstream came up"
    );
    assert_eq!(b_of(&client), "x");
    drop(up);
    // Down again: the last state keeps serving.
    assert_eq!(
        client.wait_for_status(WAIT, |s| s == Status::Offline),
        Status::Offline
    );
    assert_eq!(b_of(&client), "x");
    client.close();
}

#[test]
fn the_cache_serves_a_cold_start_with_the_upstream_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("flags.snapshot");
    {
        let up = Upstream::start(KEY);
        up.fake.set_state(snap(V1, 1));
        let client = quick(&up.url()).cache(&cache).build().expect("client");
        up.fake.publish_delta(snap(&v2(), 2));
        assert!(eventually(WAIT, || client.version() == Some(2)));
        assert!(eventually(WAIT, || vexil::snapshot::open(&cache)
            .is_ok_and(|s| s.version() == 2)));
        client.close();
    }
    let down = format!("http://{}", free_addr());
    let client = quick(&down)
        .cache(&cache)
        .init_timeout(Duration::ZERO)
        .build()
        .expect("client");
    assert!(client.is_ready(), "the cache is a state");
    assert_eq!(client.version(), Some(2));
    assert_eq!(b_of(&client), "y");
    client.close();

    // A damaged cache is ignored, not fatal.
    let mut bytes = std::fs::read(&cache).expect("cache");
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&cache, bytes).expect("write");
    let client = quick(&down)
        .cache(&cache)
        .init_timeout(Duration::ZERO)
        .build()
        .expect("client");
    assert!(!client.is_ready());
    assert_eq!(b_of(&client), "default");
    client.close();
}

#[test]
fn unauthorized_and_unavailable_keep_the_last_state_serving() {
    let up = Upstream::start(KEY);
    up.fake.set_state(snap(V1, 1));
    let client = quick(&up.url()).build().expect("client");
    assert_eq!(client.version(), Some(1));

    // The key is revoked: 401 on both endpoints.
    up.fake.set_key("another-key");
    up.fake.set_state(snap(&v2(), 2));
    up.fake.cut_streams();
    assert_eq!(
        client.wait_for_status(WAIT, |s| s == Status::Offline),
        Status::Offline
    );
    assert_eq!(b_of(&client), "x", "the last state keeps serving");
    assert!(up.fake.seen().iter().any(|s| s.status == 401));

    // It never gives up: the key comes back, and so does the state.
    up.fake.set_key(KEY);
    assert!(eventually(WAIT, || client.version() == Some(2)));

    // A relay that lost its state answers 503: also only a wait.
    up.fake.set_stream_status(Some(503));
    up.fake.set_snapshot_status(Some(503));
    up.fake.cut_streams();
    assert_eq!(
        client.wait_for_status(WAIT, |s| s == Status::Offline),
        Status::Offline
    );
    assert_eq!(b_of(&client), "y");
    up.fake.set_stream_status(None);
    up.fake.set_snapshot_status(None);
    assert_eq!(
        client.wait_for_status(WAIT, |s| s == Status::Streaming),
        Status::Streaming
    );
    client.close();
}

#[test]
fn close_stops_the_feed_promptly_and_closes_subscriptions() {
    let up = Upstream::start(KEY);
    up.fake.set_state(snap(V1, 1));
    let client = quick(&up.url()).build().expect("client");
    let changes = client.subscribe();
    assert!(eventually(WAIT, || up.fake.open_streams() == 1));
    let started = std::time::Instant::now();
    client.close();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        changes.recv_timeout(WAIT),
        Err(vexil::sdk::changes::RecvError::Closed)
    );
    assert!(
        eventually(WAIT, || up.fake.open_streams() == 0),
        "the stream was dropped"
    );
    assert_eq!(b_of(&client), "x", "a closed client still answers");
}

#[test]
fn https_without_tls_is_refused_at_build() {
    let err = Client::builder("https://example.invalid", KEY)
        .build()
        .expect_err("no TLS in this build");
    assert!(err.to_string().contains("TLS"), "{err}");
    assert!(Client::builder("not a url", KEY).build().is_err());
    assert!(Client::builder("http://127.0.0.1:1", "bad\nkey")
        .build()
        .is_err());
}

// ---- `vexil watch`, the binary ------------------------------------------------

struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watch {
    fn spawn(url: &str, extra: &[&str]) -> Watch {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vexil"))
            .args(["watch", "--upstream", url, "--sdk-key", KEY])
            .args(["--context", r#"{"key":"alice"}"#])
            .args(["--poll-interval", "0.2", "--reconnect-base-ms", "50"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("vexil runs");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines }
    }

    fn line(&self) -> serde_json::Value {
        let line = self.lines.recv_timeout(WAIT).expect("a line in time");
        serde_json::from_str(&line).expect("a JSON line")
    }

    fn nothing_for(&self, d: Duration) {
        if let Ok(line) = self.lines.recv_timeout(d) {
            panic!("unexpected line {line}");
        }
    }

    /// SIGTERM, then a bounded wait for exit 0.
    fn terminate(self) {
        self.signal("-TERM");
    }

    /// Sends `signal` (`-TERM`, `-INT`), then waits (bounded) for exit 0.
    fn signal(mut self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "exit status {status:?}");
                return;
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("watch did not exit on {signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn watch_prints_first_state_then_only_changes_and_exits_0_on_sigterm() {
    let up = Upstream::start(KEY);
    up.fake.set_state(snap(V1, 1));
    let watch = Watch::spawn(&up.url(), &["--flag", "a", "--flag", "nope"]);
    assert_eq!(
        watch.line(),
        serde_json::json!({"flag":"a","value":false,"variation":"off","reason":"DEFAULT","version":1})
    );
    assert_eq!(
        watch.line(),
        serde_json::json!({"flag":"nope","value":null,"reason":"ERROR","error":"FLAG_NOT_FOUND","version":1})
    );
    assert!(eventually(WAIT, || up.fake.open_streams() == 1));
    // Version 2 changes `b` only: nothing printed for `a` or `nope`.
    up.fake.publish_delta(snap(&v2(), 2));
    watch.nothing_for(Duration::from_millis(500));
    // Version 3 puts alice in the segment: `a` changes.
    up.fake.publish_delta(snap(&v3(), 3));
    assert_eq!(
        watch.line(),
        serde_json::json!({"flag":"a","value":true,"variation":"on","reason":"TARGETING_MATCH","rule":"beta","version":3})
    );
    watch.nothing_for(Duration::from_millis(200));
    watch.terminate();
}

#[test]
fn watch_without_flags_prints_every_flag_and_not_ready_after_the_timeout() {
    let addr = free_addr();
    let url = format!("http://{addr}");
    let watch = Watch::spawn(&url, &["--flag", "b", "--init-timeout", "0.3"]);
    assert_eq!(
        watch.line(),
        serde_json::json!({"flag":"b","value":null,"reason":"ERROR","error":"PROVIDER_NOT_READY"})
    );
    watch.nothing_for(Duration::from_millis(400));
    let fake = Fake::new();
    fake.set_state(snap(V1, 7));
    let up = Upstream::start_on(addr, KEY, fake).expect("the port is free again");
    assert_eq!(
        watch.line(),
        serde_json::json!({"flag":"b","value":"x","variation":"x","reason":"DEFAULT","version":7})
    );
    watch.terminate();

    // No --flag: every flag of the state, in its order, and the cache.
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("watch.snapshot");
    let cache_arg = cache.to_str().expect("utf-8 path");
    let watch = Watch::spawn(&up.url(), &["--cache", cache_arg]);
    let first = [watch.line(), watch.line()];
    let flags: Vec<_> = first.iter().map(|l| l["flag"].clone()).collect();
    assert_eq!(flags, ["a", "b"]);
    assert!(first.iter().all(|l| l["version"] == 7));
    assert!(eventually(WAIT, || cache.exists()));
    watch.signal("-INT");
    drop(up);

    // Upstream gone: the cache is the first state.
    let watch = Watch::spawn(&url, &["--cache", cache_arg, "--flag", "b"]);
    assert_eq!(watch.line()["version"], 7);
    watch.nothing_for(Duration::from_millis(300));
    watch.terminate();
}

#[test]
fn watch_with_a_bad_context_is_a_one_line_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_vexil"))
        .args([
            "watch",
            "--upstream",
            "http://127.0.0.1:1",
            "--sdk-key",
            KEY,
        ])
        .args(["--context", "[1,2]"])
        .output()
        .expect("vexil runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--context"), "{stderr}");
    assert!(out.stdout.is_empty());
}
