//! The database a test runs on, and reading it: the engines, a PostgreSQL schema per test,
//! and the pools and checks tests read the database through.

use std::path::PathBuf;

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
            async fn postgres() {
                super::$name($crate::common::Engine::Postgres).await
            }
        }
    )*};
}

/// The variable naming the PostgreSQL database the tests may fill.
pub const POSTGRES_VAR: &str = "FEEDMERGE_TEST_POSTGRES";

/// A fresh schema in the PostgreSQL database [`POSTGRES_VAR`] names, as a URL whose
/// connections work in it; `None`, said once on the terminal, when the variable is not set.
/// A variable set to a server that cannot be reached fails the test.
pub async fn postgres_schema() -> Option<String> {
    static SKIPPED: std::sync::Once = std::sync::Once::new();
    let Ok(base) = std::env::var(POSTGRES_VAR) else {
        SKIPPED.call_once(|| {
            // Written past the test harness's capture, so that it shows in `cargo test`.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\nPostgreSQL tests SKIPPED: {POSTGRES_VAR} is not set. To run them, \
                 point it at a database they may fill, e.g.\n    \
                 {POSTGRES_VAR}=postgres://postgres@127.0.0.1:5432/postgres cargo test\n\
                 (bash .ci/run always runs them, on a database it creates.)\n"
            );
        });
        return None;
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
    pub async fn any_db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = match &self.postgres {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=ro", self.database().display()),
        };
        sqlx::pool::PoolOptions::<sqlx::Any>::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("open test database")
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
}
