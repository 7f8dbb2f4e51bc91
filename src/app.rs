//! The commands, in library terms: what `run`, `fetch`, `stories` and `export` do with the
//! stages.
//!
//! Owns the wiring only — opening the store with the settings fixed at start, building the
//! poller, starting the engine and the server side by side and stopping both on shutdown.
//! The work is the stages'.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::StreamExt;

use crate::config::{Config, Source};
use crate::engine::Engine;
use crate::fetch::{FetchError, Fetcher};
use crate::metrics::Metrics;
use crate::poll::{Claim, Poller};
use crate::publish::{human, Format};
use crate::publish::{FeedError, Feeds};
use crate::query::{Query, QueryError};
use crate::reload::{self, Live};
use crate::report::PollReport;
use crate::server::{self, Context};
use crate::shutdown::{self, Shutdown};
use crate::store::{
    from_millis, Health, Outlet, Removed, Retention, SearchOrder, SourceState, Store, StoreError,
};
use crate::websub::{Hub, Subscriber};

/// How long the daemon waits for polls and requests in flight after a shutdown signal before
/// it closes the database anyway (well inside the 10 s that service managers allow).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(7);
/// How often the daemon applies retention, and how long after start it first does.
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);
const FIRST_CLEANUP: Duration = Duration::from_secs(60);

/// Why a command could not run (as opposed to a source failing, which is only reported).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The database is unusable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("cannot start the HTTP client: {0}")]
    Client(#[from] FetchError),
    /// A `--source` named no source in the config.
    #[error("no source named {name:?} in {config}; the sources are: {known}")]
    UnknownSource {
        /// The name given.
        name: String,
        /// The config file.
        config: String,
        /// The names there are.
        known: String,
    },
    /// The server could not bind its address.
    #[error(
        "cannot listen on {addr}: {source} (is another feedmerge running? change [server].listen)"
    )]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    /// A feed could not be made.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// A search query that cannot be run.
    #[error("{0}")]
    Query(#[from] QueryError),
}

/// An open feedmerge: its config, database and poller.
#[derive(Debug, Clone)]
pub struct App {
    live: Live,
    metrics: Arc<Metrics>,
    store: Store,
    poller: Poller,
    /// The HTTP client the poller uses, which WebSub's requests share.
    fetcher: Fetcher,
}

