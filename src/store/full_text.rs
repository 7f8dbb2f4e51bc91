//! Full texts: which articles' pages are due to be read (new ones of the sources that take
//! their full text, one whose link changed, a failure's next try), a reading claimed before it
//! starts, and its outcome kept: the text, searchable from then on, or the error and when to
//! try again. The reading itself is `fulltext`'s.

use chrono::{DateTime, Utc};

use super::engine::{on_pool, on_tx};
use super::search::{self, Indexed};
use super::{json, millis, Store, StoreError};

/// How far back articles are read for their full text: turning `full_text` on for a source
/// reads its recent articles, not its whole history.
const SINCE_MS: i64 = 3 * 24 * 3600 * 1000;
/// How long a claimed reading may take before it is due again (a process that died mid-way).
const LEASE_MS: i64 = 10 * 60 * 1000;
/// Readings of one page at most; the wait before the second and third.
const TRIES: i64 = 3;
const RETRY_MS: [i64; 2] = [10 * 60 * 1000, 2 * 3600 * 1000];

/// An article page due to be read.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct PageDue {
    /// The article.
    pub(crate) article: i64,
    /// Its link: the page.
    pub(crate) url: String,
    /// The source that carried it first.
    pub(crate) source: String,
}

/// What reading an article's page gave, to keep.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageText<'a> {
    /// The main text, as sanitised HTML.
    pub(crate) content: &'a str,
    /// Who wrote it, if the page says.
    pub(crate) byline: Option<&'a str>,
    /// The lead picture's address, if the page names one.
    pub(crate) image: Option<&'a str>,
    /// Its language, if the page says.
    pub(crate) language: Option<&'a str>,
    /// When it was published, if the page says: the article's time if its feed gave none.
    pub(crate) published: Option<DateTime<Utc>>,
}

/// What the store knows of one source's full texts.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct FullTextState {
    /// The source.
    pub(crate) source: String,
    /// Its articles with their full text.
    pub(crate) done: i64,
    /// The last reading that failed, if the last reading did.
    pub(crate) error: Option<String>,
}

