//! Syntax trees → checked [`Program`], or diagnostics.
//!
//! Takes the source files of one namespace, parses them, resolves every name,
//! parses every literal (semver, date, regex), enforces the compile-time checks
//! and the complexity caps of SPEC §1 and §6, and hands on a [`Program`] in
//! which nothing can be wrong any more. All errors of all files are collected
//! and rendered as `FILE:LINE:COL: error: MESSAGE` with the source line and a
//! caret.

mod cond;
mod diagnostic;
mod graph;
mod names;
pub(crate) mod program;
mod resolve;

pub use program::Program;

use crate::syntax::ast::{SourceFile, Span};
use diagnostic::Diags;
use graph::Graph;
use names::Namespace;
use resolve::Lowering;

/// One source file: its name (as printed in diagnostics) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file name as the user gave it.
    pub name: String,
    /// The UTF-8 text.
    pub text: String,
}

impl Source {
    /// A source from the bytes of a file. A file must be UTF-8 (a leading
    /// byte-order mark is fine: the lexer skips it); otherwise the error
    /// names the file and the line and column of the first bad byte.
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Result<Source, NotUtf8> {
        let name = name.into();
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Source { name, text }),
            Err(e) => {
                let bytes = e.as_bytes();
                let at = e.utf8_error().valid_up_to();
                let valid = &bytes[..at];
                let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let line_end = bytes[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |i| at + i);
                // The prefix is valid UTF-8: count its characters for the
                // column (a byte-order mark opening the file is no column).
                let before = std::str::from_utf8(&bytes[line_start..at]).unwrap_or("");
                let bom = line_start == 0 && before.starts_with(crate::syntax::lexer::BOM);
                let before = if bom { &before[3..] } else { before };
                Err(NotUtf8 {
                    name,
                    line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
                    column: before.chars().count() + 1,
                    byte: bytes[at],
                    line_text: String::from_utf8_lossy(
                        &bytes[line_start + if bom { 3 } else { 0 }..line_end],
                    )
                    .trim_end_matches('\r')
                    .to_string(),
                })
            }
        }
    }
}

/// A source file that is not UTF-8: where its first bad byte is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotUtf8 {
    /// The file name as given.
    pub name: String,
    /// 1-based line of the first byte that is not UTF-8.
    pub line: usize,
    /// 1-based column (in characters) of that byte.
    pub column: usize,
    /// The byte.
    pub byte: u8,
    /// The line, with invalid bytes shown as U+FFFD.
    pub line_text: String,
}

impl std::fmt::Display for NotUtf8 {
    /// Renders like a diagnostic: header, the line, a caret under the byte.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let number = self.line.to_string();
        let pad: String = self
            .line_text
            .chars()
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(
            f,
            "{}:{}:{}: error: invalid UTF-8 (byte 0x{:02X}); rule files must be UTF-8 text",
            self.name, self.line, self.column, self.byte
        )?;
        writeln!(f, " {number} | {}", self.line_text)?;
        write!(f, " {:width$} | {pad}^", "", width = number.len())
    }
}

impl std::error::Error for NotUtf8 {}

