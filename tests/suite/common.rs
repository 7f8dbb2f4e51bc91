//! Shared test harness: a fixture feed server on 127.0.0.1, config files in temp dirs, and
//! the feedmerge binary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;

/// Reads a file from `tests/fixtures/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// One resource the fixture server serves.
#[derive(Clone, Debug)]
pub struct Resource {
    pub body: Vec<u8>,
    pub content_type: String,
    pub etag: Option<String>,
    pub status: StatusCode,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// How long the server waits before answering.
    pub delay: std::time::Duration,
}

impl Resource {
    pub fn new(body: Vec<u8>, content_type: &str) -> Resource {
        let etag = format!("\"{}\"", blake3::hash(&body).to_hex()[..16].to_owned());
        Resource {
            body,
            content_type: content_type.into(),
            etag: Some(etag),
            status: StatusCode::OK,
            headers: Vec::new(),
            delay: std::time::Duration::ZERO,
        }
    }

    /// A response with only a status (and headers to add).
    pub fn status(status: StatusCode) -> Resource {
        Resource {
            status,
            etag: None,
            ..Resource::new(Vec::new(), "text/plain")
        }
    }

    /// This resource with one more response header.
    pub fn with_header(mut self, name: &str, value: &str) -> Resource {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A redirect to `to`.
    pub fn redirect(status: StatusCode, to: &str) -> Resource {
        Resource {
            body: Vec::new(),
            content_type: "text/plain".into(),
            etag: None,
            status,
            headers: vec![("location".into(), to.into())],
            delay: std::time::Duration::ZERO,
        }
    }
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub if_none_match: Option<String>,
    pub user_agent: Option<String>,
    /// When the answer was sent.
    pub at: std::time::Instant,
}

#[derive(Default)]
struct World {
    resources: HashMap<String, Resource>,
    seen: Vec<Seen>,
    in_flight: usize,
    max_in_flight: usize,
}

/// An HTTP server on 127.0.0.1 serving fixture feeds, honouring `If-None-Match`, and
/// recording every request.
#[derive(Clone)]
pub struct FeedServer {
    pub addr: SocketAddr,
    world: Arc<Mutex<World>>,
}

impl FeedServer {
    /// Starts the server on its own thread and runtime, so that a test may block (running
    /// the feedmerge binary) while it serves.
    pub fn start() -> FeedServer {
        let world = Arc::new(Mutex::new(World::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let app = Router::new().fallback(serve).with_state(world.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app).await
            })
        });
        FeedServer { addr, world }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn put(&self, path: &str, resource: Resource) {
        self.world
            .lock()
            .unwrap()
            .resources
            .insert(path.into(), resource);
    }

    /// The resource served at `path` (which must be there).
    pub fn get(&self, path: &str) -> Resource {
        self.world.lock().unwrap().resources[path].clone()
    }

    /// Serves `tests/fixtures/NAME` at `path`.
    pub fn put_fixture(&self, path: &str, name: &str, content_type: &str) {
        self.put(path, Resource::new(fixture(name), content_type));
    }

    /// The most requests the server ever had in progress at once.
    pub fn max_in_flight(&self) -> usize {
        self.world.lock().unwrap().max_in_flight
    }

    /// How many requests the server has answered so far.
    pub fn requests(&self) -> usize {
        self.world.lock().unwrap().seen.len()
    }

