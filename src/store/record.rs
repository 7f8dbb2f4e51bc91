//! Recording one fetch of a source: its articles (see `ingest`), its validators, its status or
//! error and when it is next due, all or nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::engine::{on_tx, Tx};
use super::group::GroupRows;
use super::ingest::Ingest;
use super::known::Known;
use super::story_index::Pending;
use super::{millis, Counts, Store, StoreError};
use crate::dedup::Keyed;
use crate::fetch::Validators;
use crate::rules::Discarded;

/// What one fetch of a source came to, as the store records it.
#[derive(Debug)]
pub enum Attempt {
    /// The server said 304: nothing changed.
    NotModified {
        /// The shortest interval the feed asks to be polled at, if any.
        min_interval: Option<Duration>,
    },
    /// A feed was fetched and parsed.
    Fetched {
        /// The HTTP status.
        status: u16,
        /// Validators to send next time.
        validators: Validators,
        /// The feed's own title.
        title: Option<String>,
        /// The outlet's web site.
        site_url: Option<String>,
        /// Its articles, identified.
        articles: Vec<Keyed>,
        /// The entries the source's rules discarded.
        discarded: Vec<Discarded>,
        /// The shortest interval the feed asks to be polled at, if any.
        min_interval: Option<Duration>,
        /// What of the feed was not read, if anything was not.
        warning: Option<String>,
    },
    /// A hub pushed the feed (WebSub): its articles are stored as a fetch's are, and the
    /// push is counted on the subscription; the source's polling state is left as it is.
    Pushed {
        /// The subscription's callback token.
        token: String,
        /// The pushed feed's articles, identified.
        articles: Vec<Keyed>,
        /// The entries the source's rules discarded.
        discarded: Vec<Discarded>,
    },
    /// `feedmerge reapply`: stored articles of the source that its rules now rewrite, each
    /// under its stored entry key; they are stored as a fetch's edits are, and the source's
    /// polling state is left as it is.
    Reapplied {
        /// The articles as the rules leave them.
        articles: Vec<Keyed>,
    },
    /// The fetch or the parse failed.
    Failed {
        /// The HTTP status, if the server answered.
        status: Option<u16>,
        /// What went wrong, in words.
        error: String,
    },
}

/// What the poller decided about a source's future, stored with the attempt.
#[derive(Debug, Clone, Default)]
pub struct Next {
    /// When it is next due; `None` when it is not to be polled again (see `disabled`).
    pub due: Option<DateTime<Utc>>,
    /// A permanent redirect's target, or the feed the source's page advertises, to use from
    /// now on.
    pub moved_to: Option<String>,
    /// Whether `moved_to` is the feed the page advertises (`Some(false)`: a redirect's).
    pub found_on_page: Option<bool>,
    /// Why it is no longer polled (410 Gone).
    pub disabled: Option<String>,
}

impl Next {
    /// `query`, an `UPDATE sources` of an attempt, with what the poller decided bound as its
    /// last four values: when the source is next due, where it moved, why it is disabled,
    /// whether it was found on its page.
    fn bound<'q, DB: sqlx::Database>(
        &'q self,
        query: sqlx::query::Query<'q, DB, DB::Arguments>,
    ) -> sqlx::query::Query<'q, DB, DB::Arguments>
    where
        Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        &'q Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<bool>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        query
            .bind(self.due.map(millis))
            .bind(&self.moved_to)
            .bind(&self.disabled)
            .bind(self.found_on_page)
    }
}

/// A 304: the source is well, nothing else changed. Ends with what `Next::bound` binds.
const RECORD_NOT_MODIFIED: &str = "UPDATE sources SET last_attempt_at = $2, last_success_at = $2,
             last_status = 304, last_error = NULL, consecutive_failures = 0,
             min_interval_secs = $3,
             next_due_at = $4, effective_url = COALESCE($5, effective_url),
             disabled_reason = $6, found_on_page = COALESCE($7, found_on_page),
             lease_owner = NULL, lease_until = NULL
         WHERE name = $1";

/// A failure: counted, and said. Ends with what `Next::bound` binds.
const RECORD_FAILED: &str =
    "UPDATE sources SET last_attempt_at = $2, last_status = $3, last_error = $4,
             consecutive_failures = consecutive_failures + 1,
             next_due_at = $5, effective_url = COALESCE($6, effective_url),
             disabled_reason = $7, found_on_page = COALESCE($8, found_on_page),
             lease_owner = NULL, lease_until = NULL
         WHERE name = $1";

/// A push: counted on its subscription.
const RECORD_PUSHED: &str = "UPDATE push_subscriptions SET last_push_at = $2, pushes = pushes + 1,
         pushed_new = pushed_new + $3
     WHERE token = $1";

/// A feed read: the source is well, its validators and what its feed says of itself kept.
/// Ends with what `Next::bound` binds.
const RECORD_FETCHED: &str = "UPDATE sources SET last_attempt_at = $2, last_success_at = $2,
             last_status = $3, last_error = NULL, consecutive_failures = 0,
             etag = $4, last_modified = $5,
             title = COALESCE($6, title), site_url = COALESCE($7, site_url),
             min_interval_secs = $8, last_warning = $9,
             next_due_at = $10, effective_url = COALESCE($11, effective_url),
             disabled_reason = $12, found_on_page = COALESCE($13, found_on_page),
             lease_owner = NULL, lease_until = NULL
         WHERE name = $1";

