//! A context's shape: its attribute names, in position order, with
//! everything derived from them alone (their symbols, the symbol map, the
//! presence bits), kept once per process for every context that has those
//! names.
//!
//! Most services build their contexts from a handful of schemas, so most
//! contexts share a shape: a context then carries its values and a pointer,
//! and the symbol map a check reads stays in cache whichever context is
//! asked about. A shape is interned by the symbols of its names (a name has
//! one symbol for the life of the process, `context::symbols`), first in a
//! small per-thread table, then in a shared one; interned shapes live as
//! long as the process, so both tables are capped ([`MAX_SHAPES`],
//! [`MAX_SHAPE_BYTES`]). Past the caps, and for names the symbol table had
//! no room for, a context owns a private shape, which works the same and
//! costs what the names take.

use std::cell::RefCell;
use std::sync::{OnceLock, RwLock};

use ahash::AHashMap;

use super::symbol_map;
#[cfg(test)]
use super::symbol_map::{direct_entry, FAR};
use super::symbols::{self, NO_SYMBOL};

/// Most shapes the process keeps: a stream of contexts with made-up
/// attribute names cannot take memory without bound; contexts past it own
/// their shape.
pub(crate) const MAX_SHAPES: usize = 4096;

/// Most bytes the process's shapes take, all together.
pub(crate) const MAX_SHAPE_BYTES: usize = 64 << 20;

/// Entries a thread's table of shapes holds before it starts again.
const LOCAL_SHAPES: usize = 256;

/// Bytes of a shape's header: the presence bits (8); the number of
/// attributes, of direct-map bytes and of index slots, the names' bytes
/// all together, whether the shape keeps its names (1) or the symbol
/// table does (0), whether the names' symbols are left out (1: a compact
/// shape, see [`build`]) (4 each).
const HEADER: usize = 32;

/// The little-endian `u32` at byte `at` of `buf` (`None` past its end).
#[inline]
fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// The little-endian `u64` at byte `at` of `buf` (`None` past its end).
#[inline]
fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    let bytes = buf.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// The shape of attributes named `names` (in position order) whose
/// symbols are `symbols`, as one buffer: the header, the direct map (entry
/// `s` is the position + 1 of the attribute whose name has symbol `s`, 0
/// when there is none, [`FAR`] when it is in the index; symbols past its
/// end and below [`symbol_map::DIRECT_SYMBOLS`] have none), padding to 8,
/// the open-addressing index of the symbols the direct map does not hold
/// (`symbol_map`), the names' symbols; then, only when a name has no
/// symbol, the names' starts (`len + 1`, the last the end of the last
/// name) and the names back to back. When every name has a symbol the
/// symbol table holds the names ([`symbols::name`]) and a shape is about
/// half as large: that matters for contexts that own theirs (a process
/// past [`MAX_SHAPES`] name sets has one shape per context).
///
/// A `compact` shape (asked for by a context that owns its shape, and
/// made only when the direct map holds every name) leaves out the names'
/// symbols too: the direct map says them all, read backwards
/// ([`Shape::symbol`]), and a check reads only the header and the direct
/// map, so the bytes a context owns are the ones it is asked about.
/// `None` when the names take more than 4 GiB.
fn build<'a>(
    symbols: &[u32],
    names: impl Iterator<Item = &'a str> + Clone,
    compact: bool,
) -> Option<Box<[u8]>> {
    let map = symbol_map::build(symbols);
    let n = symbols.len();
    let keeps_names = symbols.contains(&NO_SYMBOL);
    let compact = compact && !keeps_names && map.index.is_empty();
    let index_at = (HEADER + map.direct().len()).next_multiple_of(8);
    let names_len: usize = names.clone().map(str::len).sum();
    let mut size = if compact {
        HEADER + map.direct().len()
    } else {
        index_at + 8 * map.index.len() + 4 * n
    };
    if keeps_names {
        size += 4 * (n + 1) + names_len;
    }
    let mut buf = Vec::with_capacity(size);
    let presence = symbols
        .iter()
        .fold(0, |bits, &s| bits | crate::eval::presence_bit(s));
    buf.extend_from_slice(&u64::to_le_bytes(presence));
    let counts = [
        n,
        map.direct().len(),
        map.index.len(),
        names_len,
        usize::from(keeps_names),
        usize::from(compact),
    ];
    for count in counts {
        buf.extend_from_slice(&u32::try_from(count).ok()?.to_le_bytes());
    }
    buf.extend_from_slice(map.direct());
    if compact {
        debug_assert_eq!(buf.len(), size);
        return Some(buf.into_boxed_slice());
    }
    buf.resize(index_at, 0);
    for slot in &map.index {
        buf.extend_from_slice(&slot.to_le_bytes());
    }
    for &symbol in symbols {
        buf.extend_from_slice(&symbol.to_le_bytes());
    }
    if keeps_names {
        let mut at = 0usize;
        for name in names.clone() {
            buf.extend_from_slice(&u32::try_from(at).ok()?.to_le_bytes());
            at += name.len();
        }
        buf.extend_from_slice(&u32::try_from(at).ok()?.to_le_bytes());
        for name in names {
            buf.extend_from_slice(name.as_bytes());
        }
    }
    u32::try_from(buf.len()).ok()?;
    debug_assert_eq!(buf.len(), size);
    Some(buf.into_boxed_slice())
}