/// Complexity caps (SPEC §1); each is an inclusive maximum.
///
/// Every cap may be lowered freely. Three may be raised only up to a hard
/// ceiling of [`crate::limits`] ([`Limits::validate`] says which is over):
/// `condition_depth` up to [`MAX_CONDITION_NESTING`](crate::limits::MAX_CONDITION_NESTING),
/// `regex_size` up to [`REGEX_SIZE_LIMIT`](crate::limits::REGEX_SIZE_LIMIT)
/// (what the snapshot loader compiles regexes with) and `reference_depth`
/// up to [`MAX_REFERENCE_DEPTH`](crate::limits::MAX_REFERENCE_DEPTH). [`check`]
/// applies a cap over its ceiling as the ceiling, so what it accepts always
/// evaluates exactly and always loads from a snapshot.
///
/// New caps may be added: start from `Limits::default()` and set caps with
/// the `with_*` methods (or assign the fields of a `Limits` you hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Rules per flag (256).
    pub rules_per_flag: usize,
    /// Atoms per condition (32).
    pub atoms_per_condition: usize,
    /// Nesting depth of parentheses in a condition (8).
    pub condition_depth: usize,
    /// Values in one inline list of a condition (10,000).
    pub list_values: usize,
    /// Compiled size of one regex, in bytes (1 MiB): the regex crate's `size_limit`.
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
            regex_size: crate::limits::DEFAULT_REGEX_SIZE,
            reference_depth: 4,
        }
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// The files do not compile.
    Error,
    /// The files compile, but something in them is probably a mistake
    /// (`vexil lint`).
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A cap raised above its hard ceiling (see [`Limits::validate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitError {
    /// The cap, as the `Limits` field names it (e.g. `regex_size`).
    pub cap: &'static str,
    /// The value asked for.
    pub value: usize,
    /// The ceiling it may not exceed.
    pub ceiling: usize,
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} is above the hard ceiling of {}",
            self.cap, self.value, self.ceiling
        )
    }
}

impl std::error::Error for LimitError {}

impl Limits {
    /// These caps with `rules_per_flag` set.
    pub fn with_rules_per_flag(mut self, cap: usize) -> Limits {
        self.rules_per_flag = cap;
        self
    }

    /// These caps with `atoms_per_condition` set.
    pub fn with_atoms_per_condition(mut self, cap: usize) -> Limits {
        self.atoms_per_condition = cap;
        self
    }

    /// These caps with `condition_depth` set.
    pub fn with_condition_depth(mut self, cap: usize) -> Limits {
        self.condition_depth = cap;
        self
    }

    /// These caps with `list_values` set.
    pub fn with_list_values(mut self, cap: usize) -> Limits {
        self.list_values = cap;
        self
    }

    /// These caps with `regex_size` set.
    pub fn with_regex_size(mut self, cap: usize) -> Limits {
        self.regex_size = cap;
        self
    }

    /// These caps with `reference_depth` set.
    pub fn with_reference_depth(mut self, cap: usize) -> Limits {
        self.reference_depth = cap;
        self
    }

    /// The caps that have a hard ceiling, with it.
    fn ceilings(&self) -> [(&'static str, usize, usize); 3] {
        use crate::limits::{MAX_CONDITION_NESTING, MAX_REFERENCE_DEPTH, REGEX_SIZE_LIMIT};
        [
            (
                "condition_depth",
                self.condition_depth,
                MAX_CONDITION_NESTING,
            ),
            ("regex_size", self.regex_size, REGEX_SIZE_LIMIT),
            ("reference_depth", self.reference_depth, MAX_REFERENCE_DEPTH),
        ]
    }

    /// Checks that no cap is above its hard ceiling (a regex cap above
    /// [`REGEX_SIZE_LIMIT`](crate::limits::REGEX_SIZE_LIMIT) would let the
    /// compiler write snapshots the loader refuses). The first cap over its
    /// ceiling is the error.
    pub fn validate(&self) -> Result<(), LimitError> {
        match self.ceilings().into_iter().find(|(_, v, c)| v > c) {
            Some((cap, value, ceiling)) => Err(LimitError {
                cap,
                value,
                ceiling,
            }),
            None => Ok(()),
        }
    }

    /// These caps with each one over its ceiling lowered to the ceiling.
    pub fn clamped(&self) -> Limits {
        use crate::limits::{MAX_CONDITION_NESTING, MAX_REFERENCE_DEPTH, REGEX_SIZE_LIMIT};
        Limits {
            condition_depth: self.condition_depth.min(MAX_CONDITION_NESTING),
            regex_size: self.regex_size.min(REGEX_SIZE_LIMIT),
            reference_depth: self.reference_depth.min(MAX_REFERENCE_DEPTH),
            ..*self
        }
    }
}

/// A second place a diagnostic points at, e.g. the first definition of a
/// duplicate name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Index of the file in the `sources` slice.
    pub file: usize,
    /// The text pointed at.
    pub span: Span,
    /// What is there, e.g. "first defined here".
    pub message: String,
}

/// One compile-time error (or, from `vexil lint`, a warning).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnostic {
    /// Index of the file in the `sources` slice given to [`check`].
    pub file: usize,
    /// The offending text.
    pub span: Span,
    /// What is wrong, for a person.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
    /// Another place that explains this one (the first of two duplicates).
    pub label: Option<Label>,
}

impl Diagnostic {
    /// An error in file `file` at `span`.
    pub fn new(file: usize, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file,
            span,
            message: message.into(),
            severity: Severity::Error,
            label: None,
        }
    }

    /// A warning in file `file` at `span`.
    pub fn warning(file: usize, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::new(file, span, message)
        }
    }

    /// The same diagnostic with a second place to show.
    pub fn with_label(mut self, label: Label) -> Diagnostic {
        self.label = Some(label);
        self
    }
}

impl std::fmt::Display for Diagnostic {
    /// `error: MESSAGE` (the location needs the sources: see [`render`]).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.severity.as_str(), self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Checks a set of source files that share one namespace.
///
/// Every file is parsed (a file with syntax errors contributes its syntax
/// errors and no items), then all flags and segments are declared in one
/// namespace, resolved, typed and checked against `limits` (each cap over
/// its hard ceiling applied as the ceiling: [`Limits::clamped`]). Returns the
/// [`Program`], or every error of every file sorted by file and position.
pub fn check(sources: &[Source], limits: &Limits) -> Result<Program, Vec<Diagnostic>> {
    let limits = &limits.clamped();
    let mut diags = Diags::default();
    let mut files: Vec<(usize, SourceFile)> = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        match crate::syntax::parse(&source.text) {
            Ok(file) => files.push((index, file)),
            Err(errors) => {
                for e in errors {
                    diags.error(index, e.span, e.message);
                }
            }
        }
    }

    let ns = Namespace::build(&files, &mut diags);
    let mut program = Program::default();
    let mut graph = Graph {
        flag_refs: Vec::with_capacity(ns.flags.len()),
        segment_refs: Vec::with_capacity(ns.segments.len()),
    };
    {
        let mut lowering = Lowering {
            ns: &ns,
            limits,
            diags: &mut diags,
        };
        for head in &ns.flags {
            let mut refs = Vec::new();
            if let Some(flag) = lowering.flag(head, &mut refs) {
                program.flags.push(flag);
            }
            graph.flag_refs.push(refs);
        }
        for head in &ns.segments {
            let mut refs = Vec::new();
            if let Some(segment) = lowering.segment(head, &mut refs) {
                program.segments.push(segment);
            }
            graph.segment_refs.push(refs);
        }
        // Second definitions are dropped, but their errors still count.
        for head in &ns.duplicate_flags {
            lowering.flag(head, &mut Vec::new());
        }
        for head in &ns.duplicate_segments {
            lowering.segment(head, &mut Vec::new());
        }
    }
    graph.check(&ns, limits.reference_depth, &mut diags);

    if diags.is_empty() {
        Ok(program)
    } else {
        Err(diags.into_sorted())
    }
}

/// Renders diagnostics as `FILE:LINE:COL: error: MESSAGE` (`warning:` for
/// warnings), then the source line and a caret under the offending text, and
/// a `= note:` line naming `FILE:LINE:COL` of a label. Lines and columns are
/// 1-based; columns count Unicode scalar values.
pub fn render(diagnostics: &[Diagnostic], sources: &[Source]) -> String {
    diagnostic::render(diagnostics, sources)
}

/// Renders diagnostics as JSON Lines, one object per diagnostic:
/// `{"file","line","col","end_line","end_col","severity","message"}`, plus
/// `"note": {"file","line","col","message"}` when it has a label.
pub fn render_json(diagnostics: &[Diagnostic], sources: &[Source]) -> String {
    diagnostic::render_json(diagnostics, sources)
}

/// The 1-based line and column (in Unicode scalar values) where a diagnostic points.
pub fn location(diagnostic: &Diagnostic, sources: &[Source]) -> (usize, usize) {
    diagnostic::location(diagnostic, sources)
}

#[cfg(test)]
mod tests;
