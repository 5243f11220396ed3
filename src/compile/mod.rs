//! Checked program → flat decision tables ([`Ruleset`]).
//!
//! Start from [`compile_sources`] (text → [`Ruleset`]) or, with a checked
//! [`check::Program`] in hand, [`compile`] and [`compile_with_keys`].
//!
//! Compilation has two halves. `codegen` turns each flag and segment into a
//! self-contained `unit`: key lists become `roaring` bitmaps over interned
//! key ids, constants are parsed and sorted once, splits become cumulative
//! bucket tables and conditions become jump programs. `link` then lays all
//! units out into one [`Ruleset`]: strings interned once, attribute names
//! sorted and numbered, code relocated, names turned into indices. The
//! result is what `crate::eval` runs and what `crate::snapshot` writes; units
//! are what a delta patch ships. These halves and the table rows are internal
//! (docs/api.md).

pub(crate) mod codegen;
pub(crate) mod link;
pub(crate) mod strings;
pub(crate) mod tables;
pub(crate) mod unit;
pub(crate) mod validate;

pub use link::LinkError;
pub use tables::Ruleset;

use crate::check::{self, Diagnostic, Limits, Source};
use crate::syntax::ast::Span;

/// Knobs of the compiler. New knobs may be added: build it with
/// [`CompileOptions::new`] or `default()`, then set fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompileOptions {
    /// The complexity caps; a file over any of them does not compile.
    pub limits: Limits,
}

impl CompileOptions {
    /// Options with these caps and every other knob at its default.
    pub fn new(limits: Limits) -> CompileOptions {
        CompileOptions { limits }
    }
}

/// Compiles a checked program; context keys are numbered afresh (sorted).
///
/// Fails only for a `Program` not made by [`check::check`] whose ids point
/// nowhere.
pub fn compile(program: &check::Program) -> Result<Ruleset, LinkError> {
    compile_with_keys(program, None)
}

/// Compiles a checked program keeping the key ids of `base` (the key table
/// of the previous version), so bitmaps of unchanged flags and segments stay
/// byte-identical and a delta patch only carries what changed. Keys the
/// program no longer names keep their ids; new keys are appended, sorted.
pub fn compile_with_keys(
    program: &check::Program,
    base: Option<&Ruleset>,
) -> Result<Ruleset, LinkError> {
    let keys = codegen::key_index(program, base.map(Ruleset::keys));
    let (flags, segments) = codegen::units(program, &keys);
    link::link(&flags, &segments, keys)
}

/// Compiles one source text (named `t.flags`) with the default options, for
/// tests; panics with the diagnostics when it does not compile.
#[cfg(test)]
pub(crate) fn compile_text(text: &str) -> Ruleset {
    let sources = [Source {
        name: "t.flags".into(),
        text: text.into(),
    }];
    match compile_sources(&sources, &CompileOptions::default()) {
        Ok(ruleset) => ruleset,
        Err(diagnostics) => panic!("does not compile: {diagnostics:?}"),
    }
}

/// Parses, checks and compiles a set of source files sharing one namespace.
pub fn compile_sources(
    sources: &[Source],
    options: &CompileOptions,
) -> Result<Ruleset, Vec<Diagnostic>> {
    let program = check::check(sources, &options.limits)?;
    compile(&program).map_err(|e| {
        vec![Diagnostic::new(
            0,
            Span::default(),
            format!("internal error: {e}"),
        )]
    })
}
