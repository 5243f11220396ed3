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
//! contexts on many threads does not contend on the shared table: first a
//! small direct-mapped table probed by a hash of a name's length and its
//! first and last eight bytes (a hit costs a few loads and one compare of
//! the name, no hashing of the whole name), then a map of every name the
//! thread has interned. The table also answers the other way, symbol →
//! name ([`name`], without a lock), so a context whose names all have
//! symbols need not keep its names itself (`context::shape`).

use std::cell::{Cell, RefCell};
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
    /// Symbols given out; their names are in [`NAMES`].
    len: usize,
}

fn table() -> &'static RwLock<Table> {
    static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// Symbols a chunk of [`NAMES`] holds.
const CHUNK: usize = 256;

/// A chunk of [`NAMES`].
type Chunk = Box<[OnceLock<&'static str>]>;

/// The names by symbol, in chunks of [`CHUNK`] made when their first
/// symbol is given out; each name is set once (under the table's write
/// lock, before its symbol is handed out), so reading one takes no lock.
static NAMES: [OnceLock<Chunk>; crate::limits::MAX_ATTRIBUTE_SYMBOLS / CHUNK] =
    [const { OnceLock::new() }; crate::limits::MAX_ATTRIBUTE_SYMBOLS / CHUNK];

/// The slot of symbol `symbol`'s name, its chunk made if `make`.
fn name_slot(symbol: u32, make: bool) -> Option<&'static OnceLock<&'static str>> {
    let (chunk, at) = (symbol as usize / CHUNK, symbol as usize % CHUNK);
    let chunk = NAMES.get(chunk)?;
    let chunk = match make {
        true => chunk.get_or_init(|| (0..CHUNK).map(|_| OnceLock::new()).collect()),
        false => chunk.get()?,
    };
    chunk.get(at)
}

/// The name whose symbol is `symbol` (`None` for a symbol no name has).
pub(crate) fn name(symbol: u32) -> Option<&'static str> {
    name_slot(symbol, false)?.get().copied()
}

/// The symbol of `name` if it has one, without giving it one.
pub(crate) fn find(name: &str) -> Option<u32> {
    cached(name).or_else(|| {
        let table = table().read().unwrap_or_else(|e| e.into_inner());
        table.symbols.get(name).copied()
    })
}

/// The symbol of `name` from this thread's caches, if it is there.
#[inline]
fn cached(name: &str) -> Option<u32> {
    let slot = recent_slot(name.as_bytes());
    let recent = RECENT
        .try_with(|recent| recent.get(slot).map(Cell::get))
        .ok()
        .flatten();
    if let Some((kept, symbol)) = recent {
        if symbol != NO_SYMBOL && crate::context::same_bytes(kept.as_bytes(), name.as_bytes()) {
            return Some(symbol);
        }
    }
    let (kept, symbol) = LOCAL
        .try_with(|local| {
            local
                .try_borrow()
                .ok()
                .and_then(|m| m.get_key_value(name).map(|(&k, &s)| (k, s)))
        })
        .ok()
        .flatten()?;
    remember(slot, kept, symbol);
    Some(symbol)
}

/// Slots of a thread's direct-mapped cache of recent names.
const RECENT_SLOTS: usize = 128;

/// An empty slot of the recent-names cache (its symbol is no symbol, so
/// it answers no name, not even the empty one).
const EMPTY_SLOT: (&str, u32) = ("", NO_SYMBOL);

