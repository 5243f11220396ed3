//! When a condition holds (SPEC §2 "Conditions", §6 "Evaluation").
//!
//! A comparison reads one attribute of the context. A scalar attribute is
//! compared as a [`Value`]; an array attribute compares its string and number
//! elements as values, one by one. Whatever does not have the literal's type
//! makes the comparison false — `!=` and `not in` included.

use std::cmp::Ordering;

use super::{served_variation, MAX_REFERENCE_DEPTH};
use crate::check::program::{Cond, List, Needle, Ordered, Scalar, SegmentId, Test};
use crate::check::Program;
use crate::context::{Attr, Context, Element, Elements};
use crate::values::date::{self, Instant};
use crate::values::semver::{self, VersionRef};

/// Whether `cond` holds for `context`. `depth` counts the segment and
/// prerequisite references followed so far.
pub(crate) fn holds(program: &Program, cond: &Cond, context: &Context, depth: usize) -> bool {
    match cond {
        Cond::All(conds) => conds.iter().all(|c| holds(program, c, context, depth)),
        Cond::Any(conds) => conds.iter().any(|c| holds(program, c, context, depth)),
        Cond::Not(inner) => !holds(program, inner, context, depth),
        Cond::Segment(segment) => {
            depth < MAX_REFERENCE_DEPTH && segment_holds(program, *segment, context, depth + 1)
        }
        Cond::Prereq { flag, variation } => {
            depth < MAX_REFERENCE_DEPTH
                && program.flags.get(flag.0 as usize).is_some_and(|flag| {
                    served_variation(program, flag, context, depth + 1) == Some(*variation)
                })
        }
        Cond::Exists(attr) => context.get(attr).is_some(),
        Cond::Compare { attr, test } => match context.get(attr) {
            None => false,
            Some(attr) => attr_satisfies(&attr, test),
        },
    }
}

/// `segment S`: the key in `include` → true; else the key in `exclude` →
/// false; else any `match` holds. Without a key only the matches count.
fn segment_holds(program: &Program, id: SegmentId, context: &Context, depth: usize) -> bool {
    let Some(segment) = program.segments.get(id.0 as usize) else {
        return false;
    };
    if let Some(key) = context.key() {
        if segment.include.iter().any(|k| k == key) {
            return true;
        }
        if segment.exclude.iter().any(|k| k == key) {
            return false;
        }
    }
    segment
        .matches
        .iter()
        .any(|c| holds(program, c, context, depth))
}

/// A string, number or boolean as the operators see it: a scalar attribute,
/// or one string or number element of an array attribute.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
}

/// Whether a present attribute satisfies `test`.
fn attr_satisfies(attr: &Attr, test: &Test) -> bool {
    match attr {
        Attr::Str(s) => value_satisfies(Value::Str(s), test),
        Attr::Num(n) => value_satisfies(Value::Num(*n), test),
        Attr::Bool(b) => value_satisfies(Value::Bool(*b), test),
        Attr::List(elements) => array_satisfies(*elements, test),
        // Objects are present but match no operator.
        Attr::Object => false,
    }
}

