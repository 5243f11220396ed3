//! Percentage buckets (SPEC §2).
//!
//! `bucket = xxh3_64(salt ++ ":" ++ value) mod 10000`, seed 0, over UTF-8
//! bytes. The concatenation is assembled in a stack buffer, so bucketing never
//! allocates; only values longer than the buffer fall back to the streaming
//! hasher, which also does not allocate.

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

/// Number of buckets: a percentage's width in buckets is its value in
/// hundredths of a percent.
pub const BUCKETS: u32 = 10_000;

/// Largest magnitude a number may have and still bucket (2^53).
pub const MAX_BUCKETABLE: f64 = 9_007_199_254_740_992.0;

const STACK: usize = 256;
const SHORT: usize = 48;

/// The bucket of `value` under `salt`.
#[inline]
pub fn bucket(salt: &str, value: &str) -> u32 {
    bucket_bytes(salt.as_bytes(), value.as_bytes())
}

/// The bucket of `value` under `salt`, as bytes (the evaluator has both as
/// bytes, and hashing needs nothing else). Inlined: a call costs as much as
/// the copies around the hash.
#[inline(always)]
pub fn bucket_bytes(salt: &[u8], value: &[u8]) -> u32 {
    let len = salt.len() + 1 + value.len();
    let hash = if len <= SHORT {
        // Most salts and keys are short: a small buffer is cheaper to clear.
        let mut buf = [0u8; SHORT];
        copy_short(&mut buf[..salt.len()], salt);
        buf[salt.len()] = b':';
        copy_short(&mut buf[salt.len() + 1..len], value);
        xxh3_64(&buf[..len])
    } else {
        hash_long(salt, value)
    };
    (hash % u64::from(BUCKETS)) as u32
}

/// `xxh3_64(salt ++ ":" ++ value)` for a concatenation longer than
/// [`SHORT`]: out of line, so the buffer and the streaming hasher (64-byte
/// aligned) do not enlarge the frame of every split that inlines
/// [`bucket_bytes`].
#[cold]
#[inline(never)]
fn hash_long(salt: &[u8], value: &[u8]) -> u64 {
    let len = salt.len() + 1 + value.len();
    if len <= STACK {
        let mut buf = [0u8; STACK];
        buf[..salt.len()].copy_from_slice(salt);
        buf[salt.len()] = b':';
        buf[salt.len() + 1..len].copy_from_slice(value);
        xxh3_64(&buf[..len])
    } else {
        let mut hasher = Xxh3::new();
        hasher.update(salt);
        hasher.update(b":");
        hasher.update(value);
        hasher.digest()
    }
}

/// `dst.copy_from_slice(src)` for short slices of equal length, in
/// fixed-size (overlapping) moves rather than a call to `memcpy`, which
/// costs more than the copy for salts and keys.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n != dst.len() {
        dst.copy_from_slice(src);
    } else if n >= 16 {
        let mut i = 0;
        while i + 16 < n {
            dst[i..i + 16].copy_from_slice(&src[i..i + 16]);
            i += 16;
        }
        dst[n - 16..].copy_from_slice(&src[n - 16..]);
    } else if n >= 8 {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

/// A number's bucketing value: integral with |x| ≤ 2^53, as an integer.
pub fn integral(n: f64) -> Option<i64> {
    (n.is_finite() && n.fract() == 0.0 && n.abs() <= MAX_BUCKETABLE).then_some(n as i64)
}

/// The bucket of an integral number, written in decimal with no fraction.
pub fn bucket_integer(salt: &[u8], n: i64) -> u32 {
    let mut text = itoa::Buffer::new();
    bucket_bytes(salt, text.format(n).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_hash_like_short_ones() {
        let long = "k".repeat(1000);
        let mut joined = String::from("salt:");
        joined.push_str(&long);
        assert_eq!(
            bucket("salt", &long),
            (xxh3_64(joined.as_bytes()) % 10_000) as u32
        );
        assert_eq!(bucket("s", "v"), (xxh3_64(b"s:v") % 10_000) as u32);
        // Either side of each buffer size, and every short length.
        // Distinct bytes, so a copy to or from the wrong offset shows.
        for n in (0..48).chain([250, 254, 255, 256, 257]) {
            let value: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let joined = format!("s:{value}");
            assert_eq!(
                bucket("s", &value),
                (xxh3_64(joined.as_bytes()) % 10_000) as u32
            );
        }
    }

    #[test]
    fn integral_numbers() {
        assert_eq!(integral(42.0), Some(42));
        assert_eq!(integral(-0.0), Some(0));
        assert_eq!(integral(-7.0), Some(-7));
        assert_eq!(integral(1.5), None);
        assert_eq!(integral(MAX_BUCKETABLE), Some(9_007_199_254_740_992));
        assert_eq!(integral(MAX_BUCKETABLE * 2.0), None);
        assert_eq!(bucket_integer(b"f", 42), bucket("f", "42"));
    }
}
