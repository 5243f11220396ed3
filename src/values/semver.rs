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
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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

/// Orders by semver precedence. Consistent with `Eq`: two parsed versions
/// have equal precedence exactly when their parts are equal, because build
/// metadata is dropped and numeric identifiers have no leading zeros.
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders by semver precedence (see the `PartialOrd` impl).
impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.as_ref().precedence(&other.as_ref())
    }
}

/// Orders by semver precedence (see [`VersionRef::precedence`]).
impl PartialOrd for VersionRef<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders by semver precedence (see [`VersionRef::precedence`]).
impl Ord for VersionRef<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.precedence(other)
    }
}

impl VersionRef<'_> {
    /// Copies the borrowed parts.
    pub fn to_owned_version(self) -> Version {
        Version {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
            pre: self.pre.to_string(),
        }
    }

    /// Semver precedence (build metadata already dropped by [`parse`]).
    ///
    /// semver.org §11: major, minor, patch numerically; a pre-release version
    /// is lower than the same version without one; pre-release identifiers
    /// compare left to right, numeric ones numerically, alphanumeric ones in
    /// ASCII order, numeric below alphanumeric, and a list that is a prefix
    /// of the other is lower.
    pub fn precedence(&self, other: &VersionRef<'_>) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => pre_release_precedence(self.pre, other.pre),
            })
    }
}

/// Compares two non-empty pre-release texts identifier by identifier.
fn pre_release_precedence(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match identifier_precedence(x, y) {
                Ordering::Equal => continue,
                unequal => return unequal,
            },
        }
    }
}

/// Compares two pre-release identifiers.
fn identifier_precedence(a: &str, b: &str) -> Ordering {
    match (is_numeric(a), is_numeric(b)) {
        // Numeric identifiers have no leading zeros, so the longer one is the
        // larger, and equal lengths compare digit by digit. This works for
        // identifiers of any length, even beyond u64.
        (true, true) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.as_bytes().cmp(b.as_bytes()),
    }
}

fn is_numeric(identifier: &str) -> bool {
    !identifier.is_empty() && identifier.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a version; `None` when the text is not one.
#[inline]
pub fn parse(text: &str) -> Option<VersionRef<'_>> {
    match parse_plain(text) {
        Some(version) => Some(version),
        None => parse_general(text),
    }
}

/// The precedence `text` would have against `lit` if it is a version,
/// read from its number parts and whether it has a pre-release only, as the
/// one-pass form reads them: whenever [`parse`] gives a version, its
/// [`VersionRef::precedence`] against `lit` is this when this is `Some`.
/// `None` when the parts are not in the one-pass form or both have a
/// pre-release (their texts would decide). So a comparison this answers
/// as "does not hold" needs no parse at all: an invalid version does not
/// hold either.
#[inline]
pub fn precedence_if_version(text: &str, lit: &VersionRef<'_>) -> Option<Ordering> {
    let bytes = text.as_bytes();
    let (major, i) = plain_number(bytes, 0)?;
    let order = major.cmp(&lit.major);
    if order != Ordering::Equal {
        return Some(order);
    }
    let (minor, patch, i) = plain_minor_patch(bytes, i)?;
    let order = (minor, patch).cmp(&(lit.minor, lit.patch));
    if order != Ordering::Equal {
        return Some(order);
    }
    let pre = match bytes.get(i) {
        None | Some(b'+') => false,
        Some(b'-') => true,
        Some(_) => return None,
    };
    match (pre, lit.pre.is_empty()) {
        (false, true) => Some(Ordering::Equal),
        (false, false) => Some(Ordering::Greater),
        (true, true) => Some(Ordering::Less),
        (true, false) => None,
    }
}

/// The common case in one pass: `MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]`,
/// no leading `v`, no leading zeros, at most 18 digits a part (so no
/// overflow check).
/// `None` means "not this simple form", not "invalid": [`parse_general`]
/// then decides.
#[inline]
fn parse_plain(text: &str) -> Option<VersionRef<'_>> {
    let bytes = text.as_bytes();
    let (major, i) = plain_number(bytes, 0)?;
    let (minor, patch, i) = plain_minor_patch(bytes, i)?;
    let pre = match bytes.get(i) {
        None => "",
        Some(b'-') => pre_release(text.get(i + 1..)?)?,
        Some(b'+') => {
            build(text.get(i + 1..)?)?;
            ""
        }
        Some(_) => return None,
    };
    Some(VersionRef {
        major,
        minor,
        patch,
        pre,
    })
}

