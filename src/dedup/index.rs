//! The story index, in this process's memory: every article that can still be placed with
//! (retention prunes those published over twice `[dedup].window` ago), under each of its band
//! keys, with its sketch.
//!
//! It lives in memory rather than in the database because placing an article asks 24 key
//! lookups and up to 16 sketch comparisons; from SQLite those are page reads whose cost
//! depends on what the OS keeps cached, 0.4 ms or 7 ms at 1,000,000 articles. Here they are a
//! few microseconds whatever the machine does. The database stays the record: the store
//! loads the index from the `sketches` table (which keeps each sketch's band keys) and the
//! `headlines` table when it is first needed, and keeps it in step with every write it
//! commits.
//!
//! Articles are also held under their headline's key ([`headline_key`](super::headline_key)),
//! which is how those with too little text to fingerprint find their story.
//!
//! Compact by design, as it grows with the articles of one window: each key is held as its
//! low 32 bits with a 32-bit slot number (the keys are hashes, so their low bits are as good
//! as all of them; a chance collision only offers one more candidate, which the sketch
//! comparison then rejects), in sorted blocks ([`Keys`]); and each article's sketch once, in
//! its slot, the slots in blocks too ([`Slots`]): growing never holds the index twice.

use std::collections::HashMap;

use super::headline::WINDOW_MS as HEADLINE_WINDOW_MS;
use super::keys::Keys;
use super::slots::Slots;
use super::{Fingerprint, Sketch};

/// Stored articles compared with a new one at most: those sharing the most band keys with
/// it. A version of the same story shares several (each band matches with probability s², s
/// the similarity); an unrelated article sharing a common phrase, one. So these hold the
/// match, and the work stays bounded even when a key is shared by very many articles (text
/// that is all boilerplate).
const CANDIDATES: usize = 16;
/// Articles looked at at most to find the [`CANDIDATES`]: those whose titles' numbers
/// disagree with the new one's are passed over without counting, since a show's every episode
/// under one long standing description shares all its keys with the others and would crowd
/// out the episode's own copies.
const LOOKED_AT: usize = 16 * CANDIDATES;

/// An indexed article.
struct Slot {
    article: i64,
    story: i64,
    published: i64,
    /// Its sketch, if it has enough text for one.
    sketch: Option<Sketch>,
    /// Its headline's key (0: none that identifies a story), and the source that carried it.
    headline: i64,
    source: i64,
}

/// What the index holds of one stored article.
pub(crate) struct Entry<'a> {
    /// The stored article's id.
    pub(crate) article: i64,
    /// The story it is a version of.
    pub(crate) story: i64,
    /// Its publication time, Unix milliseconds.
    pub(crate) published: i64,
    /// Its sketch and band keys, if it has a fingerprint.
    pub(crate) sketch: Option<(Sketch, &'a [i64])>,
    /// Its headline's key and the source that carried it, if the headline identifies.
    pub(crate) headline: Option<(i64, i64)>,
}

/// Articles under their band keys, to find the story a new article belongs to.
#[derive(Default)]
pub(crate) struct Index {
    /// The articles; a removed one leaves its slot to the next insert.
    slots: Slots<Slot>,
    free: Vec<u32>,
    /// Each article's slot.
    by_article: HashMap<i64, u32>,
    /// Low 32 bits of a band key → slot, one entry per key of each article; a key shared by
    /// several articles is there once for each.
    keys: Keys,
    /// Low 32 bits of a headline key → slot, likewise.
    headlines: Keys,
    /// The newest article id known committed (read from the database, or committed by this
    /// process): articles after it were stored by another process, and are read before the
    /// next placement.
    newest: i64,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("articles", &self.len())
            .field("memory", &self.memory())
            .finish()
    }
}

fn low(band: i64) -> u32 {
    band as u32
}

