//! Stage 6 of the pipeline: the database, and the only module that writes SQL.
//!
//! Owns the schema (`migrations/sqlite` and `migrations/postgres`, applied at open by
//! `sqlx::migrate!`), the connection settings and every query, written once for both engines
//! ([`engine`]). One source's fetch result — its articles, its new validators, its status or
//! error — commits in one transaction, so a crash at any moment leaves either all of a fetch
//! or none of it; writers, of this process or of others on the same database, take turns.
//!
//! Also keeps the story index ([`Index`], in memory, loaded from the `sketches` table when
//! first needed): each new article is placed, inside that transaction, in the story whose
//! stored version its fingerprint matches (within `[dedup].window`), or starts a story of its
//! own. The index changes only under the writer lock, with the transactions it mirrors, and
//! forgets what a transaction added if that transaction does not commit.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::config::{Database, Dedup, Source};
use crate::dedup::{Fingerprint, Index, Keyed, Sketch, BANDS};
use crate::fetch::Validators;
use crate::parse::Article;

mod engine;
mod retention;
use engine::{on_pool, on_tx, Db, Tx};
pub use retention::{Removed, Retention};

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
    /// Bringing the schema up to date failed.
    #[error("cannot update the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether the database could not be written at all: the disk is full, the file or its
    /// folder is read-only, or the disk failed. Such errors concern every source, not one.
    pub fn is_unwritable(&self) -> bool {
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
    /// When a write last succeeded after the database could not be written: connections
    /// opened before then are not reused.
    writable_since: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    /// This process, as the owner of the sources it claims (host, process id, start time).
    replica: std::sync::Arc<str>,
    /// Stops listening for other replicas' changes when the store closes (PostgreSQL).
    listener: Option<tokio::task::AbortHandle>,
}

/// What one fetch of a source came to, as the store records it.
#[derive(Debug)]
pub enum Attempt<'a> {
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
        validators: &'a Validators,
        /// The feed's own title.
        title: Option<&'a str>,
        /// The outlet's web site.
        site_url: Option<&'a str>,
        /// Its articles, identified.
        articles: &'a [Keyed],
        /// The shortest interval the feed asks to be polled at, if any.
        min_interval: Option<Duration>,
    },
    /// The fetch or the parse failed.
    Failed {
        /// The HTTP status, if the server answered.
        status: Option<u16>,
        /// What went wrong, in words.
        error: &'a str,
    },
}

/// What the poller decided about a source's future, stored with the attempt.
#[derive(Debug, Clone, Copy, Default)]
pub struct Next<'a> {
    /// When it is next due; `None` when it is not to be polled again (see `disabled`).
    pub due: Option<DateTime<Utc>>,
    /// A permanent redirect's target, to use from now on.
    pub moved_to: Option<&'a str>,
    /// Why it is no longer polled (410 Gone).
    pub disabled: Option<&'a str>,
}

/// How the articles of one fetch compared with what was stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Articles that are new stories: each a new entry of the merged feed.
    pub new: u32,
    /// Stored articles whose title or text changed, updated in place.
    pub updated: u32,
    /// Articles already stored as they are.
    pub unchanged: u32,
    /// Articles that are another version of a stored story (the same link, or nearly the
    /// same text), now credited to this source too.
    pub merged: u32,
}

/// A source's state as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SourceState {
    /// Its name.
    pub name: String,
    /// Its feed URL.
    pub url: String,
    /// Last attempt, ms since the epoch.
    pub last_attempt_at: Option<i64>,
    /// Last success, ms since the epoch.
    pub last_success_at: Option<i64>,
    /// Last HTTP status.
    pub last_status: Option<i64>,
    /// Last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: i64,
    /// Stored ETag.
    pub etag: Option<String>,
    /// Stored Last-Modified.
    pub last_modified: Option<String>,
    /// When it is next due, ms since the epoch; `None` if never polled.
    pub next_due_at: Option<i64>,
    /// Where a permanent redirect led, if one did.
    pub effective_url: Option<String>,
    /// Why it is no longer polled, if it is not.
    pub disabled_reason: Option<String>,
    /// The feed's own minimum interval, seconds.
    pub min_interval_secs: Option<i64>,
    /// Until when a process (a replica) that claimed it may be fetching it, ms since the
    /// epoch.
    pub lease_until: Option<i64>,
}

/// An outlet that carries an article.
#[derive(Debug, Clone, PartialEq)]
pub struct Outlet {
    /// The source's name in the config.
    pub name: String,
    /// Its feed URL.
    pub feed_url: String,
    /// Its web site, if the feed says.
    pub site_url: Option<String>,
    /// Its entry's link for this article.
    pub link: Option<String>,
}

