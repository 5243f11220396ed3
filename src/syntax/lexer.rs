//! The lexer: turns `.flags` source text into spanned tokens for the LALRPOP parser.
//!
//! It is a `logos` state machine over the token enum below. Keywords are
//! reserved (SPEC §6), so each one is its own token and an identifier can never
//! spell one. Strings are decoded here, once, so the parser and everything
//! after it see plain `String`s; percentages are turned into hundredths of a
//! percent (`12.5%` → `1250`) so no floating point ever reaches a split.
//!
//! The lexer hands the parser `(start, Token, end)` triples with byte offsets,
//! which is the shape LALRPOP's `extern` block expects. Errors carry the span of
//! the bad text so the checker can point a caret at it.

use logos::Logos;
use std::fmt;

use super::ast::Span;

/// Why a piece of source text is not a token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LexErrorKind {
    /// A character that starts no token.
    #[default]
    UnexpectedChar,
    /// A string with no closing quote on its line.
    UnterminatedString,
    /// A backslash escape other than `\" \\ \n \t \u{X}`.
    BadEscape(String),
    /// A percentage with more than two decimals or out of range.
    BadPercent,
    /// A number too large to represent.
    BadNumber,
    /// A number literal whose magnitude is too large for an f64.
    NumberOverflow,
    /// A non-zero number literal too small for an f64 (it would read as 0).
    NumberUnderflow,
    /// A negative percentage such as `-5%`.
    NegativePercent,
    /// A string in single quotes.
    SingleQuoted,
    /// A name with a character outside ASCII.
    NonAsciiName(char),
    /// A character that starts no token but looks like a slip: what was
    /// written and the hint (e.g. `=` and "did you mean `==`?").
    Misspelled(String, &'static str),
}

impl fmt::Display for LexErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LexErrorKind::UnexpectedChar => write!(f, "unexpected character"),
            LexErrorKind::UnterminatedString => {
                write!(
                    f,
                    "unterminated string (strings end on the line they start)"
                )
            }
            LexErrorKind::BadEscape(e) => write!(
                f,
                "invalid escape `{e}` in string (allowed: \\\" \\\\ \\n \\t \\u{{X}})"
            ),
            LexErrorKind::BadPercent => write!(
                f,
                "invalid percentage (at most 2 decimals, no exponent, at most 100%)"
            ),
            LexErrorKind::BadNumber => write!(f, "number out of range"),
            LexErrorKind::NumberOverflow => write!(
                f,
                "number out of range: it is too large for a 64-bit float (at most about 1.8e308)"
            ),
            LexErrorKind::NumberUnderflow => write!(
                f,
                "number out of range: it is not zero but too small for a 64-bit float, which would read it as 0 (at least about 5e-324)"
            ),
            LexErrorKind::NegativePercent => write!(
                f,
                "a percentage cannot be negative (split percentages are 0% to 100%)"
            ),
            LexErrorKind::SingleQuoted => write!(
                f,
                "strings are written in double quotes: \"...\", not '...'"
            ),
            LexErrorKind::NonAsciiName(c) => write!(
                f,
                "non-ASCII character `{c}` in a name: names are ASCII letters, digits, `_`, `.` and `-` (other text belongs in a string)"
            ),
            LexErrorKind::Misspelled(found, hint) => write!(f, "unexpected `{found}`; {hint}"),
        }
    }
}

/// A lexing error with the span of the offending text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// What is wrong.
    pub kind: LexErrorKind,
    /// Where, in bytes.
    pub span: Span,
}

