//! A context being edited: attributes in plain buffers that a setter can
//! grow, cut and reorder. [`Context`](super::Context) is what evaluation
//! reads, packed from a draft once it is complete (`Context::freeze`) and
//! unpacked into one again to change it (`Context::thaw`).

use super::symbols;
use super::{name_order_bytes, ContextError};

/// A byte range of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span32 {
    pub(super) start: u32,
    pub(super) end: u32,
}

impl Span32 {
    /// The span as one word: `start` low, `end` high.
    #[inline]
    pub(super) fn to_word(self) -> u64 {
        u64::from(self.start) | u64::from(self.end) << 32
    }

    /// The span a word made by [`Span32::to_word`] holds.
    #[inline(always)]
    pub(super) fn from_word(w: u64) -> Span32 {
        Span32 {
            start: w as u32,
            end: (w >> 32) as u32,
        }
    }

    /// The span as a range of indices.
    #[inline(always)]
    pub(super) fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A stored value: strings as ranges of the text, arrays as ranges of the
/// elements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Slot {
    Str(Span32),
    Num(f64),
    Bool(bool),
    List(Span32),
    Object,
    Other,
}

/// One attribute: its name (a range of the text), the process-wide symbol
/// of the name, and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Entry {
    pub(super) name: Span32,
    pub(super) symbol: u32,
    pub(super) value: Slot,
}

/// A value about to be stored, borrowed from the caller.
pub(super) enum NewValue<'a, I, J> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Json(&'a serde_json::Value),
    Strs(I),
    Nums(J),
}

impl<'a, I, J> NewValue<'a, I, J> {
    /// The value when it is a string.
    pub(super) fn string(&self) -> Option<&'a str> {
        match self {
            NewValue::Str(s) => Some(s),
            NewValue::Json(serde_json::Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The value when it holds no text and no elements (a number, a
    /// boolean, an object): what can replace such a value in place.
    pub(super) fn scalar(&self) -> Option<Slot> {
        match self {
            NewValue::Num(n) => Some(Slot::Num(*n)),
            NewValue::Bool(b) => Some(Slot::Bool(*b)),
            NewValue::Json(serde_json::Value::Number(n)) => {
                Some(Slot::Num(n.as_f64().unwrap_or(f64::NAN)))
            }
            NewValue::Json(serde_json::Value::Bool(b)) => Some(Slot::Bool(*b)),
            NewValue::Json(serde_json::Value::Object(_)) => Some(Slot::Object),
            _ => None,
        }
    }
}

/// A [`NewValue`] that is not a list of the caller's.
pub(super) type Single<'a> = NewValue<'a, std::iter::Empty<&'static str>, std::iter::Empty<f64>>;

/// The attributes of a context in editable buffers.
#[derive(Debug, Clone, Default)]
pub(super) struct Draft {
    /// All names and string values, nothing else: replacing or removing an
    /// attribute cuts its bytes out.
    pub(super) text: String,
    /// Attributes in [`name_order`] of their names.
    pub(super) entries: Vec<Entry>,
    /// Elements of all array attributes, nothing else (same as `text`).
    pub(super) elements: Vec<Slot>,
    /// Scratch for packing: the entries' symbols in position order.
    pub(super) symbols: Vec<u32>,
}

/// Drafts larger than this (text bytes, or entries and elements) are not
/// kept as a thread's scratch, so one huge context does not pin memory.
const SCRATCH_LIMIT: usize = 1 << 16;

thread_local! {
    /// This thread's spare draft: building, parsing and editing contexts
    /// reuse its buffers, so the only allocations they leave behind are the
    /// packed context's own.
    static SCRATCH: std::cell::Cell<Option<Draft>> = const { std::cell::Cell::new(None) };
}

/// This thread's spare draft (emptied), or a new one.
pub(super) fn take_scratch() -> Draft {
    let mut draft = SCRATCH
        .try_with(|s| s.take())
        .ok()
        .flatten()
        .unwrap_or_default();
    draft.clear();
    draft
}

/// Keeps `draft` as this thread's spare, unless it is too large to keep.
pub(super) fn recycle(mut draft: Draft) {
    let small = draft.text.capacity() <= SCRATCH_LIMIT
        && draft.entries.capacity() + draft.elements.capacity() <= SCRATCH_LIMIT;
    if small && draft.text.capacity() > 0 {
        draft.clear();
        let _ = SCRATCH.try_with(|s| s.set(Some(draft)));
    }
}

/// Runs `f` on this thread's spare draft (emptied), then keeps it.
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut Draft) -> R) -> R {
    let mut draft = take_scratch();
    let result = f(&mut draft);
    recycle(draft);
    result
}

impl Draft {
    /// Empties the draft, keeping its buffers.
    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.entries.clear();
        self.elements.clear();
        self.symbols.clear();
    }

