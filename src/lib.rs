//! vexil: feature flags evaluated in process.
//!
//! # Where to start
//!
//! The everyday types are re-exported here, at the crate root:
//!
//! - **Compile** `.flags` sources: [`compile_sources`] takes [`Source`]s and
//!   [`CompileOptions`] (with its [`Limits`]) and returns a [`Ruleset`], or
//!   [`Diagnostic`]s to show with [`check::render`].
//! - **Describe a user**: a [`Context`], from JSON
//!   ([`Context::from_json_str`]) or with a [`ContextBuilder`]
//!   ([`Context::builder`]); a refused value is a [`ContextError`].
//! - **Evaluate**: [`Ruleset::prepare`] gives a [`Prepared`] context, whose
//!   typed accessors (`bool_value`, `string_value`, …) answer a flag and whose
//!   `detail` answers with a [`Detail`]: value, variation, [`Reason`],
//!   [`Matched`] rule and [`ErrorCode`]. A [`FlagRef`] looks a flag up once.
//! - **Serve**: a [`Snapshot`] is a ruleset with its [`SnapshotMeta`] (version,
//!   environment), written and loaded by [`snapshot`] (errors:
//!   [`SnapshotError`]); a [`Store`] swaps snapshots under live readers; an
//!   [`Engine`] owns a store and answers with an [`OwnedDetail`].
//! - **Over the network** (features `sdk`, `server`): [`sdk::Client`] keeps an
//!   engine fed by an origin or relay; [`server`] is the origin and the relay.
//!
//! The crate is a pipeline, one module per stage:
//! source → [`syntax`] → [`check`] → [`compile`] → [`snapshot`] → [`eval`],
//! with [`interp`], the reference interpreter, beside `eval`. [`context`] and
//! [`detail`] are the input and output of every evaluation; [`limits`] holds
//! every hard limit, once. [`engine`] is what a user holds: the serving
//! snapshot and owned answers. [`tools`] holds `explain`, `fmt`, `inspect` and
//! `lint`. Behind features: `protocol` (`net`), the propagation wire protocol;
//! `sdk` (`sdk`), the engine fed over the network by an origin or relay;
//! `server` (`server`), origin and relay. The `vexil` binary is a thin command
//! line over this library.
//!
//! What is public, what is hidden and what may change: `docs/api.md`.
//!
//! ```
//! use vexil::{compile_sources, CompileOptions, Context, Engine, Snapshot, SnapshotMeta, Source};
//!
//! let sources = [Source { name: "app.flags".into(), text: "flag dark-mode { default on }".into() }];
//! let ruleset = compile_sources(&sources, &CompileOptions::default()).expect("compiles");
//! let user = Context::builder("alice").string("plan", "pro").build().expect("valid context");
//! assert!(ruleset.prepare(&user).bool_value("dark-mode", false));
//!
//! let snapshot = Snapshot::new(ruleset, SnapshotMeta { version: 1, environment: "prod".into() });
//! let engine = Engine::with_snapshot(snapshot);
//! assert_eq!(engine.detail(&user, "dark-mode").variation.as_deref(), Some("on"));
//! ```
#![deny(missing_docs)]

/// The README's code blocks, compiled and run as doctests so they cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod check;
pub mod compile;
pub mod context;
pub mod detail;
pub mod engine;
pub mod eval;
pub mod interp;
pub mod limits;
#[cfg(feature = "net")]
pub mod protocol;
#[cfg(feature = "sdk")]
pub mod sdk;
#[cfg(feature = "server")]
pub mod server;
pub mod snapshot;
pub mod syntax;
pub mod tools;
pub(crate) mod values;

pub use check::{Diagnostic, LimitError, Limits, Severity, Source};
pub use compile::{compile_sources, CompileOptions, LinkError, Ruleset};
pub use context::{Attr, Context, ContextBuilder, ContextError};
pub use detail::{Detail, ErrorCode, Matched, Reason};
pub use engine::{Engine, OwnedDetail};
pub use eval::{FlagRef, Prepared};
pub use snapshot::{Snapshot, SnapshotError, SnapshotMeta, Store};
