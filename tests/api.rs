//! The public API holds: a user's whole journey (README, docs/sdk.md) through
//! the crate-root re-exports and the documented module paths only — compile
//! rules, evaluate, write and load a snapshot, swap and patch it, serve it
//! from an [`Engine`], build the SDK client and the server configurations.
//! Nothing here names a `#[doc(hidden)]` item or a module path that
//! docs/api.md calls internal, so an item this test needs cannot be hidden
//! by accident.

use vexil::{
    compile_sources, CompileOptions, Context, ContextError, Detail, Diagnostic, Engine, ErrorCode,
    FlagRef, LimitError, Limits, Matched, OwnedDetail, Prepared, Reason, Ruleset, Snapshot,
    SnapshotError, SnapshotMeta, Source, Store,
};

const RULES: &str = r#"
segment beta { include ["u-1"] match plan == "enterprise" }

flag new-checkout {
  variations { on: true, off: false }
  default off
  target on ["alice"]
  rule "beta users" if segment beta => on
}

flag banner {
  variations { short: "Hi", long: "Hello there" }
  default short
  rule if country in ["DE", "FR"] => long
}
"#;

fn source(text: &str) -> Vec<Source> {
    vec![Source {
        name: "app.flags".into(),
        text: text.into(),
    }]
}

fn ruleset(text: &str) -> Ruleset {
    compile_sources(&source(text), &CompileOptions::default()).expect("the rules compile")
}

fn meta(version: u64) -> SnapshotMeta {
    SnapshotMeta {
        version,
        environment: "prod".into(),
    }
}

/// Every public error type is a `std::error::Error` with a `Display`.
fn describe<E: std::error::Error>(e: &E) -> String {
    e.to_string()
}

#[test]
fn compile_and_evaluate_from_the_crate_root() {
    let rules = ruleset(RULES);
    let alice = Context::with_key("alice");
    let bob = Context::builder("bob")
        .string("plan", "enterprise")
        .string("country", "DE")
        .build()
        .expect("a valid context");

    let prepared: Prepared<'_, '_> = rules.prepare(&alice);
    assert!(prepared.bool_value("new-checkout", false));
    let detail: Detail<'_> = prepared.detail("new-checkout");
    assert_eq!(detail.reason, Reason::TargetingMatch);
    assert_eq!(detail.matched, Some(Matched::Target));
    assert_eq!(prepared.string_value("banner", "?"), "Hi");

    let prepared = rules.prepare(&bob);
    let flag: FlagRef = rules.flag("new-checkout").expect("the flag exists");
    let detail = prepared.detail_of(flag);
    assert_eq!(detail.variation, Some("on"));
    assert_eq!(
        detail.matched,
        Some(Matched::Rule {
            index: 0,
            name: Some("beta users")
        })
    );
    assert_eq!(prepared.string_value("banner", "?"), "Hello there");

    let missing = prepared.detail("no-such-flag");
    assert_eq!(
        (missing.reason, missing.error),
        (Reason::Error, Some(ErrorCode::FlagNotFound))
    );
    // A type mismatch answers the caller's default.
    assert_eq!(prepared.number_value("banner", 7.0), 7.0);
    let mut keys: Vec<&str> = rules.flag_keys().collect();
    keys.sort_unstable();
    assert_eq!(keys, ["banner", "new-checkout"]);
}

/// A `FlagRef` is only meaningful for the ruleset that found it; one from
/// another ruleset with more flags answers "not found" (it must never index
/// past this ruleset's flags), and one that happens to be in range answers
/// for whatever flag has that position.
#[test]
fn a_flag_ref_from_a_larger_ruleset_is_not_found_not_a_panic() {
    let many: String = (0..20)
        .map(|i| format!("flag f{i} {{ default on }}\n"))
        .collect();
    let larger = ruleset(&many);
    let far: FlagRef = larger.flag("f19").expect("found");
    let small = ruleset(RULES);
    assert_eq!(small.flag_count(), 2);
    let alice = Context::with_key("alice");
    let detail = small.prepare(&alice).detail_of(far);
    assert_eq!(
        (detail.reason, detail.error, detail.value),
        (Reason::Error, Some(ErrorCode::FlagNotFound), None)
    );
    // In range: it is that position's flag here.
    let first = larger.flag("f0").expect("found");
    let here = small.prepare(&alice).detail_of(first);
    assert_eq!(here.variation, Some("on"), "new-checkout targets alice");
}

