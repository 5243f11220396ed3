//! Evaluation allocates nothing: a counting global allocator watches a
//! prepared context evaluate a mixed flag many times, and a project of 500
//! flags over 100 attributes and 40 segments evaluate one flag and all flags.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use vexil::check::{Limits, Source};
use vexil::compile::{compile_sources, CompileOptions};
use vexil::context::Context;

#[path = "../benches/data/mod.rs"]
mod data;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only allocations of the measuring thread count (the test harness has others).
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTING.with(std::cell::Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; counting
// touches only a const-initialised thread-local and an atomic, neither allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The typical flag of benchmark (a).
const RULES: &str = include_str!("../corpus/bench/typical.flags");

#[test]
fn evaluation_does_not_allocate() {
    let sources = [Source {
        name: "alloc.flags".into(),
        text: RULES.into(),
    }];
    let options = CompileOptions::new(Limits::default());
    let ruleset = compile_sources(&sources, &options).expect("rules compile");
    let contexts: Vec<Context> = [
        r#"{"key":"carol","country":"US","plan":"free","email":"c@x.com","app_version":"2.4.0","platform":"ios","age":30,"tags":["a"],"signup":"2021-05-01T00:00:00Z","name":"Carol","score":50,"org":7}"#,
        r#"{"key":"u-9","country":"DE","plan":"enterprise","app_version":"v1.0","age":41.5,"tags":[],"signup":1500000000000}"#,
        r#"{"key":"alice"}"#,
        r#"{"plan":"enterprise-plus","score":3}"#,
    ]
    .iter()
    .map(|text| Context::from_json_str(text).expect("valid context"))
    .collect();
    let prepared: Vec<_> = contexts.iter().map(|c| ruleset.prepare(c)).collect();
    // Warm up (the regex engine fills its per-thread cache on first use).
    for p in &prepared {
        let _ = p.detail("typical");
    }
    COUNTING.with(|c| c.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut served = 0usize;
    for _ in 0..1000 {
        for p in &prepared {
            served += p.detail("typical").variation.map_or(0, str::len);
            served += usize::from(p.bool_value("gate", false));
            served += p.all().count();
        }
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(false));
    assert!(served > 0);
    assert_eq!(
        after - before,
        0,
        "evaluation allocated {} times",
        after - before
    );
}

/// A project of 500 flags × 10 rules over 100 attributes and 40 segments
/// (plus the peer flag): one flag and all flags, through `prepare` each time
/// (as `Ruleset::evaluate` does) and through one prepared context.
#[test]
fn a_large_project_evaluates_without_allocating() {
    let ruleset = data::compile("project.flags", data::project(500, 10, 100, 40, 0xA110C));
    assert_eq!(ruleset.flag_count(), 501);
    let contexts = data::peer_contexts(64, 20, 100);
    let flag = ruleset.flag(data::PEER_KEY).expect("peer flag");
    // Warm up: the regex cache, and the thread's memo buffers (taken from a
    // per-thread pool on first use, returned when a `Prepared` is dropped).
    let mut segments_and_flags = 0usize;
    for c in &contexts {
        let p = ruleset.prepare(c);
        segments_and_flags += p.all().count();
        let _ = ruleset.evaluate("pflag-0001", c);
    }
    assert_eq!(segments_and_flags, 501 * contexts.len());
    // 64 long-lived prepared contexts hold a memo buffer each; the pool
    // then needs one more for the transient ones below, made on first use.
    let prepared: Vec<_> = contexts.iter().map(|c| ruleset.prepare(c)).collect();
    for p in &prepared {
        let _ = p.all().count();
    }
    let _ = ruleset.prepare(&contexts[0]).all().count();

    COUNTING.with(|c| c.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut served = 0usize;
    for _ in 0..20 {
        for (c, p) in contexts.iter().zip(&prepared) {
            served += ruleset
                .prepare(c)
                .detail_of(flag)
                .variation
                .map_or(0, str::len);
            served += ruleset
                .evaluate("pflag-0250", c)
                .variation
                .map_or(0, str::len);
            for (_, d) in ruleset.prepare(c).all() {
                served += d.variation.map_or(0, str::len);
            }
            for (_, d) in p.all() {
                served += d.variation.map_or(0, str::len);
            }
        }
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(false));
    assert!(served > 0);
    assert_eq!(
        after - before,
        0,
        "evaluation allocated {} times",
        after - before
    );
}
