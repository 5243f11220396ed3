//! Evaluation latency while snapshots are swapped in (not a criterion bench).
//!
//! Two reader threads evaluate the typical flag in a loop, each evaluation
//! being what an SDK call does: `Store::load()`, `prepare` the context,
//! `detail(key)`. A writer thread decodes and validates a snapshot from
//! bytes (`from_bytes`) and swaps it in through the `Store` every 10 ms.
//! Readers time batches of 64 evaluations with `Instant` (so timer overhead
//! stays out of the figure) and record the per-evaluation average of each
//! batch in an HDR histogram; the longest batch is the worst stall a reader
//! saw. A quiet phase without swaps runs first as the baseline.
//!
//! Run: `cargo bench --bench swap_latency` (seconds of the swapping phase:
//! `VEXIL_SWAP_SECS`, default 3; reader threads: `VEXIL_SWAP_READERS`,
//! default 2).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use vexil::snapshot::{from_bytes, to_bytes, Snapshot, SnapshotMeta, Store};

mod data;

const BATCH: u64 = 64;
const SWAP_EVERY: Duration = Duration::from_millis(10);

struct ReaderResult {
    hist: Histogram<u64>,
    evaluations: u64,
    longest_batch: Duration,
    /// Batches that took more than 100 µs (≥ 1.5 µs per evaluation).
    slow_batches: u64,
    /// Of those, batches during which the serving version changed.
    slow_with_swap: u64,
    /// Longest batch during which the serving version changed.
    longest_with_swap: Duration,
    /// Times the OS took the CPU away from this reader (Linux only; 0 elsewhere).
    preempted: u64,
    checksum: usize,
}

/// Involuntary context switches of the calling thread so far (Linux), else 0.
fn preemptions() -> u64 {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

struct WriterResult {
    swaps: u64,
    decode: Histogram<u64>,
    store: Histogram<u64>,
}

fn reader(
    store: &Store,
    contexts: &[vexil::context::Context],
    stop: &AtomicBool,
    seed: usize,
) -> ReaderResult {
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
    let mut evaluations = 0u64;
    let mut longest_batch = Duration::ZERO;
    let mut slow_batches = 0u64;
    let mut slow_with_swap = 0u64;
    let mut longest_with_swap = Duration::ZERO;
    let mut checksum = 0usize;
    let mut i = seed % contexts.len();
    let preempted_before = preemptions();
    while !stop.load(Ordering::Relaxed) {
        let version = store.version();
        let start = Instant::now();
        for _ in 0..BATCH {
            let snapshot = store.load();
            let prepared = snapshot.ruleset().prepare(&contexts[i]);
            let detail = prepared.detail(data::TYPICAL_KEY);
            checksum = checksum.wrapping_add(detail.variation.map_or(0, str::len));
            i += 1;
            if i == contexts.len() {
                i = 0;
            }
        }
        let took = start.elapsed();
        let per_eval = (took.as_nanos() as u64 / BATCH).max(1);
        hist.record(per_eval).expect("value within bounds");
        evaluations += BATCH;
        if took > longest_batch {
            longest_batch = took;
        }
        let swapped = store.version() != version;
        if swapped {
            longest_with_swap = longest_with_swap.max(took);
        }
        if took > Duration::from_micros(100) {
            slow_batches += 1;
            slow_with_swap += u64::from(swapped);
        }
    }
    ReaderResult {
        hist,
        evaluations,
        longest_batch,
        slow_batches,
        slow_with_swap,
        longest_with_swap,
        preempted: preemptions() - preempted_before,
        checksum,
    }
}

fn writer(
    store: &Store,
    bytes: &[u8],
    stop: &AtomicBool,
    next_version: &AtomicU64,
) -> WriterResult {
    let mut decode =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
    let mut swap_time =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
    let mut swaps = 0;
    let mut tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        tick += SWAP_EVERY;
        let now = Instant::now();
        if tick > now {
            thread::sleep(tick - now);
        }
        // What an SDK does with an update: decode and validate, then swap.
        let t = Instant::now();
        let decoded = from_bytes(bytes).expect("snapshot bytes are valid");
        decode.saturating_record(t.elapsed().as_nanos() as u64);
        let meta = SnapshotMeta {
            version: next_version.fetch_add(1, Ordering::Relaxed),
            environment: decoded.environment().to_string(),
        };
        let snapshot = Snapshot::new(decoded.into_ruleset(), meta);
        let t = Instant::now();
        store.swap(snapshot).expect("versions increase");
        swap_time.saturating_record(t.elapsed().as_nanos() as u64);
        swaps += 1;
    }
    WriterResult {
        swaps,
        decode,
        store: swap_time,
    }
}