    /// Fills the (empty) draft with a JSON object's attributes (`null` ones
    /// dropped), its buffers sized before they are filled.
    pub(super) fn fill_from_json_object(
        &mut self,
        object: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ContextError> {
        let (text, elements) = json_sizes(object);
        self.text.reserve(text);
        self.entries.reserve(object.len());
        self.elements.reserve(elements);
        let draft = self;
        for (name, value) in object {
            if value.is_null() {
                continue;
            }
            if name == "key" && !value.is_string() {
                return Err(ContextError::KeyNotString);
            }
            let name_span = draft.push_text(name)?;
            let value = draft.slot(Single::Json(value))?;
            draft.entries.push(Entry {
                name: name_span,
                symbol: symbols::intern(name),
                value,
            });
        }
        // A JSON object's names are distinct, so the order is total and an
        // unstable sort gives the one answer; names compared as bytes.
        let text = draft.text.as_bytes();
        let name = |e: &Entry| text.get(e.name.range()).unwrap_or_default();
        draft
            .entries
            .sort_unstable_by(|a, b| name_order_bytes(name(a), name(b)));
        Ok(())
    }

    /// The one way an attribute changes: the old value's bytes and elements
    /// are cut out (so the buffers hold only live data), then the new value
    /// is appended and the entry updated, inserted or removed.
    pub(super) fn put<I, J>(
        &mut self,
        name: &str,
        value: NewValue<'_, I, J>,
    ) -> Result<(), ContextError>
    where
        I: Iterator,
        I::Item: AsRef<str>,
        J: Iterator<Item = f64>,
    {
        let remove = match &value {
            NewValue::Json(v) => v.is_null(),
            _ => false,
        };
        if name == "key" {
            let is_string = match &value {
                NewValue::Str(_) => true,
                NewValue::Json(v) => v.is_string() || v.is_null(),
                _ => false,
            };
            if !is_string {
                return Err(ContextError::KeyNotString);
            }
        }
        // One search: where the entry is, or where it goes.
        let found = self.search(name);
        let at = found.ok();
        if let Some(i) = at {
            let old = self.entries[i].value;
            self.release(old);
            // Placeholder until the new value is stored.
            self.entries[i].value = Slot::Other;
        }
        if remove {
            if let Some(i) = at {
                let name_span = self.entries[i].name;
                self.entries.remove(i);
                self.cut_text(name_span);
            }
            return Ok(());
        }
        let slot = self.slot(value)?;
        match found {
            Ok(i) => self.entries[i].value = slot,
            // Nothing was removed since the search (the entry was not
            // there), so its insertion point still holds.
            Err(i) => {
                let name_span = self.push_text(name)?;
                self.entries.insert(
                    i,
                    Entry {
                        name: name_span,
                        symbol: symbols::intern(name),
                        value: slot,
                    },
                );
            }
        }
        Ok(())
    }

    /// Frees what a stored value holds in the buffers.
    fn release(&mut self, value: Slot) {
        match value {
            Slot::Str(s) => self.cut_text(s),
            Slot::List(range) => {
                let (start, end) = (range.start as usize, range.end as usize);
                // Cut the elements' strings first (back to front keeps the
                // earlier spans valid), then the elements themselves.
                for k in (start..end.min(self.elements.len())).rev() {
                    if let Slot::Str(s) = self.elements[k] {
                        self.cut_text(s);
                    }
                }
                if start < end && end <= self.elements.len() {
                    self.elements.drain(start..end);
                    let removed = range.end - range.start;
                    for e in &mut self.entries {
                        if let Slot::List(r) = &mut e.value {
                            if r.start >= range.end {
                                r.start -= removed;
                                r.end -= removed;
                            }
                        }
                    }
                }
            }
            Slot::Num(_) | Slot::Bool(_) | Slot::Object | Slot::Other => {}
        }
    }

    /// Removes the bytes of `cut` from the text and moves every later span
    /// back by as many bytes.
    pub(super) fn cut_text(&mut self, cut: Span32) {
        let (start, end) = (cut.start as usize, cut.end as usize);
        if start >= end || end > self.text.len() {
            return;
        }
        self.text.replace_range(start..end, "");
        let removed = cut.end - cut.start;
        let shift = |s: &mut Span32| {
            if s.start >= cut.end {
                s.start -= removed;
                s.end -= removed;
            }
        };
        for e in &mut self.entries {
            shift(&mut e.name);
            if let Slot::Str(s) = &mut e.value {
                shift(s);
            }
        }
        for e in &mut self.elements {
            if let Slot::Str(s) = e {
                shift(s);
            }
        }
    }

    /// The position of attribute `name` (`Ok`), or where it would go (`Err`).
    fn search(&self, name: &str) -> Result<usize, usize> {
        let text = self.text.as_bytes();
        self.entries.binary_search_by(|e| {
            name_order_bytes(
                text.get(e.name.range()).unwrap_or_default(),
                name.as_bytes(),
            )
        })
    }

    fn push_text(&mut self, s: &str) -> Result<Span32, ContextError> {
        let start = u32::try_from(self.text.len()).map_err(|_| ContextError::TooLarge)?;
        let end = u32::try_from(self.text.len() + s.len()).map_err(|_| ContextError::TooLarge)?;
        self.text.push_str(s);
        Ok(Span32 { start, end })
    }

    /// Appends a list: each item's element (which `slot` makes, and may
    /// push the item's text for) to `elements`. A list's elements stay
    /// contiguous because only its own items push to `elements` meanwhile.
    fn push_elements<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut slot: impl FnMut(&mut Self, T) -> Result<Slot, ContextError>,
    ) -> Result<Slot, ContextError> {
        let start = u32::try_from(self.elements.len()).map_err(|_| ContextError::TooLarge)?;
        for item in items {
            let element = slot(self, item)?;
            self.elements.push(element);
        }
        let end = u32::try_from(self.elements.len()).map_err(|_| ContextError::TooLarge)?;
        Ok(Slot::List(Span32 { start, end }))
    }

