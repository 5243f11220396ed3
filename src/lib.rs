//! vexil: feature flags evaluated in process.
//!
//! The crate is a pipeline, one module per stage:
//! source → [`syntax`] → [`check`] → [`compile`] → [`snapshot`] → [`eval`],
//! with [`interp`], the reference interpreter, beside `eval`.
#![deny(missing_docs)]

pub mod syntax;