/// A story as published: its representative article's text, with every outlet that carries
/// any version of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    /// Stable id for the published entry: the first version's, whichever versions join later.
    pub entry_id: String,
    /// Plain-text title.
    pub title: String,
    /// The article's web page.
    pub link: Option<String>,
    /// Sanitised HTML.
    pub summary: Option<String>,
    /// Sanitised HTML.
    pub content: Option<String>,
    /// Author names.
    pub authors: Vec<String>,
    /// Category terms.
    pub categories: Vec<String>,
    /// Publication time (the time first seen, for entries without one).
    pub published: DateTime<Utc>,
    /// The last change to the representative's text (not to the list of outlets).
    pub updated: DateTime<Utc>,
    /// The outlet whose version this is: the earliest published.
    pub source: Outlet,
    /// Every other outlet that carries the story, each once, in the order they were seen.
    pub also: Vec<Outlet>,
    /// The last time anything published about the story changed: its text, or an outlet
    /// joining. What `Last-Modified` is made of.
    pub changed: DateTime<Utc>,
}

impl Story {
    /// The story a single article would make, before it is stored: its text, credited to
    /// `outlet`, dated by the article (or `now`), under `entry_id`. What a feed looks like
    /// republished as it is (previews, tests, fuzzing).
    pub fn of_article(
        article: Article,
        entry_id: &str,
        outlet: Outlet,
        now: DateTime<Utc>,
    ) -> Story {
        Story {
            entry_id: entry_id.to_owned(),
            title: article.title,
            link: article.link,
            summary: article.summary,
            content: article.content,
            authors: article.authors,
            categories: article.categories,
            published: article.published.unwrap_or(now),
            updated: article.updated.unwrap_or(now),
            source: outlet,
            also: Vec::new(),
            changed: now,
        }
    }
}

/// Counts for `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Sources known to the database.
    pub sources: i64,
    /// Sources whose last attempt failed.
    pub failing: i64,
    /// Articles stored (every version of every story).
    pub articles: i64,
    /// Stories: entries of the merged feed.
    pub stories: i64,
    /// The latest attempt of any source.
    pub last_poll: Option<DateTime<Utc>>,
}

/// The query for [`SourceState`] rows, to which a condition is appended.
macro_rules! select_source_state {
    () => {
        "SELECT name, url, last_attempt_at, last_success_at, last_status, last_error,
                consecutive_failures, etag, last_modified, next_due_at, effective_url,
                disabled_reason, min_interval_secs, lease_until
         FROM sources"
    };
}

/// How far back a new entry of an already-polled source may be dated and still be placed by
/// its date rather than by when it was first seen.
const BACKDATED_MS: i64 = 2 * 24 * 3600 * 1000;

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Converts stored milliseconds back to a time (the epoch for values out of range).
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A stored article that an entry of a fetch matches, by the entry's key or link.
#[derive(Clone, sqlx::FromRow)]
struct Existing {
    /// The entry key or canonical link it was found by.
    matched: String,
    id: i64,
    source_id: i64,
    content_hash: String,
    updated: i64,
    published: i64,
    story_id: Option<i64>,
}

/// What a fetch's articles match in the database, looked up in two queries for the whole
/// feed rather than two per article (statements, not rows, are what ingest costs).
struct Known {
    /// By this source's entry key.
    by_key: HashMap<String, Existing>,
    /// By canonical link, from any source: the first article stored with it.
    by_link: HashMap<String, Existing>,
    /// This source's entries that retention deleted: never stored again.
    removed: std::collections::HashSet<String>,
}

impl Known {
    async fn load(tx: &mut Tx, source_id: i64, articles: &[Keyed]) -> Result<Known, StoreError> {
        let keys: Vec<&str> = articles.iter().map(|k| k.key.as_str()).collect();
        let rows: Vec<Existing> = on_tx!(tx, |e| sqlx::query_as(
            "SELECT ap.entry_key AS matched, a.id, a.source_id, a.content_hash, a.updated,
                    a.published, a.story_id
             FROM appearances ap JOIN articles a ON a.id = ap.article_id
             WHERE ap.source_id = $1 AND ap.entry_key IN (SELECT value FROM json_each($2))",
        )
        .bind(source_id)
        .bind(serde_json::Value::from(keys.clone()).to_string())
        .fetch_all(e)
        .await)?;
        let by_key: HashMap<String, Existing> =
            rows.into_iter().map(|e| (e.matched.clone(), e)).collect();
        let unknown: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !by_key.contains_key(*k))
            .collect();
        let removed: std::collections::HashSet<String> = if unknown.is_empty() {
            Default::default()
        } else {
            // Still listed: the tombstone lives on while the outlet lists the entry.
            let unknown = serde_json::Value::from(unknown).to_string();
            let removed: Vec<String> = on_tx!(tx, |e| sqlx::query_scalar(
                "UPDATE tombstones SET last_seen = $3
                 WHERE source_id = $1 AND entry_key IN (SELECT value FROM json_each($2))
                 RETURNING entry_key",
            )
            .bind(source_id)
            .bind(&unknown)
            .bind(millis(Utc::now()))
            .fetch_all(e)
            .await)?;
            removed.into_iter().collect()
        };
        let links: Vec<&str> = articles
            .iter()
            .filter(|k| !by_key.contains_key(&k.key) && !removed.contains(&k.key))
            .filter_map(|k| k.canonical_link.as_deref())
            .collect();
        let mut by_link = HashMap::new();
        if !links.is_empty() {
            let links = serde_json::Value::from(links).to_string();
            let rows: Vec<Existing> = on_tx!(tx, |e| sqlx::query_as(
                "SELECT canonical_link AS matched, id, source_id, content_hash, updated,
                        published, story_id
                 FROM articles
                 WHERE canonical_link IN (SELECT value FROM json_each($1))
                 ORDER BY id DESC",
            )
            .bind(&links)
            .fetch_all(e)
            .await)?;
            // Newest first, so the oldest (the first stored) is the one left in the map.
            for e in rows {
                by_link.insert(e.matched.clone(), e);
            }
        }
        Ok(Known {
            by_key,
            by_link,
            removed,
        })
    }
}