    fn slot<I, J>(&mut self, value: NewValue<'_, I, J>) -> Result<Slot, ContextError>
    where
        I: Iterator,
        I::Item: AsRef<str>,
        J: Iterator<Item = f64>,
    {
        Ok(match value {
            NewValue::Str(s) => Slot::Str(self.push_text(s)?),
            NewValue::Num(n) => Slot::Num(n),
            NewValue::Bool(b) => Slot::Bool(b),
            NewValue::Strs(items) => {
                self.push_elements(items, |c, s| Ok(Slot::Str(c.push_text(s.as_ref())?)))?
            }
            NewValue::Nums(items) => self.push_elements(items, |_, n| Ok(Slot::Num(n)))?,
            NewValue::Json(value) => match value {
                serde_json::Value::String(s) => Slot::Str(self.push_text(s)?),
                serde_json::Value::Number(n) => Slot::Num(n.as_f64().unwrap_or(f64::NAN)),
                serde_json::Value::Bool(b) => Slot::Bool(*b),
                serde_json::Value::Array(items) => self.push_elements(items, |c, item| {
                    Ok(match item {
                        serde_json::Value::String(s) => Slot::Str(c.push_text(s)?),
                        serde_json::Value::Number(n) => n.as_f64().map_or(Slot::Other, Slot::Num),
                        _ => Slot::Other,
                    })
                })?,
                serde_json::Value::Object(_) => Slot::Object,
                serde_json::Value::Null => Slot::Other,
            },
        })
    }
}

/// The text bytes (names, strings, strings in arrays) and array elements
/// the attributes of a JSON context object take.
pub(super) fn json_sizes(object: &serde_json::Map<String, serde_json::Value>) -> (usize, usize) {
    let (mut text, mut elements) = (0usize, 0usize);
    for (name, value) in object {
        if value.is_null() {
            continue;
        }
        text += name.len();
        match value {
            serde_json::Value::String(s) => text += s.len(),
            serde_json::Value::Array(items) => {
                elements += items.len();
                text += items
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .map(str::len)
                    .sum::<usize>();
            }
            _ => {}
        }
    }
    (text, elements)
}

/// The text of span `s` (empty when it is not one).
#[inline]
pub(super) fn span(text: &str, s: Span32) -> &str {
    text.get(s.range()).unwrap_or("")
}
