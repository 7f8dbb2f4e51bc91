//! What the entries of one fetch match among the stored articles — by the source's entry key,
//! by canonical link from any source, or a tombstone — and the source's own row, looked up in
//! one query for the whole feed rather than a few per entry (statements, not rows, are what
//! ingest costs).

use std::collections::{HashMap, HashSet};

use chrono::Utc;

use super::engine::{on_tx, Tx};
use super::{json, millis, StoreError};
use crate::dedup::Keyed;

/// A stored article that an entry of a fetch matches, by the entry's key or link.
#[derive(Clone, sqlx::FromRow)]
pub(super) struct Existing {
    /// The entry key or canonical link it was found by.
    pub(super) matched: String,
    pub(super) id: i64,
    pub(super) source_id: i64,
    pub(super) content_hash: String,
    pub(super) updated: i64,
    pub(super) published: i64,
    pub(super) story_id: Option<i64>,
}

/// A row of [`Known::load`]'s query: which of its lookups found it (`kind`), and what.
#[derive(sqlx::FromRow)]
struct Found {
    /// 0: the source itself (its id, and in `updated` whether it was fetched before); 1: a
    /// stored article, by the entry's key; 2: a tombstone (only its key); 3: a stored
    /// article, by the entry's canonical link.
    kind: i32,
    #[sqlx(flatten)]
    existing: Existing,
}

/// A fetch's source, and what its articles match in the database.
pub(super) struct Known {
    /// The source's id.
    pub(super) source_id: i64,
    /// Whether the source had been fetched before.
    pub(super) polled_before: bool,
    /// By this source's entry key.
    pub(super) by_key: HashMap<String, Existing>,
    /// By canonical link, from any source: the first article stored with it.
    pub(super) by_link: HashMap<String, Existing>,
    /// This source's entries that retention deleted: never stored again.
    pub(super) removed: HashSet<String>,
    /// Headline keys this fetch gives more than one entry: a recurring title, which joins
    /// nothing by headline (its entries are still indexed under it, so that the next fetch
    /// knows the source repeats it).
    pub(super) repeated_headlines: HashSet<i64>,
}

impl Known {
    /// Looks up the source named `source` and what the entries of its fetch, `articles`,
    /// match: one statement (a union of four lookups) however long the feed, and a second
    /// only when an entry has a tombstone, to note that the outlet still lists it. Canonical
    /// links are looked up for every entry, also those found by key, which then go unused:
    /// fewer statements, not fewer rows, is what makes a fetch cheaper to store.
    pub(super) async fn load(
        tx: &mut Tx,
        source: &str,
        articles: &[Keyed],
    ) -> Result<Known, StoreError> {
        let keys: Vec<&str> = articles.iter().map(|k| k.key.as_str()).collect();
        let links: Vec<&str> = articles
            .iter()
            .filter_map(|k| k.canonical_link.as_deref())
            .collect();
        let rows: Vec<Found> = on_tx!(tx, |e| sqlx::query_as(
            "WITH s AS (SELECT id, name, last_success_at FROM sources WHERE name = $1)
             SELECT 0 AS kind, name AS matched, id, id AS source_id, '' AS content_hash,
                    CASE WHEN last_success_at IS NULL THEN 0 ELSE 1 END AS updated,
                    0 AS published, NULL AS story_id
             FROM s
             UNION ALL
             SELECT 1, ap.entry_key, a.id, a.source_id, a.content_hash, a.updated,
                    a.published, a.story_id
             FROM s JOIN appearances ap ON ap.source_id = s.id
                 JOIN articles a ON a.id = ap.article_id
             WHERE ap.entry_key IN (SELECT value FROM json_each($2))
             UNION ALL
             SELECT 2, t.entry_key, 0, t.source_id, '', 0, 0, NULL
             FROM s JOIN tombstones t ON t.source_id = s.id
             WHERE t.entry_key IN (SELECT value FROM json_each($2))
             UNION ALL
             SELECT 3, canonical_link, id, source_id, content_hash, updated, published,
                    story_id
             FROM articles WHERE canonical_link IN (SELECT value FROM json_each($3))",
        )
        .bind(source)
        .bind(json(&keys))
        .bind(json(&links))
        .fetch_all(e)
        .await)?;
        let mut found = None;
        let mut by_key = HashMap::new();
        let mut removed = HashSet::new();
        let mut by_link: HashMap<String, Existing> = HashMap::new();
        for Found { kind, existing } in rows {
            match kind {
                0 => found = Some((existing.id, existing.updated != 0)),
                1 => {
                    by_key.insert(existing.matched.clone(), existing);
                }
                2 => {
                    removed.insert(existing.matched);
                }
                // The first article stored with the link is the one an entry matches.
                _ => match by_link.get(&existing.matched) {
                    Some(first) if first.id < existing.id => {}
                    _ => {
                        by_link.insert(existing.matched.clone(), existing);
                    }
                },
            }
        }
        // Every configured source is registered when the store opens.
        let (source_id, polled_before) =
            found.ok_or(StoreError::Query(sqlx::Error::RowNotFound))?;
        // A key found both ways is the stored article's (as when tombstones were looked up
        // only for the keys not found).
        removed.retain(|k| !by_key.contains_key(k));
        if !removed.is_empty() {
            let removed: Vec<&str> = removed.iter().map(String::as_str).collect();
            on_tx!(tx, |e| sqlx::query(
                "UPDATE tombstones SET last_seen = $3
                 WHERE source_id = $1 AND entry_key IN (SELECT value FROM json_each($2))",
            )
            .bind(source_id)
            .bind(json(&removed))
            .bind(millis(Utc::now()))
            .execute(e)
            .await
            .map(drop))?;
        }
        let mut headlines = HashSet::new();
        let repeated_headlines = articles
            .iter()
            .filter_map(|k| k.headline)
            .filter(|h| !headlines.insert(*h))
            .collect();
        Ok(Known {
            source_id,
            polled_before,
            by_key,
            by_link,
            removed,
            repeated_headlines,
        })
    }
}
