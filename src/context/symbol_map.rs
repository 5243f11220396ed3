//! Where a context keeps each attribute, by the symbol of its name.
//!
//! A context's symbol map answers "which position has the attribute whose name has
//! symbol `s`" for one context. Symbols below [`DIRECT_SYMBOLS`] are answered
//! by one load from a direct map of bytes (ruleset attribute names are
//! interned when a ruleset loads, so in a process that has loaded its rules
//! they are the low symbols); the rest, and positions too large for a
//! byte, by a probe of a small open-addressing index.

use super::symbols::{self, NO_SYMBOL};

/// Symbols below this are in the direct map: one byte each, so a context's
/// map is at most this many bytes.
pub(crate) const DIRECT_SYMBOLS: usize = 256;

/// A direct-map entry saying "ask the index": the attribute's position does
/// not fit below it, or the symbol is past the direct map.
pub(crate) const FAR: u8 = u8::MAX;

/// A map as it is built, before it is packed into a shape's buffer
/// (`shape::build`).
#[derive(Debug)]
pub(crate) struct Built {
    /// Entry `s` (`s` below [`DIRECT_SYMBOLS`]): the position + 1 of the
    /// attribute whose name has symbol `s`, 0 when there is none, [`FAR`]
    /// when its position does not fit (it is in `index` then). On the
    /// stack, so building a map leaves no freed block behind (contexts
    /// built one after another then lie one after another).
    direct: [u8; DIRECT_SYMBOLS],
    /// How much of `direct` is the map: the largest symbol it holds, plus one.
    direct_len: usize,
    /// An open-addressing index over the attributes `direct` does not hold:
    /// a power of two of slots, at least twice those attributes, each
    /// `symbol | (position + 1) << 32`, or 0 when empty; no slots at all
    /// when there are none. Names without a symbol are in neither.
    pub(crate) index: Vec<u64>,
}

/// Whether attribute `position`, whose name has symbol `symbol`, is held
/// by the direct map.
fn is_direct(position: usize, symbol: u32) -> bool {
    (symbol as usize) < DIRECT_SYMBOLS && position + 1 < usize::from(FAR)
}

/// The map for attributes whose names have `symbols`, in position order.
pub(crate) fn build(symbols: &[u32]) -> Built {
    let len = symbols
        .iter()
        .filter(|&&s| (s as usize) < DIRECT_SYMBOLS)
        .map(|&s| s as usize + 1)
        .max()
        .unwrap_or(0);
    let mut direct = [0u8; DIRECT_SYMBOLS];
    let mut far = 0;
    for (i, &symbol) in symbols.iter().enumerate() {
        if is_direct(i, symbol) {
            if let Some(d) = direct.get_mut(symbol as usize) {
                *d = i as u8 + 1;
            }
        } else if symbol != NO_SYMBOL {
            if let Some(d) = direct.get_mut(symbol as usize) {
                *d = FAR;
            }
            far += 1;
        }
    }
    if far == 0 {
        return Built {
            direct,
            direct_len: len,
            index: Vec::new(),
        };
    }
    let size = (far * 2).max(4_usize).next_power_of_two();
    let mut index = vec![0u64; size];
    let mask = size - 1;
    for (i, &symbol) in symbols.iter().enumerate() {
        if symbol == NO_SYMBOL || is_direct(i, symbol) {
            continue;
        }
        let mut at = symbols::slot(symbol, mask);
        while index[at] != 0 {
            at = (at + 1) & mask;
        }
        index[at] = u64::from(symbol) | (i as u64 + 1) << 32;
    }
    Built {
        direct,
        direct_len: len,
        index,
    }
}

impl Built {
    /// The direct map.
    pub(crate) fn direct(&self) -> &[u8] {
        self.direct.get(..self.direct_len).unwrap_or(&[])
    }
}

