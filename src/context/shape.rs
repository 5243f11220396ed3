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

use super::symbol_map::{self, DIRECT_SYMBOLS, FAR};
use super::symbols::NO_SYMBOL;

/// Most shapes the process keeps (each at least the direct map's 256
/// bytes): a stream of contexts with made-up attribute names cannot take
/// memory without bound; contexts past it own their shape.
pub(crate) const MAX_SHAPES: usize = 4096;

/// Most bytes the process's shapes take, all together.
pub(crate) const MAX_SHAPE_BYTES: usize = 64 << 20;

/// Entries a thread's table of shapes holds before it starts again.
const LOCAL_SHAPES: usize = 256;

/// Attribute names in position order and what is derived from them, in
/// one buffer (a shape a context owns costs one allocation besides this
/// header, and the index only when some symbol is far).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The [`crate::eval::presence_bit`]s of the names' symbols.
    presence: u64,
    /// Number of attributes.
    len: u32,
    /// Byte of `buf` where the names begin.
    names_at: u32,
    /// The direct map: entry `s` is the position + 1 of the attribute
    /// whose name has symbol `s`, 0 when there is none, [`FAR`] when it is
    /// in `index`; symbols past its end and below [`DIRECT_SYMBOLS`] have
    /// none. (One bounds check is the whole lookup.)
    direct: Box<[u8]>,
    /// The names' starts, `len + 1` of them (the last is the end of the
    /// last name), 4 bytes each, little-endian; then the names' symbols the
    /// same way; then the names back to back.
    buf: Box<[u8]>,
    /// The open-addressing index of the symbols the direct map does not
    /// hold (`symbol_map`); empty (no allocation) when there are none.
    index: Box<[u64]>,
}

impl Shape {
    /// The shape of attributes named `names` (in position order) whose
    /// symbols are `symbols`. `None` when the names take more than 4 GiB.
    fn new<'a>(symbols: &[u32], names: impl Iterator<Item = &'a str> + Clone) -> Option<Shape> {
        let map = symbol_map::build(symbols);
        let n = symbols.len();
        let names_at = 4 * (n + 1) + 4 * n;
        let names_len: usize = names.clone().map(str::len).sum();
        let mut buf = Vec::with_capacity(names_at + names_len);
        let mut at = 0usize;
        for name in names.clone() {
            buf.extend_from_slice(&u32::try_from(at).ok()?.to_le_bytes());
            at += name.len();
        }
        buf.extend_from_slice(&u32::try_from(at).ok()?.to_le_bytes());
        for &symbol in symbols {
            buf.extend_from_slice(&symbol.to_le_bytes());
        }
        for name in names {
            buf.extend_from_slice(name.as_bytes());
        }
        Some(Shape {
            presence: symbols
                .iter()
                .fold(0, |bits, &s| bits | crate::eval::presence_bit(s)),
            len: u32::try_from(n).ok()?,
            names_at: u32::try_from(names_at).ok()?,
            direct: map.direct.into_boxed_slice(),
            buf: buf.into_boxed_slice(),
            index: map.index.into_boxed_slice(),
        })
    }

    /// Bytes this shape holds.
    fn bytes(&self) -> usize {
        std::mem::size_of::<Shape>() + self.direct.len() + self.buf.len() + 8 * self.index.len()
    }

    /// Number of attributes.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len as usize
    }

    /// The little-endian `u32` at byte `at` of the buffer.
    #[inline]
    fn u32_at(&self, at: usize) -> Option<u32> {
        let bytes = self.buf.get(at..at + 4)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?))
    }

    /// Where the `i`-th name starts in the names (the end of the last for
    /// `i == len`).
    #[inline]
    fn start(&self, i: usize) -> Option<usize> {
        if i > self.len as usize {
            return None;
        }
        self.u32_at(4 * i).map(|s| s as usize)
    }

    /// The `i`-th name's bytes (empty past the end).
    #[inline]
    pub(crate) fn name_bytes(&self, i: usize) -> &[u8] {
        let names = self.buf.get(self.names_at as usize..).unwrap_or(&[]);
        match (self.start(i), self.start(i + 1)) {
            (Some(start), Some(end)) => names.get(start..end),
            _ => None,
        }
        .unwrap_or(&[])
    }

    /// The `i`-th name (empty past the end). Names were `str`s cut at
    /// their own ends, so the check never fails.
    #[inline]
    pub(crate) fn name(&self, i: usize) -> &str {
        std::str::from_utf8(self.name_bytes(i)).unwrap_or("")
    }

    /// The names' bytes, all together.
    pub(crate) fn names_len(&self) -> usize {
        self.buf.len().saturating_sub(self.names_at as usize)
    }

    /// The symbol of the `i`-th name ([`NO_SYMBOL`] past the end).
    pub(crate) fn symbol(&self, i: usize) -> u32 {
        if i >= self.len as usize {
            return NO_SYMBOL;
        }
        let at = 4 * (self.len as usize + 1) + 4 * i;
        self.u32_at(at).unwrap_or(NO_SYMBOL)
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

    /// The position of the attribute with symbol `symbol`, from the index.
    pub(crate) fn position_in_index(&self, symbol: u32) -> Option<usize> {
        symbol_map::position_in_index(&self.index, symbol)
    }

    /// The presence bits of the names' symbols (`eval::needs`).
    #[inline(always)]
    pub(crate) fn presence(&self) -> u64 {
        self.presence
    }
}

