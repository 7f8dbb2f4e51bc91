//! Full-text search: the index of every article's search terms (SQLite FTS5, PostgreSQL
//! tsvectors under GIN), written in the transaction that writes the article, built after the
//! migration for articles stored before it, emptied with the articles retention removes; and
//! the query that finds the stories whose versions match a [`Query`].
//!
//! A search looks at the newest [`CANDIDATES`] articles that match its words (or its source,
//! or at all), so that a word found in half the database costs a bounded amount of work:
//! results are the stories among them, newest first or by relevance. It reads them through a
//! small window first (the newest few hundred, or the best few hundred scores), widened only
//! when the window cannot be shown to hold the page (`exact`): a common word's first page
//! costs a few hundred rows, not ten thousand.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::engine::{on_pool, on_tx, write_rows, Db, Tx};
use super::{json, millis, Store, StoreError, Story};
use crate::parse::{indexed, SearchTerms};
use crate::query::{Clause, Query, Term};

/// Matching articles a search looks at, at most: the newest.
pub(crate) const CANDIDATES: u32 = 10_000;
/// Where a search's SQL says how many candidates it takes: the window, widened as needed.
const WINDOW: &str = "{window}";
/// How far apart, at most, ids and first sightings may rise (ms): a result's time is taken
/// before its transaction waits for the database (replicas on PostgreSQL, a `feedmerge
/// fetch` beside the daemon on SQLite, which waits up to 30 s), so a later id can carry an
/// earlier time.
const SIGHTING_SKEW_MS: i64 = 60_000;
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

/// The order of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SearchOrder {
    /// Newest first, as the feeds are.
    #[default]
    Newest,
    /// Best match first (BM25 on SQLite, ts_rank on PostgreSQL), then newest.
    Relevance,
}

