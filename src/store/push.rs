//! Push subscriptions: ours at outlets' WebSub hubs, one per source at most, and what came of
//! them (state, lease, deliveries). What a delivery brings is recorded as a fetch's articles
//! are (`Attempt::Pushed`).

use chrono::{DateTime, Utc};

use super::engine::on_pool;
use super::{millis, Store, StoreError};

/// One subscription at an outlet's hub, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct PushSubscription {
    /// The last segment of its callback URL, unique to it.
    pub(crate) token: String,
    /// The source it is for.
    pub(crate) source: String,
    /// The hub's URL.
    pub(crate) hub: String,
    /// The topic: the feed's own URL, as it names itself.
    pub(crate) topic: String,
    /// The `hub.secret` we gave; deliveries must be signed with it.
    pub(crate) secret: String,
    /// Whether the hub may be on a private address: its source's `allow_private`.
    pub(crate) allow_private: bool,
    /// `pending`, `active`, `failed` or `unsubscribing`.
    pub(crate) state: String,
    /// Why it failed, for a failed one.
    pub(crate) error: Option<String>,
    /// When it was last asked for, in milliseconds.
    pub(crate) requested_at: i64,
    /// When the hub's lease ends, in milliseconds.
    pub(crate) lease_until: Option<i64>,
    /// When the last signed delivery came, in milliseconds.
    pub(crate) last_push_at: Option<i64>,
    /// Signed deliveries stored.
    pub(crate) pushes: i64,
    /// Deliveries refused for a bad signature.
    pub(crate) rejected: i64,
    /// New stories the deliveries brought.
    pub(crate) pushed_new: i64,
    /// New stories a poll found while the subscription was active: what pushes missed.
    pub(crate) missed: i64,
}

impl PushSubscription {
    /// Whether the hub has verified it and its lease runs at `now`.
    pub(crate) fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.state == "active" && self.lease_until.is_some_and(|t| t > millis(now))
    }
}

const COLUMNS: &str =
    "token, source, hub, topic, secret, allow_private, state, error, requested_at, \
    lease_until, last_push_at, pushes, rejected, pushed_new, missed";

impl Store {
    /// Every push subscription, by source name.
    pub(crate) async fn push_subscriptions(&self) -> Result<Vec<PushSubscription>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM push_subscriptions ORDER BY source");
        let rows = on_pool!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(p)
            .await)?;
        Ok(rows)
    }

    /// The subscription whose callback token is `token`.
    pub(crate) async fn push_subscription(
        &self,
        token: &str,
    ) -> Result<Option<PushSubscription>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM push_subscriptions WHERE token = $1");
        let row = on_pool!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(token)
            .fetch_optional(p)
            .await)?;
        Ok(row)
    }

    /// Stores `sub` as its source's subscription, replacing the one it had (its counts start
    /// again with the new hub or topic).
    pub(crate) async fn put_push_subscription(
        &self,
        sub: &PushSubscription,
    ) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        on_pool!(&self.db, |p| sqlx::query(
            "INSERT INTO push_subscriptions (token, source, hub, topic, secret, state, error,
                 requested_at, lease_until, allow_private)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (source) DO UPDATE SET token = $1, hub = $3, topic = $4, secret = $5,
                 state = $6, error = $7, requested_at = $8, lease_until = $9,
                 allow_private = $10,
                 last_push_at = NULL, pushes = 0, rejected = 0, pushed_new = 0, missed = 0"
        )
        .bind(&sub.token)
        .bind(&sub.source)
        .bind(&sub.hub)
        .bind(&sub.topic)
        .bind(&sub.secret)
        .bind(&sub.state)
        .bind(&sub.error)
        .bind(sub.requested_at)
        .bind(sub.lease_until)
        .bind(sub.allow_private)
        .execute(p)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Sets the state of the subscription `token`: `lease_until` and `error` as given,
    /// `requested_at` to now if `asked`.
    pub(crate) async fn set_push_state(
        &self,
        token: &str,
        state: &str,
        error: Option<&str>,
        lease_until: Option<DateTime<Utc>>,
        asked: bool,
    ) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        on_pool!(&self.db, |p| sqlx::query(
            "UPDATE push_subscriptions SET state = $2, error = $3, lease_until = $4,
                 requested_at = CASE WHEN $5 THEN $6 ELSE requested_at END
             WHERE token = $1"
        )
        .bind(token)
        .bind(state)
        .bind(error)
        .bind(lease_until.map(millis))
        .bind(asked)
        .bind(millis(Utc::now()))
        .execute(p)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Forgets the subscription `token` (the hub confirmed its end).
    pub(crate) async fn forget_push_subscription(&self, token: &str) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        on_pool!(&self.db, |p| sqlx::query(
            "DELETE FROM push_subscriptions WHERE token = $1"
        )
        .bind(token)
        .execute(p)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Counts on the subscription `token` a delivery refused for its signature, or on the
    /// source `source` stories a poll found that no push had brought.
    pub(crate) async fn count_push(
        &self,
        token_or_source: &str,
        miss: PushCount,
    ) -> Result<(), StoreError> {
        let sql = match miss {
            PushCount::Rejected => {
                "UPDATE push_subscriptions SET rejected = rejected + $2 WHERE token = $1"
            }
            PushCount::Missed(_) => {
                "UPDATE push_subscriptions SET missed = missed + $2 WHERE source = $1"
            }
        };
        let n = match miss {
            PushCount::Rejected => 1,
            PushCount::Missed(n) => i64::from(n),
        };
        let _writer = self.writer.lock().await;
        on_pool!(&self.db, |p| sqlx::query(sql)
            .bind(token_or_source)
            .bind(n)
            .execute(p)
            .await
            .map(drop))?;
        Ok(())
    }
}

/// What [`Store::count_push`] counts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PushCount {
    /// A delivery with a bad signature, on a subscription's token.
    Rejected,
    /// This many new stories a poll found on an active subscription's source.
    Missed(u32),
}
