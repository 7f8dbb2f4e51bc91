//! What the rules keep out: the entries they discarded, remembered per source by entry key
//! (counted on `/status` and by `feedmerge sources`); and, for `feedmerge reapply`, the
//! stored articles a source's rules are applied to again, and the removal of those they
//! now discard.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::engine::{on_pool, on_tx, write_rows, Tx};
use super::retention::drop_appearances;
use super::{from_millis, media_of, millis, Store, StoreError};
use crate::parse::Article;
use crate::rules::Discarded;

/// A stored article of a source, as `reapply` reads it: its id, the source's entry key for
/// it, and its fields as an article.
#[derive(Debug)]
pub(crate) struct StoredArticle {
    /// The article's id.
    pub(crate) id: i64,
    /// The source's entry key.
    pub(crate) key: String,
    /// Its stored fields.
    pub(crate) article: Article,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    entry_key: String,
    title: String,
    link: Option<String>,
    summary: Option<String>,
    content: Option<String>,
    plain_text: Option<String>,
    authors: String,
    categories: String,
    published: i64,
    updated: i64,
    media: Option<String>,
}

/// The id of the source `name`, if it is registered.
async fn source_id(tx: &mut Tx, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(on_tx!(tx, |e| sqlx::query_scalar(
        "SELECT id FROM sources WHERE name = $1"
    )
    .bind(name)
    .fetch_optional(e)
    .await)?)
}

/// Remembers `discarded`, entries of `source` a rule kept out at `now`, inside `tx`.
pub(super) async fn remember(
    tx: &mut Tx,
    source: &str,
    discarded: &[Discarded],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if discarded.is_empty() {
        return Ok(());
    }
    let Some(source_id) = source_id(tx, source).await? else {
        return Ok(());
    };
    // One row per key: a statement may not update a row twice.
    let mut seen = HashSet::new();
    let rows: Vec<&Discarded> = discarded
        .iter()
        .filter(|d| seen.insert(d.key.as_str()))
        .collect();
    let now = millis(now);
    write_rows!(
        tx,
        "INSERT INTO discarded (source_id, entry_key, rule, last_seen) ",
        " ON CONFLICT (source_id, entry_key)
          DO UPDATE SET rule = excluded.rule, last_seen = excluded.last_seen",
        rows,
        |b, d| {
            b.push_bind(source_id)
                .push_bind(d.key.clone())
                .push_bind(d.rule as i64)
                .push_bind(now);
        }
    );
    Ok(())
}

impl Store {
    /// How many entries each source's rules have discarded, by source name.
    pub(crate) async fn discarded_counts(&self) -> Result<HashMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(&self.db, |e| sqlx::query_as(
            "SELECT s.name, COUNT(*) FROM discarded d JOIN sources s ON s.id = d.source_id
             GROUP BY s.name"
        )
        .fetch_all(e)
        .await)?;
        Ok(rows.into_iter().collect())
    }

    /// The id of the newest article stored (0 when there is none).
    pub(crate) async fn newest_article(&self) -> Result<i64, StoreError> {
        Ok(on_pool!(&self.db, |e| sqlx::query_scalar(
            "SELECT COALESCE(MAX(id), 0) FROM articles"
        )
        .fetch_one(e)
        .await)?)
    }

    /// Up to `limit` of the articles `source` carries first, with ids above `after` and up
    /// to `upto`, in id order.
    pub(crate) async fn stored_articles(
        &self,
        source: &str,
        (after, upto): (i64, i64),
        limit: u32,
    ) -> Result<Vec<StoredArticle>, StoreError> {
        let rows: Vec<Row> = on_pool!(&self.db, |e| sqlx::query_as(
            "SELECT a.id, ap.entry_key, a.title, a.link, a.summary, a.content, a.plain_text,
                    a.authors, a.categories, a.published, a.updated, a.media
             FROM articles a
             JOIN sources s ON s.id = a.source_id
             JOIN appearances ap ON ap.article_id = a.id AND ap.source_id = a.source_id
             WHERE s.name = $1 AND a.id > $2 AND a.id <= $3
             ORDER BY a.id LIMIT $4"
        )
        .bind(source)
        .bind(after)
        .bind(upto)
        .bind(i64::from(limit))
        .fetch_all(e)
        .await)?;
        Ok(rows.into_iter().map(StoredArticle::from).collect())
    }

    /// Takes `articles` (each an article id, with its entry when a rule discarded it) out of
    /// what `source` carries, remembering each discarded entry: an article another outlet
    /// also carries stays, under that outlet's headline; the others are deleted, and their
    /// stories with them or represented by their earliest remaining version.
    pub(crate) async fn take_out(
        &self,
        source: &str,
        articles: &[(i64, Option<Discarded>)],
    ) -> Result<(), StoreError> {
        if articles.is_empty() {
            return Ok(());
        }
        let mut writer = self.writer.lock().await;
        let mut tx = self.db.begin().await?;
        let Some(source_id) = source_id(&mut tx, source).await? else {
            return Ok(());
        };
        let ids: Vec<i64> = articles.iter().map(|(id, _)| *id).collect();
        let deleted = drop_appearances(&mut tx, source_id, Some(&ids), &self.dedup.prefer).await?;
        let entries: Vec<Discarded> = articles.iter().filter_map(|(_, d)| d.clone()).collect();
        remember(&mut tx, source, &entries, Utc::now()).await?;
        tx.announce().await?;
        tx.commit().await?;
        if let Some(index) = writer.as_mut() {
            index.remove(&deleted);
        }
        self.changed();
        Ok(())
    }
}

impl From<Row> for StoredArticle {
    fn from(r: Row) -> StoredArticle {
        let text = r.plain_text.unwrap_or_else(|| {
            crate::parse::text_of_html(r.content.as_deref().or(r.summary.as_deref()).unwrap_or(""))
        });
        StoredArticle {
            id: r.id,
            article: Article {
                guid: r.entry_key.strip_prefix("guid:").map(str::to_owned),
                link: r.link,
                title: r.title,
                summary: r.summary,
                content: r.content,
                text,
                authors: serde_json::from_str(&r.authors).unwrap_or_default(),
                categories: serde_json::from_str(&r.categories).unwrap_or_default(),
                published: Some(from_millis(r.published)),
                updated: Some(from_millis(r.updated)),
                media: media_of(r.media.as_deref()),
            },
            key: r.entry_key,
        }
    }
}
