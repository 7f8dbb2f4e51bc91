//! Stage 1 of the pipeline: the TOML configuration file.
//!
//! Owns reading the file, applying defaults, and validating every value, so that the rest of
//! the program only ever sees a [`Config`] that is known to be good. A config that is not good
//! becomes a [`ConfigError`] listing *every* problem found, each with file, line, column and
//! the dotted key it concerns, because the person reading it has to go and fix them all.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use url::Url;

use crate::schedule::CronSchedule;

/// The default location of the config file, relative to the working directory.
pub const DEFAULT_PATH: &str = "config/feedmerge.toml";

/// Environment variables that override one setting each, for containers: the image sets them
/// so that a user's mounted config works unchanged with the image's volume and port.
const ENV_LISTEN: &str = "FEEDMERGE_LISTEN";
const ENV_DATABASE: &str = "FEEDMERGE_DATABASE";

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from.
    pub path: PathBuf,
    /// The merged feed we publish.
    pub feed: FeedSettings,
    /// The HTTP server.
    pub server: ServerSettings,
    /// Where articles are stored.
    pub storage: StorageSettings,
    /// How sources are polled.
    pub poll: PollSettings,
    /// How versions of one story are recognised.
    pub dedup: Dedup,
    /// The outlets' feeds, in file order.
    pub sources: Vec<Source>,
    /// Filtered views of the merged feed, in file order.
    pub views: Vec<View>,
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

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Address the HTTP server binds to.
    pub listen: SocketAddr,
}

/// `[storage]`.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// Where the articles are kept.
    pub database: Database,
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

/// `[poll]`.
#[derive(Debug, Clone)]
pub struct PollSettings {
    /// Default schedule for sources that set none.
    pub schedule: CronSchedule,
    /// How many fetches may run at once.
    pub concurrency: usize,
    /// Whole-request timeout for one fetch.
    pub timeout: Duration,
    /// The `User-Agent` header sent to outlets.
    pub user_agent: String,
    /// Time zone that cron expressions are read in.
    pub timezone: chrono_tz::Tz,
    /// The largest (decompressed) feed body accepted, in bytes.
    pub max_body: u64,
    /// How many requests may be in flight to one host at once.
    pub per_host: usize,
    /// The longest wait between attempts at a failing source.
    pub backoff_cap: Duration,
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
}

/// Every category some source is filed under, once (categories match case-insensitively; the
/// first spelling is kept), sorted: the category feeds that exist.
pub fn categories(sources: &[Source]) -> Vec<&str> {
    let mut all: Vec<&str> = Vec::new();
    for c in sources.iter().flat_map(|s| &s.categories) {
        if !all.iter().any(|seen| seen.eq_ignore_ascii_case(c)) {
            all.push(c);
        }
    }
    all.sort_by_key(|c| c.to_lowercase());
    all
}

impl Config {
    /// The schedule a source is polled on: its own, or the global default.
    pub fn schedule_of<'a>(&'a self, source: &'a Source) -> &'a CronSchedule {
        source.schedule.as_ref().unwrap_or(&self.poll.schedule)
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
        let mut v = Validator {
            path,
            text,
            doc: None,
            problems: Vec::new(),
        };
        let config = v.validate();
        v.problems.sort_by_key(|p| (p.line, p.column));
        match config {
            Some(config) if v.problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid(v.problems)),
        }
    }
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file we tried.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
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

// ---------------------------------------------------------------------------------------------
// The file as written. Plain types with serde defaults; validation turns them into `Config`.

#[derive(Deserialize, Default)]
struct RawConfig {
    #[serde(default)]
    feed: RawFeed,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    poll: RawPoll,
    #[serde(default)]
    dedup: RawDedup,
    #[serde(default)]
    sources: Vec<RawSource>,
    #[serde(default)]
    views: Vec<RawView>,
}

#[derive(Deserialize)]
#[serde(default)]
struct RawFeed {
    title: String,
    base_url: String,
    max_entries: u32,
}

