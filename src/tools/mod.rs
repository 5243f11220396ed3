//! The tools people reach for around a rule set: `explain`, `inspect`, `fmt`
//! and `lint`.
//!
//! Each tool is a library module the `vexil` binary prints: [`explain`]
//! traces SPEC §2 step by step for one flag and one context (over the checked
//! program, or over a loaded snapshot's tables); [`inspect`] summarises a
//! snapshot file; [`fmt`] rewrites source text in one canonical layout,
//! comments kept; [`lint`] finds rules, rollouts and segments that can never
//! matter and conditions that are always true or always false. They take what
//! the pipeline stages hand on (sources, [`crate::check::Program`],
//! [`crate::snapshot::Snapshot`]) and change none of it.

pub mod explain;
pub mod fmt;
pub mod inspect;
pub mod lint;
