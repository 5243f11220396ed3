//! When the process's table of context shapes is full (4,096 name sets),
//! contexts with a new set of names own their shape: they are found,
//! edited, compared and evaluated exactly as before. This runs in its own
//! test binary (its own process) because it fills the table for good.

use serde_json::json;
use vexil::check::Source;
use vexil::{compile_sources, CompileOptions, Context, Reason};

const RULES: &str = r#"
flag pro {
  variations { on: true, off: false }
  default off
  rule "plan" if plan == "pro" and seats > 3 => on
}
"#;

#[test]
fn contexts_past_the_shape_cap_evaluate_as_before() {
    let sources = [Source {
        name: "pro.flags".into(),
        text: RULES.into(),
    }];
    let ruleset = compile_sources(&sources, &CompileOptions::default()).expect("compiles");
    // 6,000 distinct name sets: the last ~2,000 are past the cap.
    let contexts: Vec<Context> = (0..6000)
        .map(|i| {
            Context::builder(&format!("u{i}"))
                .string("plan", if i % 2 == 0 { "pro" } else { "free" })
                .number("seats", f64::from(i % 7))
                .number(&format!("only_{i}"), f64::from(i))
                .build()
                .expect("valid")
        })
        .collect();
    for (i, c) in contexts.iter().enumerate() {
        let want = i % 2 == 0 && i % 7 > 3;
        let d = ruleset.evaluate("pro", c);
        assert_eq!(
            d.variation,
            Some(if want { "on" } else { "off" }),
            "context {i}"
        );
        assert_eq!(
            d.reason,
            if want {
                Reason::TargetingMatch
            } else {
                Reason::Default
            }
        );
        // Its own attribute is found by name, and the JSON form is equal.
        let own = format!("only_{i}");
        assert_eq!(c.get(&own), Some(vexil::Attr::Num(i as f64)));
        let mut json = json!({
            "key": format!("u{i}"),
            "plan": if i % 2 == 0 { "pro" } else { "free" },
            "seats": i % 7,
        });
        json[own.as_str()] = json!(i);
        assert_eq!(&Context::from_json(&json).expect("valid"), c, "context {i}");
    }
    // A context past the cap edits like any other.
    let mut last = contexts[5999].clone();
    last.set_string("plan", "pro").expect("set");
    last.set_number("seats", 9.0).expect("set");
    assert_eq!(ruleset.evaluate("pro", &last).variation, Some("on"));
    last.remove("only_5999");
    assert_eq!(last.get("only_5999"), None);
    assert_eq!(last.len(), 3);
}
