//! Storing the articles of one fetch inside its transaction: each recognised by its source's
//! entry key, else by its canonical link, else placed in the story it is a version of (by its
//! text, else by its headline), or a story of its own. The rules that decide (who may edit,
//! which version represents a story, where a story is placed) are `dedup`'s; this file
//! applies them to rows.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::engine::{on_tx, Tx};
use super::record::Counts;
use super::story_index::{window_ms, Pending};
use super::{json, media_json, millis, StoreError};
use crate::config::Dedup;
use crate::dedup::story::{self, Version};
use crate::dedup::Keyed;

/// A stored article that an entry of a fetch matches, by the entry's key or link.
#[derive(Clone, sqlx::FromRow)]
pub(super) struct Existing {
    /// The entry key or canonical link it was found by.
    matched: String,
    id: i64,
    source_id: i64,
    content_hash: String,
    updated: i64,
    published: i64,
    story_id: Option<i64>,
}

/// What a fetch's articles match in the database, looked up in two queries for the whole
/// feed rather than two per article (statements, not rows, are what ingest costs).
pub(super) struct Known {
    /// By this source's entry key.
    by_key: HashMap<String, Existing>,
    /// By canonical link, from any source: the first article stored with it.
    by_link: HashMap<String, Existing>,
    /// This source's entries that retention deleted: never stored again.
    removed: std::collections::HashSet<String>,
    /// Headline keys this fetch gives more than one entry: a recurring title, which joins
    /// nothing by headline (its entries are still indexed under it, so that the next fetch
    /// knows the source repeats it).
    repeated_headlines: std::collections::HashSet<i64>,
}

impl Known {
    pub(super) async fn load(
        tx: &mut Tx,
        source_id: i64,
        articles: &[Keyed],
    ) -> Result<Known, StoreError> {
        let keys: Vec<&str> = articles.iter().map(|k| k.key.as_str()).collect();
        let rows: Vec<Existing> = on_tx!(tx, |e| sqlx::query_as(
            "SELECT ap.entry_key AS matched, a.id, a.source_id, a.content_hash, a.updated,
                    a.published, a.story_id
             FROM appearances ap JOIN articles a ON a.id = ap.article_id
             WHERE ap.source_id = $1 AND ap.entry_key IN (SELECT value FROM json_each($2))",
        )
        .bind(source_id)
        .bind(serde_json::Value::from(keys.clone()).to_string())
        .fetch_all(e)
        .await)?;
        let by_key: HashMap<String, Existing> =
            rows.into_iter().map(|e| (e.matched.clone(), e)).collect();
        let unknown: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !by_key.contains_key(*k))
            .collect();
        let removed: std::collections::HashSet<String> = if unknown.is_empty() {
            Default::default()
        } else {
            // Still listed: the tombstone lives on while the outlet lists the entry.
            let unknown = serde_json::Value::from(unknown).to_string();
            let removed: Vec<String> = on_tx!(tx, |e| sqlx::query_scalar(
                "UPDATE tombstones SET last_seen = $3
                 WHERE source_id = $1 AND entry_key IN (SELECT value FROM json_each($2))
                 RETURNING entry_key",
            )
            .bind(source_id)
            .bind(&unknown)
            .bind(millis(Utc::now()))
            .fetch_all(e)
            .await)?;
            removed.into_iter().collect()
        };
        let links: Vec<&str> = articles
            .iter()
            .filter(|k| !by_key.contains_key(&k.key) && !removed.contains(&k.key))
            .filter_map(|k| k.canonical_link.as_deref())
            .collect();
        let mut by_link = HashMap::new();
        if !links.is_empty() {
            let links = serde_json::Value::from(links).to_string();
            let rows: Vec<Existing> = on_tx!(tx, |e| sqlx::query_as(
                "SELECT canonical_link AS matched, id, source_id, content_hash, updated,
                        published, story_id
                 FROM articles
                 WHERE canonical_link IN (SELECT value FROM json_each($1))
                 ORDER BY id DESC",
            )
            .bind(&links)
            .fetch_all(e)
            .await)?;
            // Newest first, so the oldest (the first stored) is the one left in the map.
            for e in rows {
                by_link.insert(e.matched.clone(), e);
            }
        }
        let mut headlines = std::collections::HashSet::new();
        let repeated_headlines = articles
            .iter()
            .filter_map(|k| k.headline)
            .filter(|h| !headlines.insert(*h))
            .collect();
        Ok(Known {
            by_key,
            by_link,
            removed,
            repeated_headlines,
        })
    }
}

/// Stores the articles of one fetch, inside its transaction.
pub(super) struct Ingest<'a, 'i> {
    pub(super) tx: &'a mut Tx,
    pub(super) source: &'a str,
    pub(super) source_id: i64,
    /// Whether the source had been fetched before: its first fetch brings its backlog.
    pub(super) polled_before: bool,
    pub(super) dedup: &'a Dedup,
    pub(super) pending: &'a mut Pending<'i>,
    pub(super) now: DateTime<Utc>,
    pub(super) counts: &'a mut Counts,
}