    /// Every request so far, in order.
    pub fn all_seen(&self) -> Vec<Seen> {
        self.world.lock().unwrap().seen.clone()
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.world
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

async fn serve(State(world): State<Arc<Mutex<World>>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let (if_none_match, user_agent) = {
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        (header(header::IF_NONE_MATCH), header(header::USER_AGENT))
    };
    let resource = {
        let mut w = world.lock().unwrap();
        w.in_flight += 1;
        w.max_in_flight = w.max_in_flight.max(w.in_flight);
        w.resources.get(&path).cloned()
    };
    if let Some(r) = &resource {
        tokio::time::sleep(r.delay).await;
    }
    let response = match resource {
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found")),
        Some(r) if r.etag.is_some() && r.etag == if_none_match => Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty()),
        Some(r) => {
            let mut b = Response::builder()
                .status(r.status)
                .header(header::CONTENT_TYPE, r.content_type);
            if let Some(etag) = r.etag {
                b = b.header(header::ETAG, etag);
            }
            for (name, value) in r.headers {
                b = b.header(name, value);
            }
            b.body(Body::from(r.body))
        }
    }
    .expect("response");
    let mut world = world.lock().unwrap();
    world.in_flight -= 1;
    world.seen.push(Seen {
        path,
        if_none_match,
        user_agent,
        at: std::time::Instant::now(),
    });
    response
}

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

/// A temp dir holding a config file, and the database the test runs on.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    /// The PostgreSQL database the test runs on instead of the config's SQLite file.
    pub postgres: Option<String>,
}

impl Setup {
    /// Writes `toml` as `feedmerge.toml` in a fresh temp dir.
    pub fn new(toml: &str) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("feedmerge.toml");
        std::fs::write(&config, toml).expect("write config");
        Setup {
            dir,
            config,
            postgres: None,
        }
    }

    /// The same on `engine`: on PostgreSQL, every command gets a fresh schema as its
    /// database (`FEEDMERGE_DATABASE`); `None` when PostgreSQL tests are skipped.
    pub async fn on(engine: Engine, toml: &str) -> Option<Setup> {
        let postgres = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => Some(postgres_schema().await?),
        };
        Some(Setup {
            postgres,
            ..Setup::new(toml)
        })
    }

    /// `feedmerge` with `args`, on this setup's database.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_feedmerge"));
        command
            .env_remove("FEEDMERGE_CONFIG")
            .env_remove("FEEDMERGE_LISTEN")
            .env_remove("FEEDMERGE_DATABASE");
        if let Some(url) = &self.postgres {
            command.env("FEEDMERGE_DATABASE", url);
        }
        command
    }

    /// Runs `feedmerge -c CONFIG ARGS...`.
    pub fn feedmerge(&self, args: &[&str]) -> Output {
        self.command()
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run feedmerge")
    }

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

/// Polls the daemon's `/healthz` on `port` until `done` holds of the answer, for at most
/// `limit`; returns the last answer (`null` if none could be read).
pub async fn health_until(
    client: &reqwest::Client,
    port: u16,
    limit: std::time::Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let health = text(client, &format!("http://127.0.0.1:{port}/healthz")).await;
        let health = serde_json::from_str(&health).unwrap_or_default();
        if done(&health) || started.elapsed() > limit {
            return health;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The body of `GET url`, or nothing if the request fails.
pub async fn text(client: &reqwest::Client, url: &str) -> String {
    match client.get(url).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// A free port on 127.0.0.1 (bound, then released for the daemon to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A `feedmerge run` process, killed if the test ends without stopping it.
pub struct Daemon(pub std::process::Child);

impl Daemon {
    /// Starts `feedmerge run` on `setup`'s config, logging at `log_level`.
    pub fn start(setup: &Setup, log_level: &str) -> Daemon {
        let child = setup
            .command()
            .args(["run", "--config"]) // the global option after the subcommand
            .arg(&setup.config)
            .env("RUST_LOG", log_level)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start feedmerge run");
        Daemon(child)
    }

    /// Sends a signal by name ("TERM", "KILL").
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Stops the daemon and fails the test with `why` and everything the daemon logged.
    pub fn fail(self, why: &str) -> ! {
        self.signal("TERM");
        let (_, log) = self.wait(std::time::Duration::from_secs(10));
        panic!("{why}\n{log}");
    }

    /// Waits for the process to exit, failing the test after `limit`; returns its status and
    /// what it logged.
    pub fn wait(mut self, limit: std::time::Duration) -> (std::process::ExitStatus, String) {
        let asked = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.0.try_wait().expect("wait") {
                break status;
            }
            assert!(asked.elapsed() < limit, "still running after {limit:?}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut log = String::new();
        if let Some(mut err) = self.0.stderr.take() {
            std::io::Read::read_to_string(&mut err, &mut log).expect("read log");
        }
        (status, log)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
