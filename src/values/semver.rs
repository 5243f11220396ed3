//! Semantic versions as SPEC §6 reads them.
//!
//! `MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]`, optional leading `v`/`V`, missing
//! parts are 0, no leading zeros, four parts invalid; build metadata is
//! ignored when comparing; pre-release precedence per semver.org.
//! Parsing borrows the pre-release text, so comparing an attribute against a
//! literal never allocates.

use std::cmp::Ordering;

/// A parsed version that borrows its pre-release text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRef<'a> {
    /// Major part.
    pub major: u64,
    /// Minor part (0 when absent).
    pub minor: u64,
    /// Patch part (0 when absent).
    pub patch: u64,
    /// Pre-release identifiers joined by `.`, empty when none.
    pub pre: &'a str,
}

/// An owned version, as a literal holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    /// Major part.
    pub major: u64,
    /// Minor part.
    pub minor: u64,
    /// Patch part.
    pub patch: u64,
    /// Pre-release text, empty when none.
    pub pre: String,
}

impl Version {
    /// Parses an owned version.
    pub fn parse(text: &str) -> Option<Version> {
        parse(text).map(|v| v.to_owned_version())
    }

    /// Borrows this version for comparison.
    pub fn as_ref(&self) -> VersionRef<'_> {
        VersionRef {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
            pre: &self.pre,
        }
    }
}

impl VersionRef<'_> {
    /// Copies the borrowed parts.
    pub fn to_owned_version(&self) -> Version {
        Version {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
            pre: self.pre.to_string(),
        }
    }

    /// Semver precedence (build metadata already dropped by [`parse`]).
    pub fn precedence(&self, other: &VersionRef<'_>) -> Ordering {
        let _ = other;
        todo!("semver precedence")
    }
}

/// Parses a version; `None` when the text is not one.
pub fn parse(text: &str) -> Option<VersionRef<'_>> {
    let _ = text;
    todo!("semver parse")
}
