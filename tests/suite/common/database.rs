//! The database a test runs on, and reading it: the engines, a PostgreSQL schema per test,
//! and the helpers through which every test reads the database (and the two places a test
//! writes to it behind the daemon's back). The queries tests depend on live here only, so a
//! schema change is met in one file.

use std::path::PathBuf;

use sqlx::{AnyPool, SqlitePool};

use super::Setup;

/// The database engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The file the test's config names.
    Sqlite,
    /// A schema of its own in the PostgreSQL database `FEEDMERGE_TEST_POSTGRES` names.
    Postgres,
}

/// Declares each async fn named, which takes an [`Engine`], as two tests: `NAME::sqlite` and
/// `NAME::postgres`.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::common::Engine::Sqlite).await
            }
            #[tokio::test]
            #[ignore = "needs PostgreSQL: set FEEDMERGE_TEST_POSTGRES=postgres://USER@HOST/DB and pass --include-ignored"]
            async fn postgres() {
                super::$name($crate::common::Engine::Postgres).await
            }
        }
    )*};
}

/// The variable naming the PostgreSQL database the tests may fill.
pub const POSTGRES_VAR: &str = "FEEDMERGE_TEST_POSTGRES";

/// A fresh schema in the PostgreSQL database [`POSTGRES_VAR`] names, as a URL whose
/// connections work in it. The tests that call it are ignored unless asked for
/// (`--include-ignored`); asked for without the variable, or with a server that cannot be
/// reached, they fail saying what to set.
pub async fn postgres_schema() -> Option<String> {
    let Ok(base) = std::env::var(POSTGRES_VAR) else {
        panic!(
            "this test needs PostgreSQL: point {POSTGRES_VAR} at a database it may fill, e.g. \
             {POSTGRES_VAR}=postgres://postgres@127.0.0.1:5432/postgres (bash .ci/run does)"
        );
    };
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let schema = format!(
        "feedmerge_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_VAR}={base}: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create the test's schema");
    let join = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{join}options=-c%20search_path%3D{schema}"))
}

impl Setup {
    /// Connects to the test's database, whichever engine it is on, for queries both read
    /// alike.
    pub async fn any_db(&self) -> AnyPool {
        self.try_any_db().await.expect("open test database")
    }

