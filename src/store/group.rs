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
use crate::dedup::Fingerprint;

/// What the group's results leave to its end.
#[derive(Default)]
pub(super) struct GroupRows<'k> {
    /// Search index entries of articles stored by this group's results, in the order they
    /// were stored.
    pub(super) search: Vec<Indexed<'k>>,
    /// Sketches of new articles: (article, story, published, fingerprint).
    sketches: Vec<(i64, i64, i64, &'k Fingerprint)>,
    /// Headlines of new articles: (article, story, published, source, headline key).
    headlines: Vec<(i64, i64, i64, i64, i64)>,
}

impl<'k> GroupRows<'k> {
    /// Article `article` of `story`, published at `published`, is indexed for placing others
    /// under `fingerprint` when the group ends.
    pub(super) fn sketch(
        &mut self,
        article: i64,
        story: i64,
        published: i64,
        fingerprint: &'k Fingerprint,
    ) {
        self.sketches.push((article, story, published, fingerprint));
    }

    /// Article `article` of `story`, published at `published` by `source`, is found by its
    /// headline's key `headline` when the group ends.
    pub(super) fn headline(
        &mut self,
        article: i64,
        story: i64,
        published: i64,
        source: i64,
        headline: i64,
    ) {
        self.headlines
            .push((article, story, published, source, headline));
    }

    /// Writes the rows inside `tx`, the group's transaction. Ids the group handed out and what
    /// the parser computed are all they hold, so only a database that cannot be written fails
    /// this, which fails the whole group anyway.
    pub(super) async fn write(&self, tx: &mut Tx) -> Result<(), StoreError> {
        search::index(tx, &self.search).await?;
        write_rows!(
            tx,
            "INSERT INTO sketches (article_id, story_id, sketch, published, bands) ",
            self.sketches,
            |b, row| {
                let &(article, story, published, fp) = row;
                let bands: Vec<u8> = fp.bands.iter().flat_map(|b| b.to_be_bytes()).collect();
                b.push_bind(article)
                    .push_bind(story)
                    .push_bind(fp.sketch.to_bytes())
                    .push_bind(published)
                    .push_bind(bands);
            }
        );
        write_rows!(
            tx,
            "INSERT INTO headlines (article_id, story_id, published, source_id, headline) ",
            self.headlines,
            |b, row| {
                let &(article, story, published, source, headline) = row;
                b.push_bind(article)
                    .push_bind(story)
                    .push_bind(published)
                    .push_bind(source)
                    .push_bind(headline);
            }
        );
        Ok(())
    }
}