/// A context's shape: one the process keeps, or the context's own.
#[derive(Clone)]
pub(crate) enum ShapeRef {
    /// Interned: shared by every context with these names.
    Shared(&'static Shape),
    /// Not interned (past the caps, or a name without a symbol).
    Own(Box<Shape>),
}

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries((0..self.len as usize).map(|i| self.name(i)))
            .finish()
    }
}

impl std::ops::Deref for ShapeRef {
    type Target = Shape;

    #[inline(always)]
    fn deref(&self) -> &Shape {
        match self {
            ShapeRef::Shared(shape) => shape,
            ShapeRef::Own(shape) => shape,
        }
    }
}

impl PartialEq for ShapeRef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq::<Shape>(&**self, &**other) || **self == **other
    }
}

impl Default for ShapeRef {
    /// The shape of a context with no attributes.
    fn default() -> Self {
        static EMPTY: OnceLock<Shape> = OnceLock::new();
        ShapeRef::Shared(EMPTY.get_or_init(empty))
    }
}

/// The shape of no attributes.
fn empty() -> Shape {
    Shape {
        presence: 0,
        len: 0,
        names_at: 4,
        direct: Box::default(),
        buf: Box::new([0; 4]),
        index: Box::default(),
    }
}

/// The shared table and how much it holds.
#[derive(Default)]
struct Shared {
    shapes: AHashMap<Box<[u32]>, &'static Shape>,
    bytes: usize,
}

fn shared() -> &'static RwLock<Shared> {
    static SHARED: OnceLock<RwLock<Shared>> = OnceLock::new();
    SHARED.get_or_init(Default::default)
}