/// The optional `.MINOR[.PATCH]` of the one-pass form after the major
/// part, which ends at `i`: the minor and patch parts (0 when absent) and
/// where they end; `None` when a part after a `.` is not a plain number.
#[inline(always)]
fn plain_minor_patch(bytes: &[u8], mut i: usize) -> Option<(u64, u64, usize)> {
    let (mut minor, mut patch) = (0, 0);
    if bytes.get(i) == Some(&b'.') {
        (minor, i) = plain_number(bytes, i + 1)?;
        if bytes.get(i) == Some(&b'.') {
            (patch, i) = plain_number(bytes, i + 1)?;
        }
    }
    Some((minor, patch, i))
}

/// The digits of `bytes` from `start`: their value and where they end, or
/// `None` when there are none, more than 18 (left to the general parser's
/// overflow check) or a leading zero.
#[inline(always)]
fn plain_number(bytes: &[u8], start: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    let mut i = start;
    while let Some(&b) = bytes.get(i) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        // Wraps only past 19 digits, which are refused below.
        value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        i += 1;
    }
    let digits = i - start;
    let leading_zero = digits > 1 && bytes.get(start) == Some(&b'0');
    (digits > 0 && digits <= 18 && !leading_zero).then_some((value, i))
}

/// The pre-release text of `PRE[+BUILD]` in one pass: dot-separated
/// non-empty identifiers of `[0-9A-Za-z-]`, numeric ones without a leading
/// zero; the build part after `+` is validated and dropped.
fn pre_release(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut len = 0usize;
    let mut numeric = true;
    let mut leading_zero = false;
    let ok = |len: usize, numeric: bool, leading_zero: bool| {
        len > 0 && !(numeric && leading_zero && len > 1)
    };
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                if len == 0 {
                    leading_zero = b == b'0';
                }
                len += 1;
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'-' => {
                numeric = false;
                len += 1;
            }
            b'.' => {
                if !ok(len, numeric, leading_zero) {
                    return None;
                }
                len = 0;
                numeric = true;
                leading_zero = false;
            }
            b'+' => {
                if !ok(len, numeric, leading_zero) {
                    return None;
                }
                build(text.get(i + 1..)?)?;
                return text.get(..i);
            }
            _ => return None,
        }
    }
    ok(len, numeric, leading_zero).then_some(text)
}

/// Validates build metadata: dot-separated non-empty identifiers of `[0-9A-Za-z-]`.
fn build(text: &str) -> Option<()> {
    text.split('.').all(is_identifier).then_some(())
}

/// The general parser: a leading `v`, parts too long for the one-pass form.
fn parse_general(text: &str) -> Option<VersionRef<'_>> {
    let text = text
        .strip_prefix('v')
        .or_else(|| text.strip_prefix('V'))
        .unwrap_or(text);

    // Build metadata: validated, then dropped.
    let (text, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    if let Some(build) = build {
        if !build.split('.').all(is_identifier) {
            return None;
        }
    }

    // Pre-release: everything after the first `-` (it may contain more `-`).
    let (core, pre) = match text.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (text, None),
    };
    let pre = match pre {
        Some(pre) => {
            let valid = pre
                .split('.')
                .all(|id| is_identifier(id) && !(is_numeric(id) && has_leading_zero(id)));
            if !valid {
                return None;
            }
            pre
        }
        None => "",
    };

    // MAJOR[.MINOR[.PATCH]]
    let mut parts = core.split('.');
    let major = numeric_part(parts.next()?)?;
    let minor = match parts.next() {
        Some(part) => numeric_part(part)?,
        None => 0,
    };
    let patch = match parts.next() {
        Some(part) => numeric_part(part)?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }

    Some(VersionRef {
        major,
        minor,
        patch,
        pre,
    })
}