/// One token of the rule language.
#[derive(Logos, Debug, Clone, PartialEq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"#[^\n]*", allow_greedy = true))]
#[logos(error = LexErrorKind)]
pub enum Token<'src> {
    /// `segment`
    #[token("segment")]
    Segment,
    /// `flag`
    #[token("flag")]
    Flag,
    /// `include`
    #[token("include")]
    Include,
    /// `exclude`
    #[token("exclude")]
    Exclude,
    /// `match`
    #[token("match")]
    Match,
    /// `variations`
    #[token("variations")]
    Variations,
    /// `default`
    #[token("default")]
    Default,
    /// `enabled`
    #[token("enabled")]
    Enabled,
    /// `when_disabled`
    #[token("when_disabled")]
    WhenDisabled,
    /// `salt`
    #[token("salt")]
    Salt,
    /// `target`
    #[token("target")]
    Target,
    /// `rule`
    #[token("rule")]
    Rule,
    /// `if`
    #[token("if")]
    If,
    /// `rollout`
    #[token("rollout")]
    Rollout,
    /// `split`
    #[token("split")]
    Split,
    /// `by`
    #[token("by")]
    By,
    /// `and`
    #[token("and")]
    And,
    /// `or`
    #[token("or")]
    Or,
    /// `not`
    #[token("not")]
    Not,
    /// `in`
    #[token("in")]
    In,
    /// `is`
    #[token("is")]
    Is,
    /// `exists`
    #[token("exists")]
    Exists,
    /// `contains`
    #[token("contains")]
    Contains,
    /// `starts_with`
    #[token("starts_with")]
    StartsWith,
    /// `ends_with`
    #[token("ends_with")]
    EndsWith,
    /// `matches`
    #[token("matches")]
    Matches,
    /// `semver`
    #[token("semver")]
    Semver,
    /// `date`
    #[token("date")]
    Date,
    /// `true`
    #[token("true")]
    True,
    /// `false`
    #[token("false")]
    False,
    /// `null`
    #[token("null")]
    Null,

    /// `{`
    #[token("{")]
    LBrace,
    /// `}`
    #[token("}")]
    RBrace,
    /// `[`
    #[token("[")]
    LBracket,
    /// `]`
    #[token("]")]
    RBracket,
    /// `(`
    #[token("(")]
    LParen,
    /// `)`
    #[token(")")]
    RParen,
    /// `,`
    #[token(",")]
    Comma,
    /// `:`
    #[token(":")]
    Colon,
    /// `=>`
    #[token("=>")]
    Arrow,
    /// `==`
    #[token("==")]
    EqEq,
    /// `!=`
    #[token("!=")]
    NotEq,
    /// `<`
    #[token("<")]
    Lt,
    /// `<=`
    #[token("<=")]
    Le,
    /// `>`
    #[token(">")]
    Gt,
    /// `>=`
    #[token(">=")]
    Ge,

    /// An identifier: flag, segment, variation or attribute name.
    #[regex(r"[A-Za-z_][A-Za-z0-9_.\-]*")]
    Ident(&'src str),
    /// A string literal, escapes already decoded.
    #[regex(r#""([^"\\\n]|\\[^\n])*""#, decode_string)]
    #[token("\"", unterminated_string)]
    Str(String),
    /// A number literal, as written (JSON keeps integers exact this way).
    #[regex(r"-?[0-9]+(\.[0-9]+)?([eE][+\-]?[0-9]+)?", number)]
    Number(&'src str),
    /// A percentage in hundredths of a percent: `12.5%` is `1250`.
    #[regex(r"[0-9]+(\.[0-9]+)?%", parse_percent)]
    #[regex(r"-[0-9]+(\.[0-9]+)?%", negative_percent)]
    Percent(u32),
}

/// A number literal must fit an f64 (SPEC §6): neither overflow to infinity
/// nor, when it is not zero, underflow to zero.
fn number<'s>(lex: &mut logos::Lexer<'s, Token<'s>>) -> Result<&'s str, LexErrorKind> {
    let text = lex.slice();
    let value: f64 = text.parse().map_err(|_| LexErrorKind::BadNumber)?;
    if value.is_infinite() {
        return Err(LexErrorKind::NumberOverflow);
    }
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    if value == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return Err(LexErrorKind::NumberUnderflow);
    }
    Ok(text)
}

fn unterminated_string<'s>(lex: &mut logos::Lexer<'s, Token<'s>>) -> Result<String, LexErrorKind> {
    // Swallow the rest of the line so one missing quote is one error.
    let rest = lex.remainder();
    lex.bump(rest.find('\n').unwrap_or(rest.len()));
    Err(LexErrorKind::UnterminatedString)
}

fn decode_string<'s>(lex: &mut logos::Lexer<'s, Token<'s>>) -> Result<String, LexErrorKind> {
    let raw = lex.slice();
    unescape(&raw[1..raw.len() - 1])
}