#[derive(sqlx::FromRow)]
struct StoryRow {
    story_id: i64,
    source_id: i64,
    entry_id: String,
    title: String,
    link: Option<String>,
    summary: Option<String>,
    content: Option<String>,
    authors: String,
    categories: String,
    published: i64,
    updated: i64,
    source_name: String,
    source_url: String,
    site_url: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AppearanceRow {
    story_id: i64,
    source_id: i64,
    name: String,
    url: String,
    site_url: Option<String>,
    link: Option<String>,
    first_seen: i64,
}

impl Store {
    /// Opens `database` (creating an SQLite file, with its folder, if need be) and brings its
    /// schema up to date.
    pub async fn open(database: &Database) -> Result<Store, StoreError> {
        let writable_since: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>> =
            Default::default();
        let db = Db::open(database, writable_since.clone()).await?;
        let generation: std::sync::Arc<std::sync::atomic::AtomicU64> = Default::default();
        let listener = db.listen(generation.clone()).await?;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        Ok(Store {
            db,
            writer: Default::default(),
            dedup: Dedup::default(),
            generation,
            unwritable: Default::default(),
            writable_since,
            replica: format!("{host}:{}:{}", std::process::id(), millis(Utc::now())).into(),
            listener,
        })
    }

    /// The same store, recognising stories by `dedup` rather than by the defaults.
    pub fn with_dedup(mut self, dedup: Dedup) -> Store {
        self.dedup = dedup;
        self
    }

    /// Closes every connection (on SQLite, checkpointing the WAL).
    pub async fn close(&self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
        self.db.close().await;
    }

    /// Makes sure every configured source has a row, and that a changed URL forgets the old
    /// URL's validators.
    pub async fn sync_sources(&self, sources: &[Source]) -> Result<(), StoreError> {
        let result = self.sync_sources_once(sources).await;
        self.note_write(&result);
        result
    }

    async fn sync_sources_once(&self, sources: &[Source]) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.db.begin().await?;
        for s in sources {
            on_tx!(&mut tx, |e| sqlx::query(
                // A new URL is a new feed: what was learnt about the old one no longer holds.
                "INSERT INTO sources (name, url) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET
                     etag = CASE WHEN sources.url = excluded.url THEN sources.etag END,
                     last_modified =
                         CASE WHEN sources.url = excluded.url THEN sources.last_modified END,
                     effective_url =
                         CASE WHEN sources.url = excluded.url THEN sources.effective_url END,
                     disabled_reason =
                         CASE WHEN sources.url = excluded.url THEN sources.disabled_reason END,
                     next_due_at =
                         CASE WHEN sources.url = excluded.url THEN sources.next_due_at END,
                     consecutive_failures = CASE WHEN sources.url = excluded.url
                         THEN sources.consecutive_failures ELSE 0 END,
                     url = excluded.url",
            )
            .bind(&s.name)
            .bind(s.url.as_str())
            .execute(e)
            .await
            .map(drop))?;
        }
        tx.announce().await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }

    /// A number that grows whenever this process commits a change to what the feeds show
    /// (articles, stories, outlets). Another process writing to the same file is not seen.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Every stored source's state, by name.
    pub async fn source_states(&self) -> Result<HashMap<String, SourceState>, StoreError> {
        let rows: Vec<SourceState> = on_pool!(&self.db, |p| sqlx::query_as(concat!(
            select_source_state!(),
            " ORDER BY name"
        ))
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(|r| (r.name.clone(), r)).collect())
    }

    /// The stored state of the named sources, by name.
    pub async fn states_of(
        &self,
        names: &[&str],
    ) -> Result<HashMap<String, SourceState>, StoreError> {
        let names = serde_json::Value::from(names.to_vec()).to_string();
        let rows: Vec<SourceState> = on_pool!(&self.db, |p| sqlx::query_as(concat!(
            select_source_state!(),
            " WHERE name IN (SELECT value FROM json_each($1))"
        ))
        .bind(&names)
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(|r| (r.name.clone(), r)).collect())
    }

