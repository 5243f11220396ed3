//! Evaluation contexts: the attributes of one user, device or request.
//!
//! A [`Context`] is built from a JSON object (SPEC §6 "Contexts"), or
//! without JSON through [`Context::builder`] and the typed setters, and then
//! evaluated against any number of flags. Construction validates the object,
//! drops `null` values (they count as missing) and sorts attributes by name
//! (`name_order`) so lookups by name are a binary search; evaluation finds
//! attributes by the process-wide symbol of their names instead
//! (`context::symbols`): one load from a small direct map of bytes for the
//! low symbols, a probe of a small index of integers for the rest.
//!
//! The context is packed: every name and string value lives in one text
//! buffer, every attribute in one array of small fixed-size entries, their
//! name symbols, symbol map and symbol index in three arrays of integers,
//! and every array element in another, so a context is at most six
//! allocations whatever its size.
//! Replacing or removing an attribute cuts its old bytes and elements out
//! of the buffers, so a long-lived context that is updated keeps only live
//! data. Readers get borrowed views ([`Attr`], [`Element`]).

use std::fmt;

pub(crate) mod symbol_map;
pub(crate) mod symbols;

use symbol_map::SymbolMap;

/// An attribute value, as the operators see it (a view into a [`Context`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Attr<'a> {
    /// A string.
    Str(&'a str),
    /// A number (compared as f64).
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// An array; elements that are not strings or numbers match nothing.
    List(Elements<'a>),
    /// An object: present (`exists` holds) but matches no operator.
    Object,
}

/// One element of an array attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Element<'a> {
    /// A string element.
    Str(&'a str),
    /// A number element.
    Num(f64),
    /// Anything else (booleans, objects, nested arrays, null): matches nothing.
    Other,
}

/// The elements of an array attribute.
#[derive(Clone, Copy)]
pub struct Elements<'a> {
    context: &'a Context,
    slots: &'a [Slot],
}

impl<'a> Elements<'a> {
    /// The elements in order.
    pub fn iter(&self) -> impl Iterator<Item = Element<'a>> + 'a {
        let context = self.context;
        self.slots.iter().map(move |slot| match *slot {
            Slot::Str(span) => Element::Str(context.text(span)),
            Slot::Num(n) => Element::Num(n),
            _ => Element::Other,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

impl PartialEq for Elements<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl fmt::Debug for Elements<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A byte range of the context's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span32 {
    start: u32,
    end: u32,
}

/// A stored value: strings as ranges of the text, arrays as ranges of `elements`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Str(Span32),
    Num(f64),
    Bool(bool),
    List(Span32),
    Object,
    Other,
}

/// One attribute: its name (a range of the text) and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    name: Span32,
    value: Slot,
}

/// A validated context.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Context {
    /// All names and string values, back to back, nothing else: replacing or
    /// removing an attribute cuts its bytes out, so the buffer never holds
    /// more than the live attributes.
    text: String,
    /// Attributes in [`name_order`] of their names.
    entries: Vec<Entry>,
    /// The process-wide symbol of each entry's name ([`symbols`]), parallel
    /// to `entries`.
    symbols: Vec<u32>,
    /// The position of each attribute by its name's symbol, rebuilt when
    /// attributes are added or removed.
    map: SymbolMap,
    /// Elements of all array attributes, nothing else (same as `text`).
    elements: Vec<Slot>,
    /// The key's range of the text.
    key: Option<Span32>,
}

/// Why a JSON value is not a context.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContextError {
    /// The value is not a JSON object.
    NotAnObject,
    /// `key` is present, not `null`, and not a string.
    KeyNotString,
    /// The text is not JSON at all.
    Json(String),
    /// The context is too large to index (over 4 GiB of text).
    TooLarge,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextError::NotAnObject => write!(f, "a context must be a JSON object"),
            ContextError::KeyNotString => write!(f, "the context's \"key\" must be a string"),
            ContextError::Json(e) => write!(f, "invalid JSON: {e}"),
            ContextError::TooLarge => write!(f, "the context is too large (over 4 GiB)"),
        }
    }
}

impl std::error::Error for ContextError {}

/// A value about to be stored, borrowed from the caller.
enum NewValue<'a, I, J> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Json(&'a serde_json::Value),
    Strs(I),
    Nums(J),
}

