//! The query that finds the stories whose versions match a [`Query`] in the search index
//! (`search.rs`).
//!
//! A search looks at its newest [`CANDIDATES`] matching articles at most, so that a word found
//! in half the database costs a bounded amount of work. On SQLite they are the newest
//! articles the index finds for the whole query (phrases, exclusions and all), among those no
//! older than the [`SCOPE`]th newest holding its rarest word (`floor`): a phrase of common
//! words found nowhere costs that many articles, not the whole index. On PostgreSQL they are
//! the newest articles holding its words, on which phrases and exclusions are then checked,
//! all in one look at each (its excluded words one tsquery), however many they are.
//! Sources, and clauses mixing sources and words, are checked on the candidates; the results
//! are the stories among them, newest first. It reads them through a small window first (the
//! newest few hundred), widened only when the window cannot be shown to hold the page
//! (`exact`): a common word's first page costs a few hundred rows, not ten thousand. Best
//! match first is two such searches: the words in headlines, then anywhere.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::engine::{on_pool, Db};
use super::{json, millis, Store, StoreError, Story};
use crate::query::{Clause, Query, Term};

/// Matching articles a search looks at, at most: the newest.
pub(crate) const CANDIDATES: u32 = 10_000;
/// On SQLite, how many of the newest articles holding a search's rarest word bound the
/// articles it looks at (see [`Store::floor`]).
const SCOPE: u32 = 20_000;
/// How many of a word's newest matches tell how common it is: the older the last of them,
/// the rarer the word.
const SAMPLE: u32 = 64;
/// Where a search's SQL says how many candidates it takes: the window, widened as needed.
const WINDOW: &str = "{window}";
/// How far apart, at most, ids and first sightings may rise (ms): a result's time is taken
/// before its transaction waits for the database (replicas on PostgreSQL, a `feedmerge
/// fetch` beside the daemon on SQLite, which waits up to 30 s), so a later id can carry an
/// earlier time.
const SIGHTING_SKEW_MS: i64 = 60_000;
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

    /// `terms` as a phrase (next to each other, in this order) in the engine's query syntax.
    /// On SQLite, `title_only` keeps it to the headline (on PostgreSQL the caller picks the
    /// column). Terms are letters and digits only (`parse::terms`), so nothing in them is
    /// syntax.
    fn phrase(&self, terms: &[String], title_only: bool) -> String {
        if self.sqlite {
            let column = if title_only { "title : " } else { "" };
            format!("{column}\"{}\"", terms.join(" "))
        } else {
            let quoted: Vec<String> = terms.iter().map(|t| format!("'{t}'")).collect();
            format!("({})", quoted.join(" <-> "))
        }
    }

    /// The index's query for the textual `clause`, phrases as phrases (SQLite).
    fn fts5(&self, clause: &Clause) -> String {
        let alternatives: Vec<String> = clause
            .any
            .iter()
            .filter_map(|t| match t {
                Term::Text { terms, title_only } => Some(self.phrase(terms, *title_only)),
                _ => None,
            })
            .collect();
        format!("({})", alternatives.join(" OR "))
    }

    /// The index's condition on `s` for the words of the textual `clause`, each anywhere in
    /// its place (headline or text): the candidates, among which phrases are then checked
    /// (PostgreSQL).
    fn words(&mut self, clause: &Clause) -> String {
        let mut alternatives = Vec::new();
        for term in &clause.any {
            let Term::Text { terms, title_only } = term else {
                continue;
            };
            let column = if *title_only { "title" } else { "body" };
            let each: Vec<String> = terms.iter().map(|t| format!("'{t}'")).collect();
            let q = self.bind(Bind::Text(each.join(" & ")));
            alternatives.push(format!("s.{column} @@ to_tsquery('simple', {q})"));
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
            Term::Author(terms) | Term::Tag(terms) => {
                let column = match term {
                    Term::Author(_) => "authors",
                    _ => "categories",
                };
                let like = self.bind(Bind::Text(format!("%{}%", terms.join("%"))));
                format!(
                    "EXISTS (SELECT 1 FROM articles a WHERE a.id = h.id
                      AND lower(a.{column}) LIKE {like})"
                )
            }
            Term::Link(part) => {
                let escaped = part
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                let like = self.bind(Bind::Text(format!("%{escaped}%")));
                format!(
                    "EXISTS (SELECT 1 FROM articles a WHERE a.id = h.id
                      AND lower(a.link) LIKE {like} ESCAPE '\\')"
                )
            }
            Term::Text { terms, title_only } if self.sqlite => {
                let expr = self.phrase(terms, *title_only);
                self.in_window(expr)
            }
            Term::Text { .. } => {
                let matches = self.matches(term).unwrap_or_default();
                format!(
                    "EXISTS (SELECT 1 FROM article_search x WHERE x.rowid = h.id AND {matches})"
                )
            }
        }
    }

    /// A predicate on the candidate article `h` (PostgreSQL) that holds when it has every
    /// one of the `phrases` clauses and none of the `excluded` ones: one look at its row,
    /// whatever their number, with the excluded terms of each column one query (`a | b`).
    fn textual_checks(&mut self, phrases: &[&Clause], excluded: &[&Clause]) -> Option<String> {
        let mut conditions = Vec::new();
        for clause in phrases {
            let any: Vec<String> = clause.any.iter().filter_map(|t| self.matches(t)).collect();
            conditions.push(format!("({})", any.join(" OR ")));
        }
        for title_only in [true, false] {
            let terms: Vec<String> = excluded
                .iter()
                .flat_map(|c| &c.any)
                .filter_map(|t| match t {
                    Term::Text {
                        terms,
                        title_only: t,
                    } if *t == title_only => Some(self.phrase(terms, title_only)),
                    _ => None,
                })
                .collect();
            if !terms.is_empty() {
                let q = self.bind(Bind::Text(terms.join(" | ")));
                let column = if title_only { "title" } else { "body" };
                conditions.push(format!("NOT x.{column} @@ to_tsquery('simple', {q})"));
            }
        }
        (!conditions.is_empty()).then(|| {
            format!(
                "EXISTS (SELECT 1 FROM article_search x WHERE x.rowid = h.id AND {})",
                conditions.join(" AND ")
            )
        })
    }

    /// The condition on the candidate's index row `x` for a textual term (PostgreSQL).
    fn matches(&mut self, term: &Term) -> Option<String> {
        let Term::Text { terms, title_only } = term else {
            return None;
        };
        let q = self.bind(Bind::Text(self.phrase(terms, *title_only)));
        let column = if *title_only { "title" } else { "body" };
        Some(format!("x.{column} @@ to_tsquery('simple', {q})"))
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

    /// The driver of a search for `query` whose positive `words` (in headlines, or anywhere)
    /// the index is asked for: the query that yields the candidates' ids, newest first; and
    /// what is left to check on each candidate, as clauses and as SQL conditions.
    fn driver<'q>(
        &mut self,
        query: &'q Query,
        words: &[Cow<Clause>],
        floor: i64,
    ) -> (String, Vec<&'q Clause>, Vec<String>) {
        // Checked on each candidate: what the driver's query does not say.
        let mut rest: Vec<&Clause> = Vec::new();
        let mut checks: Vec<String> = Vec::new();
        let driver = if !words.is_empty() && self.sqlite {
            let positive: Vec<String> = words.iter().map(|c| self.fts5(c)).collect();
            let mut expr = positive.join(" AND ");
            for clause in &query.clauses {
                if !textual(clause) {
                    rest.push(clause);
                } else if clause.excluded {
                    expr = format!("({expr}) NOT {}", self.fts5(clause));
                }
            }
            let m = self.bind(Bind::Text(expr));
            let f = self.bind(Bind::Int(floor));
            format!(
                "SELECT rowid AS id FROM article_search WHERE article_search MATCH {m}
                 AND rowid >= {f} ORDER BY rowid DESC LIMIT {WINDOW}"
            )
        } else if !words.is_empty() {
            // With `headlines`, the words are asked of the headline's column; phrases and
            // exclusions are checked on the candidates, in one look at each.
            let expr: Vec<String> = words.iter().map(|c| self.words(c)).collect();
            let phrases: Vec<&Clause> = words.iter().filter(|c| phrased(c)).map(|c| &**c).collect();
            let excluded: Vec<&Clause> = query
                .clauses
                .iter()
                .filter(|c| c.excluded && textual(c))
                .collect();
            checks.extend(self.textual_checks(&phrases, &excluded));
            rest.extend(query.clauses.iter().filter(|c| !textual(c)));
            format!(
                "SELECT s.rowid AS id FROM article_search s WHERE {}
                 ORDER BY s.rowid DESC LIMIT {WINDOW}",
                expr.join(" AND ")
            )
        } else {
            // Without words: the newest articles a source in the query carries, or the newest.
            rest.extend(&query.clauses);
            if !self.sqlite {
                let excluded: Vec<&Clause> = rest
                    .iter()
                    .copied()
                    .filter(|c| c.excluded && textual(c))
                    .collect();
                checks.extend(self.textual_checks(&[], &excluded));
                rest.retain(|c| !(c.excluded && textual(c)));
            }
            match rest
                .iter()
                .position(|c| !c.excluded && c.any.iter().all(|t| matches!(t, Term::Sources(_))))
            {
                Some(i) => {
                    let names: Vec<String> = rest
                        .remove(i)
                        .any
                        .iter()
                        .flat_map(|t| match t {
                            Term::Sources(n) => n.clone(),
                            _ => Vec::new(),
                        })
                        .collect();
                    let list = self.bind(Bind::Text(json(&names)));
                    format!(
                        "SELECT ap.article_id AS id FROM appearances ap
                         JOIN sources so ON so.id = ap.source_id
                         WHERE so.name IN (SELECT value FROM json_each({list}))
                         ORDER BY ap.article_id DESC LIMIT {WINDOW}"
                    )
                }
                None => {
                    format!(
                        "SELECT rowid AS id FROM search_docs ORDER BY rowid DESC LIMIT {WINDOW}"
                    )
                }
            }
        };
        (driver, rest, checks)
    }
}

