//! Stage 1 of the pipeline: the TOML configuration file.
//!
//! Owns reading the file, applying defaults, and validating every value, so that the rest of
//! the program only ever sees a [`Config`] that is known to be good. A config that is not good
//! becomes a [`ConfigError`] listing *every* problem found, each with file, line, column and
//! the dotted key it concerns, because the person reading it has to go and fix them all.
//!
//! A config is split by lifetime: [`Startup`] holds what the daemon reads once (the address,
//! the database, `[dedup]`, the fetch limits), handed to the components built from it; the rest
//! is read live, from the config in force, and changes with each reload.

mod locate;
mod raw;
mod rules;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::address::non_public;
use crate::schedule::{CronSchedule, Plan};

pub use locate::locate;
pub(crate) use rules::{Alert, AlertFormat, AlertMatch, Rewrite, Rule, Selector};

/// The first place a config file is looked for, relative to the working directory (the
/// repository's layout); `locate::default_places` lists the others.
pub(crate) const DEFAULT_PATH: &str = "config/feedmerge.toml";

/// Environment variables that override one setting each, for containers: the image sets them
/// so that a user's mounted config works unchanged with the image's volume and port.
const ENV_LISTEN: &str = "FEEDMERGE_LISTEN";
/// Connections the server serves at once; more wait in the listen queue until one closes.
/// Well below the unit's `LimitNOFILE`, so that the database and the fetches always have
/// descriptors.
pub(crate) const MAX_CONNECTIONS: usize = 4096;
const ENV_DATABASE: &str = "FEEDMERGE_DATABASE";

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from.
    pub path: PathBuf,
    /// What is read once, when the daemon starts: an edit of these waits for a restart.
    pub startup: Startup,
    /// The merged feed we publish.
    pub feed: FeedSettings,
    /// What retention keeps.
    pub storage: StorageSettings,
    /// When sources are polled.
    pub poll: PollSettings,
    /// WebSub: push from outlets' hubs, and our own hub.
    pub websub: WebSub,
    /// The outlets' feeds, in file order.
    pub sources: Vec<Source>,
    /// Filtered views of the merged feed, in file order.
    pub views: Vec<View>,
    /// `[[rules]]`: what is done to entries as they come in, in file order.
    pub(crate) rules: Vec<Rule>,
    /// `[[notify]]`: whom to tell of new stories.
    pub(crate) alerts: Vec<Alert>,
    /// Article pages read at once, for the sources that take their full text.
    pub full_text_concurrency: usize,
    /// What is allowed but unwise (a password written in the file), for `check` to say.
    pub warnings: Vec<Problem>,
}

/// `[feed]`: the merged feed.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// Title of the merged feed.
    pub title: String,
    /// Public address of this server, used in self links and entry ids.
    pub base_url: Url,
    /// How many entries a rendered feed holds at most.
    pub max_entries: u32,
}

/// The settings fixed at start: the components built from them (the listener, the database
/// and its story index, the HTTP client, the limits on fetches) keep them until a restart.
/// A reloaded config keeps the running ones and logs which the file changed
/// ([`Startup::changes`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Startup {
    /// `[server].listen`: the address the HTTP server binds to.
    pub listen: SocketAddr,
    /// `[server].connections_per_client`: connections one client address may hold at once.
    pub connections_per_client: usize,
    /// `[storage].database`: where the articles are kept.
    pub database: Database,
    /// `[dedup]`: how versions of one story are recognised.
    pub dedup: Dedup,
    /// What the fetcher and poller may do.
    pub limits: Limits,
}

/// `[poll]`'s limits on fetching, fixed at start.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// How many fetches may run at once.
    pub concurrency: usize,
    /// How many requests may be in flight to one host at once.
    pub per_host: usize,
    /// Whole-request timeout for one fetch.
    pub timeout: Duration,
    /// The `User-Agent` header sent to outlets.
    pub user_agent: String,
    /// The largest (decompressed) feed body accepted, in bytes.
    pub max_body: u64,
    /// Entries read from one feed: its first ones (newest, in every real feed).
    pub max_items: usize,
}

impl Limits {
    /// The limits of a config that sets none, for a command run before any file is written
    /// (`feedmerge add`).
    pub(crate) fn defaults() -> Limits {
        validate::default_limits()
    }
}

impl Startup {
    /// The keys whose value differs in `new`, as the config file names them.
    pub fn changes(&self, new: &Startup) -> Vec<&'static str> {
        // Taken apart field by field, so that a field added here must be named here too.
        let Startup {
            listen,
            connections_per_client,
            database,
            dedup,
            limits:
                Limits {
                    concurrency,
                    per_host,
                    timeout,
                    user_agent,
                    max_body,
                    max_items,
                },
        } = self;
        let l = &new.limits;
        [
            ("server.listen", *listen != new.listen),
            (
                "server.connections_per_client",
                *connections_per_client != new.connections_per_client,
            ),
            ("storage.database", *database != new.database),
            ("dedup", *dedup != new.dedup),
            ("poll.concurrency", *concurrency != l.concurrency),
            ("poll.per_host", *per_host != l.per_host),
            ("poll.timeout", *timeout != l.timeout),
            ("poll.user_agent", *user_agent != l.user_agent),
            ("poll.max_body", *max_body != l.max_body),
            ("poll.max_items", *max_items != l.max_items),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }
}