/// What the direct map says of `symbol`: the position + 1 of its
/// attribute, 0 when there is none, [`FAR`] when the answer is in the
/// index ([`NO_SYMBOL`] is far too: it is in neither).
#[inline(always)]
pub(crate) fn direct_entry(direct: &[u8], symbol: u32) -> u8 {
    match direct.get(symbol as usize) {
        Some(&d) => d,
        None if (symbol as usize) < DIRECT_SYMBOLS => 0,
        None => FAR,
    }
}

/// The position of the attribute with symbol `symbol` from an index of
/// `slots` slots, slot `k` read by `slot(k)`.
#[inline(never)]
pub(crate) fn position_in_index(
    slots: usize,
    slot: impl Fn(usize) -> Option<u64>,
    symbol: u32,
) -> Option<usize> {
    let mask = slots.wrapping_sub(1);
    let mut at = symbols::slot(symbol, mask);
    // The index is at least twice its attributes, so a probe ends at an
    // empty slot; the bound only guards the loop.
    for _ in 0..slots {
        let slot = slot(at)?;
        let position = (slot >> 32) as usize;
        if position == 0 {
            return None;
        }
        if slot as u32 == symbol {
            return Some(position - 1);
        }
        at = (at + 1) & mask;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Built {
        fn direct_entry(&self, symbol: u32) -> u8 {
            direct_entry(self.direct(), symbol)
        }

        fn position(&self, symbol: u32) -> Option<usize> {
            match self.direct_entry(symbol) {
                FAR => position_in_index(self.index.len(), |k| self.index.get(k).copied(), symbol),
                d => usize::from(d).checked_sub(1),
            }
        }
    }

    /// Builds a map and checks every attribute is found where it is.
    fn check(symbols: &[u32]) -> Built {
        let map = build(symbols);
        for (i, &s) in symbols.iter().enumerate() {
            if s != NO_SYMBOL {
                assert_eq!(map.position(s), Some(i), "symbol {s}");
            }
        }
        map
    }

    #[test]
    fn low_symbols_are_direct_and_high_ones_indexed() {
        let map = check(&[3, 0, 700, 255, 256, NO_SYMBOL, 9]);
        assert_eq!(map.direct().len(), 256);
        assert_eq!(map.direct_entry(3), 1);
        assert_eq!(map.direct_entry(9), 7);
        assert_eq!(map.direct_entry(700), FAR);
        assert_eq!(map.index.len(), 4);
        // Missing: in the direct map's range, past its end, past it, none.
        for s in [1, 8, 254, 257, 10_000, NO_SYMBOL] {
            assert_eq!(map.position(s), None, "symbol {s}");
        }
        // Low symbols only: no index, a direct map just long enough.
        let small = check(&[4, 2]);
        assert_eq!((small.direct().len(), small.index.len()), (5, 0));
        assert_eq!(small.position(200), None);
        assert_eq!(small.direct_entry(NO_SYMBOL), FAR);
        let empty = check(&[]);
        assert_eq!((empty.position(0), empty.position(5000)), (None, None));
    }

    #[test]
    fn positions_past_a_byte_are_indexed() {
        // 300 attributes with symbols 0..300 reversed: symbol 255 is at
        // position 44 (direct), symbol 0 at position 299 (far).
        let symbols: Vec<u32> = (0..300).rev().collect();
        let map = check(&symbols);
        assert_eq!(map.direct_entry(0), FAR);
        assert_eq!(map.direct_entry(255), 45);
        // Exactly the positions 254.. and the symbols 256.. are indexed.
        let far = symbols
            .iter()
            .enumerate()
            .filter(|&(i, &s)| !is_direct(i, s))
            .count();
        assert_eq!(far, 44 + 46);
        assert!(map.index.len() >= 2 * far);
        // Symbol 0 at position 0 is a full slot, not an empty one.
        let first = check(&[0, 300]);
        assert_eq!((first.position(0), first.position(300)), (Some(0), Some(1)));
    }
}