    /// [`Setup::any_db`], or the error if the database cannot be opened (yet).
    async fn try_any_db(&self) -> Result<AnyPool, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let url = match &self.postgres {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=ro", self.database().display()),
        };
        sqlx::pool::PoolOptions::<sqlx::Any>::new()
            .max_connections(2)
            .connect(&url)
            .await
    }

    /// The database the config names (`db/feedmerge.db` beside it, by convention here).
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("db/feedmerge.db")
    }

    /// Asserts that the database is intact: on SQLite, that it passes SQLite's integrity
    /// check; on PostgreSQL (which checks its files itself), that every article is in a story
    /// and every story has its representative.
    pub async fn assert_intact(&self) {
        if self.postgres.is_some() {
            let broken: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM articles
                         WHERE story_id IS NULL OR story_id NOT IN (SELECT id FROM stories))
                      + (SELECT COUNT(*) FROM stories
                         WHERE representative NOT IN (SELECT id FROM articles))",
            )
            .fetch_one(&self.any_db().await)
            .await
            .expect("consistency check");
            assert_eq!(
                broken, 0,
                "articles without stories or stories without articles"
            );
            return;
        }
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&self.db().await)
            .await
            .expect("integrity check");
        assert_eq!(check, "ok");
    }

    /// Opens the database read-only.
    pub async fn db(&self) -> sqlx::SqlitePool {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(self.database())
            .read_only(true);
        sqlx::SqlitePool::connect_with(options)
            .await
            .expect("open test database")
    }

    /// Every source's stored state, in the order they were registered.
    pub async fn sources(&self) -> Vec<SourceRow> {
        let db = self.any_db().await;
        let rows = read_sources(&db).await.expect("sources");
        db.close().await;
        rows
    }

    /// Every source's stored state, or none if the database cannot be read yet (a daemon
    /// still creating it).
    pub async fn sources_if_any(&self) -> Vec<SourceRow> {
        let Ok(db) = self.try_any_db().await else {
            return Vec::new();
        };
        let rows = read_sources(&db).await.unwrap_or_default();
        db.close().await;
        rows
    }

    /// The stored state of the source `name`.
    pub async fn source(&self, name: &str) -> SourceRow {
        let sources = self.sources().await;
        sources
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no source {name:?} in the database"))
    }

    /// Every stored article (every version of every story), in the order they were stored.
    pub async fn articles(&self) -> Vec<ArticleRow> {
        self.read_articles(None).await
    }

    /// The articles the source `name` carried first, in the order they were stored.
    pub async fn articles_of(&self, name: &str) -> Vec<ArticleRow> {
        self.read_articles(Some(name)).await
    }

    async fn read_articles(&self, source: Option<&str>) -> Vec<ArticleRow> {
        let db = self.any_db().await;
        let rows = sqlx::query_as(
            "SELECT a.id, s.name AS source, a.canonical_link, a.link, a.title, a.summary,
                    a.content, a.published, a.updated, a.first_seen
             FROM articles a JOIN sources s ON s.id = a.source_id
             WHERE $1 IS NULL OR s.name = $1
             ORDER BY a.id",
        )
        .bind(source)
        .fetch_all(&db)
        .await
        .expect("articles");
        db.close().await;
        rows
    }

    /// Every outlet's entry for the article `id`: the outlet's name and the entry's own title,
    /// by name.
    pub async fn carriers(&self, article: i64) -> Vec<(String, String)> {
        let db = self.any_db().await;
        let rows = sqlx::query_as(
            "SELECT s.name, ap.title FROM appearances ap JOIN sources s ON s.id = ap.source_id
             WHERE ap.article_id = $1 ORDER BY s.name",
        )
        .bind(article)
        .fetch_all(&db)
        .await
        .expect("appearances");
        db.close().await;
        rows
    }

    /// The key of every entry an outlet carries (`guid:…`, `link:…`, `hash:…`).
    pub async fn entry_keys(&self) -> Vec<String> {
        self.strings("SELECT entry_key FROM appearances ORDER BY entry_key")
            .await
    }

    /// How many rows `table` holds (`articles`, `appearances`, `stories`, `tombstones`, ...).
    pub async fn count(&self, table: &str) -> i64 {
        let db = self.any_db().await;
        let n = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&db)
            .await
            .expect("count");
        db.close().await;
        n
    }

    /// On SQLite, the tables whose foreign keys point nowhere (none, if the file is whole).
    pub async fn foreign_key_violations(&self) -> Vec<String> {
        let db = self.db().await;
        let rows: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
            .fetch_all(&db)
            .await
            .expect("foreign keys");
        db.close().await;
        rows.into_iter().map(|(t,)| t).collect()
    }

    /// On SQLite, the value of `PRAGMA name`.
    pub async fn pragma(&self, name: &str) -> i64 {
        let db = self.db().await;
        let value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
            .fetch_one(&db)
            .await
            .expect("pragma");
        db.close().await;
        value
    }

    /// Makes every source due at `at` (ms since the epoch), as a daemon that stopped then
    /// would have left it.
    pub async fn make_all_due(&self, at: i64) {
        let db = self.writable().await;
        sqlx::query("UPDATE sources SET next_due_at = $1")
            .bind(at)
            .execute(&db)
            .await
            .expect("update");
        db.close().await;
    }

    /// Moves every story's first sighting `ms` earlier, as if it had been served that long
    /// (SQLite).
    pub async fn age_stories(&self, ms: i64) {
        let db = self.writable().await;
        sqlx::query("UPDATE stories SET first_seen = first_seen - $1")
            .bind(ms)
            .execute(&db)
            .await
            .expect("update");
        db.close().await;
    }

    /// Each stored sketch's article and band keys (8 bytes each), by article.
    pub async fn sketch_bands(&self) -> Vec<(i64, Option<Vec<u8>>)> {
        let db = self.db().await;
        let rows = sqlx::query_as("SELECT article_id, bands FROM sketches ORDER BY article_id")
            .fetch_all(&db)
            .await
            .expect("sketches");
        db.close().await;
        rows
    }

    /// Empties the search index and marks every article as stored before it existed, as a
    /// database from before search is after its migration.
    pub async fn forget_search_index(&self) {
        let statements = |empty| {
            [
                empty,
                "DELETE FROM search_backlog",
                "INSERT INTO search_backlog SELECT MAX(id) + 1 FROM articles",
            ]
        };
        if self.postgres.is_some() {
            let db = self.any_db().await;
            for statement in statements("DELETE FROM article_search") {
                sqlx::query(statement).execute(&db).await.expect(statement);
            }
            db.close().await;
        } else {
            let db = self.writable().await;
            let empty = "INSERT INTO article_search (article_search) VALUES ('delete-all')";
            for statement in statements(empty)
                .into_iter()
                .chain(["DELETE FROM search_docs"])
            {
                sqlx::query(statement).execute(&db).await.expect(statement);
            }
            db.close().await;
        }
    }

    /// On SQLite, whether a table or index `name` exists.
    pub async fn has_table(&self, name: &str) -> bool {
        let db = self.db().await;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = $1")
            .bind(name)
            .fetch_one(&db)
            .await
            .expect("sqlite_master");
        db.close().await;
        n > 0
    }

    /// Takes an SQLite database back to the schema of migration 5, as a feedmerge from
    /// before the in-memory story index left it: band keys in their own `story_bands` table,
    /// sketches without them. Returns how many sketches it moved.
    pub async fn downgrade_to_story_bands(&self) -> usize {
        let db = self.writable().await;
        let sketches: Vec<(i64, i64, Vec<u8>)> =
            sqlx::query_as("SELECT article_id, published, bands FROM sketches")
                .fetch_all(&db)
                .await
                .expect("sketches");
        sqlx::raw_sql(
            "CREATE TABLE story_bands (band INTEGER NOT NULL, published INTEGER NOT NULL,
                 article_id INTEGER NOT NULL, PRIMARY KEY (band, published, article_id))
                 WITHOUT ROWID;
             DROP INDEX sketches_by_published;
             ALTER TABLE sketches DROP COLUMN bands;
             ALTER TABLE sketches DROP COLUMN published;
             DELETE FROM _sqlx_migrations WHERE version = 6;",
        )
        .execute(&db)
        .await
        .expect("downgrade");
        for (article, published, bands) in &sketches {
            for band in bands.chunks_exact(8) {
                sqlx::query("INSERT INTO story_bands VALUES ($1, $2, $3)")
                    .bind(i64::from_be_bytes(band.try_into().expect("8 bytes")))
                    .bind(published)
                    .bind(article)
                    .execute(&db)
                    .await
                    .expect("story_bands");
            }
        }
        db.close().await;
        sketches.len()
    }

    /// The first column of every row `sql` returns, as text.
    async fn strings(&self, sql: &'static str) -> Vec<String> {
        let db = self.any_db().await;
        let rows = sqlx::query_scalar(sql).fetch_all(&db).await.expect(sql);
        db.close().await;
        rows
    }

    /// Opens the SQLite database for writing (only to set up what a test needs behind the
    /// daemon's back).
    async fn writable(&self) -> SqlitePool {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(self.database());
        SqlitePool::connect_with(options)
            .await
            .expect("open test database")
    }
}

/// A source's stored state, as tests read it (times in ms since the epoch).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SourceRow {
    pub name: String,
    pub last_attempt_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub consecutive_failures: i64,
    pub etag: Option<String>,
    pub next_due_at: Option<i64>,
    /// How many articles it carries (its own and those it shares).
    pub articles: i64,
}

/// A stored article, with the name of the source that carried it first (times in ms since
/// the epoch).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ArticleRow {
    pub id: i64,
    pub source: String,
    pub canonical_link: Option<String>,
    pub link: Option<String>,
    pub title: String,
    pub summary: Option<String>,
    pub content: Option<String>,
    pub published: i64,
    pub updated: i64,
    pub first_seen: i64,
}

async fn read_sources(db: &AnyPool) -> Result<Vec<SourceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.name, s.last_attempt_at, s.last_success_at, s.last_status, s.last_error,
                s.consecutive_failures, s.etag, s.next_due_at,
                (SELECT COUNT(*) FROM appearances ap WHERE ap.source_id = s.id) AS articles
         FROM sources s ORDER BY s.id",
    )
    .fetch_all(db)
    .await
}
