//! The story index's articles ([`Slots`]): a growable array in blocks of fixed size, so that
//! growing never copies it or holds it twice (a vector of 27,000 articles' slots doubles from
//! 3 to 6 MiB at once), and it is never more than a block larger than it needs to be.

use std::ops::{Index, IndexMut};

/// Slots in a block.
const BLOCK: usize = 4096;

/// Values at positions 0, 1, 2, ….
pub(crate) struct Slots<T> {
    blocks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            blocks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slots<T> {
    /// Appends `value`; returns its position.
    pub(crate) fn push(&mut self, value: T) -> u32 {
        if self.len.is_multiple_of(BLOCK) {
            self.blocks.push(Vec::with_capacity(BLOCK));
        }
        let at = self.len;
        if let Some(block) = self.blocks.last_mut() {
            block.push(value);
        }
        self.len += 1;
        at as u32
    }

    /// How many values there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of memory held.
    pub(crate) fn memory(&self) -> usize {
        self.blocks.len() * BLOCK * std::mem::size_of::<T>()
            + self.blocks.capacity() * std::mem::size_of::<Vec<T>>()
    }
}

impl<T> Index<u32> for Slots<T> {
    type Output = T;
    fn index(&self, at: u32) -> &T {
        let at = at as usize;
        &self.blocks[at / BLOCK][at % BLOCK]
    }
}

impl<T> IndexMut<u32> for Slots<T> {
    fn index_mut(&mut self, at: u32) -> &mut T {
        let at = at as usize;
        &mut self.blocks[at / BLOCK][at % BLOCK]
    }
}
