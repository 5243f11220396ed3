//! String storage for the decision tables: one text blob plus offsets.
//!
//! [`StrTable`] stores every name and string constant of a ruleset once, in
//! one contiguous `String`, addressed by [`StrId`]. [`NameIndex`] adds an
//! open-addressing hash index (xxh3, linear probing) over such a table, so a
//! flag key or a context key is found without allocating and the index can be
//! written to and read from a snapshot as a plain `u32` array.

use xxhash_rust::xxh3::xxh3_64;

/// Index of a string in a [`StrTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StrId(pub u32);

/// Strings stored back to back in one blob.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrTable {
    /// All strings concatenated.
    pub(crate) blob: String,
    /// `ends[i]` is the end offset of string `i` in `blob`; string `i` starts
    /// at `ends[i - 1]` (or 0).
    pub(crate) ends: Vec<u32>,
}

impl StrTable {
    /// Appends a string and returns its id (no deduplication).
    pub fn push(&mut self, s: &str) -> StrId {
        self.blob.push_str(s);
        self.ends.push(self.blob.len() as u32);
        StrId(self.ends.len() as u32 - 1)
    }

    /// The string with id `id`, if the table has it.
    #[inline]
    pub fn try_get(&self, id: StrId) -> Option<&str> {
        let i = id.0 as usize;
        let start = match i.checked_sub(1) {
            Some(prev) => *self.ends.get(prev)?,
            None => 0,
        };
        let end = *self.ends.get(i)?;
        self.blob.get(start as usize..end as usize)
    }

    /// The string with id `id`, an id validation vouched for (every id a
    /// validated ruleset holds is in range). A debug build asserts it; a
    /// release build answers "" for an id out of range rather than
    /// failing a check (use [`StrTable::try_get`] where an id is not
    /// vouched for).
    #[inline]
    pub fn get(&self, id: StrId) -> &str {
        let found = self.try_get(id);
        debug_assert!(
            found.is_some(),
            "string id {} of {} vouched for",
            id.0,
            self.ends.len()
        );
        found.unwrap_or("")
    }

    /// The bytes of string `id` (no char-boundary checks: what comparisons
    /// on the evaluation path want); empty if `id` is out of range.
    #[inline]
    pub fn get_bytes(&self, id: StrId) -> &[u8] {
        let i = id.0 as usize;
        let start = match i.checked_sub(1) {
            Some(prev) => self.ends.get(prev).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(i).copied().unwrap_or(0);
        self.blob
            .as_bytes()
            .get(start as usize..end as usize)
            .unwrap_or(&[])
    }

    /// Where string `id` starts in the blob (0 if `id` is out of range).
    #[inline]
    pub fn start(&self, id: StrId) -> u32 {
        match (id.0 as usize).checked_sub(1) {
            Some(prev) => self.ends.get(prev).copied().unwrap_or(0),
            None => 0,
        }
    }

    /// The blob's bytes (every string, back to back).
    #[inline]
    pub fn blob_bytes(&self) -> &[u8] {
        self.blob.as_bytes()
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }
}

/// A set of distinct names with O(1) lookup by text; ids are positions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameIndex {
    /// The names, id order.
    pub(crate) names: StrTable,
    /// Hash slots (power of two, at least twice the names): `id + 1`, or 0 when empty.
    pub(crate) slots: Vec<u32>,
}

impl NameIndex {
    /// Builds an index over distinct names; ids follow the iteration order.
    pub fn build<'a>(names: impl IntoIterator<Item = &'a str>) -> NameIndex {
        let mut table = StrTable::default();
        for name in names {
            table.push(name);
        }
        let slots = hash_slots(&table);
        NameIndex {
            names: table,
            slots,
        }
    }

    /// The id of `name`, if present.
    #[inline]
    pub fn find(&self, name: &str) -> Option<u32> {
        find_in(&self.names, &self.slots, name.as_bytes())
    }

    /// The name with id `id`.
    #[inline]
    pub fn name(&self, id: u32) -> &str {
        self.names.get(StrId(id))
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }
}

/// Open-addressing hash slots over a table of distinct strings: a power of
/// two at least twice the count, each `id + 1` or 0 when empty.
pub fn hash_slots(table: &StrTable) -> Vec<u32> {
    let size = (table.len() * 2).max(8).next_power_of_two();
    let mut slots = vec![0u32; size];
    let mask = size - 1;
    for id in 0..table.len() {
        let mut at = (xxh3_64(table.get(StrId(id as u32)).as_bytes()) as usize) & mask;
        while slots[at] != 0 {
            at = (at + 1) & mask;
        }
        slots[at] = id as u32 + 1;
    }
    slots
}

/// Looks `name` up through `slots` built by [`hash_slots`] over `table`.
/// Bounded by the slot count whatever the slots hold.
#[inline]
pub fn find_in(table: &StrTable, slots: &[u32], name: &[u8]) -> Option<u32> {
    if slots.is_empty() {
        return None;
    }
    let mask = slots.len() - 1;
    let mut at = (xxh3_64(name) as usize) & mask;
    for _ in 0..slots.len() {
        match slots.get(at).copied().unwrap_or(0) {
            0 => return None,
            id1 => {
                if table.get_bytes(StrId(id1 - 1)) == name {
                    return Some(id1 - 1);
                }
            }
        }
        at = (at + 1) & mask;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips() {
        let mut t = StrTable::default();
        let a = t.push("alpha");
        let e = t.push("");
        let u = t.push("ünï");
        assert_eq!((t.get(a), t.get(e), t.get(u)), ("alpha", "", "ünï"));
        assert_eq!((t.try_get(a), t.try_get(e)), (Some("alpha"), Some("")));
        assert_eq!(
            (t.try_get(StrId(3)), t.try_get(StrId(u32::MAX))),
            (None, None)
        );
    }

    #[test]
    fn index_finds_every_name_and_nothing_else() {
        let names: Vec<String> = (0..1000).map(|i| format!("user-{i}")).collect();
        let index = NameIndex::build(names.iter().map(String::as_str));
        for (i, n) in names.iter().enumerate() {
            assert_eq!(index.find(n), Some(i as u32));
            assert_eq!(index.name(i as u32), n);
        }
        assert_eq!(index.find("user-1000"), None);
        assert_eq!(NameIndex::default().find("x"), None);
    }
}