thread_local! {
    /// The names this thread has interned (the table's copies).
    static LOCAL: RefCell<AHashMap<&'static str, u32>> = RefCell::new(AHashMap::new());
    /// The names this thread interned last, by [`recent_slot`]: the
    /// table's `'static` name and its symbol.
    static RECENT: [Cell<(&'static str, u32)>; RECENT_SLOTS] =
        const { [const { Cell::new(EMPTY_SLOT) }; RECENT_SLOTS] };
}

/// Where `name` goes in the recent-names cache: a hash of its length and
/// of its first and last (up to) eight bytes.
#[inline(always)]
fn recent_slot(name: &[u8]) -> usize {
    let n = name.len();
    let load8 = |at: usize| {
        name.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    let load4 = |at: usize| {
        name.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, |b| u64::from(u32::from_le_bytes(b)))
    };
    let byte = |at: usize| name.get(at).map_or(0, |&b| u64::from(b));
    let (head, tail) = if n >= 8 {
        (load8(0), load8(n - 8))
    } else if n >= 4 {
        (load4(0), load4(n - 4))
    } else {
        (byte(0) | byte(n / 2) << 8, byte(n.wrapping_sub(1)))
    };
    let mixed = (head ^ tail.rotate_left(29) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 57) as usize % RECENT_SLOTS
}

/// Keeps `kept` (the table's copy of the name) and its symbol in slot
/// `slot` of the recent-names cache.
fn remember(slot: usize, kept: &'static str, symbol: u32) {
    let _ = RECENT.try_with(|recent| {
        if let Some(cell) = recent.get(slot) {
            cell.set((kept, symbol));
        }
    });
}

/// The symbol of `name`, giving it one if it has none and the table has room.
pub(crate) fn intern(name: &str) -> u32 {
    if let Some(symbol) = cached(name) {
        return symbol;
    }
    let Some((kept, symbol)) = intern_shared(name) else {
        return NO_SYMBOL;
    };
    let _ = LOCAL.try_with(|local| {
        if let Ok(mut m) = local.try_borrow_mut() {
            m.insert(kept, symbol);
        }
    });
    remember(recent_slot(name.as_bytes()), kept, symbol);
    symbol
}

/// The table's own copy of `name` and its symbol, which it gives the name
/// if it has none (`None`: the table has no room).
fn intern_shared(name: &str) -> Option<(&'static str, u32)> {
    // A panic while holding the lock cannot leave the map half-updated in
    // a way that matters (an insert either happened or not), so a poisoned
    // lock is used as it is.
    {
        let table = table().read().unwrap_or_else(|e| e.into_inner());
        if let Some((&kept, &symbol)) = table.symbols.get_key_value(name) {
            return Some((kept, symbol));
        }
        if table.len >= crate::limits::MAX_ATTRIBUTE_SYMBOLS {
            return None;
        }
    }
    let mut table = table().write().unwrap_or_else(|e| e.into_inner());
    if let Some((&kept, &symbol)) = table.symbols.get_key_value(name) {
        return Some((kept, symbol));
    }
    if table.len >= crate::limits::MAX_ATTRIBUTE_SYMBOLS {
        return None;
    }
    let symbol = table.len as u32;
    // Kept for the life of the process, within the cap above.
    let kept: &'static str = Box::leak(Box::<str>::from(name));
    table.len += 1;
    table.symbols.insert(kept, symbol);
    if let Some(slot) = name_slot(symbol, true) {
        // Set once: symbols are given out in order, each under this lock.
        let _ = slot.set(kept);
    }
    Some((kept, symbol))
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
    fn names_are_read_back_while_other_threads_intern() {
        // More names than a chunk of the name slots holds, on four threads
        // at once: each symbol names its own name the moment it is given.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..CHUNK + 10 {
                        let text = format!("symbols-race-{t}-{i}");
                        let symbol = intern(&text);
                        assert_eq!(name(symbol), Some(text.as_str()));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no thread failed");
        }
        assert_eq!(name(NO_SYMBOL), None);
    }

    #[test]
    fn the_recent_cache_answers_only_the_name_it_holds() {
        // More names than slots, so slots are shared and overwritten; names
        // of every length class the slot hash reads differently (0, 1-3,
        // 4-7, 8 and more bytes), and names that differ only in the middle,
        // which the hash does not read.
        let mut names: Vec<String> = (0..3 * RECENT_SLOTS)
            .map(|i| format!("symbols-recent-{i}"))
            .collect();
        names.extend(["", "a", "ab", "abc", "abcd", "abcdefg", "abcdefgh"].map(String::from));
        names.extend((0..10).map(|i| format!("symbols-middle-{i}-same-end")));
        let symbols: Vec<u32> = names.iter().map(|n| intern(n)).collect();
        for (a, sa) in names.iter().zip(&symbols) {
            assert_ne!(*sa, NO_SYMBOL, "{a:?}");
            for (b, sb) in names.iter().zip(&symbols) {
                assert_eq!(a == b, sa == sb, "{a:?} {b:?}");
            }
        }
        // Looked up again, in another order, through whichever cache level
        // holds them now.
        for (name, &symbol) in names.iter().zip(&symbols).rev() {
            assert_eq!(intern(name), symbol, "{name:?}");
            assert_eq!(find(name), Some(symbol), "{name:?}");
            assert_eq!(intern(name), symbol, "{name:?}");
        }
        // A name the slot of another one holds is not that one.
        let held = &names[0];
        let slot = recent_slot(held.as_bytes());
        let mut same_slot = (0..)
            .map(|i| format!("symbols-unseen-{i}"))
            .filter(|n| recent_slot(n.as_bytes()) == slot);
        let other = same_slot.next().expect("some name shares the slot");
        assert_eq!(intern(held), symbols[0]);
        assert_eq!(find(&other), None);
        assert_ne!(intern(&other), symbols[0]);
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
