//! The story index in memory ([`Index`]): loaded from the `sketches` and `headlines` tables
//! when first needed, caught up with what other processes stored, and changed only with the
//! transactions it mirrors (what a transaction added is taken out again unless it commits).

use chrono::{DateTime, Utc};

use super::engine::{on_pool, Db};
use super::{millis, Store, StoreError};
use crate::config::Dedup;
use crate::dedup::{Entry, Fingerprint, Index, Keyed, Sketch, BANDS};

/// The story index inside one write transaction: what the transaction adds to it is taken
/// out again unless it commits (when it fails, or its future is dropped, the database rolls
/// back too).
pub(super) struct Pending<'i> {
    /// The index, or `None` while it is not loaded.
    slot: &'i mut Option<Index>,
    db: &'i Db,
    /// Whether the index holds what other processes committed before this transaction.
    caught_up: bool,
    added: Vec<i64>,
    committed: bool,
}

impl<'i> Pending<'i> {
    /// The index in `slot` (the writer lock's) for one transaction on `db`.
    pub(super) fn new(slot: &'i mut Option<Index>, db: &'i Db) -> Pending<'i> {
        Pending {
            slot,
            db,
            caught_up: false,
            added: Vec::new(),
            committed: false,
        }
    }

    /// The index, loaded if need be, with what other processes stored before this
    /// transaction began (which holds the database's write lock: no more can come).
    pub(super) async fn index(&mut self) -> Result<&mut Index, StoreError> {
        if !self.caught_up {
            caught_up(self.slot, self.db).await?;
            self.caught_up = true;
        }
        Ok(self.slot.get_or_insert_with(Index::default))
    }

    /// Places `article` of `source` (the entry `keyed`) in `story`, under its fingerprint and
    /// headline, for as long as the transaction commits.
    pub(super) async fn insert(
        &mut self,
        article: i64,
        story: i64,
        published: i64,
        source: i64,
        keyed: &Keyed,
    ) -> Result<(), StoreError> {
        self.index().await?.insert(Entry {
            article,
            story,
            published,
            sketch: keyed
                .fingerprint
                .as_ref()
                .map(|fp| (fp.sketch.clone(), &fp.bands[..])),
            headline: keyed.headline.map(|h| (h, source)),
        });
        self.added.push(article);
        Ok(())
    }

    /// Files `article`, placed by this transaction, under `story` instead.
    pub(super) fn refile(&mut self, article: i64, story: i64) {
        if let Some(index) = self.slot.as_mut() {
            index.refile(article, story);
        }
    }

    /// The transaction committed: what it added stays.
    pub(super) fn commit(&mut self) {
        self.committed = true;
        if let (Some(index), Some(&newest)) = (self.slot.as_mut(), self.added.iter().max()) {
            index.saw(newest);
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let (false, Some(index)) = (self.committed, self.slot.as_mut()) {
            index.remove(&self.added);
        }
    }
}

impl Store {
    /// The stored story that an article with fingerprint `fp`, published at `published`,
    /// would join, if any: what storing it decides, without storing it.
    pub async fn find_story(
        &self,
        fp: &Fingerprint,
        published: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let mut writer = self.writer.lock().await;
        let index = caught_up(&mut writer, &self.db).await?;
        Ok(index.find(
            fp,
            millis(published),
            window_ms(&self.dedup),
            self.dedup.threshold,
        ))
    }

    /// Bytes of memory the story index holds, and how many articles it holds.
    pub async fn index_memory(&self) -> Result<(usize, usize), StoreError> {
        let mut writer = self.writer.lock().await;
        let index = caught_up(&mut writer, &self.db).await?;
        Ok((index.memory(), index.len()))
    }
}

/// The story index in `slot` (the writer lock's), holding every stored sketch that still has
/// its band keys, and every stored headline key (retention takes both from articles too old
/// to match, and the index prunes the same). Read whole the first time, when an article must be placed and not before, so
/// that a poll where nothing is new never pays for it; after that, only what other processes
/// stored since it last looked (replicas on one PostgreSQL database, or `feedmerge fetch`
/// beside the daemon on one SQLite file): one look up the primary key when there is nothing.
pub(super) async fn caught_up<'g>(
    slot: &'g mut Option<Index>,
    db: &Db,
) -> Result<&'g mut Index, StoreError> {
    use futures_util::TryStreamExt;
    let first = slot.is_none();
    let index = slot.get_or_insert_with(Index::default);
    let (started, before, after) = (std::time::Instant::now(), index.len(), index.newest());
    let mut newest = after;
    on_pool!(db, |p| {
        let mut rows = sqlx::query_as::<_, (i64, i64, i64, Vec<u8>, Vec<u8>)>(
            "SELECT article_id, story_id, published, sketch, bands FROM sketches
             WHERE article_id > $1 AND bands IS NOT NULL",
        )
        .bind(after)
        .fetch(p);
        while let Some((article, story, published, sketch, bands)) = rows.try_next().await? {
            newest = newest.max(article);
            if let (Some(sketch), Some(bands)) = (Sketch::from_bytes(&sketch), bands_of(&bands)) {
                index.insert(Entry {
                    article,
                    story,
                    published,
                    sketch: Some((sketch, &bands)),
                    headline: None,
                });
            }
        }
    });
    on_pool!(db, |p| {
        let mut rows = sqlx::query_as::<_, (i64, i64, i64, i64, i64)>(
            "SELECT article_id, story_id, published, source_id, headline FROM headlines
             WHERE article_id > $1",
        )
        .bind(after)
        .fetch(p);
        while let Some((article, story, published, source, headline)) = rows.try_next().await? {
            newest = newest.max(article);
            index.insert(Entry {
                article,
                story,
                published,
                sketch: None,
                headline: Some((headline, source)),
            });
        }
    });
    // Only once every row is in: a read cut short is read again from where it began (an
    // article already indexed stays as it is).
    index.saw(newest);
    if first {
        tracing::info!(
            articles = index.len(),
            mib = index.memory() / (1 << 20),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "story index loaded"
        );
    } else if index.len() > before {
        tracing::debug!(
            articles = index.len() - before,
            "story index caught up with other processes"
        );
    }
    Ok(index)
}

/// `[dedup].window` in milliseconds.
pub(super) fn window_ms(dedup: &Dedup) -> i64 {
    i64::try_from(dedup.window.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Band keys as `sketches.bands` stores them: 64-bit big-endian values, one after another.
fn bands_of(bytes: &[u8]) -> Option<[i64; BANDS]> {
    if bytes.len() != 8 * BANDS {
        return None;
    }
    let mut bands = [0i64; BANDS];
    for (band, chunk) in bands.iter_mut().zip(bytes.chunks_exact(8)) {
        *band = i64::from_be_bytes(chunk.try_into().ok()?);
    }
    Some(bands)
}