/// A view of a shape's buffer (see [`build`] for its layout). Every read
/// is bounded: a buffer `build` did not make answers "nothing", never
/// out of bounds.
#[derive(Clone, Copy)]
pub(crate) struct Shape<'a>(&'a [u8]);

impl<'a> Shape<'a> {
    /// Header field `k` (0: attributes, 1: direct-map bytes, 2: index
    /// slots, 3: the names' bytes, 4: whether the shape keeps its names,
    /// 5: whether it is compact).
    #[inline(always)]
    fn count(self, k: usize) -> usize {
        u32_at(self.0, 8 + 4 * k).unwrap_or(0) as usize
    }

    /// Number of attributes.
    #[inline]
    pub(crate) fn len(self) -> usize {
        self.count(0)
    }

    /// The direct map: one bounds check and one load a lookup
    /// ([`symbol_map::direct_entry`]).
    #[inline(always)]
    pub(crate) fn direct(self) -> &'a [u8] {
        self.0.get(HEADER..HEADER + self.count(1)).unwrap_or(&[])
    }

    /// Where the index starts, and the names' starts after it.
    fn index_at(self) -> usize {
        (HEADER + self.count(1)).next_multiple_of(8)
    }

    /// Where the names' symbols start, after the index.
    fn symbols_at(self) -> usize {
        self.index_at() + 8 * self.count(2)
    }

    /// Where the names' starts are (a shape that keeps its names), after
    /// the symbols.
    fn starts_at(self) -> usize {
        self.symbols_at() + 4 * self.len()
    }

    /// Where the names are (a shape that keeps its names), after the
    /// `len + 1` starts.
    fn names_at(self) -> usize {
        self.starts_at() + 4 * (self.len() + 1)
    }

    /// Whether the shape keeps its names (some name has no symbol), or
    /// the symbol table has them all.
    #[inline]
    pub(crate) fn keeps_names(self) -> bool {
        self.count(4) != 0
    }

    /// Where the `i`-th name starts in the names (the end of the last for
    /// `i == len`).
    #[inline]
    fn start(self, i: usize) -> Option<usize> {
        if i > self.len() {
            return None;
        }
        u32_at(self.0, self.starts_at() + 4 * i).map(|s| s as usize)
    }

    /// The `i`-th name (empty past the end): the shape's own, or the
    /// symbol table's. The shape's were `str`s cut at their own ends, so
    /// the check never fails.
    #[inline]
    pub(crate) fn name(self, i: usize) -> &'a str {
        if !self.keeps_names() {
            return symbols::name(self.symbol(i)).unwrap_or("");
        }
        let names = self.0.get(self.names_at()..).unwrap_or(&[]);
        let bytes = match (self.start(i), self.start(i + 1)) {
            (Some(start), Some(end)) => names.get(start..end),
            _ => None,
        };
        std::str::from_utf8(bytes.unwrap_or(&[])).unwrap_or("")
    }

    /// The names' bytes, all together.
    pub(crate) fn names_len(self) -> usize {
        self.count(3)
    }

    /// Whether the names' symbols are left out ([`build`]).
    fn compact(self) -> bool {
        self.count(5) != 0
    }

    /// The symbol of the `i`-th name ([`NO_SYMBOL`] past the end): read
    /// from the list, or (a compact shape) found in the direct map, a scan
    /// of at most [`symbol_map::DIRECT_SYMBOLS`] bytes that only the
    /// names' readers pay, never a check.
    pub(crate) fn symbol(self, i: usize) -> u32 {
        if i >= self.len() {
            return NO_SYMBOL;
        }
        if self.compact() {
            let entry = u8::try_from(i + 1).unwrap_or(symbol_map::FAR);
            return self
                .direct()
                .iter()
                .position(|&d| d == entry)
                .map_or(NO_SYMBOL, |s| s as u32);
        }
        u32_at(self.0, self.symbols_at() + 4 * i).unwrap_or(NO_SYMBOL)
    }

    /// The position of the attribute with symbol `symbol`: the direct
    /// map's answer, or the index's when the direct map says far.
    pub(crate) fn position(self, symbol: u32) -> Option<usize> {
        match symbol_map::direct_entry(self.direct(), symbol) {
            symbol_map::FAR => self.position_in_index(symbol),
            d => usize::from(d).checked_sub(1),
        }
    }

    /// The position of the attribute with symbol `symbol`, from the index.
    pub(crate) fn position_in_index(self, symbol: u32) -> Option<usize> {
        let (at, slots) = (self.index_at(), self.count(2));
        symbol_map::position_in_index(slots, |k| u64_at(self.0, at + 8 * k), symbol)
    }

    /// The presence bits of the names' symbols (`eval::needs`).
    #[inline(always)]
    pub(crate) fn presence(self) -> u64 {
        u64_at(self.0, 0).unwrap_or(0)
    }
}

