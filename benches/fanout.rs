//! Propagation latency: a publish at the origin reaching 1,000 SSE streams
//! behind two chained relays (origin → relay A → relay B; 500 streams on
//! each relay). Real processes on loopback; each stream is a plain socket
//! read by its own thread, which stamps the moment the `patch` event of the
//! published version is complete.
//!
//! Run: `cargo bench --bench fanout` (optionally `-- STREAMS ROUNDS`).
//! Prints p50 / p90 / p99 / max from the start of the publish request, and
//! fails if any stream misses any version. Not run by CI (a measurement,
//! not a test); the figures are in docs/operations.md.

#[path = "../tests/platform/mod.rs"]
mod platform;

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use platform::{publish, Server, Stream};
use vexil::protocol::Update;

const SOURCE: &str = include_str!("../corpus/bench/typical.flags");

fn relay(upstream: &str) -> Server {
    Server::start(&[
        "relay",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &format!("http://{upstream}"),
        "--env",
        "prod=sdk-prod",
        "--keepalive-secs",
        "5",
    ])
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let streams = args.first().copied().unwrap_or(1000);
    let rounds = args.get(1).copied().unwrap_or(20) as u64;
    let dir = tempfile::tempdir().expect("temp dir");
    let origin = platform::origin(dir.path());
    let version0 = publish(&origin.addr, "prod", SOURCE);
    let relay_a = relay(&origin.addr);
    let relay_b = relay(&relay_a.addr);
    // Both relays loaded.
    for r in [&relay_a, &relay_b] {
        platform::eventually("the relay to load", || {
            platform::get(&r.addr, "/v1/snapshot", "sdk-prod").status == 200
        });
    }

    let (tx, rx) = mpsc::channel::<(usize, u64, Instant)>();
    let ready = Arc::new(Barrier::new(streams + 1));
    let mut readers = Vec::new();
    for i in 0..streams {
        let addr = if i % 2 == 0 {
            relay_a.addr.clone()
        } else {
            relay_b.addr.clone()
        };
        let (tx, ready) = (tx.clone(), ready.clone());
        readers.push(
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let mut s = Stream::open(&addr, "sdk-prod", None);
                    // The full state first.
                    let first = s.next_update(platform::WAIT).expect("the full state");
                    assert!(first.version() >= version0);
                    ready.wait();
                    while let Some(u) = s.next_update(Duration::from_secs(30)) {
                        let at = Instant::now();
                        if let Update::Delta { version, .. } = u {
                            let _ = tx.send((i, version, at));
                            if version == version0 + rounds {
                                break;
                            }
                        }
                    }
                })
                .expect("a reader thread"),
        );
    }
    drop(tx);
    ready.wait();
    eprintln!("{streams} streams open (half on relay A, half on relay B behind it)");

    let mut latencies = Vec::new();
    let mut per_round_max = Vec::new();
    for round in 1..=rounds {
        let text = format!(
            "{SOURCE}\nflag fanout-probe {{ variations {{ a: {round}, b: 0 }} default a }}\n"
        );
        let start = Instant::now();
        let v = publish(&origin.addr, "prod", &text);
        assert_eq!(v, version0 + round);
        let mut got = vec![false; streams];
        let mut count = 0;
        let mut max = Duration::ZERO;
        while count < streams {
            let (i, version, at) = rx
                .recv_timeout(platform::WAIT)
                .unwrap_or_else(|_| panic!("round {round}: only {count}/{streams} streams got it"));
            assert_eq!(
                version, v,
                "stream {i} got version {version} in round {round}"
            );
            assert!(!got[i], "stream {i} got version {version} twice");
            got[i] = true;
            count += 1;
            let d = at.duration_since(start);
            max = max.max(d);
            latencies.push(d);
        }
        per_round_max.push(max);
        std::thread::sleep(Duration::from_millis(100));
    }
    for r in readers {
        r.join().expect("reader thread");
    }
    latencies.sort();
    per_round_max.sort();
    println!(
        "fanout: {streams} streams x {rounds} publishes, none lost: p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  max {:.2?}; slowest stream per publish, median {:.2?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
        percentile(&per_round_max, 0.50),
    );
}
