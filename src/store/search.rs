//! Full-text search's index of every article's search terms (SQLite FTS5, PostgreSQL
//! tsvectors under GIN), written in the transaction that writes the article, built after the
//! migration for articles stored before it, emptied with the articles retention removes. The
//! query that finds stories in it is `find.rs`'s.

use std::borrow::Cow;

use super::engine::{on_pool, on_tx, write_rows, Tx};
use super::{json, Store, StoreError};
use crate::parse::{indexed, SearchTerms};

/// Articles indexed per transaction when building the index for older articles.
const BACKLOG_BATCH: i64 = 500;

/// One article's entry in the index: its headline's terms and its text's, and its story.
#[derive(Debug)]
pub(super) struct Indexed<'a> {
    id: i64,
    story: i64,
    title: Cow<'a, str>,
    body: Cow<'a, str>,
}

impl<'a> Indexed<'a> {
    /// The entry of article `id` of story `story`, titled `title`, whose plain text is
    /// `text`.
    pub(super) fn of(id: i64, story: i64, title: &str, text: &str) -> Indexed<'a> {
        Indexed {
            id,
            story,
            title: Cow::Owned(indexed(title)),
            body: Cow::Owned(indexed(text)),
        }
    }

    /// The entry of article `id` of story `story`, whose terms were found as it was parsed.
    pub(super) fn terms(id: i64, story: i64, terms: &'a SearchTerms) -> Indexed<'a> {
        Indexed {
            id,
            story,
            title: Cow::Borrowed(&terms.title),
            body: Cow::Borrowed(&terms.text),
        }
    }
}

/// An article as the backlog reads it: id, story, title, plain text, content, summary.
type StoredText = (
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Adds `rows` to the index inside `tx` (an article whose entry exists is first removed
/// with [`unindex`]).
pub(super) async fn index(tx: &mut Tx, rows: &[Indexed<'_>]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    if matches!(tx, Tx::Sqlite(..)) {
        write_rows!(
            tx,
            "INSERT INTO article_search (rowid, title, body) ",
            rows,
            |b, r| {
                b.push_bind(r.id)
                    .push_bind(r.title.as_ref())
                    .push_bind(r.body.as_ref());
            }
        );
        write_rows!(
            tx,
            "INSERT INTO search_docs (rowid, story_id) ",
            rows,
            |b, r| {
                b.push_bind(r.id).push_bind(r.story);
            }
        );
    } else {
        write_rows!(
            tx,
            "INSERT INTO article_search (rowid, story_id, title, body)
             SELECT column1, column2, to_tsvector('simple', column3),
                    to_tsvector('simple', column3 || ' ' || column4) FROM (",
            ") AS v ON CONFLICT (rowid) DO UPDATE
               SET story_id = EXCLUDED.story_id, title = EXCLUDED.title, body = EXCLUDED.body",
            rows,
            |b, r| {
                b.push_bind(r.id)
                    .push_bind(r.story)
                    .push_bind(r.title.as_ref())
                    .push_bind(r.body.as_ref());
            }
        );
    }
    Ok(())
}

/// Removes the articles `ids` (a JSON list) from the index inside `tx`.
pub(super) async fn unindex(tx: &mut Tx, ids: &str) -> Result<(), StoreError> {
    on_tx!(tx, |e| {
        sqlx::query(
        "DELETE FROM article_search WHERE rowid IN (SELECT CAST(value AS BIGINT) FROM json_each($1))"
    )
    .bind(ids)
    .execute(e)
    .await
    .map(drop)
    })?;
    // On PostgreSQL `search_docs` is a view of `article_search`.
    if let Tx::Sqlite(t, _) = tx {
        sqlx::query(
            "DELETE FROM search_docs WHERE rowid IN (SELECT CAST(value AS BIGINT) FROM json_each($1))",
        )
        .bind(ids)
        .execute(&mut **t)
        .await?;
    }
    Ok(())
}

/// Indexes the articles `ids` again, as they are stored now (a new headline), inside `tx`.
pub(super) async fn reindex(tx: &mut Tx, ids: &[i64]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let list = json(ids);
    let rows: Vec<(i64, i64, String, Option<String>)> = on_tx!(tx, |e| sqlx::query_as(
        "SELECT id, COALESCE(story_id, id), title, plain_text FROM articles
         WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))"
    )
    .bind(&list)
    .fetch_all(e)
    .await)?;
    unindex(tx, &list).await?;
    let entries: Vec<Indexed> = rows
        .iter()
        .map(|(id, story, title, text)| {
            Indexed::of(*id, *story, title, text.as_deref().unwrap_or(""))
        })
        .collect();
    index(tx, &entries).await
}

impl Store {
    /// Indexes a batch of the articles stored before the index existed, newest first; says
    /// how many, 0 once none is left. Each batch is one transaction, taken between polls'.
    pub async fn index_backlog(&self) -> Result<u64, StoreError> {
        // Most of the time there is none: said without a write transaction.
        let left: Option<i64> = on_pool!(&self.db, |p| sqlx::query_scalar(
            "SELECT below FROM search_backlog"
        )
        .fetch_optional(p)
        .await)?;
        if left.is_none() {
            return Ok(0);
        }
        let _writer = self.writer.lock().await;
        let mut tx = self.db.begin().await?;
        let below: Option<i64> = on_tx!(&mut tx, |e| sqlx::query_scalar(
            "SELECT below FROM search_backlog"
        )
        .fetch_optional(e)
        .await)?;
        let Some(below) = below else {
            return Ok(0);
        };
        let rows: Vec<StoredText> = on_tx!(&mut tx, |e| {
            sqlx::query_as(
            "SELECT id, COALESCE(story_id, id), title, plain_text, content, summary FROM articles
                 WHERE id < $1 ORDER BY id DESC LIMIT $2"
        )
        .bind(below)
        .bind(BACKLOG_BATCH)
        .fetch_all(e)
        .await
        })?;
        let entries: Vec<Indexed> = rows
            .iter()
            .map(|(id, story, title, text, content, summary)| {
                // Articles stored before plain texts were kept get theirs derived here.
                let text = match text {
                    Some(text) => std::borrow::Cow::Borrowed(text.as_str()),
                    None => std::borrow::Cow::Owned(crate::parse::sanitised_text(
                        content.as_deref().or(summary.as_deref()).unwrap_or(""),
                    )),
                };
                Indexed::of(*id, *story, title, &text)
            })
            .collect();
        index(&mut tx, &entries).await?;
        match rows.last() {
            Some((lowest, ..)) => on_tx!(&mut tx, |e| sqlx::query(
                "UPDATE search_backlog SET below = $1"
            )
            .bind(*lowest)
            .execute(e)
            .await
            .map(drop))?,
            None => on_tx!(&mut tx, |e| sqlx::query("DELETE FROM search_backlog")
                .execute(e)
                .await
                .map(drop))?,
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}
