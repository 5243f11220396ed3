//! Syntax trees → checked [`Program`], or diagnostics.
//!
//! Takes the source files of one namespace, parses them, resolves every name,
//! parses every literal (semver, date, regex), enforces the compile-time checks
//! and the complexity caps of SPEC §1 and §6, and hands on a [`Program`] in
//! which nothing can be wrong any more. All errors of all files are collected
//! and rendered as `FILE:LINE:COL: error: MESSAGE` with the source line and a
//! caret.

pub mod program;

pub use program::Program;

use crate::syntax::ast::Span;

/// One source file: its name (as printed in diagnostics) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file name as the user gave it.
    pub name: String,
    /// The UTF-8 text.
    pub text: String,
}

/// Complexity caps (SPEC §1); each is an inclusive maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rules per flag (256).
    pub rules_per_flag: usize,
    /// Atoms per condition (32).
    pub atoms_per_condition: usize,
    /// Nesting depth of parentheses in a condition (8).
    pub condition_depth: usize,
    /// Values in one inline list of a condition (10,000).
    pub list_values: usize,
    /// Compiled size of one regex, in bytes (64 KiB): the regex crate's `size_limit`.
    pub regex_size: usize,
    /// Segment nesting depth and prerequisite chain depth (4).
    pub reference_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            rules_per_flag: 256,
            atoms_per_condition: 32,
            condition_depth: 8,
            list_values: 10_000,
            regex_size: 64 * 1024,
            reference_depth: 4,
        }
    }
}

/// One compile-time error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Index of the file in the `sources` slice given to [`check`].
    pub file: usize,
    /// The offending text.
    pub span: Span,
    /// What is wrong, for a person.
    pub message: String,
}

/// Checks a set of source files that share one namespace.
pub fn check(sources: &[Source], limits: &Limits) -> Result<Program, Vec<Diagnostic>> {
    let _ = (sources, limits);
    todo!("checker")
}

/// Renders diagnostics as `FILE:LINE:COL: error: MESSAGE`, then the source
/// line and a caret under the offending text. Lines and columns are 1-based;
/// columns count Unicode scalar values.
pub fn render(diagnostics: &[Diagnostic], sources: &[Source]) -> String {
    let _ = (diagnostics, sources);
    todo!("render")
}

/// The 1-based line and column (in Unicode scalar values) where a diagnostic points.
pub fn location(diagnostic: &Diagnostic, sources: &[Source]) -> (usize, usize) {
    let _ = (diagnostic, sources);
    todo!("location")
}
