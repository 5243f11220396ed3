//! Collecting diagnostics, and printing them the way a person reads them.
//!
//! Every stage of the checker reports into one [`Diags`] sink; nothing stops
//! at the first error. [`render`] turns the sorted diagnostics into
//! `FILE:LINE:COL: error: MESSAGE` headers, each followed by the offending
//! source line and a caret line under the span. Lines and columns are
//! 1-based; columns count Unicode scalar values. Locating is linear in the
//! file for all its diagnostics together, and a very long line is shown as a
//! window around the span, so a hostile file with a hundred thousand errors
//! on one line is reported in time and space proportional to its errors.

use super::{Diagnostic, Label, Source};
use crate::syntax::ast::Span;
use std::fmt::Write as _;

/// Where the checker's stages put their errors.
#[derive(Debug, Default)]
pub(crate) struct Diags {
    list: Vec<Diagnostic>,
}

impl Diags {
    /// Records one error in file `file` at `span`.
    pub(crate) fn error(&mut self, file: usize, span: Span, message: impl Into<String>) {
        self.list.push(Diagnostic::new(file, span, message));
    }

    /// Records one error that also points at a second place.
    pub(crate) fn error_with_label(
        &mut self,
        file: usize,
        span: Span,
        message: impl Into<String>,
        label: Label,
    ) {
        self.list
            .push(Diagnostic::new(file, span, message).with_label(label));
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

/// The line starts of one source text. Diagnostics are located in source
/// order, so the last column found is kept and the next one on the same
/// line counts on from there: locating every diagnostic of a file costs
/// time linear in the file, however many errors share one long line.
struct Lines<'t> {
    text: &'t str,
    /// Byte offset of each line's first byte.
    starts: Vec<usize>,
    /// The last lookup: (line index, byte offset, 0-based column).
    last: std::cell::Cell<(usize, usize, usize)>,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Lines<'t> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines {
            text,
            starts,
            last: std::cell::Cell::new((usize::MAX, 0, 0)),
        }
    }

    fn locate(&self, span: Span) -> Located<'t> {
        let text = self.text;
        let start = clamp_to_char(text, span.start);
        let end = clamp_to_char(text, span.end.max(span.start));
        let line = self
            .starts
            .partition_point(|&s| s <= start)
            .saturating_sub(1);
        let first = self.starts.get(line).copied().unwrap_or(0).min(text.len());
        let line_end = self
            .starts
            .get(line + 1)
            .copied()
            .unwrap_or(text.len())
            .clamp(first, text.len());
        // A byte-order mark opening the file is not part of the first line:
        // it is neither shown nor counted as a column (SPEC §6).
        let bom = if first == 0 && text.starts_with(crate::syntax::lexer::BOM) {
            crate::syntax::lexer::BOM.len_utf8()
        } else {
            0
        };
        let line_start = (first + bom).min(line_end);
        let col0 = if start < line_start {
            0
        } else {
            let (last_line, last_at, last_col) = self.last.get();
            let (from, base) = if last_line == line && (line_start..=start).contains(&last_at) {
                (last_at, last_col)
            } else {
                (line_start, 0)
            };
            let col0 = base + text.get(from..start).map_or(0, |t| t.chars().count());
            self.last.set((line, start, col0));
            col0
        };
        let raw = text.get(line_start..line_end).unwrap_or("");
        let line_text = raw.trim_end_matches('\n').trim_end_matches('\r');
        let start_in_line = start.saturating_sub(line_start).min(line_text.len());
        let end_in_line = end
            .saturating_sub(line_start)
            .clamp(start_in_line, line_text.len());
        Located {
            line: line + 1,
            col: col0 + 1,
            line_text,
            start_in_line,
            end_in_line,
        }
    }
}

/// The 1-based line and column (in characters) of a diagnostic.
pub(crate) fn location(diagnostic: &Diagnostic, sources: &[Source]) -> (usize, usize) {
    let Some(source) = sources.get(diagnostic.file) else {
        return (1, 1);
    };
    let at = Lines::new(&source.text).locate(diagnostic.span);
    (at.line, at.col)
}

/// Lines longer than this many bytes are shown as a window around the span.
const LONG_LINE: usize = 480;
/// How much of a long line is shown on each side of the span, in bytes.
const CONTEXT: usize = 160;

/// The part of a source line a diagnostic shows: all of it, or for a very
/// long line (a minified file, a generated list) a window around the span,
/// so a thousand errors on one long line do not print it a thousand times.
struct Window<'t> {
    lead: &'static str,
    text: &'t str,
    tail: &'static str,
    /// The span within `text`, in bytes.
    start: usize,
    end: usize,
}

