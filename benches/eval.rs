//! Criterion benchmarks of evaluation, compilation and snapshot loading.
//!
//! `cargo bench --bench eval` runs them all; `cargo bench --bench eval -- typical`
//! runs the groups whose name contains `typical`. The workloads come from
//! `benches/data/mod.rs` and are deterministic. `cargo bench --bench eval -- peer`
//! runs the peer-flag workloads (alone, in a 501-flag project, five and all flags). Figures and targets:
//! docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use vexil::compile::{compile_sources, CompileOptions};
use vexil::snapshot::{from_bytes, to_bytes, SnapshotMeta};

mod data;

/// Hands out `items` round-robin, one per call, so that consecutive
/// iterations take different paths through the rules.
fn round_robin<'a, T>(items: &'a [T]) -> impl FnMut() -> &'a T {
    let mut i = 0;
    move || {
        let item = &items[i];
        i += 1;
        if i == items.len() {
            i = 0;
        }
        item
    }
}

/// How many contexts a benchmark cycles through.
const CONTEXTS: usize = 1000;

/// (a) The typical ten-rule flag, one evaluation per iteration.
fn typical(c: &mut Criterion) {
    let ruleset = data::compile("typical.flags", data::TYPICAL.to_string());
    let contexts = data::contexts(CONTEXTS, 1);
    let prepared: Vec<_> = contexts.iter().map(|ctx| ruleset.prepare(ctx)).collect();
    let flag = ruleset
        .flag(data::TYPICAL_KEY)
        .expect("typical flag exists");
    // How the contexts spread over the flag's paths (printed once, for the report).
    let mut paths = std::collections::BTreeMap::new();
    for p in &prepared {
        let d = p.detail_of(flag);
        *paths
            .entry(format!("{}/{:?}", d.reason, d.matched))
            .or_insert(0u32) += 1;
    }
    eprintln!(
        "typical: paths taken by the {} contexts: {paths:?}",
        prepared.len()
    );

    let mut group = c.benchmark_group("typical");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));

    // The SDK's usual call: a prepared context, a flag by key.
    group.bench_function("prepared/detail", |b| {
        let mut next = round_robin(&prepared);
        b.iter(|| {
            let d = next().detail(black_box(data::TYPICAL_KEY));
            d
        })
    });
    // The same with the flag looked up once (no hash lookup per call).
    group.bench_function("prepared/detail_of", |b| {
        let mut next = round_robin(&prepared);
        b.iter(|| {
            let d = next().detail_of(black_box(flag));
            d
        })
    });
    // One-shot: bind the context and evaluate (Ruleset::evaluate).
    group.bench_function("evaluate", |b| {
        let mut next = round_robin(&contexts);
        b.iter(|| {
            let d = ruleset.evaluate(black_box(data::TYPICAL_KEY), next());
            d
        })
    });
    group.finish();
}

/// (b) The worst-case flag: every cap reached, every atom evaluated.
fn worst(c: &mut Criterion) {
    let ruleset = data::compile("worst.flags", data::worst_case());
    let contexts = data::worst_contexts(64);
    let prepared: Vec<_> = contexts.iter().map(|ctx| ruleset.prepare(ctx)).collect();
    let flag = ruleset.flag(data::WORST_KEY).expect("worst flag exists");
    // Nothing matches: every rule runs and the rollout decides.
    for p in &prepared {
        let d = p.detail_of(flag);
        assert_eq!(
            d.reason.as_str(),
            "SPLIT",
            "worst-case contexts must fall through to the rollout"
        );
    }

    let mut group = c.benchmark_group("worst");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    group.bench_function("prepared/detail_of", |b| {
        let mut next = round_robin(&prepared);
        b.iter(|| {
            let d = next().detail_of(black_box(flag));
            d
        })
    });
    group.finish();
}

/// (c) All 500 flags (10 rules each) for one context.
fn all_flags(c: &mut Criterion) {
    let ruleset = data::compile("many.flags", data::many_flags(500, 10, 20, 0xF1A6));
    assert_eq!(ruleset.flag_count(), 500);
    let contexts = data::contexts(CONTEXTS, 2);
    let prepared: Vec<_> = contexts.iter().map(|ctx| ruleset.prepare(ctx)).collect();
    let mut reasons = std::collections::BTreeMap::new();
    for p in &prepared {
        for (_, d) in p.all() {
            *reasons.entry(d.reason.as_str()).or_insert(0u32) += 1;
        }
    }
    eprintln!("all_500_flags: reasons over 1000 contexts x 500 flags: {reasons:?}");

    let mut group = c.benchmark_group("all_500_flags");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(500));
    group.bench_function("prepared/all", |b| {
        let mut next = round_robin(&prepared);
        b.iter(|| {
            let mut served = 0usize;
            for (_, d) in next().all() {
                served += d.variation.map_or(0, str::len);
            }
            served
        })
    });
    group.bench_function("prepare+all", |b| {
        let mut next = round_robin(&contexts);
        b.iter(|| {
            let p = ruleset.prepare(next());
            let mut served = 0usize;
            for (_, d) in p.all() {
                served += d.variation.map_or(0, str::len);
            }
            served
        })
    });
    group.finish();
}

/// (d) Compiling 500 flags × 10 rules from source (parse, check, compile).
fn compile(c: &mut Criterion) {
    let text = data::many_flags(500, 10, 20, 0xF1A6);
    let sources = data::sources("many.flags", &text);
    let options = CompileOptions::default();

    let mut group = c.benchmark_group("compile");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("500x10", |b| {
        b.iter_with_large_drop(|| compile_sources(black_box(&sources), &options).expect("compiles"))
    });
    group.finish();
}

