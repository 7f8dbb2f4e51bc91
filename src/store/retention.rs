//! Deleting what is no longer needed: articles past `[storage]`'s `max_age` or
//! `max_per_source`, and the articles of a source removed from the config with
//! `on_remove = "purge"`; then giving an SQLite file's free pages back (incremental vacuum).
//!
//! A story goes whole or not at all, and never while a served feed still shows it. Every
//! entry deleted by retention leaves a tombstone of its identity, so the outlet that still
//! lists it does not bring it back as new.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::engine::{on_pool, on_tx, Tx};
use super::{json, millis, search, Store, StoreError};
use crate::dedup::story::{self, Version};

/// A tombstone whose entry no outlet has listed for this long is deleted.
const TOMBSTONE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// What retention keeps.
#[derive(Debug, Clone, Default)]
pub(crate) struct Retention {
    /// Articles published longer ago than this may go.
    pub(crate) max_age: Option<Duration>,
    /// Each source's articles beyond its newest this many may go.
    pub(crate) max_per_source: Option<u32>,
    /// Entry ids of the stories the served feeds show now: kept whatever their age.
    pub(crate) shown: HashSet<String>,
}

/// What one cleanup removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Stories deleted.
    pub stories: u64,
    /// Articles deleted (every version of those stories).
    pub articles: u64,
    /// Tombstones of entries no outlet lists any more, deleted.
    pub tombstones: u64,
    /// Articles too old to match anything, taken out of the story index (their band keys
    /// deleted).
    pub unindexed: u64,
    /// Bytes the database file shrank by.
    pub bytes_freed: u64,
}

/// The stories every article of which is older than `$1` (ms) or past the `$2` newest of its
/// source, and none of which is shown (`$3`, a JSON list of entry ids).
const EXPIRED_STORIES: &str = "WITH expired AS (
         SELECT id FROM articles WHERE published < $1
         UNION
         SELECT id FROM (
             SELECT id, ROW_NUMBER() OVER (
                 PARTITION BY source_id ORDER BY published DESC, id DESC) AS rank
             FROM articles) AS ranked
         WHERE rank > $2
     )
     SELECT st.id FROM stories st
     WHERE st.entry_id NOT IN (SELECT value FROM json_each($3))
       AND NOT EXISTS (SELECT 1 FROM articles a
                       WHERE a.story_id = st.id
                         AND a.id NOT IN (SELECT id FROM expired))";

