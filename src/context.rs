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
//! A context is its values and its shape. The shape (`context::shape`)
//! is what follows from the attribute names alone: the names, their
//! symbols, the symbol map and the presence bits; contexts with the same
//! names share one, kept once per process, so the map a check reads stays
//! in cache. The values are packed into two allocations made one after the
//! other: the text of the string values (between eight zero bytes on
//! either side, so a check reads any string's first and last eight bytes
//! in one load each), and one array of words that holds
//! a word per attribute value and per array element (`context::word`:
//! numbers as their bits, every other value NaN-boxed with its range
//! inline), then the side table of a context too large for inline ranges.
//! A check of a context that is not in cache waits for a few adjacent
//! lines, which the processor fetches together, and contexts built one
//! after another lie one after another (the thread's spare draft leaves no
//! holes between them). The layout is canonical: two contexts with the
//! same attributes are equal however they were built.
//!
//! Changing a context unpacks it into a `Draft` (editable buffers, the
//! thread's spare one), edits that, and packs it again, so an update costs
//! time linear in the context's size and the context keeps only live data
//! (a number, boolean or object over one is written in place). A
//! [`ContextBuilder`] edits one draft and packs it once. Readers get
//! borrowed views ([`Attr`], [`Element`]).

use std::fmt;

mod draft;
pub(crate) mod shape;
pub(crate) mod symbol_map;
pub(crate) mod symbols;
mod word;

use draft::{span, Draft, NewValue, Single, Slot, Span32};
use shape::{Shape, ShapeRef};

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

impl Attr<'_> {
    /// The value as JSON (`{}` for any object; a number JSON cannot hold,
    /// which a context never has, as `null`).
    pub fn to_json(&self) -> serde_json::Value {
        let number = |n: f64| {
            serde_json::Number::from_f64(n)
                .map_or(serde_json::Value::Null, serde_json::Value::Number)
        };
        match self {
            Attr::Str(s) => serde_json::Value::String((*s).to_string()),
            Attr::Num(n) => number(*n),
            Attr::Bool(b) => serde_json::Value::Bool(*b),
            Attr::List(elements) => elements
                .iter()
                .map(|e| match e {
                    Element::Str(s) => serde_json::Value::String(s.to_string()),
                    Element::Num(n) => number(n),
                    Element::Other => serde_json::Value::Null,
                })
                .collect(),
            Attr::Object => serde_json::Value::Object(serde_json::Map::new()),
        }
    }
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
    start: u32,
    end: u32,
}