impl Store {
    /// Records one fetch of `source` — articles, validators, status, and when it is next due —
    /// all or nothing, and says how its articles compared with what was stored. Waits for the
    /// recorder to commit it, with whatever other results were waiting (see `recorder.rs`).
    pub async fn record(
        &self,
        source: &str,
        attempt: Attempt,
        next: Next,
    ) -> Result<Counts, StoreError> {
        let result = self.recorder.record(self, source, attempt, next).await;
        self.note_write(&result);
        result
    }

    /// Writes one result inside `tx` (the recorder's transaction for a group of results),
    /// placing its new articles in the story index through `pending` and leaving their search
    /// index entries, sketches and headlines to `group`, for the recorder to write once for
    /// the group; returns how its articles compared with what was stored.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn write_result<'k>(
        &self,
        tx: &mut Tx,
        pending: &mut Pending<'_>,
        group: &mut GroupRows<'k>,
        source: &str,
        attempt: &'k Attempt,
        next: &Next,
        now: DateTime<Utc>,
    ) -> Result<Counts, StoreError> {
        let mut counts = Counts::default();
        // The articles of a fetch or a push first.
        if let Attempt::Pushed { articles, .. }
        | Attempt::Fetched { articles, .. }
        | Attempt::Reapplied { articles } = attempt
        {
            let pushed = !matches!(attempt, Attempt::Fetched { .. });
            self.ingest(
                tx,
                pending,
                group,
                source,
                articles,
                now,
                &mut counts,
                pushed,
            )
            .await?;
        }
        if let Attempt::Pushed { discarded, .. } | Attempt::Fetched { discarded, .. } = attempt {
            super::discarded::remember(tx, source, discarded, now).await?;
        }
        // What the fetch says of the source and when it is next due: one UPDATE each, which
        // ends with what `next` sets.
        let done = match attempt {
            Attempt::Reapplied { .. } => 1,
            Attempt::NotModified { min_interval } => on_tx!(tx, |e| {
                let query = sqlx::query(RECORD_NOT_MODIFIED)
                    .bind(source)
                    .bind(millis(now))
                    .bind(min_interval.map(|d| d.as_secs() as i64));
                next.bound(query)
                    .execute(e)
                    .await
                    .map(|r| r.rows_affected())
            })?,
            Attempt::Failed { status, error } => on_tx!(tx, |e| {
                let query = sqlx::query(RECORD_FAILED)
                    .bind(source)
                    .bind(millis(now))
                    .bind(status.map(i64::from))
                    .bind(error);
                next.bound(query)
                    .execute(e)
                    .await
                    .map(|r| r.rows_affected())
            })?,
            Attempt::Pushed { token, .. } => on_tx!(tx, |e| sqlx::query(RECORD_PUSHED,)
                .bind(token)
                .bind(millis(now))
                .bind(i64::from(counts.new))
                .execute(e)
                .await
                .map(|r| r.rows_affected()))?,
            Attempt::Fetched {
                status,
                validators,
                title,
                site_url,
                min_interval,
                warning,
                ..
            } => on_tx!(tx, |e| {
                let query = sqlx::query(RECORD_FETCHED)
                    .bind(source)
                    .bind(millis(now))
                    .bind(i64::from(*status))
                    .bind(&validators.etag)
                    .bind(&validators.last_modified)
                    .bind(title)
                    .bind(site_url)
                    .bind(min_interval.map(|d| d.as_secs() as i64))
                    .bind(warning);
                next.bound(query)
                    .execute(e)
                    .await
                    .map(|r| r.rows_affected())
            })?,
        };
        if done == 0 {
            // Every configured source is registered when the store opens.
            return Err(StoreError::Query(sqlx::Error::RowNotFound));
        }
        Ok(counts)
    }

    /// Stores `articles` of `source` inside `tx` (see `ingest`), counting them in `counts`;
    /// `pushed` by its hub (after a poll, so never its backlog) or fetched.
    #[allow(clippy::too_many_arguments)]
    async fn ingest<'k>(
        &self,
        tx: &mut Tx,
        pending: &mut Pending<'_>,
        group: &mut GroupRows<'k>,
        source: &str,
        articles: &'k [Keyed],
        now: DateTime<Utc>,
        counts: &mut Counts,
        pushed: bool,
    ) -> Result<(), StoreError> {
        let known = Known::load(tx, source, articles).await?;
        let polled_before = known.polled_before || pushed;
        Ingest {
            tx: &mut *tx,
            source,
            source_id: known.source_id,
            polled_before,
            undated_at: crate::dedup::story::undated_at(
                polled_before,
                articles.iter().map(|k| k.article.published),
                now,
            ),
            dedup: &self.dedup,
            pending: &mut *pending,
            now,
            counts,
            group,
        }
        .articles(articles, known)
        .await
    }
}
