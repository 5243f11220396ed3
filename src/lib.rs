//! vexil: feature flags evaluated in process.
//!
//! The crate is a pipeline, one module per stage:
//! source → [`syntax`] → [`check`] → [`compile`] → [`snapshot`] → [`eval`],
//! with [`interp`], the reference interpreter, beside `eval`. [`context`] and
//! [`detail`] are the input and output of every evaluation; [`values`] holds
//! the semantics both evaluators share (versions, instants, buckets);
//! [`limits`] holds every hard limit, once.
#![deny(missing_docs)]

pub mod check;
pub mod compile;
pub mod context;
pub mod detail;
pub mod eval;
pub mod interp;
pub mod limits;
pub mod snapshot;
pub mod syntax;
pub mod values;
