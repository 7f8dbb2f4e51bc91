//! Source rows: registering the configured sources, reading their stored state, moving when
//! one is next due, and whether its host asked to wait.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::engine::{on_pool, write_rows};
use super::{json, millis, Store, StoreError};
use crate::config::Source;

/// A source's state as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct SourceState {
    /// Its name.
    pub(crate) name: String,
    /// Its feed URL.
    pub(crate) url: String,
    /// Last attempt, ms since the epoch.
    pub(crate) last_attempt_at: Option<i64>,
    /// Last success, ms since the epoch.
    pub(crate) last_success_at: Option<i64>,
    /// Last HTTP status.
    pub(crate) last_status: Option<i64>,
    /// Last error, if the last attempt failed.
    pub(crate) last_error: Option<String>,
    /// Failures since the last success.
    pub(crate) consecutive_failures: i64,
    /// Stored ETag.
    pub(crate) etag: Option<String>,
    /// Stored Last-Modified.
    pub(crate) last_modified: Option<String>,
    /// When it is next due, ms since the epoch; `None` if never polled.
    pub(crate) next_due_at: Option<i64>,
    /// Where a permanent redirect led, if one did; or the feed its url's page advertises.
    pub(crate) effective_url: Option<String>,
    /// Whether `effective_url` is the feed the source's page advertises.
    pub(crate) found_on_page: bool,
    /// Why it is no longer polled, if it is not.
    pub(crate) disabled_reason: Option<String>,
    /// The feed's own minimum interval, seconds.
    pub(crate) min_interval_secs: Option<i64>,
    /// Until when a process (a replica) that claimed it may be fetching it, ms since the
    /// epoch.
    pub(crate) lease_until: Option<i64>,
    /// What its last fetched feed held that was not all read (entries past the cap).
    pub(crate) last_warning: Option<String>,
}

impl SourceState {
    /// Until when its host asked to be left alone, if it still does: its last answer was 429
    /// Too Many Requests, and it is not due again yet (its due time honours the Retry-After).
    pub(crate) fn asked_to_wait(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let until = self.next_due_at.map(super::from_millis)?;
        (self.last_status == Some(429) && self.last_error.is_some() && until > now).then_some(until)
    }
}

/// The query for [`SourceState`] rows, to which a condition is appended.
macro_rules! select_source_state {
    () => {
        "SELECT name, url, last_attempt_at, last_success_at, last_status, last_error,
                consecutive_failures, etag, last_modified, next_due_at, effective_url,
                disabled_reason, min_interval_secs, lease_until, last_warning, found_on_page
         FROM sources"
    };
}

impl Store {
    /// Makes sure every configured source has a row, and that a changed URL forgets the old
    /// URL's validators.
    pub async fn sync_sources(&self, sources: &[Source]) -> Result<(), StoreError> {
        let result = self.sync_sources_once(sources).await;
        self.note_write(&result);
        result
    }

    async fn sync_sources_once(&self, sources: &[Source]) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        // Only what changed is written: a start with the config as it was writes nothing.
        let stored: HashMap<String, String> =
            on_pool!(&self.db, |p| sqlx::query_as::<_, (String, String)>(
                "SELECT name, url FROM sources"
            )
            .fetch_all(p)
            .await)?
            .into_iter()
            .collect();
        let changed: Vec<&Source> = sources
            .iter()
            .filter(|s| stored.get(&s.name).map(String::as_str) != Some(s.url.as_str()))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        write_rows!(
            &mut tx,
            "INSERT INTO sources (name, url) ",
            // A new URL is a new feed: what was learnt about the old one no longer holds.
            " ON CONFLICT (name) DO UPDATE SET
                 etag = CASE WHEN sources.url = excluded.url THEN sources.etag END,
                 last_modified =
                     CASE WHEN sources.url = excluded.url THEN sources.last_modified END,
                 effective_url =
                     CASE WHEN sources.url = excluded.url THEN sources.effective_url END,
                 found_on_page = sources.url = excluded.url AND sources.found_on_page,
                 disabled_reason =
                     CASE WHEN sources.url = excluded.url THEN sources.disabled_reason END,
                 next_due_at =
                     CASE WHEN sources.url = excluded.url THEN sources.next_due_at END,
                 consecutive_failures = CASE WHEN sources.url = excluded.url
                     THEN sources.consecutive_failures ELSE 0 END,
                 url = excluded.url",
            changed,
            |b, s| {
                b.push_bind(&s.name).push_bind(s.url.as_str());
            }
        );
        tx.announce().await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }

    /// Every stored source's state, by name.
    pub(crate) async fn source_states(&self) -> Result<HashMap<String, SourceState>, StoreError> {
        let rows: Vec<SourceState> = on_pool!(&self.db, |p| sqlx::query_as(concat!(
            select_source_state!(),
            " ORDER BY name"
        ))
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(|r| (r.name.clone(), r)).collect())
    }

    /// The stored state of the named sources, by name.
    pub(crate) async fn states_of(
        &self,
        names: &[&str],
    ) -> Result<HashMap<String, SourceState>, StoreError> {
        let names = json(names);
        let rows: Vec<SourceState> = on_pool!(&self.db, |p| sqlx::query_as(concat!(
            select_source_state!(),
            " WHERE name IN (SELECT value FROM json_each($1))"
        ))
        .bind(&names)
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(|r| (r.name.clone(), r)).collect())
    }

    /// Moves a source's next due time without an attempt (its host asked everyone to wait).
    pub async fn defer(&self, source: &str, due: DateTime<Utc>) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        on_pool!(&self.db, |p| sqlx::query(
            "UPDATE sources SET next_due_at = $2, lease_owner = NULL, lease_until = NULL
             WHERE name = $1"
        )
        .bind(source)
        .bind(millis(due))
        .execute(p)
        .await
        .map(drop))?;
        Ok(())
    }
}