impl<'t> Window<'t> {
    fn around(at: &Located<'t>) -> Window<'t> {
        let line = at.line_text;
        if line.len() <= LONG_LINE {
            return Window {
                lead: "",
                text: line,
                tail: "",
                start: at.start_in_line,
                end: at.end_in_line,
            };
        }
        let floor = |mut i: usize| {
            while i > 0 && !line.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let from = floor(at.start_in_line.saturating_sub(CONTEXT));
        let span_end = at.end_in_line.min(at.start_in_line + CONTEXT);
        let to = floor((span_end + CONTEXT).min(line.len()));
        Window {
            lead: if from > 0 { "…" } else { "" },
            text: &line[from..to],
            tail: if to < line.len() { "…" } else { "" },
            start: at.start_in_line - from,
            end: floor(span_end).clamp(at.start_in_line, to) - from,
        }
    }
}

/// Renders diagnostics with headers, source lines and carets.
pub(crate) fn render(diagnostics: &[Diagnostic], sources: &[Source]) -> String {
    let files: Vec<Lines<'_>> = sources.iter().map(|s| Lines::new(&s.text)).collect();
    let mut out = String::new();
    for (n, d) in diagnostics.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let (Some(source), Some(file)) = (sources.get(d.file), files.get(d.file)) else {
            let _ = writeln!(out, "<unknown file>:1:1: error: {}", d.message);
            continue;
        };
        let at = file.locate(d.span);
        let _ = writeln!(
            out,
            "{}:{}:{}: {}: {}",
            source.name,
            at.line,
            at.col,
            d.severity.as_str(),
            d.message
        );
        let number = at.line.to_string();
        let width = number.len();
        let shown = Window::around(&at);
        let _ = writeln!(
            out,
            " {number} | {}{}{}",
            shown.lead, shown.text, shown.tail
        );
        let before = shown.text.get(..shown.start).unwrap_or("");
        let under = shown.text.get(shown.start..shown.end).unwrap_or("");
        let before = format!("{}{before}", shown.lead);
        let prefix: String = before
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let carets = "^".repeat(under.chars().count().max(1));
        let _ = writeln!(out, " {:width$} | {prefix}{carets}", "");
        if let Some((name, line, col, message)) = label_place(d.label.as_ref(), sources, &files) {
            let _ = writeln!(
                out,
                " {:width$} = note: {message} at {name}:{line}:{col}",
                ""
            );
        }
    }
    out
}

/// Where a label points: file name, line, column and its message.
fn label_place<'s>(
    label: Option<&'s Label>,
    sources: &'s [Source],
    files: &[Lines<'_>],
) -> Option<(&'s str, usize, usize, &'s str)> {
    let label = label?;
    let source = sources.get(label.file)?;
    let at = files.get(label.file)?.locate(label.span);
    Some((
        source.name.as_str(),
        at.line,
        at.col,
        label.message.as_str(),
    ))
}

/// Renders diagnostics as JSON Lines (see `check::render_json`).
pub(crate) fn render_json(diagnostics: &[Diagnostic], sources: &[Source]) -> String {
    let files: Vec<Lines<'_>> = sources.iter().map(|s| Lines::new(&s.text)).collect();
    let mut out = String::new();
    for d in diagnostics {
        let mut object = serde_json::Map::new();
        let (name, (line, col), (end_line, end_col)) =
            match (sources.get(d.file), files.get(d.file)) {
                (Some(source), Some(file)) => {
                    let at = file.locate(d.span);
                    let end = file.locate(Span {
                        start: d.span.end,
                        end: d.span.end,
                    });
                    (source.name.as_str(), (at.line, at.col), (end.line, end.col))
                }
                _ => ("<unknown file>", (1, 1), (1, 1)),
            };
        object.insert("file".into(), name.into());
        object.insert("line".into(), line.into());
        object.insert("col".into(), col.into());
        object.insert("end_line".into(), end_line.into());
        object.insert("end_col".into(), end_col.into());
        object.insert("severity".into(), d.severity.as_str().into());
        object.insert("message".into(), d.message.clone().into());
        if let Some((name, line, col, message)) = label_place(d.label.as_ref(), sources, &files) {
            let mut note = serde_json::Map::new();
            note.insert("file".into(), name.into());
            note.insert("line".into(), line.into());
            note.insert("col".into(), col.into());
            note.insert("message".into(), message.into());
            object.insert("note".into(), note.into());
        }
        out.push_str(&serde_json::Value::Object(object).to_string());
        out.push('\n');
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
        Diagnostic::new(0, Span::new(start, end), "boom")
    }

    #[test]
    fn warnings_labels_and_json() {
        let s = src("flag a {}\nflag a {}\n");
        let d = Diagnostic::warning(0, Span::new(15, 16), "boom").with_label(Label {
            file: 0,
            span: Span::new(5, 6),
            message: "first defined here".into(),
        });
        let text = render(std::slice::from_ref(&d), &s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "a.flags:2:6: warning: boom");
        assert_eq!(lines[3], "   = note: first defined here at a.flags:1:6");
        let json: serde_json::Value =
            serde_json::from_str(render_json(std::slice::from_ref(&d), &s).trim())
                .expect("one JSON line");
        assert_eq!(json["line"], 2);
        assert_eq!(json["col"], 6);
        assert_eq!(json["end_col"], 7);
        assert_eq!(json["severity"], "warning");
        assert_eq!(json["note"]["line"], 1);
        assert_eq!(d.to_string(), "warning: boom");
        let as_error: &dyn std::error::Error = &d;
        assert!(as_error.source().is_none());
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
    fn render_shows_a_window_of_a_very_long_line() {
        let line = format!("{}é XYZ {}", "a".repeat(5000), "b".repeat(5000));
        let s = src(&line);
        let start = line.find("XYZ").unwrap_or(0);
        let text = render(&[diag(start, start + 3)], &s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "a.flags:1:5003: error: boom");
        assert!(lines[1].len() < 400, "{}", lines[1]);
        assert!(lines[1].contains("…") && lines[1].contains("é XYZ b"));
        // The caret still sits under the span.
        let shown: Vec<char> = lines[1].chars().collect();
        let caret = lines[2].chars().position(|c| c == '^').unwrap_or(0);
        assert_eq!(shown[caret..caret + 3].iter().collect::<String>(), "XYZ");
        assert!(lines[2].ends_with("^^^"));
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
