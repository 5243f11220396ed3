//! A fixed evaluation loop to profile under `perf` or `valgrind --tool=callgrind`
//! (criterion's own setup and statistics would dominate a profile):
//!
//! ```sh
//! cargo build --release --example profile_eval
//! valgrind --tool=callgrind target/release/examples/profile_eval alone 1000 100000
//! ```
//!
//! Arguments: the workload (`alone`, `project`, `five`, `all`, `typical`,
//! `prepared` = the typical flag on contexts bound once,
//! `many` = all 500 flags of benchmark (c), or `part:NAME` = one piece of
//! the peer flag alone in a flag of its own, see [`PARTS`]; `alone6` = the
//! flag alone on the project's 16-attribute contexts, `project0` = the
//! project on the flag's 10-attribute contexts; `build` and `json` =
//! building the criterion `context` group's context with the builder or
//! from JSON, `evals` times; `load` =
//! loading benchmark (e)'s snapshot, `evals` times), the number
//! of distinct contexts, the number of evaluations. The workloads are those
//! of `cargo bench --bench eval -- peer` (benches/data/mod.rs).
//!
//! `FLAG=path` evaluates the flag in `path` (keyed `bench-flag`) in place
//! of the peer flag in `alone` and `alone6`.
//!
//! `XP=K` repeats the contexts `K` times as clones: the footprint of
//! `K × contexts` with the branch outcomes of `contexts`, which tells what
//! a distinct context costs in memory from what it costs the branch
//! predictor (docs/benchmarks.md, twelfth round).

use std::hint::black_box;
use std::time::Instant;
use vexil::context::Context;

