//! The commands, in library terms: what `run`, `fetch` and `export` do with the stages.
//!
//! Owns the wiring only — opening the store, building the poller, starting the scheduler and
//! the server side by side and stopping both on shutdown. The work is the stages'.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use crate::config::{Config, Source};
use crate::fetch::{FetchError, Fetcher};
use crate::poll::{PollReport, Poller};
use crate::publish::Format;
use crate::schedule::{self, Job};
use crate::server::{self, Context, HttpError};
use crate::shutdown::{self, Shutdown};
use crate::store::{from_millis, Store, StoreError};

/// How long the daemon waits for polls and requests in flight after a shutdown signal before
/// it closes the database anyway (well inside the 10 s that service managers allow).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(7);

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
    /// A feed could not be rendered.
    #[error(transparent)]
    Render(#[from] HttpError),
}

/// An open feedmerge: its config, database and poller.
#[derive(Debug, Clone)]
pub struct App {
    config: Arc<Config>,
    store: Store,
    poller: Poller,
}

impl App {
    /// Opens the database named in `config` (creating it and applying migrations) and
    /// registers the configured sources in it.
    pub async fn open(config: Config) -> Result<App, AppError> {
        let store = Store::open(&config.storage.database).await?;
        store.sync_sources(&config.sources).await?;
        let fetcher = Fetcher::new(
            &config.poll.user_agent,
            config.poll.timeout,
            config.poll.max_body,
        )?;
        let poller = Poller::new(fetcher, store.clone(), config.poll.concurrency);
        Ok(App {
            config: Arc::new(config),
            store,
            poller,
        })
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Polls every enabled source (or those named) once, now, concurrently up to the limit.
    /// Reports come back in config order.
    pub async fn fetch(
        &self,
        names: &[String],
        shutdown: Shutdown,
    ) -> Result<Vec<PollReport>, AppError> {
        let chosen = self.select(names)?;
        let polls = chosen.iter().map(|s| self.poller.poll(s, shutdown.clone()));
        Ok(join_all(polls).await)
    }

    fn select(&self, names: &[String]) -> Result<Vec<&Source>, AppError> {
        let sources = &self.config.sources;
        if names.is_empty() {
            return Ok(sources.iter().filter(|s| s.enabled).collect());
        }
        names
            .iter()
            .map(|name| {
                sources
                    .iter()
                    .find(|s| s.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| AppError::UnknownSource {
                        name: name.clone(),
                        config: self.config.path.display().to_string(),
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
        Ok(server::render(&self.context(), format).await?)
    }

    fn context(&self) -> Context {
        Context {
            config: self.config.clone(),
            store: self.store.clone(),
        }
    }

    /// The daemon: polls every enabled source on its schedule and serves HTTP until
    /// `shutdown` fires; then stops polling (cancelling fetches in flight), finishes the
    /// requests in flight and closes the database.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), AppError> {
        let addr = self.config.server.listen;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| AppError::Listen { addr, source })?;
        tracing::info!(%addr, sources = self.config.sources.len(), "feedmerge is running");

        let states = self.store.source_states().await?;
        let jobs = self.jobs(&states);
        let poller = self.poller.clone();
        let poll_shutdown = shutdown.clone();
        let scheduler = tokio::spawn(schedule::run(
            jobs,
            self.config.poll.timezone,
            shutdown.clone(),
            move |source| {
                let poller = poller.clone();
                let shutdown = poll_shutdown.clone();
                async move {
                    poller.poll(&source, shutdown).await;
                }
            },
        ));
        let served =
            server::serve(listener, server::router(self.context()), shutdown.clone()).await;
        // The server returns once shutdown fired and its requests are done; give the polls
        // the same chance, within bounds.
        if tokio::time::timeout(DRAIN_TIMEOUT, scheduler)
            .await
            .is_err()
        {
            tracing::warn!("polls did not stop in time; closing the database anyway");
        }
        self.store.close().await;
        tracing::info!("stopped");
        served.map_err(AppError::Serve)
    }

    fn jobs(&self, states: &HashMap<String, crate::store::SourceState>) -> Vec<Job> {
        self.config
            .sources
            .iter()
            .filter(|s| s.enabled)
            .map(|s| {
                let last_attempt = states
                    .get(&s.name)
                    .and_then(|st| st.last_attempt_at)
                    .map(from_millis);
                Job::new(
                    Arc::new(s.clone()),
                    self.config.schedule_of(s).clone(),
                    last_attempt,
                    self.config.poll.timezone,
                )
            })
            .collect()
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