impl std::fmt::Debug for Shape<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries((0..self.len()).map(|i| self.name(i)))
            .finish()
    }
}

/// A context's shape: one the process keeps, or the context's own.
#[derive(Clone)]
pub(crate) enum ShapeRef {
    /// Interned: shared by every context with these names.
    Shared(&'static [u8]),
    /// Not interned (past the caps, or a name without a symbol).
    Own(Box<[u8]>),
}

impl ShapeRef {
    /// The shape's contents.
    #[inline(always)]
    pub(crate) fn view(&self) -> Shape<'_> {
        match self {
            ShapeRef::Shared(buf) => Shape(buf),
            ShapeRef::Own(buf) => Shape(buf),
        }
    }
}

impl PartialEq for ShapeRef {
    /// The same names in the same order: one compact and one full shape
    /// of them are equal too.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.view(), other.view());
        std::ptr::eq(a.0, b.0)
            || a.0 == b.0
            || (a.compact() != b.compact()
                && a.len() == b.len()
                && (0..a.len()).all(|i| a.symbol(i) == b.symbol(i)))
    }
}

impl Default for ShapeRef {
    /// The shape of a context with no attributes.
    fn default() -> Self {
        static EMPTY: OnceLock<Box<[u8]>> = OnceLock::new();
        ShapeRef::Shared(
            EMPTY.get_or_init(|| build(&[], std::iter::empty(), false).unwrap_or_default()),
        )
    }
}

