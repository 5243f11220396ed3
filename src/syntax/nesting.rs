//! Nesting bounds, checked on the token stream before the parser runs.
//!
//! The LALRPOP parser keeps its own stack on the heap, but the tree it builds
//! is nested as deeply as the text, and everything after it — the checker,
//! the compiler, the interpreter, even dropping the tree — walks it
//! recursively. So the depth is bounded here, on the flat token list, before
//! any tree exists: a JSON value in a `variations` block may nest
//! [`MAX_VALUE_NESTING`] deep (the limit the snapshot loader and the context
//! parser apply too), a condition [`MAX_CONDITION_NESTING`] deep (each `(`,
//! prefix `not` and list bracket counts), and brackets of any kind
//! [`MAX_SYNTAX_NESTING`] deep. Each violation is reported at the token that
//! goes one level too deep; the rest of that item is skipped.

use super::lexer::{Spanned, Token};
use super::SyntaxError;
use crate::limits::{MAX_CONDITION_NESTING, MAX_SYNTAX_NESTING, MAX_VALUE_NESTING};
use crate::syntax::ast::Span;

/// Every nesting violation, at most one per top-level item.
pub(super) fn check(tokens: &[Spanned<'_>]) -> Vec<SyntaxError> {
    let mut errors = Vec::new();
    // One entry per open bracket: the condition level inside it (0 outside
    // conditions). Heap-allocated, so any depth of text is fine here.
    let mut stack: Vec<usize> = Vec::new();
    // Stack length where the current condition started (after `if`/`match`).
    let mut cond_base: Option<usize> = None;
    // Stack length just inside the `{` of a `variations` block.
    let mut value_base: Option<usize> = None;
    // Prefix `not`s since the last bracket or atom.
    let mut nots = 0usize;
    // After an error: skip to the end of the item (bracket depth 0).
    let mut skipping = false;

    for (i, (start, token, end)) in tokens.iter().enumerate() {
        let here = Span::new(*start, *end);
        if skipping {
            match token {
                Token::LParen | Token::LBracket | Token::LBrace => stack.push(0),
                Token::RParen | Token::RBracket | Token::RBrace => {
                    stack.pop();
                    if stack.is_empty() {
                        skipping = false;
                    }
                }
                _ => {}
            }
            continue;
        }
        let level = match cond_base {
            Some(base) if stack.len() > base => stack.last().copied().unwrap_or(0),
            _ => 0,
        };
        let mut error = None;
        match token {
            Token::If | Token::Match => {
                cond_base = Some(stack.len());
                nots = 0;
            }
            Token::Arrow | Token::Include | Token::Exclude => {
                cond_base = None;
                nots = 0;
            }
            Token::Not if cond_base.is_some() => {
                let operator = matches!(tokens.get(i + 1), Some((_, Token::In, _)));
                if !operator {
                    nots += 1;
                    if level + nots > MAX_CONDITION_NESTING {
                        error = Some(condition_error(here));
                    }
                }
            }
            Token::LParen | Token::LBracket | Token::LBrace => {
                let depth = stack.len() + 1;
                let inner = if cond_base.is_some() {
                    level + nots + 1
                } else {
                    0
                };
                nots = 0;
                if depth > MAX_SYNTAX_NESTING {
                    error = Some(SyntaxError {
                        message: format!(
                            "brackets nested deeper than {MAX_SYNTAX_NESTING} levels (the limit for any rule file)"
                        ),
                        span: here,
                    });
                } else if value_base.is_some_and(|base| depth - base > MAX_VALUE_NESTING) {
                    error = Some(SyntaxError {
                        message: format!(
                            "variation value nested deeper than {MAX_VALUE_NESTING} levels (the limit for JSON values, shared by contexts and snapshots)"
                        ),
                        span: here,
                    });
                } else if cond_base.is_some() && inner > MAX_CONDITION_NESTING {
                    error = Some(condition_error(here));
                }
                stack.push(inner);
                let opens_variations = *token == Token::LBrace
                    && i > 0
                    && matches!(tokens.get(i - 1), Some((_, Token::Variations, _)));
                if opens_variations && value_base.is_none() {
                    value_base = Some(stack.len());
                }
            }
            Token::RParen | Token::RBracket | Token::RBrace => {
                nots = 0;
                stack.pop();
                if value_base.is_some_and(|base| stack.len() < base) {
                    value_base = None;
                }
                if cond_base.is_some_and(|base| stack.len() < base) {
                    cond_base = None;
                }
            }
            _ => nots = 0,
        }
        if let Some(e) = error {
            errors.push(e);
            cond_base = None;
            value_base = None;
            nots = 0;
            skipping = !stack.is_empty();
        }
    }
    errors
}

fn condition_error(span: Span) -> SyntaxError {
    SyntaxError {
        message: format!(
            "condition nested deeper than {MAX_CONDITION_NESTING} levels (each `(`, `not` and list counts); flatten it or move part of it into a segment"
        ),
        span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::lexer::lex;

    fn errors(src: &str) -> Vec<SyntaxError> {
        check(&lex(src).expect("lexes"))
    }

    fn rule(cond: &str) -> String {
        format!("flag f {{ rule if {cond} => on }}")
    }

    #[test]
    fn conditions_at_the_limit_pass_and_one_more_fails() {
        let n = MAX_CONDITION_NESTING;
        let parens = |k: usize| format!("{}x == 1{}", "(".repeat(k), ")".repeat(k));
        assert!(errors(&rule(&parens(n))).is_empty());
        let over = rule(&parens(n + 1));
        let e = errors(&over);
        assert_eq!(e.len(), 1, "{e:?}");
        // At the first `(` one level too deep.
        let at = over.find('(').unwrap_or(0) + n;
        assert_eq!(e[0].span, Span::new(at, at + 1));

        let nots = |k: usize| format!("{}x == 1", "not ".repeat(k));
        assert!(errors(&rule(&nots(n))).is_empty());
        assert_eq!(errors(&rule(&nots(n + 1))).len(), 1);
        // Nots and parentheses add up; `not in` is an operator, not a level.
        let mixed = |k: usize| format!("{}x == 1{}", "not (".repeat(k), ")".repeat(k));
        assert!(errors(&rule(&mixed(n / 2))).is_empty());
        assert_eq!(errors(&rule(&mixed(n / 2 + 1))).len(), 1);
        let list = format!("{}x not in [1]{}", "(".repeat(n - 1), ")".repeat(n - 1));
        assert!(errors(&rule(&list)).is_empty(), "{list}");
    }

    #[test]
    fn siblings_do_not_add_up() {
        let n = MAX_CONDITION_NESTING;
        let deep = format!("{}x == 1{}", "(".repeat(n), ")".repeat(n));
        let wide = [deep.as_str(); 10].join(" and ");
        assert!(errors(&rule(&wide)).is_empty());
        let nots = ["not x == 1"; 200].join(" and ");
        assert!(errors(&rule(&nots)).is_empty());
    }

    #[test]
    fn values_at_the_limit_pass_and_one_more_fails() {
        let value = |k: usize| format!("{}1{}", "[".repeat(k), "]".repeat(k));
        let flag = |k: usize| {
            format!(
                "flag f {{ variations {{ a: {}, b: 2 }} default a }}",
                value(k)
            )
        };
        assert!(errors(&flag(MAX_VALUE_NESTING)).is_empty());
        assert_eq!(errors(&flag(MAX_VALUE_NESTING + 1)).len(), 1);
    }

    #[test]
    fn one_error_per_item_then_the_next_item_is_checked() {
        let deep = format!("{}x == 1{}", "(".repeat(100_000), ")".repeat(100_000));
        let src = format!(
            "flag a {{ rule if {deep} => on }}\nflag b {{ rule if {} => on }}",
            "not ".repeat(MAX_CONDITION_NESTING + 1)
        );
        assert_eq!(errors(&src).len(), 2);
        assert_eq!(errors(&"{".repeat(1_000)).len(), 1);
    }
}
