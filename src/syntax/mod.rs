//! Source text → syntax tree.
//!
//! [`parse`] runs the `logos` lexer (`lexer`, internal) and the LALRPOP parser
//! generated from `grammar/vexil.lalrpop`, and returns the [`ast::SourceFile`]
//! or every [`SyntaxError`] it found, each with the byte span to point at.
//! It checks only the shape of the text; names and types are checked by
//! `crate::check`. Before the parser runs, the token list is checked against
//! the nesting limits of [`crate::limits`], so the tree handed on is never
//! deeper than they allow and every later stage may recurse over it.

pub mod ast;
pub(crate) mod lexer;
mod nesting;

#[allow(clippy::all, missing_docs, unused_qualifications, dead_code)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/vexil.rs"));
}

use ast::{SourceFile, Span};
use lalrpop_util::ParseError;
use std::fmt;

/// A lexing or parsing error: what went wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyntaxError {
    /// A sentence for a person.
    pub message: String,
    /// The offending text.
    pub span: Span,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// The tokens of a source text, or its lexical errors as syntax errors.
pub(crate) fn tokens(source: &str) -> Result<Vec<lexer::Spanned<'_>>, Vec<SyntaxError>> {
    lexer::lex(source).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| SyntaxError {
                message: e.kind.to_string(),
                span: e.span,
            })
            .collect()
    })
}

/// Parses one `.flags` source text.
pub fn parse(source: &str) -> Result<SourceFile, Vec<SyntaxError>> {
    parse_tokens(source, &tokens(source)?)
}

