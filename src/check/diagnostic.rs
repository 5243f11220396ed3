//! Collecting diagnostics, and printing them the way a person reads them.
//!
//! Every stage of the checker reports into one [`Diags`] sink; nothing stops
//! at the first error. [`render`] turns the sorted diagnostics into
//! `FILE:LINE:COL: error: MESSAGE` headers, each followed by the offending
//! source line and a caret line under the span. Line and column numbers come
//! from `codespan-reporting`'s file database, which counts columns in Unicode
//! scalar values.

use super::{Diagnostic, Source};
use crate::syntax::ast::Span;
use codespan_reporting::files::{Files, SimpleFile};
use std::fmt::Write as _;

/// Where the checker's stages put their errors.
#[derive(Debug, Default)]
pub(crate) struct Diags {
    list: Vec<Diagnostic>,
}

impl Diags {
    /// Records one error in file `file` at `span`.
    pub(crate) fn error(&mut self, file: usize, span: Span, message: impl Into<String>) {
        self.list.push(Diagnostic {
            file,
            span,
            message: message.into(),
        });
    }

    /// How many errors were reported so far.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether nothing was reported.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// All errors, sorted by file and then by position (stable: errors at the
    /// same position keep the order they were found in).
    pub(crate) fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.list.sort_by_key(|d| (d.file, d.span.start));
        self.list
    }
}

/// A byte offset moved into `text` and back onto a character boundary.
fn clamp_to_char(text: &str, offset: u32) -> usize {
    let mut at = (offset as usize).min(text.len());
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// What the caret of one diagnostic needs: where it is and the line it is on.
struct Located<'t> {
    line: usize,
    col: usize,
    /// The text of the line, without its line break.
    line_text: &'t str,
    /// Byte offset of the span's start within `line_text`.
    start_in_line: usize,
    /// Byte offset of the span's end within `line_text` (clipped to the line).
    end_in_line: usize,
}

fn locate<'t>(file: &SimpleFile<&str, &'t str>, text: &'t str, span: Span) -> Located<'t> {
    let start = clamp_to_char(text, span.start);
    let end = clamp_to_char(text, span.end.max(span.start));
    let fallback = Located {
        line: 1,
        col: 1,
        line_text: "",
        start_in_line: 0,
        end_in_line: 0,
    };
    let Ok(line_index) = file.line_index((), start) else {
        return fallback;
    };
    let (Ok(location), Ok(range)) = (file.location((), start), file.line_range((), line_index))
    else {
        return fallback;
    };
    let line_start = range.start.min(text.len());
    let line_end = range.end.clamp(line_start, text.len());
    // A byte-order mark opening the file is not part of the first line:
    // it is neither shown nor counted as a column (SPEC §6).
    let bom = if line_start == 0 && text.starts_with(crate::syntax::lexer::BOM) {
        crate::syntax::lexer::BOM.len_utf8()
    } else {
        0
    };
    let line_start = (line_start + bom).min(line_end);
    let raw = text.get(line_start..line_end).unwrap_or("");
    let line_text = raw.trim_end_matches('\n').trim_end_matches('\r');
    let start_in_line = start.saturating_sub(line_start).min(line_text.len());
    let end_in_line = end
        .saturating_sub(line_start)
        .clamp(start_in_line, line_text.len());
    let col = if bom > 0 && start >= line_start {
        location.column_number.saturating_sub(1).max(1)
    } else {
        location.column_number
    };
    Located {
        line: location.line_number,
        col,
        line_text,
        start_in_line,
        end_in_line,
    }
}

/// The 1-based line and column (in characters) of a diagnostic.
pub(crate) fn location(diagnostic: &Diagnostic, sources: &[Source]) -> (usize, usize) {
    let Some(source) = sources.get(diagnostic.file) else {
        return (1, 1);
    };
    let file = SimpleFile::new(source.name.as_str(), source.text.as_str());
    let at = locate(&file, &source.text, diagnostic.span);
    (at.line, at.col)
}

/// Renders diagnostics with headers, source lines and carets.
pub(crate) fn render(diagnostics: &[Diagnostic], sources: &[Source]) -> String {
    let files: Vec<SimpleFile<&str, &str>> = sources
        .iter()
        .map(|s| SimpleFile::new(s.name.as_str(), s.text.as_str()))
        .collect();
    let mut out = String::new();
    for (n, d) in diagnostics.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let (Some(source), Some(file)) = (sources.get(d.file), files.get(d.file)) else {
            let _ = writeln!(out, "<unknown file>:1:1: error: {}", d.message);
            continue;
        };
        let at = locate(file, &source.text, d.span);
        let _ = writeln!(
            out,
            "{}:{}:{}: error: {}",
            source.name, at.line, at.col, d.message
        );
        let number = at.line.to_string();
        let width = number.len();
        let _ = writeln!(out, " {number} | {}", at.line_text);
        let before = at.line_text.get(..at.start_in_line).unwrap_or("");
        let under = at
            .line_text
            .get(at.start_in_line..at.end_in_line)
            .unwrap_or("");
        let prefix: String = before
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let carets = "^".repeat(under.chars().count().max(1));
        let _ = writeln!(out, " {:width$} | {prefix}{carets}", "");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Vec<Source> {
        vec![Source {
            name: "a.flags".into(),
            text: text.into(),
        }]
    }

    fn diag(start: usize, end: usize) -> Diagnostic {
        Diagnostic {
            file: 0,
            span: Span::new(start, end),
            message: "boom".into(),
        }
    }

    #[test]
    fn location_counts_chars_not_bytes() {
        let s = src("# é\n\"ü\" x");
        // `x` is at byte 10 ("# é\n" = 5 bytes, "\"ü\" " = 5 bytes).
        assert_eq!(location(&diag(10, 11), &s), (2, 5));
    }

    #[test]
    fn location_of_end_of_file_and_bad_offsets() {
        let s = src("ab\ncd");
        assert_eq!(location(&diag(5, 5), &s), (2, 3));
        assert_eq!(location(&diag(500, 600), &s), (2, 3));
        let none: Vec<Source> = Vec::new();
        assert_eq!(location(&diag(0, 1), &none), (1, 1));
    }

    #[test]
    fn render_header_line_and_caret() {
        let s = src("flag f {\n  target onn [\"a\"]\n}\n");
        let start = s[0].text.find("onn").unwrap_or(0);
        let text = render(&[diag(start, start + 3)], &s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "a.flags:2:10: error: boom");
        assert_eq!(lines[1], " 2 |   target onn [\"a\"]");
        assert_eq!(lines[2], "   |          ^^^");
    }

    #[test]
    fn render_keeps_tabs_and_counts_multibyte_chars() {
        let s = src("\t\"é\" x\n");
        let text = render(&[diag(6, 7)], &s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "a.flags:1:6: error: boom");
        assert_eq!(lines[2], "   | \t    ^");
    }

    #[test]
    fn a_byte_order_mark_is_not_a_column() {
        let s = src("\u{feff}flag x\nflag y");
        // `x` is at byte 8 (3 bytes of BOM, then "flag ").
        assert_eq!(location(&diag(8, 9), &s), (1, 6));
        assert_eq!(location(&diag(15, 16), &s), (2, 6));
        let text = render(&[diag(8, 9)], &s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], " 1 | flag x");
        assert_eq!(lines[2], "   |      ^");
    }

    #[test]
    fn render_clips_multiline_spans_to_the_first_line() {
        let s = src("ab\r\ncd");
        let text = render(&[diag(1, 6)], &s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], " 1 | ab");
        assert_eq!(lines[2], "   |  ^");
    }
}
