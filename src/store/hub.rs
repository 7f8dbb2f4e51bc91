//! Our WebSub hub's state: readers' subscriptions to our feeds (topic, callback, secret,
//! lease), and each subscribed topic's last delivered digest, which makes one replica the
//! one that delivers a change.

use chrono::{DateTime, Utc};

use super::engine::on_pool;
use super::{millis, Store, StoreError};

/// A reader's subscription to one of our feeds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct HubSubscription {
    /// Our feed's URL.
    pub(crate) topic: String,
    /// Where its changes are delivered.
    pub(crate) callback: String,
    /// The secret deliveries are signed with, if the reader gave one.
    pub(crate) secret: Option<String>,
    /// When its lease ends, in milliseconds.
    pub(crate) lease_until: i64,
}

impl Store {
    /// Stores a verified subscription (renewing it if it exists).
    pub(crate) async fn put_hub_subscription(
        &self,
        sub: &HubSubscription,
        host: &str,
    ) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        on_pool!(&self.db, |p| sqlx::query(
            "INSERT INTO hub_subscriptions (topic, callback, host, secret, lease_until, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (topic, callback) DO UPDATE SET secret = $4, lease_until = $5"
        )
        .bind(&sub.topic)
        .bind(&sub.callback)
        .bind(host)
        .bind(&sub.secret)
        .bind(sub.lease_until)
        .bind(millis(Utc::now()))
        .execute(p)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Removes a subscription (unsubscribed, or its callback said 410 Gone).
    pub(crate) async fn forget_hub_subscription(
        &self,
        topic: &str,
        callback: &str,
    ) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        on_pool!(&self.db, |p| sqlx::query(
            "DELETE FROM hub_subscriptions WHERE topic = $1 AND callback = $2"
        )
        .bind(topic)
        .bind(callback)
        .execute(p)
        .await
        .map(drop))?;
        Ok(())
    }

    /// The live subscriptions (lease running at `now`), by topic; those whose lease ended are
    /// deleted, if there are any (most calls write nothing).
    pub(crate) async fn hub_subscriptions(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<HubSubscription>, StoreError> {
        let all: Vec<HubSubscription> = on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT topic, callback, secret, lease_until FROM hub_subscriptions
             ORDER BY topic, callback"
        )
        .fetch_all(p)
        .await)?;
        let (live, ended): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|s| s.lease_until > millis(now));
        if !ended.is_empty() {
            let _writer = self.writer.lock().await;
            on_pool!(&self.db, |p| sqlx::query(
                "DELETE FROM hub_subscriptions WHERE lease_until <= $1"
            )
            .bind(millis(now))
            .execute(p)
            .await
            .map(drop))?;
        }
        Ok(live)
    }

    /// Whether `callback` is subscribed to `topic`.
    pub(crate) async fn has_hub_subscription(
        &self,
        topic: &str,
        callback: &str,
    ) -> Result<bool, StoreError> {
        let found: i64 = on_pool!(&self.db, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM hub_subscriptions WHERE topic = $1 AND callback = $2"
        )
        .bind(topic)
        .bind(callback)
        .fetch_one(p)
        .await)?;
        Ok(found > 0)
    }

    /// How many live subscriptions `topic` has, and how many callbacks on `host` have.
    pub(crate) async fn hub_load(&self, topic: &str, host: &str) -> Result<(i64, i64), StoreError> {
        let now = millis(Utc::now());
        let load = on_pool!(&self.db, |p| {
            sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM hub_subscriptions WHERE topic = $1 AND lease_until > $3),
                    (SELECT COUNT(*) FROM hub_subscriptions WHERE host = $2 AND lease_until > $3)"
        )
        .bind(topic)
        .bind(host)
        .bind(now)
        .fetch_one(p)
        .await
        })?;
        Ok(load)
    }

    /// Moves `topic`'s digest to `digest`: whether this call moved it (the change is this
    /// process's to deliver). A topic seen for the first time is stored, and not a change.
    pub(crate) async fn advance_topic(
        &self,
        topic: &str,
        digest: &str,
    ) -> Result<bool, StoreError> {
        let now = millis(Utc::now());
        let _writer = self.writer.lock().await;
        // One statement: of replicas racing with the same new digest, one updates the row and
        // the others find it already moved.
        let moved = on_pool!(&self.db, |p| {
            sqlx::query(
            "UPDATE hub_topics SET digest = $2, changed_at = $3 WHERE topic = $1 AND digest <> $2"
        )
        .bind(topic)
        .bind(digest)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        drop(_writer);
        if moved == 0 {
            self.seed_topic(topic, digest).await?;
        }
        Ok(moved > 0)
    }

    /// Stores `digest` as `topic`'s, unless it has one: what a new subscriber is deemed to
    /// have, so that the next change is delivered to it.
    pub(crate) async fn seed_topic(&self, topic: &str, digest: &str) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        on_pool!(&self.db, |p| sqlx::query(
            "INSERT INTO hub_topics (topic, digest, changed_at) VALUES ($1, $2, $3)
             ON CONFLICT (topic) DO NOTHING"
        )
        .bind(topic)
        .bind(digest)
        .bind(millis(Utc::now()))
        .execute(p)
        .await
        .map(drop))?;
        Ok(())
    }
}
