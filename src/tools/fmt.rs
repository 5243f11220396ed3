//! `vexil fmt`: one canonical layout for `.flags` files, comments kept.
//!
//! [`format()`] takes source text that parses and hands back the same tokens
//! in one layout: each top-level item separated by one blank line, each flag
//! or segment item on its own line indented by two spaces, single spaces
//! between tokens, optional commas normalised (separators only on one line,
//! after every entry when broken over lines), percentages written in their
//! shortest form (`5.0%` → `5%`). Strings and numbers are kept exactly as
//! written, so the checked program, and the snapshot it compiles to, are
//! byte-identical. A `variations` block or a list that does not fit in
//! [`MAX_WIDTH`] columns is broken over lines (lists fill their lines);
//! any group holding a comment is broken too.
//!
//! The syntax tree has no comments, so the formatter works on the token
//! stream (`crate::syntax::lexer`) after a successful [`crate::syntax::parse`]:
//! comments are found by re-scanning the text between tokens. A comment on
//! the line of a token stays at the end of that line; a comment on its own
//! line stays on its own line, before the token that followed it. Blank
//! lines between the items of a body (and between comments there) are kept,
//! at most one; between top-level items there is always exactly one. The
//! layout is a function of the tokens, the comments and those blank lines
//! alone, which is what makes `format` idempotent.

use crate::syntax::lexer::{self, Token};
use crate::syntax::SyntaxError;

/// The column a line may reach before a `variations` block or a list breaks.
pub const MAX_WIDTH: usize = 100;

/// How deeply lists and JSON values may nest for the formatter, which
/// recurses on them; deeper text is refused rather than risk the stack.
pub const MAX_NESTING: usize = 256;

/// Indentation of one block level.
const INDENT: usize = 2;

/// Extra indentation of a line that continues an item after a comment.
const CONTINUATION: usize = 4;

/// Formats one source text. Fails with the syntax errors of a text that does
/// not parse (nothing is formatted then).
pub fn format(source: &str) -> Result<String, Vec<SyntaxError>> {
    let text = source.strip_prefix('\u{feff}').unwrap_or(source);
    let tokens = crate::syntax::tokens(text)?;
    crate::syntax::parse_tokens(text, &tokens)?;
    let comments = comments_between(text, &tokens);
    let mut printer = Printer {
        src: text,
        tokens,
        pos: 0,
        comments,
        next_comment: 0,
        out: String::with_capacity(text.len() + text.len() / 8),
        col: 0,
        at_line_start: true,
        indent: 0,
        glue: false,
        fresh: true,
        last_end: 0,
        flat: false,
        depth: 0,
    };
    printer.file().map_err(|at| {
        vec![SyntaxError {
            message: format!(
                "cannot format this text (an unexpected token, or lists or JSON values nested deeper than {MAX_NESTING})"
            ),
            span: crate::syntax::ast::Span::new(at, at + 1),
        }]
    })?;
    Ok(printer.out)
}

