//! The answer to "what does flag X serve this context, and why?".
//!
//! Both evaluators — the reference interpreter and the compiled evaluator —
//! return a [`Detail`], so they can be compared field by field. A `Detail`
//! borrows the variation's name and value from whatever was evaluated, which
//! is what lets an evaluation finish without allocating.

use std::fmt;

/// Why a value was served (OpenFeature's resolution reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// An individual target or a rule naming one variation matched.
    TargetingMatch,
    /// A percentage split (in a rule or the rollout) chose the variation.
    Split,
    /// Nothing matched; the flag's default was served.
    Default,
    /// The flag is disabled; its `when_disabled` variation was served.
    Disabled,
    /// The flag could not be evaluated; the caller's default was served.
    Error,
}

impl Reason {
    /// The reason as the wire and the CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TargetingMatch => "TARGETING_MATCH",
            Reason::Split => "SPLIT",
            Reason::Default => "DEFAULT",
            Reason::Disabled => "DISABLED",
            Reason::Error => "ERROR",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// OpenFeature error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No flag with that key.
    FlagNotFound,
    /// The served value is not of the type the caller asked for.
    TypeMismatch,
    /// No rules are loaded yet (the SDK has no state).
    ProviderNotReady,
}

impl ErrorCode {
    /// The code as OpenFeature spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorCode::TypeMismatch => "TYPE_MISMATCH",
            ErrorCode::ProviderNotReady => "PROVIDER_NOT_READY",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which part of a flag decided the answer (the `rule` field of SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Matched<'a> {
    /// An individual `target` list.
    Target,
    /// A rule: its 0-based position among the flag's rules and its name.
    Rule {
        /// Position among all rules of the flag.
        index: u32,
        /// The rule's name, if written.
        name: Option<&'a str>,
    },
    /// The `rollout`.
    Rollout,
}

impl fmt::Display for Matched<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matched::Target => f.write_str("target"),
            Matched::Rule {
                name: Some(name), ..
            } => f.write_str(name),
            Matched::Rule { index, name: None } => write!(f, "rule#{index}"),
            Matched::Rollout => f.write_str("rollout"),
        }
    }
}

/// The full result of evaluating one flag for one context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detail<'a> {
    /// The served value; `None` on error (the caller's default applies).
    pub value: Option<&'a serde_json::Value>,
    /// The served variation's name; `None` on error.
    pub variation: Option<&'a str>,
    /// Why.
    pub reason: Reason,
    /// Which target, rule or rollout decided, if one did.
    pub matched: Option<Matched<'a>>,
    /// What went wrong, with [`Reason::Error`].
    pub error: Option<ErrorCode>,
}

impl<'a> Detail<'a> {
    /// The answer for a flag key that does not exist.
    pub fn not_found() -> Detail<'a> {
        Detail {
            value: None,
            variation: None,
            reason: Reason::Error,
            matched: None,
            error: Some(ErrorCode::FlagNotFound),
        }
    }

    /// Writes the SPEC §3 JSON line for flag `key` (without a newline):
    /// `{"flag","value","variation","reason","rule","error"}` in that order,
    /// absent fields left out. Written straight into `out`: no map is built
    /// and the value is not cloned.
    pub fn write_json_line(&self, key: &str, out: &mut String) {
        use fmt::Write;
        out.push_str("{\"flag\":");
        json_string(key, out);
        out.push_str(",\"value\":");
        match self.value {
            // `Value`'s Display is its compact JSON text.
            Some(v) => {
                let _ = write!(out, "{v}");
            }
            None => out.push_str("null"),
        }
        if let Some(v) = self.variation {
            out.push_str(",\"variation\":");
            json_string(v, out);
        }
        out.push_str(",\"reason\":\"");
        out.push_str(self.reason.as_str());
        out.push('"');
        match self.matched {
            Some(Matched::Rule {
                name: Some(name), ..
            }) => {
                out.push_str(",\"rule\":");
                json_string(name, out);
            }
            // `target`, `rollout` and `rule#N` need no escaping.
            Some(m) => {
                let _ = write!(out, ",\"rule\":\"{m}\"");
            }
            None => {}
        }
        if let Some(e) = self.error {
            out.push_str(",\"error\":\"");
            out.push_str(e.as_str());
            out.push('"');
        }
        out.push('}');
    }
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it.
fn json_string(s: &str, out: &mut String) {
    use fmt::Write;
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        plain = i + 1;
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_shapes() {
        let mut line = String::new();
        Detail::not_found().write_json_line("nope", &mut line);
        assert_eq!(
            line,
            r#"{"flag":"nope","value":null,"reason":"ERROR","error":"FLAG_NOT_FOUND"}"#
        );
        let value = serde_json::json!(true);
        let d = Detail {
            value: Some(&value),
            variation: Some("on"),
            reason: Reason::TargetingMatch,
            matched: Some(Matched::Rule {
                index: 3,
                name: None,
            }),
            error: None,
        };
        line.clear();
        d.write_json_line("f", &mut line);
        assert_eq!(
            line,
            r#"{"flag":"f","value":true,"variation":"on","reason":"TARGETING_MATCH","rule":"rule#3"}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let awkward = "q\"b\\n\nr\rt\tb\u{8}f\u{c}z\u{0}\u{1f}\u{7f}é\u{1F600}/";
        let mut line = String::new();
        json_string(awkward, &mut line);
        assert_eq!(line, serde_json::Value::from(awkward).to_string());
        let value = serde_json::json!({"a": [1, 2.5, "x\"y"], "b": null});
        let d = Detail {
            value: Some(&value),
            variation: Some(awkward),
            reason: Reason::Split,
            matched: Some(Matched::Rule {
                index: 0,
                name: Some(awkward),
            }),
            error: None,
        };
        line.clear();
        d.write_json_line(awkward, &mut line);
        let parsed: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(parsed["flag"], awkward);
        assert_eq!(parsed["variation"], awkward);
        assert_eq!(parsed["rule"], awkward);
        assert_eq!(parsed["value"], value);
        assert_eq!(parsed["reason"], "SPLIT");
        let keys: Vec<&str> = parsed
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys, ["flag", "value", "variation", "reason", "rule"]);
    }
}