impl Store {
    /// Deletes the stories whose every version is past `retention`'s limits (and that no served
    /// feed shows), leaving tombstones of their entries; prunes old tombstones and index keys;
    /// then returns the freed pages to the file system.
    pub(crate) async fn cleanup(
        &self,
        retention: &Retention,
        now: DateTime<Utc>,
    ) -> Result<Removed, StoreError> {
        let size_before = self.file_size().await?;
        let mut removed = Removed::default();
        {
            let mut writer = self.writer.lock().await;
            let mut tx = self.db.begin().await?;
            let cutoff = retention
                .max_age
                .map_or(i64::MIN, |age| millis(now) - duration_ms(age));
            let max = retention.max_per_source.map_or(i64::MAX, i64::from);
            let shown: Vec<&str> = retention.shown.iter().map(String::as_str).collect();
            let shown = json(&shown);
            let stories: Vec<i64> = on_tx!(&mut tx, |e| sqlx::query_scalar(EXPIRED_STORIES,)
                .bind(cutoff)
                .bind(max)
                .bind(&shown)
                .fetch_all(e)
                .await)?;
            let list = json(&stories);
            let articles: Vec<i64> = on_tx!(&mut tx, |e| sqlx::query_scalar(
                "SELECT id FROM articles
                 WHERE story_id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))",
            )
            .bind(&list)
            .fetch_all(e)
            .await)?;
            let list = json(&articles);
            on_tx!(&mut tx, |e| sqlx::query(
                "INSERT INTO tombstones (source_id, entry_key, last_seen)
                 SELECT source_id, entry_key, $2 FROM appearances
                 WHERE article_id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))
                 ON CONFLICT (source_id, entry_key) DO UPDATE SET last_seen = excluded.last_seen",
            )
            .bind(&list)
            .bind(millis(now))
            .execute(e)
            .await
            .map(drop))?;
            delete_articles(&mut tx, &articles, &self.dedup.prefer).await?;
            removed.stories = stories.len() as u64;
            removed.articles = articles.len() as u64;
            removed.tombstones = on_tx!(&mut tx, |e| sqlx::query(
                "DELETE FROM tombstones WHERE last_seen < $1"
            )
            .bind(millis(now) - duration_ms(TOMBSTONE_TTL))
            .execute(e)
            .await
            .map(|r| r.rows_affected()))?;
            // What the rules discarded is forgotten as a tombstone is, once no poll brings it.
            on_tx!(&mut tx, |e| sqlx::query(
                "DELETE FROM discarded WHERE last_seen < $1"
            )
            .bind(millis(now) - duration_ms(TOMBSTONE_TTL))
            .execute(e)
            .await
            .map(drop))?;
            if removed.stories > 0 {
                tx.announce().await?;
            }
            tx.commit().await?;
            if let Some(index) = writer.as_mut() {
                index.remove(&articles);
            }
        }
        if removed.stories > 0 {
            self.changed();
        }
        removed.unindexed = self.unindex_old(now).await?;
        {
            let _writer = self.writer.lock().await;
            self.db.vacuum().await?;
        }
        removed.bytes_freed = size_before.saturating_sub(self.file_size().await?);
        Ok(removed)
    }

    /// Takes articles older than twice the story window out of the near-duplicate index (their
    /// sketches' bands) and the headline index: a new article is not compared with them. Says
    /// how many left the index.
    async fn unindex_old(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let too_old = millis(now) - 2 * duration_ms(self.dedup.window);
        let mut writer = self.writer.lock().await;
        let unindexed = on_pool!(&self.db, |p| sqlx::query(
            "UPDATE sketches SET bands = NULL WHERE bands IS NOT NULL AND published < $1",
        )
        .bind(too_old)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        on_pool!(&self.db, |p| sqlx::query(
            "DELETE FROM headlines WHERE published < $1"
        )
        .bind(too_old)
        .execute(p)
        .await
        .map(drop))?;
        if let Some(index) = writer.as_mut() {
            index.prune(too_old);
        }
        Ok(unindexed)
    }

    /// Deletes the source named `name` and the articles only it carried. An article another
    /// outlet also carries stays, under that outlet's headline and link; a story that loses its
    /// representative is represented by its earliest remaining version. Returns how many
    /// articles were deleted.
    pub async fn purge_source(&self, name: &str) -> Result<u64, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = self.db.begin().await?;
        let Some(source_id): Option<i64> = on_tx!(&mut tx, |e| sqlx::query_scalar(
            "SELECT id FROM sources WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(e)
        .await)?
        else {
            return Ok(0);
        };
        let articles = drop_appearances(&mut tx, source_id, None, &self.dedup.prefer).await?;
        for statement in [
            "DELETE FROM tombstones WHERE source_id = $1",
            "DELETE FROM discarded WHERE source_id = $1",
            "DELETE FROM sources WHERE id = $1",
        ] {
            on_tx!(&mut tx, |e| sqlx::query(statement)
                .bind(source_id)
                .execute(e)
                .await
                .map(drop))?;
        }
        tx.announce().await?;
        tx.commit().await?;
        if let Some(index) = writer.as_mut() {
            index.remove(&articles);
        }
        self.changed();
        Ok(articles.len() as u64)
    }
}