/// A [`NewValue`] that is not a list of the caller's.
type Single<'a> = NewValue<'a, std::iter::Empty<&'static str>, std::iter::Empty<f64>>;

/// Builds a [`Context`] attribute by attribute, without going through JSON
/// (the shape of LaunchDarkly's `ContextBuilder`):
///
/// ```
/// use vexil::context::Context;
/// let context = Context::builder("user-1")
///     .string("plan", "pro")
///     .number("age", 42.0)
///     .bool("beta", true)
///     .strings("groups", ["admins", "staff"])
///     .build()
///     .expect("a valid context");
/// assert_eq!(context.key(), Some("user-1"));
/// ```
///
/// A later value for the same name replaces the earlier one. `key` may only
/// be set with [`ContextBuilder::string`]; any other setter naming `key`
/// makes [`ContextBuilder::build`] fail with [`ContextError::KeyNotString`].
#[derive(Debug, Clone)]
pub struct ContextBuilder {
    context: Context,
    error: Option<ContextError>,
}

impl ContextBuilder {
    fn with(mut self, f: impl FnOnce(&mut Context) -> Result<(), ContextError>) -> Self {
        if self.error.is_none() {
            if let Err(e) = f(&mut self.context) {
                self.error = Some(e);
            }
        }
        self
    }

    /// Sets a string attribute.
    pub fn string(self, name: &str, value: &str) -> Self {
        self.with(|c| c.set_string(name, value))
    }

    /// Sets a number attribute.
    pub fn number(self, name: &str, value: f64) -> Self {
        self.with(|c| c.set_number(name, value))
    }

    /// Sets a boolean attribute.
    pub fn bool(self, name: &str, value: bool) -> Self {
        self.with(|c| c.set_bool(name, value))
    }

    /// Sets an array-of-strings attribute.
    pub fn strings<S: AsRef<str>>(self, name: &str, values: impl IntoIterator<Item = S>) -> Self {
        self.with(|c| c.set_strings(name, values))
    }

    /// Sets an array-of-numbers attribute.
    pub fn numbers(self, name: &str, values: impl IntoIterator<Item = f64>) -> Self {
        self.with(|c| c.set_numbers(name, values))
    }

    /// Sets an attribute from a JSON value (`null` removes it).
    pub fn json(self, name: &str, value: &serde_json::Value) -> Self {
        self.with(|c| c.put(name, Single::Json(value)))
    }

    /// The context, or the first error a setter met.
    pub fn build(self) -> Result<Context, ContextError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.context),
        }
    }
}

impl Context {
    /// Builds a context from a JSON value.
    pub fn from_json(value: &serde_json::Value) -> Result<Context, ContextError> {
        let object = value.as_object().ok_or(ContextError::NotAnObject)?;
        // Every buffer at its final size from the start: no buffer grows
        // (and leaves a hole behind) while the context is built, so its
        // blocks lie close together, which is what a check of a context not
        // in cache waits for.
        let (text, elements) = json_sizes(object);
        let mut context = Context {
            text: String::with_capacity(text),
            entries: Vec::with_capacity(object.len()),
            symbols: Vec::new(),
            map: SymbolMap::default(),
            elements: Vec::with_capacity(elements),
            key: None,
        };
        for (name, value) in object {
            if value.is_null() {
                continue;
            }
            if name == "key" && !value.is_string() {
                return Err(ContextError::KeyNotString);
            }
            let name = context.push_text(name)?;
            let value = context.slot(Single::Json(value))?;
            context.entries.push(Entry { name, value });
        }
        let text = std::mem::take(&mut context.text);
        context
            .entries
            .sort_by(|a, b| name_order(span(&text, a.name), span(&text, b.name)));
        context.symbols = context
            .entries
            .iter()
            .map(|e| symbols::intern(span(&text, e.name)))
            .collect();
        context.text = text;
        context.refresh_map();
        context.refresh_key();
        Ok(context.compacted())
    }

    /// The same context in new buffers allocated one after another (a
    /// clone allocates each at the length it holds), while the buffers it
    /// was built in, and whatever the caller allocated around them, are
    /// still alive to keep the new ones from landing in their holes.
    ///
    /// A check of a context that is not in cache waits for its lines; with
    /// the buffers side by side, and contexts built one after another lying
    /// one after another, the processor's prefetchers fetch them ahead. One
    /// pass over 1M contexts made from JSON took 250–280 ns a check
    /// without this and 180 ns with it (docs/benchmarks.md); a context
    /// built and checked at once is in cache either way and pays only for
    /// the copy.
    fn compacted(&self) -> Context {
        self.clone()
    }

