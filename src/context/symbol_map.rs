//! Where a context keeps each attribute, by the symbol of its name.
//!
//! A [`SymbolMap`] answers "which position has the attribute whose name has
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

/// The positions of one context's attributes, by symbol.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SymbolMap {
    /// Entry `s` (`s` below [`DIRECT_SYMBOLS`]): the position + 1 of the
    /// attribute whose name has symbol `s`, 0 when there is none, [`FAR`]
    /// when its position does not fit (it is in `index` then). As long as
    /// the largest such symbol, plus one.
    direct: Vec<u8>,
    /// An open-addressing index over the attributes `direct` does not hold:
    /// a power of two of slots, at least twice those attributes, each
    /// (symbol, position + 1), or (0, 0) when empty; no slots at all when
    /// there are none. Names without a symbol are in neither.
    index: Vec<(u32, u32)>,
}

/// Whether attribute `position`, whose name has symbol `symbol`, is held
/// by the direct map.
fn is_direct(position: usize, symbol: u32) -> bool {
    (symbol as usize) < DIRECT_SYMBOLS && position + 1 < usize::from(FAR)
}

impl SymbolMap {
    /// Rebuilds the map for attributes whose names have `symbols`, in
    /// position order, reusing its buffers.
    pub(crate) fn rebuild(&mut self, symbols: &[u32]) {
        let len = symbols
            .iter()
            .filter(|&&s| (s as usize) < DIRECT_SYMBOLS)
            .map(|&s| s as usize + 1)
            .max()
            .unwrap_or(0);
        self.direct.clear();
        self.direct.resize(len, 0);
        let mut far = 0;
        for (i, &symbol) in symbols.iter().enumerate() {
            if is_direct(i, symbol) {
                self.direct[symbol as usize] = i as u8 + 1;
            } else if symbol != NO_SYMBOL {
                if let Some(d) = self.direct.get_mut(symbol as usize) {
                    *d = FAR;
                }
                far += 1;
            }
        }
        self.index.clear();
        if far == 0 {
            return;
        }
        let size = (far * 2).max(4_usize).next_power_of_two();
        self.index.resize(size, (0, 0));
        let mask = size - 1;
        for (i, &symbol) in symbols.iter().enumerate() {
            if symbol == NO_SYMBOL || is_direct(i, symbol) {
                continue;
            }
            let mut at = symbols::slot(symbol, mask);
            while self.index[at].1 != 0 {
                at = (at + 1) & mask;
            }
            self.index[at] = (symbol, i as u32 + 1);
        }
    }

    /// The position of the attribute whose name has symbol `symbol` (the
    /// evaluator composes [`SymbolMap::direct_entry`] and
    /// [`SymbolMap::position_in_index`] itself, so it can send a name
    /// without a symbol to its by-text lookup).
    #[cfg(test)]
    pub(crate) fn position(&self, symbol: u32) -> Option<usize> {
        match self.direct_entry(symbol) {
            FAR => self.position_in_index(symbol),
            d => usize::from(d).checked_sub(1),
        }
    }

    /// What the direct map says of `symbol`: the position + 1 of its
    /// attribute, 0 when there is none, [`FAR`] when the answer is in the
    /// index ([`NO_SYMBOL`] is far too: it is in neither).
    #[inline(always)]
    pub(crate) fn direct_entry(&self, symbol: u32) -> u8 {
        match self.direct.get(symbol as usize) {
            Some(&d) => d,
            None if (symbol as usize) < DIRECT_SYMBOLS => 0,
            None => FAR,
        }
    }

    /// The position of the attribute with symbol `symbol` from the index.
    #[inline(never)]
    pub(crate) fn position_in_index(&self, symbol: u32) -> Option<usize> {
        let index = &self.index[..];
        let mask = index.len().wrapping_sub(1);
        let mut at = symbols::slot(symbol, mask);
        // The index is at least twice its attributes, so a probe ends at an
        // empty slot; the bound only guards the loop.
        for _ in 0..index.len() {
            let (s, i) = *index.get(at)?;
            if i == 0 {
                return None;
            }
            if s == symbol {
                return Some(i as usize - 1);
            }
            at = (at + 1) & mask;
        }
        None
    }

    /// Touches every cache line of the map (see `Context::warm`).
    #[inline]
    pub(crate) fn warm(&self) -> u32 {
        let mut acc = 0u32;
        let mut i = 0;
        while let Some(&d) = self.direct.get(i) {
            acc ^= u32::from(d);
            i += 64;
        }
        let mut i = 0;
        while let Some(&(s, _)) = self.index.get(i) {
            acc ^= s;
            i += 8;
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a map and checks every attribute is found where it is.
    fn check(symbols: &[u32]) -> SymbolMap {
        let mut map = SymbolMap::default();
        map.rebuild(symbols);
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
        assert_eq!(map.direct.len(), 256);
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
        assert_eq!((small.direct.len(), small.index.len()), (5, 0));
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
        // Rebuilding for fewer attributes forgets the others.
        let mut map = map;
        map.rebuild(&[1]);
        assert_eq!(
            (map.position(1), map.position(0), map.position(299)),
            (Some(0), None, None)
        );
        assert!(map.index.is_empty());
    }
}