#[test]
fn contexts_from_json_and_their_errors() {
    let user = Context::from_json_str(r#"{"key":"alice","plan":"pro","age":42}"#)
        .expect("a valid context");
    assert_eq!(user.key(), Some("alice"));
    assert!(matches!(user.get("plan"), Some(vexil::Attr::Str("pro"))));

    let refused: ContextError = Context::from_json_str("[1, 2]").expect_err("not an object");
    assert!(!describe(&refused).is_empty());
    let mut user = user;
    user.set_number("age", 43.0).expect("a number attribute");
    assert!(matches!(user.get("age"), Some(vexil::Attr::Num(n)) if n == 43.0));
}

#[test]
fn diagnostics_and_limits() {
    let sources = source("flag f { default nope }");
    let diagnostics: Vec<Diagnostic> =
        compile_sources(&sources, &CompileOptions::default()).expect_err("an unknown variation");
    assert!(describe(&diagnostics[0]).starts_with("error: "));
    let rendered = vexil::check::render(&diagnostics, &sources);
    assert!(rendered.starts_with("app.flags:1:"), "{rendered}");

    // Caps are set with the builder-style setters; the rest stay default.
    let limits = Limits::default().with_rules_per_flag(1);
    assert_eq!(
        limits.atoms_per_condition,
        Limits::default().atoms_per_condition
    );
    let two_rules = "flag f { rule if a == 1 => on\n rule if b == 2 => on }";
    let options = CompileOptions::new(limits);
    assert!(compile_sources(&source(two_rules), &options).is_err());
    assert!(compile_sources(&source(two_rules), &CompileOptions::default()).is_ok());

    let over = Limits::default().with_regex_size(vexil::limits::REGEX_SIZE_LIMIT + 1);
    let e: LimitError = over.validate().expect_err("above the ceiling");
    assert_eq!(e.cap, "regex_size");
    assert!(describe(&e).contains("regex_size"));

    // The checked program, for the interpreter and the tools.
    let program = vexil::check::check(&source(RULES), &Limits::default()).expect("the rules check");
    assert_eq!(program.flag_count(), 2);
    assert_eq!(program.segment_names().collect::<Vec<_>>(), ["beta"]);
    let alice = Context::with_key("alice");
    let rules = ruleset(RULES);
    for key in program.flag_keys() {
        let reference = vexil::interp::evaluate(&program, key, &alice);
        let compiled = rules.prepare(&alice).detail(key);
        assert_eq!(reference, compiled, "{key}");
    }
    let syntax = vexil::syntax::parse("flag {").expect_err("a syntax error");
    assert!(!describe(&syntax[0]).is_empty());
}

#[test]
fn snapshots_stores_patches_and_the_engine() {
    let user = Context::with_key("alice");
    let v7 = Snapshot::new(ruleset(RULES), meta(7));
    let bytes = v7.to_bytes();
    let store = Store::new(vexil::snapshot::from_bytes(&bytes).expect("the snapshot loads"));
    assert_eq!(store.version(), 7);
    assert!(store
        .load()
        .ruleset()
        .prepare(&user)
        .bool_value("new-checkout", false));

    let changed = RULES.replace("target on [\"alice\"]", "target off [\"alice\"]");
    let v8 = Snapshot::new(ruleset(&changed), meta(8));
    let patch = vexil::snapshot::make_patch_from(&v7, &v8).expect("a patch");
    assert_eq!(store.apply_patch(&patch).expect("the patch applies"), 8);
    assert!(!store
        .load()
        .ruleset()
        .prepare(&user)
        .bool_value("new-checkout", true));
    let stale: SnapshotError = store.swap_bytes(&bytes).expect_err("version 7 is stale");
    assert!(!describe(&stale).is_empty());
    let garbage: SnapshotError =
        vexil::snapshot::from_bytes(b"not a snapshot").expect_err("refused");
    assert!(!describe(&garbage).is_empty());

    let engine = Engine::new();
    let waiting: OwnedDetail = engine.detail(&user, "new-checkout");
    assert_eq!(waiting.error, Some(ErrorCode::ProviderNotReady));
    assert!(engine.bool_value(&user, "new-checkout", true));
    engine.install_bytes(&bytes).expect("installs");
    let answer = engine.detail(&user, "new-checkout");
    assert_eq!(
        (
            answer.variation.as_deref(),
            answer.rule.as_deref(),
            answer.version
        ),
        (Some("on"), Some("target"), Some(7))
    );
    assert_eq!(engine.string_value(&user, "banner", "?"), "Hi");
}

#[test]
fn the_tools_are_library_functions() {
    let formatted = vexil::tools::fmt::format("flag  f {default on}").expect("formats");
    assert_eq!(
        vexil::tools::fmt::format(&formatted).expect("formats again"),
        formatted
    );
    let warnings = vexil::tools::lint::lint(
        &source("flag f { rule if a == 1 => on\n rule if a == 1 => on }"),
        &Limits::default(),
    )
    .expect("the rules check");
    assert!(!warnings.is_empty(), "the second rule is shadowed");
    let program = vexil::check::check(&source(RULES), &Limits::default()).expect("the rules check");
    let why = vexil::tools::explain::explain(&program, "new-checkout", &Context::with_key("alice"));
    assert_eq!(why.variation.as_deref(), Some("on"));
}

#[cfg(feature = "sdk")]
#[test]
fn the_sdk_client_answers_defaults_before_any_state() {
    use std::time::Duration;
    use vexil::sdk::{Client, ClientError, Status};

    // Nothing listens on the discard port: the client starts anyway.
    let client = Client::builder("http://127.0.0.1:9", "sdk-key")
        .init_timeout(Duration::ZERO)
        .build()
        .expect("a usable configuration");
    let user = Context::with_key("alice");
    assert!(!client.is_ready());
    assert!(client.bool_value(&user, "new-checkout", true));
    assert_eq!(
        client.detail(&user, "new-checkout").error,
        Some(ErrorCode::ProviderNotReady)
    );
    assert_ne!(client.status(), Status::Streaming);
    client.close();

    let refused: ClientError = Client::builder("ftp://example.com", "sdk-key")
        .build()
        .expect_err("not an http URL");
    assert!(!describe(&refused).is_empty());
}

#[cfg(feature = "server")]
#[test]
fn server_configurations_are_built_not_written_out() {
    use std::time::Duration;
    use vexil::server::{http::StreamConfig, hub::HubConfig, origin, relay};

    let listen = "127.0.0.1:0".parse().expect("an address");
    let hub = HubConfig::default().with_channel_capacity(8).with_window(4);
    assert_eq!((hub.channel_capacity, hub.window), (8, 4));
    assert_eq!(hub.window_bytes, HubConfig::default().window_bytes);
    let stream = StreamConfig::default().with_max_age(Some(Duration::from_secs(60)));
    assert_eq!(stream.keepalive, StreamConfig::default().keepalive);

    let mut config = origin::OriginConfig::new(listen, "/tmp/vexil-api-test");
    config.envs = vec!["prod=sdk-prod".parse().expect("NAME=KEY")];
    config.stream = stream;
    config.hub = hub;
    assert_eq!(config.limits, Limits::default());
    assert_eq!(config.envs[0].env, "prod");

    let config = relay::RelayConfig::new(listen, "http://127.0.0.1:8080");
    assert_eq!(config.poll_interval, Duration::from_secs(30));
}