impl Index {
    /// Indexes an article under its band keys and its headline. What an article already
    /// indexed lacks is added (the store reads sketches and headlines apart); what it has
    /// stays as it was.
    pub(crate) fn insert(&mut self, entry: Entry) {
        let at = match self.by_article.get(&entry.article) {
            Some(&at) => at,
            None => {
                let slot = Slot {
                    article: entry.article,
                    story: entry.story,
                    published: entry.published,
                    sketch: None,
                    headline: 0,
                    source: 0,
                };
                let at = match self.free.pop() {
                    Some(at) => {
                        self.slots[at] = slot;
                        at
                    }
                    None => self.slots.push(slot),
                };
                self.by_article.insert(entry.article, at);
                at
            }
        };
        let slot = &mut self.slots[at];
        if let (None, Some((sketch, bands))) = (&slot.sketch, entry.sketch) {
            slot.sketch = Some(sketch);
            let mut keys: Vec<u32> = bands.iter().copied().map(low).collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                self.keys.insert(key, at);
            }
        }
        if let (0, Some((headline, source))) = (slot.headline, entry.headline) {
            (slot.headline, slot.source) = (headline, source);
            self.headlines.insert(low(headline), at);
        }
    }

    /// The newest article id known committed; see [`Index::saw`].
    pub(crate) fn newest(&self) -> i64 {
        self.newest
    }

    /// Notes that the articles up to `article` are committed and indexed (or unindexable).
    pub(crate) fn saw(&mut self, article: i64) {
        self.newest = self.newest.max(article);
    }

    /// The story whose indexed version is most like `fp` (an article published at
    /// `published`), if one published within `window` milliseconds of it reaches
    /// `threshold`; the older story wins a tie, as the one readers already have.
    pub(crate) fn find(
        &self,
        fp: &Fingerprint,
        published: i64,
        window: i64,
        threshold: f64,
    ) -> Option<i64> {
        let (from, to) = (
            published.saturating_sub(window),
            published.saturating_add(window),
        );
        let mut keys: Vec<u32> = fp.bands.iter().copied().map(low).collect();
        keys.sort_unstable();
        keys.dedup();
        // Every (slot) hit, then counted: how many keys each article shares with this one.
        let mut hits: Vec<u32> = Vec::new();
        for key in keys {
            hits.extend(
                self.keys
                    .get(key)
                    .filter(|&slot| (from..=to).contains(&self.slots[slot].published)),
            );
        }
        hits.sort_unstable();
        let mut shared: Vec<(usize, &Slot)> = hits
            .chunk_by(|a, b| a == b)
            .map(|run| (run.len(), &self.slots[run[0]]))
            .collect();
        // Most keys shared first; among equals, the newest article (as the SQL index did).
        shared.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.article.cmp(&a.1.article)));
        let mut best: Option<(f64, i64)> = None;
        let comparable = shared
            .into_iter()
            .take(LOOKED_AT)
            .filter_map(|(_, slot)| Some((slot, slot.sketch.as_ref()?)))
            .filter(|(_, sketch)| fp.sketch.numbers_agree(sketch));
        for (slot, sketch) in comparable.take(CANDIDATES) {
            let score = fp.sketch.similarity(sketch);
            let better = match best {
                None => true,
                Some((s, story)) => score > s || (score == s && slot.story < story),
            };
            if score >= threshold && better {
                best = Some((score, slot.story));
            }
        }
        best.map(|(_, story)| story)
    }

    /// The story an article of `source` published at `published` joins by its `headline`
    /// key, when its text could not decide: the oldest story with an indexed version under
    /// the same headline from another source, published within two days of it — unless
    /// both have enough text to compare (`has_sketch` and theirs: their texts differ, or the
    /// fingerprint would have found it), or a source carries the headline on more than one
    /// article (a recurring title: a column, a daily briefing; this source included).
    pub(crate) fn find_by_headline(
        &self,
        headline: i64,
        source: i64,
        published: i64,
        has_sketch: bool,
    ) -> Option<i64> {
        let key = low(headline);
        let mut sources = Vec::new();
        let mut best: Option<i64> = None;
        for at in self.headlines.get(key) {
            let slot = &self.slots[at];
            if slot.headline != headline {
                continue;
            }
            if slot.source == source {
                return None;
            }
            sources.push(slot.source);
            let near = (slot.published - published).abs() <= HEADLINE_WINDOW_MS;
            if near && !(has_sketch && slot.sketch.is_some()) {
                best = Some(best.map_or(slot.story, |b| b.min(slot.story)));
            }
        }
        sources.sort_unstable();
        if sources.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        best
    }

    /// Files an indexed article under another story (the one it was placed in proved to be
    /// gone from the database); an article not indexed is ignored.
    pub(crate) fn refile(&mut self, article: i64, story: i64) {
        if let Some(&at) = self.by_article.get(&article) {
            self.slots[at].story = story;
        }
    }

    /// Removes the given articles (those not indexed are ignored); returns how many went.
    pub(crate) fn remove(&mut self, articles: &[i64]) -> usize {
        let slots: Vec<u32> = articles
            .iter()
            .filter_map(|a| self.by_article.get(a).copied())
            .collect();
        self.free_slots(slots)
    }

    /// Removes the articles published before `before` (Unix milliseconds), which can no
    /// longer be in a new article's window; returns how many went.
    pub(crate) fn prune(&mut self, before: i64) -> usize {
        let slots: Vec<u32> = self
            .by_article
            .values()
            .copied()
            .filter(|&at| self.slots[at].published < before)
            .collect();
        self.free_slots(slots)
    }

    fn free_slots(&mut self, slots: Vec<u32>) -> usize {
        if slots.is_empty() {
            return 0;
        }
        let mut freed = vec![false; self.slots.len()];
        for &at in &slots {
            freed[at as usize] = true;
            self.by_article.remove(&self.slots[at].article);
        }
        // One pass over each table, however many articles go.
        self.keys.retain(|slot| !freed[slot as usize]);
        self.headlines.retain(|slot| !freed[slot as usize]);
        self.free.extend(&slots);
        slots.len()
    }

    /// How many articles are indexed.
    pub(crate) fn len(&self) -> usize {
        self.by_article.len()
    }

    /// Bytes of memory the index holds (its tables' capacity, control bytes included).
    pub(crate) fn memory(&self) -> usize {
        use std::mem::size_of;
        self.slots.memory()
            + self.free.capacity() * size_of::<u32>()
            + self.by_article.capacity() * (size_of::<(i64, u32)>() + 1)
            + self.keys.memory()
            + self.headlines.memory()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(article: i64, story: i64, published: i64, fp: &Fingerprint) -> Entry<'_> {
        Entry {
            article,
            story,
            published,
            sketch: Some((fp.sketch.clone(), &fp.bands)),
            headline: None,
        }
    }

    fn fp(text: &str) -> Fingerprint {
        Fingerprint::of("a headline about nothing much at all", text).expect("enough text")
    }

    const STORY: &str = "<p>The central bank raised its main interest rate by half a point on \
        Tuesday, the third increase this year, citing inflation that has stayed above target \
        for eighteen months and a labour market that shows few signs of cooling.</p>";
    const OTHER: &str = "<p>Heavy rain flooded the lower town overnight and closed two bridges; \
        the river reached its highest level since records began, and the mayor asked \
        residents of the riverside streets to leave their homes before the next high tide.</p>";

    #[test]
    fn finds_within_the_window_and_forgets_what_is_removed() {
        let mut index = Index::default();
        let (a, b) = (fp(STORY), fp(OTHER));
        index.insert(entry(1, 10, 1_000, &a));
        index.insert(entry(2, 20, 1_000, &b));
        assert_eq!(index.find(&a, 1_500, 1_000, 0.5), Some(10));
        assert_eq!(index.find(&b, 1_500, 1_000, 0.5), Some(20));
        // Outside the window.
        assert_eq!(index.find(&a, 5_000, 1_000, 0.5), None);
        assert_eq!(index.remove(&[1, 99]), 1);
        assert_eq!(index.find(&a, 1_500, 1_000, 0.5), None);
        // Its slot is reused, and the other article is still found.
        index.insert(entry(3, 30, 2_000, &a));
        assert_eq!(index.find(&a, 1_500, 1_000, 0.5), Some(30));
        assert_eq!(index.find(&b, 1_500, 1_000, 0.5), Some(20));
        assert_eq!(index.prune(1_500), 1);
        assert_eq!(index.len(), 1);
        assert_eq!(index.find(&b, 1_500, 1_000, 0.5), None);
    }

    #[test]
    fn a_headline_joins_only_where_the_texts_cannot_decide_and_no_source_repeats_it() {
        const DAY: i64 = 24 * 3600 * 1000;
        fn headline(
            article: i64,
            story: i64,
            published: i64,
            source: i64,
            sketch: Option<&Fingerprint>,
        ) -> Entry<'_> {
            Entry {
                article,
                story,
                published,
                sketch: sketch.map(|fp| (fp.sketch.clone(), &fp.bands[..])),
                headline: Some((7, source)),
            }
        }
        let mut index = Index::default();
        let text = fp(STORY);
        index.insert(headline(1, 10, 0, 100, None));
        // Another source, a day later, headline only: the story; three days later: not.
        assert_eq!(index.find_by_headline(7, 200, DAY, false), Some(10));
        assert_eq!(index.find_by_headline(7, 200, 3 * DAY, false), None);
        assert_eq!(index.find_by_headline(8, 200, DAY, false), None);
        // Both with text enough to compare: the fingerprint decides, not the headline.
        index.insert(headline(2, 20, 0, 300, Some(&text)));
        assert_eq!(index.find_by_headline(7, 200, DAY, true), Some(10));
        assert_eq!(index.remove(&[1]), 1);
        assert_eq!(index.find_by_headline(7, 200, DAY, true), None);
        assert_eq!(index.find_by_headline(7, 200, DAY, false), Some(20));
        // The source itself repeats it: never.
        assert_eq!(index.find_by_headline(7, 300, DAY, false), None);
        // Another source carries it twice: a recurring title, for everyone.
        index.insert(headline(3, 30, DAY, 300, None));
        assert_eq!(index.find_by_headline(7, 200, DAY, false), None);
    }
}
