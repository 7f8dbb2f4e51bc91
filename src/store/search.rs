//! Full-text search: the index of every article's search terms (SQLite FTS5, PostgreSQL
//! tsvectors under GIN), written in the transaction that writes the article, built after the
//! migration for articles stored before it, emptied with the articles retention removes; and
//! the query that finds the stories whose versions match a [`Query`].
//!
//! A search looks at the newest [`CANDIDATES`] articles that hold its words (or that its
//! source carries, or at all), so that a word found in half the database costs a bounded
//! amount of work; phrases, exclusions and sources are then checked on those candidates, and
//! the results are the stories among them, newest first. It reads them through a small
//! window first (the newest few hundred), widened only when the window cannot be shown to
//! hold the page (`exact`): a common word's first page costs a few hundred rows, not ten
//! thousand. Best match first is two such searches: the words in headlines, then anywhere.

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
    /// Best match first: the stories whose headlines hold the words, newest first, then
    /// the others, newest first.
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

    /// `terms` in the engine's query syntax: as a phrase (`exact`: next to each other, in
    /// this order), or each anywhere. On SQLite, `title_only` keeps them to the headline (on
    /// PostgreSQL the caller picks the column). Terms are letters and digits only
    /// (`parse::terms`), so nothing in them is syntax.
    fn terms(&self, terms: &[String], title_only: bool, exact: bool) -> String {
        if self.sqlite {
            let column = if title_only { "title : " } else { "" };
            if exact {
                return format!("{column}\"{}\"", terms.join(" "));
            }
            let each: Vec<String> = terms.iter().map(|t| format!("{column}\"{t}\"")).collect();
            format!("({})", each.join(" AND "))
        } else {
            let quoted: Vec<String> = terms.iter().map(|t| format!("'{t}'")).collect();
            format!("({})", quoted.join(if exact { " <-> " } else { " & " }))
        }
    }

    /// The index's query for the textual `clause`, phrases as phrases (SQLite).
    fn fts5(&self, clause: &Clause) -> String {
        let alternatives: Vec<String> = clause
            .any
            .iter()
            .filter_map(|t| match t {
                Term::Text { terms, title_only } => Some(self.terms(terms, *title_only, true)),
                Term::Sources(_) => None,
            })
            .collect();
        format!("({})", alternatives.join(" OR "))
    }

    /// The index's query for the words of the textual `clause`, each anywhere in its place
    /// (headline or text): the candidates, among which phrases are then checked.
    fn words(&mut self, clause: &Clause) -> String {
        let mut alternatives = Vec::new();
        for term in &clause.any {
            let Term::Text { terms, title_only } = term else {
                continue;
            };
            let words = self.terms(terms, *title_only, false);
            if self.sqlite {
                alternatives.push(words);
            } else {
                let column = if *title_only { "title" } else { "body" };
                let q = self.bind(Bind::Text(words));
                alternatives.push(format!("s.{column} @@ to_tsquery('simple', {q})"));
            }
        }
        format!("({})", alternatives.join(" OR "))
    }

    /// A predicate on the candidate article `h`: it matches the FTS5 expression `expr`
    /// (SQLite). The index is asked only about the window's ids (from the oldest candidate's
    /// to the newest's), so that a phrase of common words or an excluded common word costs
    /// the window, not the whole index.
    fn in_window(&mut self, expr: String) -> String {
        let m = self.bind(Bind::Text(expr));
        format!(
            "h.id IN (SELECT rowid FROM article_search WHERE article_search MATCH {m}
              AND rowid BETWEEN (SELECT MIN(id) FROM h) AND (SELECT MAX(id) FROM h))"
        )
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
                let expr = self.terms(terms, *title_only, true);
                if self.sqlite {
                    self.in_window(expr)
                } else {
                    let q = self.bind(Bind::Text(expr));
                    let column = if *title_only { "title" } else { "body" };
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

/// Whether the first `wanted` stories, newest first, found among a `window` of the newest
/// candidates (`rows`: story, its place in the feeds, and each row the window's size and the
/// time its oldest article was first seen) are the first `wanted` of all candidates.
///
/// They are when the window held every candidate. Otherwise a story left outside has all its
/// matching articles older than the window's oldest, so it was started no later than that
/// article was first seen (ids and first sightings rise together, within
/// [`SIGHTING_SKEW_MS`], and a story's place is never later than its first article's
/// sighting: `dedup::story::placed_at`): the window's stories placed after that time are
/// certainly ahead of every story outside it.
fn exact(rows: &[(i64, i64, i64, Option<i64>)], window: usize, wanted: usize) -> bool {
    // Without a row, nothing says whether the window was full: it is widened.
    let Some((_, _, held, edge)) = rows.first() else {
        return false;
    };
    if (*held as usize) < window {
        return true;
    }
    rows.len() >= wanted
        && rows[wanted - 1].1 > edge.map_or(i64::MAX, |e| e.saturating_add(SIGHTING_SKEW_MS))
}

/// Whether `clause` holds words only (no `source:`), and so can be in the index's own query.
fn textual(clause: &Clause) -> bool {
    clause.any.iter().all(|t| matches!(t, Term::Text { .. }))
}

/// Whether `clause` holds a phrase of more than one term, which the index's query for its
/// words does not check.
fn phrased(clause: &Clause) -> bool {
    clause
        .any
        .iter()
        .any(|t| matches!(t, Term::Text { terms, .. } if terms.len() > 1))
}

/// `clause` with its words kept to headlines: the first rank of best match first.
fn in_headlines(clause: &Clause) -> Clause {
    let mut clause = clause.clone();
    for term in &mut clause.any {
        if let Term::Text { title_only, .. } = term {
            *title_only = true;
        }
    }
    clause
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
        let wanted = offset as usize + limit as usize + 1;
        // Best match first: the stories whose headlines hold the words, then the others.
        let words = query.clauses.iter().any(|c| !c.excluded && textual(c));
        let mut found = match order == SearchOrder::Relevance && words {
            true => self.newest_matches(query, true, wanted, now).await?,
            false => Vec::new(),
        };
        if found.len() < wanted {
            let first: std::collections::HashSet<i64> = found.iter().copied().collect();
            let others = self.newest_matches(query, false, wanted, now).await?;
            found.extend(others.into_iter().filter(|id| !first.contains(id)));
        }
        let mut ids: Vec<i64> = found.into_iter().skip(offset as usize).collect();
        let more = ids.len() > limit as usize;
        ids.truncate(limit as usize);
        Ok((self.stories_by_id(&ids).await?, more))
    }

    /// The ids of the first `wanted` stories, newest first, with a version matching `query`
    /// (published after `now - since`), among its newest [`CANDIDATES`]; with `headlines`,
    /// only those where a headline holds the words.
    async fn newest_matches(
        &self,
        query: &Query,
        headlines: bool,
        wanted: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut sql = Sql {
            sqlite: matches!(self.db, Db::Sqlite(_)),
            text: String::new(),
            binds: Vec::new(),
        };
        let words: Vec<&Clause> = query
            .clauses
            .iter()
            .filter(|c| !c.excluded && textual(c))
            .collect();
        // Checked on each candidate: exclusions, sources, phrases (the candidates are the
        // articles that hold a phrase's words, anywhere), and headlines when asked.
        let mut rest: Vec<Cow<Clause>> = Vec::new();
        for clause in &query.clauses {
            if headlines && !clause.excluded && textual(clause) {
                rest.push(Cow::Owned(in_headlines(clause)));
            } else if clause.excluded || !textual(clause) || phrased(clause) {
                rest.push(Cow::Borrowed(clause));
            }
        }
        // The articles the search starts from: the newest that hold the words; or, without
        // words, that a source in the query carries; or the newest of all.
        let mut relaxed = String::new();
        let driver = if !words.is_empty() {
            let expr: Vec<String> = words.iter().map(|c| sql.words(c)).collect();
            if sql.sqlite {
                relaxed = expr.join(" AND ");
                let m = sql.bind(Bind::Text(relaxed.clone()));
                format!(
                    "SELECT rowid AS id FROM article_search
                     WHERE article_search MATCH {m} ORDER BY rowid DESC LIMIT {WINDOW}"
                )
            } else {
                format!(
                    "SELECT s.rowid AS id FROM article_search s WHERE {}
                     ORDER BY s.rowid DESC LIMIT {WINDOW}",
                    expr.join(" AND ")
                )
            }
        } else if let Some(i) = rest
            .iter()
            .position(|c| !c.excluded && c.any.iter().all(|t| matches!(t, Term::Sources(_))))
        {
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
                "SELECT ap.article_id AS id FROM appearances ap
                 JOIN sources so ON so.id = ap.source_id
                 WHERE so.name IN (SELECT value FROM json_each({list}))
                 ORDER BY ap.article_id DESC LIMIT {WINDOW}"
            )
        } else {
            format!("SELECT rowid AS id FROM search_docs ORDER BY rowid DESC LIMIT {WINDOW}")
        };
        let mut predicates = Vec::new();
        // On SQLite, the checks of words go to the index as one query over the window's ids:
        // an excluded common word costs the window's candidates, as a NOT beside the words
        // (asked apart, its matches would be most of the index).
        if sql.sqlite && !relaxed.is_empty() {
            let (checked, others): (Vec<_>, Vec<_>) = rest.into_iter().partition(|c| textual(c));
            rest = others;
            if !checked.is_empty() {
                let positive: Vec<String> = checked
                    .iter()
                    .filter(|c| !c.excluded)
                    .map(|c| sql.fts5(c))
                    .collect();
                let mut expr = match positive.is_empty() {
                    true => relaxed,
                    false => positive.join(" AND "),
                };
                for clause in checked.iter().filter(|c| c.excluded) {
                    expr = format!("({expr}) NOT {}", sql.fts5(clause));
                }
                predicates.push(sql.in_window(expr));
            }
        }
        predicates.extend(rest.iter().map(|c| sql.clause(c)));
        let since = query
            .since
            .map(|d| millis(now) - i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4))
            .unwrap_or(i64::MIN);
        let since = sql.bind(Bind::Int(since));
        let filters: String = predicates.iter().map(|p| format!(" AND {p}")).collect();
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
             ORDER BY MAX(st.sort_at) DESC, d.story_id DESC
             LIMIT {wanted}"
        );
        // A small window of the newest candidates usually holds the page: it is widened
        // only when it does not.
        let mut window = (wanted * 8).clamp(400, CANDIDATES as usize);
        loop {
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
            if window >= CANDIDATES as usize || exact(&rows, window, wanted) {
                return Ok(rows.into_iter().map(|(id, ..)| id).collect());
            }
            window = (window * 5).min(CANDIDATES as usize);
        }
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
