//! Running feedmerge: a temp dir with a config file, the binary run in it (a command, or
//! the daemon as a child process), and reading what it serves.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::database::{postgres_schema, Engine};

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

/// A connection to the daemon's `port` on 127.0.0.1 from the loopback address `from`
/// (127.0.0.2, ...), which stands in for another client host.
pub async fn connect_from(from: [u8; 4], port: u16) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::from((from, 0)))
        .expect("bind another loopback address");
    socket
        .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("connect")
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

    /// Starts `feedmerge run` on `setup` serving on `port` (`FEEDMERGE_LISTEN`), logging
    /// warnings nowhere: one of several replicas on one database.
    pub fn replica(setup: &Setup, port: u16) -> Daemon {
        let child = setup
            .command()
            .args(["run", "--config"])
            .arg(&setup.config)
            .env("FEEDMERGE_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
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
