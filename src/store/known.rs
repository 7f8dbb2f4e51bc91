//! What the entries of one fetch match among the stored articles — by the source's entry key,
//! by canonical link from any source, or a tombstone — looked up in a few queries for the
//! whole feed rather than a few per entry (statements, not rows, are what ingest costs).

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

/// What a fetch's articles match in the database.
pub(super) struct Known {
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
        .bind(json(&keys))
        .fetch_all(e)
        .await)?;
        let by_key: HashMap<String, Existing> =
            rows.into_iter().map(|e| (e.matched.clone(), e)).collect();
        let unknown: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !by_key.contains_key(*k))
            .collect();
        let removed: HashSet<String> = if unknown.is_empty() {
            Default::default()
        } else {
            // Still listed: the tombstone lives on while the outlet lists the entry.
            let unknown = json(&unknown);
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
            let links = json(&links);
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
        let mut headlines = HashSet::new();
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