    /// Why the database cannot be written (the disk is full, the file is read-only), if the
    /// last attempt to record a poll failed for that reason.
    pub fn unwritable(&self) -> Option<String> {
        self.unwritable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records one fetch of `source` — articles, validators, status, and when it is next due —
    /// in one transaction.
    pub async fn record(
        &self,
        source: &str,
        attempt: Attempt<'_>,
        next: Next<'_>,
    ) -> Result<Counts, StoreError> {
        let result = self.record_once(source, attempt, next).await;
        self.note_write(&result);
        result
    }

    /// Remembers whether a write succeeded, or failed because nothing can be written.
    fn note_write<T>(&self, result: &Result<T, StoreError>) {
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

    async fn record_once(
        &self,
        source: &str,
        attempt: Attempt<'_>,
        next: Next<'_>,
    ) -> Result<Counts, StoreError> {
        let now = Utc::now();
        let mut writer = self.writer.lock().await;
        let mut pending = Pending {
            slot: &mut writer,
            db: &self.db,
            caught_up: false,
            added: Vec::new(),
            committed: false,
        };
        // A result without articles writes only the source's own row, which this process has
        // claimed: it need not wait for other replicas' writes.
        let mut tx = match attempt {
            Attempt::Fetched { .. } => self.db.begin().await?,
            _ => self.db.begin_own_row().await?,
        };
        let (source_id, polled_before): (i64, bool) = on_tx!(&mut tx, |e| sqlx::query_as(
            "SELECT id, last_success_at IS NOT NULL FROM sources WHERE name = $1"
        )
        .bind(source)
        .fetch_one(e)
        .await)?;
        let mut counts = Counts::default();
        match attempt {
            Attempt::NotModified { min_interval } => {
                on_tx!(&mut tx, |e| sqlx::query(
                    "UPDATE sources SET last_attempt_at = $2, last_success_at = $2,
                         last_status = 304, last_error = NULL, consecutive_failures = 0,
                         min_interval_secs = $3
                     WHERE id = $1",
                )
                .bind(source_id)
                .bind(millis(now))
                .bind(min_interval.map(|d| d.as_secs() as i64))
                .execute(e)
                .await
                .map(drop))?;
            }
            Attempt::Failed { status, error } => {
                on_tx!(&mut tx, |e| sqlx::query(
                    "UPDATE sources SET last_attempt_at = $2, last_status = $3, last_error = $4,
                         consecutive_failures = consecutive_failures + 1
                     WHERE id = $1",
                )
                .bind(source_id)
                .bind(millis(now))
                .bind(status.map(i64::from))
                .bind(error)
                .execute(e)
                .await
                .map(drop))?;
            }
            Attempt::Fetched {
                status,
                validators,
                title,
                site_url,
                articles,
                min_interval,
            } => {
                let mut known = Known::load(&mut tx, source_id, articles).await?;
                let mut ingest = Ingest {
                    tx: &mut tx,
                    source,
                    source_id,
                    polled_before,
                    dedup: &self.dedup,
                    pending: &mut pending,
                    now,
                    counts: &mut counts,
                };
                for keyed in articles {
                    ingest.article(keyed, &mut known).await?;
                }
                on_tx!(&mut tx, |e| sqlx::query(
                    "UPDATE sources SET last_attempt_at = $2, last_success_at = $2,
                         last_status = $3, last_error = NULL, consecutive_failures = 0,
                         etag = $4, last_modified = $5,
                         title = COALESCE($6, title), site_url = COALESCE($7, site_url),
                         min_interval_secs = $8
                     WHERE id = $1",
                )
                .bind(source_id)
                .bind(millis(now))
                .bind(i64::from(status))
                .bind(&validators.etag)
                .bind(&validators.last_modified)
                .bind(title)
                .bind(site_url)
                .bind(min_interval.map(|d| d.as_secs() as i64))
                .execute(e)
                .await
                .map(drop))?;
            }
        }
        on_tx!(&mut tx, |e| sqlx::query(
            "UPDATE sources SET next_due_at = $2, effective_url = COALESCE($3, effective_url),
                 disabled_reason = $4, lease_owner = NULL, lease_until = NULL
             WHERE id = $1",
        )
        .bind(source_id)
        .bind(next.due.map(millis))
        .bind(next.moved_to)
        .bind(next.disabled)
        .execute(e)
        .await
        .map(drop))?;
        let changed = counts.new + counts.updated + counts.merged > 0;
        if changed {
            tx.announce().await?;
        }
        tx.commit().await?;
        pending.commit();
        if changed {
            self.changed();
        }
        Ok(counts)
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

    /// The newest `limit` stories, newest first, each with every outlet that carries it.
    pub async fn latest(&self, limit: u32) -> Result<Vec<Story>, StoreError> {
        self.stories(i64::MIN, 0, limit).await
    }

    /// `limit` stories after the newest `offset`, in feed order: newest first, each placed
    /// by its publication time, or by when it was first seen if it was dated in the future
    /// or back-dated.
    pub async fn stories_page(&self, offset: u32, limit: u32) -> Result<Vec<Story>, StoreError> {
        self.stories(i64::MIN, offset, limit).await
    }

    /// Stories published since `since` that more than one outlet carries, newest first.
    pub async fn multi_outlet(&self, since: DateTime<Utc>) -> Result<Vec<Story>, StoreError> {
        let mut stories = self.stories(millis(since), 0, u32::MAX).await?;
        stories.retain(|s| !s.also.is_empty());
        Ok(stories)
    }

    async fn stories(&self, since: i64, offset: u32, limit: u32) -> Result<Vec<Story>, StoreError> {
        let rows: Vec<StoryRow> = on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT st.id AS story_id, a.source_id, st.entry_id, a.title, a.link, a.summary,
                    a.content, a.authors, a.categories, st.published, st.updated,
                    s.name AS source_name, s.url AS source_url, s.site_url
             FROM stories st
             JOIN articles a ON a.id = st.representative
             JOIN sources s ON s.id = a.source_id
             WHERE st.sort_at >= $2
             ORDER BY st.sort_at DESC, st.id DESC
             LIMIT $1 OFFSET $3",
        )
        .bind(i64::from(limit))
        .bind(since)
        .bind(i64::from(offset))
        .fetch_all(p)
        .await)?;
        let ids = serde_json::Value::from(rows.iter().map(|r| r.story_id).collect::<Vec<_>>())
            .to_string();
        let appearances: Vec<AppearanceRow> = on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT a.story_id, ap.source_id, s.name, s.url, s.site_url, ap.link, ap.first_seen
             FROM articles a
             JOIN appearances ap ON ap.article_id = a.id
             JOIN sources s ON s.id = ap.source_id
             WHERE a.story_id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))
             ORDER BY ap.first_seen, s.name",
        )
        .bind(&ids)
        .fetch_all(p)
        .await)?;
        let mut by_story: HashMap<i64, Vec<AppearanceRow>> = HashMap::new();
        for a in appearances {
            by_story.entry(a.story_id).or_default().push(a);
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut seen = by_story.remove(&r.story_id).unwrap_or_default();
                let joined = seen.iter().map(|a| a.first_seen).max().unwrap_or(i64::MIN);
                let own_link = seen
                    .iter()
                    .find(|a| a.source_id == r.source_id)
                    .and_then(|a| a.link.clone())
                    .or_else(|| r.link.clone());
                // Each other outlet once, however many of its entries carry the story.
                let mut credited = std::collections::HashSet::from([r.source_id]);
                seen.retain(|a| credited.insert(a.source_id));
                Story {
                    entry_id: r.entry_id,
                    title: r.title,
                    link: r.link,
                    summary: r.summary,
                    content: r.content,
                    authors: serde_json::from_str(&r.authors).unwrap_or_default(),
                    categories: serde_json::from_str(&r.categories).unwrap_or_default(),
                    published: from_millis(r.published),
                    updated: from_millis(r.updated),
                    changed: from_millis(r.updated.max(joined)),
                    source: Outlet {
                        name: r.source_name,
                        feed_url: r.source_url,
                        site_url: r.site_url,
                        link: own_link,
                    },
                    also: seen
                        .into_iter()
                        .map(|a| Outlet {
                            name: a.name,
                            feed_url: a.url,
                            site_url: a.site_url,
                            link: a.link,
                        })
                        .collect(),
                }
            })
            .collect())
    }

    /// The stored story that an article with fingerprint `fp`, published at `published`,
    /// would join, if any: what storing it decides, without storing it.
    pub async fn find_story(
        &self,
        fp: &Fingerprint,
        published: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let mut writer = self.writer.lock().await;
        let index = caught_up(&mut writer, &self.db).await?;
        Ok(index.find(
            fp,
            millis(published),
            window_ms(&self.dedup),
            self.dedup.threshold,
        ))
    }

    /// Bytes of memory the story index holds, and how many articles it holds.
    pub async fn index_memory(&self) -> Result<(usize, usize), StoreError> {
        let mut writer = self.writer.lock().await;
        let index = caught_up(&mut writer, &self.db).await?;
        Ok((index.memory(), index.len()))
    }

    /// The database's size in bytes (on SQLite, its pages, those still in the write-ahead
    /// log included).
    pub async fn file_size(&self) -> Result<u64, StoreError> {
        self.db.size().await
    }

    /// Bytes the story index's record takes in the database (the `sketches` table, which
    /// keeps each sketch with its band keys, and its index).
    pub async fn index_size(&self) -> Result<i64, StoreError> {
        self.db.index_size().await
    }

    /// How many articles each source carries (its own and those it shares), by name.
    pub async fn articles_by_source(&self) -> Result<HashMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT s.name, (SELECT COUNT(*) FROM appearances ap WHERE ap.source_id = s.id)
             FROM sources s",
        )
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().collect())
    }

    /// Articles first seen on each UTC day since `since`, oldest day first; days without any
    /// are left out.
    pub async fn articles_per_day(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(chrono::NaiveDate, i64)>, StoreError> {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        let rows: Vec<(i64, i64)> = on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT first_seen / $2 AS day, COUNT(*) FROM articles
             WHERE first_seen >= $1 GROUP BY day ORDER BY day",
        )
        .bind(millis(since))
        .bind(DAY_MS)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(day, n)| (from_millis(day * DAY_MS).date_naive(), n))
            .collect())
    }

    /// Totals for the health check.
    pub async fn totals(&self) -> Result<Totals, StoreError> {
        let (sources, failing, last_poll): (i64, i64, Option<i64>) =
            on_pool!(&self.db, |p| sqlx::query_as(
                "SELECT COUNT(*), COUNT(last_error), MAX(last_attempt_at) FROM sources",
            )
            .fetch_one(p)
            .await)?;
        let (articles, stories): (i64, i64) = on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM articles), (SELECT COUNT(*) FROM stories)",
        )
        .fetch_one(p)
        .await)?;
        Ok(Totals {
            sources,
            failing,
            articles,
            stories,
            last_poll: last_poll.map(from_millis),
        })
    }
}