/// Adds `rows` to the index inside `tx` (an article whose entry exists is first removed
/// with [`unindex`]).
pub(super) async fn index(tx: &mut Tx, rows: &[Indexed<'_>]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    if matches!(tx, Tx::Sqlite(_)) {
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
    if let Tx::Sqlite(t) = tx {
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

/// A value bound to a search's SQL.
enum Bind {
    Text(String),
    Int(i64),
}

/// A search's SQL for one engine, and its values.
struct Sql {
    sqlite: bool,
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    /// Binds `value`, returning its placeholder.
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    /// `terms` as a phrase in the engine's query syntax. Terms are letters and digits only
    /// (`parse::terms`), so nothing in them is syntax.
    fn phrase(&self, terms: &[String]) -> String {
        if self.sqlite {
            format!("\"{}\"", terms.join(" "))
        } else {
            let quoted: Vec<String> = terms.iter().map(|t| format!("'{t}'")).collect();
            format!("({})", quoted.join(" <-> "))
        }
    }

    /// An FTS5 expression for the text terms of `clause` (SQLite).
    fn fts5(&self, clause: &Clause) -> String {
        let alternatives: Vec<String> = clause
            .any
            .iter()
            .filter_map(|t| match t {
                Term::Text { terms, title_only } => Some(match title_only {
                    true => format!("title : {}", self.phrase(terms)),
                    false => self.phrase(terms),
                }),
                Term::Sources(_) => None,
            })
            .collect();
        format!("({})", alternatives.join(" OR "))
    }

    /// A predicate on the candidate article `h` for one term.
    fn term(&mut self, term: &Term) -> String {
        match term {
            Term::Sources(names) => {
                let list = self.bind(Bind::Text(json(names)));
                format!(
                    "EXISTS (SELECT 1 FROM appearances ap JOIN sources so ON so.id = ap.source_id
                      WHERE ap.article_id = h.id AND so.name IN (SELECT value FROM json_each({list})))"
                )
            }
            Term::Text { terms, title_only } => {
                if self.sqlite {
                    let expr = match title_only {
                        true => format!("title : {}", self.phrase(terms)),
                        false => self.phrase(terms),
                    };
                    let m = self.bind(Bind::Text(expr));
                    format!(
                        "a.id IN (SELECT rowid FROM article_search WHERE article_search MATCH {m})"
                    )
                } else {
                    let column = if *title_only { "title" } else { "body" };
                    let q = self.bind(Bind::Text(self.phrase(terms)));
                    format!(
                        "EXISTS (SELECT 1 FROM article_search x WHERE x.rowid = h.id
                          AND x.{column} @@ to_tsquery('simple', {q}))"
                    )
                }
            }
        }
    }

    /// A predicate on the candidate article `h` for a whole clause.
    fn clause(&mut self, clause: &Clause) -> String {
        let any: Vec<String> = clause.any.iter().map(|t| self.term(t)).collect();
        let any = format!("({})", any.join(" OR "));
        match clause.excluded {
            true => format!("NOT {any}"),
            false => any,
        }
    }
}

/// Whether the first `wanted` stories in `order` found among a `window` of the candidates
/// (`rows`: story, its place in the feeds, and each row the window's size and the time its
/// oldest article was first seen) are the first `wanted` of all candidates.
///
/// They are when the window held every candidate. By relevance, the window holds the best
/// scores, so a story left outside scores worse than any inside: the page is exact as soon as
/// it is full. Newest first, a story left outside has all its matching articles older than
/// the window's oldest, so it was started no later than that article was first seen (ids and
/// first sightings rise together, within [`SIGHTING_SKEW_MS`], and a story's place is never
/// later than its first article's sighting: `dedup::story::placed_at`): the window's stories
/// placed after that time are certainly ahead of every story outside it.
fn exact(
    order: SearchOrder,
    rows: &[(i64, i64, i64, Option<i64>)],
    window: usize,
    wanted: usize,
) -> bool {
    // Without a row, nothing says whether the window was full: it is widened.
    let Some((_, _, held, edge)) = rows.first() else {
        return false;
    };
    if (*held as usize) < window {
        return true;
    }
    if rows.len() < wanted {
        return false;
    }
    match order {
        SearchOrder::Relevance => true,
        SearchOrder::Newest => {
            rows[wanted - 1].1 > edge.map_or(i64::MAX, |e| e.saturating_add(SIGHTING_SKEW_MS))
        }
    }
}

/// Whether `clause` holds words only (no `source:`), and so can be in the index's own query.
fn textual(clause: &Clause) -> bool {
    clause.any.iter().all(|t| matches!(t, Term::Text { .. }))
}

impl SearchOrder {
    /// The candidates a search in this order reads from the index: newest first, the window
    /// itself; by relevance, all of them, the window taken of their best scores.
    fn limit(self) -> String {
        match self {
            SearchOrder::Newest => WINDOW.to_owned(),
            SearchOrder::Relevance => CANDIDATES.to_string(),
        }
    }
}

impl Store {
    /// The stories with a version matching `query`, in `order`: `limit` after the first
    /// `offset`, and whether more follow. Only stories published after `now - since` count.
    pub(crate) async fn search(
        &self,
        query: &Query,
        order: SearchOrder,
        offset: u32,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Story>, bool), StoreError> {
        // Without words to match, every candidate scores alike: best match first is newest.
        let order = match query.clauses.iter().any(|c| !c.excluded && textual(c)) {
            true => order,
            false => SearchOrder::Newest,
        };
        let mut sql = Sql {
            sqlite: matches!(self.db, Db::Sqlite(_)),
            text: String::new(),
            binds: Vec::new(),
        };
        let positive_text: Vec<&Clause> = query
            .clauses
            .iter()
            .filter(|c| !c.excluded && textual(c))
            .collect();
        let mut rest: Vec<&Clause> = query
            .clauses
            .iter()
            .filter(|c| c.excluded || !textual(c))
            .collect();
        // The articles the search starts from: the newest that match the words; or, without
        // words, that a source in the query carries; or the newest of all.
        let driver = if !positive_text.is_empty() && sql.sqlite {
            let mut expr = positive_text
                .iter()
                .map(|c| sql.fts5(c))
                .collect::<Vec<_>>()
                .join(" AND ");
            // Excluded words go into the index's query too, where they cost least.
            rest.retain(|c| {
                if c.excluded && textual(c) {
                    expr = format!("({expr}) NOT {}", sql.fts5(c));
                    false
                } else {
                    true
                }
            });
            let m = sql.bind(Bind::Text(expr));
            // BM25 costs a read of each candidate's lengths: only when asked for.
            let score = match order {
                SearchOrder::Relevance => "bm25(article_search, 3.0, 1.0)",
                SearchOrder::Newest => "0.0",
            };
            format!(
                "SELECT rowid AS id, {score} AS score FROM article_search
                 WHERE article_search MATCH {m} ORDER BY rowid DESC LIMIT {}",
                order.limit()
            )
        } else if !positive_text.is_empty() {
            let mut predicates = Vec::new();
            let mut rank = Vec::new();
            for clause in &positive_text {
                let mut by_column: Vec<String> = Vec::new();
                for term in &clause.any {
                    if let Term::Text { terms, title_only } = term {
                        let column = if *title_only { "title" } else { "body" };
                        let q = sql.bind(Bind::Text(sql.phrase(terms)));
                        by_column.push(format!("s.{column} @@ to_tsquery('simple', {q})"));
                        rank.push(sql.phrase(terms));
                    }
                }
                predicates.push(format!("({})", by_column.join(" OR ")));
            }
            let score = match order {
                SearchOrder::Relevance => {
                    let r = sql.bind(Bind::Text(rank.join(" | ")));
                    format!("-ts_rank(s.body, to_tsquery('simple', {r}))")
                }
                SearchOrder::Newest => "0.0".to_owned(),
            };
            format!(
                "SELECT s.rowid AS id, {score} AS score
                 FROM article_search s WHERE {} ORDER BY s.rowid DESC LIMIT {}",
                predicates.join(" AND "),
                order.limit()
            )
        } else if let Some(i) = rest.iter().position(|c| {
            !c.excluded && !textual(c) && c.any.iter().all(|t| matches!(t, Term::Sources(_)))
        }) {
            let clause = rest.remove(i);
            let names: Vec<String> = clause
                .any
                .iter()
                .flat_map(|t| match t {
                    Term::Sources(n) => n.clone(),
                    Term::Text { .. } => Vec::new(),
                })
                .collect();
            let list = sql.bind(Bind::Text(json(&names)));
            format!(
                "SELECT ap.article_id AS id, 0.0 AS score FROM appearances ap
                 JOIN sources so ON so.id = ap.source_id
                 WHERE so.name IN (SELECT value FROM json_each({list}))
                 ORDER BY ap.article_id DESC LIMIT {WINDOW}"
            )
        } else {
            format!("SELECT rowid AS id, 0.0 AS score FROM search_docs ORDER BY rowid DESC LIMIT {WINDOW}")
        };
        let predicates: Vec<String> = rest.iter().map(|c| sql.clause(c)).collect();
        let since = query
            .since
            .map(|d| millis(now) - i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4))
            .unwrap_or(i64::MIN);
        let since = sql.bind(Bind::Int(since));
        let wanted = offset as usize + limit as usize + 1;
        let order_by = match order {
            SearchOrder::Newest => "MAX(st.sort_at) DESC, d.story_id DESC",
            SearchOrder::Relevance => "MIN(h.score), MAX(st.sort_at) DESC, d.story_id DESC",
        };
        let filters: String = predicates.iter().map(|p| format!(" AND {p}")).collect();
        // By relevance, the window is of the best scores among the candidates.
        let driver = match order {
            SearchOrder::Newest => driver,
            SearchOrder::Relevance => {
                format!("SELECT id, score FROM ({driver}) c ORDER BY score, id DESC LIMIT {WINDOW}")
            }
        };
        // Besides the stories: how many candidates the window held, and when the oldest of
        // them was first seen (the bound on every story left outside it; see `exact`).
        sql.text = format!(
            "WITH h AS MATERIALIZED ({driver})
             SELECT d.story_id, COALESCE(MAX(st.sort_at), 0) AS at, (SELECT COUNT(*) FROM h) AS n,
                    (SELECT a.first_seen FROM articles a WHERE a.id = (SELECT MIN(id) FROM h))
                        AS edge
             FROM h
             JOIN search_docs d ON d.rowid = h.id
             JOIN stories st ON st.id = d.story_id
             WHERE st.published >= {since}{filters}
             GROUP BY d.story_id
             ORDER BY {order_by}
             LIMIT {wanted}"
        );
        // A small window of the candidates (the newest, or the best scores) usually holds the
        // page: it is widened only when it does not.
        let mut window = (wanted * 8).clamp(400, CANDIDATES as usize);
        let rows = loop {
            let text = sql.text.replace(WINDOW, &window.to_string());
            let rows: Vec<(i64, i64, i64, Option<i64>)> = on_pool!(&self.db, |p| {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(text));
                for b in &sql.binds {
                    q = match b {
                        Bind::Text(t) => q.bind(t.as_str()),
                        Bind::Int(i) => q.bind(*i),
                    };
                }
                q.fetch_all(p).await
            })?;
            if window >= CANDIDATES as usize || exact(order, &rows, window, wanted) {
                break rows;
            }
            window = (window * 5).min(CANDIDATES as usize);
        };
        let mut ids: Vec<i64> = rows
            .into_iter()
            .skip(offset as usize)
            .map(|(id, ..)| id)
            .collect();
        let more = ids.len() > limit as usize;
        ids.truncate(limit as usize);
        Ok((self.stories_by_id(&ids).await?, more))
    }

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
