//! The two engines a store runs on — an SQLite file (the default) or a PostgreSQL server
//! (for replicas sharing one database) — and what differs between them: connecting (an
//! SQLite file's settings in [`sqlite`]), the schema's migrations, how a write transaction
//! begins, how replicas hear of each other's changes, sizes, vacuuming.
//!
//! Every query of the store is written once, in SQL both engines read the same way, and
//! compiled for each by [`on_pool!`] and [`on_tx!`]. The PostgreSQL schema defines
//! `json_each(text)`, SQLite's table-valued function, so that a list bound as one JSON text
//! parameter reads alike on both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::sqlite::SqlitePool;
use sqlx::{Connection, Postgres, Sqlite, SqliteConnection, Transaction};

use super::StoreError;
use crate::config::Database;

mod sqlite;
use sqlite::open_sqlite;

/// Pooled connections to one database.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    /// An SQLite file.
    Sqlite {
        /// Connections for reading, and for the few writes of other tasks.
        pool: SqlitePool,
        /// The one connection the store's writer writes on ([`Db::begin`]). SQLite lets one
        /// connection write at a time anyway; always the same one keeps its page cache
        /// holding the pages writes touch (the ends of the tables and indexes), instead of
        /// each pooled connection in turn caching them again, up to 2 MiB each.
        writer: SqlitePool,
    },
    /// A PostgreSQL database.
    Postgres(PgPool),
}

/// The task that hears of other processes' commits ([`Db::listen`]).
#[derive(Debug)]
pub(crate) struct Listener {
    task: tokio::task::AbortHandle,
    /// On SQLite, the connection it asks: closed by `stop` before the pool is, so that the
    /// pool's last connection is the file's last and its close checkpoints and removes the
    /// write-ahead log (a copy of the file alone is then whole, and a read-only mount of it
    /// opens).
    own: Option<Arc<tokio::sync::Mutex<Option<SqliteConnection>>>>,
}

impl Listener {
    /// Stops listening, and closes the connection it listened on.
    pub(crate) async fn stop(&self) {
        self.task.abort();
        if let Some(own) = &self.own {
            if let Some(conn) = own.lock().await.take() {
                let _ = conn.close().await;
            }
        }
    }
}

/// One write transaction.
pub(crate) enum Tx {
    /// On an SQLite file: it holds the file's write lock from its start, and hands out ids
    /// after the last ones it handed out (see [`Tx::new_ids`]).
    Sqlite(Transaction<'static, Sqlite>, LastIds),
    /// On PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
}

/// The last id an SQLite transaction handed out of each table, once it has looked the
/// table's largest one up: no other connection writes while it holds the write lock, so the
/// next results of its group need not look again.
#[derive(Debug, Default)]
pub(crate) struct LastIds {
    articles: Option<i64>,
    stories: Option<i64>,
}

impl LastIds {
    fn of(&mut self, table: Table) -> &mut Option<i64> {
        match table {
            Table::Articles => &mut self.articles,
            Table::Stories => &mut self.stories,
        }
    }
}

/// A table whose ids a transaction hands out itself ([`Tx::new_ids`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Articles,
    Stories,
}

/// Rows bound in one multi-row statement at most: well under both engines' limits on bound
/// values (32,766 on SQLite, 65,535 on PostgreSQL) at 17 values a row, and a few megabytes of
/// text at most.
pub(crate) const ROWS_PER_STATEMENT: usize = 100;

