//! The compiled evaluator agrees with the interpreter on a ruleset larger
//! than the inline caches of `Prepared` (100 attributes: ids past the 64
//! whose context positions are cached inline; contexts of 30 attributes:
//! positions past the 32 whose interned constants are cached), with one
//! prepared context reused across all flags, a fresh one per flag, and a
//! clone.

use vexil::check::{check, Limits, Source};
use vexil::compile::compile;

#[path = "../benches/data/mod.rs"]
mod data;

#[test]
fn compiled_equals_interpreted_on_a_large_project() {
    let text = data::project(300, 10, 100, 40, 0x1A46E);
    let sources = [Source {
        name: "project.flags".into(),
        text,
    }];
    let program = check(&sources, &Limits::default()).expect("checks");
    let ruleset = compile(&program).expect("compiles");
    let keys: Vec<String> = ruleset.flag_keys().map(str::to_string).collect();
    let mut contexts = data::peer_contexts(200, 20, 100);
    // Wider than the constant cache: 30 attributes, some strings far in.
    for (i, c) in contexts.iter_mut().enumerate().take(50) {
        for k in 0..12 {
            c.set_string(&format!("zz_{k:02}"), &format!("v{}", (i + k) % 20))
                .expect("set");
        }
    }
    let mut matched = 0usize;
    for c in &contexts {
        let shared = ruleset.prepare(c);
        for key in &keys {
            let expected = vexil::interp::evaluate(&program, key, c);
            let fresh = ruleset.evaluate(key, c);
            let reused = shared.detail(key);
            assert_eq!(fresh, expected, "{key}");
            assert_eq!(reused, expected, "{key} (shared prepared context)");
            matched += usize::from(expected.matched.is_some());
        }
        let copy = shared.clone();
        for key in keys.iter().step_by(7) {
            assert_eq!(copy.detail(key), shared.detail(key), "{key} (clone)");
        }
    }
    // The workload exercises rules, not only defaults.
    assert!(matched > contexts.len() * keys.len() / 4, "{matched}");
}