    /// Parses JSON text into a context. Text nested deeper than
    /// [`MAX_VALUE_NESTING`](crate::limits::MAX_VALUE_NESTING) (the context
    /// object itself counting as one level) is refused before it is parsed.
    pub fn from_json_str(text: &str) -> Result<Context, ContextError> {
        let limit = crate::limits::MAX_VALUE_NESTING;
        if let Some(at) = nested_deeper_than(text, limit) {
            return Err(ContextError::Json(format!(
                "nested deeper than {limit} levels (the limit for JSON values) at byte {}",
                at + 1
            )));
        }
        // The scan above bounds the recursion; serde_json's own limit (127)
        // would refuse a context exactly at the limit.
        let mut de = serde_json::Deserializer::from_str(text);
        de.disable_recursion_limit();
        let value = serde::Deserialize::deserialize(&mut de)
            .and_then(|v: serde_json::Value| de.end().map(|()| v))
            .map_err(|e| ContextError::Json(e.to_string()))?;
        Context::from_json(&value)
    }

    /// A context with only a key.
    pub fn with_key(key: &str) -> Context {
        let mut context = Context::default();
        // A key is a string: this cannot fail short of 4 GiB of text.
        let _ = context.set_string("key", key);
        context
    }

    /// A builder for a context with key `key` (see [`ContextBuilder`]).
    pub fn builder(key: &str) -> ContextBuilder {
        ContextBuilder {
            context: Context::with_key(key),
            error: None,
        }
    }

    /// Sets an attribute from a JSON value (replacing any previous value;
    /// `null` removes it). `key` must be a string or `null`.
    pub fn set(&mut self, name: &str, value: serde_json::Value) -> Result<(), ContextError> {
        self.put(name, Single::Json(&value))
    }

    /// Sets a string attribute (`key` included: it sets the context key).
    pub fn set_string(&mut self, name: &str, value: &str) -> Result<(), ContextError> {
        self.put(name, Single::Str(value))
    }

    /// Sets a number attribute (any `f64`, NaN included).
    pub fn set_number(&mut self, name: &str, n: f64) -> Result<(), ContextError> {
        self.put(name, Single::Num(n))
    }

    /// Sets a boolean attribute.
    pub fn set_bool(&mut self, name: &str, b: bool) -> Result<(), ContextError> {
        self.put(name, Single::Bool(b))
    }

    /// Sets an array-of-strings attribute.
    pub fn set_strings<S: AsRef<str>>(
        &mut self,
        name: &str,
        values: impl IntoIterator<Item = S>,
    ) -> Result<(), ContextError> {
        self.put(
            name,
            NewValue::<_, std::iter::Empty<f64>>::Strs(values.into_iter()),
        )
    }

    /// Sets an array-of-numbers attribute.
    pub fn set_numbers(
        &mut self,
        name: &str,
        values: impl IntoIterator<Item = f64>,
    ) -> Result<(), ContextError> {
        self.put(
            name,
            NewValue::<std::iter::Empty<&str>, _>::Nums(values.into_iter()),
        )
    }

    /// Removes an attribute (a no-op when it is missing). Removing `key`
    /// leaves the context without a key.
    pub fn remove(&mut self, name: &str) {
        // Removal never fails: `null` is a valid value for every name.
        let _ = self.put(name, Single::Json(&serde_json::Value::Null));
    }

