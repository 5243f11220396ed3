//! The one wire format of vexil: what snapshots and patches are made of.
//!
//! This module owns the byte-level conventions both files share and the
//! codecs built on them: a little-endian writer ([`Out`]) and a
//! bounds-checked reader ([`Reader`]) — fixed-width little-endian integers,
//! `u64`-length-prefixed bytes and strings, roaring bitmaps in their portable
//! serialization behind a length, record counts checked against the bytes
//! left so a hostile count never over-allocates — the variation value codec
//! ([`value`]) and the codec of compiled, unlinked units ([`unit`](mod@unit)), which
//! patches ship. `format` lays out snapshot bodies with them and `patch` its
//! payload; `compile` knows nothing of any of it.

use roaring::RoaringBitmap;

use super::SnapshotError;
use crate::compile::strings::StrTable;
use crate::compile::tables::{Range32, Rel};

/// The tags of atoms and predicates: one numbering for the snapshot's `code`
/// section and for units in patches.
pub(crate) mod tags {
    // Atom tags.
    pub(crate) const ATOM_EXISTS: u8 = 0;
    pub(crate) const ATOM_SEGMENT: u8 = 1;
    pub(crate) const ATOM_PREREQ: u8 = 2;
    pub(crate) const ATOM_CMP: u8 = 3;

    // Predicate tags.
    pub(crate) const PRED_STR_EQ: u8 = 0;
    pub(crate) const PRED_NUM: u8 = 1;
    pub(crate) const PRED_BOOL_EQ: u8 = 2;
    pub(crate) const PRED_SEMVER: u8 = 3;
    pub(crate) const PRED_DATE: u8 = 4;
    pub(crate) const PRED_STR_IN: u8 = 5;
    pub(crate) const PRED_NUM_IN: u8 = 6;
    pub(crate) const PRED_EMPTY_IN: u8 = 7;
    pub(crate) const PRED_CONTAINS_STR: u8 = 8;
    pub(crate) const PRED_CONTAINS_NUM: u8 = 9;
    pub(crate) const PRED_STARTS_WITH: u8 = 10;
    pub(crate) const PRED_ENDS_WITH: u8 = 11;
    pub(crate) const PRED_MATCHES: u8 = 12;
}

pub(crate) mod unit;
pub(crate) mod value;

/// A little-endian byte sink.
pub(crate) struct Out(pub(crate) Vec<u8>);

impl Out {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    pub(crate) fn u32s(&mut self, vs: &[u32]) {
        self.len(vs.len());
        self.0.reserve(vs.len() * 4);
        for &v in vs {
            self.u32(v);
        }
    }
    pub(crate) fn range(&mut self, r: Range32) {
        self.u32(r.start);
        self.u32(r.len);
    }
    pub(crate) fn str_table(&mut self, t: &StrTable) {
        self.bytes(t.blob.as_bytes());
        self.u32s(&t.ends);
    }
    pub(crate) fn bitmap(&mut self, b: &RoaringBitmap) {
        self.len(b.serialized_size());
        // Writing into a Vec cannot fail.
        let _ = b.serialize_into(&mut self.0);
    }
}