/// Stores the articles of one fetch, inside its transaction.
struct Ingest<'a, 'i> {
    tx: &'a mut Tx,
    source: &'a str,
    source_id: i64,
    /// Whether the source had been fetched before: its first fetch brings its backlog.
    polled_before: bool,
    dedup: &'a Dedup,
    pending: &'a mut Pending<'i>,
    now: DateTime<Utc>,
    counts: &'a mut Counts,
}

/// The story index inside one write transaction: what the transaction adds to it is taken
/// out again unless it commits (when it fails, or its future is dropped, the database rolls
/// back too).
struct Pending<'i> {
    /// The index, or `None` while it is not loaded.
    slot: &'i mut Option<Index>,
    db: &'i Db,
    /// Whether the index holds what other processes committed before this transaction.
    caught_up: bool,
    added: Vec<i64>,
    committed: bool,
}

impl Pending<'_> {
    /// The index, loaded if need be, with what other processes stored before this
    /// transaction began (which holds the database's write lock: no more can come).
    async fn index(&mut self) -> Result<&mut Index, StoreError> {
        if !self.caught_up {
            caught_up(self.slot, self.db).await?;
            self.caught_up = true;
        }
        Ok(self.slot.get_or_insert_with(Index::default))
    }

    /// The transaction committed: what it added stays.
    fn commit(&mut self) {
        self.committed = true;
        if let (Some(index), Some(&newest)) = (self.slot.as_mut(), self.added.iter().max()) {
            index.saw(newest);
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let (false, Some(index)) = (self.committed, self.slot.as_mut()) {
            index.remove(&self.added);
        }
    }
}