impl Default for RawFeed {
    fn default() -> Self {
        RawFeed {
            title: "feedmerge".into(),
            base_url: "http://127.0.0.1:8080".into(),
            max_entries: 100,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct RawServer {
    listen: String,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "127.0.0.1:8080".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct RawStorage {
    database: String,
    on_remove: OnRemove,
    max_age: Option<String>,
    max_per_source: Option<u32>,
}

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage {
            database: "data/feedmerge.db".into(),
            on_remove: OnRemove::Keep,
            max_age: None,
            max_per_source: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct RawPoll {
    schedule: String,
    concurrency: usize,
    timeout: String,
    user_agent: String,
    timezone: String,
    max_body: String,
    per_host: usize,
    backoff_cap: String,
}

impl Default for RawPoll {
    fn default() -> Self {
        RawPoll {
            schedule: "*/15 * * * *".into(),
            concurrency: 16,
            timeout: "30s".into(),
            user_agent: default_user_agent(),
            timezone: "UTC".into(),
            max_body: "16MiB".into(),
            per_host: 2,
            backoff_cap: "24h".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct RawDedup {
    threshold: f64,
    window: String,
    prefer: Vec<String>,
}

impl Default for RawDedup {
    fn default() -> Self {
        RawDedup {
            threshold: Dedup::default().threshold,
            window: "7d".into(),
            prefer: Vec::new(),
        }
    }
}

/// Identifies us to outlets, with a link they can follow to find out who is polling them.
pub fn default_user_agent() -> String {
    format!(
        "feedmerge/{} (+{})",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_REPOSITORY")
    )
}

#[derive(Deserialize)]
struct RawSource {
    name: String,
    url: String,
    #[serde(default)]
    categories: Vec<String>,
    schedule: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "yes")]
    respect_feed_hints: bool,
    #[serde(default)]
    allow_private: bool,
}

#[derive(Deserialize)]
struct RawView {
    name: String,
    title: Option<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    max_entries: Option<u32>,
}

fn yes() -> bool {
    true
}

// ---------------------------------------------------------------------------------------------
// Validation.

/// One segment of a key path: a table key or an array index.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn key(path: &str) -> Vec<Seg> {
    path.split('.').map(|k| Seg::Key(k.to_owned())).collect()
}

fn source_key(index: usize, field: &str) -> Vec<Seg> {
    vec![
        Seg::Key("sources".into()),
        Seg::Index(index),
        Seg::Key(field.into()),
    ]
}

struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
    doc: Option<toml::Spanned<DeTable<'a>>>,
    problems: Vec<Problem>,
}

impl<'a> Validator<'a> {
    fn problem_at(&mut self, span: Range<usize>, key: String, message: String) {
        let (line, column) = line_col(self.text, span.start);
        self.problems.push(Problem {
            file: self.path.to_owned(),
            line,
            column,
            key,
            message,
        });
    }

    /// Records a problem with the value at `path` (or, when it is not in the file, with the
    /// table that would hold it, or the file's start).
    fn problem(&mut self, path: &[Seg], message: String) {
        let span = self.span_of(path, false);
        self.problem_at(span, display_path(path), message);
    }

    /// The span of the value (or with `want_key`, the key) at `path`, falling back to the
    /// nearest enclosing item present in the file.
    fn span_of(&self, path: &[Seg], want_key: bool) -> Range<usize> {
        let Some(doc) = &self.doc else { return 0..0 };
        let mut best = 0..0;
        let mut table: Option<&DeTable> = Some(doc.get_ref());
        let mut array: Option<&toml::de::DeArray> = None;
        for seg in path {
            let found = match (seg, table, array) {
                (Seg::Key(k), Some(t), _) => t
                    .iter()
                    .find(|(name, _)| name.get_ref().as_ref() == k.as_str())
                    .map(|(name, value)| (name.span(), value)),
                (Seg::Index(i), _, Some(a)) => a.get(*i).map(|v| (v.span(), v)),
                _ => None,
            };
            let Some((key_span, value)) = found else {
                break;
            };
            best = if want_key { key_span } else { value.span() };
            table = None;
            array = None;
            match value.get_ref() {
                DeValue::Table(t) => table = Some(t),
                DeValue::Array(a) => array = Some(a),
                _ => {}
            }
        }
        best
    }

    /// The key path of the innermost value whose span holds `span`. Every node is searched,
    /// since a table opened by a `[header]` has a span that does not cover its keys.
    fn path_at(&self, span: &Range<usize>) -> Vec<Seg> {
        fn walk(value: &DeValue, span: &Range<usize>, path: &mut Vec<Seg>, best: &mut Vec<Seg>) {
            let mut visit = |seg: Seg, v: &toml::Spanned<DeValue>, path: &mut Vec<Seg>| {
                path.push(seg);
                let vs = v.span();
                if vs.start <= span.start && span.end <= vs.end && path.len() > best.len() {
                    *best = path.clone();
                }
                walk(v.get_ref(), span, path, best);
                path.pop();
            };
            match value {
                DeValue::Table(t) => {
                    for (k, v) in t.iter() {
                        visit(Seg::Key(k.get_ref().to_string()), v, path);
                    }
                }
                DeValue::Array(a) => {
                    for (i, v) in a.iter().enumerate() {
                        visit(Seg::Index(i), v, path);
                    }
                }
                _ => {}
            }
        }
        let mut best = Vec::new();
        if let Some(doc) = &self.doc {
            walk(
                &DeValue::Table(doc.get_ref().clone()),
                span,
                &mut Vec::new(),
                &mut best,
            );
        }
        best
    }

    fn validate(&mut self) -> Option<Config> {
        let (doc, syntax) = DeTable::parse_recoverable(self.text);
        if !syntax.is_empty() {
            for e in syntax {
                let span = e.span().unwrap_or(0..0);
                self.problem_at(
                    span,
                    String::new(),
                    format!("invalid TOML: {}", e.message()),
                );
            }
            return None;
        }
        self.doc = Some(doc);

        let mut unknown: Vec<Vec<Seg>> = Vec::new();
        let raw: Result<RawConfig, _> = toml::Deserializer::parse(self.text)
            .and_then(|de| serde_ignored::deserialize(de, |p| unknown.push(segments(&p))));
        for path in unknown {
            let span = self.span_of(&path, true);
            let name = display_path(&path);
            self.problem_at(
                span,
                name,
                "unknown key (check its spelling and the table it is in)".into(),
            );
        }
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let path = self.path_at(&span);
                self.problem_at(span, display_path(&path), e.message().to_owned());
                return None;
            }
        };
        self.check(raw)
    }

    fn check(&mut self, raw: RawConfig) -> Option<Config> {
        let base_url = match Url::parse(&raw.feed.base_url) {
            Ok(mut u) if matches!(u.scheme(), "http" | "https") => {
                // A base must end in '/', or joining "feed.atom" would replace its last segment.
                if !u.path().ends_with('/') {
                    let path = format!("{}/", u.path());
                    u.set_path(&path);
                }
                Some(u)
            }
            Ok(_) => {
                self.problem(
                    &key("feed.base_url"),
                    "must be an http:// or https:// address".into(),
                );
                None
            }
            Err(e) => {
                self.problem(&key("feed.base_url"), format!("not a valid URL: {e}"));
                None
            }
        };
        if raw.feed.max_entries == 0 {
            self.problem(&key("feed.max_entries"), "must be at least 1".into());
        }
        let listen_raw = std::env::var(ENV_LISTEN).unwrap_or(raw.server.listen);
        let listen = match listen_raw.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.problem(
                    &key("server.listen"),
                    format!("{listen_raw:?} is not an address and port like \"127.0.0.1:8080\""),
                );
                None
            }
        };
        let database = std::env::var(ENV_DATABASE).unwrap_or(raw.storage.database);
        let database = if database.trim().is_empty() {
            self.problem(
                &key("storage.database"),
                "must name a file or a postgres:// URL".into(),
            );
            Database::Sqlite(PathBuf::new())
        } else {
            Database::parse(&database, self.path.parent().unwrap_or(Path::new("")))
        };
        let max_age = match &raw.storage.max_age {
            Some(text) => self
                .duration(&key("storage.max_age"), text, "90d")
                .map(Some),
            None => Some(None),
        };
        if raw.storage.max_per_source == Some(0) {
            self.problem(&key("storage.max_per_source"), "must be at least 1".into());
        }

        let schedule = self.cron(&key("poll.schedule"), &raw.poll.schedule);
        if raw.poll.concurrency == 0 {
            self.problem(&key("poll.concurrency"), "must be at least 1".into());
        }
        let timeout = self.duration(&key("poll.timeout"), &raw.poll.timeout, "30s");
        let backoff_cap = self.duration(&key("poll.backoff_cap"), &raw.poll.backoff_cap, "24h");
        if raw.poll.per_host == 0 {
            self.problem(&key("poll.per_host"), "must be at least 1".into());
        }
        let timezone = match raw.poll.timezone.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                self.problem(
                    &key("poll.timezone"),
                    format!(
                        "unknown time zone {:?}; use an IANA name like \"Europe/Berlin\"",
                        raw.poll.timezone
                    ),
                );
                None
            }
        };
        let max_body = match parse_size(&raw.poll.max_body) {
            Some(n) if n > 0 => Some(n),
            _ => {
                self.problem(&key("poll.max_body"), "not a size like \"16MiB\"".into());
                None
            }
        };
        if raw.poll.user_agent.trim().is_empty() {
            self.problem(&key("poll.user_agent"), "must not be empty".into());
        }

        let threshold = raw.dedup.threshold;
        if !(threshold > 0.0 && threshold <= 1.0) {
            self.problem(
                &key("dedup.threshold"),
                format!("{threshold} is not a similarity between 0 (exclusive) and 1"),
            );
        }
        let window = self.duration(&key("dedup.window"), &raw.dedup.window, "7d");

        let mut sources = Vec::with_capacity(raw.sources.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        if raw.sources.is_empty() {
            self.problem(
                &key("sources"),
                "no [[sources]] listed: add at least one feed".into(),
            );
        }
        for (i, s) in raw.sources.into_iter().enumerate() {
            let name = s.name.trim().to_owned();
            if name.is_empty() {
                self.problem(&source_key(i, "name"), "must not be empty".into());
            } else if let Some(first) = seen.insert(name.to_lowercase(), i) {
                let (line, _) = line_col(
                    self.text,
                    self.span_of(&source_key(first, "name"), false).start,
                );
                self.problem(
                    &source_key(i, "name"),
                    format!("duplicate source name {name:?} (first used on line {line}); names must be unique"),
                );
            }
            let url = match Url::parse(&s.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
                Ok(u) => {
                    self.problem(
                        &source_key(i, "url"),
                        format!(
                            "{:?}: only http:// and https:// feeds can be polled",
                            u.as_str()
                        ),
                    );
                    None
                }
                Err(e) => {
                    self.problem(
                        &source_key(i, "url"),
                        format!("{:?} is not a valid URL: {e}", s.url),
                    );
                    None
                }
            };
            let schedule = match &s.schedule {
                Some(expr) => self.cron(&source_key(i, "schedule"), expr).map(Some),
                None => Some(None),
            };
            if let (Some(url), Some(schedule)) = (url, schedule) {
                sources.push(Source {
                    name,
                    url,
                    categories: s.categories,
                    schedule,
                    enabled: s.enabled,
                    respect_feed_hints: s.respect_feed_hints,
                    allow_private: s.allow_private,
                });
            }
        }

        let views = self.views(&raw.views, &sources, raw.feed.max_entries);
        let mut prefer = Vec::new();
        for (j, name) in raw.dedup.prefer.iter().enumerate() {
            match sources
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
            {
                Some(source) => prefer.push(source.name.clone()),
                None => self.problem(
                    &[
                        Seg::Key("dedup".into()),
                        Seg::Key("prefer".into()),
                        Seg::Index(j),
                    ],
                    format!("{name:?} is not the name of any [[sources]] entry"),
                ),
            }
        }

        Some(Config {
            path: self.path.to_owned(),
            feed: FeedSettings {
                title: raw.feed.title,
                base_url: base_url?,
                max_entries: raw.feed.max_entries,
            },
            server: ServerSettings { listen: listen? },
            storage: StorageSettings {
                database,
                on_remove: raw.storage.on_remove,
                max_age: max_age?,
                max_per_source: raw.storage.max_per_source,
            },
            poll: PollSettings {
                schedule: schedule?,
                concurrency: raw.poll.concurrency,
                timeout: timeout?,
                user_agent: raw.poll.user_agent,
                timezone: timezone?,
                max_body: max_body?,
                per_host: raw.poll.per_host,
                backoff_cap: backoff_cap?,
            },
            dedup: Dedup {
                threshold,
                window: window?,
                prefer,
            },
            sources,
            views,
        })
    }

    /// Checks every `[[views]]` entry against the sources and categories that exist.
    fn views(&mut self, raw: &[RawView], sources: &[Source], max_entries: u32) -> Vec<View> {
        let key = |i: usize, field: &str| {
            vec![
                Seg::Key("views".into()),
                Seg::Index(i),
                Seg::Key(field.into()),
            ]
        };
        let item = |i: usize, field: &str, j: usize| {
            let mut k = key(i, field);
            k.push(Seg::Index(j));
            k
        };
        let categories: Vec<&str> = sources
            .iter()
            .flat_map(|s| s.categories.iter().map(String::as_str))
            .collect();
        let mut views = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, v) in raw.iter().enumerate() {
            let name = v.name.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                self.problem(
                    &key(i, "name"),
                    format!(
                        "{name:?}: a view's name is part of its URL: use letters, digits, - and _"
                    ),
                );
            } else if names.insert(name.to_lowercase(), i).is_some() {
                self.problem(&key(i, "name"), format!("duplicate view name {name:?}"));
            }
            let mut ok = true;
            let mut view_sources = Vec::new();
            for (j, s) in v.sources.iter().enumerate() {
                match sources
                    .iter()
                    .find(|src| src.name.eq_ignore_ascii_case(s.trim()))
                {
                    Some(src) => view_sources.push(src.name.clone()),
                    None => {
                        ok = false;
                        self.problem(
                            &item(i, "sources", j),
                            format!("{s:?} is not the name of any [[sources]] entry"),
                        );
                    }
                }
            }
            let mut view_categories = Vec::new();
            for (j, c) in v.categories.iter().enumerate() {
                match categories
                    .iter()
                    .find(|known| known.eq_ignore_ascii_case(c.trim()))
                {
                    Some(known) => view_categories.push((*known).to_owned()),
                    None => {
                        ok = false;
                        self.problem(
                            &item(i, "categories", j),
                            format!("no source is filed under category {c:?}"),
                        );
                    }
                }
            }
            let mut patterns = |field: &str, list: &[String]| -> Vec<regex::Regex> {
                let mut out = Vec::new();
                for (j, p) in list.iter().enumerate() {
                    match regex::RegexBuilder::new(p)
                        .case_insensitive(true)
                        .size_limit(1 << 20)
                        .build()
                    {
                        Ok(re) => out.push(re),
                        Err(e) => {
                            ok = false;
                            let why = e.to_string();
                            // The regex crate's message is several lines; its last one says why.
                            let why = why.lines().last().unwrap_or("invalid").trim();
                            self.problem(
                                &item(i, field, j),
                                format!("{p:?} is not a valid regular expression: {why}"),
                            );
                        }
                    }
                }
                out
            };
            let include = patterns("include", &v.include);
            let exclude = patterns("exclude", &v.exclude);
            if v.max_entries == Some(0) {
                self.problem(&key(i, "max_entries"), "must be at least 1".into());
            }
            if ok {
                views.push(View {
                    name: name.to_owned(),
                    title: v.title.clone().unwrap_or_else(|| name.to_owned()),
                    categories: view_categories,
                    sources: view_sources,
                    include,
                    exclude,
                    max_entries: v.max_entries.unwrap_or(max_entries).max(1),
                });
            }
        }
        views
    }

    fn duration(&mut self, path: &[Seg], text: &str, example: &str) -> Option<Duration> {
        match humantime::parse_duration(text) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.problem(path, "must be longer than zero".into());
                None
            }
            Err(e) => {
                self.problem(path, format!("not a duration like {example:?}: {e}"));
                None
            }
        }
    }

    fn cron(&mut self, path: &[Seg], expr: &str) -> Option<CronSchedule> {
        match CronSchedule::parse(expr) {
            Ok(s) => Some(s),
            Err(e) => {
                self.problem(path, e.to_string());
                None
            }
        }
    }
}

fn segments(path: &serde_ignored::Path) -> Vec<Seg> {
    use serde_ignored::Path as P;
    match path {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut v = segments(parent);
            v.push(Seg::Index(*index));
            v
        }
        P::Map { parent, key } => {
            let mut v = segments(parent);
            v.push(Seg::Key(key.clone()));
            v
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            segments(parent)
        }
    }
}

/// 1-based line and character column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Parses sizes like "16MiB", "512 KiB", "1000000" (bytes).
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}