/// Writes `$rows` (a slice) inside `$tx` with as few statements as [`ROWS_PER_STATEMENT`]
/// allows, each `$head VALUES (…), (…) $tail`: `$head` is `INSERT INTO table (columns) ` (or
/// the start of an `UPDATE … FROM (`, whose `VALUES` columns both engines name `column1`,
/// `column2`, …), and `$push` binds one row `$r`'s values in column order through `$b`.
/// Written once, compiled for each engine, like [`on_tx!`].
macro_rules! write_rows {
    ($tx:expr, $head:literal, $rows:expr, |$b:ident, $r:ident| $push:block) => {
        $crate::store::engine::write_rows!($tx, $head, "", $rows, |$b, $r| $push)
    };
    ($tx:expr, $head:literal, $tail:literal, $rows:expr, |$b:ident, $r:ident| $push:block) => {
        for chunk in $rows.chunks($crate::store::engine::ROWS_PER_STATEMENT) {
            $crate::store::engine::on_tx!($tx, |e| {
                let mut query = sqlx::QueryBuilder::new($head);
                query.push_values(chunk, |mut $b, $r| $push);
                query.push($tail);
                // Not kept prepared: each length of chunk would be another statement kept.
                query.build().persistent(false).execute(e).await.map(drop)
            })?;
        }
    };
}

/// Runs one query on `$db` (a `&Db`), whichever engine it is: `$body` is written once and
/// compiled for each, with `$e` bound to that engine's pool.
macro_rules! on_pool {
    ($db:expr, |$e:ident| $body:expr) => {
        match $db {
            $crate::store::engine::Db::Sqlite { pool: $e, .. } => $body,
            $crate::store::engine::Db::Postgres($e) => $body,
        }
    };
}

/// Runs one query inside `$tx` (a `&mut Tx`), with `$e` bound to its connection.
macro_rules! on_tx {
    ($tx:expr, |$e:ident| $body:expr) => {
        match &mut *$tx {
            $crate::store::engine::Tx::Sqlite(t, _) => {
                let $e = &mut **t;
                $body
            }
            $crate::store::engine::Tx::Postgres(t) => {
                let $e = &mut **t;
                $body
            }
        }
    };
}

pub(crate) use {on_pool, on_tx, write_rows};

/// Any number two replicas agree on: the PostgreSQL advisory lock that serialises their
/// writes, as SQLite's file lock serialises those of two processes on one file.
const WRITER_LOCK: i64 = 0x6665_6564_6d72_6765; // "feedmrge"

/// The PostgreSQL channel on which a commit that changes what the feeds show is announced, so
/// that every replica renders its feeds afresh.
const CHANGED: &str = "feedmerge_changed";