/// `[storage]`, but for `database`: what retention keeps, and what becomes of a removed source.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// What happens to a removed source's articles.
    pub on_remove: OnRemove,
    /// Articles older than this (by publication) are removed, unless a served feed still
    /// shows their story.
    pub max_age: Option<Duration>,
    /// Each source keeps at most this many articles, the newest.
    pub max_per_source: Option<u32>,
}

/// `[storage].database`: where the articles are kept.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file, resolved against the config file's folder: the default, for one
    /// process on one machine.
    Sqlite(PathBuf),
    /// A PostgreSQL server, by `postgres://` URL: for several replicas sharing the polling.
    Postgres(String),
}

impl Database {
    /// Reads a `[storage].database` value: a `postgres://` (or `postgresql://`) URL, else a
    /// file path, with or without a `sqlite:` prefix, relative to `folder`.
    pub fn parse(value: &str, folder: &Path) -> Database {
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            Database::Postgres(value.to_owned())
        } else {
            Database::Sqlite(folder.join(value.strip_prefix("sqlite:").unwrap_or(value)))
        }
    }
}

/// The file's path, or the URL without its password: this is what logs and errors show.
impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => match url::Url::parse(url) {
                Ok(mut url) if url.password().is_some() => {
                    let _ = url.set_password(Some("***"));
                    write!(f, "{url}")
                }
                _ => f.write_str(url),
            },
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Database({self})")
    }
}

/// `[storage].on_remove`: what becomes of the articles of a source removed from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnRemove {
    /// They stay in the merged feed until retention removes them.
    Keep,
    /// They are deleted with the source (other outlets' versions of their stories stay).
    Purge,
}

/// `[poll]`, but for its [`Limits`]: when sources are polled.
#[derive(Debug, Clone)]
pub struct PollSettings {
    /// Default schedule for sources that set none.
    pub schedule: CronSchedule,
    /// Time zone that cron expressions are read in.
    pub timezone: chrono_tz::Tz,
    /// The longest wait between attempts at a failing source.
    pub backoff_cap: Duration,
    /// The share of enabled sources (0 to 1) that may be failing or stale before `/healthz`
    /// says `degraded`.
    pub degraded_share: f64,
}

/// `[websub]`: news pushed in seconds instead of polled (W3C WebSub), in both directions.
///
/// Both directions need hubs elsewhere to reach `[feed].base_url`: behind NAT, or on
/// `127.0.0.1`, an outlet's hub could never verify or deliver, and subscribing would only hand
/// it a private address. So `subscribe` and `hub`, unless set, are on exactly when base_url's
/// host is a public name or address.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSub {
    /// Subscribe to the hubs that sources' feeds announce.
    pub subscribe: bool,
    /// Serve a hub for our own feeds at `<base_url>/websub`, and advertise it.
    pub hub: bool,
    /// Whether a reader's callback may be on this machine or the local network.
    pub allow_private_callbacks: bool,
    /// The lease asked of outlets' hubs (they may grant another).
    pub lease: Duration,
    /// While a source's push subscription is active, it is polled at most this often: a
    /// safety net for what a hub fails to push.
    pub safety_poll: Duration,
}

/// Whether `url`'s host looks reachable from the internet: a public IP address, or a name
/// other than `localhost` and the names of local networks (`.local`, `.lan`, `.internal`,
/// `.home.arpa`, a name without a dot).
pub(crate) fn public_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => non_public(ip.into()).is_none(),
        Some(url::Host::Ipv6(ip)) => non_public(ip.into()).is_none(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name.contains('.')
                && ![".localhost", ".local", ".lan", ".internal", ".home.arpa"]
                    .iter()
                    .any(|suffix| name.ends_with(suffix))
        }
        None => false,
    }
}

/// `[dedup]`: when articles from different links are versions of one story.
#[derive(Debug, Clone, PartialEq)]
pub struct Dedup {
    /// How much of the shorter version's lead the other must share (0 to 1) for the two to
    /// be one story. At 0.5: precision 0.993, recall 0.987 on `tests/fixtures/stories/`.
    pub threshold: f64,
    /// Only articles published within this time of each other can be one story.
    pub window: Duration,
    /// Sources whose version represents a story they carry, most preferred first; among
    /// versions from other sources, the earliest published represents it.
    pub prefer: Vec<String>,
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup {
            threshold: 0.5,
            window: Duration::from_secs(7 * 24 * 3600),
            prefer: Vec::new(),
        }
    }
}

