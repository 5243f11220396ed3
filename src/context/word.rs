//! One attribute value, or one array element, in one word.
//!
//! A number is its own `f64` bits (every NaN stored as the one positive
//! quiet NaN), so every word below [`NUMBER_END`] is a number. Every other
//! value is a negative quiet NaN no number is stored as: the top 16 bits
//! say what it is, the low 48 hold its payload. A string's payload is its
//! range of the context's text and a list's its range of the elements,
//! start and length in 24 bits each; a context whose text or elements do
//! not fit 24 bits stores every range in a side table of words instead
//! (a "wide" context) and the payload is the range's index there.
//!
//! A check reads one word per attribute, in the same line as its
//! neighbours', and decides its type with one compare.

use super::draft::{Slot, Span32};

/// Words below this are numbers.
pub(super) const NUMBER_END: u64 = 0xFFF9 << 48;

/// The top 16 bits of a string (range inline).
pub(super) const STR: u64 = 0xFFF9;
/// The top 16 bits of a list (range inline).
pub(super) const LIST: u64 = 0xFFFA;
/// The top 16 bits of a boolean (payload 0 or 1).
const BOOL: u64 = 0xFFFB;
/// The top 16 bits of an object.
const OBJECT: u64 = 0xFFFC;
/// The top 16 bits of anything else (an element that is not a string or a
/// number).
const OTHER: u64 = 0xFFFD;
/// The top 16 bits of a string whose range is in the side table.
pub(super) const WIDE_STR: u64 = 0xFFFE;
/// The top 16 bits of a list whose range is in the side table.
pub(super) const WIDE_LIST: u64 = 0xFFFF;

/// The largest start or length an inline range holds.
pub(super) const FIELD: u64 = (1 << 24) - 1;

/// The top 16 bits of a word.
#[inline(always)]
pub(super) fn kind(w: u64) -> u64 {
    w >> 48
}

/// The word of a value that is not a string or a list (those are
/// [`inline`] or [`wide`]).
pub(super) fn scalar(slot: Slot) -> u64 {
    match slot {
        Slot::Num(n) if n.is_nan() => f64::NAN.to_bits(),
        Slot::Num(n) => n.to_bits(),
        Slot::Bool(b) => BOOL << 48 | u64::from(b),
        Slot::Object => OBJECT << 48,
        Slot::Str(_) | Slot::List(_) | Slot::Other => OTHER << 48,
    }
}

/// A string's ([`STR`]) or list's ([`LIST`]) word with its range inline;
/// `None` when the range does not fit.
pub(super) fn inline(kind: u64, range: Span32) -> Option<u64> {
    let start = u64::from(range.start);
    let len = u64::from(range.end.checked_sub(range.start)?);
    (start <= FIELD && len <= FIELD).then_some(kind << 48 | start << 24 | len)
}

/// A string's ([`WIDE_STR`]) or list's ([`WIDE_LIST`]) word whose range
/// is entry `index` of the side table.
pub(super) fn wide(kind: u64, index: u32) -> u64 {
    kind << 48 | u64::from(index)
}

/// The range an inline word holds.
#[inline(always)]
pub(super) fn inline_range(w: u64) -> Span32 {
    let start = (w >> 24 & FIELD) as u32;
    Span32 {
        start,
        end: start + (w & FIELD) as u32,
    }
}

/// The number a word holds.
#[inline(always)]
pub(super) fn number(w: u64) -> Option<f64> {
    (w < NUMBER_END).then(|| f64::from_bits(w))
}

/// The boolean a word holds.
#[inline(always)]
pub(super) fn boolean(w: u64) -> Option<bool> {
    (kind(w) == BOOL).then_some(w & 1 == 1)
}

/// Whether a word holds no range (a number, boolean, object or other):
/// replacing it by another such word changes nothing else.
#[inline]
pub(super) fn is_scalar(w: u64) -> bool {
    !matches!(kind(w), STR | LIST | WIDE_STR | WIDE_LIST)
}

/// The value a word holds; `side` gives the side table's range `i`.
pub(super) fn decode(w: u64, side: impl Fn(u32) -> Span32) -> Slot {
    if let Some(n) = number(w) {
        return Slot::Num(n);
    }
    match kind(w) {
        STR => Slot::Str(inline_range(w)),
        LIST => Slot::List(inline_range(w)),
        WIDE_STR => Slot::Str(side(w as u32)),
        WIDE_LIST => Slot::List(side(w as u32)),
        BOOL => Slot::Bool(w & 1 == 1),
        OBJECT => Slot::Object,
        _ => Slot::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u32, end: u32) -> Span32 {
        Span32 { start, end }
    }

    #[test]
    fn every_value_comes_back() {
        let none = |_| span(0, 0);
        for n in [
            0.0,
            -0.0,
            1.5,
            -1.0,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let w = scalar(Slot::Num(n));
            assert!(w < NUMBER_END, "{n} is a number");
            assert_eq!(decode(w, none), Slot::Num(n));
        }
        // Every NaN is the one NaN, and still a number.
        let nan = scalar(Slot::Num(f64::from_bits(0xFFFF_FFFF_FFFF_FFFF)));
        assert_eq!(nan, f64::NAN.to_bits());
        assert!(matches!(decode(nan, none), Slot::Num(n) if n.is_nan()));
        for slot in [
            Slot::Bool(true),
            Slot::Bool(false),
            Slot::Object,
            Slot::Other,
        ] {
            assert_eq!(decode(scalar(slot), none), slot);
            assert_eq!(number(scalar(slot)), None);
        }
        assert_eq!(boolean(scalar(Slot::Bool(true))), Some(true));
        assert_eq!(boolean(scalar(Slot::Bool(false))), Some(false));
        assert_eq!(boolean(scalar(Slot::Num(1.0))), None);
        for slot in [
            Slot::Num(-2.5),
            Slot::Num(f64::NAN),
            Slot::Bool(true),
            Slot::Object,
            Slot::Other,
        ] {
            assert!(is_scalar(scalar(slot)), "{slot:?}");
        }
        for w in [inline(STR, span(1, 2)), inline(LIST, span(0, 3))] {
            assert!(!is_scalar(w.expect("fits")));
        }
        assert!(!is_scalar(wide(WIDE_STR, 1)) && !is_scalar(wide(WIDE_LIST, 1)));
    }

    #[test]
    fn ranges_are_inline_up_to_24_bits_and_wide_past_them() {
        let none = |_| span(0, 0);
        let max = FIELD as u32;
        for (start, end) in [
            (0, 0),
            (3, 10),
            (max, max),
            (0, max),
            (max - 5, 2 * max - 5),
        ] {
            let w = inline(STR, span(start, end)).expect("fits");
            assert_eq!(decode(w, none), Slot::Str(span(start, end)));
            let w = inline(LIST, span(start, end)).expect("fits");
            assert_eq!(decode(w, none), Slot::List(span(start, end)));
        }
        assert_eq!(inline(STR, span(max + 1, max + 2)), None, "start too large");
        assert_eq!(inline(STR, span(0, max + 1)), None, "too long");
        assert_eq!(inline(STR, span(5, 4)), None, "not a range");
        let side = |i: u32| span(i * 100, i * 100 + u32::MAX / 2);
        assert_eq!(decode(wide(WIDE_STR, 7), side), Slot::Str(side(7)));
        assert_eq!(decode(wide(WIDE_LIST, 0), side), Slot::List(side(0)));
    }
}
