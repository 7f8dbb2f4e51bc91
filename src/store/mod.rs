//! Stage 6 of the pipeline: the database, and the only module that writes SQL.
//!
//! Owns the schema (`migrations/sqlite` and `migrations/postgres`, applied at open by
//! `sqlx::migrate!`), the connection settings and every query, written once for both engines
//! ([`engine`]). One source's fetch result — its articles, its new validators, its status or
//! error — is written all or nothing (several sources' results commit in one transaction:
//! `recorder`), so a crash at any moment leaves either all of a fetch or none of it; writers,
//! of this process or of others on the same database, take turns.
//!
//! Also keeps the story index ([`Index`], in memory, loaded from the `sketches` table when
//! first needed): each new article is placed, inside that transaction, in the story whose
//! stored version its fingerprint matches (within `[dedup].window`), or starts a story of its
//! own. The index changes only under the writer lock, with the transactions it mirrors, and
//! forgets what a transaction added if that transaction does not commit. Polls' results are
//! written by one task, several per transaction (`recorder`).

use chrono::{DateTime, TimeZone, Utc};

use crate::config::{Database, Dedup};
use crate::dedup::Index;

mod alerts;
mod claims;
mod counts;
mod discarded;
mod engine;
mod find;
mod full_text;
mod group;
mod hub;
mod ingest;
mod known;
mod push;
mod record;
mod recorder;
mod retention;
mod search;
mod sources;
mod stats;
mod stories;
mod story_index;
mod writable;

pub(crate) use alerts::AlertState;
pub use counts::Counts;
use engine::Db;
pub(crate) use find::SearchOrder;
pub(crate) use full_text::{FullTextState, PageDue, PageText};
pub(crate) use hub::HubSubscription;
pub(crate) use push::{PushCount, PushSubscription};
pub use record::{Attempt, Next};
pub use retention::Removed;
pub(crate) use retention::Retention;
pub(crate) use sources::SourceState;
pub use stats::Totals;
pub use stories::{Outlet, Story};

/// Why the database could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened: its file or folder could not be created, or its
    /// server could not be reached.
    #[error("cannot open database {database}: {source}")]
    Open {
        /// The file, or the server's URL without its password.
        database: String,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database was opened read-only (an SQLite file in a folder that cannot be
    /// written); nothing can be written until feedmerge restarts.
    #[error("{0}")]
    ReadOnly(std::sync::Arc<str>),
    /// Bringing the schema up to date failed.
    #[error("cannot update the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    /// The transaction that held this result with others' failed (see `recorder.rs`).
    #[error("{0}")]
    Group(std::sync::Arc<StoreError>),
}

impl StoreError {
    /// Whether the database could not be written at all: the disk is full, the file or its
    /// folder is read-only, or the disk failed. Such errors concern every source, not one.
    pub fn is_unwritable(&self) -> bool {
        match self {
            StoreError::ReadOnly(_) => return true,
            StoreError::Group(e) => return e.is_unwritable(),
            _ => {}
        }
        let StoreError::Query(sqlx::Error::Database(e)) = self else {
            return false;
        };
        let code = e.code().unwrap_or_default();
        if e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some()
        {
            // PostgreSQL's class 53 (disk full, out of memory) and 25006 (read-only
            // transaction: a standby, or a read-only server).
            return code.starts_with("53") || code == "25006";
        }
        // SQLite's primary result codes: SQLITE_READONLY 8, SQLITE_IOERR 10, SQLITE_FULL 13,
        // SQLITE_CANTOPEN 14 (the low byte of an extended code).
        matches!(code.parse::<i32>().unwrap_or(0) & 0xff, 8 | 10 | 13 | 14)
    }
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    /// The database has one writer at a time. This process's writers queue here, in order,
    /// holding no connection, rather than each holding a pooled connection while SQLite's
    /// busy handler retries (which starves some of them past the pool's timeout under load).
    /// The lock holds the story index, which changes with what writers commit (`None` until
    /// first needed).
    writer: std::sync::Arc<tokio::sync::Mutex<Option<Index>>>,
    /// When two articles are one story.
    dedup: Dedup,
    /// Counts the commits that changed what the feeds show, so that a rendered feed can be
    /// kept until it does (see [`Store::generation`]).
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Why the last attempt to record a poll could not write (disk full, read-only file),
    /// until a later one succeeds.
    unwritable: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    /// Why the database was opened read-only, if it was: then it stays unwritable until a
    /// restart.
    read_only: Option<std::sync::Arc<str>>,
    /// When a write last succeeded after the database could not be written: connections
    /// opened before then are not reused.
    writable_since: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    /// This process, as the owner of the sources it claims (host, process id, start time).
    replica: std::sync::Arc<str>,
    /// Hears of other processes' commits; stopped when the store closes.
    listener: std::sync::Arc<engine::Listener>,
    /// Writes polls' results, several in one transaction.
    recorder: recorder::Recorder,
    /// Connections taken from the pools so far (see [`Store::connections_taken`]).
    taken: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Converts stored milliseconds back to a time (the epoch for values out of range).
pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A list as one JSON text: bound as a single value, and read back as rows by `json_each`
/// (SQLite's own, and the function of that name the PostgreSQL schema defines), so that one
/// statement takes a list of any length on both engines.
fn json<T: Clone + Into<serde_json::Value>>(list: &[T]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

/// An article's media as stored: JSON, or NULL for none.
fn media_json(media: &crate::parse::Media) -> Option<String> {
    (media != &crate::parse::Media::default())
        .then(|| serde_json::to_string(media).ok())
        .flatten()
}

/// An article's media as read back; none if the column is NULL (stored before media were).
fn media_of(stored: Option<&str>) -> crate::parse::Media {
    stored
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default()
}

impl Store {
    /// Opens `database` (creating an SQLite file, with its folder, if need be) and brings its
    /// schema up to date; it recognises stories by `dedup`.
    pub async fn open(database: &Database, dedup: Dedup) -> Result<Store, StoreError> {
        let writable_since: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>> =
            Default::default();
        let taken: std::sync::Arc<std::sync::atomic::AtomicU64> = Default::default();
        let (db, read_only) = Db::open(database, writable_since.clone(), taken.clone()).await?;
        let generation: std::sync::Arc<std::sync::atomic::AtomicU64> = Default::default();
        let listener = std::sync::Arc::new(db.listen(generation.clone()).await?);
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        Ok(Store {
            db,
            writer: Default::default(),
            dedup,
            generation,
            unwritable: Default::default(),
            read_only: read_only.map(Into::into),
            writable_since,
            taken,
            replica: format!("{host}:{}:{}", std::process::id(), millis(Utc::now())).into(),
            listener,
            recorder: Default::default(),
        })
    }

    /// Records the results handed over, then closes every connection (on SQLite,
    /// checkpointing the WAL).
    pub async fn close(&self) {
        self.recorder.close().await;
        self.listener.stop().await;
        self.db.close().await;
    }

    /// A number that grows whenever this process commits a change to what the feeds show
    /// (articles, stories, outlets), and within a second or two of another process's commit
    /// (a replica's NOTIFY on PostgreSQL, `PRAGMA data_version` on SQLite: `Db::listen`).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// How many times a connection has been taken from the store's pools: every query takes
    /// one, so a span of work that leaves this unchanged read nothing from the database.
    pub fn connections_taken(&self) -> u64 {
        self.taken.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}
