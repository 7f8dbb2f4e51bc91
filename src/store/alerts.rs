//! Alerts' state (see `notify`): how far each alert has looked among the stories, and its
//! deliveries, an outbox shared by every replica. A delivery is inserted once per alert and
//! story (the unique key settles a race between replicas), claimed by one replica at a time
//! with a lease (another takes it over only if that one stops), and sent in id order: the
//! oldest pending delivery of an alert goes first, and the next waits for it.

use chrono::{DateTime, Utc};

use super::engine::{on_pool, on_tx};
use super::{from_millis, millis, Store, StoreError, Story};

/// A delivery claimed for sending.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Delivery {
    /// Its id.
    pub(crate) id: i64,
    /// The body to send, as it was made when the story matched.
    pub(crate) body: String,
    /// Tries made before this one.
    pub(crate) attempts: i64,
}

/// An alert's deliveries, for `/status` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AlertState {
    /// The alert.
    pub(crate) alert: String,
    /// Waiting to be sent (or sent again).
    pub(crate) pending: i64,
    /// Taken by the target.
    pub(crate) delivered: i64,
    /// Given up after every try failed.
    pub(crate) failed: i64,
    /// The last failure's reason, if the oldest pending delivery has failed.
    pub(crate) error: Option<String>,
    /// When a delivery was last taken.
    pub(crate) last_delivered: Option<DateTime<Utc>>,
}

impl Store {
    /// The id of the last story `alert` looked at; a new alert starts at the newest story,
    /// so that it tells of the stories to come, not of those stored before it.
    pub(crate) async fn alert_cursor(&self, alert: &str) -> Result<i64, StoreError> {
        let known: Option<i64> = on_pool!(&self.db, |e| sqlx::query_scalar(
            "SELECT last_story FROM alert_cursors WHERE alert = $1"
        )
        .bind(alert)
        .fetch_optional(e)
        .await)?;
        if let Some(cursor) = known {
            return Ok(cursor);
        }
        let mut tx = self.db.begin_own_row().await?;
        on_tx!(&mut tx, |e| sqlx::query(
            "INSERT INTO alert_cursors (alert, last_story)
             SELECT $1, COALESCE(MAX(id), 0) FROM stories WHERE TRUE
             ON CONFLICT (alert) DO NOTHING"
        )
        .bind(alert)
        .execute(e)
        .await
        .map(drop))?;
        let cursor = on_tx!(&mut tx, |e| sqlx::query_scalar(
            "SELECT last_story FROM alert_cursors WHERE alert = $1"
        )
        .bind(alert)
        .fetch_one(e)
        .await)?;
        tx.commit().await?;
        Ok(cursor)
    }

