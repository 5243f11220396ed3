//! Instants: RFC 3339 text or epoch milliseconds (SPEC §6).
//!
//! Both forms are turned into nanoseconds since the Unix epoch, so `date(...)`
//! comparisons are integer comparisons.

/// A point in time, in nanoseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Instant(pub i128);

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const NANOS_PER_MILLI: i128 = 1_000_000;
const SECONDS_PER_DAY: i128 = 86_400;

/// Parses RFC 3339 (`T`/`t`, `Z`/`z` or a numeric offset, any number of
/// fraction digits; no date alone, no leap second `:60`).
///
/// The shape is `YYYY-MM-DDTHH:MM:SS[.FRACTION](Z|±HH:MM)`. Fraction digits
/// past the ninth are accepted and ignored (the instant is truncated to the
/// nanosecond). Offsets go up to `±23:59`; `-00:00` is UTC.
pub fn parse_rfc3339(text: &str) -> Option<Instant> {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
    };

    let year = cursor.digits(4)?;
    cursor.expect(b'-')?;
    let month = cursor.digits(2)?;
    cursor.expect(b'-')?;
    let day = cursor.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }

    match cursor.next()? {
        b'T' | b't' => {}
        _ => return None,
    }

    let hour = cursor.digits(2)?;
    cursor.expect(b':')?;
    let minute = cursor.digits(2)?;
    cursor.expect(b':')?;
    let second = cursor.digits(2)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }

    let mut nanos: i128 = 0;
    if cursor.peek() == Some(b'.') {
        cursor.next()?;
        let mut count = 0;
        while let Some(digit) = cursor.peek().filter(u8::is_ascii_digit) {
            cursor.next()?;
            if count < 9 {
                nanos = nanos * 10 + i128::from(digit - b'0');
            }
            count += 1;
        }
        if count == 0 {
            return None;
        }
        for _ in count..9 {
            nanos *= 10;
        }
    }

    let offset_seconds: i128 = match cursor.next()? {
        b'Z' | b'z' => 0,
        sign @ (b'+' | b'-') => {
            let hours = cursor.digits(2)?;
            cursor.expect(b':')?;
            let minutes = cursor.digits(2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = i128::from(hours) * 3600 + i128::from(minutes) * 60;
            if sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return None,
    };
    if !cursor.bytes.is_empty() {
        return None;
    }

    let days = days_from_civil(i64::from(year), month, day);
    let local_seconds = i128::from(days) * SECONDS_PER_DAY
        + i128::from(hour) * 3600
        + i128::from(minute) * 60
        + i128::from(second);
    // Local time = UTC + offset, so UTC = local time − offset.
    let utc_seconds = local_seconds - offset_seconds;
    Some(Instant(utc_seconds * NANOS_PER_SECOND + nanos))
}

/// An epoch-milliseconds number (fraction allowed) as an instant.
///
/// `None` for NaN and infinities. The whole milliseconds and the fraction are
/// converted separately, so integral millisecond values stay exact however
/// large they are; the fraction is rounded to the nearest nanosecond.
/// Magnitudes beyond what `i128` nanoseconds can hold (about 1.7e32 ms, far
/// past any RFC 3339 date) saturate, so they still order after or before
/// every date.
pub fn from_epoch_millis(ms: f64) -> Option<Instant> {
    if !ms.is_finite() {
        return None;
    }
    let whole = ms.trunc();
    // Exact: the difference of a finite f64 and its truncation is representable.
    let fraction = ms - whole;
    // `as` saturates for out-of-range floats.
    let whole_nanos = (whole as i128).saturating_mul(NANOS_PER_MILLI);
    let fraction_nanos = (fraction * 1e6).round() as i128;
    Some(Instant(whole_nanos.saturating_add(fraction_nanos)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`). `month` is 1–12, `day` 1–31.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Count years from March, so the leap day is the last day of the year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400; // [0, 399]
    let month_from_march = (i64::from(month) + 9) % 12; // March = 0, February = 11
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year; // [0, 146096]
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, the inverse of [`days_from_civil`]).
#[cfg_attr(not(feature = "server"), allow(dead_code))] // timestamps of the server
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153; // March = 0
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Epoch milliseconds as RFC 3339 text in UTC with millisecond precision
/// (`2026-12-01T07:34:13.000Z`), for logs and audit records.
#[cfg_attr(not(feature = "server"), allow(dead_code))] // timestamps of the server
pub fn format_epoch_millis(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// Whether `year` is a Gregorian leap year.
pub fn is_leap_year(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Number of days in `month` (1–12) of `year`; 0 for a month out of range.
pub fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Reads the text byte by byte; every step fails softly.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.first().copied()
    }

    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// Exactly `count` ASCII digits as a number.
    fn digits(&mut self, count: usize) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..count {
            let digit = self.next().filter(u8::is_ascii_digit)?;
            value = value * 10 + u32::from(digit - b'0');
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_epoch_millis_as_rfc3339_and_back() {
        use super::{format_epoch_millis, parse_rfc3339, Instant, NANOS_PER_MILLI};
        assert_eq!(format_epoch_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_epoch_millis(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(format_epoch_millis(-1), "1969-12-31T23:59:59.999Z");
        for ms in [
            1_796_110_453_123_i64,
            4_102_444_800_000,
            -86_400_000 * 365 * 300,
        ] {
            let text = format_epoch_millis(ms);
            assert_eq!(
                parse_rfc3339(&text),
                Some(Instant(i128::from(ms) * NANOS_PER_MILLI)),
                "{text}"
            );
        }
    }

    use super::*;

    fn at(text: &str) -> i128 {
        match parse_rfc3339(text) {
            Some(Instant(nanos)) => nanos,
            None => panic!("{text:?} should parse"),
        }
    }

    const S: i128 = NANOS_PER_SECOND;
    /// 2024-01-01T00:00:00Z in seconds.
    const NEW_YEAR_2024: i128 = 1_704_067_200;

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(at("1970-01-01T00:00:00Z"), 0);
        assert_eq!(at("2024-01-01T00:00:00Z"), NEW_YEAR_2024 * S);
        assert_eq!(at("2000-03-01T00:00:00Z"), 951_868_800 * S);
        assert_eq!(at("1969-12-31T23:59:59Z"), -S);
        assert_eq!(at("0000-01-01T00:00:00Z"), -62_167_219_200 * S);
        assert_eq!(at("9999-12-31T23:59:59Z"), 253_402_300_799 * S);
    }

    #[test]
    fn days_from_civil_matches_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1970, 1, 2), 1);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(days_from_civil(2024, 1, 1), 19_723);
        // Consecutive days are consecutive numbers across a leap day.
        assert_eq!(
            days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28),
            2
        );
        assert_eq!(
            days_from_civil(2023, 3, 1) - days_from_civil(2023, 2, 28),
            1
        );
    }

    #[test]
    fn offsets_denote_the_same_instant() {
        let utc = at("2024-01-01T00:00:00Z");
        assert_eq!(at("2024-01-01T01:00:00+01:00"), utc);
        assert_eq!(at("2023-12-31T19:30:00-04:30"), utc);
        assert_eq!(at("2024-01-01T00:00:00+00:00"), utc);
        assert_eq!(at("2024-01-01T00:00:00-00:00"), utc);
        assert_eq!(at("2024-01-01T23:59:00+23:59"), utc);
    }

    #[test]
    fn lowercase_t_and_z() {
        assert_eq!(at("2024-01-01t00:00:00z"), NEW_YEAR_2024 * S);
        assert_eq!(at("2024-01-01t00:00:00Z"), at("2024-01-01T00:00:00z"));
    }

    #[test]
    fn fractions() {
        let base = NEW_YEAR_2024 * S;
        assert_eq!(at("2024-01-01T00:00:00.5Z"), base + 500_000_000);
        assert_eq!(at("2024-01-01T00:00:00.123Z"), base + 123_000_000);
        assert_eq!(at("2024-01-01T00:00:00.000000001Z"), base + 1);
        assert_eq!(at("2024-01-01T00:00:00.123456789999Z"), base + 123_456_789);
        assert_eq!(at("2024-01-01T00:00:00.0Z"), base);
        assert_eq!(at("2024-01-01T01:00:00.25+01:00"), base + 250_000_000);
        // Before the epoch, the fraction still moves forward in time.
        assert_eq!(at("1969-12-31T23:59:59.5Z"), -S / 2);
    }

    #[test]
    fn calendar_validation() {
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
        assert!(parse_rfc3339("2000-02-29T00:00:00Z").is_some());
        assert!(parse_rfc3339("2023-02-29T00:00:00Z").is_none());
        assert!(parse_rfc3339("1900-02-29T00:00:00Z").is_none());
        assert!(parse_rfc3339("2024-04-31T00:00:00Z").is_none());
        assert!(parse_rfc3339("2024-12-31T23:59:59Z").is_some());
    }

    #[test]
    fn invalid_forms() {
        for text in [
            "",
            "2024-01-01",
            "2024-01-01T00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:60Z",
            "2024-12-31T23:59:60Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-00-01T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-32T00:00:00Z",
            "2024-1-01T00:00:00Z",
            "24-01-01T00:00:00Z",
            "+2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00,5Z",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+01:60",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00+01",
            "2024-01-01T00:00:00ZZ",
            "2024-01-01T00:00:00Z ",
            " 2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00UTC",
            "2024-01-01X00:00:00Z",
            "2024-01-01T0a:00:00Z",
            "２024-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(text), None, "{text:?} should not parse");
        }
    }

    #[test]
    fn epoch_milliseconds() {
        assert_eq!(
            from_epoch_millis(1_704_067_200_000.0),
            parse_rfc3339("2024-01-01T00:00:00Z")
        );
        assert_eq!(from_epoch_millis(0.0), Some(Instant(0)));
        assert_eq!(from_epoch_millis(-0.0), Some(Instant(0)));
        assert_eq!(from_epoch_millis(1.5), Some(Instant(1_500_000)));
        assert_eq!(from_epoch_millis(-1.5), Some(Instant(-1_500_000)));
        assert_eq!(
            from_epoch_millis(1_704_067_200_000.5),
            parse_rfc3339("2024-01-01T00:00:00.0005Z")
        );
        assert_eq!(
            from_epoch_millis(-1000.0),
            parse_rfc3339("1969-12-31T23:59:59Z")
        );
    }

    #[test]
    fn large_epoch_milliseconds_stay_exact() {
        let big = 9_007_199_254_740_993i64; // 2^53 + 1 is not an f64; 2^53 + 2 is.
        let exact = (big + 1) as f64;
        assert_eq!(
            from_epoch_millis(exact),
            Some(Instant(i128::from(big + 1) * NANOS_PER_MILLI))
        );
        assert_eq!(
            from_epoch_millis(1e20),
            Some(Instant(100_000_000_000_000_000_000 * NANOS_PER_MILLI))
        );
    }

    #[test]
    fn non_finite_and_huge_milliseconds() {
        assert_eq!(from_epoch_millis(f64::NAN), None);
        assert_eq!(from_epoch_millis(f64::INFINITY), None);
        assert_eq!(from_epoch_millis(f64::NEG_INFINITY), None);
        assert_eq!(from_epoch_millis(f64::MAX), Some(Instant(i128::MAX)));
        assert_eq!(from_epoch_millis(f64::MIN), Some(Instant(i128::MIN)));
    }
}