impl Db {
    /// Connects to `database`, creating an SQLite file (and its folder) if need be, and
    /// brings its schema up to date. The second value says why it is open read-only, if it is
    /// (an SQLite file in a folder that cannot be written). `taken` counts the connections
    /// taken from its pools: every query takes one.
    pub(crate) async fn open(
        database: &Database,
        writable_since: Arc<Mutex<Option<Instant>>>,
        taken: Arc<AtomicU64>,
    ) -> Result<(Db, Option<String>), StoreError> {
        let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            database: database.to_string(),
            source,
        };
        match database {
            Database::Sqlite(path) => {
                let (pool, writer, read_only) =
                    open_sqlite(path, writable_since, taken, open_err).await?;
                Ok((Db::Sqlite { pool, writer }, read_only))
            }
            Database::Postgres(url) => {
                let (idle, new) = (taken.clone(), taken);
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .before_acquire(move |_, _| {
                        idle.fetch_add(1, Ordering::Relaxed);
                        Box::pin(async { Ok(true) })
                    })
                    .after_connect(move |_, _| {
                        new.fetch_add(1, Ordering::Relaxed);
                        Box::pin(async { Ok(()) })
                    })
                    .connect(url)
                    .await
                    .map_err(|e| open_err(Box::new(e)))?;
                // Replicas starting together: sqlx's migrator holds an advisory lock, so one
                // applies the migrations and the others find them applied.
                sqlx::migrate!("./migrations/postgres").run(&pool).await?;
                Ok((Db::Postgres(pool), None))
            }
        }
    }

    /// Begins a write transaction. On SQLite it takes the file's write lock at once
    /// (`BEGIN IMMEDIATE`), so that writers queue instead of failing at their first write; on
    /// PostgreSQL it takes the same advisory lock in every replica, so that one writes at a
    /// time there too and each sees the others' stories before it places an article.
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        let mut tx = self.begin_own_row().await?;
        if let Tx::Postgres(tx) = &mut tx {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITER_LOCK)
                .execute(&mut **tx)
                .await?;
        }
        Ok(tx)
    }

    /// Begins a write transaction that writes only a row this process has claimed (a poll's
    /// result without articles): on PostgreSQL it does not wait for other replicas' writes.
    pub(crate) async fn begin_own_row(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Db::Sqlite { writer, .. } => Tx::Sqlite(
                writer.begin_with("BEGIN IMMEDIATE").await?,
                LastIds::default(),
            ),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Counts in `generation` the changes any process commits (its own included), until
    /// [`Listener::stop`]: on PostgreSQL as the replicas announce them (NOTIFY); on SQLite by
    /// asking a connection of its own, every [`DATA_VERSION_EVERY`], whether another
    /// connection committed (`PRAGMA data_version`), so that a `feedmerge fetch` beside the
    /// daemon shows in its feeds within a second or two.
    pub(crate) async fn listen(&self, generation: Arc<AtomicU64>) -> Result<Listener, StoreError> {
        let pool = match self {
            Db::Postgres(pool) => pool,
            Db::Sqlite { pool, .. } => {
                let own = SqliteConnection::connect_with(&pool.connect_options()).await?;
                let own = Arc::new(tokio::sync::Mutex::new(Some(own)));
                let conn = own.clone();
                let task = tokio::spawn(async move {
                    let mut seen: Option<i64> = None;
                    let mut tick = tokio::time::interval(DATA_VERSION_EVERY);
                    loop {
                        tick.tick().await;
                        let mut conn = conn.lock().await;
                        let Some(conn) = conn.as_mut() else { return };
                        let Ok(version) = sqlx::query_scalar::<_, i64>("PRAGMA data_version")
                            .fetch_one(conn)
                            .await
                        else {
                            continue;
                        };
                        if seen.is_some_and(|v| v != version) {
                            generation.fetch_add(1, Ordering::AcqRel);
                        }
                        seen = Some(version);
                    }
                });
                return Ok(Listener {
                    task: task.abort_handle(),
                    own: Some(own),
                });
            }
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANGED).await?;
        let task = tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(_) => {}
                    Err(e) => {
                        // The listener reconnects at the next call; what was announced
                        // meanwhile is lost, so everything counts as changed.
                        tracing::warn!(error = %e, "lost the database's change notices; reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                generation.fetch_add(1, Ordering::AcqRel);
            }
        });
        Ok(Listener {
            task: task.abort_handle(),
            own: None,
        })
    }

    /// Closes every connection (on SQLite, checkpointing the write-ahead log).
    pub(crate) async fn close(&self) {
        if let Db::Sqlite { writer, .. } = self {
            // First: the file's last connection to close is the one that checkpoints.
            writer.close().await;
        }
        on_pool!(self, |pool| pool.close().await)
    }

    /// The database's size in bytes. On SQLite, its pages as SQLite counts them, those still
    /// in the write-ahead log included.
    pub(crate) async fn size(&self) -> Result<u64, StoreError> {
        let bytes: i64 = match self {
            Db::Sqlite { pool, .. } => {
                sqlx::query_scalar(
                    "SELECT (SELECT page_count FROM pragma_page_count())
                          * (SELECT page_size FROM pragma_page_size())",
                )
                .fetch_one(pool)
                .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(pool)
                    .await?
            }
        };
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Bytes the story index's record takes: the `sketches` table and its index.
    pub(crate) async fn index_size(&self) -> Result<i64, StoreError> {
        Ok(match self {
            Db::Sqlite { pool, .. } => {
                sqlx::query_scalar(
                    "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat
                     WHERE name IN ('sketches', 'sketches_by_published')",
                )
                .fetch_one(pool)
                .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar("SELECT pg_total_relation_size('sketches')")
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    /// Gives the file's free pages back to the file system (SQLite). PostgreSQL's autovacuum
    /// does this on its own.
    pub(crate) async fn vacuum(&self) -> Result<(), StoreError> {
        if let Db::Sqlite { pool, .. } = self {
            let mut conn = pool.acquire().await?;
            let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
                .fetch_one(&mut *conn)
                .await?;
            if mode != 2 {
                // Databases created before retention existed do not keep their free pages
                // apart; converted once (a full VACUUM, which takes a while on a large file).
                tracing::info!(
                    "converting the database to incremental vacuum (once; may take a while)"
                );
                sqlx::query("PRAGMA auto_vacuum = INCREMENTAL")
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("VACUUM").execute(&mut *conn).await?;
            }
            sqlx::query("PRAGMA incremental_vacuum")
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

impl Tx {
    /// Commits.
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx, _) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// `n` ids for new rows of `table`, ascending, so that this transaction can plan rows that
    /// point at each other in memory and insert them with their ids, a few statements for a
    /// whole fetch. On SQLite the transaction holds the file's write lock, so the ids after
    /// the largest stored one are free; on PostgreSQL they come from the table's sequence
    /// (those left unused are skipped, as a rolled-back insert's are).
    pub(crate) async fn new_ids(&mut self, table: Table, n: usize) -> Result<Vec<i64>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        Ok(match self {
            Tx::Sqlite(tx, last) => {
                let max = match *last.of(table) {
                    Some(max) => max,
                    None => {
                        // Both tables' at once: a fetch with new articles asks for both.
                        let (articles, stories): (i64, i64) = sqlx::query_as(
                            "SELECT COALESCE((SELECT MAX(id) FROM articles), 0),
                                    COALESCE((SELECT MAX(id) FROM stories), 0)",
                        )
                        .fetch_one(&mut **tx)
                        .await?;
                        last.articles.get_or_insert(articles);
                        last.stories.get_or_insert(stories);
                        match table {
                            Table::Articles => articles,
                            Table::Stories => stories,
                        }
                    }
                };
                *last.of(table) = Some(max + n as i64);
                (max + 1..).take(n).collect()
            }
            Tx::Postgres(tx) => {
                let sql = match table {
                    Table::Articles => {
                        "SELECT nextval(pg_get_serial_sequence('articles', 'id'))
                         FROM generate_series(1, $1)"
                    }
                    Table::Stories => {
                        "SELECT nextval(pg_get_serial_sequence('stories', 'id'))
                         FROM generate_series(1, $1)"
                    }
                };
                let mut ids: Vec<i64> = sqlx::query_scalar(sql)
                    .bind(n as i64)
                    .fetch_all(&mut **tx)
                    .await?;
                ids.sort_unstable();
                ids
            }
        })
    }

    /// Takes back the ids of `table` from `first` on, the unused end of the last ones
    /// [`Tx::new_ids`] handed out, so that the next are handed out after the last one used:
    /// ids stay without gaps on SQLite. On PostgreSQL the sequence has moved on.
    pub(crate) fn unused_ids(&mut self, table: Table, first: Option<i64>) {
        if let (Tx::Sqlite(_, last), Some(first)) = (self, first) {
            *last.of(table) = Some(first - 1);
        }
    }

    /// Announces, when the transaction commits, that what the feeds show changed, to every
    /// replica listening (PostgreSQL; see [`Db::listen`]).
    pub(crate) async fn announce(&mut self) -> Result<(), StoreError> {
        if let Tx::Postgres(tx) = self {
            sqlx::query(sqlx::AssertSqlSafe(format!("NOTIFY {CHANGED}")))
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Lets stories and articles, which point at each other, be deleted in any order: the
    /// foreign keys are checked at commit.
    pub(crate) async fn defer_foreign_keys(&mut self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx, _) => sqlx::query("PRAGMA defer_foreign_keys = ON")
                .execute(&mut **tx)
                .await
                .map(drop)?,
            Tx::Postgres(tx) => sqlx::query("SET CONSTRAINTS ALL DEFERRED")
                .execute(&mut **tx)
                .await
                .map(drop)?,
        }
        Ok(())
    }
}

/// How often the SQLite file is asked whether another connection committed.
const DATA_VERSION_EVERY: Duration = Duration::from_secs(1);
