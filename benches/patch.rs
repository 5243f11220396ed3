//! What a delta costs: a snapshot of 500 flags × 10 rules plus a segment of
//! 1,000,000 keys, in which one flag changes. Measures, as medians of
//! several runs: making the patch (origin, once per publish), applying it
//! (every relay and SDK), and for comparison loading the full snapshot.
//!
//! Run: `cargo bench --bench patch` (runs: `VEXIL_PATCH_RUNS`, default 7).
//! Not a criterion bench: each step takes milliseconds and allocates
//! hundreds of megabytes, so a handful of timed runs is the honest figure.

use std::time::{Duration, Instant};

use vexil::check::{self, Limits, Source};
use vexil::compile;
use vexil::snapshot::{self, Snapshot, SnapshotMeta};

mod data;

fn build(text: &str, version: u64, base: Option<&Snapshot>) -> Snapshot {
    let sources = [Source {
        name: "patch.flags".into(),
        text: text.into(),
    }];
    let program = check::check(&sources, &Limits::default()).expect("the workload checks");
    let rs = compile::compile_with_keys(&program, base.map(Snapshot::ruleset))
        .expect("the workload compiles");
    Snapshot::new(
        rs,
        SnapshotMeta {
            version,
            environment: "bench".into(),
        },
    )
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed());
        last = Some(out);
    }
    (median(times), last.expect("at least one run"))
}

fn main() {
    let runs: usize = std::env::var("VEXIL_PATCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7)
        .max(1);
    let source = data::snapshot_source();
    let base = build(
        &format!("{source}\nflag patch-probe {{ default off }}\n"),
        1,
        None,
    );
    let next = build(
        &format!("{source}\nflag patch-probe {{ default on }}\n"),
        2,
        Some(&base),
    );
    let base_bytes = base.to_bytes();
    let (make, patch) = time(runs, || {
        snapshot::make_patch_from(&base, &next).expect("a patch")
    });
    // A follower's steady state: its snapshot came from the previous patch,
    // whose units it keeps.
    let _ = snapshot::apply_patch_to(&base, &patch).expect("the patch applies");
    let (apply, applied) = time(runs, || {
        snapshot::apply_patch_to(&base, &patch).expect("the patch applies")
    });
    // The first patch after a full load: the units are unlinked first.
    let mut cold_runs = Vec::new();
    for _ in 0..runs {
        let fresh = snapshot::from_bytes(&base_bytes).expect("the snapshot loads");
        let t = Instant::now();
        snapshot::apply_patch_to(&fresh, &patch).expect("the patch applies");
        cold_runs.push(t.elapsed());
    }
    let cold = median(cold_runs);
    assert_eq!(
        applied.to_bytes(),
        next.to_bytes(),
        "the patch reproduces v2"
    );
    let (load, _) = time(runs, || {
        snapshot::from_bytes(&base_bytes).expect("the snapshot loads")
    });
    println!(
        "patch: snapshot {} bytes, patch {} bytes; make {:.2?}, apply {:.2?} (first after a full load {:.2?}), full load {:.2?} (medians of {runs})",
        base_bytes.len(),
        patch.len(),
        make,
        apply,
        cold,
        load
    );
}