/// (e) Loading (decoding and validating) a snapshot of 5,000 rules plus one
/// segment whose include list holds 1,000,000 keys.
fn snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    // Built on first use, not above, so a filter that skips this bench skips
    // the (several seconds of) setup too; criterion calls the closure once
    // per sample, so it is built once and kept.
    let mut bytes: Option<Vec<u8>> = None;
    group.bench_function("from_bytes/5k_rules+1M_keys", |b| {
        let bytes = bytes.get_or_insert_with(|| {
            let ruleset = data::compile("snapshot.flags", data::snapshot_source());
            let meta = SnapshotMeta {
                version: 1,
                environment: "bench".into(),
            };
            let bytes = to_bytes(&ruleset, &meta);
            eprintln!("snapshot: {} bytes", bytes.len());
            bytes
        });
        b.iter_with_large_drop(|| from_bytes(black_box(bytes.as_slice())).expect("valid snapshot"))
    });
    group.finish();
}

/// How many distinct contexts the "1M" variants cycle through.
const MILLION: usize = 1_000_000;
/// How many the "hot" variants cycle through (they stay in cache).
const HOT: usize = 1_000;
/// The project around the peer flag: 500 flags × 10 rules over 60 attributes.
const PROJECT_FLAGS: usize = 500;
const PROJECT_ATTRS: usize = 60;
const PROJECT_SEGMENTS: usize = 20;

/// (g) The peers' bench flag (benches/peers/flag.flags): alone in its
/// ruleset, then inside a 501-flag project (contexts of 16 attributes), one
/// `prepare` + `detail_of` per iteration; then five flags and all flags per
/// context. Each over 1M distinct contexts and over a hot set of 1,000.
fn peer(c: &mut Criterion) {
    let alone = data::compile("peer.flags", data::PEER_FLAG.to_string());
    let project = data::compile(
        "project.flags",
        data::project(PROJECT_FLAGS, 10, PROJECT_ATTRS, PROJECT_SEGMENTS, 0x9A0),
    );
    assert_eq!(project.flag_count(), PROJECT_FLAGS + 1);
    let small = data::peer_contexts(MILLION, 0, data::PEER_ATTRS.len());
    let wide = data::peer_contexts(MILLION, 6, PROJECT_ATTRS);
    assert_eq!(wide[0].len(), 16);
    let alone_flag = alone.flag(data::PEER_KEY).expect("peer flag");
    let project_flag = project.flag(data::PEER_KEY).expect("peer flag");
    // The peer flag answers the same alone and inside the project.
    for (a, b) in small.iter().zip(&wide).take(10_000) {
        let (x, y) = (
            alone.prepare(a).detail_of(alone_flag),
            project.prepare(b).detail_of(project_flag),
        );
        assert_eq!((x.value, x.matched), (y.value, y.matched));
    }
    let five: Vec<_> = [
        data::PEER_KEY,
        "pflag-0007",
        "pflag-0123",
        "pflag-0250",
        "pflag-0499",
    ]
    .iter()
    .map(|k| project.flag(k).expect("project flag"))
    .collect();

    let mut group = c.benchmark_group("peer");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    for (set, n) in [("1M", MILLION), ("hot", HOT)] {
        group.bench_function(format!("alone/{set}"), |b| {
            let mut next = round_robin(&small[..n]);
            b.iter(|| alone.prepare(next()).detail_of(black_box(alone_flag)))
        });
        group.bench_function(format!("project/{set}"), |b| {
            let mut next = round_robin(&wide[..n]);
            b.iter(|| project.prepare(next()).detail_of(black_box(project_flag)))
        });
    }
    group.throughput(Throughput::Elements(five.len() as u64));
    for (set, n) in [("1M", MILLION), ("hot", HOT)] {
        group.bench_function(format!("project_five/{set}"), |b| {
            let mut next = round_robin(&wide[..n]);
            b.iter(|| {
                let p = project.prepare(next());
                let mut served = 0usize;
                for &f in &five {
                    served += p.detail_of(f).variation.map_or(0, str::len);
                }
                served
            })
        });
    }
    group.throughput(Throughput::Elements(project.flag_count() as u64));
    for (set, n) in [("1M", MILLION), ("hot", HOT)] {
        group.bench_function(format!("project_all/{set}"), |b| {
            let mut next = round_robin(&wide[..n]);
            b.iter(|| {
                let p = project.prepare(next());
                let mut served = 0usize;
                for (_, d) in p.all() {
                    served += d.variation.map_or(0, str::len);
                }
                served
            })
        });
    }
    group.finish();
}

/// Building a context from JSON, the way an SDK gets one from a request:
/// the peer bench's ten attributes (the JSON value is parsed once, outside
/// the timing).
fn context(c: &mut Criterion) {
    let value = data::context_value();
    let mut group = c.benchmark_group("context");
    group.bench_function("from_json/10_attributes", |b| {
        b.iter(|| vexil::context::Context::from_json(black_box(&value)))
    });
    // The same attributes through the builder, and one attribute replaced
    // in a context that has them.
    let build = data::built_context;
    group.bench_function("builder/10_attributes", |b| {
        b.iter(|| build(black_box("user-123456")))
    });
    let mut context = build("user-123456").expect("a valid context");
    let mut flip = false;
    group.bench_function("set_string/10_attributes", |b| {
        b.iter(|| {
            flip = !flip;
            let plan = if flip { "enterprise-plus" } else { "pro" };
            context.set_string("plan", black_box(plan))
        })
    });
    group.bench_function("set_number/10_attributes", |b| {
        b.iter(|| {
            flip = !flip;
            context.set_number("age", black_box(if flip { 43.0 } else { 42.0 }))
        })
    });
    group.finish();
}

criterion_group!(benches, typical, worst, all_flags, compile, snapshot, peer, context);
criterion_main!(benches);
