//! Checked program → flat decision tables ([`Ruleset`]).
//!
//! The compiler interns attribute names, context keys and flag keys, parses
//! and sorts constants once, turns key lists into `roaring` bitmaps, splits
//! into cumulative bucket tables and conditions into jump programs. The result
//! is what `crate::eval` runs and what `crate::snapshot` writes.

pub mod strings;
pub mod tables;

pub use tables::Ruleset;
pub mod codegen;

pub use codegen::compile;

use crate::check::{self, Diagnostic, Limits, Source};

/// Knobs of the compiler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// The complexity caps; a file over any of them does not compile.
    pub limits: Limits,
}

/// Parses, checks and compiles a set of source files sharing one namespace.
pub fn compile_sources(
    sources: &[Source],
    options: &CompileOptions,
) -> Result<Ruleset, Vec<Diagnostic>> {
    let program = check::check(sources, &options.limits)?;
    Ok(compile(&program))
}