/// The shared table and how much it holds.
#[derive(Default)]
struct Shared {
    shapes: AHashMap<Box<[u32]>, &'static [u8]>,
    bytes: usize,
}

fn shared() -> &'static RwLock<Shared> {
    static SHARED: OnceLock<RwLock<Shared>> = OnceLock::new();
    SHARED.get_or_init(Default::default)
}

thread_local! {
    /// This thread's copy of the shapes it has used.
    static LOCAL: RefCell<AHashMap<Box<[u32]>, &'static [u8]>> = RefCell::new(AHashMap::new());
}

/// The shape of attributes named `names` (in position order) with symbols
/// `symbols`: the process's when it has one or room for one, else the
/// context's own. `None` when the names take more than 4 GiB.
pub(crate) fn of<'a>(
    symbols: &[u32],
    names: impl Iterator<Item = &'a str> + Clone,
) -> Option<ShapeRef> {
    if symbols.contains(&NO_SYMBOL) {
        // Without a symbol the names do not identify the shape.
        return build(symbols, names, true).map(ShapeRef::Own);
    }
    let local = LOCAL
        .try_with(|l| l.try_borrow().ok().and_then(|m| m.get(symbols).copied()))
        .ok()
        .flatten();
    if let Some(shape) = local {
        return Some(ShapeRef::Shared(shape));
    }
    let interned = match intern_shared(symbols, |compact| build(symbols, names, compact))? {
        Ok(interned) => interned,
        Err(shape) => return Some(ShapeRef::Own(shape)),
    };
    let _ = LOCAL.try_with(|l| {
        if let Ok(mut m) = l.try_borrow_mut() {
            if m.len() >= LOCAL_SHAPES {
                m.clear();
            }
            m.insert(symbols.into(), interned);
        }
    });
    Some(ShapeRef::Shared(interned))
}

/// The process's shape for `symbols`: `Ok` with the one it has, or with
/// the one `make(false)` builds when it has none and there is room; `Err`
/// with the built shape when the caps are reached (built by `make(true)`,
/// compact, when the count of shapes is); `None` when `make` fails.
/// `make` runs only when the process has no such shape, so a thread that
/// meets a shared shape for the first time (or again, after its own table
/// started over) builds nothing.
fn intern_shared(
    symbols: &[u32],
    make: impl FnOnce(bool) -> Option<Box<[u8]>>,
) -> Option<Result<&'static [u8], Box<[u8]>>> {
    // A panic while holding the lock cannot leave the table half-updated
    // in a way that matters, so a poisoned lock is used as it is.
    let full = |table: &Shared, bytes: usize| {
        table.shapes.len() >= MAX_SHAPES || table.bytes + bytes > MAX_SHAPE_BYTES
    };
    let shape = {
        let table = shared().read().unwrap_or_else(|e| e.into_inner());
        if let Some(&interned) = table.shapes.get(symbols) {
            return Some(Ok(interned));
        }
        if table.shapes.len() >= MAX_SHAPES {
            return make(true).map(Err);
        }
        let shape = make(false)?;
        if full(&table, shape.len()) {
            return Some(Err(shape));
        }
        shape
    };
    let mut table = shared().write().unwrap_or_else(|e| e.into_inner());
    if let Some(&interned) = table.shapes.get(symbols) {
        return Some(Ok(interned));
    }
    let bytes = shape.len();
    if full(&table, bytes) {
        return Some(Err(shape));
    }
    // Kept for the life of the process, within the caps above.
    let interned: &'static [u8] = Box::leak(shape);
    table.bytes += bytes;
    table.shapes.insert(symbols.into(), interned);
    Some(Ok(interned))
}

#[cfg(test)]
mod tests {
    use super::super::symbols::intern;
    use super::*;

