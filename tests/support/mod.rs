//! Shared helpers of the SDK tests.

pub mod upstream;

use std::time::{Duration, Instant};

use vexil::check::Source;
use vexil::compile::{compile_sources, CompileOptions};
use vexil::snapshot::{Snapshot, SnapshotMeta};

/// Compiles `text` into a snapshot of `version`.
pub fn snap(text: &str, version: u64) -> Snapshot {
    let sources = [Source {
        name: "t.flags".into(),
        text: text.into(),
    }];
    let ruleset =
        compile_sources(&sources, &CompileOptions::default()).expect("test rules compile");
    Snapshot::new(
        ruleset,
        SnapshotMeta {
            version,
            environment: "test".into(),
        },
    )
}

/// Polls `cond` every 10 ms for at most `timeout`; true if it held.
#[allow(dead_code)]
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A free loopback port, with nothing listening on it (for an upstream
/// that comes up later).
#[allow(dead_code)]
pub fn free_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}
