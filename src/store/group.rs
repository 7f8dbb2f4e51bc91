//! The rows a write group's results leave to the end of the group: their new articles'
//! search index entries, sketches and headlines, written in a few statements for the whole
//! group (by the recorder, before it commits) instead of a few for each result.
//!
//! Each statement is a round trip to the database's thread or server, on the writer's path;
//! these rows are the ones nothing else in the group reads: the story index in memory places
//! the group's later articles (it learns of each new one as it is placed), and searches read
//! the search index only once the group has committed. A result that fails is not written at
//! all (the group starts again without it), so its rows go with the transaction they were
//! gathered for.

use super::engine::{write_rows, Tx};
use super::search::{self, Indexed};
use super::StoreError;
use crate::dedup::Keyed;

/// What the group's results leave to its end.
#[derive(Default)]
pub(super) struct GroupRows<'k> {
    /// Search index entries of articles stored by this group's results, in the order they
    /// were stored.
    search: Vec<Indexed<'k>>,
    /// New articles, for their sketches and headlines.
    placed: Vec<Placed<'k>>,
}

/// A new article of the group: its id, story, publication time and source, and the entry
/// that placed it (whose fingerprint and headline key it is indexed under).
struct Placed<'k> {
    article: i64,
    story: i64,
    published: i64,
    source: i64,
    keyed: &'k Keyed,
}

impl<'k> GroupRows<'k> {
    /// Search index entries to write when the group ends.
    pub(super) fn index(&mut self, entries: impl IntoIterator<Item = Indexed<'k>>) {
        self.search.extend(entries);
    }

    /// Writes the search index entries waiting, now: before a stored article's entry is
    /// rewritten, since it may be among them.
    pub(super) async fn index_now(&mut self, tx: &mut Tx) -> Result<(), StoreError> {
        search::index(tx, &self.search).await?;
        self.search.clear();
        Ok(())
    }

    /// Article `article` of `story`, published at `published` by `source`, was placed by
    /// `keyed`: its sketch and headline (if it has them) are written when the group ends.
    pub(super) fn placed(
        &mut self,
        article: i64,
        story: i64,
        published: i64,
        source: i64,
        keyed: &'k Keyed,
    ) {
        self.placed.push(Placed {
            article,
            story,
            published,
            source,
            keyed,
        });
    }

    /// Writes the rows inside `tx`, the group's transaction. Ids the group handed out and what
    /// the parser computed are all they hold, so only a database that cannot be written fails
    /// this, which fails the whole group anyway.
    pub(super) async fn write(&self, tx: &mut Tx) -> Result<(), StoreError> {
        search::index(tx, &self.search).await?;
        let sketched: Vec<_> = self
            .placed
            .iter()
            .filter_map(|p| Some((p, p.keyed.fingerprint.as_ref()?)))
            .collect();
        write_rows!(
            tx,
            "INSERT INTO sketches (article_id, story_id, sketch, published, bands) ",
            sketched,
            |b, row| {
                let (p, fp) = row;
                let bands: Vec<u8> = fp.bands.iter().flat_map(|b| b.to_be_bytes()).collect();
                b.push_bind(p.article)
                    .push_bind(p.story)
                    .push_bind(fp.sketch.to_bytes())
                    .push_bind(p.published)
                    .push_bind(bands);
            }
        );
        let headlined: Vec<_> = self
            .placed
            .iter()
            .filter_map(|p| Some((p, p.keyed.headline?)))
            .collect();
        write_rows!(
            tx,
            "INSERT INTO headlines (article_id, story_id, published, source_id, headline) ",
            headlined,
            |b, row| {
                let (p, headline) = row;
                b.push_bind(p.article)
                    .push_bind(p.story)
                    .push_bind(p.published)
                    .push_bind(p.source)
                    .push_bind(*headline);
            }
        );
        Ok(())
    }
}