    /// Up to `limit` stories with ids above `after`, in id order, each with its id.
    pub(crate) async fn stories_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Story)>, StoreError> {
        let ids: Vec<(i64, String)> = on_pool!(&self.db, |e| sqlx::query_as(
            "SELECT id, entry_id FROM stories WHERE id > $1 ORDER BY id LIMIT $2"
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(e)
        .await)?;
        let just_ids: Vec<i64> = ids.iter().map(|(id, _)| *id).collect();
        let mut stories = self.stories_by_id(&just_ids).await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, entry) in ids {
            if let Some(i) = stories.iter().position(|s| s.entry_id == entry) {
                out.push((id, stories.swap_remove(i)));
            }
        }
        Ok(out)
    }

    /// Queues a delivery of each of `bodies` (a story id and the body telling of it) for
    /// `alert`, none twice, and moves the alert's cursor on to `looked_to`, in one
    /// transaction.
    pub(crate) async fn queue_alerts(
        &self,
        alert: &str,
        bodies: &[(i64, String)],
        looked_to: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_own_row().await?;
        for (story, body) in bodies {
            on_tx!(&mut tx, |e| sqlx::query(
                "INSERT INTO alert_deliveries (alert, story_id, body, next_try_at, created_at)
                 VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (alert, story_id) DO NOTHING"
            )
            .bind(alert)
            .bind(story)
            .bind(body)
            .bind(millis(now))
            .execute(e)
            .await
            .map(drop))?;
        }
        on_tx!(&mut tx, |e| sqlx::query(
            "UPDATE alert_cursors SET last_story = $2 WHERE alert = $1 AND last_story < $2"
        )
        .bind(alert)
        .bind(looked_to)
        .execute(e)
        .await
        .map(drop))?;
        tx.commit().await
    }

    /// Claims `alert`'s oldest pending delivery until `until`, if it is due at `now` and no
    /// replica holds it: `None` when there is none, or when it must wait (its next try is
    /// later, or another replica is sending it), since a later one may not go first.
    pub(crate) async fn claim_delivery(
        &self,
        alert: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        // Read first: most looks find nothing due, and take no write lock for it.
        let head: Option<(i64, Option<i64>)> = on_pool!(&self.db, |e| sqlx::query_as(
            "SELECT next_try_at, claimed_until FROM alert_deliveries
             WHERE alert = $1 AND state = 'pending' ORDER BY id LIMIT 1"
        )
        .bind(alert)
        .fetch_optional(e)
        .await)?;
        let now_ms = millis(now);
        let due = |(next, claimed): (i64, Option<i64>)| {
            next <= now_ms && claimed.is_none_or(|c| c < now_ms)
        };
        if !head.is_some_and(due) {
            return Ok(None);
        }
        let mut tx = self.db.begin_own_row().await?;
        let claimed = on_tx!(&mut tx, |e| sqlx::query_as(
            "UPDATE alert_deliveries SET claimed_until = $3
             WHERE id = (SELECT id FROM alert_deliveries
                         WHERE alert = $1 AND state = 'pending' ORDER BY id LIMIT 1)
               AND next_try_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2)
             RETURNING id, body, attempts"
        )
        .bind(alert)
        .bind(millis(now))
        .bind(millis(until))
        .fetch_optional(e)
        .await)?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records how delivery `id` went: taken (`Ok`), or failed with a reason and the time of
    /// its next try (`None`: given up).
    pub(crate) async fn settle_delivery(
        &self,
        id: i64,
        outcome: Result<(), (String, Option<DateTime<Utc>>)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (state, error, next) = match outcome {
            Ok(()) => ("delivered", None, None),
            Err((why, Some(next))) => ("pending", Some(why), Some(millis(next))),
            Err((why, None)) => ("failed", Some(why), None),
        };
        let mut tx = self.db.begin_own_row().await?;
        on_tx!(&mut tx, |e| sqlx::query(
            "UPDATE alert_deliveries SET state = $2, error = $3, attempts = attempts + 1,
                 next_try_at = COALESCE($4, next_try_at), claimed_until = NULL,
                 done_at = CASE WHEN $2 = 'pending' THEN NULL ELSE $5 END
             WHERE id = $1"
        )
        .bind(id)
        .bind(state)
        .bind(error)
        .bind(next)
        .bind(millis(now))
        .execute(e)
        .await
        .map(drop))?;
        tx.commit().await
    }

    /// Each alert's deliveries by state, with the oldest pending one's last error.
    pub(crate) async fn alert_states(&self) -> Result<Vec<AlertState>, StoreError> {
        type Row = (String, i64, i64, i64, Option<String>, Option<i64>);
        let rows: Vec<Row> = on_pool!(&self.db, |e| sqlx::query_as(
            "SELECT d.alert,
                    SUM(CASE WHEN d.state = 'pending' THEN 1 ELSE 0 END),
                    SUM(CASE WHEN d.state = 'delivered' THEN 1 ELSE 0 END),
                    SUM(CASE WHEN d.state = 'failed' THEN 1 ELSE 0 END),
                    (SELECT p.error FROM alert_deliveries p
                      WHERE p.alert = d.alert AND p.state = 'pending' ORDER BY p.id LIMIT 1),
                    MAX(CASE WHEN d.state = 'delivered' THEN d.done_at END)
             FROM alert_deliveries d GROUP BY d.alert ORDER BY d.alert"
        )
        .fetch_all(e)
        .await)?;
        Ok(rows
            .into_iter()
            .map(
                |(alert, pending, delivered, failed, error, last)| AlertState {
                    alert,
                    pending,
                    delivered,
                    failed,
                    error,
                    last_delivered: last.map(from_millis),
                },
            )
            .collect())
    }
}