impl Ingest<'_, '_> {
    /// Stores one article: recognised by this source's key, else by its canonical link from
    /// any source (both looked up beforehand, in `known`), else new — as a version of a stored
    /// story if its text is nearly the same as one's, else as a story of its own.
    pub(super) async fn article(
        &mut self,
        keyed: &Keyed,
        known: &mut Known,
    ) -> Result<(), StoreError> {
        if known.removed.contains(&keyed.key) {
            self.counts.unchanged += 1;
            return Ok(());
        }
        let existing = match known.by_key.get(&keyed.key) {
            Some(e) => Some(e.clone()),
            None => {
                let by_link = keyed
                    .canonical_link
                    .as_ref()
                    .and_then(|l| known.by_link.get(l))
                    .cloned();
                if let Some(e) = &by_link {
                    let published = keyed.article.published.map_or(millis(self.now), millis);
                    if e.source_id != self.source_id && published < e.published {
                        // The same page, which this outlet dated earlier than the one whose
                        // copy is stored: stored as its own version of the story, so that the
                        // story can be published as the earliest version.
                        return self.insert(keyed, known, e.story_id).await;
                    }
                    // Remember this source's entry, so its next poll finds it by key.
                    remember_appearance(self.tx, self.source_id, keyed, e.id, self.now).await?;
                    if e.source_id != self.source_id {
                        self.counts.merged += 1;
                        return Ok(());
                    }
                }
                by_link
            }
        };
        match existing {
            Some(e)
                if story::edits(
                    e.source_id,
                    &e.content_hash,
                    self.source_id,
                    &keyed.content_hash,
                ) =>
            {
                self.edit(keyed, &e).await?
            }
            Some(_) => self.counts.unchanged += 1,
            None => self.insert(keyed, known, None).await?,
        }
        Ok(())
    }

    /// Stores the new text of an article its source edited. The story's `updated` follows
    /// only if this article is the one the story publishes.
    async fn edit(&mut self, keyed: &Keyed, e: &Existing) -> Result<(), StoreError> {
        let a = &keyed.article;
        let updated = a
            .updated
            .map(millis)
            .filter(|u| *u > e.updated)
            .unwrap_or_else(|| millis(self.now).max(e.updated + 1));
        on_tx!(self.tx, |c| sqlx::query(
            "UPDATE articles SET title = $2, link = $3, summary = $4, content = $5,
                 authors = $6, categories = $7, updated = $8, content_hash = $9,
                 canonical_link = COALESCE($10, canonical_link), media = $11, plain_text = $12
             WHERE id = $1",
        )
        .bind(e.id)
        .bind(&a.title)
        .bind(&a.link)
        .bind(&a.summary)
        .bind(&a.content)
        .bind(json(&a.authors))
        .bind(json(&a.categories))
        .bind(updated)
        .bind(&keyed.content_hash)
        .bind(&keyed.canonical_link)
        .bind(media_json(&a.media))
        .bind(&a.text)
        .execute(c)
        .await
        .map(drop))?;
        on_tx!(self.tx, |c| sqlx::query(
            "UPDATE stories SET updated = CASE WHEN updated > $2 THEN updated ELSE $2 END
             WHERE id = (SELECT story_id FROM articles WHERE id = $1) AND representative = $1",
        )
        .bind(e.id)
        .bind(updated)
        .execute(c)
        .await
        .map(drop))?;
        self.counts.updated += 1;
        Ok(())
    }