/// Replaces the file at `path` with `text`: written to a temporary file in
/// the same directory (keeping the file's permissions), then renamed over it,
/// so a reader never sees half a file.
pub fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "flags".into(), |n| n.to_string_lossy().into_owned());
    let temp = dir.join(format!(".{name}.fmt-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&temp, meta.permissions())?;
        }
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// A `#` comment: its byte range (without the line break) and its text.
#[derive(Debug, Clone)]
struct Comment {
    start: usize,
    text: String,
}

/// The comments in the gaps between tokens (the lexer skips them).
fn comments_between(text: &str, tokens: &[lexer::Spanned<'_>]) -> Vec<Comment> {
    let mut comments = Vec::new();
    let mut gap_start = 0;
    let ends = tokens
        .iter()
        .map(|(start, _, end)| (*start, *end))
        .chain(std::iter::once((text.len(), text.len())));
    for (start, end) in ends {
        let gap = text.get(gap_start..start).unwrap_or("");
        let mut at = 0;
        while let Some(hash) = gap[at..].find('#') {
            let from = at + hash;
            let to = gap[from..].find('\n').map_or(gap.len(), |n| from + n);
            comments.push(Comment {
                start: gap_start + from,
                text: gap[from..to].trim_end().to_string(),
            });
            at = to;
        }
        gap_start = end;
    }
    comments
}

/// The shortest text of a percentage in hundredths (`1250` → `12.5%`).
fn percent_text(hundredths: u32) -> String {
    match hundredths % 100 {
        0 => format!("{}%", hundredths / 100),
        f if f % 10 == 0 => format!("{}.{}%", hundredths / 100, f / 10),
        f => format!("{}.{f:02}%", hundredths / 100),
    }
}

/// A position to go back to after measuring a group laid out flat.
#[derive(Clone, Copy)]
struct Mark {
    pos: usize,
    next_comment: usize,
    out_len: usize,
    col: usize,
    at_line_start: bool,
    glue: bool,
    fresh: bool,
    last_end: usize,
}

/// Where a failure to format happened (a byte offset); only for a token
/// sequence the grammar would have refused.
type Unexpected = usize;

struct Printer<'s> {
    src: &'s str,
    tokens: Vec<lexer::Spanned<'s>>,
    /// The next token.
    pos: usize,
    comments: Vec<Comment>,
    next_comment: usize,
    out: String,
    /// The column (in characters) where the next character would go.
    col: usize,
    at_line_start: bool,
    /// Indentation of the next line started.
    indent: usize,
    /// The next token follows the previous one with no space.
    glue: bool,
    /// Nothing printed yet in the current block (no blank line may follow).
    fresh: bool,
    /// Source offset where the last printed token or comment ended.
    last_end: usize,
    /// Laying out a group flat to measure it: no line breaks, no comments.
    flat: bool,
    /// How many lists and JSON values enclose the current token.
    depth: usize,
}

impl<'s> Printer<'s> {
    fn peek(&self) -> Option<&Token<'s>> {
        self.tokens.get(self.pos).map(|(_, t, _)| t)
    }

    fn here(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.src.len(), |(start, _, _)| *start)
    }

    fn mark(&self) -> Mark {
        Mark {
            pos: self.pos,
            next_comment: self.next_comment,
            out_len: self.out.len(),
            col: self.col,
            at_line_start: self.at_line_start,
            glue: self.glue,
            fresh: self.fresh,
            last_end: self.last_end,
        }
    }

    fn reset(&mut self, mark: Mark) {
        self.pos = mark.pos;
        self.next_comment = mark.next_comment;
        self.out.truncate(mark.out_len);
        self.col = mark.col;
        self.at_line_start = mark.at_line_start;
        self.glue = mark.glue;
        self.fresh = mark.fresh;
        self.last_end = mark.last_end;
    }

    /// Whether a comment lies before source offset `end` (from the next one on).
    fn comment_before(&self, end: usize) -> bool {
        self.comments
            .get(self.next_comment)
            .is_some_and(|c| c.start < end)
    }

    fn push(&mut self, text: &str) {
        self.out.push_str(text);
        self.col += text.chars().count();
    }

    fn newline(&mut self) {
        if !self.at_line_start {
            let trimmed = self.out.trim_end_matches(' ').len();
            self.out.truncate(trimmed);
            self.out.push('\n');
            self.at_line_start = true;
            self.col = 0;
        }
    }

    /// Ends the current line and leaves one empty line (never two, never at
    /// the start of a block).
    fn blank_line(&mut self) {
        self.newline();
        if !self.fresh && !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Prints `text` at the current place: indentation at a line start,
    /// else a space unless glued.
    fn put(&mut self, text: &str, space: bool) {
        if self.at_line_start {
            let indent = " ".repeat(self.indent);
            self.out.push_str(&indent);
            self.col = self.indent;
            self.at_line_start = false;
        } else if space && !self.glue {
            self.push(" ");
        }
        self.glue = false;
        self.fresh = false;
        self.push(text);
    }

    /// Whether the source gap before offset `start` holds an empty line.
    fn blank_before(&self, start: usize) -> bool {
        let gap = self.src.get(self.last_end..start).unwrap_or("");
        gap.matches('\n').count() >= 2
    }

    /// Prints the comments before source offset `before`. At item level,
    /// own-line comments keep one blank line where the source had some.
    fn comments_until(&mut self, before: usize, item_level: bool) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.start >= before {
                break;
            }
            let comment = comment.clone();
            self.next_comment += 1;
            let gap = self.src.get(self.last_end..comment.start).unwrap_or("");
            let trailing = !gap.contains('\n') && !self.at_line_start;
            if trailing {
                self.push(" ");
                self.push(&comment.text);
            } else {
                if item_level && self.blank_before(comment.start) {
                    self.blank_line();
                }
                self.newline();
                let glue = self.glue;
                self.put(&comment.text, false);
                self.glue = glue;
            }
            self.newline();
            self.last_end = comment.start + comment.text.len();
        }
    }

    /// Prints the next token (after the comments before it).
    fn token(&mut self, space: bool) -> Result<(), Unexpected> {
        let Some((start, token, end)) = self.tokens.get(self.pos).cloned() else {
            return Err(self.src.len());
        };
        if !self.flat {
            self.comments_until(start, false);
        }
        let text = match token {
            Token::Percent(hundredths) => percent_text(hundredths),
            Token::Comma => return Err(start),
            _ => self.src.get(start..end).unwrap_or("").to_string(),
        };
        self.put(&text, space);
        self.last_end = end;
        self.pos += 1;
        Ok(())
    }

    /// Prints the next token, which must be `want`.
    fn expect(&mut self, want: &Token<'_>, space: bool) -> Result<(), Unexpected> {
        if self.peek() == Some(want) {
            self.token(space)
        } else {
            Err(self.here())
        }
    }

    /// Skips an optional comma (commas are printed by the layout).
    fn skip_comma(&mut self) {
        if self.peek() == Some(&Token::Comma) {
            self.pos += 1;
        }
    }

    /// Ensures the next token starts a line of its own, inside a body.
    fn item_start(&mut self) {
        let at = self.here();
        self.comments_until_item(at, false);
        self.newline();
        if self.blank_before(at) {
            self.blank_line();
        }
    }

    /// The comments before an item (or a closing brace): the trailing one of
    /// the previous line, then a blank line when `blank` (between top-level
    /// items), then own-line comments.
    fn comments_until_item(&mut self, before: usize, blank: bool) {
        // A trailing comment of the line before stays there.
        if let Some(comment) = self.comments.get(self.next_comment) {
            let gap = self.src.get(self.last_end..comment.start).unwrap_or("");
            if comment.start < before && !gap.contains('\n') && !self.at_line_start {
                let comment = comment.clone();
                self.next_comment += 1;
                self.push(" ");
                self.push(&comment.text);
                self.newline();
                self.last_end = comment.start + comment.text.len();
            }
        }
        if blank {
            self.blank_line();
        }
        self.comments_until(before, true);
    }

    fn file(&mut self) -> Result<(), Unexpected> {
        let mut first = true;
        while self.pos < self.tokens.len() {
            let at = self.here();
            self.comments_until_item(at, !first);
            self.newline();
            if self.blank_before(at) {
                self.blank_line();
            }
            first = false;
            self.item()?;
        }
        self.comments_until_item(self.src.len() + 1, false);
        self.newline();
        Ok(())
    }

    fn item(&mut self) -> Result<(), Unexpected> {
        let flag = match self.peek() {
            Some(Token::Flag) => true,
            Some(Token::Segment) => false,
            _ => return Err(self.here()),
        };
        self.token(true)?;
        self.ident()?;
        self.body(flag)
    }

    fn ident(&mut self) -> Result<(), Unexpected> {
        match self.peek() {
            Some(Token::Ident(_)) => self.token(true),
            _ => Err(self.here()),
        }
    }

    fn body(&mut self, flag: bool) -> Result<(), Unexpected> {
        self.expect(&Token::LBrace, true)?;
        let close = self.matching_close();
        if self.peek() == Some(&Token::RBrace) && !self.comment_before(close) {
            self.glue = true;
            return self.token(false);
        }
        let outer = self.indent;
        self.indent = outer + INDENT;
        self.fresh = true;
        while let Some(token) = self.peek() {
            if *token == Token::RBrace {
                break;
            }
            self.item_start();
            let base = self.indent;
            if flag {
                self.flag_item()?;
            } else {
                self.segment_item()?;
            }
            self.indent = base;
        }
        let at = self.here();
        self.comments_until_item(at, false);
        self.indent = outer;
        self.newline();
        self.expect(&Token::RBrace, false)
    }

    /// Source offset of the bracket closing the group whose opening bracket
    /// was just printed (the end of the text when unbalanced).
    fn matching_close(&self) -> usize {
        let mut depth = 0usize;
        for (start, token, _) in &self.tokens[self.pos..] {
            match token {
                Token::LBrace | Token::LBracket | Token::LParen => depth += 1,
                Token::RBrace | Token::RBracket | Token::RParen => {
                    if depth == 0 {
                        return *start;
                    }
                    depth -= 1;
                }
                _ => {}
            }
        }
        self.src.len()
    }

    fn flag_item(&mut self) -> Result<(), Unexpected> {
        let keyword = self.peek().cloned();
        self.token(true)?;
        self.indent += CONTINUATION;
        match keyword {
            Some(Token::Variations) => self.variations(),
            Some(Token::Default | Token::WhenDisabled) => self.ident(),
            Some(Token::Enabled) => match self.peek() {
                Some(Token::True | Token::False) => self.token(true),
                _ => Err(self.here()),
            },
            Some(Token::Salt) => self.string(),
            Some(Token::Target) => {
                self.ident()?;
                self.list()
            }
            Some(Token::Rule) => {
                if matches!(self.peek(), Some(Token::Str(_))) {
                    self.token(true)?;
                }
                self.expect(&Token::If, true)?;
                self.cond()?;
                self.expect(&Token::Arrow, true)?;
                match self.peek() {
                    Some(Token::Split) => self.split(),
                    _ => self.ident(),
                }
            }
            Some(Token::Rollout) => self.split(),
            _ => Err(self.here()),
        }
    }

    fn segment_item(&mut self) -> Result<(), Unexpected> {
        let keyword = self.peek().cloned();
        self.token(true)?;
        self.indent += CONTINUATION;
        match keyword {
            Some(Token::Include | Token::Exclude) => self.list(),
            Some(Token::Match) => self.cond(),
            _ => Err(self.here()),
        }
    }

    fn string(&mut self) -> Result<(), Unexpected> {
        match self.peek() {
            Some(Token::Str(_)) => self.token(true),
            _ => Err(self.here()),
        }
    }

    /// A condition: up to `=>`, or to the next segment item or `}`.
    fn cond(&mut self) -> Result<(), Unexpected> {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => return Ok(()),
                Some(
                    Token::Arrow | Token::RBrace | Token::Match | Token::Include | Token::Exclude,
                ) if depth == 0 => return Ok(()),
                Some(Token::LParen) => {
                    depth += 1;
                    self.token(true)?;
                    self.glue = true;
                }
                Some(Token::RParen) => {
                    depth = depth.saturating_sub(1);
                    self.token(false)?;
                }
                Some(Token::LBracket) => self.list()?,
                Some(Token::Semver | Token::Date) => self.literal()?,
                Some(_) => self.token(true)?,
            }
        }
    }

    /// A literal of a condition list: a scalar token, `semver("..")`,
    /// `date("..")` or a (nested) list.
    fn literal(&mut self) -> Result<(), Unexpected> {
        match self.peek() {
            Some(Token::LBracket) => self.list(),
            Some(Token::Semver | Token::Date) => {
                self.token(true)?;
                self.expect(&Token::LParen, false)?;
                self.glue = true;
                self.string()?;
                self.expect(&Token::RParen, false)
            }
            Some(Token::Str(_) | Token::Number(_) | Token::True | Token::False) => self.token(true),
            _ => Err(self.here()),
        }
    }

    /// Lays a group out flat if it fits and holds no comment; else calls
    /// `broken`. `flat` prints it on one line.
    fn group(
        &mut self,
        close: usize,
        flat: fn(&mut Self) -> Result<(), Unexpected>,
        broken: fn(&mut Self) -> Result<(), Unexpected>,
    ) -> Result<(), Unexpected> {
        if self.flat {
            return flat(self);
        }
        if !self.comment_before(close) {
            let mark = self.mark();
            self.flat = true;
            let laid = flat(self);
            self.flat = false;
            if laid.is_ok() && self.col <= MAX_WIDTH {
                return Ok(());
            }
            self.reset(mark);
        }
        broken(self)
    }

    /// Source offset of the bracket closing the group that opens at the
    /// next token (or after `skip` more tokens).
    fn close_of_next(&self, skip: usize) -> usize {
        let mut depth = 0usize;
        for (start, token, _) in self.tokens.iter().skip(self.pos + skip) {
            match token {
                Token::LBrace | Token::LBracket | Token::LParen => depth += 1,
                Token::RBrace | Token::RBracket | Token::RParen => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return *start;
                    }
                }
                _ => {}
            }
        }
        self.src.len()
    }

    /// `[a, b, ...]`: flat, or broken with the elements filling lines.
    fn list(&mut self) -> Result<(), Unexpected> {
        self.nested(|p| {
            let close = p.close_of_next(0);
            p.group(close, Self::list_flat, Self::list_broken)
        })
    }

    /// Runs `f` one nesting level deeper, refusing past [`MAX_NESTING`].
    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<(), Unexpected>,
    ) -> Result<(), Unexpected> {
        if self.depth >= MAX_NESTING {
            return Err(self.here());
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn list_flat(&mut self) -> Result<(), Unexpected> {
        self.expect(&Token::LBracket, true)?;
        self.glue = true;
        let mut first = true;
        while self.peek() != Some(&Token::RBracket) {
            if !first {
                self.put(",", false);
            }
            first = false;
            self.literal()?;
            self.skip_comma();
        }
        self.expect(&Token::RBracket, false)
    }

    fn list_broken(&mut self) -> Result<(), Unexpected> {
        self.expect(&Token::LBracket, true)?;
        let outer = self.indent;
        let base = self.line_indent();
        self.indent = base + INDENT;
        let at = self.here();
        self.comments_until(at, false);
        self.newline();
        while self.peek() != Some(&Token::RBracket) {
            if self.peek().is_none() {
                return Err(self.src.len());
            }
            // Fill: start a new line when the element would not fit.
            let at = self.here();
            self.comments_until(at, false);
            if !self.at_line_start {
                let mark = self.mark();
                self.flat = true;
                let laid = self.literal();
                self.flat = false;
                let fits = laid.is_ok() && self.col < MAX_WIDTH;
                self.reset(mark);
                if !fits {
                    self.newline();
                }
            }
            self.literal()?;
            self.skip_comma();
            self.glue = true;
            self.put(",", false);
        }
        let at = self.here();
        self.comments_until(at, false);
        self.indent = base;
        self.newline();
        self.expect(&Token::RBracket, false)?;
        self.indent = outer;
        Ok(())
    }

    /// The indentation of the line being printed.
    fn line_indent(&self) -> usize {
        let line = self.out.rsplit('\n').next().unwrap_or("");
        line.len() - line.trim_start_matches(' ').len()
    }

    /// `variations { name: json, ... }`.
    fn variations(&mut self) -> Result<(), Unexpected> {
        let close = self.close_of_next(0);
        self.group(close, Self::variations_flat, Self::variations_broken)
    }

    fn variations_flat(&mut self) -> Result<(), Unexpected> {
        self.expect(&Token::LBrace, true)?;
        let mut first = true;
        while self.peek() != Some(&Token::RBrace) {
            if !first {
                self.put(",", false);
            }
            first = false;
            self.variation()?;
        }
        self.expect(&Token::RBrace, true)
    }

    fn variations_broken(&mut self) -> Result<(), Unexpected> {
        self.entries_broken(Self::variation)
    }

    /// `{ entry, entry, ... }` with one entry per line, each with a comma.
    fn entries_broken(
        &mut self,
        entry: fn(&mut Self) -> Result<(), Unexpected>,
    ) -> Result<(), Unexpected> {
        self.expect(&Token::LBrace, true)?;
        let outer = self.indent;
        let base = self.line_indent();
        self.indent = base + INDENT;
        while self.peek() != Some(&Token::RBrace) {
            if self.peek().is_none() {
                return Err(self.src.len());
            }
            let at = self.here();
            self.comments_until(at, false);
            self.newline();
            self.indent = base + INDENT;
            entry(self)?;
            self.indent = base + INDENT;
            self.glue = true;
            self.put(",", false);
        }
        let at = self.here();
        self.comments_until(at, false);
        self.indent = base;
        self.newline();
        self.expect(&Token::RBrace, false)?;
        self.indent = outer;
        Ok(())
    }

    fn variation(&mut self) -> Result<(), Unexpected> {
        self.ident()?;
        self.expect(&Token::Colon, false)?;
        let base = self.indent;
        self.indent = self.line_indent() + CONTINUATION;
        self.json()?;
        self.indent = base;
        self.skip_comma();
        Ok(())
    }

    /// A JSON value, always on one line (comments inside break it).
    fn json(&mut self) -> Result<(), Unexpected> {
        match self.peek() {
            Some(Token::LBrace | Token::LBracket) => self.nested(Self::json_value),
            _ => self.json_value(),
        }
    }

    fn json_value(&mut self) -> Result<(), Unexpected> {
        match self.peek() {
            Some(Token::LBrace) => self.json_items(&Token::RBrace, |p| {
                p.string()?;
                p.expect(&Token::Colon, false)?;
                p.json()
            }),
            Some(Token::LBracket) => self.json_items(&Token::RBracket, Self::json),
            Some(Token::Str(_) | Token::Number(_) | Token::True | Token::False | Token::Null) => {
                self.token(true)
            }
            _ => Err(self.here()),
        }
    }

    /// The opening bracket, then `item`s separated by `, ` (a trailing comma
    /// dropped) up to `close`, all on one line.
    fn json_items(
        &mut self,
        close: &Token,
        mut item: impl FnMut(&mut Self) -> Result<(), Unexpected>,
    ) -> Result<(), Unexpected> {
        self.token(true)?;
        self.glue = true;
        let mut first = true;
        while self.peek() != Some(close) {
            if self.peek().is_none() {
                return Err(self.src.len());
            }
            if !first {
                self.put(",", false);
            }
            first = false;
            item(self)?;
            self.skip_comma();
        }
        self.glue = true;
        self.expect(close, false)
    }

    /// `split (by ATTR)? { name: P%, ... }`: flat unless a comment is inside.
    fn split(&mut self) -> Result<(), Unexpected> {
        self.expect(&Token::Split, true)?;
        if self.peek() == Some(&Token::By) {
            self.token(true)?;
            self.ident()?;
        }
        let close = self.close_of_next(0);
        if self.comment_before(close) {
            return self.entries_broken(Self::arm);
        }
        self.expect(&Token::LBrace, true)?;
        let mut first = true;
        while self.peek() != Some(&Token::RBrace) {
            if self.peek().is_none() {
                return Err(self.src.len());
            }
            if !first {
                self.put(",", false);
            }
            first = false;
            self.arm()?;
        }
        self.expect(&Token::RBrace, true)
    }

    fn arm(&mut self) -> Result<(), Unexpected> {
        self.ident()?;
        self.expect(&Token::Colon, false)?;
        match self.peek() {
            Some(Token::Percent(_)) => self.token(true)?,
            _ => return Err(self.here()),
        }
        self.skip_comma();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        match format(text) {
            Ok(out) => out,
            Err(e) => panic!("{e:?}"),
        }
    }

    fn assert_idempotent(text: &str) -> String {
        let once = fmt(text);
        let twice = fmt(&once);
        assert_eq!(once, twice, "not idempotent; first pass:\n{once}");
        once
    }

    #[test]
    fn canonical_layout_of_the_spec_example() {
        let src = "segment beta { include [\"u-1\",\"u-2\"]  match plan == \"enterprise\" and country in [\"DE\", \"FR\",] }\nflag new-checkout { variations { on: true off: false } default off\n target on [\"alice\", \"bob\"] rule \"beta users\" if segment beta => on\n rule \"ios 10%\" if platform == \"ios\" and app_version >= semver( \"2.3.0\" ) => split { on: 10.0%, off: 90% }\n  rollout split by org_id { on: 5%, off: 95% } }";
        let out = assert_idempotent(src);
        assert_eq!(
            out,
            "segment beta {\n  include [\"u-1\", \"u-2\"]\n  match plan == \"enterprise\" and country in [\"DE\", \"FR\"]\n}\n\nflag new-checkout {\n  variations { on: true, off: false }\n  default off\n  target on [\"alice\", \"bob\"]\n  rule \"beta users\" if segment beta => on\n  rule \"ios 10%\" if platform == \"ios\" and app_version >= semver(\"2.3.0\") => split { on: 10%, off: 90% }\n  rollout split by org_id { on: 5%, off: 95% }\n}\n"
        );
    }

    #[test]
    fn comments_stay_where_they_were() {
        let src = "# header\n\n# about f\nflag f { # trailing brace\n  default on # why\n\n  # own line\n  rule if (a == 1 # inside\n and b == 2) => off\n  # before close\n}\n# the end\n";
        let out = assert_idempotent(src);
        assert_eq!(
            out,
            "# header\n\n# about f\nflag f { # trailing brace\n  default on # why\n\n  # own line\n  rule if (a == 1 # inside\n      and b == 2) => off\n  # before close\n}\n# the end\n"
        );
    }

    #[test]
    fn long_groups_break_and_fill() {
        let keys: Vec<String> = (0..40).map(|i| format!("\"user-{i:03}\"")).collect();
        let src = format!(
            "flag f {{ variations {{ a: {{\"model\": \"two-tower-v3\", \"items\": [1, 2, 3]}}, b: {{\"model\": \"co-purchase-v1\", \"items\": []}} }} default a target b [{}] }}",
            keys.join(",")
        );
        let out = assert_idempotent(&src);
        assert!(out.contains("  variations {\n    a: {\"model\": \"two-tower-v3\", \"items\": [1, 2, 3]},\n    b: {\"model\": \"co-purchase-v1\", \"items\": []},\n  }\n"), "{out}");
        assert!(
            out.contains("  target b [\n    \"user-000\", \"user-001\","),
            "{out}"
        );
        assert!(out.lines().all(|l| l.chars().count() <= MAX_WIDTH), "{out}");
        assert!(out.contains("\"user-039\",\n  ]\n"), "{out}");
    }

    #[test]
    fn comments_inside_groups_break_them() {
        let src = "flag f {\n  variations { a: 1, # one\n b: 2 }\n  default a\n  rollout split { a: 50%, # half\n b: 50% }\n  target a [\"x\", # first\n \"y\"]\n}\n";
        let out = assert_idempotent(src);
        assert!(
            out.contains("  variations {\n    a: 1, # one\n    b: 2,\n  }\n"),
            "{out}"
        );
        assert!(
            out.contains("  rollout split {\n    a: 50%, # half\n    b: 50%,\n  }\n"),
            "{out}"
        );
        assert!(
            out.contains("  target a [\n    \"x\", # first\n    \"y\",\n  ]\n"),
            "{out}"
        );
    }

    #[test]
    fn strings_and_numbers_are_kept_as_written() {
        let src = "flag f { variations { a: 1e3, b: 2.50 } default a rule if s == \"\\u{41}\\t\" and n >= 5E-1 => b }";
        let out = assert_idempotent(src);
        assert!(out.contains("a: 1e3, b: 2.50"), "{out}");
        assert!(out.contains("s == \"\\u{41}\\t\" and n >= 5E-1"), "{out}");
    }

    #[test]
    fn empty_bodies_bom_and_crlf() {
        assert_eq!(fmt("\u{feff}flag f {}\r\n"), "flag f {}\n");
        assert_eq!(
            fmt("flag f {\r\n  default on # x\r\n}\r\n"),
            "flag f {\n  default on # x\n}\n"
        );
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("# only\n"), "# only\n");
    }

    #[test]
    fn syntax_errors_are_returned_not_formatted() {
        let errors = format("flag f { default }").expect_err("does not parse");
        assert!(!errors.is_empty());
    }

    #[test]
    fn nesting_past_the_cap_is_refused() {
        let nested = |depth: usize| {
            format!(
                "flag f {{ variations {{ a: {}1{} }} default a }}",
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        // The parser refuses values deeper than the shared limit before fmt
        // sees them; fmt's own cap (for any bracket) sits above it.
        const { assert!(MAX_NESTING >= crate::limits::MAX_VALUE_NESTING) };
        let deepest = crate::limits::MAX_VALUE_NESTING;
        let errors = format(&nested(deepest + 1)).expect_err("too deep to format");
        assert!(errors[0].message.contains("nested deeper"), "{errors:?}");
        assert!(format(&nested(deepest)).is_ok());
    }

    #[test]
    fn percentages_take_their_shortest_form() {
        assert_eq!(percent_text(500), "5%");
        assert_eq!(percent_text(1250), "12.5%");
        assert_eq!(percent_text(3333), "33.33%");
        assert_eq!(percent_text(1), "0.01%");
        assert_eq!(percent_text(10_000), "100%");
    }
}