/// A bounds-checked little-endian reader over one region of the input.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    section: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], section: &'static str) -> Reader<'a> {
        Reader {
            bytes,
            pos: 0,
            section,
        }
    }

    pub(crate) fn remaining(&self) -> u64 {
        self.bytes.len().saturating_sub(self.pos) as u64
    }

    pub(crate) fn section(&self) -> &'static str {
        self.section
    }

    /// Names the region in later errors.
    pub(crate) fn set_section(&mut self, section: &'static str) {
        self.section = section;
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    fn truncated(&self, needed: u64) -> SnapshotError {
        SnapshotError::Truncated {
            section: self.section,
            needed,
            available: self.remaining(),
        }
    }

    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8], SnapshotError> {
        if n > self.remaining() {
            return Err(self.truncated(n));
        }
        // n <= remaining <= usize::MAX, so the cast and the addition are exact.
        let end = self.pos + n as usize;
        let out = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| self.truncated(n))?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let b = self.take(N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub(crate) fn i128(&mut self) -> Result<i128, SnapshotError> {
        Ok(i128::from_le_bytes(self.array()?))
    }

    /// A record count, checked against the bytes left: `count * min_record`
    /// must fit, so no allocation exceeds what the input can describe.
    pub(crate) fn count(&mut self, min_record: u64) -> Result<usize, SnapshotError> {
        let n = self.u64()?;
        let needed = n.saturating_mul(min_record);
        if needed > self.remaining() {
            return Err(self.truncated(needed));
        }
        usize::try_from(n).map_err(|_| self.truncated(needed))
    }

    /// A u64 length followed by that many bytes.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let n = self.u64()?;
        self.take(n)
    }

    pub(crate) fn str(&mut self, what: &str) -> Result<&'a str, SnapshotError> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|e| {
            SnapshotError::corrupt(self.section, format!("{what} is not valid UTF-8: {e}"))
        })
    }

    pub(crate) fn u32s(&mut self) -> Result<Vec<u32>, SnapshotError> {
        let n = self.count(4)?;
        let raw = self.take(n as u64 * 4)?;
        // Converted a block at a time through a fixed-size array, which the
        // compiler turns into wide loads and stores, then appended with one
        // copy: collecting the mapped chunks ran one element at a time, and
        // a zeroed buffer filled in place paid for the zeroing (snapshot
        // load, docs/architecture.md).
        const BLOCK: usize = 64;
        let word = |c: &[u8]| u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let mut out = Vec::with_capacity(n);
        let mut blocks = raw.chunks_exact(4 * BLOCK);
        let mut words = [0u32; BLOCK];
        for block in &mut blocks {
            for (w, bytes) in words.iter_mut().zip(block.chunks_exact(4)) {
                *w = word(bytes);
            }
            out.extend_from_slice(&words);
        }
        out.extend(blocks.remainder().chunks_exact(4).map(word));
        Ok(out)
    }

    pub(crate) fn range(&mut self) -> Result<Range32, SnapshotError> {
        Ok(Range32 {
            start: self.u32()?,
            len: self.u32()?,
        })
    }

    pub(crate) fn str_table(&mut self) -> Result<StrTable, SnapshotError> {
        let blob = self.str("string blob")?.to_string();
        let ends = self.u32s()?;
        check_str_table(&blob, &ends, self.section)?;
        Ok(StrTable { blob, ends })
    }

    pub(crate) fn bitmap(&mut self, what: &str) -> Result<RoaringBitmap, SnapshotError> {
        let raw = self.bytes()?;
        let mut cursor = raw;
        let b = RoaringBitmap::deserialize_from(&mut cursor).map_err(|e| {
            SnapshotError::corrupt(self.section, format!("{what}: bad roaring bitmap: {e}"))
        })?;
        if !cursor.is_empty() {
            return Err(SnapshotError::corrupt(
                self.section,
                format!("{what}: {} bytes after the roaring bitmap", cursor.len()),
            ));
        }
        Ok(b)
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<(), SnapshotError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(SnapshotError::corrupt(
                self.section,
                format!("{n} unexpected bytes at the end of the section"),
            )),
        }
    }
}

/// `ends` non-decreasing, the last one the blob's length, every end on a
/// char boundary (the blob is already known to be UTF-8).
fn check_str_table(blob: &str, ends: &[u32], section: &'static str) -> Result<(), SnapshotError> {
    let mut prev = 0u32;
    for (i, &end) in ends.iter().enumerate() {
        if end < prev {
            return Err(SnapshotError::corrupt(
                section,
                format!("string {i} ends at {end}, before the previous end {prev}"),
            ));
        }
        if end as usize > blob.len() || !blob.is_char_boundary(end as usize) {
            return Err(SnapshotError::corrupt(
                section,
                format!(
                    "string {i} ends at {end}, outside the {}-byte blob or inside a character",
                    blob.len()
                ),
            ));
        }
        prev = end;
    }
    if prev as usize != blob.len() {
        return Err(SnapshotError::corrupt(
            section,
            format!(
                "strings end at {prev} but the blob has {} bytes",
                blob.len()
            ),
        ));
    }
    Ok(())
}

pub(crate) fn rel_tag(r: Rel) -> u8 {
    match r {
        Rel::Eq => 0,
        Rel::Lt => 1,
        Rel::Le => 2,
        Rel::Gt => 3,
        Rel::Ge => 4,
    }
}

pub(crate) fn read_rel(tag: u8) -> Option<Rel> {
    Some(match tag {
        0 => Rel::Eq,
        1 => Rel::Lt,
        2 => Rel::Le,
        3 => Rel::Gt,
        4 => Rel::Ge,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u32_arrays_round_trip_at_every_block_boundary() {
        for n in [0usize, 1, 63, 64, 65, 128, 200, 1000] {
            let words: Vec<u32> = (0..n as u32).map(|i| i.wrapping_mul(0x9E37_79B9)).collect();
            let mut out = Out(Vec::new());
            out.u32s(&words);
            out.u8(0xAB);
            let mut r = Reader::new(&out.0, "test");
            assert_eq!(r.u32s().ok(), Some(words), "{n} words");
            assert_eq!(r.u8().ok(), Some(0xAB), "the reader stops after {n} words");
        }
    }
}
