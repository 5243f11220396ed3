//! vexil: feature flags evaluated in process.
//!
//! The crate is a pipeline, one module per stage:
//! source → [`syntax`] → [`check`] → [`compile`] → [`snapshot`] → [`eval`],
//! with [`interp`], the reference interpreter, beside `eval`. [`context`] and
//! [`detail`] are the input and output of every evaluation; [`values`] holds
//! the semantics both evaluators share (versions, instants, buckets);
//! [`limits`] holds every hard limit, once. [`engine`] is what a user holds:
//! the serving snapshot and owned answers. Behind features: `protocol`
//! (`net`), the propagation wire protocol; `sdk` (`sdk`), the engine fed over
//! the network by an origin or relay; `server` (`server`), origin and relay.
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
pub mod values;
