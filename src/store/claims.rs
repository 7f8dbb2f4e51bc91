//! Claims: which replica fetches a due source, so that replicas sharing a PostgreSQL database
//! fetch it once; and freeing them at shutdown.

use std::time::Duration;

use chrono::Utc;

use super::engine::{on_pool, Db};
use super::{millis, Store, StoreError};

impl Store {
    /// Claims the source `name` for this process until `lease` from now, if it is due and no
    /// other process holds it (a claim of its own whose result could not be stored is
    /// renewed): whether it did. Its recorded result, or [`Store::defer`], frees it; so does
    /// the lease's expiry, should this process die first. Replicas on one PostgreSQL database
    /// each claim before they fetch, so a due source is fetched once.
    ///
    /// On SQLite every claim succeeds and nothing is written: an SQLite file has one daemon,
    /// which after a crash must resume at once (the claims of the process that died would hold
    /// its sources for a lease).
    pub async fn claim(&self, name: &str, lease: Duration) -> Result<bool, StoreError> {
        // A replica claiming the row at the same moment has it locked: skipped, not waited
        // for, and re-read by neither once it is claimed.
        const CLAIM: &str = "UPDATE sources SET lease_owner = $2, lease_until = $3
             WHERE id = (SELECT id FROM sources
                         WHERE name = $1 AND disabled_reason IS NULL
                           AND (next_due_at IS NULL OR next_due_at <= $4)
                           AND (lease_until IS NULL OR lease_until <= $4 OR lease_owner = $2)
                         FOR UPDATE SKIP LOCKED)
             RETURNING id";
        let Db::Postgres(pool) = &self.db else {
            return Ok(true);
        };
        let now = Utc::now();
        let until = millis(now) + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4);
        let claimed: Option<i64> = sqlx::query_scalar(CLAIM)
            .bind(name)
            .bind(&*self.replica)
            .bind(until)
            .bind(millis(now))
            .fetch_optional(pool)
            .await?;
        Ok(claimed.is_some())
    }

    /// Frees the sources this process claimed and has not recorded (polls cancelled by a
    /// shutdown), for other replicas to take at once rather than when the leases expire.
    pub async fn release(&self) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        on_pool!(&self.db, |p| sqlx::query(
            "UPDATE sources SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1"
        )
        .bind(&*self.replica)
        .execute(p)
        .await
        .map(drop))?;
        Ok(())
    }
}