/// Decodes the escapes of a string body (without its quotes).
pub fn unescape(body: &str) -> Result<String, LexErrorKind> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let bad = |end: usize| LexErrorKind::BadEscape(body[at..end.min(body.len())].to_string());
        match chars.next() {
            Some((_, '"')) => out.push('"'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            Some((i, 'u')) => {
                let rest = &body[i + 1..];
                let close = rest.find('}');
                let hex = match (rest.strip_prefix('{'), close) {
                    (Some(_), Some(close)) => &rest[1..close],
                    _ => return Err(bad(i + 1)),
                };
                let end = i + 1 + close.unwrap_or(0) + 1;
                if hex.is_empty() || hex.len() > 6 || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                    return Err(bad(end));
                }
                let scalar = u32::from_str_radix(hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| bad(end))?;
                out.push(scalar);
                // Skip the `{hex}` we consumed.
                for _ in 0..hex.len() + 2 {
                    chars.next();
                }
            }
            Some((i, other)) => return Err(bad(i + other.len_utf8())),
            None => return Err(bad(body.len())),
        }
    }
    Ok(out)
}

fn negative_percent<'s>(_: &mut logos::Lexer<'s, Token<'s>>) -> Result<u32, LexErrorKind> {
    Err(LexErrorKind::NegativePercent)
}

fn parse_percent<'s>(lex: &mut logos::Lexer<'s, Token<'s>>) -> Result<u32, LexErrorKind> {
    let text = &lex.slice()[..lex.slice().len() - 1];
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 2 {
        return Err(LexErrorKind::BadPercent);
    }
    let whole: u32 = whole.parse().map_err(|_| LexErrorKind::BadPercent)?;
    let mut hundredths: u32 = 0;
    for (i, d) in frac.bytes().enumerate() {
        let digit = u32::from(d - b'0');
        hundredths += if i == 0 { digit * 10 } else { digit };
    }
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(hundredths))
        .filter(|&v| v <= 10_000)
        .ok_or(LexErrorKind::BadPercent)
}

/// A spanned token as LALRPOP wants it: `(start, token, end)` in bytes.
pub type Spanned<'src> = (usize, Token<'src>, usize);

/// The UTF-8 byte-order mark, ignored at the start of a file (SPEC §6).
pub const BOM: char = '\u{feff}';

/// Lexes a whole source text. Returns every token, or every lexing error.
/// A byte-order mark at the start is skipped; spans stay byte offsets into
/// `source` as given.
pub fn lex(source: &str) -> Result<Vec<Spanned<'_>>, Vec<LexError>> {
    let mut tokens = Vec::new();
    let mut errors = Vec::new();
    let skip = if source.starts_with(BOM) {
        BOM.len_utf8()
    } else {
        0
    };
    let mut lexer = Token::lexer(&source[skip..]);
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        let (start, mut end) = (range.start + skip, range.end + skip);
        match result {
            Ok(token) => tokens.push((start, token, end)),
            Err(kind) => {
                let kind = match kind {
                    LexErrorKind::UnexpectedChar => {
                        let (kind, swallow) = explain_unexpected(lexer.slice(), lexer.remainder());
                        lexer.bump(swallow);
                        end += swallow;
                        kind
                    }
                    other => other,
                };
                errors.push(LexError {
                    kind,
                    span: Span::new(start, end),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(tokens)
    } else {
        Err(errors)
    }
}

/// Says why `found` (text that starts no token) is wrong when it looks like
/// a slip, and how many bytes of `rest` after it belong to the same mistake
/// (so one slip is one error).
fn explain_unexpected(found: &str, rest: &str) -> (LexErrorKind, usize) {
    let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
    match found {
        "=" => (
            LexErrorKind::Misspelled("=".into(), "did you mean `==`?"),
            0,
        ),
        "!" => (
            LexErrorKind::Misspelled("!".into(), "did you mean `!=` (or `not`)?"),
            0,
        ),
        "&" | "|" => {
            let doubled = rest.starts_with(found);
            let written = if doubled {
                format!("{found}{found}")
            } else {
                found.to_string()
            };
            let hint = if found == "&" {
                "conditions are joined with `and`"
            } else {
                "conditions are joined with `or`"
            };
            (
                LexErrorKind::Misspelled(written, hint),
                usize::from(doubled),
            )
        }
        "'" => match line.find('\'') {
            Some(close) => (LexErrorKind::SingleQuoted, close + 1),
            None => (LexErrorKind::SingleQuoted, 0),
        },
        _ => match found.chars().next() {
            Some(c) if !c.is_ascii() && c.is_alphanumeric() => {
                // The rest of the would-be name goes with it.
                let tail = line
                    .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-')))
                    .unwrap_or(line.len());
                (LexErrorKind::NonAsciiName(c), tail)
            }
            _ => (LexErrorKind::UnexpectedChar, 0),
        },
    }
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(s) => write!(f, "identifier `{s}`"),
            Token::Str(_) => write!(f, "string"),
            Token::Number(n) => write!(f, "number `{n}`"),
            Token::Percent(_) => write!(f, "percentage"),
            other => write!(f, "`{}`", other.text()),
        }
    }
}