    /// The one way an attribute changes: the old value's bytes and elements
    /// are cut out (so the buffers hold only live data), then the new value
    /// is appended and the entry updated, inserted or removed.
    fn put<I, J>(&mut self, name: &str, value: NewValue<'_, I, J>) -> Result<(), ContextError>
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
        let at = self.find(name);
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
                self.symbols.remove(i);
                self.cut_text(name_span);
                self.refresh_map();
            }
        } else {
            let slot = self.slot(value)?;
            match at {
                Some(i) => self.entries[i].value = slot,
                None => {
                    let name_span = self.push_text(name)?;
                    let i = self.entries.partition_point(|e| {
                        name_order(span(&self.text, e.name), name) == std::cmp::Ordering::Less
                    });
                    self.entries.insert(
                        i,
                        Entry {
                            name: name_span,
                            value: slot,
                        },
                    );
                    self.symbols.insert(i, symbols::intern(name));
                    self.refresh_map();
                }
            }
        }
        self.refresh_key();
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
    fn cut_text(&mut self, cut: Span32) {
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

    /// Rebuilds the symbol map (after attributes were added or removed).
    fn refresh_map(&mut self) {
        self.map.rebuild(&self.symbols);
    }

    fn refresh_key(&mut self) {
        self.key = match self.find("key").map(|i| self.entries[i].value) {
            Some(Slot::Str(span)) => Some(span),
            _ => None,
        };
    }

    /// The context key, if any.
    pub fn key(&self) -> Option<&str> {
        self.key.map(|s| self.text(s))
    }

    /// The context key's bytes, if any.
    #[inline]
    pub(crate) fn key_bytes(&self) -> Option<&[u8]> {
        let s = self.key?;
        self.text.as_bytes().get(s.start as usize..s.end as usize)
    }

    /// An attribute by name; `None` when missing or `null`.
    pub fn get(&self, name: &str) -> Option<Attr<'_>> {
        self.find(name).map(|i| self.attr_at(i))
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the context has no attributes.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held for names and string values (live data only: replacing an
    /// attribute does not grow it).
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// The name of the `i`-th attribute (empty past the end). Attributes are
    /// kept shorter names first, then bytewise; `0..len()` visits them all.
    #[inline]
    pub fn name_at(&self, i: usize) -> &str {
        self.entries.get(i).map_or("", |e| self.text(e.name))
    }

    /// Starts loading the context's buffers into the cache, every line at
    /// once, so the evaluation that follows does not wait for its index, then
    /// its entries, then its text one after the other (a cold context costs
    /// one memory latency instead of three). Plain loads, no `unsafe`: each
    /// is independent, so the processor issues them all together.
    #[inline]
    pub(crate) fn warm(&self) {
        let mut acc = self.map.warm();
        let mut i = 0;
        while let Some(e) = self.entries.get(i) {
            acc ^= e.name.start;
            i += 2;
        }
        let text = self.text.as_bytes();
        let mut i = 0;
        while let Some(&b) = text.get(i) {
            acc ^= u32::from(b);
            i += 64;
        }
        if let Some(first) = self.elements.first() {
            acc ^= matches!(first, Slot::Str(_)) as u32;
        }
        std::hint::black_box(acc);
    }

    /// The position of the attribute whose name has symbol `symbol`.
    #[cfg(test)]
    pub(crate) fn position_of_symbol(&self, symbol: u32) -> Option<usize> {
        self.map.position(symbol)
    }

    /// The context's symbol map, for the evaluator's lookups.
    #[inline(always)]
    pub(crate) fn symbol_map(&self) -> &SymbolMap {
        &self.map
    }

    /// The `i`-th attribute's value as bytes when it is a string.
    #[inline]
    pub(crate) fn str_bytes_at(&self, i: usize) -> Option<&[u8]> {
        match self.entries.get(i)?.value {
            Slot::Str(s) => self.text.as_bytes().get(s.start as usize..s.end as usize),
            _ => None,
        }
    }

    /// The `i`-th attribute's value when it is a string.
    #[inline]
    pub(crate) fn str_at(&self, i: usize) -> Option<&str> {
        match self.entries.get(i)?.value {
            Slot::Str(s) => self.text.get(s.start as usize..s.end as usize),
            _ => None,
        }
    }

    /// The `i`-th attribute's value when it is a boolean.
    #[inline]
    pub(crate) fn bool_at(&self, i: usize) -> Option<bool> {
        match self.entries.get(i)?.value {
            Slot::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Whether the `i`-th attribute is an array with a string element for
    /// which `hit` holds (`None` when it is not an array).
    #[inline(always)]
    pub(crate) fn any_str_element_at(
        &self,
        i: usize,
        mut hit: impl FnMut(&[u8]) -> bool,
    ) -> Option<bool> {
        let Slot::List(range) = self.entries.get(i)?.value else {
            return None;
        };
        let slots = self
            .elements
            .get(range.start as usize..range.end as usize)
            .unwrap_or(&[]);
        let text = self.text.as_bytes();
        Some(slots.iter().any(|slot| {
            match *slot {
                Slot::Str(s) => text
                    .get(s.start as usize..s.end as usize)
                    .is_some_and(&mut hit),
                _ => false,
            }
        }))
    }

    /// The `i`-th attribute's value when it is a number.
    #[inline]
    pub(crate) fn num_at(&self, i: usize) -> Option<f64> {
        match self.entries.get(i)?.value {
            Slot::Num(n) => Some(n),
            _ => None,
        }
    }

    /// The value of the `i`-th attribute (in the order of [`Context::name_at`]).
    #[inline]
    pub fn attr_at(&self, i: usize) -> Attr<'_> {
        match self.entries.get(i).map(|e| e.value) {
            Some(Slot::Str(span)) => Attr::Str(self.text(span)),
            Some(Slot::Num(n)) => Attr::Num(n),
            Some(Slot::Bool(b)) => Attr::Bool(b),
            Some(Slot::List(range)) => Attr::List(Elements {
                context: self,
                slots: self
                    .elements
                    .get(range.start as usize..range.end as usize)
                    .unwrap_or(&[]),
            }),
            Some(Slot::Object | Slot::Other) | None => Attr::Object,
        }
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.entries
            .binary_search_by(|e| name_order(span(&self.text, e.name), name))
            .ok()
    }

    /// The position of attribute `name`, found by text: for a name the
    /// symbol table had no room for.
    pub(crate) fn position_by_name(&self, name: &[u8]) -> Option<usize> {
        self.entries
            .binary_search_by(|e| {
                let have = self
                    .text
                    .as_bytes()
                    .get(e.name.start as usize..e.name.end as usize)
                    .unwrap_or(&[]);
                name_order_bytes(have, name)
            })
            .ok()
    }

    #[inline]
    fn text(&self, s: Span32) -> &str {
        span(&self.text, s)
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
fn json_sizes(object: &serde_json::Map<String, serde_json::Value>) -> (usize, usize) {
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

/// The byte offset of the first `[` or `{` (outside strings) that opens
/// level `limit + 1`, if any. Not a JSON validator: malformed text is left
/// to the parser.
fn nested_deeper_than(text: &str, limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Byte equality for short texts (attribute names, string values, constants)
/// without a call to `memcmp`: lengths first, then overlapping 8- or 4-byte
/// words.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    #[inline]
    fn word8(s: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 8];
        if let Some(bytes) = s.get(at..at + 8) {
            w.copy_from_slice(bytes);
        }
        u64::from_le_bytes(w)
    }
    #[inline]
    fn word4(s: &[u8], at: usize) -> u32 {
        let mut w = [0u8; 4];
        if let Some(bytes) = s.get(at..at + 4) {
            w.copy_from_slice(bytes);
        }
        u32::from_le_bytes(w)
    }
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if word8(a, at) != word8(b, at) {
                return false;
            }
            at += 8;
        }
        word8(a, n - 8) == word8(b, n - 8)
    } else if n >= 4 {
        word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

#[inline]
fn span(text: &str, s: Span32) -> &str {
    text.get(s.start as usize..s.end as usize).unwrap_or("")
}

/// The order attribute names are kept in, by a context and by a ruleset:
/// shorter names first, then bytewise. Binding a context to a ruleset is a
/// merge-join of two lists in this order, and most names differ in length, so
/// most steps of it compare two integers instead of calling `memcmp`.
#[inline]
pub(crate) fn name_order(a: &str, b: &str) -> std::cmp::Ordering {
    name_order_bytes(a.as_bytes(), b.as_bytes())
}

/// [`name_order`] over bytes.
#[inline]
pub(crate) fn name_order_bytes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match a.len().cmp(&b.len()) {
        // Equal lengths: attribute names are short, and an inlined byte loop
        // beats a call into `memcmp` for them.
        std::cmp::Ordering::Equal => a.iter().cmp(b.iter()),
        unequal => unequal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_json_context_is_built_in_buffers_of_its_final_size() {
        let value = json!({
            "key": "user-1", "plan": "pro", "age": 42, "beta": true, "gone": null,
            "tags": ["a", "bb", 3, {"x": 1}], "scores": [1, 2], "org": {"id": "o"},
        });
        let object = value.as_object().expect("an object");
        let c = Context::from_json(&value).expect("valid");
        // Names and strings ("gone" is null and skipped; the object's
        // inner string is not text of the context).
        assert_eq!(json_sizes(object), (c.text.len(), c.elements.len()));
        assert_eq!((c.text.len(), c.elements.len()), (27 + 12, 6));
        // And compacted: nothing reserved past what is held.
        assert_eq!(c.text.capacity(), c.text.len());
        assert_eq!(c.entries.capacity(), c.entries.len());
        assert_eq!(c.elements.capacity(), c.elements.len());
    }

    #[test]
    fn validates_shape_and_key() {
        assert_eq!(
            Context::from_json(&json!([1])),
            Err(ContextError::NotAnObject)
        );
        assert_eq!(
            Context::from_json(&json!({"key": 5})),
            Err(ContextError::KeyNotString)
        );
        let c = Context::from_json(&json!({"key": null, "a": null, "b": 1})).expect("valid");
        assert_eq!(c.key(), None);
        assert_eq!(c.get("a"), None);
        assert_eq!(c.get("b"), Some(Attr::Num(1.0)));
    }

    #[test]
    fn arrays_keep_strings_and_numbers() {
        let c = Context::from_json(&json!({"key": "k", "tags": ["a", 2, true, {"x": 1}]}))
            .expect("valid");
        assert_eq!(c.key(), Some("k"));
        let Some(Attr::List(items)) = c.get("tags") else {
            panic!("an array")
        };
        assert_eq!(
            items.iter().collect::<Vec<_>>(),
            vec![
                Element::Str("a"),
                Element::Num(2.0),
                Element::Other,
                Element::Other
            ]
        );
    }

    #[test]
    fn names_are_kept_in_name_order_and_found() {
        let c = Context::from_json(&json!({"zeta": 1, "ab": "x", "b": true, "aa": [], "key": "k"}))
            .expect("valid");
        let names: Vec<&str> = (0..c.len()).map(|i| c.name_at(i)).collect();
        assert_eq!(names, vec!["b", "aa", "ab", "key", "zeta"]);
        assert_eq!(c.get("ab"), Some(Attr::Str("x")));
        assert_eq!(c.get("zeta"), Some(Attr::Num(1.0)));
        assert_eq!(c.get("nope"), None);
    }

    #[test]
    fn set_replaces_removes_and_keeps_order() {
        let mut c = Context::with_key("u-1");
        assert_eq!(c.key(), Some("u-1"));
        c.set("plan", json!("pro")).expect("set");
        c.set("age", json!(30)).expect("set");
        c.set("plan", json!("free")).expect("replace");
        assert_eq!(c.get("plan"), Some(Attr::Str("free")));
        c.set("age", serde_json::Value::Null).expect("remove");
        assert_eq!(c.get("age"), None);
        c.set_number("score", f64::NAN).expect("nan");
        assert!(matches!(c.get("score"), Some(Attr::Num(n)) if n.is_nan()));
        assert_eq!(c.set("key", json!(5)), Err(ContextError::KeyNotString));
        c.set("key", json!("u-2")).expect("new key");
        assert_eq!(c.key(), Some("u-2"));
        let names: Vec<&str> = (0..c.len()).map(|i| c.name_at(i)).collect();
        let mut sorted = names.clone();
        sorted.sort_by(|a, b| name_order(a, b));
        assert_eq!(names, sorted);
    }

    #[test]
    fn the_builder_makes_what_json_makes() {
        let built = Context::builder("u-1")
            .string("plan", "pro")
            .number("age", 42.0)
            .bool("beta", true)
            .strings("groups", ["a", "b"])
            .numbers("ids", [1.0, 2.5])
            .string("plan", "team")
            .build()
            .expect("valid");
        let parsed = Context::from_json(&json!({
            "key": "u-1", "plan": "team", "age": 42, "beta": true,
            "groups": ["a", "b"], "ids": [1, 2.5]
        }))
        .expect("valid");
        assert_eq!(built.len(), parsed.len());
        for i in 0..parsed.len() {
            assert_eq!(built.name_at(i), parsed.name_at(i));
            assert_eq!(built.attr_at(i), parsed.attr_at(i));
        }
        assert_eq!(built.key(), Some("u-1"));
        assert_eq!(
            Context::builder("k").number("key", 1.0).build(),
            Err(ContextError::KeyNotString)
        );
        let rekeyed = Context::builder("k")
            .string("key", "k2")
            .build()
            .expect("valid");
        assert_eq!(rekeyed.key(), Some("k2"));
    }

    #[test]
    fn every_attribute_is_found_by_its_symbol() {
        let mut c = Context::with_key("k");
        for i in 0..40 {
            c.set_number(&format!("attr_{i}"), f64::from(i))
                .expect("set");
        }
        let find = |c: &Context, name: &str| c.position_of_symbol(symbols::intern(name));
        for i in 0..40 {
            let name = format!("attr_{i}");
            let at = find(&c, &name);
            assert_eq!(at.map(|at| c.attr_at(at)), Some(Attr::Num(f64::from(i))));
        }
        // A symbol finds its own name's value, not a neighbour's.
        assert_eq!(
            c.position_of_symbol(symbols::intern("attr_1"))
                .map(|at| c.attr_at(at)),
            Some(Attr::Num(1.0))
        );
        assert_eq!(find(&c, "nope"), None);
        c.remove("attr_3");
        assert_eq!(find(&c, "attr_3"), None);
        assert!(find(&c, "attr_4").is_some());
        // A name without a symbol (the table was full) is found by text.
        let at = c.position_by_name(b"attr_7");
        assert_eq!(at.map(|at| c.attr_at(at)), Some(Attr::Num(7.0)));
        assert_eq!(c.position_by_name(b"attr_3"), None);
    }

    #[test]
    fn same_bytes_is_equality() {
        let texts = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnoQ",
            "Abcdefgh",
            "abcdefgH",
        ];
        for a in texts {
            for b in texts {
                assert_eq!(
                    same_bytes(a.as_bytes(), b.as_bytes()),
                    a == b,
                    "{a:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn replacing_attributes_keeps_memory_bounded() {
        let mut c = Context::builder("u")
            .string("plan", "pro")
            .strings("tags", ["x", "y"])
            .number("age", 1.0)
            .build()
            .expect("valid");
        let live = c.text_len();
        for i in 0..10_000 {
            let plan = if i % 2 == 0 { "enterprise-plus" } else { "pro" };
            c.set_string("plan", plan).expect("set");
            c.set("tags", json!(["x", "y"])).expect("set");
            c.set_strings("tags", ["x", "y"]).expect("set");
            c.set_number("age", f64::from(i)).expect("set");
            c.set("plan", json!("pro")).expect("set");
            c.set_bool("tmp", true).expect("set");
            c.remove("tmp");
        }
        assert_eq!(c.text_len(), live, "the text holds only live data");
        assert!(c.elements.len() <= 2);
        assert!(c.text.capacity() < 256 && c.elements.capacity() < 64);
        assert_eq!(c.get("plan"), Some(Attr::Str("pro")));
        assert_eq!(c.get("age"), Some(Attr::Num(9999.0)));
        assert_eq!(c.get("tmp"), None);
        let Some(Attr::List(tags)) = c.get("tags") else {
            panic!("an array")
        };
        assert_eq!(
            tags.iter().collect::<Vec<_>>(),
            vec![Element::Str("x"), Element::Str("y")]
        );
        assert_eq!(c.key(), Some("u"));
    }

    #[test]
    fn replacement_keeps_every_other_value_intact() {
        let mut c = Context::from_json(&json!({
            "key": "k", "a": "alpha", "b": ["x", "yy", 3], "c": "gamma", "d": 4
        }))
        .expect("valid");
        c.set("b", json!(["zzz"])).expect("set");
        c.set("a", json!("A")).expect("set");
        c.set("key", json!("key-2")).expect("set");
        c.remove("d");
        c.set("c", json!(["p", "q"])).expect("set");
        assert_eq!(c.key(), Some("key-2"));
        assert_eq!(c.get("a"), Some(Attr::Str("A")));
        let list = |name: &str| match c.get(name) {
            Some(Attr::List(items)) => items.iter().collect::<Vec<_>>(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(list("b"), vec![Element::Str("zzz")]);
        assert_eq!(list("c"), vec![Element::Str("p"), Element::Str("q")]);
        assert_eq!(c.get("d"), None);
        assert_eq!(c.len(), 4);
    }
}
