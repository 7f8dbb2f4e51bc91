//! The commands, in library terms: what `run`, `fetch`, `stories`, `search`, `sources` and
//! `export` do with the stages.
//!
//! Owns the wiring only — opening the store with the settings fixed at start, building the
//! poller, starting the engine, the server and the background tasks side by side and stopping
//! them all on shutdown. The work is the stages'; what the one-shot commands print is `cli`'s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::stream::StreamExt;

use crate::config::ExtractOptions;
use crate::config::{Config, Source};
use crate::engine::Engine;
use crate::fetch::{FetchError, Fetcher};
use crate::fulltext::{Extracted, FullText, Read};
use crate::memory::phase;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::poll::{Claim, Poller};
use crate::publish::{self, FeedError, Feeds, Format, SourceRow};
use crate::query::{Names, Query, QueryError};
use crate::reapply::Reapplied;
use crate::reload::{self, Live};
use crate::report::PollReport;
use crate::server::{self, Context};
use crate::shutdown::{self, Shutdown};
use crate::store::{Removed, Retention, SearchOrder, Store, StoreError, Story};
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
    /// An article page gave no article.
    #[error("{url}: {error}")]
    Page {
        /// The page.
        url: String,
        /// Why.
        error: String,
    },
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

    /// Reads the article pages due of the sources that take their full text (after a
    /// `fetch`, the new articles'), and stores their text.
    pub async fn read_full_texts(&self) -> Result<Read, AppError> {
        self.store.read_only()?;
        let queue = FullText::new(
            self.store.clone(),
            self.fetcher.clone(),
            self.live.clone(),
            self.metrics.clone(),
        );
        Ok(queue.drain().await?)
    }

    /// What the article page at `url` gives with `options` (nothing is stored).
    pub async fn extract(
        &self,
        url: &str,
        options: &ExtractOptions,
        allow_private: bool,
    ) -> Result<Extracted, AppError> {
        let queue = FullText::new(
            self.store.clone(),
            self.fetcher.clone(),
            self.live.clone(),
            self.metrics.clone(),
        );
        queue
            .preview(url, options, allow_private)
            .await
            .map_err(|error| AppError::Page {
                url: url.to_owned(),
                error: error.replace(
                    "set allow_private = true on the source",
                    "pass --allow-private (a source's allow_private = true)",
                ),
            })
    }

    /// The entries `source`'s config gives now (its feed, or its page read by its `html` or
    /// `json`), stored nowhere.
    pub async fn preview(&self, source: &str) -> Result<Vec<crate::Article>, AppError> {
        let chosen = self.select(&[source.to_owned()])?;
        let Some(source) = chosen.first() else {
            return Ok(Vec::new());
        };
        self.poller
            .preview(source)
            .await
            .map_err(|e| AppError::Page {
                url: source.url.to_string(),
                error: e.message(),
            })
    }

    /// Applies the current `[[rules]]` to the stored articles of `source` (every source if
    /// `None`): what each one changed.
    pub async fn reapply(&self, source: Option<&str>) -> Result<Vec<Reapplied>, AppError> {
        let config = self.live.current();
        let chosen = match source {
            Some(name) => self.select(&[name.to_owned()])?,
            None => config.sources.clone(),
        };
        Ok(crate::reapply::reapply(&self.store, &config, &chosen).await?)
    }

    /// Forgets the full texts of what `source` carried first in the last `since` and reads
    /// its pages again (after its selectors changed): how many were forgotten, and the
    /// reading's outcome.
    pub async fn refetch(&self, source: &str, since: Duration) -> Result<(u64, Read), AppError> {
        let chosen = self.select(&[source.to_owned()])?;
        let name = chosen.first().map_or(source, |s| s.name.as_str());
        let from = chrono::Duration::from_std(since)
            .ok()
            .and_then(|d| Utc::now().checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let forgotten = self.store.forget_pages(name, from).await?;
        Ok((forgotten, self.read_full_texts().await?))
    }

    /// Every configured source's row, in config order (without its article count, which
    /// only `/status` shows).
    pub(crate) async fn source_rows(&self) -> Result<Vec<SourceRow>, AppError> {
        let states = self.store.source_states().await?;
        let push = self.store.push_subscriptions().await?;
        let full = self.store.full_text_states().await?;
        let discarded = self.store.discarded_counts().await?;
        let config = self.live.current();
        Ok(publish::source_rows(
            &config.sources,
            &states,
            &HashMap::new(),
            &discarded,
            &push,
            &full,
        ))
    }

    /// The stories `text` finds (published within `since`, if given), newest first or, if
    /// `relevance`, best match first: the first page of them and whether there are more, or
    /// a feed of them in `format`. Articles stored before the search index existed are
    /// indexed first.
    pub(crate) async fn search(
        &self,
        text: &str,
        since: Option<Duration>,
        relevance: bool,
        format: Option<Format>,
    ) -> Result<Found, AppError> {
        let order = match relevance {
            true => SearchOrder::Relevance,
            false => SearchOrder::Newest,
        };
        let config = self.live.current();
        // A source taken out of the config keeps its stories: its name is searched too.
        let sources = config.source_names();
        let mut query = match Query::parse(text, Names::search(&sources, &[])) {
            Err(QueryError::UnknownSource { .. }) => {
                let stored: Vec<String> = self.store.source_states().await?.into_keys().collect();
                Query::parse(text, Names::search(&sources, &stored))?
            }
            other => other?,
        };
        query.since = since.or(query.since);
        while self.store.index_backlog().await? > 0 {}
        let feeds = Feeds::new(&self.store, &config);
        if let Some(format) = format {
            let (feed, _) = feeds.search_feed(&query, text, order, format, 1).await?;
            return Ok(Found::Feed(feed));
        }
        let (stories, more) = feeds.found(&query, order, 1).await?;
        Ok(Found::Stories { stories, more })
    }

    /// Indexes, a batch at a time, the articles stored before search existed (after an
    /// upgrade), logging when it starts and ends; stops at `shutdown` (between batches, or
    /// dropping the one in flight, whose transaction is then not committed).
    async fn index_backlog(self, mut shutdown: Shutdown) {
        let mut indexed = 0;
        loop {
            let batch = tokio::select! {
                batch = self.store.index_backlog() => batch,
                _ = shutdown.recv() => return,
            };
            match batch {
                Ok(0) => break,
                Ok(n) => {
                    if indexed == 0 {
                        tracing::info!("indexing the stored articles for search");
                    }
                    indexed += n;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot index stored articles for search; trying again in a minute");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                        _ = shutdown.recv() => return,
                    }
                }
            }
        }
        if indexed > 0 {
            tracing::info!(articles = indexed, "stored articles indexed for search");
        }
    }

    /// The stories published in the last `since` that more than one outlet carried, newest
    /// first, and the time `since` ago.
    pub(crate) async fn multi_outlet(
        &self,
        since: Duration,
    ) -> Result<(DateTime<Utc>, Vec<Story>), AppError> {
        let now = Utc::now();
        let from = chrono::Duration::from_std(since)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        Ok((from, self.store.multi_outlet(from).await?))
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
    /// requests in flight, joins every background task and closes the database.
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
        // Every background task, each stopping at `shutdown`, joined before the store closes.
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(subscriber.clone().run(shutdown.clone()));
        tasks.spawn(hub.clone().run(shutdown.clone()));
        let websub = server::WebSub {
            subscriber,
            hub,
            poller: poller.clone(),
            deliveries: Arc::new(tokio::sync::Semaphore::new(server::DELIVERIES_AT_ONCE)),
        };

        let notifier = Notifier::new(store.clone(), fetcher.clone(), live.clone());
        notifier.start().await;
        let engine = Engine::new(poller, self.store.clone(), self.live.clone());
        tasks.spawn(engine.run(shutdown.clone()));
        tasks.spawn(self.clone().cleanups(shutdown.clone()));
        tasks.spawn(self.clone().index_backlog(shutdown.clone()));
        let full_text = FullText::new(
            store.clone(),
            fetcher.clone(),
            live.clone(),
            self.metrics.clone(),
        );
        tasks.spawn(full_text.run(shutdown.clone()));
        tasks.spawn(notifier.run(shutdown.clone()));
        tasks.spawn(reload::watch(
            self.live.clone(),
            self.store.clone(),
            shutdown.clone(),
        ));
        let served = server::serve(
            listener,
            server::router(self.context().with_websub(websub)),
            config.startup.connections_per_client,
            shutdown.clone(),
        )
        .await;
        // The server returns once shutdown fired and its requests are done (or it failed: then
        // nothing is left to wait for); give the polls and the other tasks the same chance,
        // within bounds, and stop those that are still running.
        if served.is_err() {
            tasks.abort_all();
        }
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, join_all(&mut tasks)).await;
        if drained.is_err() {
            tracing::warn!("polls did not stop in time; stopping them");
            tasks.abort_all();
            join_all(&mut tasks).await;
        }
        self.store.close().await;
        tracing::info!("stopped");
        served.map_err(AppError::Serve)
    }
}

/// What a search found: a feed, or a page of stories and whether there are more.
pub(crate) enum Found {
    Feed(String),
    Stories { stories: Vec<Story>, more: bool },
}

/// Waits for every task of `tasks` to end, logging any that panicked.
async fn join_all(tasks: &mut tokio::task::JoinSet<()>) {
    while let Some(ended) = tasks.join_next().await {
        match ended {
            Err(e) if e.is_panic() => tracing::error!(error = %e, "a background task panicked"),
            _ => {}
        }
    }
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