/// A non-empty identifier of `[0-9A-Za-z-]`.
fn is_identifier(identifier: &str) -> bool {
    !identifier.is_empty()
        && identifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn has_leading_zero(digits: &str) -> bool {
    digits.len() > 1 && digits.starts_with('0')
}

/// A MAJOR, MINOR or PATCH part: ASCII digits, no leading zero, fits u64.
fn numeric_part(part: &str) -> Option<u64> {
    if !is_numeric(part) || has_leading_zero(part) {
        return None;
    }
    // Only digits remain, so the sole possible failure is overflow.
    part.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_pass_form_agrees_everywhere_on_a_small_alphabet() {
        // Every text of up to 6 characters over the characters that matter.
        let alphabet = ['0', '1', '.', '-', '+', 'a', 'v'];
        let mut texts = vec![String::new()];
        for _ in 0..6 {
            let longer: Vec<String> = texts
                .iter()
                .filter(|t| t.len() == texts.last().map_or(0, String::len))
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            texts.extend(longer);
        }
        let lits: Vec<VersionRef<'_>> = ["0", "1", "1.0", "10.1.0", "1.1-a", "1.0-0.a", "1-1"]
            .iter()
            .filter_map(|t| parse(t))
            .collect();
        assert_eq!(lits.len(), 7);
        for text in &texts {
            let general = parse_general(text);
            if let Some(p) = parse_plain(text) {
                assert_eq!(Some(p), general, "{text:?}");
            }
            assert_eq!(parse(text), general, "{text:?}");
            // The shortcut's precedence is the parsed version's.
            for lit in &lits {
                if let (Some(v), Some(order)) = (general, precedence_if_version(text, lit)) {
                    assert_eq!(v.precedence(lit), order, "{text:?} against {lit:?}");
                }
            }
        }
        // The one-pass form does take pre-release and build parts.
        for text in ["5.0.0-rc.1", "1.0.0-0.3.7+b.1", "1.2+x"] {
            assert!(parse_plain(text).is_some(), "{text:?}");
        }
    }

    #[test]
    fn the_one_pass_form_agrees_with_the_general_parser() {
        for text in [
            "0",
            "1",
            "1.2",
            "1.2.3",
            "10.20.30",
            "01.2.3",
            "1.02.3",
            "1.2.03",
            "0.0.0",
            "1.",
            "1..2",
            ".1",
            "1.2.3.4",
            "",
            "999999999999999999.1.1",
            "9999999999999999999.1.1",
            "18446744073709551615.0.0",
            "18446744073709551616.0.0",
            "1.2.3-rc.1",
            "v1.2.3",
            "1.2.3+b",
            "5.0.0-rc.1",
            "6.0.0-beta.1+exp.sha.5114f85",
            "1.0.0-alpha-1",
            "1.0.0-0.3.7",
            "1.0.0-01",
            "1.0.0-a.01",
            "1.0.0-0",
            "1.0.0-",
            "1.0.0-a..b",
            "1.0.0-a.",
            "1.0.0-a+",
            "1.0.0+",
            "1.0.0+a..b",
            "1.0.0+a.b",
            "1.0.0-a_b",
            "1.0.0-é",
            "1-x",
            "1.2-x+y",
            "1.0.0-+",
            "1.0.0--",
        ] {
            let plain = parse_plain(text);
            let general = parse_general(text);
            if let Some(p) = plain {
                assert_eq!(Some(p), general, "{text:?}");
            }
            assert_eq!(parse(text), general, "{text:?}");
        }
    }

    fn v(text: &str) -> VersionRef<'_> {
        match parse(text) {
            Some(version) => version,
            None => panic!("{text:?} should parse"),
        }
    }

    fn cmp(a: &str, b: &str) -> Ordering {
        v(a).precedence(&v(b))
    }

    #[test]
    fn parses_full_versions() {
        assert_eq!(
            v("1.2.3-alpha.1+build.5"),
            VersionRef {
                major: 1,
                minor: 2,
                patch: 3,
                pre: "alpha.1"
            }
        );
        assert_eq!(
            v("0.0.0"),
            VersionRef {
                major: 0,
                minor: 0,
                patch: 0,
                pre: ""
            }
        );
        assert_eq!(v("1.0.0-x-y-z.--").pre, "x-y-z.--");
        assert_eq!(v("1.0.0-0.3.7").pre, "0.3.7");
        assert_eq!(v("1.0.0+0017").pre, "");
    }

    #[test]
    fn missing_parts_are_zero() {
        assert_eq!(v("2.3"), v("2.3.0"));
        assert_eq!(v("2"), v("2.0.0"));
        assert_eq!(v("2-rc.1"), v("2.0.0-rc.1"));
        assert_eq!(v("2.3+b"), v("2.3.0"));
    }

    #[test]
    fn leading_v_is_optional() {
        assert_eq!(v("v2.3"), v("2.3.0"));
        assert_eq!(v("V1.2.3-rc"), v("1.2.3-rc"));
        assert_eq!(cmp("v2.3", "2.3.0"), Ordering::Equal);
    }

    #[test]
    fn numeric_parts_fit_u64() {
        assert_eq!(v("18446744073709551615").major, u64::MAX);
        assert_eq!(parse("18446744073709551616"), None);
        assert_eq!(parse("1.18446744073709551616.0"), None);
    }

    #[test]
    fn invalid_forms() {
        for text in [
            "",
            "v",
            "V",
            "vv1",
            "01",
            "1.01",
            "1.2.03",
            "1.2.3.4",
            "1..2",
            "1.",
            ".1",
            "1.2.",
            "a",
            "1.a",
            "-1",
            "1.-2",
            "+1",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-+b",
            "1.2.3-a..b",
            "1.2.3-a.",
            "1.2.3-01",
            "1.2.3-alpha.01",
            "1.2.3-a_b",
            "1.2.3+a..b",
            "1.2.3+a+b",
            "1.2.3+",
            " 1.2.3",
            "1.2.3 ",
            "1. 2.3",
            "1.2.3- a",
            "1.2.3\n",
            "１.2.3",
            "1.2.3-é",
            "x1.2.3",
            "v 1.2.3",
            "1.2.3-rc+",
            "+",
            "-",
        ] {
            assert_eq!(parse(text), None, "{text:?} should not parse");
        }
    }

    #[test]
    fn zero_and_alphanumeric_leading_zero_are_fine() {
        assert!(parse("0.0.0-0").is_some());
        assert!(
            parse("1.0.0-0a").is_some(),
            "alphanumeric identifiers may start with 0"
        );
        assert!(parse("1.0.0-alpha.0").is_some());
    }

    #[test]
    fn semver_org_example_chain() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                assert_eq!(cmp(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn core_parts_compare_numerically() {
        assert_eq!(cmp("1.9.0", "1.10.0"), Ordering::Less);
        assert_eq!(cmp("2.0.0", "1.99.99"), Ordering::Greater);
        assert_eq!(cmp("1.0.10", "1.0.9"), Ordering::Greater);
        assert_eq!(cmp("1.0.0", "2.0.0-alpha"), Ordering::Less);
    }

    #[test]
    fn build_metadata_is_ignored() {
        assert_eq!(cmp("1.0.0+a", "1.0.0+b"), Ordering::Equal);
        assert_eq!(v("1.0.0+a"), v("1.0.0+b"));
        assert_eq!(cmp("1.0.0-rc.1+x", "1.0.0-rc.1"), Ordering::Equal);
    }

    #[test]
    fn pre_release_identifier_rules() {
        // Numeric below alphanumeric.
        assert_eq!(cmp("1.0.0-1", "1.0.0-a"), Ordering::Less);
        assert_eq!(cmp("1.0.0-999", "1.0.0-0a"), Ordering::Less);
        // Alphanumeric in ASCII order (uppercase before lowercase, `-` before digits).
        assert_eq!(cmp("1.0.0-Z", "1.0.0-a"), Ordering::Less);
        assert_eq!(cmp("1.0.0--", "1.0.0-0a"), Ordering::Less);
        // Numeric identifiers beyond u64 still compare numerically.
        assert_eq!(
            cmp(
                "1.0.0-99999999999999999999999",
                "1.0.0-100000000000000000000000"
            ),
            Ordering::Less
        );
        // Prefix is lower.
        assert_eq!(cmp("1.0.0-a.b", "1.0.0-a.b.c"), Ordering::Less);
        assert_eq!(cmp("1.0.0-a.b", "1.0.0-a.b"), Ordering::Equal);
    }

    #[test]
    fn owned_versions_order_like_borrowed_ones() {
        let a = Version::parse("1.0.0-beta.11").expect("valid");
        let b = Version::parse("v1.0.0-rc.1+x").expect("valid");
        assert!(a < b);
        assert_eq!(b.pre, "rc.1");
        assert_eq!(b.as_ref(), v("1.0.0-rc.1"));
        assert!(v("1.0.0") > v("1.0.0-rc.1"));
    }
}
