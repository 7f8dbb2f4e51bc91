//! Whether the database can be written: what the last write said, and the small write that
//! tests it again while polling waits (a full disk, a read-only file).

use super::engine::on_pool;
use super::{Store, StoreError};

impl Store {
    /// Why the database cannot be written (the disk is full, the file is read-only), if the
    /// last attempt to record a poll failed for that reason.
    pub fn unwritable(&self) -> Option<String> {
        if let Some(why) = &self.read_only {
            return Some(format!("{}", StoreError::ReadOnly(why.clone())));
        }
        self.unwritable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Fails, saying why, if the database was opened read-only (its folder cannot be written):
    /// then nothing can be written until a restart.
    pub fn read_only(&self) -> Result<(), StoreError> {
        match &self.read_only {
            Some(why) => Err(StoreError::ReadOnly(why.clone())),
            None => Ok(()),
        }
    }

    /// Remembers whether a write succeeded, or failed because nothing can be written.
    pub(super) fn note_write<T>(&self, result: &Result<T, StoreError>) {
        let mut unwritable = self.unwritable.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(_) => *unwritable = None,
            Err(e) if e.is_unwritable() => *unwritable = Some(e.to_string()),
            Err(_) => {}
        }
    }

    /// Tests with one small write (a source row rewritten as it is) whether the database can
    /// be written again.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        self.read_only()?;
        let _writer = self.writer.lock().await;
        let result: Result<(), StoreError> = on_pool!(&self.db, |pool| async {
            let mut conn = pool.acquire().await?;
            let result: Result<(), StoreError> = async {
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                sqlx::query("UPDATE sources SET id = id WHERE id = (SELECT MIN(id) FROM sources)")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
            .await;
            // A connection opened while the file was read-only stays read-only: replaced,
            // so that the next probe tries a fresh one.
            if matches!(&result, Err(e) if e.is_unwritable()) {
                conn.close_on_drop();
            }
            result
        }
        .await);
        match &result {
            Err(_) => {}
            Ok(()) => {
                *self
                    .writable_since
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
            }
        }
        self.note_write(&result);
        result
    }
}
