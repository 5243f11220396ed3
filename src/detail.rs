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
            Matched::Rule { name: Some(name), .. } => f.write_str(name),
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

    /// Writes the SPEC §3 JSON line for flag `key` (without a newline).
    pub fn write_json_line(&self, key: &str, out: &mut String) {
        use fmt::Write;
        let mut obj = serde_json::Map::new();
        obj.insert("flag".into(), key.into());
        obj.insert("value".into(), self.value.cloned().unwrap_or(serde_json::Value::Null));
        if let Some(v) = self.variation {
            obj.insert("variation".into(), v.into());
        }
        obj.insert("reason".into(), self.reason.as_str().into());
        if let Some(m) = self.matched {
            obj.insert("rule".into(), m.to_string().into());
        }
        if let Some(e) = self.error {
            obj.insert("error".into(), e.as_str().into());
        }
        let _ = write!(out, "{}", serde_json::Value::Object(obj));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_shapes() {
        let mut line = String::new();
        Detail::not_found().write_json_line("nope", &mut line);
        assert_eq!(line, r#"{"flag":"nope","value":null,"reason":"ERROR","error":"FLAG_NOT_FOUND"}"#);
        let value = serde_json::json!(true);
        let d = Detail {
            value: Some(&value),
            variation: Some("on"),
            reason: Reason::TargetingMatch,
            matched: Some(Matched::Rule { index: 3, name: None }),
            error: None,
        };
        line.clear();
        d.write_json_line("f", &mut line);
        assert_eq!(line, r#"{"flag":"f","value":true,"variation":"on","reason":"TARGETING_MATCH","rule":"rule#3"}"#);
    }
}
