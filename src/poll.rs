//! One poll of one source: the pipeline from `fetch` through `parse` and `dedup` to `store`.
//!
//! Owns the order of the stages for a source and what happens when one fails: every
//! failure — network, HTTP status, an unreadable or hostile feed, even a panic in the parser
//! — becomes that source's recorded error and a line in the report, never an error of the
//! caller's, so one bad source cannot stop the others. Owns the global limit on concurrent
//! fetches, too, and cancellation: a shutdown drops a poll that is still waiting or fetching,
//! while one that has reached the store finishes its (short) transaction.

use std::fmt;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::config::Source;
use crate::dedup;
use crate::fetch::{FetchOutcome, Fetcher};
use crate::parse;
use crate::shutdown::Shutdown;
use crate::store::{Attempt, Counts, Store};

/// What polling one source came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// The source's name.
    pub source: String,
    /// The HTTP status, if the server answered.
    pub status: Option<u16>,
    /// The outcome.
    pub outcome: Outcome,
}

/// The outcome of a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server said the feed has not changed.
    NotModified,
    /// The feed was read and its articles stored.
    Stored(Counts),
    /// Something failed; the message is also stored as the source's last error.
    Failed(String),
    /// Shutdown came first; nothing was recorded.
    Cancelled,
}

impl fmt::Display for PollReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status.map_or("-".to_owned(), |s| s.to_string());
        write!(f, "{:<28} {:>3}  ", self.source, status)?;
        match &self.outcome {
            Outcome::NotModified => f.write_str("not modified"),
            Outcome::Stored(c) => write!(
                f,
                "{} new, {} updated, {} unchanged, {} merged",
                c.new, c.updated, c.unchanged, c.merged
            ),
            Outcome::Failed(e) => write!(f, "error: {e}"),
            Outcome::Cancelled => f.write_str("cancelled by shutdown"),
        }
    }
}

/// Polls sources: shared by the scheduler and `feedmerge fetch`.
#[derive(Debug, Clone)]
pub struct Poller {
    fetcher: Fetcher,
    store: Store,
    limit: Arc<Semaphore>,
}

impl Poller {
    /// A poller running at most `concurrency` fetches at once.
    pub fn new(fetcher: Fetcher, store: Store, concurrency: usize) -> Poller {
        Poller {
            fetcher,
            store,
            limit: Arc::new(Semaphore::new(concurrency)),
        }
    }

    /// Polls `source` once, recording the result, unless `shutdown` comes first.
    pub async fn poll(&self, source: &Source, mut shutdown: Shutdown) -> PollReport {
        let report = |status, outcome| PollReport {
            source: source.name.clone(),
            status,
            outcome,
        };
        let name = source.name.as_str();
        let fetched = tokio::select! {
            r = self.fetch_and_parse(source) => r,
            _ = shutdown.recv() => return report(None, Outcome::Cancelled),
        };
        let (status, recorded) = match &fetched {
            Ok(Fetch::NotModified) => (
                Some(304),
                self.store.record(name, Attempt::NotModified).await,
            ),
            Ok(Fetch::Parsed {
                status,
                validators,
                feed,
                articles,
            }) => (
                Some(*status),
                self.store
                    .record(
                        name,
                        Attempt::Fetched {
                            status: *status,
                            validators,
                            title: feed.title.as_deref(),
                            site_url: feed.site_url.as_deref(),
                            articles,
                        },
                    )
                    .await,
            ),
            Err((status, error)) => (
                *status,
                self.store
                    .record(
                        name,
                        Attempt::Failed {
                            status: *status,
                            error,
                        },
                    )
                    .await,
            ),
        };
        let outcome = match (fetched, recorded) {
            (_, Err(e)) => {
                tracing::error!(source = name, error = %e, "could not record the poll");
                Outcome::Failed(format!("could not store the result: {e}"))
            }
            (Ok(Fetch::NotModified), Ok(_)) => Outcome::NotModified,
            (Ok(Fetch::Parsed { .. }), Ok(counts)) => Outcome::Stored(counts),
            (Err((_, error)), Ok(_)) => Outcome::Failed(error),
        };
        match &outcome {
            Outcome::Failed(error) => tracing::warn!(source = name, status, %error, "poll failed"),
            Outcome::Stored(c) => tracing::info!(
                source = name,
                status,
                new = c.new,
                updated = c.updated,
                unchanged = c.unchanged,
                merged = c.merged,
                "polled"
            ),
            _ => tracing::info!(source = name, status, "not modified"),
        }
        report(status, outcome)
    }

    async fn fetch_and_parse(&self, source: &Source) -> Result<Fetch, (Option<u16>, String)> {
        // The semaphore is never closed, so acquiring only waits.
        let _permit = self
            .limit
            .acquire()
            .await
            .map_err(|e| (None, e.to_string()))?;
        let validators = self
            .store
            .validators(&source.name)
            .await
            .map_err(|e| (None, e.to_string()))?;
        let fetched = match self.fetcher.fetch(&source.url, &validators).await {
            Ok(FetchOutcome::NotModified) => return Ok(Fetch::NotModified),
            Ok(FetchOutcome::Fetched(f)) => f,
            Err(e) => return Err((e.status(), e.to_string())),
        };
        let status = fetched.status;
        // Parsing is CPU work (and a hostile feed can make it long): off the async threads.
        let parsed = tokio::task::spawn_blocking(move || {
            let feed =
                parse::parse_feed(&fetched.body, fetched.content_type.as_deref(), &fetched.url)?;
            Ok::<_, parse::ParseError>((feed, fetched.validators))
        })
        .await
        .map_err(|e| (Some(status), format!("the feed parser failed: {e}")))?;
        match parsed {
            Ok((mut feed, validators)) => {
                let articles = dedup::identify(std::mem::take(&mut feed.articles));
                Ok(Fetch::Parsed {
                    status,
                    validators,
                    feed,
                    articles,
                })
            }
            Err(e) => Err((Some(status), e.to_string())),
        }
    }
}

enum Fetch {
    NotModified,
    Parsed {
        status: u16,
        validators: crate::fetch::Validators,
        feed: parse::ParsedFeed,
        articles: Vec<dedup::Keyed>,
    },
}
