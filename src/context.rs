//! Evaluation contexts: the attributes of one user, device or request.
//!
//! A [`Context`] is built once from a JSON object (SPEC §6 "Contexts") and
//! then evaluated against any number of flags. Construction validates the
//! object, drops `null` values (they count as missing) and sorts attributes
//! by name ([`name_order`]) so lookups are a binary search; evaluation only
//! reads it.
//!
//! The context is packed: every name and string value lives in one text
//! buffer, every attribute in one array of small fixed-size entries and every
//! array element in another, so a context is three allocations whatever its
//! size, and binding it to a ruleset walks contiguous memory instead of
//! chasing one pointer per attribute. Readers get borrowed views ([`Attr`],
//! [`Element`]).

use std::fmt;

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
    /// All names and string values, back to back.
    text: String,
    /// Attributes in [`name_order`] of their names.
    entries: Vec<Entry>,
    /// Elements of all array attributes.
    elements: Vec<Slot>,
    /// The key's range of the text.
    key: Option<Span32>,
}

/// Why a JSON value is not a context.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl Context {
    /// Builds a context from a JSON value.
    pub fn from_json(value: &serde_json::Value) -> Result<Context, ContextError> {
        let object = value.as_object().ok_or(ContextError::NotAnObject)?;
        let mut context = Context {
            text: String::new(),
            entries: Vec::with_capacity(object.len()),
            elements: Vec::new(),
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
            let value = context.slot(value)?;
            context.entries.push(Entry { name, value });
        }
        let text = std::mem::take(&mut context.text);
        context
            .entries
            .sort_by(|a, b| name_order(span(&text, a.name), span(&text, b.name)));
        context.text = text;
        context.key = context
            .find("key")
            .and_then(|i| match context.entries[i].value {
                Slot::Str(span) => Some(span),
                _ => None,
            });
        Ok(context)
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
        let _ = context.set("key", serde_json::Value::from(key));
        context
    }

    /// Sets an attribute from a JSON value (replacing any previous value;
    /// `null` removes it). `key` must be a string or `null`.
    pub fn set(&mut self, name: &str, value: serde_json::Value) -> Result<(), ContextError> {
        if name == "key" && !(value.is_string() || value.is_null()) {
            return Err(ContextError::KeyNotString);
        }
        let at = self.find(name);
        if value.is_null() {
            if let Some(i) = at {
                self.entries.remove(i);
            }
        } else {
            let slot = self.slot(&value)?;
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
                }
            }
        }
        if name == "key" {
            self.key = match self.find("key").map(|i| self.entries[i].value) {
                Some(Slot::Str(span)) => Some(span),
                _ => None,
            };
        }
        Ok(())
    }

    /// Sets a number attribute (any `f64`, NaN included).
    pub fn set_number(&mut self, name: &str, n: f64) -> Result<(), ContextError> {
        if name == "key" {
            return Err(ContextError::KeyNotString);
        }
        self.set(name, serde_json::Value::Bool(false))?;
        if let Some(i) = self.find(name) {
            self.entries[i].value = Slot::Num(n);
        }
        Ok(())
    }

    /// The context key, if any.
    pub fn key(&self) -> Option<&str> {
        self.key.map(|s| self.text(s))
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

    /// The name of the `i`-th attribute in [`name_order`] (empty past the end).
    #[inline]
    pub fn name_at(&self, i: usize) -> &str {
        self.entries.get(i).map_or("", |e| self.text(e.name))
    }

    /// The name of the `i`-th attribute as bytes (what binding compares).
    #[inline]
    pub fn name_bytes_at(&self, i: usize) -> &[u8] {
        self.entries.get(i).map_or(&[], |e| {
            self.text
                .as_bytes()
                .get(e.name.start as usize..e.name.end as usize)
                .unwrap_or(&[])
        })
    }

    /// The value of the `i`-th attribute in [`name_order`].
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

    #[inline]
    fn text(&self, s: Span32) -> &str {
        span(&self.text, s)
    }

    fn push_text(&mut self, s: &str) -> Result<Span32, ContextError> {
        let start = u32::try_from(self.text.len()).map_err(|_| ContextError::TooLarge)?;
        self.text.push_str(s);
        let end = u32::try_from(self.text.len()).map_err(|_| ContextError::TooLarge)?;
        Ok(Span32 { start, end })
    }

    fn slot(&mut self, value: &serde_json::Value) -> Result<Slot, ContextError> {
        Ok(match value {
            serde_json::Value::String(s) => Slot::Str(self.push_text(s)?),
            serde_json::Value::Number(n) => Slot::Num(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::Bool(b) => Slot::Bool(*b),
            serde_json::Value::Array(items) => {
                let mut elements = Vec::with_capacity(items.len());
                for item in items {
                    elements.push(match item {
                        serde_json::Value::String(s) => Slot::Str(self.push_text(s)?),
                        serde_json::Value::Number(n) => n.as_f64().map_or(Slot::Other, Slot::Num),
                        _ => Slot::Other,
                    });
                }
                let start =
                    u32::try_from(self.elements.len()).map_err(|_| ContextError::TooLarge)?;
                self.elements.extend(elements);
                let end = u32::try_from(self.elements.len()).map_err(|_| ContextError::TooLarge)?;
                Slot::List(Span32 { start, end })
            }
            serde_json::Value::Object(_) => Slot::Object,
            serde_json::Value::Null => Slot::Other,
        })
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

#[inline]
fn span(text: &str, s: Span32) -> &str {
    text.get(s.start as usize..s.end as usize).unwrap_or("")
}

/// The order attribute names are kept in, by a context and by a ruleset:
/// shorter names first, then bytewise. Binding a context to a ruleset is a
/// merge-join of two lists in this order, and most names differ in length, so
/// most steps of it compare two integers instead of calling `memcmp`.
#[inline]
pub fn name_order(a: &str, b: &str) -> std::cmp::Ordering {
    name_order_bytes(a.as_bytes(), b.as_bytes())
}

/// [`name_order`] over bytes.
#[inline]
pub fn name_order_bytes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
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
}