    fn shape_of(names: &[&str]) -> ShapeRef {
        let symbols: Vec<u32> = names.iter().map(|n| intern(n)).collect();
        of(&symbols, names.iter().copied()).expect("small")
    }

    fn address(shape: &ShapeRef) -> usize {
        match shape {
            ShapeRef::Shared(s) => s.as_ptr() as usize,
            ShapeRef::Own(_) => 0,
        }
    }

    #[test]
    fn the_same_names_share_one_shape_on_every_thread() {
        let a = shape_of(&["shape_t_a", "shape_t_b"]);
        let b = shape_of(&["shape_t_a", "shape_t_b"]);
        let there = std::thread::spawn(|| address(&shape_of(&["shape_t_a", "shape_t_b"])))
            .join()
            .expect("thread");
        assert_ne!(address(&a), 0, "small shapes are interned");
        assert_eq!((address(&a), address(&b)), (there, there));
        let v = a.view();
        assert_eq!(
            (v.len(), v.name(0), v.name(1), v.name(2)),
            (2, "shape_t_a", "shape_t_b", "")
        );
        let other = shape_of(&["shape_t_a"]);
        assert!(other != a);
    }

    #[test]
    fn a_shape_the_process_has_is_not_built_again() {
        let names = ["shape_t_once_a", "shape_t_once_b"];
        let first = shape_of(&names);
        assert_ne!(address(&first), 0, "small shapes are interned");
        let symbols: Vec<u32> = names.iter().map(|n| intern(n)).collect();
        let mut built = false;
        let again = intern_shared(&symbols, |_| {
            built = true;
            None
        });
        assert!(!built, "the shared table answered without a build");
        match again {
            Some(Ok(s)) => assert_eq!(s.as_ptr() as usize, address(&first)),
            _ => panic!("the shared shape is found"),
        }
    }

    #[test]
    fn a_shape_answers_for_its_symbols() {
        let names = ["shape_t_x", "shape_t_y", "shape_t_z"];
        let shape = shape_of(&names);
        let s = shape.view();
        for (i, n) in names.iter().enumerate() {
            let symbol = intern(n);
            assert_eq!(s.symbol(i), symbol);
            assert_eq!(s.position(symbol), Some(i), "{n}");
            assert_ne!(s.presence() & crate::eval::presence_bit(symbol), 0);
        }
        assert_eq!(s.symbol(3), NO_SYMBOL);
        assert_eq!(direct_entry(s.direct(), NO_SYMBOL), FAR);
        assert_eq!(s.names_len(), 27);
    }