impl Store {
    /// Up to `limit` pages due to be read at `now`, of the articles `sources` carried first,
    /// newest first.
    pub(crate) async fn pages_due(
        &self,
        sources: &[String],
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PageDue>, StoreError> {
        if sources.is_empty() {
            return Ok(Vec::new());
        }
        let now = millis(now);
        Ok(on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT a.id AS article, a.link AS url, s.name AS source
             FROM articles a JOIN sources s ON s.id = a.source_id
             LEFT JOIN full_texts f ON f.article_id = a.id
             WHERE s.name IN (SELECT value FROM json_each($1))
               AND a.first_seen >= $2 AND a.link IS NOT NULL
               AND (f.article_id IS NULL OR f.url <> a.link
                    OR (f.next_try_at IS NOT NULL AND f.next_try_at <= $3))
             ORDER BY a.id DESC LIMIT $4"
        )
        .bind(json(sources))
        .bind(now - SINCE_MS)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await)?)
    }

    /// Claims the reading of `page` at `now`, so that it is not read twice (by this process
    /// or a replica): its attempt (from 1; a changed link starts again), or `None` when
    /// another claimed it first or it is not due any more.
    pub(crate) async fn claim_page(
        &self,
        page: &PageDue,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.db.begin_own_row().await?;
        let attempt: Option<i64> = on_tx!(&mut tx, |e| {
            sqlx::query_scalar(
                "INSERT INTO full_texts (article_id, url, attempts, next_try_at)
                 VALUES ($1, $2, 1, $3)
                 ON CONFLICT (article_id) DO UPDATE SET
                     attempts = CASE WHEN full_texts.url = excluded.url
                         THEN full_texts.attempts + 1 ELSE 1 END,
                     url = excluded.url, next_try_at = excluded.next_try_at
                 WHERE full_texts.url <> excluded.url
                    OR (full_texts.next_try_at IS NOT NULL AND full_texts.next_try_at <= $4)
                 RETURNING attempts",
            )
            .bind(page.article)
            .bind(&page.url)
            .bind(millis(now) + LEASE_MS)
            .bind(millis(now))
            .fetch_optional(e)
            .await
        })?;
        tx.commit().await?;
        Ok(attempt)
    }

    /// Keeps what reading `page` (its `attempt`th reading) gave at `now`: its full text,
    /// which the feeds then show and search finds; or why it failed, to be tried again later
    /// unless it was the last try (or `last` says so).
    pub(crate) async fn page_read(
        &self,
        page: &PageDue,
        read: Result<PageText<'_>, (&str, bool)>,
        attempt: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = millis(now);
        match read {
            Ok(article) => {
                let mut tx = self.db.begin().await?;
                let found: Option<(i64, String)> = on_tx!(&mut tx, |e| sqlx::query_as(
                    "SELECT story_id, title FROM articles WHERE id = $1"
                )
                .bind(page.article)
                .fetch_optional(e)
                .await)?;
                // Gone meanwhile (retention): nothing to keep.
                let Some((story, title)) = found else {
                    return Ok(());
                };
                on_tx!(&mut tx, |e| sqlx::query(
                    "UPDATE full_texts SET content = $2, byline = $3, image = $4, language = $5,
                         error = NULL, next_try_at = NULL, done_at = $6
                     WHERE article_id = $1"
                )
                .bind(page.article)
                .bind(article.content)
                .bind(article.byline)
                .bind(article.image)
                .bind(article.language)
                .bind(now)
                .execute(e)
                .await
                .map(drop))?;
                // An article its feed did not date (dated when first seen) takes the page's
                // time, as does its story if it represents it; where it is placed stays.
                if let Some(published) = article.published.map(millis).filter(|p| *p <= now) {
                    on_tx!(&mut tx, |e| sqlx::query(
                        "UPDATE stories SET published = $2 WHERE representative = $1
                           AND published = (SELECT first_seen FROM articles WHERE id = $1)"
                    )
                    .bind(page.article)
                    .bind(published)
                    .execute(e)
                    .await
                    .map(drop))?;
                    on_tx!(&mut tx, |e| {
                        sqlx::query(
                        "UPDATE articles SET published = $2 WHERE id = $1 AND published = first_seen"
                    )
                    .bind(page.article)
                    .bind(published)
                    .execute(e)
                    .await
                    .map(drop)
                    })?;
                }
                let text = crate::parse::sanitised_text(article.content);
                search::unindex(&mut tx, &json(&[page.article])).await?;
                search::index(&mut tx, &[Indexed::of(page.article, story, &title, &text)]).await?;
                tx.announce().await?;
                tx.commit().await?;
                self.changed();
            }
            Err((error, last)) => {
                let retry = RETRY_MS
                    .get(usize::try_from(attempt - 1).unwrap_or(usize::MAX))
                    .filter(|_| !last && attempt < TRIES)
                    .map(|wait| now + wait);
                let mut tx = self.db.begin_own_row().await?;
                on_tx!(&mut tx, |e| sqlx::query(
                    "UPDATE full_texts SET error = $2, next_try_at = $3 WHERE article_id = $1"
                )
                .bind(page.article)
                .bind(crate::untrusted::printable(
                    error,
                    crate::untrusted::MAX_SAID
                ))
                .bind(retry)
                .execute(e)
                .await
                .map(drop))?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Forgets the full texts of the articles `source` carried first since `since`, so that
    /// their pages are read again (after its selectors changed): how many.
    pub(crate) async fn forget_pages(
        &self,
        source: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_own_row().await?;
        let n = on_tx!(&mut tx, |e| sqlx::query(
            "DELETE FROM full_texts WHERE article_id IN (
                 SELECT a.id FROM articles a JOIN sources s ON s.id = a.source_id
                 WHERE s.name = $1 AND a.first_seen >= $2)"
        )
        .bind(source)
        .bind(millis(since))
        .execute(e)
        .await
        .map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(n)
    }

    /// Each source's full texts: how many of its articles have one, and the last error.
    pub(crate) async fn full_text_states(&self) -> Result<Vec<FullTextState>, StoreError> {
        Ok(on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT s.name AS source,
                    COUNT(f.done_at) AS done,
                    (SELECT f2.error FROM full_texts f2 JOIN articles a2 ON a2.id = f2.article_id
                     WHERE a2.source_id = s.id AND f2.error IS NOT NULL
                     ORDER BY f2.article_id DESC LIMIT 1) AS error
             FROM sources s JOIN articles a ON a.source_id = s.id
             JOIN full_texts f ON f.article_id = a.id
             GROUP BY s.id, s.name ORDER BY s.name"
        )
        .fetch_all(p)
        .await)?)
    }
}
