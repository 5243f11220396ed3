//! Side-by-side evaluation benchmark: vexil vs Unleash Yggdrasil vs
//! LaunchDarkly's Rust evaluation engine, on the same flag and the same
//! contexts, in one process.
//!
//! The flag lives in three files next to `Cargo.toml` (`flag.flags`,
//! `unleash.json`, `launchdarkly.json`), read at run time. Contexts are
//! generated deterministically (seeded xorshift), built once per engine,
//! and excluded from the timing. See README.md.
//!
//! Environment: `PEERS_N` (default 1,000,000) contexts per pass,
//! `PEERS_PASSES` (default 3) timed passes per engine.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use launchdarkly_server_sdk_evaluation as ld;

/// The root crate's bench workloads (the 501-flag project and its contexts).
#[path = "../../data/mod.rs"]
mod data;
use unleash_yggdrasil as ygg;

const FLAG: &str = "bench-flag";
const WARMUP: usize = 100_000;
const SANITY: usize = 10_000;
const HOT: usize = 1_000;
const HOT_REPEAT: usize = 1_000;

// ---------------------------------------------------------------- inputs

/// xorshift64* — deterministic, seeded, good enough to draw from pools.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, pool: &[&'a str]) -> &'a str {
        pool[self.below(pool.len() as u64) as usize]
    }
    /// From `rare` with probability `per_mille`/1000, else from `common`.
    fn rare<'a>(&mut self, per_mille: u64, rare: &[&'a str], common: &[&'a str]) -> &'a str {
        if self.below(1000) < per_mille {
            self.pick(rare)
        } else {
            self.pick(common)
        }
    }
}

/// One generated user, engine-neutral.
struct Input {
    key: String,
    country: &'static str,
    email: String,
    app_version: &'static str,
    age: u32,
    plan: &'static str,
    region: &'static str,
    tags: Vec<&'static str>,
    score: u32,
    beta: bool,
}

fn generate(n: usize) -> Vec<Input> {
    const COUNTRIES: &[&str] = &["US", "GB", "DE", "FR", "JP", "BR", "IN", "CA", "AU", "ES"];
    const RARE_COUNTRIES: &[&str] = &["IS", "LU", "MT", "LI", "MC"];
    const DOMAINS: &[&str] = &["gmail.com", "outlook.com", "example.org", "notexample-corp.com", "corp-example.com"];
    const VERSIONS: &[&str] = &["2.7.13", "3.9.2", "4.0.0", "4.12.1", "5.0.0", "5.0.0-rc.1"];
    const NEW_VERSIONS: &[&str] = &["5.0.1", "5.2.0", "6.0.0-beta.1"];
    const PLANS: &[&str] = &["free", "pro", "team", "enterprise"];
    const ENT_PLANS: &[&str] = &["enterprise-gold", "enterprise-plus"];
    const REGIONS: &[&str] = &["eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast"];
    const RARE_REGIONS: &[&str] = &["sa-east", "af-south"];
    const TAGS: &[&str] = &["mobile", "desktop", "newsletter", "beta-tester", "vip"];

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|i| {
            let domain = if rng.below(1000) < 10 { "example-corp.com" } else { rng.pick(DOMAINS) };
            let age = if rng.below(1000) < 10 { 91 + rng.below(9) } else { 18 + rng.below(73) } as u32;
            let mut tags: Vec<&'static str> = (0..rng.below(4)).map(|_| rng.pick(TAGS)).collect();
            if rng.below(1000) < 50 {
                tags.push("vip-internal");
            }
            Input {
                key: format!("user-{i}"),
                country: rng.rare(10, RARE_COUNTRIES, COUNTRIES),
                email: format!("u{i}@{domain}"),
                app_version: rng.rare(10, NEW_VERSIONS, VERSIONS),
                age,
                plan: rng.rare(10, ENT_PLANS, PLANS),
                region: rng.rare(10, RARE_REGIONS, REGIONS),
                tags,
                score: rng.below(30) as u32,
                beta: rng.below(1000) < 10,
            }
        })
        .collect()
}