impl<'a> Elements<'a> {
    /// The elements in order.
    pub fn iter(&self) -> impl Iterator<Item = Element<'a>> + 'a {
        let context = self.context;
        (self.start..self.end).map(move |j| match context.element(j as usize) {
            Slot::Str(s) => Element::Str(span(&context.text, s)),
            Slot::Num(n) => Element::Num(n),
            _ => Element::Other,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

/// A string value's bytes, and its text's eight bytes from its start and
/// to its end ([`Context::str_windows_at`]).
pub(crate) type StrWindows<'a> = (&'a [u8], Option<(u64, u64)>);

/// Zero bytes before and after the strings of a context's text: every
/// string then has eight bytes of text from its start and eight up to its
/// end, so its windows ([`Context::str_windows_at`]) are one load each,
/// with no clamp and no shift on where the string lies.
const PAD: usize = ZEROS.len();

/// The padding's bytes.
const ZEROS: &str = "\0\0\0\0\0\0\0\0";

/// Buffers up to this many bytes are warmed by five loads a line apart
/// at most ([`Context::warm`]).
const WARM_SPAN: usize = 257;

/// A validated context (see the module documentation for its layout).
#[derive(Clone, PartialEq, Default)]
pub struct Context {
    /// The attributes' names and what follows from them alone.
    shape: ShapeRef,
    /// The string values (each attribute's, or its array's elements', in
    /// position order), back to back between [`PAD`] zero bytes on either
    /// side (empty in the default context), nothing else.
    text: Box<str>,
    /// The attributes' values from word 0, one word each
    /// ([`word`]), then the array elements the same way, then (a wide
    /// context's; see [`word`]) the side table of ranges, to the end.
    words: Box<[u64]>,
    /// Number of attributes (the shape's).
    len: u32,
    /// Number of array elements, of all arrays.
    elements: u32,
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
    draft: Draft,
    error: Option<ContextError>,
}

impl ContextBuilder {
    #[inline]
    fn with<I, J>(mut self, name: &str, value: NewValue<'_, I, J>) -> Self
    where
        I: Iterator,
        I::Item: AsRef<str>,
        J: Iterator<Item = f64>,
    {
        if self.error.is_none() {
            if let Err(e) = self.draft.put(name, value) {
                self.error = Some(e);
            }
        }
        self
    }

    /// Sets a string attribute.
    #[inline]
    pub fn string(self, name: &str, value: &str) -> Self {
        self.with(name, Single::Str(value))
    }

    /// Sets a number attribute.
    #[inline]
    pub fn number(self, name: &str, value: f64) -> Self {
        self.with(name, Single::Num(value))
    }

    /// Sets a boolean attribute.
    #[inline]
    pub fn bool(self, name: &str, value: bool) -> Self {
        self.with(name, Single::Bool(value))
    }

    /// Sets an array-of-strings attribute.
    #[inline]
    pub fn strings<S: AsRef<str>>(self, name: &str, values: impl IntoIterator<Item = S>) -> Self {
        self.with(
            name,
            NewValue::<_, std::iter::Empty<f64>>::Strs(values.into_iter()),
        )
    }

    /// Sets an array-of-numbers attribute.
    #[inline]
    pub fn numbers(self, name: &str, values: impl IntoIterator<Item = f64>) -> Self {
        self.with(
            name,
            NewValue::<std::iter::Empty<&str>, _>::Nums(values.into_iter()),
        )
    }

    /// Sets an attribute from a JSON value (`null` removes it).
    #[inline]
    pub fn json(self, name: &str, value: &serde_json::Value) -> Self {
        self.with(name, Single::Json(value))
    }

    /// The context, or the first error a setter met.
    pub fn build(mut self) -> Result<Context, ContextError> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Context::freeze(&mut self.draft),
        }
    }
}

impl Drop for ContextBuilder {
    fn drop(&mut self) {
        draft::recycle(std::mem::take(&mut self.draft));
    }
}

impl Context {
    /// Builds a context from a JSON value.
    pub fn from_json(value: &serde_json::Value) -> Result<Context, ContextError> {
        let object = value.as_object().ok_or(ContextError::NotAnObject)?;
        draft::with_scratch(|draft| {
            draft.fill_from_json_object(object)?;
            Context::freeze(draft)
        })
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
        Context::builder(key).build().unwrap_or_default()
    }

    /// A builder for a context with key `key` (see [`ContextBuilder`]).
    pub fn builder(key: &str) -> ContextBuilder {
        ContextBuilder {
            draft: draft::take_scratch(),
            error: None,
        }
        .string("key", key)
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

    /// The one way a context changes: unpacked, edited, packed again
    /// (a scalar over a scalar is written in place). On an error the
    /// context is left as it was.
    fn put<I, J>(&mut self, name: &str, value: NewValue<'_, I, J>) -> Result<(), ContextError>
    where
        I: Iterator,
        I::Item: AsRef<str>,
        J: Iterator<Item = f64>,
    {
        // A number, boolean or object over one: one word changes, in place
        // (`key` is a string, so it never takes this way).
        if let Some(slot) = value.scalar() {
            if let Some(i) = self.position_by_name(name.as_bytes()) {
                if let Some(w) = self.words.get_mut(i).filter(|w| word::is_scalar(**w)) {
                    *w = word::scalar(slot);
                    return Ok(());
                }
            }
        }
        // A string over a string: its bytes replaced, what follows moved.
        if let Some(new) = value.string() {
            if self.replace_string(name, new) {
                return Ok(());
            }
        }
        draft::with_scratch(|draft| {
            self.thaw(draft);
            draft.put(name, value)?;
            *self = Context::freeze(draft)?;
            Ok(())
        })
    }

    /// Replaces the string value of attribute `name` by `new` in place:
    /// the text's bytes are swapped and every later range moves by the
    /// difference, which leaves the layout [`Context::freeze`] would make.
    /// `false` (and nothing changed) when the attribute is not a string with
    /// an inline range, or the text would outgrow inline ranges.
    fn replace_string(&mut self, name: &str, new: &str) -> bool {
        let Some(i) = self.position_by_name(name.as_bytes()) else {
            return false;
        };
        let Some(w) = self.value(i).filter(|&w| word::kind(w) == word::STR) else {
            return false;
        };
        let old = word::inline_range(w);
        let live = self.text_len() - old.range().len() + new.len();
        let Some(replaced) = u32::try_from(new.len())
            .ok()
            .map(|len| Span32 {
                start: old.start,
                end: old.start + len,
            })
            .and_then(|r| word::inline(word::STR, r))
        else {
            return false;
        };
        if (live + 2 * PAD) as u64 > word::FIELD {
            return false;
        }
        let key_at = self.position_by_name(b"key");
        // One allocation of the new length (a replace in place would grow
        // the buffer, then shrink it again to box it).
        let (before, after) = match (
            self.text.get(..old.start as usize),
            self.text.get(old.end as usize..),
        ) {
            (Some(before), Some(after)) => (before, after),
            _ => return false,
        };
        let mut text = String::with_capacity(before.len() + new.len() + after.len());
        text.push_str(before);
        text.push_str(new);
        text.push_str(after);
        self.text = text.into_boxed_str();
        // What lies after it in the text moves: the strings of later
        // attributes and of their elements (ties between empty strings are
        // decided by position, as `freeze` lays them out).
        // (Everything moved lies at or past `old.end`; saturating keeps a
        // broken invariant from being a panic.)
        let moved = |at: u32| at.saturating_sub(old.end - old.start) + new.len() as u32;
        let (n, m) = (self.len as usize, self.elements as usize);
        let shift = |w: &mut u64| {
            if word::kind(*w) == word::STR {
                let r = word::inline_range(*w);
                let shifted = Span32 {
                    start: moved(r.start),
                    end: moved(r.end),
                };
                *w = word::inline(word::STR, shifted).unwrap_or(*w);
            }
        };
        if let Some(w) = self.words.get_mut(i) {
            *w = replaced;
        }
        for k in i + 1..n {
            let Some(&w) = self.words.get(k) else {
                break;
            };
            match word::kind(w) {
                word::STR => self.words.get_mut(k).into_iter().for_each(shift),
                word::LIST => {
                    let r = word::inline_range(w);
                    let elements =
                        (n + r.start as usize).min(n + m)..(n + r.end as usize).min(n + m);
                    self.words
                        .get_mut(elements)
                        .into_iter()
                        .flatten()
                        .for_each(shift);
                }
                _ => {}
            }
        }
        self.key = match (self.key, key_at) {
            (Some(_), Some(at)) if at == i => Some(word::inline_range(replaced)),
            (Some(key), Some(at)) if at > i => Some(Span32 {
                start: moved(key.start),
                end: moved(key.end),
            }),
            (key, _) => key,
        };
        true
    }

    /// Packs a draft: the shape (the process's, when it has these names
    /// already), then the text and the words, each allocated once at its
    /// final size, one after the other, and nothing else allocated (the
    /// draft's `symbols` is its scratch): contexts built one after another
    /// lie one after another in memory, which is what the processor's
    /// prefetchers need when a pass reads many.
    fn freeze(draft: &mut Draft) -> Result<Context, ContextError> {
        let fits = |x: usize| u32::try_from(x).map_err(|_| ContextError::TooLarge);
        let n = draft.entries.len();
        // Only lists' elements are kept (a draft holds only live data, so
        // this is all of them).
        let m: usize = draft
            .entries
            .iter()
            .map(|e| match e.value {
                Slot::List(r) => draft.elements.get(r.range()).map_or(0, <[Slot]>::len),
                _ => 0,
            })
            .sum();
        draft.symbols.clear();
        draft.symbols.extend(draft.entries.iter().map(|e| e.symbol));
        let from = &draft.text;
        let shape = shape::of(
            &draft.symbols,
            draft.entries.iter().map(|e| span(from, e.name)),
        )
        .ok_or(ContextError::TooLarge)?;
        // The draft's text is live names and strings, nothing else.
        let names_len: usize = draft.entries.iter().map(|e| e.name.range().len()).sum();
        let values_len = from.len().saturating_sub(names_len);
        // The attributes' values from word 0, then the elements, a word
        // each; a context too large for inline ranges keeps them all in a
        // side table.
        // (The text's ranges start after the padding.)
        let wide_mode = (values_len + 2 * PAD) as u64 > word::FIELD || m as u64 > word::FIELD;
        let wide_count = if wide_mode {
            let ranged = |s: &Slot| matches!(s, Slot::Str(_) | Slot::List(_));
            let values = draft.entries.iter().filter(|e| ranged(&e.value)).count();
            values + draft.elements.iter().filter(|s| ranged(s)).count()
        } else {
            0
        };
        let wide_at = n + m;
        let mut words = vec![0u64; wide_at + wide_count];
        // The text in reading order: each attribute's string, or its
        // array's element strings, in position order.
        let mut text = String::with_capacity(PAD + values_len + PAD);
        text.push_str(ZEROS);
        let move_text = |text: &mut String, s: Span32| -> Result<Span32, ContextError> {
            let start = fits(text.len())?;
            text.push_str(span(from, s));
            Ok(Span32 {
                start,
                end: fits(text.len())?,
            })
        };
        let mut next_wide = 0usize;
        let mut put = |words: &mut [u64], at: usize, slot: Slot| {
            let w = match slot {
                Slot::Str(r) | Slot::List(r) => {
                    let is_str = matches!(slot, Slot::Str(_));
                    let inline = word::inline(if is_str { word::STR } else { word::LIST }, r);
                    match inline {
                        Some(w) if !wide_mode => w,
                        _ => {
                            if let Some(side) = words.get_mut(wide_at + next_wide) {
                                *side = r.to_word();
                            }
                            let kind = if is_str {
                                word::WIDE_STR
                            } else {
                                word::WIDE_LIST
                            };
                            next_wide += 1;
                            word::wide(kind, next_wide as u32 - 1)
                        }
                    }
                }
                other => word::scalar(other),
            };
            if let Some(x) = words.get_mut(at) {
                *x = w;
            }
        };
        let mut next_element = 0usize;
        let mut key = None;
        for (i, e) in draft.entries.iter().enumerate() {
            let value = match e.value {
                Slot::Str(s) => Slot::Str(move_text(&mut text, s)?),
                Slot::List(r) => {
                    let start = fits(next_element)?;
                    for &element in draft.elements.get(r.range()).unwrap_or(&[]) {
                        let element = match element {
                            Slot::Str(s) => Slot::Str(move_text(&mut text, s)?),
                            other => other,
                        };
                        put(&mut words, n + next_element, element);
                        next_element += 1;
                    }
                    Slot::List(Span32 {
                        start,
                        end: fits(next_element)?,
                    })
                }
                other => other,
            };
            if let Slot::Str(s) = value {
                if span(from, e.name) == "key" {
                    key = Some(s);
                }
            }
            put(&mut words, i, value);
        }
        text.push_str(ZEROS);
        Ok(Context {
            shape,
            text: text.into_boxed_str(),
            words: words.into_boxed_slice(),
            len: fits(n)?,
            elements: fits(m)?,
            key,
        })
    }

    /// Unpacks the context into `draft` (emptied first), to edit.
    fn thaw(&self, draft: &mut Draft) {
        draft.clear();
        // The draft holds live data only: the padding goes, the one after
        // the strings now, the one before them once the spans are in.
        let padded = self.text.len() >= 2 * PAD;
        let end = self.text.len() - if padded { PAD } else { 0 };
        draft
            .text
            .push_str(self.text.get(..end).unwrap_or_default());
        // The names after the values, so the values' ranges hold as they are.
        let shape = self.shape.view();
        for i in 0..self.len() {
            let start = draft.text.len() as u32;
            draft.text.push_str(shape.name(i));
            draft.entries.push(draft::Entry {
                name: Span32 {
                    start,
                    end: draft.text.len() as u32,
                },
                symbol: shape.symbol(i),
                value: self.slot(i),
            });
        }
        draft
            .elements
            .extend((0..self.elements as usize).map(|j| self.element(j)));
        if padded {
            draft.cut_text(Span32 {
                start: 0,
                end: PAD as u32,
            });
        }
    }

    /// The `i`-th attribute's word (`None` past the end).
    #[inline(always)]
    fn value(&self, i: usize) -> Option<u64> {
        if i >= self.len as usize {
            return None;
        }
        self.words.get(i).copied()
    }

    /// [`Context::value`] of a position the symbol map gave: always an
    /// attribute's (`i < len`), so only the read is bounded.
    #[inline(always)]
    fn value_at_position(&self, i: usize) -> Option<u64> {
        debug_assert!(
            i < self.len as usize,
            "position {i} of {} attributes",
            self.len
        );
        self.words.get(i).copied()
    }

    /// The slot a word holds.
    #[inline]
    fn decode(&self, w: u64) -> Slot {
        word::decode(w, |k| self.wide_range(k))
    }

    /// Range `k` of a wide context's side table (empty when there is none).
    #[cold]
    fn wide_range(&self, k: u32) -> Span32 {
        self.words
            .get(self.len as usize + self.elements as usize + k as usize)
            .map_or(Span32 { start: 0, end: 0 }, |&w| Span32::from_word(w))
    }

    /// The range a word of kind `inline` (its range in the word) or `wide`
    /// (in the side table) holds; `None` for any other word.
    #[inline(always)]
    fn range_of(&self, w: u64, inline: u64, wide: u64) -> Option<Span32> {
        match word::kind(w) {
            k if k == inline => Some(word::inline_range(w)),
            k if k == wide => Some(self.wide_range(w as u32)),
            _ => None,
        }
    }

    /// The range of the text a string's word holds.
    #[inline(always)]
    fn str_range(&self, w: u64) -> Option<Span32> {
        self.range_of(w, word::STR, word::WIDE_STR)
    }

    /// The range of the elements a list's word holds.
    #[inline(always)]
    fn list_range(&self, w: u64) -> Option<Span32> {
        self.range_of(w, word::LIST, word::WIDE_LIST)
    }

    /// The `i`-th attribute's value (`Other` past the end).
    #[inline]
    fn slot(&self, i: usize) -> Slot {
        self.value(i).map_or(Slot::Other, |w| self.decode(w))
    }

    /// Array element `j` (of all arrays; `Other` past the end).
    #[inline(always)]
    fn element(&self, j: usize) -> Slot {
        if j >= self.elements as usize {
            return Slot::Other;
        }
        self.words
            .get(self.len as usize + j)
            .map_or(Slot::Other, |&w| self.decode(w))
    }

    /// The context key, if any.
    pub fn key(&self) -> Option<&str> {
        self.key.map(|s| span(&self.text, s))
    }

    /// The context key's bytes, if any.
    #[inline]
    pub(crate) fn key_bytes(&self) -> Option<&[u8]> {
        self.text.as_bytes().get(self.key?.range())
    }

    /// An attribute by name; `None` when missing or `null`.
    pub fn get(&self, name: &str) -> Option<Attr<'_>> {
        self.position_by_name(name.as_bytes())
            .map(|i| self.attr_at(i))
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the context has no attributes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held for names and string values (live data only: replacing an
    /// attribute does not grow it).
    pub fn text_len(&self) -> usize {
        self.text.len().saturating_sub(2 * PAD) + self.shape.view().names_len()
    }

    /// The name of the `i`-th attribute (empty past the end). Attributes are
    /// kept shorter names first, then bytewise; `0..len()` visits them all.
    #[inline]
    pub fn name_at(&self, i: usize) -> &str {
        self.shape.view().name(i)
    }

    /// Starts loading what a check reads of the context into the cache,
    /// every line at once, so the evaluation that follows does not wait for
    /// the values, then the text one after the other. Plain loads, no
    /// `unsafe`: each is independent, so the processor issues them all
    /// together. (The shape is shared: most checks find it in cache.)
    ///
    /// A buffer of at most [`WARM_SPAN`] bytes is reached by five loads
    /// at most a line apart (the first four lines' starts, clamped to its
    /// end, and its last byte): no loop, so warming takes no branch on the
    /// buffer's length (the lengths of distinct contexts differ, and a
    /// loop's exit on them mispredicts). Only longer buffers loop over the
    /// rest.
    #[inline]
    pub(crate) fn warm(&self) {
        #[inline(always)]
        fn touch<T: Copy>(buffer: &[T], mut load: impl FnMut(T)) {
            let line = 64 / std::mem::size_of::<T>();
            let Some(last) = buffer.len().checked_sub(1) else {
                return;
            };
            for j in 0..4 {
                if let Some(&x) = buffer.get((j * line).min(last)) {
                    load(x);
                }
            }
            if let Some(&x) = buffer.get(last) {
                load(x);
            }
            if std::mem::size_of_val(buffer) > WARM_SPAN {
                buffer
                    .iter()
                    .skip(4 * line)
                    .step_by(line)
                    .for_each(|&x| load(x));
            }
        }
        let mut acc = 0u64;
        touch(&self.words, |w| acc ^= w);
        touch(self.text.as_bytes(), |b| acc ^= u64::from(b));
        std::hint::black_box(acc);
    }

    /// The context's shape (its names and their symbol map).
    #[inline(always)]
    pub(crate) fn shape(&self) -> Shape<'_> {
        self.shape.view()
    }

    /// The position of the attribute whose name has symbol `symbol`.
    #[cfg(test)]
    pub(crate) fn position_of_symbol(&self, symbol: u32) -> Option<usize> {
        self.shape.view().position(symbol)
    }

    /// The presence bits of the attributes' symbols (`eval::needs`).
    #[cfg(test)]
    pub(crate) fn presence(&self) -> u64 {
        self.shape.view().presence()
    }

    /// What the symbol map's direct bytes say of `symbol` (see
    /// [`symbol_map::direct_entry`]).
    #[cfg(test)]
    pub(crate) fn direct_entry(&self, symbol: u32) -> u8 {
        symbol_map::direct_entry(self.shape.view().direct(), symbol)
    }

    /// The position of the attribute with symbol `symbol`, from the index
    /// of the symbols the direct map does not hold.
    pub(crate) fn position_in_index(&self, symbol: u32) -> Option<usize> {
        self.shape.view().position_in_index(symbol)
    }

    /// The `i`-th attribute's value as bytes when it is a string.
    #[inline]
    pub(crate) fn str_bytes_at(&self, i: usize) -> Option<&[u8]> {
        self.str_span_at(i).map(|(b, _)| b)
    }

    /// The `i`-th attribute's value as bytes when it is a string, and its
    /// range of the text.
    #[inline(always)]
    fn str_span_at(&self, i: usize) -> Option<(&[u8], Span32)> {
        let range = self.str_range(self.value_at_position(i)?)?;
        Some((self.text.as_bytes().get(range.range())?, range))
    }

    /// The `i`-th attribute's value when it is a string, with the eight
    /// bytes of the text from its start as one little-endian word (past the
    /// string's end they are whatever follows it: another string or the
    /// padding); `None` for the word only in the default context, whose
    /// text is empty.
    #[inline(always)]
    pub(crate) fn str_window_at(&self, i: usize) -> Option<(&[u8], Option<u64>)> {
        let (b, range) = self.str_span_at(i)?;
        Some((b, self.text_word(range.start as usize)))
    }

    /// The `i`-th attribute's value when it is a string, with the eight
    /// bytes of the text that end where it ends as one little-endian word
    /// (before the string's start they are whatever precedes it: another
    /// string or the padding); `None` for the word as for
    /// [`Context::str_window_at`].
    #[inline(always)]
    pub(crate) fn str_end_window_at(&self, i: usize) -> Option<(&[u8], Option<u64>)> {
        let (b, range) = self.str_span_at(i)?;
        Some((b, self.text_word_to(range.end as usize)))
    }

    /// [`Context::str_window_at`] and [`Context::str_end_window_at`] in one.
    #[inline(always)]
    pub(crate) fn str_windows_at(&self, i: usize) -> Option<StrWindows<'_>> {
        let (b, range) = self.str_span_at(i)?;
        let head = self.text_word(range.start as usize);
        let end = self.text_word_to(range.end as usize);
        Some((b, head.zip(end)))
    }

    /// The eight bytes of the text that end at `end` as one little-endian
    /// word (byte `end - 1` the top one); `None` only when the text has
    /// fewer than eight bytes before `end`, which the [`PAD`] before the
    /// strings rules out for a string's end (but the default context).
    #[inline(always)]
    fn text_word_to(&self, end: usize) -> Option<u64> {
        self.text_word(end.checked_sub(8)?)
    }

    /// The eight bytes of the text at `at` as one little-endian word;
    /// `None` only when the text has fewer than eight bytes there, which
    /// the [`PAD`] after the strings rules out for a string's start (but
    /// in the default context, whose text is empty).
    #[inline(always)]
    fn text_word(&self, at: usize) -> Option<u64> {
        self.text.as_bytes().get(at..at + 8).map(|w| {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            u64::from_le_bytes(word)
        })
    }

    /// The `i`-th attribute's value when it is a string.
    #[inline]
    pub(crate) fn str_at(&self, i: usize) -> Option<&str> {
        let range = self.str_range(self.value_at_position(i)?)?;
        self.text.get(range.range())
    }

    /// The `i`-th attribute's value when it is a boolean.
    #[inline]
    pub(crate) fn bool_at(&self, i: usize) -> Option<bool> {
        word::boolean(self.value_at_position(i)?)
    }

    /// Whether the `i`-th attribute is an array with a string element for
    /// which `hit` holds (`None` when it is not an array).
    #[inline(always)]
    pub(crate) fn any_str_element_at(
        &self,
        i: usize,
        mut hit: impl FnMut(&[u8]) -> bool,
    ) -> Option<bool> {
        let range = self.list_range(self.value_at_position(i)?)?;
        let n = self.len as usize;
        let elements = self
            .words
            .get(n + range.start as usize..n + range.end as usize)
            .unwrap_or(&[]);
        let text = self.text.as_bytes();
        Some(elements.iter().any(|&w| match self.str_range(w) {
            Some(s) => text.get(s.range()).is_some_and(&mut hit),
            None => false,
        }))
    }

    /// The `i`-th attribute's value when it is a number.
    #[inline]
    pub(crate) fn num_at(&self, i: usize) -> Option<f64> {
        word::number(self.value_at_position(i)?)
    }

    /// The value of the `i`-th attribute (in the order of [`Context::name_at`]).
    #[inline]
    pub fn attr_at(&self, i: usize) -> Attr<'_> {
        match self.value(i).map(|w| self.decode(w)) {
            Some(Slot::Str(s)) => Attr::Str(span(&self.text, s)),
            Some(Slot::Num(n)) => Attr::Num(n),
            Some(Slot::Bool(b)) => Attr::Bool(b),
            Some(Slot::List(r)) => Attr::List(Elements {
                context: self,
                start: r.start.min(self.elements),
                end: r.end.min(self.elements),
            }),
            Some(Slot::Object | Slot::Other) | None => Attr::Object,
        }
    }

    /// The position of attribute `name`, found by text (a binary search of
    /// the names): for lookups by name, and names the symbol table had no
    /// room for.
    pub(crate) fn position_by_name(&self, name: &[u8]) -> Option<usize> {
        let shape = self.shape.view();
        if !shape.keeps_names() {
            // Every name here has a symbol, so a name without one is not
            // here; finding it gives it none.
            let symbol = symbols::find(std::str::from_utf8(name).ok()?)?;
            return shape.position(symbol);
        }
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match name_order_bytes(shape.name(mid).as_bytes(), name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries((0..self.len()).map(|i| (self.name_at(i), self.attr_at(i))))
            .finish()
    }
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
    use super::draft::json_sizes;
    use super::*;
    use serde_json::json;

    #[test]
    fn a_json_context_is_packed_at_its_final_size() {
        let value = json!({
            "key": "user-1", "plan": "pro", "age": 42, "beta": true, "gone": null,
            "tags": ["a", "bb", 3, {"x": 1}], "scores": [1, 2], "org": {"id": "o"},
        });
        let object = value.as_object().expect("an object");
        let c = Context::from_json(&value).expect("valid");
        // Names and strings ("gone" is null and skipped; the object's
        // inner string is not text of the context).
        assert_eq!(json_sizes(object), (c.text_len(), c.elements as usize));
        assert_eq!((c.text_len(), c.elements), (27 + 12, 6));
        // The context's text is the strings a check reads; the names are
        // its shape's.
        assert_eq!(c.text.get(PAD..c.text.len() - PAD), Some("user-1proabb"));
        assert_eq!(
            (&c.text[..PAD], &c.text[c.text.len() - PAD..]),
            (ZEROS, ZEROS)
        );
        assert_eq!(c.shape.view().names_len(), 27);
        // Words: 7 attributes' and 6 elements' values; no side table.
        assert_eq!(c.words.len(), 7 + 6);
    }

    /// Checks every string attribute's windows against `c`'s text: the
    /// eight bytes from the string's start and the eight up to its end.
    /// Returns how many strings it saw.
    fn check_windows(c: &Context) -> usize {
        let text = c.text.as_bytes();
        let word = |w: &[u8]| u64::from_le_bytes(w.try_into().expect("eight bytes"));
        let mut strings = 0;
        for i in 0..c.len() {
            let (Some((b, head)), Some((b2, tail))) = (c.str_window_at(i), c.str_end_window_at(i))
            else {
                assert!(c.str_bytes_at(i).is_none(), "only strings have windows");
                continue;
            };
            strings += 1;
            assert_eq!(Some(b), c.str_bytes_at(i));
            assert_eq!(c.str_windows_at(i), Some((b, head.zip(tail))));
            assert_eq!(b, b2);
            // Where `b` lies in the text (its bytes are a slice of it):
            // between the paddings, so both windows lie in the text.
            let start = b.as_ptr() as usize - text.as_ptr() as usize;
            let end = start + b.len();
            assert!(
                start >= PAD && end + PAD <= text.len(),
                "{b:?} between the paddings"
            );
            assert_eq!(head, Some(word(&text[start..start + 8])), "head of {b:?}");
            assert_eq!(tail, Some(word(&text[end - 8..end])), "tail of {b:?}");
        }
        strings
    }

    #[test]
    fn string_windows_are_the_texts_eight_bytes_at_each_end() {
        let value = json!({
            "key": "user-1", "a": "xy", "b": "a-longer-value", "c": "", "n": 3,
        });
        let mut c = Context::from_json(&value).expect("valid");
        assert_eq!(check_windows(&c), 4);
        // A text of two bytes has its windows too: the padding's zeros.
        let tiny = Context::from_json(&json!({"a": "xy"})).expect("valid");
        assert_eq!(check_windows(&tiny), 1);
        let xy = u64::from(b'x') | u64::from(b'y') << 8;
        assert_eq!(tiny.str_window_at(0), Some((&b"xy"[..], Some(xy))));
        assert_eq!(
            tiny.str_end_window_at(0),
            Some((&b"xy"[..], Some(xy << 48)))
        );
        // Edits keep the padding: a string replaced in place, one that
        // grows (the context is unpacked and packed again), a new one.
        c.set_string("a", "zw").expect("set");
        c.set_string("b", "an-even-longer-value-than-before")
            .expect("set");
        c.set_string("d", "new").expect("set");
        assert_eq!(check_windows(&c), 5);
        let d = (0..c.len())
            .find(|&i| c.name_at(i) == "d")
            .expect("d is set");
        assert_eq!(c.str_bytes_at(d), Some(&b"new"[..]));
        // The default context's text is empty (no padding): it has no
        // attribute to read a window of.
        let empty = Context::default();
        assert_eq!((empty.len(), empty.text.len(), empty.text_len()), (0, 0, 0));
    }

    #[test]
    fn texts_at_the_edge_of_inline_ranges_read_back() {
        // The padding counts against the 24-bit inline ranges: texts whose
        // strings end just below, at and past the largest inline offset
        // once padded are packed inline or wide, and read back either way.
        let field = word::FIELD as usize;
        // `z` starts past the largest inline start from `long = field - 7`
        // on, while the unpadded text still fits (up to `field - 3`).
        for long in [field - 2 * PAD, field - 7, field - 5, field - 3, field - 2] {
            let big = "b".repeat(long);
            let mut c = Context::from_json(&json!({"a": big, "z": "end"})).expect("valid");
            let (a, z) = (c.position_by_name(b"a"), c.position_by_name(b"z"));
            let (a, z) = (a.expect("a"), z.expect("z"));
            assert_eq!(c.str_bytes_at(a).map(<[u8]>::len), Some(long), "{long}");
            assert_eq!(c.str_bytes_at(z), Some(&b"end"[..]), "{long}");
            assert_eq!(c.text_len(), long + 3 + 2, "{long}");
            // A replacement that grows the text by a byte, in place or not.
            c.set_string("z", "ends").expect("set");
            assert_eq!(c.str_bytes_at(z), Some(&b"ends"[..]), "{long}");
            assert_eq!(c.str_bytes_at(a).map(<[u8]>::len), Some(long), "{long}");
        }
    }

    #[test]
    fn warming_reads_any_size_of_context() {
        // No attributes, a few, and buffers longer than the three-load span.
        let long = "v".repeat(3 * WARM_SPAN);
        let many: serde_json::Map<String, serde_json::Value> =
            (0..40).map(|i| (format!("a{i}"), json!(i))).collect();
        for value in [
            json!({}),
            json!({"key": "k"}),
            json!({"s": long}),
            json!(many),
        ] {
            let c = Context::from_json(&value).expect("valid");
            c.warm();
            assert_eq!(Context::from_json(&value).expect("valid"), c);
        }
    }

    #[test]
    fn contexts_with_the_same_names_share_their_shape() {
        let a = Context::builder("a").string("plan", "pro").number("n", 1.0);
        let b = Context::builder("b")
            .number("n", 2.0)
            .string("plan", "free");
        let (a, b) = (a.build().expect("valid"), b.build().expect("valid"));
        match (&a.shape, &b.shape) {
            (ShapeRef::Shared(x), ShapeRef::Shared(y)) => assert!(std::ptr::eq(*x, *y)),
            _ => panic!("a small shape is the process's"),
        }
        // Each keeps its own values; another name set has another shape.
        assert_eq!(
            (a.get("plan"), b.get("plan")),
            (Some(Attr::Str("pro")), Some(Attr::Str("free")))
        );
        let c = Context::builder("c")
            .string("plan", "pro")
            .build()
            .expect("valid");
        assert!(c.shape != a.shape);
        // Editing a context moves it to the shape of its new names.
        let mut d = c.clone();
        d.set_number("n", 1.0).expect("set");
        assert!(d.shape == a.shape);
        assert_eq!(d.get("n"), Some(Attr::Num(1.0)));
    }

    #[test]
    fn the_packed_form_is_canonical() {
        // Built in different orders, lists before and after: equal.
        let a = Context::builder("k")
            .strings("zz", ["x"])
            .string("plan", "pro")
            .strings("aa", ["p", "q"])
            .build()
            .expect("valid");
        let mut b =
            Context::from_json(&json!({"aa": ["p", "q"], "plan": "pro", "zz": ["x"], "key": "k"}))
                .expect("valid");
        assert_eq!(a, b);
        b.set_string("plan", "team").expect("set");
        assert_ne!(a, b);
        b.set_string("plan", "pro").expect("set");
        assert_eq!(a, b);
        assert_eq!(
            format!("{a:?}"),
            r#"{"aa": List([Str("p"), Str("q")]), "zz": List([Str("x")]), "key": Str("k"), "plan": Str("pro")}"#
        );
    }

    #[test]
    fn the_thread_scratch_carries_nothing_over() {
        // A builder dropped half-way, a JSON object refused half-way and an
        // edit refused half-way each leave their attributes in the thread's
        // spare draft; the next context must not see them.
        drop(
            Context::builder("a")
                .string("left", "over")
                .number("n", 1.0),
        );
        let b = Context::builder("b").build().expect("valid");
        assert_eq!((b.len(), b.get("left")), (1, None));
        let refused = Context::from_json(&json!({"aa": "x", "bb": [1, 2], "key": 5}));
        assert_eq!(refused, Err(ContextError::KeyNotString));
        let c = Context::from_json(&json!({"key": "c"})).expect("valid");
        assert_eq!((c.len(), c.get("aa"), c.get("bb")), (1, None, None));
        let mut d = c.clone();
        assert_eq!(d.set("key", json!(7)), Err(ContextError::KeyNotString));
        assert_eq!(d, c, "a refused edit leaves the context as it was");
        let e = Context::builder("e")
            .strings("tags", ["t"])
            .build()
            .expect("valid");
        let Some(Attr::List(tags)) = e.get("tags") else {
            panic!("an array")
        };
        assert_eq!(tags.iter().collect::<Vec<_>>(), vec![Element::Str("t")]);
        assert_eq!((e.len(), e.text_len()), (2, "etkeytags".len()));
    }

    #[test]
    fn a_context_past_inline_ranges_keeps_them_in_its_side_table() {
        // 17 MiB of text: no range is inline, every one is in the side table.
        let big = "x".repeat(17 << 20);
        let mut c = Context::builder("k")
            .string("big", &big)
            .string("plan", "pro")
            .strings("tags", ["a", "bb"])
            .number("n", 2.0)
            .build()
            .expect("valid");
        assert_eq!(
            c.words.len() - (c.len + c.elements) as usize,
            6,
            "key, big, plan, the list tags and its two strings"
        );
        assert_eq!(c.get("big"), Some(Attr::Str(big.as_str())));
        assert_eq!(c.get("plan"), Some(Attr::Str("pro")));
        assert_eq!(c.key(), Some("k"));
        let at = c.position_by_name(b"tags").expect("tags");
        assert_eq!(c.any_str_element_at(at, |b| b == b"bb"), Some(true));
        assert_eq!(c.get("n"), Some(Attr::Num(2.0)));
        // Back under the limit, the ranges are inline again.
        c.remove("big");
        assert_eq!(c.words.len(), (c.len + c.elements) as usize);
        assert_eq!(c.get("plan"), Some(Attr::Str("pro")));
        let at = c.position_by_name(b"plan").expect("plan");
        assert_eq!(c.str_bytes_at(at), Some(&b"pro"[..]));
    }

    #[test]
    fn a_scalar_over_a_scalar_is_replaced_in_place() {
        let built = |age: f64, beta: bool| {
            Context::builder("k")
                .string("plan", "pro")
                .number("age", age)
                .bool("beta", beta)
                .json("org", &json!({"id": 1}))
                .build()
                .expect("valid")
        };
        let mut c = built(1.0, false);
        let text = c.text.as_ptr();
        c.set_number("age", 42.0).expect("set");
        c.set("beta", json!(true)).expect("set");
        assert_eq!(c, built(42.0, true));
        assert_eq!(c.text.as_ptr(), text, "nothing was repacked");
        // Over a string, or a new name: repacked, and still right.
        c.set_number("plan", 3.0).expect("set");
        c.set_bool("new", true).expect("set");
        assert_eq!(
            (c.get("plan"), c.get("new")),
            (Some(Attr::Num(3.0)), Some(Attr::Bool(true)))
        );
        c.set("org", json!(false)).expect("set");
        assert_eq!(c.get("org"), Some(Attr::Bool(false)));
        assert_eq!(c.set_number("key", 1.0), Err(ContextError::KeyNotString));
        assert_eq!(c.key(), Some("k"));
    }

    #[test]
    fn a_string_over_a_string_is_replaced_in_place_as_a_repack_would_lay_it_out() {
        // Empty strings and lists on both sides of each attribute edited, the
        // key among them: after every edit the context equals one made
        // from scratch (the layout is canonical, so equal means laid out
        // the same).
        let mut expected = json!({
            "key": "user-1", "a": "", "bb": ["x", "", "yy"], "cc": "mid", "dd": "",
            "ee": ["z"], "ff": "last", "n": 5,
        });
        let mut c = Context::from_json(&expected).expect("valid");
        let edits = [
            ("cc", "a much longer value"),
            ("a", "A"),
            ("dd", ""),
            ("ff", ""),
            ("key", "k"),
            ("cc", ""),
            ("a", ""),
            ("dd", "now set"),
            ("key", "user-22"),
        ];
        for (name, value) in edits {
            c.set_string(name, value).expect("set");
            expected[name] = json!(value);
            let fresh = Context::from_json(&expected).expect("valid");
            assert_eq!(c, fresh, "after {name} = {value:?}");
            assert_eq!(c.key(), fresh.key());
        }
        let Some(Attr::List(bb)) = c.get("bb") else {
            panic!("an array")
        };
        assert_eq!(
            bb.iter().collect::<Vec<_>>(),
            vec![Element::Str("x"), Element::Str(""), Element::Str("yy")]
        );
        // Over something else than a string: repacked, and still right.
        c.set_string("n", "five").expect("set");
        c.set_string("ee", "flat").expect("set");
        assert_eq!(
            (c.get("n"), c.get("ee")),
            (Some(Attr::Str("five")), Some(Attr::Str("flat")))
        );
    }

    #[test]
    fn far_symbols_and_many_attributes_are_found() {
        // More than a byte of positions: the later ones are in the index.
        let mut b = Context::builder("k");
        for i in 0..300 {
            b = b.number(&format!("many_{i:03}"), f64::from(i));
        }
        let c = b.build().expect("valid");
        assert_eq!(c.len(), 301);
        assert!(
            (0..300).any(
                |i| c.direct_entry(symbols::intern(&format!("many_{i:03}"))) == symbol_map::FAR
            ),
            "some symbols are far"
        );
        for i in 0..300 {
            let name = format!("many_{i:03}");
            let at = c.position_of_symbol(symbols::intern(&name));
            assert_eq!(
                at.map(|at| c.attr_at(at)),
                Some(Attr::Num(f64::from(i))),
                "{name}"
            );
            assert_eq!(c.get(&name), Some(Attr::Num(f64::from(i))));
        }
        // Thawed and packed again, nothing moves.
        let mut d = c.clone();
        d.set_number("many_000", 0.0).expect("set");
        assert_eq!(c, d);
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
    fn a_builder_that_replaces_and_removes_makes_the_context_json_makes() {
        // Replacements and removals in any order, of every kind of value,
        // leave what the final JSON object says, byte for byte.
        let built = Context::builder("u-2")
            .strings("zz_tags", ["x", "yy", "zzz"])
            .string("a", "first")
            .numbers("mid", [1.0, 2.0])
            .json("gone", &json!("soon"))
            .string("zz_tags", "now a string")
            .strings("a", ["a1", "a2"])
            .json("gone", &serde_json::Value::Null)
            .json("never", &serde_json::Value::Null)
            .bool("mid", false)
            .string("b", "second")
            .build()
            .expect("valid");
        let parsed = Context::from_json(&json!({
            "key": "u-2", "a": ["a1", "a2"], "b": "second", "mid": false,
            "zz_tags": "now a string"
        }))
        .expect("valid");
        assert_eq!(built, parsed);
        assert_eq!(
            built.text_len(),
            parsed.text_len(),
            "nothing left of the replaced values"
        );
        assert_eq!(built.get("gone"), None);
        assert_eq!(built.get("zz_tags"), Some(Attr::Str("now a string")));
    }

    #[test]
    fn an_attribute_as_json_is_the_json_it_came_from() {
        let value = json!({
            "key": "k", "s": "x", "n": 2.5, "b": true,
            "l": ["a", 1, null, true], "o": {"inner": 1}
        });
        let c = Context::from_json(&value).expect("valid");
        let back: serde_json::Map<_, _> = (0..c.len())
            .map(|i| (c.name_at(i).to_string(), c.attr_at(i).to_json()))
            .collect();
        assert_eq!(
            serde_json::Value::Object(back),
            json!({
                "key": "k", "s": "x", "n": 2.5, "b": true,
                "l": ["a", 1.0, null, null], "o": {}
            }),
            "elements that match nothing and objects come back as null and {{}}"
        );
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
    fn a_context_whose_names_have_symbols_finds_them_by_name() {
        let c = Context::builder("k")
            .string("ctx_t_lean_plan", "pro")
            .number("ctx_t_lean_age", 42.0)
            .build()
            .expect("small");
        assert!(!c.shape().keeps_names());
        assert_eq!(c.get("ctx_t_lean_plan"), Some(Attr::Str("pro")));
        assert_eq!(c.get("ctx_t_lean_age"), Some(Attr::Num(42.0)));
        assert_eq!(c.get("key"), Some(Attr::Str("k")));
        let names: Vec<&str> = (0..c.len()).map(|i| c.name_at(i)).collect();
        assert_eq!(names, ["key", "ctx_t_lean_age", "ctx_t_lean_plan"]);
        // A name no one has interned is not here, and asking does not
        // intern it.
        assert_eq!(c.get("ctx_t_lean_never"), None);
        assert_eq!(symbols::find("ctx_t_lean_never"), None);
        // Names and strings: 3 + 14 + 15, and "pro" and "k".
        assert_eq!(c.text_len(), 3 + 14 + 15 + 3 + 1);
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
        assert!(c.elements <= 2);
        assert!(c.text.len() < 256 && c.words.len() < 64);
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
