//! Counts and sizes for `/healthz`, `/status` and `/metrics`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::engine::on_pool;
use super::{from_millis, millis, Store, StoreError};

/// Counts for `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Sources known to the database.
    pub sources: i64,
    /// Sources whose last attempt failed.
    pub failing: i64,
    /// Articles stored (every version of every story).
    pub articles: i64,
    /// Stories: entries of the merged feed.
    pub stories: i64,
    /// The latest attempt of any source.
    pub last_poll: Option<DateTime<Utc>>,
}

impl Store {
    /// The database's size in bytes (on SQLite, its pages, those still in the write-ahead
    /// log included).
    pub async fn file_size(&self) -> Result<u64, StoreError> {
        self.db.size().await
    }

    /// Bytes the story index's record takes in the database (the `sketches` table, which
    /// keeps each sketch with its band keys, and its index).
    pub async fn index_size(&self) -> Result<i64, StoreError> {
        self.db.index_size().await
    }

    /// How many articles each source carries (its own and those it shares), by name.
    pub async fn articles_by_source(&self) -> Result<HashMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT s.name, (SELECT COUNT(*) FROM appearances ap WHERE ap.source_id = s.id)
             FROM sources s",
        )
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().collect())
    }

    /// Articles published on each UTC day since `since`, oldest day first; days without any
    /// are left out. By publication, not by when they were first seen: a first poll of old
    /// feeds spreads over the days they cover rather than making one bar.
    pub async fn articles_per_day(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(chrono::NaiveDate, i64)>, StoreError> {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        let rows: Vec<(i64, i64)> = on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT published / $2 AS day, COUNT(*) FROM articles
             WHERE published >= $1 GROUP BY day ORDER BY day",
        )
        .bind(millis(since))
        .bind(DAY_MS)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(day, n)| (from_millis(day * DAY_MS).date_naive(), n))
            .collect())
    }

    /// Totals for the health check.
    pub async fn totals(&self) -> Result<Totals, StoreError> {
        let (sources, failing, last_poll): (i64, i64, Option<i64>) =
            on_pool!(&self.db, |p| sqlx::query_as(
                "SELECT COUNT(*), COUNT(last_error), MAX(last_attempt_at) FROM sources",
            )
            .fetch_one(p)
            .await)?;
        let (articles, stories): (i64, i64) = on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM articles), (SELECT COUNT(*) FROM stories)",
        )
        .fetch_one(p)
        .await)?;
        Ok(Totals {
            sources,
            failing,
            articles,
            stories,
            last_poll: last_poll.map(from_millis),
        })
    }
}
