//! When the process-wide table of attribute names is full, names seen after
//! that have no symbol and are found by comparing text: answers do not
//! change. This runs in its own test binary (its own process) because it
//! fills the table for good.

use serde_json::{json, Map, Value};
use vexil::check::Source;
use vexil::{compile_sources, CompileOptions, Context, Reason};

const RULES: &str = r#"
flag late {
  variations { on: true, off: false }
  default off
  rule "plan" if late_plan == "pro" and late_age > 30 => on
  rule "early" if early_name starts_with "x" => on
}
"#;

#[test]
fn names_first_seen_after_the_table_is_full_still_match() {
    // A name interned before the table fills keeps its symbol.
    let early = Context::from_json(&json!({"key": "u", "early_name": "xyz"})).expect("context");
    // Fill the table: 65,536 distinct names (more than its capacity).
    let mut filler = Map::new();
    for i in 0..(1 << 16) {
        filler.insert(format!("filler_{i}"), Value::from(i));
    }
    let full = Context::from_json(&Value::Object(filler)).expect("a wide context");
    assert_eq!(full.len(), 1 << 16);
    // Loaded after: its names `late_plan`, `late_age` get no symbol.
    let sources = [Source {
        name: "late.flags".into(),
        text: RULES.into(),
    }];
    let ruleset = compile_sources(&sources, &CompileOptions::default()).expect("compiles");
    let on = Context::from_json(&json!({"key": "u", "late_plan": "pro", "late_age": 31}))
        .expect("context");
    let off = Context::from_json(&json!({"key": "u", "late_plan": "pro", "late_age": 29}))
        .expect("context");
    let d = ruleset.evaluate("late", &on);
    assert_eq!(
        (d.reason, d.variation),
        (Reason::TargetingMatch, Some("on"))
    );
    let d = ruleset.evaluate("late", &off);
    assert_eq!((d.reason, d.variation), (Reason::Default, Some("off")));
    // The name interned before the table filled is found by symbol.
    let d = ruleset.evaluate("late", &early);
    assert_eq!(d.variation, Some("on"));
    // And the wide context itself evaluates (none of its names are read).
    assert_eq!(ruleset.evaluate("late", &full).reason, Reason::Default);
}
