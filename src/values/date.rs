//! Instants: RFC 3339 text or epoch milliseconds (SPEC §6).
//!
//! Both forms are turned into nanoseconds since the Unix epoch, so `date(...)`
//! comparisons are integer comparisons.

/// A point in time, in nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub i128);

/// Parses RFC 3339 (`T`/`t`, `Z`/`z` or a numeric offset, any number of
/// fraction digits; no date alone, no leap second `:60`).
pub fn parse_rfc3339(text: &str) -> Option<Instant> {
    let _ = text;
    todo!("rfc3339")
}

/// An epoch-milliseconds number (fraction allowed) as an instant.
pub fn from_epoch_millis(ms: f64) -> Option<Instant> {
    let _ = ms;
    todo!("epoch ms")
}