/// Takes `source_id`'s appearances off its articles (only those of `only`, if given): an
/// article another outlet also carries stays, under that outlet's headline and link (the
/// search index learns it); the others are deleted (`delete_articles`), and returned.
pub(super) async fn drop_appearances(
    tx: &mut Tx,
    source_id: i64,
    only: Option<&[i64]>,
    prefer: &[String],
) -> Result<Vec<i64>, StoreError> {
    let only = only.map(json);
    on_tx!(tx, |e| sqlx::query(
        "DELETE FROM appearances WHERE source_id = $1
           AND ($2 IS NULL OR article_id IN (SELECT CAST(value AS BIGINT) FROM json_each($2)))"
    )
    .bind(source_id)
    .bind(&only)
    .execute(e)
    .await
    .map(drop))?;
    // The articles another outlet also carries: they take its headline, which the search
    // index learns too.
    let kept: Vec<i64> = on_tx!(tx, |e| sqlx::query_scalar(
        "SELECT id FROM articles a WHERE a.source_id = $1
           AND ($2 IS NULL OR a.id IN (SELECT CAST(value AS BIGINT) FROM json_each($2)))
           AND EXISTS (SELECT 1 FROM appearances ap WHERE ap.article_id = a.id)"
    )
    .bind(source_id)
    .bind(&only)
    .fetch_all(e)
    .await)?;
    on_tx!(tx, |e| sqlx::query(
        "UPDATE articles SET source_id = ap.source_id, title = ap.title,
             link = COALESCE(ap.link, articles.link)
         FROM (SELECT article_id, source_id, title, link,
                      ROW_NUMBER() OVER (PARTITION BY article_id ORDER BY first_seen) AS n
               FROM appearances) AS ap
         WHERE ap.article_id = articles.id AND ap.n = 1 AND articles.source_id = $1
           AND ($2 IS NULL OR articles.id IN (SELECT CAST(value AS BIGINT) FROM json_each($2)))",
    )
    .bind(source_id)
    .bind(&only)
    .execute(e)
    .await
    .map(drop))?;
    search::reindex(tx, &kept).await?;
    let articles: Vec<i64> = on_tx!(tx, |e| sqlx::query_scalar(
        "SELECT id FROM articles WHERE source_id = $1
           AND ($2 IS NULL OR id IN (SELECT CAST(value AS BIGINT) FROM json_each($2)))"
    )
    .bind(source_id)
    .bind(&only)
    .fetch_all(e)
    .await)?;
    delete_articles(tx, &articles, prefer).await?;
    Ok(articles)
}

/// Deletes `articles` with their sketches, headlines and appearances; deletes the stories
/// left without articles, and gives those that lost their representative the version that
/// represents it now (by the rule ingest follows, with `[dedup].prefer`).
async fn delete_articles(
    tx: &mut Tx,
    articles: &[i64],
    prefer: &[String],
) -> Result<(), StoreError> {
    if articles.is_empty() {
        return Ok(());
    }
    // Stories and articles point at each other; the checks hold again at commit.
    tx.defer_foreign_keys().await?;
    let list = json(articles);
    let stories: Vec<i64> = on_tx!(tx, |e| sqlx::query_scalar(
        "SELECT DISTINCT story_id FROM articles
         WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each($1)) AND story_id IS NOT NULL",
    )
    .bind(&list)
    .fetch_all(e)
    .await)?;
    search::unindex(tx, &list).await?;
    for statement in [
        "DELETE FROM sketches
         WHERE article_id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))",
        "DELETE FROM headlines
         WHERE article_id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))",
        "DELETE FROM appearances
         WHERE article_id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))",
        "DELETE FROM articles WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))",
    ] {
        on_tx!(tx, |e| sqlx::query(statement)
            .bind(&list)
            .execute(e)
            .await
            .map(drop))?;
    }
    let stories = json(&stories);
    on_tx!(tx, |e| sqlx::query(
        "DELETE FROM stories WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))
           AND NOT EXISTS (SELECT 1 FROM articles a WHERE a.story_id = stories.id)",
    )
    .bind(&stories)
    .execute(e)
    .await
    .map(drop))?;
    // The versions left of the stories that lost their representative.
    let left: Vec<(i64, i64, String, i64)> = on_tx!(tx, |e| sqlx::query_as(
        "SELECT a.story_id, a.id, s.name, a.published
         FROM stories st
         JOIN articles a ON a.story_id = st.id
         JOIN sources s ON s.id = a.source_id
         WHERE st.id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))
           AND st.representative NOT IN (SELECT id FROM articles)",
    )
    .bind(&stories)
    .fetch_all(e)
    .await)?;
    let mut versions: HashMap<i64, Vec<Version>> = HashMap::new();
    for (story, article, source, published) in &left {
        versions.entry(*story).or_default().push(Version {
            article: *article,
            source,
            published: *published,
        });
    }
    for (story, versions) in versions {
        let Some(v) = story::representative(prefer, versions) else {
            continue;
        };
        on_tx!(tx, |e| sqlx::query(
            "UPDATE stories SET representative = $2, published = $3 WHERE id = $1"
        )
        .bind(story)
        .bind(v.article)
        .bind(v.published)
        .execute(e)
        .await
        .map(drop))?;
    }
    Ok(())
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