/// Parses `source` from its `tokens` (as [`tokens`] made them), for a
/// caller that needs the tokens too and should not lex twice (`fmt`).
pub(crate) fn parse_tokens(
    source: &str,
    tokens: &[lexer::Spanned<'_>],
) -> Result<SourceFile, Vec<SyntaxError>> {
    // Bound the depth before any tree is built (see `nesting`).
    let too_deep = nesting::check(tokens);
    if !too_deep.is_empty() {
        return Err(too_deep);
    }
    let end = source.len();
    let parser = generated::FileParser::new();
    let mut errors = Vec::new();
    let mut from = 0;
    loop {
        let rest = tokens[from..].iter().cloned().map(Ok::<_, lexer::LexError>);
        match parser.parse(rest) {
            Ok(file) if errors.is_empty() => return Ok(file),
            Ok(_) => return Err(errors),
            Err(e) => {
                let error = syntax_error(e, end);
                let at = error.span.start as usize;
                errors.push(error);
                // Panic-mode recovery: resume at the next `flag NAME {` or
                // `segment NAME {` after the error, so one typo does not hide
                // the syntax errors of the items after it.
                match resync_point(tokens, at) {
                    Some(next) if next > from => from = next,
                    _ => return Err(errors),
                }
            }
        }
    }
}

/// The index of the first token after byte `at` that starts a top-level item
/// (`flag NAME {` or `segment NAME {`; neither shape occurs inside an item).
fn resync_point(tokens: &[lexer::Spanned<'_>], at: usize) -> Option<usize> {
    use lexer::Token;
    // Tokens are in source order: start the search after `at`, not at the
    // first token (with many broken items, that would be quadratic).
    let first = tokens.partition_point(|t| t.0 <= at);
    (first..tokens.len()).find(|&i| {
        tokens[i].0 > at
            && matches!(tokens[i].1, Token::Flag | Token::Segment)
            && matches!(tokens.get(i + 1), Some((_, Token::Ident(_), _)))
            && matches!(tokens.get(i + 2), Some((_, Token::LBrace, _)))
    })
}

fn syntax_error(
    e: ParseError<usize, lexer::Token<'_>, lexer::LexError>,
    end: usize,
) -> SyntaxError {
    match e {
        ParseError::InvalidToken { location } => SyntaxError {
            message: "invalid token".into(),
            span: Span::new(location, location + 1),
        },
        ParseError::UnrecognizedEof { location, expected } => SyntaxError {
            message: format!(
                "unexpected end of file, expected {}",
                describe_expected(&expected)
            ),
            span: Span::new(location.min(end), end),
        },
        ParseError::UnrecognizedToken {
            token: (l, token, r),
            expected,
        } => {
            let found = if token.is_keyword() && expected.iter().any(|e| e == "IDENT") {
                format!(
                    "keyword `{}` (keywords are reserved and cannot be used as names)",
                    token.text()
                )
            } else {
                token.to_string()
            };
            SyntaxError {
                message: format!(
                    "unexpected {found}, expected {}",
                    describe_expected(&expected)
                ),
                span: Span::new(l, r),
            }
        }
        ParseError::ExtraToken {
            token: (l, token, r),
        } => SyntaxError {
            message: format!("unexpected {token}"),
            span: Span::new(l, r),
        },
        ParseError::User { error } => SyntaxError {
            message: error.kind.to_string(),
            span: error.span,
        },
    }
}

/// Turns LALRPOP's terminal names into a readable list.
fn describe_expected(expected: &[String]) -> String {
    let names: Vec<String> = expected
        .iter()
        .map(|e| match e.as_str() {
            "IDENT" => "a name".to_string(),
            "STRING" => "a string".to_string(),
            "NUMBER" => "a number".to_string(),
            "PERCENT" => "a percentage".to_string(),
            quoted => format!("`{}`", quoted.trim_matches('"')),
        })
        .collect();
    match names.as_slice() {
        [] => "nothing more".to_string(),
        [one] => one.clone(),
        [init @ .., last] if init.len() < 6 => format!("{} or {last}", init.join(", ")),
        _ => format!("one of {}", names.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::ast::*;
    use super::*;

    #[test]
    fn parses_the_spec_example() {
        let src = include_str!("../../corpus/spec/example.flags");
        let file = parse(src).expect("parses");
        assert_eq!(file.items.len(), 2);
        let Item::Flag(flag) = &file.items[1] else {
            panic!("second item is the flag")
        };
        assert_eq!(flag.name.name, "new-checkout");
        assert_eq!(flag.items.len(), 6);
        let FlagItemKind::Rollout(split) = &flag.items[5].kind else {
            panic!("rollout last")
        };
        assert_eq!(split.by.as_ref().map(|i| i.name.as_str()), Some("org_id"));
        assert_eq!(
            split.arms.iter().map(|a| a.weight).collect::<Vec<_>>(),
            vec![500, 9500]
        );
    }

    #[test]
    fn precedence_or_and_not() {
        let file =
            parse("flag f { rule if not a exists and b == 1 or c == 2 => on }").expect("parses");
        let Item::Flag(flag) = &file.items[0] else {
            panic!()
        };
        let FlagItemKind::Rule(rule) = &flag.items[0].kind else {
            panic!()
        };
        let Cond::Or(arms) = &rule.cond else {
            panic!("or on top: {:?}", rule.cond)
        };
        let Cond::And(ands) = &arms[0] else {
            panic!("and under or")
        };
        assert!(matches!(ands[0], Cond::Not(..)));
    }

    #[test]
    fn json_variations_keep_integers_exact() {
        let file =
            parse(r#"flag f { variations { a: 42, b: {"x": [1.5, null]}, c: "s" } default a }"#)
                .expect("parses");
        let Item::Flag(flag) = &file.items[0] else {
            panic!()
        };
        let FlagItemKind::Variations(v) = &flag.items[0].kind else {
            panic!()
        };
        assert_eq!(v[0].value.to_string(), "42");
        assert_eq!(v[1].value.to_string(), r#"{"x":[1.5,null]}"#);
    }

    #[test]
    fn keyword_as_name_is_reported_at_the_keyword() {
        let errors = parse("flag in { }").expect_err("keyword is reserved");
        assert_eq!(errors[0].span, Span::new(5, 7));
        assert!(
            errors[0].message.contains("reserved"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn syntax_errors_of_later_items_are_reported_too() {
        let src = "flag a { default }\nflag b { rule if x == => on }\nflag c { default on }\nsegment s { include [1] }";
        let errors = parse(src).expect_err("three broken items");
        let starts: Vec<u32> = errors.iter().map(|e| e.span.start).collect();
        assert_eq!(starts.len(), 3, "{errors:?}");
        assert_eq!(&src[starts[0] as usize..starts[0] as usize + 1], "}");
        assert_eq!(&src[starts[1] as usize..starts[1] as usize + 2], "=>");
        assert_eq!(&src[starts[2] as usize..starts[2] as usize + 1], "1");
    }

    #[test]
    fn not_in_is_one_operator() {
        let file = parse(r#"flag f { rule if country not in ["DE"] => on }"#).expect("parses");
        let Item::Flag(flag) = &file.items[0] else {
            panic!()
        };
        let FlagItemKind::Rule(rule) = &flag.items[0].kind else {
            panic!()
        };
        assert!(matches!(
            rule.cond,
            Cond::Atom(Atom::Compare { op: Op::NotIn, .. })
        ));
    }
}