// ---------------------------------------------------------------- engines

fn read(file: &str) -> String {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn vexil_context(x: &Input) -> vexil::context::Context {
    let value = serde_json::json!({
        "key": x.key,
        "country": x.country,
        "email": x.email,
        "app_version": x.app_version,
        "age": x.age,
        "plan": x.plan,
        "region": x.region,
        "tags": x.tags,
        "score": x.score,
        "beta": x.beta,
    });
    vexil::context::Context::from_json(&value).expect("valid context")
}

fn unleash_context(x: &Input) -> ygg::Context {
    let mut properties = HashMap::new();
    properties.insert("country".to_string(), x.country.to_string());
    properties.insert("email".to_string(), x.email.clone());
    properties.insert("app_version".to_string(), x.app_version.to_string());
    properties.insert("age".to_string(), x.age.to_string());
    properties.insert("plan".to_string(), x.plan.to_string());
    properties.insert("region".to_string(), x.region.to_string());
    // Unleash properties are strings only: the tag list is comma-joined.
    properties.insert("tags".to_string(), x.tags.join(","));
    properties.insert("score".to_string(), x.score.to_string());
    properties.insert("beta".to_string(), x.beta.to_string());
    ygg::Context {
        user_id: Some(x.key.clone()),
        properties: Some(properties),
        ..Default::default()
    }
}

fn ld_context(x: &Input) -> ld::Context {
    let tags = x
        .tags
        .iter()
        .map(|t| ld::AttributeValue::String(t.to_string()))
        .collect();
    ld::ContextBuilder::new(x.key.clone())
        .set_string("country", x.country)
        .set_string("email", x.email.clone())
        .set_string("app_version", x.app_version)
        .set_float("age", x.age as f64)
        .set_string("plan", x.plan)
        .set_string("region", x.region)
        .set_value("tags", ld::AttributeValue::Array(tags))
        .set_float("score", x.score as f64)
        .set_bool("beta", x.beta)
        .build()
        .expect("valid LD context")
}

/// The one-flag store LaunchDarkly's evaluator asks for prerequisites and
/// segments (this flag has neither, so it is never called while timing).
struct OneFlag(ld::Flag);

impl ld::Store for OneFlag {
    fn flag(&self, flag_key: &str) -> Option<ld::Flag> {
        (flag_key == self.0.key).then(|| self.0.clone())
    }
    fn segment(&self, _segment_key: &str) -> Option<ld::Segment> {
        None
    }
}

fn unleash_engine(features: serde_json::Value) -> ygg::EngineState {
    let features: ygg::ClientFeatures =
        serde_json::from_value(features).expect("unleash.json is ClientFeatures");
    let engine = ygg::EngineState::default();
    if let Some(warnings) = engine.take_state(ygg::UpdateMessage::FullResponse(features)) {
        panic!("unleash take_state warnings: {}", warnings.len());
    }
    engine
}

// ---------------------------------------------------------------- timing

/// This thread's CPU time so far (Linux `/proc/thread-self/schedstat`, first
/// field, ns): unlike wall time it does not count time the scheduler gave to
/// other processes on this shared machine. Zero where unavailable.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// What one pass measured.
#[derive(Clone, Copy)]
struct Measure {
    wall: Duration,
    cpu: Duration,
    on: usize,
}

/// One pass over `items`: wall time, thread CPU time, how many were `true`.
fn pass<T>(items: &[T], eval: &impl Fn(&T) -> bool) -> Measure {
    let cpu = thread_cpu();
    let start = Instant::now();
    let mut on = 0usize;
    for item in items {
        if black_box(eval(black_box(item))) {
            on += 1;
        }
    }
    let wall = start.elapsed();
    Measure { wall, cpu: thread_cpu().saturating_sub(cpu), on: black_box(on) }
}

/// One engine's timed pass over a prefix of its contexts (`n` of them).
type Pass<'a> = Box<dyn Fn(usize) -> Measure + 'a>;

fn engine<'a, T>(items: &'a [T], eval: impl Fn(&T) -> bool + 'a) -> Pass<'a> {
    Box::new(move |n| pass(&items[..n.min(items.len())], &eval))
}

/// Round-robin: in each round every engine warms up on the first 100k
/// contexts, then runs one timed pass over all of them. Returns, per engine,
/// the wall and CPU ns/eval of each pass, and the fraction enabled.
fn bench(engines: &[(&str, Pass<'_>)], n: usize, passes: usize) -> Vec<Stats> {
    let mut out = vec![Stats::default(); engines.len()];
    for _ in 0..passes {
        for (i, (_, run)) in engines.iter().enumerate() {
            let _ = run(WARMUP);
            let m = run(n);
            out[i].wall.push(m.wall.as_nanos() as f64 / n as f64);
            out[i].cpu.push(m.cpu.as_nanos() as f64 / n as f64);
            out[i].on = m.on as f64 / n as f64;
        }
    }
    out
}

/// Per engine: ns/eval of each pass (wall, thread CPU) and fraction enabled.
#[derive(Clone, Default)]
struct Stats {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    on: f64,
}

/// Secondary, cache-resident figure: 1,000 repetitions of a pass over the
/// first `HOT` contexts (same number of evaluations, working set in cache).
fn bench_hot(engines: &[(&str, Pass<'_>)], passes: usize) -> Vec<Stats> {
    let mut out = vec![Stats::default(); engines.len()];
    let evals = (HOT * HOT_REPEAT) as f64;
    for _ in 0..passes {
        for (i, (_, run)) in engines.iter().enumerate() {
            let _ = run(HOT);
            let (cpu, start) = (thread_cpu(), Instant::now());
            for _ in 0..HOT_REPEAT {
                black_box(run(HOT));
            }
            out[i].wall.push(start.elapsed().as_nanos() as f64 / evals);
            out[i].cpu.push(thread_cpu().saturating_sub(cpu).as_nanos() as f64 / evals);
        }
    }
    out
}

/// Prints one table: median wall and CPU ns/eval, ratios to the first engine.
fn report(engines: &[(&str, Pass<'_>)], stats: &[Stats], enabled: bool) {
    let (base_wall, base_cpu) = (median(&stats[0].wall), median(&stats[0].cpu));
    println!(
        "  {:<42} {:>9} {:>8} {:>9} {:>8}   {:<26} {}",
        "engine", "wall ns", "vs vexil", "cpu ns", "vs vexil", "wall passes", if enabled { "enabled" } else { "" }
    );
    for ((name, _), st) in engines.iter().zip(stats) {
        let (wall, cpu) = (median(&st.wall), median(&st.cpu));
        let passes = st.wall.iter().map(|p| format!("{p:.1}")).collect::<Vec<_>>().join(" / ");
        let on = if enabled { format!("{:.2}%", 100.0 * st.on) } else { String::new() };
        println!(
            "  {name:<42} {wall:>9.1} {:>7.2}x {cpu:>9.1} {:>7.2}x   {passes:<26} {on}",
            wall / base_wall,
            cpu / base_cpu
        );
    }
}

fn median(xs: &[f64]) -> f64 {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------- main

fn main() {
    let n = env_usize("PEERS_N", 1_000_000);
    let passes = env_usize("PEERS_PASSES", 3).max(1);

    // The flag, in the three dialects.
    let sources = [vexil::check::Source {
        name: "flag.flags".into(),
        text: read("flag.flags"),
    }];
    let ruleset = match vexil::compile::compile_sources(&sources, &Default::default()) {
        Ok(r) => r,
        Err(diags) => panic!("flag.flags does not compile: {diags:?}"),
    };
    let flag_ref = ruleset.flag(FLAG).expect("bench-flag defined");

    let unleash_json: serde_json::Value = serde_json::from_str(&read("unleash.json")).expect("unleash.json");
    let unleash = unleash_engine(unleash_json.clone());
    // For the sanity check only: the same feature without its rollout
    // strategy, to tell "decided by targets/rules" from "decided by rollout".
    let mut rules_only_json = unleash_json;
    for feature in rules_only_json["features"].as_array_mut().expect("features") {
        feature["strategies"]
            .as_array_mut()
            .expect("strategies")
            .retain(|s| s["name"] != "flexibleRollout");
    }
    let unleash_rules_only = unleash_engine(rules_only_json);
    let no_external: Option<HashMap<String, bool>> = None;

    let ld_flag: ld::Flag = serde_json::from_str(&read("launchdarkly.json")).expect("launchdarkly.json is a Flag");
    let ld_store = OneFlag(ld_flag.clone());

    // Contexts: generated once, built once per engine (not timed).
    let t = Instant::now();
    let inputs = generate(n);
    let vexil_ctxs: Vec<vexil::context::Context> = inputs.iter().map(vexil_context).collect();
    let unleash_ctxs: Vec<ygg::Context> = inputs.iter().map(unleash_context).collect();
    let ld_ctxs: Vec<ld::Context> = inputs.iter().map(ld_context).collect();
    drop(inputs);
    println!("built {n} contexts per engine in {:.1?}", t.elapsed());

    let vexil_eval = |c: &vexil::context::Context| {
        ruleset
            .prepare(c)
            .detail_of(flag_ref)
            .value
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    };
    let unleash_eval = |c: &ygg::Context| unleash.is_enabled(FLAG, c, &no_external);
    let ld_eval = |c: &ld::Context| {
        ld::evaluate(&ld_store, &ld_flag, c, None)
            .value
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    };

    // ------------------------------------------------------------ sanity
    // Who decided: 0 = individual target, 1 + i = rule i, None = rollout.
    let checked = SANITY.min(n);
    let mut disagreements = 0usize;
    let mut decided = 0usize;
    let (mut rollout, mut v_on, mut u_on, mut l_on) = (0usize, 0usize, 0usize, 0usize);
    let mut by_step = [0usize; 9];
    for i in 0..checked {
        let vd = ruleset.prepare(&vexil_ctxs[i]).detail_of(flag_ref);
        let v_which = match vd.matched {
            Some(vexil::detail::Matched::Target) => Some(0),
            Some(vexil::detail::Matched::Rule { index, .. }) => Some(1 + index as usize),
            _ => None,
        };
        let v = vd.value.and_then(serde_json::Value::as_bool).unwrap_or(false);

        let ldd = ld::evaluate(&ld_store, &ld_flag, &ld_ctxs[i], None);
        let l_which = match ldd.reason {
            ld::Reason::TargetMatch => Some(0),
            ld::Reason::RuleMatch { rule_index, .. } => Some(1 + rule_index),
            _ => None,
        };
        let l = ldd.value.and_then(|v| v.as_bool()).unwrap_or(false);

        let u = unleash_eval(&unleash_ctxs[i]);
        let u_rules = unleash_rules_only.is_enabled(FLAG, &unleash_ctxs[i], &no_external);

        let v_rules = v_which.is_some();
        if v_which != l_which || v_rules != u_rules {
            disagreements += 1;
            if disagreements <= 5 {
                eprintln!("disagreement at context {i}: vexil {v_which:?} LD {l_which:?} unleash rules-only {u_rules}");
            }
        }
        if v_rules || u_rules || l_which.is_some() {
            decided += 1;
            if let Some(w) = v_which {
                by_step[w] += 1;
            }
            if !(v && l && u) {
                disagreements += 1;
                eprintln!("context {i} decided by targets/rules but not on in all: vexil {v} LD {l} unleash {u}");
            }
        } else {
            rollout += 1;
            v_on += v as usize;
            l_on += l as usize;
            u_on += u as usize;
        }
    }
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!("sanity over the first {checked} contexts:");
    println!(
        "  decided by targets/rules: {decided} ({:.2}%)  [target {}, rules {:?}]",
        pct(decided, checked),
        by_step[0],
        &by_step[1..]
    );
    println!(
        "  left to the 50% rollout: {rollout}; enabled by rollout: vexil {:.2}%, unleash {:.2}%, launchdarkly {:.2}%",
        pct(v_on, rollout),
        pct(u_on, rollout),
        pct(l_on, rollout)
    );
    println!("  disagreements: {disagreements}");

    // ------------------------------------------------------------ timing
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "timing: {n} contexts, warm-up {WARMUP}, {passes} round-robin rounds, median pass; load average {}",
        loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let prepared: Vec<vexil::eval::Prepared> = vexil_ctxs.iter().map(|c| ruleset.prepare(c)).collect();
    // The same flag inside a project of 500 more flags × 10 rules over 60
    // attributes, contexts of 16 attributes (benches/data/mod.rs).
    let project = data::compile("project.flags", data::project(500, 10, 60, 20, 0x9A0));
    let project_flag = project.flag(FLAG).expect("bench-flag in the project");
    let project_ctxs = data::peer_contexts(n, 6, 60);
    let five: Vec<_> = [FLAG, "pflag-0007", "pflag-0123", "pflag-0250", "pflag-0499"]
        .iter()
        .map(|k| project.flag(k).expect("project flag"))
        .collect();
    let project_eval = |c: &vexil::context::Context| {
        project
            .prepare(c)
            .detail_of(project_flag)
            .value
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    };
    let five_eval = |c: &vexil::context::Context| {
        let p = project.prepare(c);
        let mut on = false;
        for &f in &five {
            on ^= p.detail_of(f).value.and_then(serde_json::Value::as_bool).unwrap_or(false);
        }
        on
    };
    let engines: Vec<(&str, Pass)> = vec![
        ("vexil        prepare + detail_of(FlagRef)", engine(&vexil_ctxs, vexil_eval)),
        (
            "vexil        prepare + bool_value(key)",
            engine(&vexil_ctxs, |c| ruleset.prepare(c).bool_value(FLAG, false)),
        ),
        (
            "vexil        detail_of (pre-prepared)",
            engine(&prepared, |p| {
                p.detail_of(flag_ref)
                    .value
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false)
            }),
        ),
        ("vexil 501-flag project: prepare + detail_of", engine(&project_ctxs, project_eval)),
        ("vexil 501-flag project: 5 flags (per context)", engine(&project_ctxs, five_eval)),
        ("unleash      is_enabled", engine(&unleash_ctxs, unleash_eval)),
        ("launchdarkly evaluate", engine(&ld_ctxs, ld_eval)),
    ];
    let results = bench(&engines, n, passes);
    report(&engines, &results, true);
    let hot = bench_hot(&engines, passes);
    println!("cache-resident: the first {HOT} contexts x {HOT_REPEAT} repetitions, median of {passes}");
    report(&engines, &hot, false);
    // All 501 flags per context: over the first 10,000 contexts (a pass over
    // 1M would take most of a minute), ns per flag.
    let all_n = 10_000.min(n);
    let mut per_flag = Vec::new();
    for _ in 0..passes {
        let start = Instant::now();
        let mut on = 0usize;
        for c in &project_ctxs[..all_n] {
            for (_, d) in project.prepare(black_box(c)).all() {
                on += usize::from(d.value.and_then(serde_json::Value::as_bool).unwrap_or(false));
            }
        }
        black_box(on);
        per_flag.push(start.elapsed().as_nanos() as f64 / (all_n * project.flag_count()) as f64);
    }
    println!(
        "vexil 501-flag project, all flags per context ({all_n} contexts): {:.1} ns per flag (median of {passes}: {})",
        median(&per_flag),
        per_flag.iter().map(|p| format!("{p:.1}")).collect::<Vec<_>>().join(" / ")
    );
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average after: {}",
        loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    if disagreements > 0 {
        std::process::exit(1);
    }
}