thread_local! {
    /// This thread's copy of the shapes it has used.
    static LOCAL: RefCell<AHashMap<Box<[u32]>, &'static Shape>> = RefCell::new(AHashMap::new());
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
        return Shape::new(symbols, names).map(|s| ShapeRef::Own(Box::new(s)));
    }
    let local = LOCAL
        .try_with(|l| l.try_borrow().ok().and_then(|m| m.get(symbols).copied()))
        .ok()
        .flatten();
    if let Some(shape) = local {
        return Some(ShapeRef::Shared(shape));
    }
    let shape = Shape::new(symbols, names)?;
    let interned = match intern_shared(symbols, shape) {
        Ok(interned) => interned,
        Err(shape) => return Some(ShapeRef::Own(Box::new(shape))),
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

/// The process's shape for `symbols`, made from `shape` if it has none and
/// there is room; `shape` back when the caps are reached.
fn intern_shared(symbols: &[u32], shape: Shape) -> Result<&'static Shape, Shape> {
    // A panic while holding the lock cannot leave the table half-updated
    // in a way that matters, so a poisoned lock is used as it is.
    let full = |table: &Shared, bytes: usize| {
        table.shapes.len() >= MAX_SHAPES || table.bytes + bytes > MAX_SHAPE_BYTES
    };
    {
        let table = shared().read().unwrap_or_else(|e| e.into_inner());
        if let Some(&interned) = table.shapes.get(symbols) {
            return Ok(interned);
        }
        if full(&table, shape.bytes()) {
            return Err(shape);
        }
    }
    let mut table = shared().write().unwrap_or_else(|e| e.into_inner());
    if let Some(&interned) = table.shapes.get(symbols) {
        return Ok(interned);
    }
    let bytes = shape.bytes();
    if full(&table, bytes) {
        return Err(shape);
    }
    // Kept for the life of the process, within the caps above.
    let interned: &'static Shape = Box::leak(Box::new(shape));
    table.bytes += bytes;
    table.shapes.insert(symbols.into(), interned);
    Ok(interned)
}

#[cfg(test)]
mod tests {
    use super::super::symbols::intern;
    use super::*;

    fn shape_of(names: &[&str]) -> ShapeRef {
        let symbols: Vec<u32> = names.iter().map(|n| intern(n)).collect();
        of(&symbols, names.iter().copied()).expect("small")
    }

    #[test]
    fn the_same_names_share_one_shape_on_every_thread() {
        let a = shape_of(&["shape_t_a", "shape_t_b"]);
        let b = shape_of(&["shape_t_a", "shape_t_b"]);
        let there = std::thread::spawn(|| match shape_of(&["shape_t_a", "shape_t_b"]) {
            ShapeRef::Shared(s) => s as *const Shape as usize,
            ShapeRef::Own(_) => 0,
        })
        .join()
        .expect("thread");
        match (&a, &b) {
            (ShapeRef::Shared(x), ShapeRef::Shared(y)) => {
                assert!(std::ptr::eq(*x, *y));
                assert_eq!(*x as *const Shape as usize, there);
            }
            _ => panic!("small shapes are interned"),
        }
        assert_eq!(
            (a.len(), a.name(0), a.name(1), a.name(2)),
            (2, "shape_t_a", "shape_t_b", "")
        );
        let other = shape_of(&["shape_t_a"]);
        assert!(other != a);
    }

    #[test]
    fn a_shape_answers_for_its_symbols() {
        let names = ["shape_t_x", "shape_t_y", "shape_t_z"];
        let s = shape_of(&names);
        for (i, n) in names.iter().enumerate() {
            let symbol = intern(n);
            assert_eq!(s.symbol(i), symbol);
            let found = match s.direct_entry(symbol) {
                FAR => s.position_in_index(symbol),
                d => usize::from(d).checked_sub(1),
            };
            assert_eq!(found, Some(i), "{n}");
            assert_ne!(s.presence() & crate::eval::presence_bit(symbol), 0);
        }
        assert_eq!(s.direct_entry(NO_SYMBOL), FAR);
        assert_eq!(s.names_len(), 27);
    }

    #[test]
    fn names_without_a_symbol_get_a_shape_of_their_own() {
        let s = of(&[NO_SYMBOL], ["shape_t_nosym"].into_iter()).expect("small");
        assert!(matches!(s, ShapeRef::Own(_)));
        assert_eq!(s.name(0), "shape_t_nosym");
        assert_eq!(s.direct_entry(NO_SYMBOL), FAR);
        assert_eq!(ShapeRef::default().len(), 0);
    }
}