impl Token<'_> {
    /// The fixed text of a keyword or punctuation token (empty for others).
    pub fn text(&self) -> &'static str {
        match self {
            Token::Segment => "segment",
            Token::Flag => "flag",
            Token::Include => "include",
            Token::Exclude => "exclude",
            Token::Match => "match",
            Token::Variations => "variations",
            Token::Default => "default",
            Token::Enabled => "enabled",
            Token::WhenDisabled => "when_disabled",
            Token::Salt => "salt",
            Token::Target => "target",
            Token::Rule => "rule",
            Token::If => "if",
            Token::Rollout => "rollout",
            Token::Split => "split",
            Token::By => "by",
            Token::And => "and",
            Token::Or => "or",
            Token::Not => "not",
            Token::In => "in",
            Token::Is => "is",
            Token::Exists => "exists",
            Token::Contains => "contains",
            Token::StartsWith => "starts_with",
            Token::EndsWith => "ends_with",
            Token::Matches => "matches",
            Token::Semver => "semver",
            Token::Date => "date",
            Token::True => "true",
            Token::False => "false",
            Token::Null => "null",
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::Comma => ",",
            Token::Colon => ":",
            Token::Arrow => "=>",
            Token::EqEq => "==",
            Token::NotEq => "!=",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::Ident(_) | Token::Str(_) | Token::Number(_) | Token::Percent(_) => "",
        }
    }

    /// Whether this token is a reserved keyword.
    pub fn is_keyword(&self) -> bool {
        self.text().starts_with(|c: char| c.is_ascii_alphabetic())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Token<'_>> {
        lex(src)
            .expect("lexes")
            .into_iter()
            .map(|(_, t, _)| t)
            .collect()
    }

    #[test]
    fn keywords_are_not_identifiers_but_prefixes_are() {
        assert_eq!(kinds("in index"), vec![Token::In, Token::Ident("index")]);
        assert_eq!(
            kinds("org.plan new-checkout"),
            vec![Token::Ident("org.plan"), Token::Ident("new-checkout")]
        );
    }

    #[test]
    fn strings_decode_escapes() {
        assert_eq!(
            kinds(r#""a\"b\\c\n\t\u{1F600}""#),
            vec![Token::Str("a\"b\\c\n\t\u{1F600}".into())]
        );
        assert_eq!(kinds(r#""\u{41}""#), vec![Token::Str("A".into())]);
    }

    #[test]
    fn bad_escapes_and_raw_newlines_are_errors() {
        for bad in [
            r#""\x""#,
            r#""\u{D800}""#,
            r#""\u{1234567}""#,
            r#""\u{}""#,
            r#""\u41""#,
            "\"a\nb\"",
        ] {
            assert!(lex(bad).is_err(), "{bad:?} should not lex");
        }
    }

    #[test]
    fn numbers_and_percentages() {
        assert_eq!(
            kinds("-1.5e3 10% 12.5% 0.01%"),
            vec![
                Token::Number("-1.5e3"),
                Token::Percent(1000),
                Token::Percent(1250),
                Token::Percent(1)
            ]
        );
        assert!(lex("1.234%").is_err());
        assert!(lex("101%").is_err());
    }

    #[test]
    fn comments_and_spans() {
        let toks = lex("# hi\nflag x # tail\n").expect("lexes");
        assert_eq!(toks, vec![(5, Token::Flag, 9), (10, Token::Ident("x"), 11)]);
    }
}