impl Ingest<'_, '_> {
    /// Stores one article: recognised by this source's key, else by its canonical link from
    /// any source (both looked up beforehand, in `known`), else new — as a version of a stored
    /// story if its text is nearly the same as one's, else as a story of its own.
    async fn article(&mut self, keyed: &Keyed, known: &mut Known) -> Result<(), StoreError> {
        if known.removed.contains(&keyed.key) {
            self.counts.unchanged += 1;
            return Ok(());
        }
        let existing = match known.by_key.get(&keyed.key) {
            Some(e) => Some(e.clone()),
            None => {
                let by_link = keyed
                    .canonical_link
                    .as_ref()
                    .and_then(|l| known.by_link.get(l))
                    .cloned();
                if let Some(e) = &by_link {
                    let published = keyed.article.published.map_or(millis(self.now), millis);
                    if e.source_id != self.source_id && published < e.published {
                        // The same page, which this outlet dated earlier than the one whose
                        // copy is stored: stored as its own version of the story, so that the
                        // story can be published as the earliest version.
                        return self.insert(keyed, known, e.story_id).await;
                    }
                    // Remember this source's entry, so its next poll finds it by key.
                    remember_appearance(self.tx, self.source_id, keyed, e.id, self.now).await?;
                    if e.source_id != self.source_id {
                        self.counts.merged += 1;
                        return Ok(());
                    }
                }
                by_link
            }
        };
        match existing {
            // Only the source that carried an article first edits it: another outlet's copy
            // must not overwrite the text we credit to the first.
            Some(e) if e.source_id != self.source_id || e.content_hash == keyed.content_hash => {
                self.counts.unchanged += 1;
            }
            Some(e) => self.edit(keyed, &e).await?,
            None => self.insert(keyed, known, None).await?,
        }
        Ok(())
    }