    /// Stores an article seen for the first time, in `story` if given, else in the story it
    /// is a version of, or in a new one.
    async fn insert(
        &mut self,
        keyed: &Keyed,
        known: &mut Known,
        story: Option<i64>,
    ) -> Result<(), StoreError> {
        let a = &keyed.article;
        // An entry without a date is dated when first seen, once.
        let published = millis(a.published.unwrap_or(self.now));
        let updated = a.updated.map_or(published, millis).max(published);
        let entry_id = blake3::hash(format!("{}\n{}", self.source, keyed.key).as_bytes()).to_hex()
            [..32]
            .to_owned();
        let story = match story {
            Some(story) => Some(story),
            None => {
                let index = self.pending.index().await?;
                let by_text = keyed.fingerprint.as_ref().and_then(|fp| {
                    index.find(fp, published, window_ms(self.dedup), self.dedup.threshold)
                });
                by_text.or_else(|| {
                    let headline = keyed
                        .headline
                        .filter(|h| !known.repeated_headlines.contains(h))?;
                    let has_text = keyed.fingerprint.is_some();
                    index.find_by_headline(headline, self.source_id, published, has_text)
                })
            }
        };
        // The story it joins, with the source and date of the version that represents it.
        // Looked up, not assumed: a story another process deleted (`feedmerge cleanup` beside
        // the daemon) may still be in this process's index; the article then starts a story.
        let joined: Option<(i64, i64, String, i64)> = match story {
            Some(story) => on_tx!(self.tx, |e| sqlx::query_as(
                "SELECT st.id, st.representative, s.name, st.published FROM stories st
                 JOIN articles a ON a.id = st.representative
                 JOIN sources s ON s.id = a.source_id
                 WHERE st.id = $1",
            )
            .bind(story)
            .fetch_optional(e)
            .await)?,
            None => None,
        };
        let article_id: i64 = on_tx!(self.tx, |e| sqlx::query_scalar(
            "INSERT INTO articles (entry_id, source_id, canonical_link, link, title, summary,
                 content, authors, categories, published, updated, first_seen, content_hash,
                 story_id, media, plain_text)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             RETURNING id",
        )
        .bind(&entry_id)
        .bind(self.source_id)
        .bind(&keyed.canonical_link)
        .bind(&a.link)
        .bind(&a.title)
        .bind(&a.summary)
        .bind(&a.content)
        .bind(json(&a.authors))
        .bind(json(&a.categories))
        .bind(published)
        .bind(updated)
        .bind(millis(self.now))
        .bind(&keyed.content_hash)
        .bind(joined.as_ref().map(|j| j.0))
        .bind(media_json(&a.media))
        .bind(&a.text)
        .fetch_one(e)
        .await)?;
        let story = match joined {
            Some((story, representative, current, current_published)) => {
                // Its `updated` stays whichever version represents it: readers already have
                // the story, and a re-run is not news.
                let mine = Version {
                    article: article_id,
                    source: self.source,
                    published,
                };
                let theirs = Version {
                    article: representative,
                    source: &current,
                    published: current_published,
                };
                if story::represents(&self.dedup.prefer, &mine, &theirs) {
                    on_tx!(self.tx, |e| sqlx::query(
                        "UPDATE stories SET representative = $2, published = $3 WHERE id = $1",
                    )
                    .bind(story)
                    .bind(article_id)
                    .bind(published)
                    .execute(e)
                    .await
                    .map(drop))?;
                }
                self.counts.merged += 1;
                story
            }
            None => {
                let now = millis(self.now);
                let sort_at = story::placed_at(published, now, self.polled_before);
                let story: i64 = on_tx!(self.tx, |e| {
                    sqlx::query_scalar(
                    "INSERT INTO stories (entry_id, representative, published, updated, first_seen,
                         sort_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     RETURNING id",
                )
                .bind(&entry_id)
                .bind(article_id)
                .bind(published)
                .bind(updated)
                .bind(now)
                .bind(sort_at)
                .fetch_one(e)
                .await
                })?;
                on_tx!(self.tx, |e| sqlx::query(
                    "UPDATE articles SET story_id = $2 WHERE id = $1"
                )
                .bind(article_id)
                .bind(story)
                .execute(e)
                .await
                .map(drop))?;
                self.counts.new += 1;
                story
            }
        };
        if let Some(fp) = &keyed.fingerprint {
            on_tx!(self.tx, |e| sqlx::query(
                "INSERT INTO sketches (article_id, story_id, sketch, published, bands)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(article_id)
            .bind(story)
            .bind(fp.sketch.to_bytes())
            .bind(published)
            .bind(
                fp.bands
                    .iter()
                    .flat_map(|b| b.to_be_bytes())
                    .collect::<Vec<u8>>(),
            )
            .execute(e)
            .await
            .map(drop))?;
        }
        if let Some(headline) = keyed.headline {
            on_tx!(self.tx, |e| sqlx::query(
                "INSERT INTO headlines (article_id, story_id, published, source_id, headline)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(article_id)
            .bind(story)
            .bind(published)
            .bind(self.source_id)
            .bind(headline)
            .execute(e)
            .await
            .map(drop))?;
        }
        if keyed.fingerprint.is_some() || keyed.headline.is_some() {
            self.pending
                .insert(article_id, story, published, self.source_id, keyed)
                .await?;
        }
        if let Some(link) = &keyed.canonical_link {
            // A later entry of this same feed with the same link is this article.
            known.by_link.entry(link.clone()).or_insert(Existing {
                matched: link.clone(),
                id: article_id,
                published,
                story_id: Some(story),
                source_id: self.source_id,
                content_hash: keyed.content_hash.clone(),
                updated,
            });
        }
        remember_appearance(self.tx, self.source_id, keyed, article_id, self.now).await?;
        Ok(())
    }
}

/// Records that `source_id` carries `article_id` as the entry `keyed`, so that its next poll
/// recognises the entry by key and the article credits the outlet.
async fn remember_appearance(
    tx: &mut Tx,
    source_id: i64,
    keyed: &Keyed,
    article_id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO appearances (source_id, entry_key, article_id, link, title, first_seen,
             published)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(source_id)
    .bind(&keyed.key)
    .bind(article_id)
    .bind(&keyed.article.link)
    .bind(&keyed.article.title)
    .bind(millis(now))
    .bind(keyed.article.published.map(millis))
    .execute(e)
    .await
    .map(drop))?;
    Ok(())
}