/// Reader threads (`VEXIL_SWAP_READERS`, default 2).
fn readers() -> usize {
    std::env::var("VEXIL_SWAP_READERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2)
}

fn run_phase(
    name: &str,
    store: &Arc<Store>,
    contexts: &Arc<Vec<vexil::context::Context>>,
    bytes: &Arc<Vec<u8>>,
    seconds: f64,
    swapping: bool,
    next_version: &Arc<AtomicU64>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let reader_count = readers();
    let readers: Vec<_> = (0..reader_count)
        .map(|r| {
            let (store, contexts, stop) =
                (Arc::clone(store), Arc::clone(contexts), Arc::clone(&stop));
            thread::spawn(move || reader(&store, &contexts, &stop, r * 500))
        })
        .collect();
    let writer_thread = swapping.then(|| {
        let (store, bytes, stop, next) = (
            Arc::clone(store),
            Arc::clone(bytes),
            Arc::clone(&stop),
            Arc::clone(next_version),
        );
        thread::spawn(move || writer(&store, &bytes, &stop, &next))
    });
    let started = Instant::now();
    thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let results: Vec<ReaderResult> = readers
        .into_iter()
        .map(|t| t.join().expect("reader"))
        .collect();
    let elapsed = started.elapsed();
    let written = writer_thread.map(|t| t.join().expect("writer"));

    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
    let mut evaluations = 0;
    let mut longest = Duration::ZERO;
    let mut slow = 0;
    let mut slow_with_swap = 0;
    let mut longest_with_swap = Duration::ZERO;
    let mut preempted = 0;
    let mut checksum = 0usize;
    for r in &results {
        slow_with_swap += r.slow_with_swap;
        longest_with_swap = longest_with_swap.max(r.longest_with_swap);
        preempted += r.preempted;
        hist.add(&r.hist).expect("same bounds");
        evaluations += r.evaluations;
        longest = longest.max(r.longest_batch);
        slow += r.slow_batches;
        checksum = checksum.wrapping_add(r.checksum);
    }
    println!(
        "== {name}: {reader_count} readers, {:.2} s{}",
        elapsed.as_secs_f64(),
        if swapping {
            ", swap every 10 ms"
        } else {
            ", no swaps"
        }
    );
    println!(
        "per-evaluation latency (load + prepare + detail, batch of {BATCH} averaged): p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
        hist.value_at_quantile(0.50),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max()
    );
    println!(
        "evaluations: {evaluations} ({:.2} M/s total, {:.2} M/s per reader)",
        evaluations as f64 / elapsed.as_secs_f64() / 1e6,
        evaluations as f64 / elapsed.as_secs_f64() / 1e6 / reader_count as f64
    );
    println!(
        "longest batch (max reader stall): {:.1} µs; batches over 100 µs: {slow} of {}",
        longest.as_secs_f64() * 1e6,
        evaluations / BATCH
    );
    println!(
        "batches over 100 µs while the version changed: {slow_with_swap}; longest batch spanning a swap: {:.1} µs; reader preemptions by the OS: {preempted}",
        longest_with_swap.as_secs_f64() * 1e6
    );
    if let Some(w) = written {
        println!(
            "swaps: {} (decode+validate p50 {:.2} ms, max {:.2} ms; store p50 {} ns, max {} ns)",
            w.swaps,
            w.decode.value_at_quantile(0.5) as f64 / 1e6,
            w.decode.max() as f64 / 1e6,
            w.store.value_at_quantile(0.5),
            w.store.max()
        );
    }
    println!("(checksum {checksum})");
}

fn main() {
    let seconds: f64 = std::env::var("VEXIL_SWAP_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    // The swapped snapshot: the typical flag plus 500 flags × 10 rules.
    let text = format!(
        "{}\n{}",
        data::TYPICAL,
        data::many_flags(500, 10, 20, 0xF1A6)
    );
    let ruleset = data::compile("swap.flags", text);
    let meta = SnapshotMeta {
        version: 1,
        environment: "bench".into(),
    };
    let bytes = Arc::new(to_bytes(&ruleset, &meta));
    let store = Arc::new(Store::new(from_bytes(&bytes).expect("valid snapshot")));
    let contexts = Arc::new(data::contexts(1000, 3));
    let next_version = Arc::new(AtomicU64::new(2));
    println!(
        "snapshot: {} flags, {} bytes; {} cores available",
        ruleset.flag_count(),
        bytes.len(),
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    // What freeing one replaced snapshot costs (whoever drops the last
    // reference pays it: the writer, or a reader whose guard outlived the swap).
    let mut drops: Vec<Duration> = (0..21)
        .map(|_| {
            let snapshot = from_bytes(&bytes).expect("valid snapshot");
            let t = Instant::now();
            drop(snapshot);
            t.elapsed()
        })
        .collect();
    drops.sort();
    println!(
        "dropping one snapshot: median {:.1} µs, max {:.1} µs",
        drops[drops.len() / 2].as_secs_f64() * 1e6,
        drops[drops.len() - 1].as_secs_f64() * 1e6
    );
    run_phase(
        "baseline",
        &store,
        &contexts,
        &bytes,
        seconds.min(2.0),
        false,
        &next_version,
    );
    run_phase(
        "swapping",
        &store,
        &contexts,
        &bytes,
        seconds,
        true,
        &next_version,
    );
}