impl App {
    /// Opens the database named in `config` (creating it and applying migrations) and
    /// registers the configured sources in it.
    pub async fn open(config: Config) -> Result<App, AppError> {
        let startup = &config.startup;
        let started = Instant::now();
        let store = Store::open(&startup.database, startup.dedup.clone()).await?;
        phase("open the database", started);
        let started = Instant::now();
        match store.sync_sources(&config.sources).await {
            // A database that cannot be written (a read-only file, a full disk) is still
            // served; polling waits until it can be written (see `Engine::run`).
            Err(e) if e.is_unwritable() => {
                let error = store.unwritable().unwrap_or_else(|| e.to_string());
                tracing::error!(%error, "the database cannot be written; serving what it holds")
            }
            other => other?,
        }
        phase("register the sources", started);
        let started = Instant::now();
        let fetcher = Fetcher::new(&startup.limits)?;
        phase("start the HTTP client", started);
        let live = Live::new(config);
        let metrics = Arc::new(Metrics::default());
        let poller = Poller::new(
            &live.current().startup.limits,
            fetcher.clone(),
            store.clone(),
            live.clone(),
            metrics.clone(),
        );
        Ok(App {
            live,
            metrics,
            store,
            poller,
            fetcher,
        })
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Closes the database, once what was handed to it is written.
    pub async fn close(&self) {
        let started = Instant::now();
        self.store.close().await;
        phase("close the database", started);
    }

    /// Polls every enabled source (or those named, even if disabled) once, now, concurrently
    /// up to the limits, calling `progress(report, finished, total)` as each finishes.
    /// Reports come back in config order.
    pub async fn fetch(
        &self,
        names: &[String],
        force: bool,
        shutdown: Shutdown,
        mut progress: impl FnMut(&PollReport, usize, usize),
    ) -> Result<Vec<PollReport>, AppError> {
        // Nothing fetched could be stored: no outlet is asked.
        self.store.read_only()?;
        let started = Instant::now();
        let mut chosen = self.select(names)?;
        let states = self.store.source_states().await?;
        phase("read the sources' state", started);
        let started = Instant::now();
        if names.is_empty() {
            // A source disabled by a 410 is only polled again when asked for by name.
            chosen.retain(|s| {
                states
                    .get(&s.name)
                    .is_none_or(|st| st.disabled_reason.is_none())
            });
        }
        // A host that asked to wait (429) is waited for here as in the daemon: its sources are
        // held back until then, unless `force` (which says so).
        let now = chrono::Utc::now();
        for s in &chosen {
            let Some(until) = states.get(&s.name).and_then(|st| st.asked_to_wait(now)) else {
                continue;
            };
            if force {
                tracing::warn!(
                    source = %s.name,
                    until = %until.format("%Y-%m-%d %H:%M:%SZ"),
                    "--force: polled although its host asked to wait"
                );
            } else {
                self.poller.hold_host_of(&s.url, until);
            }
        }
        let mut polls = std::pin::pin!(self.poller.poll_all(&chosen, states, &shutdown, Claim::No));
        let mut reports = Vec::with_capacity(chosen.len());
        while let Some((i, report)) = polls.next().await {
            progress(&report, reports.len() + 1, chosen.len());
            reports.push((i, report));
        }
        phase("poll", started);
        reports.sort_by_key(|(i, _)| *i);
        Ok(reports.into_iter().map(|(_, r)| r).collect())
    }

    /// Every configured source's state as a table: name, status, last success, next due,
    /// consecutive failures, the WebSub subscription and the last error (or why it is
    /// disabled, or where it moved).
    pub async fn sources_table(&self) -> Result<String, AppError> {
        let states = self.store.source_states().await?;
        let push = self.store.push_states().await?;
        let now = chrono::Utc::now();
        let ago = |ms: Option<i64>| {
            ms.map_or("never".to_owned(), |t| {
                format!("{} ago", human(now - from_millis(t)))
            })
        };
        let mut rows = vec![[
            "NAME",
            "STATUS",
            "LAST SUCCESS",
            "NEXT DUE",
            "FAILURES",
            "PUSH",
            "PROBLEM",
        ]
        .map(String::from)];
        let config = self.live.current();
        for source in &config.sources {
            let st = states.get(&source.name);
            let health = Health::of(source, st);
            let status = match (health, st.and_then(|s| s.last_status)) {
                (Health::Ok | Health::Failing, Some(code)) => format!("{} {code}", health.word()),
                (Health::Ok | Health::Failing, None) => format!("{} -", health.word()),
                _ => health.word().to_owned(),
            };
            let next_due = match st.and_then(|s| s.next_due_at) {
                _ if matches!(health, Health::Off | Health::Disabled) => "-".to_owned(),
                Some(t) if from_millis(t) > now => format!("in {}", human(from_millis(t) - now)),
                _ => "now".to_owned(),
            };
            let problem = st.and_then(SourceState::problem).unwrap_or_default();
            rows.push([
                source.name.clone(),
                status,
                ago(st.and_then(|s| s.last_success_at)),
                next_due,
                st.map_or(0, |s| s.consecutive_failures).to_string(),
                push.get(&source.name)
                    .cloned()
                    .unwrap_or_else(|| "none".into()),
                problem,
            ]);
        }
        let widths: Vec<usize> = (0..7)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c == 6 {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        Ok(out)
    }

    /// The stories `text` finds (published within `since`, if given), newest first or, if
    /// `relevance`, best match first: as a list for people, or as a feed in `format`.
    /// Articles stored before the search index existed are indexed first.
    pub async fn search(
        &self,
        text: &str,
        since: Option<Duration>,
        relevance: bool,
        format: Option<Format>,
    ) -> Result<String, AppError> {
        let order = match relevance {
            true => SearchOrder::Relevance,
            false => SearchOrder::Newest,
        };
        let config = self.live.current();
        let mut query = Query::parse(text, &config)?;
        query.since = since.or(query.since);
        while self.store.index_backlog().await? > 0 {}
        let feeds = Feeds::new(&self.store, &config);
        if let Some(format) = format {
            let (feed, _) = feeds.search_feed(&query, text, order, format, 1).await?;
            return Ok(feed);
        }
        let (stories, more) = feeds.found(&query, order, 1).await?;
        let mut out = String::new();
        for story in &stories {
            let outlets: Vec<&str> = std::iter::once(&story.source)
                .chain(&story.also)
                .map(|o| o.name.as_str())
                .collect();
            out.push_str(&format!(
                "{}  {}\n    {}  {}\n",
                story.published.format("%Y-%m-%d %H:%MZ"),
                story.title,
                outlets.join(", "),
                story.link.as_deref().unwrap_or("(no link)")
            ));
        }
        out.push_str(&match (stories.len(), more) {
            (0, _) => "no story matches".to_owned(),
            (n, false) => format!("{n} stories match"),
            (n, true) => {
                format!("the newest {n} matching stories; narrow the search to see others")
            }
        });
        Ok(out)
    }

    /// Indexes, a batch at a time, the articles stored before search existed (after an
    /// upgrade), logging when it starts and ends.
    async fn index_backlog(self) {
        let mut indexed = 0;
        loop {
            match self.store.index_backlog().await {
                Ok(0) => break,
                Ok(n) => {
                    if indexed == 0 {
                        tracing::info!("indexing the stored articles for search");
                    }
                    indexed += n;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot index stored articles for search; trying again in a minute");
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
            }
        }
        if indexed > 0 {
            tracing::info!(articles = indexed, "stored articles indexed for search");
        }
    }

    /// The stories published in the last `since` that more than one outlet carried, newest
    /// first: when, how many outlets, the headline, then each outlet and its link.
    pub async fn stories_report(&self, since: Duration) -> Result<String, AppError> {
        let now = chrono::Utc::now();
        let from = chrono::Duration::from_std(since)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let stories = self.store.multi_outlet(from).await?;
        if stories.is_empty() {
            return Ok(format!(
                "no story carried by more than one outlet since {}",
                from.format("%Y-%m-%d %H:%MZ")
            ));
        }
        let mut out = String::new();
        for story in &stories {
            out.push_str(&format!(
                "{}  {} outlets  {}\n",
                story.published.format("%Y-%m-%d %H:%MZ"),
                1 + story.also.len(),
                story.title
            ));
            let outlets: Vec<&Outlet> = std::iter::once(&story.source).chain(&story.also).collect();
            let width = outlets
                .iter()
                .map(|o| o.name.chars().count())
                .max()
                .unwrap_or(0);
            for o in outlets {
                out.push_str(&format!(
                    "    {:<width$}  {}\n",
                    o.name,
                    o.link.as_deref().unwrap_or("(no link)")
                ));
            }
        }
        out.push_str(&format!(
            "{} stories carried by more than one outlet since {}",
            stories.len(),
            from.format("%Y-%m-%d %H:%MZ")
        ));
        Ok(out)
    }

    fn select(&self, names: &[String]) -> Result<Vec<Source>, AppError> {
        let config = self.live.current();
        let sources = &config.sources;
        if names.is_empty() {
            return Ok(sources.iter().filter(|s| s.enabled).cloned().collect());
        }
        names
            .iter()
            .map(|name| {
                sources
                    .iter()
                    .find(|s| s.name.eq_ignore_ascii_case(name))
                    .cloned()
                    .ok_or_else(|| AppError::UnknownSource {
                        name: name.clone(),
                        config: config.path.display().to_string(),
                        known: sources
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            })
            .collect()
    }

    /// The merged feed in `format`, exactly as the server serves it.
    pub async fn export(&self, format: Format) -> Result<String, AppError> {
        let config = self.live.current();
        let feeds = Feeds::new(&self.store, &config);
        Ok(feeds.page(&feeds.merged(), format, 1).await?.0)
    }

    /// Applies retention now: deletes what `[storage]`'s `max_age` and `max_per_source` let go
    /// (never a story a served feed shows), prunes old tombstones and index keys, and returns
    /// the freed space to the file system.
    pub async fn cleanup(&self) -> Result<Removed, AppError> {
        self.store.read_only()?;
        let config = self.live.current();
        let retention = Retention {
            max_age: config.storage.max_age,
            max_per_source: config.storage.max_per_source,
            shown: Feeds::new(&self.store, &config).shown().await?,
        };
        Ok(self.store.cleanup(&retention, chrono::Utc::now()).await?)
    }

    /// Runs [`App::cleanup`] shortly after start and then every hour, until `shutdown`.
    async fn cleanups(self, mut shutdown: Shutdown) {
        let mut wait = FIRST_CLEANUP;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.recv() => return,
            }
            wait = CLEANUP_EVERY;
            match self.cleanup().await {
                Ok(r) => tracing::info!(
                    stories = r.stories,
                    articles = r.articles,
                    tombstones = r.tombstones,
                    unindexed = r.unindexed,
                    bytes_freed = r.bytes_freed,
                    "retention done"
                ),
                Err(e) => tracing::error!(error = %e, "retention failed; will try again"),
            }
        }
    }

    /// The configured sources as OPML 2.0, grouped by category, as `/sources.opml` serves it.
    pub fn sources_opml(&self) -> String {
        let config = self.live.current();
        crate::publish::opml(&format!("{}: sources", config.feed.title), &config.sources)
    }

    fn context(&self) -> Context {
        Context::new(self.live.clone(), self.store.clone(), self.metrics.clone())
    }

    /// The daemon: polls every enabled source on its schedule and serves HTTP until
    /// `shutdown` fires; then stops polling (cancelling fetches in flight), finishes the
    /// requests in flight and closes the database.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), AppError> {
        let config = self.live.current();
        let addr = config.startup.listen;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| AppError::Listen { addr, source })?;
        tracing::info!(%addr, sources = config.sources.len(), "feedmerge is running");

        // WebSub: pushes from the sources' hubs, and our own hub (see `websub`).
        let (store, fetcher, live) = (&self.store, &self.fetcher, &self.live);
        let subscriber = Subscriber::new(store.clone(), fetcher.clone(), live.clone());
        let hub = Hub::new(store.clone(), fetcher.clone(), live.clone());
        let poller = self.poller.clone().with_push(Arc::new(subscriber.clone()));
        tokio::spawn(subscriber.clone().run(shutdown.clone()));
        tokio::spawn(hub.clone().run(shutdown.clone()));
        let websub = server::WebSub {
            subscriber,
            hub,
            poller: poller.clone(),
            deliveries: Arc::new(tokio::sync::Semaphore::new(server::DELIVERIES_AT_ONCE)),
        };

        let engine = Engine::new(poller, self.store.clone(), self.live.clone());
        let engine = tokio::spawn(engine.run(shutdown.clone()));
        tokio::spawn(self.clone().cleanups(shutdown.clone()));
        tokio::spawn(self.clone().index_backlog());
        tokio::spawn(reload::watch(
            self.live.clone(),
            self.store.clone(),
            shutdown.clone(),
        ));
        let served = server::serve(
            listener,
            server::router(self.context().with_websub(websub)),
            shutdown.clone(),
        )
        .await;
        // The server returns once shutdown fired and its requests are done; give the polls
        // the same chance, within bounds.
        if tokio::time::timeout(DRAIN_TIMEOUT, engine).await.is_err() {
            tracing::warn!("polls did not stop in time; closing the database anyway");
        }
        self.store.close().await;
        tracing::info!("stopped");
        served.map_err(AppError::Serve)
    }
}

/// Logs at debug level that a phase of a command ended: how long it took, and the process's
/// peak memory so far (where the system says). `RUST_LOG=feedmerge=debug feedmerge fetch`
/// shows where a poll of every source spends its time and memory (see BENCHMARKS.md).
pub(crate) fn phase(name: &'static str, started: Instant) {
    tracing::debug!(
        phase = name,
        ms = started.elapsed().as_millis() as u64,
        peak_rss_mib = peak_rss_mib(),
        "phase done"
    );
}

/// The process's peak resident memory so far, in MiB (Linux's `VmHWM`).
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = kib.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib / 1024)
}

/// A shutdown signal that fires on SIGINT (Ctrl-C) or SIGTERM.
pub fn shutdown_on_signals() -> Shutdown {
    let (trigger, shutdown) = shutdown::channel();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = ctrl_c => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = ctrl_c.await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        trigger.fire();
    });
    shutdown
}