    /// Stores the new text of an article its source edited. The story's `updated` follows
    /// only if this article is the one the story publishes.
    async fn edit(&mut self, keyed: &Keyed, e: &Existing) -> Result<(), StoreError> {
        let a = &keyed.article;
        let updated = a
            .updated
            .map(millis)
            .filter(|u| *u > e.updated)
            .unwrap_or_else(|| millis(self.now).max(e.updated + 1));
        on_tx!(self.tx, |c| sqlx::query(
            "UPDATE articles SET title = $2, link = $3, summary = $4, content = $5,
                 authors = $6, categories = $7, updated = $8, content_hash = $9,
                 canonical_link = COALESCE($10, canonical_link)
             WHERE id = $1",
        )
        .bind(e.id)
        .bind(&a.title)
        .bind(&a.link)
        .bind(&a.summary)
        .bind(&a.content)
        .bind(json(&a.authors))
        .bind(json(&a.categories))
        .bind(updated)
        .bind(&keyed.content_hash)
        .bind(&keyed.canonical_link)
        .execute(c)
        .await
        .map(drop))?;
        on_tx!(self.tx, |c| sqlx::query(
            "UPDATE stories SET updated = CASE WHEN updated > $2 THEN updated ELSE $2 END
             WHERE id = (SELECT story_id FROM articles WHERE id = $1) AND representative = $1",
        )
        .bind(e.id)
        .bind(updated)
        .execute(c)
        .await
        .map(drop))?;
        self.counts.updated += 1;
        Ok(())
    }

