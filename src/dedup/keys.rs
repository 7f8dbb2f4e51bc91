//! The story index's keys ([`Keys`]): a multimap from 32-bit keys to slots, in 8 bytes an
//! entry. It holds a band key of every indexed article's sketch (two dozen an article) or
//! each headline key, so it is most of the index's memory.
//!
//! A hash table holds an entry in 9 bytes at a load it keeps below seven eighths, and grows
//! by doubling, briefly holding the old table and the new: at 650,000 keys (27,000 articles)
//! that is 9.4 MiB, and 14 MiB while it grows. Here, every entry but the newest is kept sorted,
//! in blocks of fixed size; the newest are in a small hash table, merged into the blocks once
//! they are an eighth as many (each entry is so copied about eight times over its life, and a
//! merge frees each old block as soon as it is read). A lookup finds its place in a block by
//! binary search over the block's every [`FENCE`]th key (4 KiB a block, which stays in the
//! processor's cache), then among the few entries between two of them; and probes the table
//! once.

use hashbrown::HashTable;

/// Entries in a block: 512 KiB.
const BLOCK: usize = 1 << 16;
/// Entries between two of a block's fence keys.
const FENCE: usize = 64;
/// The newest entries kept apart before a merge, at least.
const MERGE_AT: usize = 4096;

/// Keys to slots, each (key, slot) pair once.
#[derive(Default)]
pub(crate) struct Keys {
    /// All entries but the newest, sorted, in blocks of at most [`BLOCK`]; none empty.
    blocks: Vec<Vec<(u32, u32)>>,
    /// Each block's first key, to find a key's blocks without reading theirs.
    firsts: Vec<u32>,
    /// Each block's every [`FENCE`]th key, from its first: where to look for a key in it.
    fences: Vec<Vec<u32>>,
    /// How many entries the blocks hold.
    sorted: usize,
    /// The newest entries.
    recent: HashTable<(u32, u32)>,
}

/// The table's hash of a key (already a hash, spread over 64 bits for the table's control
/// bytes, which take the top ones).
fn spread(key: u32) -> u64 {
    (u64::from(key) | u64::from(key) << 32).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Keys {
    /// Adds the entry (`key`, `slot`), which must not be there yet.
    pub(crate) fn insert(&mut self, key: u32, slot: u32) {
        self.recent
            .insert_unique(spread(key), (key, slot), |&(k, _)| spread(k));
        if self.recent.len() >= MERGE_AT.max(self.sorted / 8) {
            self.merge();
        }
    }

    /// The slots under `key`.
    pub(crate) fn get(&self, key: u32) -> impl Iterator<Item = u32> + '_ {
        // The blocks holding `key`: from the last one starting below it, on while they start
        // at or below it.
        let first = self.firsts.partition_point(|&k| k < key).saturating_sub(1);
        let blocks = self.firsts[first..].iter().take_while(move |&&k| k <= key);
        let sorted = self.blocks[first..]
            .iter()
            .zip(&self.fences[first..])
            .zip(blocks)
            .flat_map(move |((b, f), _)| b[range(b, f, key)].iter().map(|&(_, slot)| slot));
        let recent = self
            .recent
            .iter_hash(spread(key))
            .filter(move |&&(k, _)| k == key)
            .map(|&(_, slot)| slot);
        sorted.chain(recent)
    }

    /// Keeps only the entries whose slot `keep` says to: one pass over all of them.
    pub(crate) fn retain(&mut self, keep: impl Fn(u32) -> bool) {
        for block in &mut self.blocks {
            block.retain(|&(_, slot)| keep(slot));
            if block.len() < block.capacity() * 3 / 4 {
                block.shrink_to_fit();
            }
        }
        self.blocks.retain(|b| !b.is_empty());
        self.counted();
        self.recent.retain(|&mut (_, slot)| keep(slot));
    }

    /// Entries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sorted + self.recent.len()
    }

    /// Bytes of memory held (capacity, the table's control bytes included).
    pub(crate) fn memory(&self) -> usize {
        let entry = std::mem::size_of::<(u32, u32)>();
        self.blocks
            .iter()
            .map(|b| b.capacity() * entry)
            .sum::<usize>()
            + self.blocks.capacity() * std::mem::size_of::<Vec<(u32, u32)>>()
            + self.firsts.capacity() * std::mem::size_of::<u32>()
            + self.fences.capacity() * std::mem::size_of::<Vec<u32>>()
            + self
                .fences
                .iter()
                .map(|f| f.capacity() * std::mem::size_of::<u32>())
                .sum::<usize>()
            + self.recent.capacity() * (entry + 1)
    }

    /// Merges the newest entries into the sorted blocks, writing new blocks as the old ones
    /// are read, and freeing each old one once it is.
    fn merge(&mut self) {
        let mut newest: Vec<(u32, u32)> = self.recent.drain().collect();
        newest.sort_unstable();
        let mut newest = newest.into_iter().peekable();
        let mut old = std::mem::take(&mut self.blocks).into_iter();
        let mut block: std::vec::IntoIter<(u32, u32)> = Vec::new().into_iter();
        let mut out = Vec::with_capacity(BLOCK);
        loop {
            if block.as_slice().is_empty() {
                if let Some(next) = old.next() {
                    block = next.into_iter();
                }
            }
            let entry = match (block.as_slice().first(), newest.peek()) {
                (Some(a), Some(b)) if b < a => newest.next(),
                (Some(_), _) => block.next(),
                (None, Some(_)) => newest.next(),
                (None, None) => break,
            };
            out.extend(entry);
            if out.len() == BLOCK {
                self.blocks
                    .push(std::mem::replace(&mut out, Vec::with_capacity(BLOCK)));
            }
        }
        if !out.is_empty() {
            out.shrink_to_fit();
            self.blocks.push(out);
        }
        self.counted();
        self.recent = HashTable::new();
    }

    /// Counts the blocks' entries and notes their first keys, after they changed.
    fn counted(&mut self) {
        self.sorted = self.blocks.iter().map(Vec::len).sum();
        self.firsts = self.blocks.iter().map(|b| b[0].0).collect();
        self.fences = self
            .blocks
            .iter()
            .map(|b| b.iter().step_by(FENCE).map(|&(k, _)| k).collect())
            .collect();
    }
}

