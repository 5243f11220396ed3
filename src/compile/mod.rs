//! Checked program → flat decision tables ([`Ruleset`]).
//!
//! The compiler interns attribute names, context keys and flag keys, parses
//! and sorts constants once, turns key lists into `roaring` bitmaps, splits
//! into cumulative bucket tables and conditions into jump programs. The result
//! is what `crate::eval` runs and what `crate::snapshot` writes.

pub mod strings;
pub mod tables;

pub use tables::Ruleset;
