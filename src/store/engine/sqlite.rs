//! Opening an SQLite file: its settings, its schema, and the read-only opening of a file
//! whose folder cannot be written (a replica serving a snapshot on a read-only mount).

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::store::StoreError;

/// Opens (creating if needed, with its folder) the SQLite file at `path` and brings its schema
/// up to date: the readers' pool and the writer's (`Db::Sqlite`). When its folder cannot be
/// written (a read-only mount: a replica serving a snapshot), an existing file is opened
/// read-only instead, and the third value says why.
pub(super) async fn open_sqlite(
    path: &Path,
    writable_since: Arc<Mutex<Option<Instant>>>,
    taken: Arc<AtomicU64>,
    open_err: impl Fn(Box<dyn std::error::Error + Send + Sync>) -> StoreError,
) -> Result<(SqlitePool, SqlitePool, Option<String>), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // A file where a folder must be ("/etc/passwd/x.db") is named as such: the OS would
        // only say "File exists".
        if let Some(file) = dir.ancestors().find(|a| a.is_file()) {
            return Err(open_err(
                format!("{} is a file, not a folder", file.display()).into(),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| open_err(Box::new(e)))?;
    }
    let options = SqliteConnectOptions::from_str("sqlite:")
        .map_err(|e| open_err(Box::new(e)))?
        .filename(path)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true)
        // Rows cross from SQLite's thread in a bounded channel; with room for a whole
        // result (the story lookup's candidates), that thread never waits for a reader.
        .row_buffer_size(256)
        // Sorting and grouping in memory: reading never needs disk space, so the feeds and
        // the status page are still served when the disk is full.
        .pragma("temp_store", "memory");
    let writable = options
        .clone()
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL is durable across application crashes in WAL mode, and only risks the
        // last transactions on power loss, never consistency.
        .synchronous(SqliteSynchronous::Normal);
    let (idle, new) = (taken.clone(), taken);
    let pool_options = SqlitePoolOptions::new()
        .max_connections(8)
        // When the disk is full SQLite may roll a transaction back by itself; sqlx's own
        // rollback then fails and leaves the connection counted as in a transaction, and
        // every later transaction on it fails. Such a connection is closed, not reused.
        // Likewise a connection opened before the database became writable again: one
        // opened on a read-only file stays read-only.
        .before_acquire(move |conn, meta| {
            idle.fetch_add(1, Ordering::Relaxed);
            let stale = writable_since
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some_and(|since| meta.age > since.elapsed());
            Box::pin(async move { Ok(!stale && !sqlx::Connection::is_in_transaction(conn)) })
        })
        .after_connect(move |_, _| {
            new.fetch_add(1, Ordering::Relaxed);
            Box::pin(async { Ok(()) })
        });
    let (pool, read_only) = match pool_options.clone().connect_with(writable).await {
        Ok(pool) => (pool, None),
        Err(e) => {
            let Some(why) = unwritable_folder(path) else {
                return Err(open_err(Box::new(e)));
            };
            // SQLite reads a file in WAL mode only where it can make the `-shm` index beside
            // it, unless told that the file cannot change (`immutable`): true of a read-only
            // mount, and no commit is missed as long as no write-ahead log is left beside it.
            let mut wal = path.as_os_str().to_owned();
            wal.push("-wal");
            if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                return Err(open_err(
                    format!(
                        "{why}, and {} holds commits SQLite reads only where it can write: \
                         take the copy after feedmerge stops (which empties that log), or \
                         with `sqlite3 FILE \".backup COPY\"`",
                        Path::new(&wal).display()
                    )
                    .into(),
                ));
            }
            let pool = pool_options
                .clone()
                .connect_with(options.read_only(true).immutable(true))
                .await
                .map_err(|e| open_err(Box::new(e)))?;
            (pool, Some(why))
        }
    };
    migrate(&pool, read_only.as_deref(), &open_err).await?;
    let read_only = read_only.map(|why| {
        format!(
            "{why}: it is open read-only, so nothing is polled or stored until feedmerge runs where it \
             can write"
        )
    });
    // The writer's connection (see `Db::Sqlite`), opened when it first writes: with the same
    // settings, so a read-only file gives a read-only writer, which nothing asks to write.
    let writer = pool_options
        .max_connections(1)
        .connect_lazy_with((*pool.connect_options()).clone());
    Ok((pool, writer, read_only))
}

/// Brings the database of `pool` to this feedmerge's schema; a new file is first set to give
/// back free pages. `read_only` says why the file cannot be written, if it cannot.
async fn migrate(
    pool: &SqlitePool,
    read_only: Option<&str>,
    open_err: &impl Fn(Box<dyn std::error::Error + Send + Sync>) -> StoreError,
) -> Result<(), StoreError> {
    // One connection for both: the vacuum mode must be set where the first table is made.
    let mut conn = pool.acquire().await?;
    let fresh: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master")
        .fetch_one(&mut *conn)
        .await?;
    if fresh == 0 {
        // Free pages kept apart, for retention to give back (`PRAGMA incremental_vacuum`).
        // Set here, once, on the empty file: as a connection setting it would be written
        // on every connect, which fails when the disk is full.
        sqlx::query("PRAGMA auto_vacuum = INCREMENTAL")
            .execute(&mut *conn)
            .await?;
        // The WAL mode set on connecting already wrote the file's header: the new mode
        // takes hold once the (empty, so instant) file is rebuilt.
        sqlx::query("VACUUM").execute(&mut *conn).await?;
    }
    let migrated = sqlx::migrate!("./migrations/sqlite").run(&mut *conn).await;
    if let (Err(e), Some(why)) = (&migrated, read_only) {
        return Err(open_err(
            format!(
                "{why}, and the database's schema is older than this feedmerge's ({e}): \
                 run this feedmerge once where the file can be written"
            )
            .into(),
        ));
    }
    migrated?;
    Ok(())
}

/// Why the existing SQLite file at `path` cannot be written, if that is because its folder
/// cannot be (a read-only mount, or no permission): SQLite must make files beside it.
fn unwritable_folder(path: &Path) -> Option<String> {
    if !path.is_file() {
        return None;
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let probe = dir.join(format!(".feedmerge-write-test-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(format!(
            "the database's folder {} cannot be written ({e})",
            dir.display()
        )),
    }
}