/// The positions in `block` (sorted, not empty) of the entries with `key`, found between the
/// block's `fences` (its every [`FENCE`]th key) that bracket them.
fn range(block: &[(u32, u32)], fences: &[u32], key: u32) -> std::ops::Range<usize> {
    // Every entry before the last fence below `key` is below it; every one from the first
    // fence above it on is above it.
    let from = fences.partition_point(|&k| k < key).saturating_sub(1) * FENCE;
    let to = (fences.partition_point(|&k| k <= key) * FENCE).min(block.len());
    let window = &block[from..to];
    from + window.partition_point(|&(k, _)| k < key)
        ..from + window.partition_point(|&(k, _)| k <= key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hash-like keys, one or two entries each, as band keys are: every one found.
    #[test]
    fn finds_every_hash_key() {
        let mut keys = Keys::default();
        let mut x: u64 = 7;
        let mut all = Vec::new();
        for slot in 0..300_000u32 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let key = (x >> 32) as u32;
            keys.insert(key, slot);
            all.push((key, slot));
        }
        for &(key, slot) in all.iter().step_by(7) {
            assert!(keys.get(key).any(|s| s == slot), "{key} {slot}");
        }
        assert_eq!(keys.get(0).count(), all.iter().filter(|e| e.0 == 0).count());
        assert_eq!(
            keys.get(u32::MAX).count(),
            all.iter().filter(|e| e.0 == u32::MAX).count()
        );
    }

    /// The multimap agrees with a plain list of pairs through inserts across many merges,
    /// keys spanning blocks, and removals.
    #[test]
    fn holds_what_a_list_would() {
        let mut keys = Keys::default();
        let mut list: Vec<(u32, u32)> = Vec::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for slot in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few distinct keys, so that some span several blocks.
            let key = (x % 5_000) as u32;
            keys.insert(key, slot);
            list.push((key, slot));
        }
        assert_eq!(keys.len(), list.len());
        assert!(keys.blocks.len() > 2, "{} blocks", keys.blocks.len());
        assert!(
            keys.memory() < list.len() * 8 * 5 / 4,
            "{} bytes",
            keys.memory()
        );
        let check = |keys: &Keys, list: &[(u32, u32)]| {
            for key in [0, 1, 17, 2_500, 4_999, 5_000] {
                let mut got: Vec<u32> = keys.get(key).collect();
                got.sort_unstable();
                let want: Vec<u32> = list.iter().filter(|e| e.0 == key).map(|e| e.1).collect();
                assert_eq!(got, want, "key {key}");
            }
        };
        check(&keys, &list);
        keys.retain(|slot| slot % 3 != 0);
        list.retain(|&(_, slot)| slot % 3 != 0);
        assert_eq!(keys.len(), list.len());
        check(&keys, &list);
        assert!(
            keys.memory() < list.len() * 8 * 5 / 4,
            "{} bytes",
            keys.memory()
        );
    }
}
