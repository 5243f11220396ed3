//! Attribute names interned once per process.
//!
//! A context interns each attribute name when the attribute is set, and a
//! ruleset interns each attribute name it reads when it is loaded; both get
//! the same `u32` symbol for the same name, so finding an attribute during
//! evaluation is an integer probe, with no hashing or comparing of text.
//! Symbols are never reused or removed, so they stay valid across snapshot
//! swaps, and the table stops growing at
//! [`MAX_ATTRIBUTE_SYMBOLS`](crate::limits::MAX_ATTRIBUTE_SYMBOLS): a name
//! first seen after that has no symbol ([`NO_SYMBOL`]) and is found by
//! text. Because a name either gets its symbol the first time anyone asks
//! or never gets one, a context and a ruleset always agree on it.
//!
//! Each thread keeps a cache of the names it has interned, so building
//! contexts on many threads does not contend on the shared table. The
//! table also answers the other way, symbol → name ([`name`]), so a
//! context whose names all have symbols need not keep its names itself
//! (`context::shape`).

use std::cell::RefCell;
use std::sync::{OnceLock, RwLock};

use ahash::AHashMap;

/// The symbol of a name the table had no room for.
pub(crate) const NO_SYMBOL: u32 = u32::MAX;

/// The shared table: name → symbol, symbols `0..len` in order of
/// arrival, and back. Names are kept for the life of the process (at most
/// [`MAX_ATTRIBUTE_SYMBOLS`](crate::limits::MAX_ATTRIBUTE_SYMBOLS) of
/// them), so both directions lend `'static` names.
#[derive(Default)]
struct Table {
    symbols: AHashMap<&'static str, u32>,
    names: Vec<&'static str>,
}

fn table() -> &'static RwLock<Table> {
    static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// The name whose symbol is `symbol` (`None` for a symbol no name has).
pub(crate) fn name(symbol: u32) -> Option<&'static str> {
    let table = table().read().unwrap_or_else(|e| e.into_inner());
    table.names.get(symbol as usize).copied()
}

/// The symbol of `name` if it has one, without giving it one.
pub(crate) fn find(name: &str) -> Option<u32> {
    cached(name).or_else(|| {
        let table = table().read().unwrap_or_else(|e| e.into_inner());
        table.symbols.get(name).copied()
    })
}

/// The symbol of `name` from this thread's cache, if it is there.
fn cached(name: &str) -> Option<u32> {
    LOCAL
        .try_with(|local| local.try_borrow().ok().and_then(|m| m.get(name).copied()))
        .ok()
        .flatten()
}

thread_local! {
    /// This thread's copy of the names it has interned.
    static LOCAL: RefCell<AHashMap<Box<str>, u32>> = RefCell::new(AHashMap::new());
}

/// The symbol of `name`, giving it one if it has none and the table has room.
pub(crate) fn intern(name: &str) -> u32 {
    if let Some(symbol) = cached(name) {
        return symbol;
    }
    let symbol = intern_shared(name);
    if symbol != NO_SYMBOL {
        let _ = LOCAL.try_with(|local| {
            if let Ok(mut m) = local.try_borrow_mut() {
                m.insert(name.into(), symbol);
            }
        });
    }
    symbol
}

fn intern_shared(name: &str) -> u32 {
    // A panic while holding the lock cannot leave the map half-updated in
    // a way that matters (an insert either happened or not), so a poisoned
    // lock is used as it is.
    {
        let table = table().read().unwrap_or_else(|e| e.into_inner());
        if let Some(&symbol) = table.symbols.get(name) {
            return symbol;
        }
        if table.names.len() >= crate::limits::MAX_ATTRIBUTE_SYMBOLS {
            return NO_SYMBOL;
        }
    }
    let mut table = table().write().unwrap_or_else(|e| e.into_inner());
    if let Some(&symbol) = table.symbols.get(name) {
        return symbol;
    }
    if table.names.len() >= crate::limits::MAX_ATTRIBUTE_SYMBOLS {
        return NO_SYMBOL;
    }
    let symbol = table.names.len() as u32;
    // Kept for the life of the process, within the cap above.
    let kept: &'static str = Box::leak(Box::<str>::from(name));
    table.names.push(kept);
    table.symbols.insert(kept, symbol);
    symbol
}

/// Where symbol `symbol` goes in an index of `mask + 1` slots.
#[inline(always)]
pub(crate) fn slot(symbol: u32, mask: usize) -> usize {
    (u64::from(symbol).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_has_one_symbol_on_every_thread() {
        let here = intern("symbols-test-plan");
        assert_ne!(here, NO_SYMBOL);
        assert_eq!(intern("symbols-test-plan"), here);
        assert_ne!(intern("symbols-test-plan2"), here);
        let there = std::thread::spawn(|| intern("symbols-test-plan"))
            .join()
            .expect("thread");
        assert_eq!(there, here);
        // A name first interned on another thread is found here too.
        let other = std::thread::spawn(|| intern("symbols-test-other"))
            .join()
            .expect("thread");
        assert_eq!(intern("symbols-test-other"), other);
    }

    #[test]
    fn a_symbol_names_its_name_and_finding_gives_none() {
        let s = intern("symbols-test-named");
        assert_eq!(name(s), Some("symbols-test-named"));
        assert_eq!(find("symbols-test-named"), Some(s));
        assert_eq!(name(NO_SYMBOL), None);
        // Finding a name does not give it a symbol.
        assert_eq!(find("symbols-test-never-interned"), None);
        assert_eq!(find("symbols-test-never-interned"), None);
        let t = std::thread::spawn(|| find("symbols-test-named"))
            .join()
            .expect("thread");
        assert_eq!(t, Some(s));
    }
}
