//! Value semantics shared by the interpreter and the compiled evaluator:
//! semantic versions, RFC 3339 instants and percentage buckets.
//!
//! These are the leaves of evaluation; both evaluators call the same code
//! here so that they can only disagree about structure, never about what a
//! version or an instant is.

pub mod bucket;
pub mod date;
pub mod semver;