    #[test]
    fn far_symbols_are_in_the_shapes_index() {
        // 300 names: positions past a byte go to the index.
        let names: Vec<String> = (0..300).map(|i| format!("shape_t_far_{i:03}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let shape = shape_of(&refs);
        let s = shape.view();
        let mut far = 0;
        for (i, n) in refs.iter().enumerate() {
            let symbol = intern(n);
            if direct_entry(s.direct(), symbol) == FAR {
                far += 1;
            }
            assert_eq!(s.position(symbol), Some(i), "{n}");
            assert_eq!(s.name(i), *n);
        }
        assert!(far >= 45, "positions 254.. are far ({far})");
        assert_eq!(s.position_in_index(intern("shape_t_not_there")), None);
    }

    #[test]
    fn a_shape_whose_names_have_symbols_leaves_them_to_the_table() {
        let names = ["shape_t_lean_a", "shape_t_lean_b"];
        let symbols: Vec<u32> = names.iter().map(|n| intern(n)).collect();
        let lean = build(&symbols, names.iter().copied(), false).expect("small");
        let s = Shape(&lean);
        assert!(!s.keeps_names());
        assert_eq!((s.name(0), s.name(1), s.name(2)), (names[0], names[1], ""));
        assert_eq!(s.names_len(), 28);
        // The same names with one that has no symbol: the shape keeps them
        // all, and is larger by their starts and bytes.
        let mut with_none = symbols.clone();
        with_none.push(NO_SYMBOL);
        let all = ["shape_t_lean_a", "shape_t_lean_b", "shape_t_lean_c"];
        let kept = build(&with_none, all.iter().copied(), false).expect("small");
        let k = Shape(&kept);
        assert!(k.keeps_names());
        assert_eq!((k.name(0), k.name(2)), (all[0], all[2]));
        assert_eq!(k.names_len(), 42);
        assert!(kept.len() >= lean.len() + 4 + 4 * 4 + 42);
    }

    #[test]
    fn a_compact_shape_answers_what_the_full_one_does_in_fewer_bytes() {
        let mut names: Vec<String> = (0..16).map(|i| format!("shape_t_compact_{i}")).collect();
        let mut symbols: Vec<u32> = names.iter().map(|n| intern(n)).collect();
        if symbols
            .iter()
            .any(|&s| s as usize >= symbol_map::DIRECT_SYMBOLS)
        {
            // Tests beside this one took the direct map's symbols first:
            // take the names of the lowest ones instead.
            symbols = (0..16).collect();
            names = symbols
                .iter()
                .map(|&s| {
                    symbols::name(s)
                        .expect("the lowest symbols are given")
                        .to_string()
                })
                .collect();
        }
        let full = build(&symbols, names.iter().map(String::as_str), false).expect("small");
        let compact = build(&symbols, names.iter().map(String::as_str), true).expect("small");
        let (f, c) = (Shape(&full), Shape(&compact));
        assert!(c.compact() && !f.compact());
        assert_eq!(compact.len(), HEADER + f.direct().len());
        assert!(compact.len() + 4 * names.len() <= full.len());
        assert_eq!(
            (c.len(), c.presence(), c.names_len()),
            (f.len(), f.presence(), f.names_len())
        );
        assert_eq!(c.direct(), f.direct());
        for (i, (name, &symbol)) in names.iter().zip(&symbols).enumerate() {
            assert_eq!((c.symbol(i), c.name(i)), (symbol, name.as_str()));
            assert_eq!(c.position(symbol), Some(i));
        }
        assert_eq!((c.symbol(16), c.name(16)), (NO_SYMBOL, ""));
        assert_eq!(c.position(intern("shape_t_compact_none")), None);
        // The same names either way are the same shape; others are not.
        assert!(ShapeRef::Own(compact.clone()) == ShapeRef::Own(full.clone()));
        let mut swapped = symbols.clone();
        swapped.swap(0, 1);
        let other = build(&swapped, names.iter().map(String::as_str), true).expect("small");
        assert!(ShapeRef::Own(other) != ShapeRef::Own(full));
        // A shape whose map needs its index (positions past a byte) is
        // never compact: the direct map cannot say those names.
        let many: Vec<u32> = (0..300)
            .map(|i| intern(&format!("shape_t_compact_many_{i}")))
            .collect();
        let names = (0..300).map(|_| "");
        let big = build(&many, names, true).expect("small");
        assert!(!Shape(&big).compact());
        assert_eq!(Shape(&big).symbol(299), many[299]);
    }

    #[test]
    fn names_without_a_symbol_get_a_shape_of_their_own() {
        let s = of(&[NO_SYMBOL], ["shape_t_nosym"].into_iter()).expect("small");
        assert!(matches!(s, ShapeRef::Own(_)));
        assert_eq!(s.view().name(0), "shape_t_nosym");
        assert_eq!(direct_entry(s.view().direct(), NO_SYMBOL), FAR);
        assert_eq!(ShapeRef::default().view().len(), 0);
        // A buffer that is not a shape answers nothing, out of bounds never.
        let junk = Shape(&[0xFF; 30]);
        assert_eq!((junk.name(7), junk.symbol(7)), ("", NO_SYMBOL));
        let _ = (junk.direct(), junk.names_len(), junk.position_in_index(3));
    }
}