#[path = "../benches/data/mod.rs"]
mod data;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let workload = args.get(1).map_or("alone", String::as_str);
    let contexts: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let evals: usize = args
        .get(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let part = workload.strip_prefix("part:").map(|name| {
        PARTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, body)| format!("flag {} {{ variations {{ on: true, off: false }} default off salt \"bench-flag\" {body} }}", data::PEER_KEY))
            .expect("a part named in PARTS")
    });
    if workload == "build" || workload == "json" {
        // Building the criterion `context` group's ten-attribute context,
        // `evals` times: through the builder, or from a parsed JSON value.
        let value = data::context_value();
        let start = Instant::now();
        let mut built = 0usize;
        for _ in 0..evals {
            let context = if workload == "json" {
                vexil::context::Context::from_json(black_box(&value))
            } else {
                data::built_context(black_box("user-123456"))
            };
            built += context.map_or(0, |c| c.len());
        }
        let ns = start.elapsed().as_nanos() as f64 / evals.max(1) as f64;
        println!("{workload}: {ns:.1} ns per context ({built})");
        return;
    }
    if workload == "load" {
        // Snapshot load (benchmark (e)'s snapshot: decode, validate, derive
        // the lookup aids), `evals` times.
        let ruleset = data::compile("snapshot.flags", data::snapshot_source());
        let meta = vexil::snapshot::SnapshotMeta {
            version: 1,
            environment: "bench".into(),
        };
        let bytes = vexil::snapshot::to_bytes(&ruleset, &meta);
        drop(ruleset);
        let start = Instant::now();
        for _ in 0..evals {
            let loaded = vexil::snapshot::from_bytes(black_box(bytes.as_slice()));
            black_box(loaded.is_ok());
        }
        let ns = start.elapsed().as_nanos() as f64 / evals.max(1) as f64;
        println!("load: {ns:.0} ns per load of {} bytes", bytes.len());
        return;
    }
    let ruleset = match workload {
        _ if part.is_some() => data::compile("part.flags", part.clone().unwrap_or_default()),
        "alone" | "alone6" => {
            // `FLAG=path` swaps in another version of the peer flag (one
            // rule taken out, say) to measure what a piece costs in place.
            let source = std::env::var("FLAG")
                .ok()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .unwrap_or_else(|| data::PEER_FLAG.to_string());
            data::compile("peer.flags", source)
        }
        // Benchmarks (a) and (c) of docs/benchmarks.md.
        "typical" | "prepared" => data::compile("typical.flags", data::TYPICAL.to_string()),
        "many" => data::compile("many.flags", data::many_flags(500, 10, 20, 0xF1A6)),
        _ => data::compile("project.flags", data::project(500, 10, 60, 20, 0x9A0)),
    };
    let contexts = match workload {
        "typical" | "many" | "prepared" => data::contexts(contexts, 1),
        _ if part.is_some() => data::peer_contexts(contexts, 0, 60),
        "alone" | "project0" => data::peer_contexts(contexts, 0, 60),
        _ => data::peer_contexts(contexts, 6, 60),
    };
    let contexts: Vec<_> = match std::env::var("XP")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(k) => (0..k).flat_map(|_| contexts.iter().cloned()).collect(),
        _ => contexts,
    };
    // `JSON=1`: the same contexts made again the way services (and the
    // peers bench) often make them, with `from_json` of a fresh
    // `serde_json::Value` each, so they lie in memory among the values'
    // freed blocks.
    let contexts: Vec<_> = if std::env::var("JSON").is_ok() {
        contexts
            .iter()
            .map(|c| Context::from_json(&json_of(c)).expect("a context's own JSON"))
            .collect()
    } else {
        contexts
    };
    let flag = ruleset
        .flag(data::PEER_KEY)
        .or_else(|| ruleset.flag(data::TYPICAL_KEY))
        .or_else(|| ruleset.flag("flag-0000"))
        .expect("a flag to evaluate");
    let five: Vec<_> = [
        data::PEER_KEY,
        "pflag-0007",
        "pflag-0123",
        "pflag-0250",
        "pflag-0499",
    ]
    .iter()
    .filter_map(|k| ruleset.flag(k))
    .collect();
    if workload == "prepared" {
        // Benchmark (a)'s `typical/prepared/detail_of`: every context bound
        // once, the bindings (and their caches) reused.
        let prepared: Vec<_> = contexts.iter().map(|c| ruleset.prepare(c)).collect();
        let start = Instant::now();
        let mut served = 0usize;
        for i in 0..evals {
            let p = black_box(&prepared[i % prepared.len()]);
            served += p.detail_of(flag).variation.map_or(0, str::len);
        }
        let ns = start.elapsed().as_nanos() as f64 / evals as f64;
        println!("{workload}: {ns:.1} ns per iteration ({served})");
        return;
    }
    let start = Instant::now();
    let mut served = 0usize;
    for i in 0..evals {
        let p = ruleset.prepare(black_box(&contexts[i % contexts.len()]));
        match workload {
            "five" => {
                for &f in &five {
                    served += p.detail_of(f).variation.map_or(0, str::len);
                }
            }
            "all" | "many" => {
                for (_, d) in p.all() {
                    served += d.variation.map_or(0, str::len);
                }
            }
            _ => served += p.detail_of(flag).variation.map_or(0, str::len),
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / evals as f64;
    println!("{workload}: {ns:.1} ns per iteration ({served})");
}

/// The peer flag (benches/peers/flag.flags) taken apart: each piece alone in
/// a flag with a default, so the difference of two pieces' instruction
/// counts is what that piece costs a check (`none` is the fixed cost of one).
const PARTS: &[(&str, &str)] = &[
    ("none", ""),
    ("rollout", "rollout split { on: 50%, off: 50% }"),
    (
        "targets",
        r#"target on ["user-1", "user-2", "user-3", "user-4", "user-5", "user-6", "user-7", "user-8", "user-9", "user-10"]"#,
    ),
    (
        "country",
        r#"rule "country" if country in ["IS", "LU", "MT", "LI", "MC"] => on"#,
    ),
    (
        "corp",
        r#"rule "corp" if email ends_with "@example-corp.com" => on"#,
    ),
    (
        "new-app",
        r#"rule "new-app" if app_version > semver("5.0.0") => on"#,
    ),
    ("senior", r#"rule "senior" if age > 90 => on"#),
    (
        "ent-plan",
        r#"rule "ent-plan" if plan starts_with "enterprise-" => on"#,
    ),
    (
        "region",
        r#"rule "region" if region not in ["eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast"] => on"#,
    ),
    (
        "vip",
        r#"rule "vip" if tags contains "vip-internal" and score < 3 => on"#,
    ),
    ("beta", r#"rule "beta" if beta == true => on"#),
    // Four rules like `beta`: the difference to `beta` is three rules'
    // marginal cost in a chain.
    (
        "beta4",
        r#"rule "b1" if beta == true => on rule "b2" if beta == true => on rule "b3" if beta == true => on rule "b4" if beta == true => on"#,
    ),
];

/// A context as the JSON object it could have been made from.
fn json_of(c: &Context) -> serde_json::Value {
    // The key is one of the attributes.
    let mut object = serde_json::Map::new();
    for i in 0..c.len() {
        object.insert(c.name_at(i).to_string(), c.attr_at(i).to_json());
    }
    serde_json::Value::Object(object)
}