    /// Stores an article seen for the first time, in `story` if given, else in the story it
    /// is a version of, or in a new one.
    async fn insert(
        &mut self,
        keyed: &Keyed,
        known: &mut Known,
        story: Option<i64>,
    ) -> Result<(), StoreError> {
        let a = &keyed.article;
        // An entry without a date is dated when first seen, once.
        let published = millis(a.published.unwrap_or(self.now));
        let updated = a.updated.map_or(published, millis).max(published);
        let entry_id = blake3::hash(format!("{}\n{}", self.source, keyed.key).as_bytes()).to_hex()
            [..32]
            .to_owned();
        let story = match (story, &keyed.fingerprint) {
            (Some(story), _) => Some(story),
            (None, Some(fp)) => self.pending.index().await?.find(
                fp,
                published,
                window_ms(self.dedup),
                self.dedup.threshold,
            ),
            (None, None) => None,
        };
        // The story it joins, with the source and date of the version that represents it.
        // Looked up, not assumed: a story another process deleted (`feedmerge cleanup` beside
        // the daemon) may still be in this process's index; the article then starts a story.
        let joined: Option<(i64, String, i64)> = match story {
            Some(story) => on_tx!(self.tx, |e| sqlx::query_as(
                "SELECT st.id, s.name, st.published FROM stories st
                 JOIN articles a ON a.id = st.representative
                 JOIN sources s ON s.id = a.source_id
                 WHERE st.id = $1",
            )
            .bind(story)
            .fetch_optional(e)
            .await)?,
            None => None,
        };
        let article_id: i64 = on_tx!(self.tx, |e| sqlx::query_scalar(
            "INSERT INTO articles (entry_id, source_id, canonical_link, link, title, summary,
                 content, authors, categories, published, updated, first_seen, content_hash,
                 story_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             RETURNING id",
        )
        .bind(&entry_id)
        .bind(self.source_id)
        .bind(&keyed.canonical_link)
        .bind(&a.link)
        .bind(&a.title)
        .bind(&a.summary)
        .bind(&a.content)
        .bind(json(&a.authors))
        .bind(json(&a.categories))
        .bind(published)
        .bind(updated)
        .bind(millis(self.now))
        .bind(&keyed.content_hash)
        .bind(joined.as_ref().map(|j| j.0))
        .fetch_one(e)
        .await)?;
        let story = match joined {
            Some((story, current, current_published)) => {
                // The most preferred source's version represents the story, else the
                // earliest. Its `updated` stays: readers already have the story, and a
                // re-run is not news.
                let rank = |name: &str| {
                    let prefer = &self.dedup.prefer;
                    prefer
                        .iter()
                        .position(|p| p == name)
                        .unwrap_or(prefer.len())
                };
                let (mine, theirs) = (rank(self.source), rank(&current));
                if mine < theirs || (mine == theirs && published < current_published) {
                    on_tx!(self.tx, |e| sqlx::query(
                        "UPDATE stories SET representative = $2, published = $3 WHERE id = $1",
                    )
                    .bind(story)
                    .bind(article_id)
                    .bind(published)
                    .execute(e)
                    .await
                    .map(drop))?;
                }
                self.counts.merged += 1;
                story
            }
            None => {
                let now = millis(self.now);
                // Placed by when it was first seen if it claims to come from the future, or
                // from more than two days ago when its source's backlog was read before.
                let backdated = self.polled_before && published < now - BACKDATED_MS;
                let sort_at = if published > now || backdated {
                    now
                } else {
                    published
                };
                let story: i64 = on_tx!(self.tx, |e| {
                    sqlx::query_scalar(
                    "INSERT INTO stories (entry_id, representative, published, updated, first_seen,
                         sort_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     RETURNING id",
                )
                .bind(&entry_id)
                .bind(article_id)
                .bind(published)
                .bind(updated)
                .bind(now)
                .bind(sort_at)
                .fetch_one(e)
                .await
                })?;
                on_tx!(self.tx, |e| sqlx::query(
                    "UPDATE articles SET story_id = $2 WHERE id = $1"
                )
                .bind(article_id)
                .bind(story)
                .execute(e)
                .await
                .map(drop))?;
                self.counts.new += 1;
                story
            }
        };
        if let Some(fp) = &keyed.fingerprint {
            on_tx!(self.tx, |e| sqlx::query(
                "INSERT INTO sketches (article_id, story_id, sketch, published, bands)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(article_id)
            .bind(story)
            .bind(fp.sketch.to_bytes())
            .bind(published)
            .bind(
                fp.bands
                    .iter()
                    .flat_map(|b| b.to_be_bytes())
                    .collect::<Vec<u8>>(),
            )
            .execute(e)
            .await
            .map(drop))?;
            self.pending.index().await?.insert(
                article_id,
                story,
                published,
                fp.sketch.clone(),
                &fp.bands,
            );
            self.pending.added.push(article_id);
        }
        if let Some(link) = &keyed.canonical_link {
            // A later entry of this same feed with the same link is this article.
            known.by_link.entry(link.clone()).or_insert(Existing {
                matched: link.clone(),
                id: article_id,
                published,
                story_id: Some(story),
                source_id: self.source_id,
                content_hash: keyed.content_hash.clone(),
                updated,
            });
        }
        remember_appearance(self.tx, self.source_id, keyed, article_id, self.now).await?;
        Ok(())
    }
}

/// The story index in `slot` (the writer lock's), holding every stored sketch that still has
/// its band keys (retention takes them from articles too old to match, and the index prunes
/// the same). Read whole the first time, when an article must be placed and not before, so
/// that a poll where nothing is new never pays for it; after that, only what other processes
/// stored since it last looked (replicas on one PostgreSQL database, or `feedmerge fetch`
/// beside the daemon on one SQLite file): one look up the primary key when there is nothing.
async fn caught_up<'g>(slot: &'g mut Option<Index>, db: &Db) -> Result<&'g mut Index, StoreError> {
    use futures_util::TryStreamExt;
    let first = slot.is_none();
    let index = slot.get_or_insert_with(Index::default);
    let (started, before, after) = (std::time::Instant::now(), index.len(), index.newest());
    let mut newest = after;
    on_pool!(db, |p| {
        let mut rows = sqlx::query_as::<_, (i64, i64, i64, Vec<u8>, Vec<u8>)>(
            "SELECT article_id, story_id, published, sketch, bands FROM sketches
             WHERE article_id > $1 AND bands IS NOT NULL",
        )
        .bind(after)
        .fetch(p);
        while let Some((article, story, published, sketch, bands)) = rows.try_next().await? {
            newest = newest.max(article);
            if let (Some(sketch), Some(bands)) = (Sketch::from_bytes(&sketch), bands_of(&bands)) {
                index.insert(article, story, published, sketch, &bands);
            }
        }
    });
    // Only once every row is in: a read cut short is read again from where it began (an
    // article already indexed stays as it is).
    index.saw(newest);
    if first {
        tracing::info!(
            articles = index.len(),
            mib = index.memory() / (1 << 20),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "story index loaded"
        );
    } else if index.len() > before {
        tracing::debug!(
            articles = index.len() - before,
            "story index caught up with other processes"
        );
    }
    Ok(index)
}

/// `[dedup].window` in milliseconds.
fn window_ms(dedup: &Dedup) -> i64 {
    i64::try_from(dedup.window.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Band keys as `sketches.bands` stores them: 64-bit big-endian values, one after another.
fn bands_of(bytes: &[u8]) -> Option<[i64; BANDS]> {
    if bytes.len() != 8 * BANDS {
        return None;
    }
    let mut bands = [0i64; BANDS];
    for (band, chunk) in bands.iter_mut().zip(bytes.chunks_exact(8)) {
        *band = i64::from_be_bytes(chunk.try_into().ok()?);
    }
    Some(bands)
}

/// Records that `source_id` carries `article_id` as the entry `keyed`, so that its next poll
/// recognises the entry by key and the article credits the outlet.
async fn remember_appearance(
    tx: &mut Tx,
    source_id: i64,
    keyed: &Keyed,
    article_id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO appearances (source_id, entry_key, article_id, link, title, first_seen)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(source_id)
    .bind(&keyed.key)
    .bind(article_id)
    .bind(&keyed.article.link)
    .bind(&keyed.article.title)
    .bind(millis(now))
    .execute(e)
    .await
    .map(drop))?;
    Ok(())
}

fn json(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}
