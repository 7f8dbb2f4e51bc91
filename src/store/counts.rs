//! How the articles of one fetch compared with what was stored: what `ingest` counts and
//! `record` hands back.

/// How the articles of one fetch compared with what was stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Articles that are new stories: each a new entry of the merged feed.
    pub new: u32,
    /// Stored articles whose title or text changed, updated in place.
    pub updated: u32,
    /// Articles already stored as they are.
    pub unchanged: u32,
    /// Articles that are another version of a stored story (the same link, or nearly the
    /// same text), now credited to this source too.
    pub merged: u32,
}

impl Counts {
    /// Whether the articles changed what the feeds show.
    pub(super) fn changed(&self) -> bool {
        self.new + self.updated + self.merged > 0
    }
}