/// An element as a value; elements that are not strings or numbers are none.
fn element_value(element: Element<'_>) -> Option<Value<'_>> {
    match element {
        Element::Str(s) => Some(Value::Str(s)),
        Element::Num(n) => Some(Value::Num(n)),
        Element::Other => None,
    }
}

/// An array attribute: most operators hold when any element does; `!=` and
/// `not in` negate `==` and `in` over the whole array; `contains` looks for
/// an equal element.
fn array_satisfies(elements: Elements<'_>, test: &Test) -> bool {
    let mut values = elements.iter().filter_map(element_value);
    match test {
        Test::Ne(literal) => !values.any(|v| equals(literal, v) == Some(true)),
        Test::NotIn(list) => !values.any(|v| in_list(list, v)),
        Test::Contains(Needle::Str(needle)) => {
            values.any(|v| matches!(v, Value::Str(s) if s == needle))
        }
        Test::Contains(Needle::Num(needle)) => {
            values.any(|v| matches!(v, Value::Num(n) if n == *needle))
        }
        Test::Eq(_)
        | Test::Order(..)
        | Test::In(_)
        | Test::StartsWith(_)
        | Test::EndsWith(_)
        | Test::Matches(_) => values.any(|v| value_satisfies(v, test)),
    }
}

/// A scalar value against `test`.
fn value_satisfies(value: Value<'_>, test: &Test) -> bool {
    match test {
        Test::Eq(literal) => equals(literal, value) == Some(true),
        Test::Ne(literal) => equals(literal, value) == Some(false),
        Test::Order(op, literal) => compare(literal, value).is_some_and(|o| op.holds(o)),
        Test::In(list) => in_list(list, value),
        Test::NotIn(list) => match (list, value) {
            (List::Empty, Value::Str(_) | Value::Num(_)) => true,
            (List::Strs(_), Value::Str(_)) | (List::Nums(_), Value::Num(_)) => {
                !in_list(list, value)
            }
            _ => false,
        },
        Test::Contains(Needle::Str(needle)) => {
            matches!(value, Value::Str(s) if s.contains(needle.as_str()))
        }
        Test::Contains(Needle::Num(_)) => false,
        Test::StartsWith(prefix) => {
            matches!(value, Value::Str(s) if s.starts_with(prefix.as_str()))
        }
        Test::EndsWith(suffix) => matches!(value, Value::Str(s) if s.ends_with(suffix.as_str())),
        Test::Matches(regex) => matches!(value, Value::Str(s) if regex.is_match(s)),
    }
}

/// Whether `value` equals the literal; `None` when it is not of the
/// literal's type (for semver: a string that parses as a version; for a
/// date: RFC 3339 text or a number of epoch milliseconds).
fn equals(literal: &Scalar, value: Value<'_>) -> Option<bool> {
    match (literal, value) {
        (Scalar::Str(l), Value::Str(v)) => Some(l == v),
        (Scalar::Num(l), Value::Num(v)) => Some(*l == v),
        (Scalar::Bool(l), Value::Bool(v)) => Some(*l == v),
        (Scalar::Semver(l), v) => {
            version_of(v).map(|v| v.precedence(&l.as_ref()) == Ordering::Equal)
        }
        (Scalar::Date(l), v) => instant_of(v).map(|v| v == *l),
        (Scalar::Str(_) | Scalar::Num(_) | Scalar::Bool(_), _) => None,
    }
}

/// How `value` orders against the literal; `None` when it is not of the
/// literal's type (or is a NaN).
fn compare(literal: &Ordered, value: Value<'_>) -> Option<Ordering> {
    match (literal, value) {
        (Ordered::Num(l), Value::Num(v)) => v.partial_cmp(l),
        (Ordered::Num(_), _) => None,
        (Ordered::Semver(l), v) => version_of(v).map(|v| v.precedence(&l.as_ref())),
        (Ordered::Date(l), v) => instant_of(v).map(|v| v.cmp(l)),
    }
}

/// `in`: the value is of the list's type and equals one of its items.
fn in_list(list: &List, value: Value<'_>) -> bool {
    match (list, value) {
        (List::Strs(items), Value::Str(v)) => items.iter().any(|item| item == v),
        (List::Nums(items), Value::Num(v)) => items.contains(&v),
        _ => false,
    }
}

/// A string that parses as a semantic version.
fn version_of(value: Value<'_>) -> Option<VersionRef<'_>> {
    match value {
        Value::Str(s) => semver::parse(s),
        Value::Num(_) | Value::Bool(_) => None,
    }
}

/// RFC 3339 text, or a number of epoch milliseconds.
fn instant_of(value: Value<'_>) -> Option<Instant> {
    match value {
        Value::Str(s) => date::parse_rfc3339(s),
        Value::Num(ms) => date::from_epoch_millis(ms),
        Value::Bool(_) => None,
    }
}
