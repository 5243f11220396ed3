//! Evaluation contexts: the attributes of one user, device or request.
//!
//! A [`Context`] is built once from a JSON object (SPEC §6 "Contexts") and
//! then evaluated against any number of flags. Construction validates the
//! object, drops `null` values (they count as missing) and sorts attributes
//! by name ([`name_order`]) so lookups are a binary search; evaluation only reads it.

use std::fmt;

/// An attribute value, as the operators see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// A string.
    Str(String),
    /// A number (compared as f64).
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// An array; elements that are not strings or numbers match nothing.
    List(Vec<Element>),
    /// An object: present (`exists` holds) but matches no operator.
    Object,
}

/// One element of an array attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    /// A string element.
    Str(String),
    /// A number element.
    Num(f64),
    /// Anything else (booleans, objects, nested arrays, null): matches nothing.
    Other,
}

/// A validated context.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Context {
    key: Option<String>,
    attrs: Vec<(String, Attr)>,
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
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextError::NotAnObject => write!(f, "a context must be a JSON object"),
            ContextError::KeyNotString => write!(f, "the context's \"key\" must be a string"),
            ContextError::Json(e) => write!(f, "invalid JSON: {e}"),
        }
    }
}

impl std::error::Error for ContextError {}

impl Context {
    /// Builds a context from a JSON value.
    pub fn from_json(value: &serde_json::Value) -> Result<Context, ContextError> {
        let object = value.as_object().ok_or(ContextError::NotAnObject)?;
        let mut attrs = Vec::with_capacity(object.len());
        let mut key = None;
        for (name, value) in object {
            let attr = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => Attr::Str(s.clone()),
                serde_json::Value::Number(n) => Attr::Num(n.as_f64().unwrap_or(f64::NAN)),
                serde_json::Value::Bool(b) => Attr::Bool(*b),
                serde_json::Value::Array(items) => Attr::List(items.iter().map(element).collect()),
                serde_json::Value::Object(_) => Attr::Object,
            };
            if name == "key" {
                match &attr {
                    Attr::Str(s) => key = Some(s.clone()),
                    _ => return Err(ContextError::KeyNotString),
                }
            }
            attrs.push((name.clone(), attr));
        }
        attrs.sort_by(|a, b| name_order(&a.0, &b.0));
        Ok(Context { key, attrs })
    }

    /// Parses JSON text into a context.
    pub fn from_json_str(text: &str) -> Result<Context, ContextError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ContextError::Json(e.to_string()))?;
        Context::from_json(&value)
    }

    /// A context with only a key.
    pub fn with_key(key: &str) -> Context {
        Context {
            key: Some(key.to_string()),
            attrs: vec![("key".to_string(), Attr::Str(key.to_string()))],
        }
    }

    /// Sets an attribute (replacing any previous value); `key` must be a string.
    pub fn set(&mut self, name: &str, attr: Attr) -> Result<(), ContextError> {
        if name == "key" {
            match &attr {
                Attr::Str(s) => self.key = Some(s.clone()),
                _ => return Err(ContextError::KeyNotString),
            }
        }
        match self.attrs.binary_search_by(|(n, _)| name_order(n, name)) {
            Ok(i) => self.attrs[i].1 = attr,
            Err(i) => self.attrs.insert(i, (name.to_string(), attr)),
        }
        Ok(())
    }

    /// The context key, if any.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// An attribute by name; `None` when missing or `null`.
    pub fn get(&self, name: &str) -> Option<&Attr> {
        self.attrs
            .binary_search_by(|(n, _)| name_order(n, name))
            .ok()
            .map(|i| &self.attrs[i].1)
    }

    /// All attributes, in [`name_order`].
    pub fn attrs(&self) -> &[(String, Attr)] {
        &self.attrs
    }
}

/// The order attribute names are kept in, by a context and by a ruleset:
/// shorter names first, then bytewise. Binding a context to a ruleset is a
/// merge-join of two lists in this order, and most names differ in length, so
/// most steps of it compare two integers instead of calling `memcmp`.
#[inline]
pub fn name_order(a: &str, b: &str) -> std::cmp::Ordering {
    match a.len().cmp(&b.len()) {
        // Equal lengths: attribute names are short, and an inlined byte loop
        // beats a call into `memcmp` for them.
        std::cmp::Ordering::Equal => a.bytes().cmp(b.bytes()),
        unequal => unequal,
    }
}

fn element(value: &serde_json::Value) -> Element {
    match value {
        serde_json::Value::String(s) => Element::Str(s.clone()),
        serde_json::Value::Number(n) => n.as_f64().map_or(Element::Other, Element::Num),
        _ => Element::Other,
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
        assert_eq!(c.get("b"), Some(&Attr::Num(1.0)));
    }

    #[test]
    fn arrays_keep_strings_and_numbers() {
        let c = Context::from_json(&json!({"key": "k", "tags": ["a", 2, true, {"x": 1}]}))
            .expect("valid");
        assert_eq!(c.key(), Some("k"));
        assert_eq!(
            c.get("tags"),
            Some(&Attr::List(vec![
                Element::Str("a".into()),
                Element::Num(2.0),
                Element::Other,
                Element::Other
            ]))
        );
    }
}