/// A row of a search's window: a story and its place in the feeds (none when no candidate
/// matched), how many candidates the window held, and when the oldest was first seen.
type Row = (Option<i64>, Option<i64>, i64, Option<i64>);

/// Whether the first `wanted` stories, newest first, found among a `window` of the newest
/// candidates (`rows`) are the first `wanted` of all candidates.
///
/// They are when the window held every candidate. Otherwise a story left outside has all its
/// matching articles older than the window's oldest, so it was started no later than that
/// article was first seen (ids and first sightings rise together, within
/// [`SIGHTING_SKEW_MS`], and a story's place is never later than its first article's
/// sighting: `dedup::story::placed_at`): the window's stories placed after that time are
/// certainly ahead of every story outside it.
fn exact(rows: &[Row], window: usize, wanted: usize) -> bool {
    let Some((_, _, held, edge)) = rows.first() else {
        return false;
    };
    if (*held as usize) < window {
        return true;
    }
    let placed: Vec<i64> = rows.iter().filter_map(|r| r.1).collect();
    placed.len() >= wanted
        && placed[wanted - 1] > edge.map_or(i64::MAX, |e| e.saturating_add(SIGHTING_SKEW_MS))
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
        let floor = self.floor(query, order).await?;
        // Best match first: the stories whose headlines hold the words, then the others.
        let words = query.clauses.iter().any(|c| !c.excluded && textual(c));
        let mut found = match order == SearchOrder::Relevance && words {
            true => self.newest_matches(query, true, floor, wanted, now).await?,
            false => Vec::new(),
        };
        if found.len() < wanted {
            let first: std::collections::HashSet<i64> = found.iter().copied().collect();
            let others = self
                .newest_matches(query, false, floor, wanted, now)
                .await?;
            found.extend(others.into_iter().filter(|id| !first.contains(id)));
        }
        let mut ids: Vec<i64> = found.into_iter().skip(offset as usize).collect();
        let more = ids.len() > limit as usize;
        ids.truncate(limit as usize);
        Ok((self.stories_by_id(&ids).await?, more))
    }

    /// The oldest article id a search on SQLite looks at: that of the [`SCOPE`]th newest
    /// article holding the query's rarest word (0 when it has fewer, or the query no word
    /// that every match must hold). Every article the index's query walks then holds that
    /// word or is newer than it, so a phrase of common words found nowhere, or a word with a
    /// word found everywhere excluded, costs that many articles, not the whole index. The
    /// rarest word is the one whose [`SAMPLE`] newest matches reach furthest back.
    async fn floor(&self, query: &Query, order: SearchOrder) -> Result<i64, StoreError> {
        let Db::Sqlite { pool, .. } = &self.db else {
            return Ok(0);
        };
        // A word, or words of which any will do, newest first: the index's query stops at the
        // window's last match or at their last, so it needs no floor.
        let single = |t: &Term| matches!(t, Term::Text { terms, .. } if terms.len() == 1);
        let worded: Vec<&Clause> = query.clauses.iter().filter(|c| textual(c)).collect();
        if order == SearchOrder::Newest
            && worded.len() == 1
            && !worded[0].excluded
            && worded[0].any.iter().all(single)
        {
            return Ok(0);
        }
        // Words every match holds: those of the clauses without alternatives.
        let mut words: Vec<&String> = query
            .clauses
            .iter()
            .filter(|c| !c.excluded && c.any.len() == 1)
            .flat_map(|c| match &c.any[0] {
                Term::Text { terms, .. } => terms.iter().collect(),
                _ => Vec::new(),
            })
            .collect();
        words.sort();
        words.dedup();
        let mut rarest = (i64::MAX, None);
        for word in &words {
            let reach: Option<i64> = sqlx::query_scalar(
                "SELECT MIN(rowid) FROM (SELECT rowid FROM article_search
                  WHERE article_search MATCH $1 ORDER BY rowid DESC LIMIT $2)",
            )
            .bind(format!("\"{word}\""))
            .bind(SAMPLE)
            .fetch_one(pool)
            .await?;
            // A word found nowhere: nothing matches, and the index's query ends at once.
            let reach = reach.unwrap_or(0);
            if reach < rarest.0 {
                rarest = (reach, Some(word));
            }
        }
        let Some(word) = rarest.1 else {
            return Ok(0);
        };
        let floor: Option<i64> = sqlx::query_scalar(
            "SELECT rowid FROM article_search WHERE article_search MATCH $1
             ORDER BY rowid DESC LIMIT 1 OFFSET $2",
        )
        .bind(format!("\"{word}\""))
        .bind(SCOPE - 1)
        .fetch_optional(pool)
        .await?;
        Ok(floor.unwrap_or(0))
    }

    /// The ids of the first `wanted` stories, newest first, with a version matching `query`
    /// (published after `now - since`), among its newest [`CANDIDATES`] no older than
    /// `floor`; with `headlines`, only those where a headline holds the words.
    ///
    /// On SQLite the index's own query finds the matches (phrases, exclusions and all),
    /// newest first from the newest; on PostgreSQL, whose index gives every match of a query
    /// at once, the candidates are the newest articles that hold the words, and phrases and
    /// exclusions are checked on those.
    async fn newest_matches(
        &self,
        query: &Query,
        headlines: bool,
        floor: i64,
        wanted: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut sql = Sql {
            sqlite: matches!(self.db, Db::Sqlite { .. }),
            text: String::new(),
            binds: Vec::new(),
        };
        let words: Vec<Cow<Clause>> = query
            .clauses
            .iter()
            .filter(|c| !c.excluded && textual(c))
            .map(|c| match headlines {
                true => Cow::Owned(in_headlines(c)),
                false => Cow::Borrowed(c),
            })
            .collect();
        let (driver, rest, mut checks) = sql.driver(query, &words, floor);
        checks.extend(rest.iter().map(|c| sql.clause(c)));
        let since = query
            .since
            .map(|d| millis(now) - i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4))
            .unwrap_or(i64::MIN);
        let since = sql.bind(Bind::Int(since));
        let filters: String = checks.iter().map(|p| format!(" AND {p}")).collect();
        // Besides the stories: how many candidates the window held, and when the oldest of
        // them was first seen (the bound on every story left outside it; see `exact`).
        sql.text = format!(
            "WITH h AS MATERIALIZED ({driver}),
             m AS (SELECT d.story_id, MAX(st.sort_at) AS at FROM h
                   JOIN search_docs d ON d.rowid = h.id
                   JOIN stories st ON st.id = d.story_id
                   WHERE st.published >= {since}{filters}
                   GROUP BY d.story_id
                   ORDER BY MAX(st.sort_at) DESC, d.story_id DESC
                   LIMIT {wanted})
             SELECT m.story_id, m.at, w.n, w.edge
             FROM (SELECT COUNT(*) AS n,
                          (SELECT a.first_seen FROM articles a WHERE a.id = (SELECT MIN(id) FROM h))
                              AS edge
                   FROM h) w
             LEFT JOIN m ON TRUE
             ORDER BY m.at DESC, m.story_id DESC"
        );
        // A small window of the newest candidates usually holds the page: it is widened
        // only when it does not.
        let mut window = (wanted * 8).clamp(400, CANDIDATES as usize);
        loop {
            let text = sql.text.replace(WINDOW, &window.to_string());
            let rows: Vec<Row> = on_pool!(&self.db, |p| {
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
                return Ok(rows.into_iter().filter_map(|(id, ..)| id).collect());
            }
            window = (window * 5).min(CANDIDATES as usize);
        }
    }
}
