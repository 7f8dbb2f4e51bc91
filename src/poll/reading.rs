//! Reading a fetched (or pushed) feed off the async threads: parse, sanitise, identify. CPU
//! work that a hostile feed can make long, so it runs on blocking threads, one feed per core
//! at a time (each holds a body and its parse trees, so no more are in memory than the cores
//! work on), under the fetch's time limit once a core is free. One that takes longer is
//! abandoned: its thread finishes (every pass over a body is linear, so it does), holding its
//! core until then, and its result is dropped.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::PollError;
use crate::dedup::{self, Keyed};
use crate::fetch::{Fetched, Links, Validators};
use crate::parse::{self, Listing, ParsedFeed};
use crate::rules::{Discarded, Ruleset};

/// Reads feeds, a few at a time.
#[derive(Debug, Clone)]
pub(super) struct Reader {
    /// Feeds read at once: one per core.
    cores: Arc<Semaphore>,
    /// How long a feed may take to read: the fetch timeout.
    limit: Duration,
    /// Entries read from one feed.
    max_items: usize,
}

/// A feed read: the feed (its articles taken out), its articles identified, and what its
/// response said beside the body.
pub(super) struct Read {
    pub(super) feed: ParsedFeed,
    pub(super) articles: Vec<Keyed>,
    /// The entries the source's rules discarded.
    pub(super) discarded: Vec<Discarded>,
    pub(super) validators: Validators,
    pub(super) links: Links,
}

impl Reader {
    /// A reader of at most `max_items` entries a feed, `limit` a feed.
    pub(super) fn new(limit: Duration, max_items: usize) -> Reader {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Reader {
            cores: Arc::new(Semaphore::new(cores)),
            limit,
            max_items,
        }
    }

    /// Entries read from one feed.
    pub(super) fn max_items(&self) -> usize {
        self.max_items
    }

    /// Parses (as a feed, or by the source's `listing` for a site without one), sanitises,
    /// shapes by the source's `rules` and fingerprints `fetched`; the writer then receives
    /// only rows. Pictures and files on non-public addresses are dropped unless
    /// `allow_private` (the source's), as the fetcher refuses such addresses.
    pub(super) async fn read(
        &self,
        fetched: Fetched,
        allow_private: bool,
        listing: Option<&Listing>,
        rules: Ruleset,
    ) -> Result<Read, PollError> {
        let listing = listing.cloned();
        let max_items = self.max_items;
        // The semaphore is never closed: acquiring only waits.
        let core = self.cores.clone().acquire_owned().await.ok();
        let read = tokio::task::spawn_blocking(move || {
            let _core = core;
            crate::priority::parsing();
            let Fetched {
                body,
                content_type,
                url,
                validators,
                links,
                ..
            } = fetched;
            let content_type = content_type.as_deref();
            let mut feed = match &listing {
                Some(l) => parse::parse_listing(&body, content_type, &url, l, max_items)?,
                None => parse::parse_feed_upto(&body, content_type, &url, max_items)?,
            };
            drop(body);
            let mut articles = std::mem::take(&mut feed.articles);
            if !allow_private {
                for a in &mut articles {
                    a.media.drop_non_public();
                }
            }
            let shaped = rules.apply(articles);
            let site = feed.site_url.as_deref();
            let articles = dedup::identify(shaped.kept, site);
            let (discarded, numbers): (Vec<_>, Vec<usize>) = shaped.discarded.into_iter().unzip();
            let discarded = dedup::keys(&discarded, site)
                .into_iter()
                .zip(numbers)
                .map(|(key, rule)| Discarded { key, rule })
                .collect();
            Ok::<_, PollError>(Read {
                feed,
                articles,
                discarded,
                validators,
                links,
            })
        });
        match tokio::time::timeout(self.limit, read).await {
            Err(_) => Err(PollError::TooSlowToRead(self.limit)),
            Ok(joined) => joined?,
        }
    }
}