/// One `[[views]]` entry: a filtered feed, served at `/views/{name}.atom|.rss|.json`. A story
/// is in it when it passes every filter that is set.
#[derive(Debug, Clone)]
pub struct View {
    /// Its name in URLs: letters, digits, `-` and `_`.
    pub name: String,
    /// The feed's title.
    pub title: String,
    /// A story is in the view if any outlet that carries it is filed under one of these.
    pub categories: Vec<String>,
    /// A story is in the view if any of these sources carries it.
    pub sources: Vec<String>,
    /// A story is in the view if one of these matches its title or text.
    pub include: Vec<regex::Regex>,
    /// A story is not in the view if one of these matches its title or text.
    pub exclude: Vec<regex::Regex>,
    /// A story is in the view only if it matches this search query.
    pub(crate) query: Option<crate::query::Query>,
    /// Entries per page, if not `[feed].max_entries`.
    pub max_entries: u32,
}

/// One `[[sources]]` entry: an outlet's feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Unique, human-chosen name; credited on every entry from this source.
    pub name: String,
    /// The feed's address.
    pub url: Url,
    /// Categories the user filed this source under.
    pub categories: Vec<String>,
    /// This source's own schedule, if it overrides `[poll].schedule`.
    pub schedule: Option<CronSchedule>,
    /// Whether the source is polled at all.
    pub enabled: bool,
    /// Whether the feed's own hints (`<ttl>`, `sy:updatePeriod`, `Cache-Control: max-age`)
    /// may space its polls further apart than the schedule.
    pub respect_feed_hints: bool,
    /// Whether the feed may lead to loopback, private or link-local addresses (a feed on
    /// this machine or the local network). An IP address written as the url's host is always
    /// allowed.
    pub allow_private: bool,
    /// Whether each new article's page is read for its full text, and how; `None` when not.
    pub full_text: Option<ExtractOptions>,
    /// How its feed is asked for: its own user agent, headers and credentials.
    pub http: SourceHttp,
    /// For a site without a feed: where its entries are on its page (`html`) or in its JSON
    /// (`json`); `None` for a feed.
    pub listing: Option<crate::parse::Listing>,
}

/// How a source's feed is asked for beyond a plain GET: its own user agent, its own headers
/// (`headers`, `basic_auth` as `Authorization`, `cookie_env` as `Cookie`). Every header
/// value is marked sensitive, so that `Debug` shows none, and the headers go to the feed's
/// own host only: a redirect to another drops them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceHttp {
    /// `user_agent`: sent instead of `[poll].user_agent`, to every host.
    pub user_agent: Option<reqwest::header::HeaderValue>,
    /// The headers sent to the feed's own host.
    pub headers: reqwest::header::HeaderMap,
    /// `proxy` (else `[poll].proxy`): every request of the source goes through it.
    pub proxy: Option<Proxy>,
}

/// A proxy's address (`http://`, `https://`, `socks5://` or `socks5h://`), which may hold a
/// user and password: `Debug` shows neither.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy(pub Url);

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        write!(f, "Proxy({shown})")
    }
}

/// How a source's article pages are read for their full text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// The CSS selector of the article's content, where automatic extraction picks wrong.
    pub selector: Option<String>,
    /// CSS selectors of what to take out first (share bars, "read more" boxes).
    pub remove: Vec<String>,
}

/// Every category some source is filed under, once (categories match case-insensitively; the
/// first spelling is kept), sorted: the category feeds that exist.
pub(crate) fn categories(sources: &[Source]) -> Vec<&str> {
    crate::query::distinct(
        sources
            .iter()
            .flat_map(|s| &s.categories)
            .map(String::as_str),
    )
}

impl Config {
    /// Each source's name and categories, as a query reads them (`query::Names`).
    pub(crate) fn source_names(&self) -> Vec<(&str, &[String])> {
        self.sources
            .iter()
            .map(|s| (s.name.as_str(), s.categories.as_slice()))
            .collect()
    }

    /// The schedule a source is polled on: its own, or the global default.
    pub fn schedule_of<'a>(&'a self, source: &'a Source) -> &'a CronSchedule {
        source.schedule.as_ref().unwrap_or(&self.poll.schedule)
    }

    /// How `source` is scheduled: its schedule (or the default) in the configured zone, backing
    /// off up to the configured cap.
    pub fn plan_of<'a>(&'a self, source: &'a Source) -> Plan<'a> {
        Plan {
            name: &source.name,
            schedule: self.schedule_of(source),
            tz: self.poll.timezone,
            backoff_cap: self.poll.backoff_cap,
        }
    }

    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Validates config text as if it had been read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        validate::parse(path, text)
    }
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("cannot read config file {}: {source}", locate::absolute(path).display())]
    Read {
        /// The file we tried.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// No file was named, and none is in the places looked in.
    #[error(
        "no config file found; looked for {}\nname one with `-c FILE` (or FEEDMERGE_CONFIG=FILE), \
         or start from the repository's example, config/feedmerge.toml",
        .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        /// Every place looked in, in order.
        looked: Vec<PathBuf>,
    },
    /// The file was read, and these things are wrong with it.
    #[error("{}", display_problems(.0))]
    Invalid(Vec<Problem>),
}

fn display_problems(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    lines.join("\n")
}

/// One thing wrong with a config file, located precisely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// Dotted key path, e.g. `sources[2].schedule`; empty when not about one key.
    pub key: String,
    /// What is wrong and, where we can tell, how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}
