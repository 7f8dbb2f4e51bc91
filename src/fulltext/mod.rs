//! Full text: a queue of its own after `store`. The article pages of the sources that set
//! `full_text` are fetched (through `fetch`, as feeds are: the address guard, deadline, body
//! cap and redirects rules; robots.txt honoured, `robots.rs`), read for their main text
//! (`extract.rs`), and stored back with their articles, which the feeds then publish whole.
//! Pages are read a few at a time, one at a time per site, on their own tasks: a slow site
//! delays no feed poll. A page that fails is tried again later, twice, then given up; its
//! entry keeps the feed's text.

mod extract;
mod robots;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Mutex, Semaphore};
use url::Url;

use crate::config::ExtractOptions;
use crate::fetch::{FetchError, Fetcher};
use crate::metrics::Metrics;
use crate::reload::Live;
use crate::shutdown::Shutdown;
use crate::store::{PageDue, PageText, Store, StoreError};
use robots::Robots;

pub(crate) use extract::extract_typed;
use extract::MAX_PAGE;
pub use extract::{extract_article, ExtractError, Extracted};

/// Pages taken from the store at a time: the queue's bound.
const BATCH: u32 = 64;
/// How often the daemon looks for pages due when nothing new was stored.
const LOOK_EVERY: Duration = Duration::from_secs(60);
/// How often it checks whether something new was stored.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Pages read for their text at once on the blocking threads (the work is CPU).
const EXTRACTING: usize = 2;

/// What reading the pages due gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Read {
    /// Pages whose text was stored.
    pub stored: usize,
    /// Pages that failed (tried again later, or given up).
    pub failed: usize,
}

/// The full-text queue.
#[derive(Clone)]
pub(crate) struct FullText {
    store: Store,
    fetcher: Fetcher,
    live: Live,
    metrics: Arc<Metrics>,
    robots: Arc<Robots>,
    extracting: Arc<Semaphore>,
}

impl FullText {
    pub(crate) fn new(
        store: Store,
        fetcher: Fetcher,
        live: Live,
        metrics: Arc<Metrics>,
    ) -> FullText {
        FullText {
            robots: Arc::new(Robots::new(fetcher.clone())),
            store,
            fetcher,
            live,
            metrics,
            extracting: Arc::new(Semaphore::new(EXTRACTING)),
        }
    }

    /// The daemon's loop: reads the pages due whenever something new is stored, and every
    /// minute (the retries), until shutdown.
    pub(crate) async fn run(self, mut shutdown: Shutdown) {
        let mut seen = None;
        let mut looked = tokio::time::Instant::now();
        loop {
            let generation = self.store.generation();
            if seen != Some(generation) || looked.elapsed() >= LOOK_EVERY {
                seen = Some(generation);
                looked = tokio::time::Instant::now();
                tokio::select! {
                    read = self.drain() => if let Err(e) = read {
                        tracing::warn!(error = %e, "cannot read the article pages due; trying again in a minute");
                    },
                    _ = shutdown.recv() => return,
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(CHECK_EVERY) => {}
                _ = shutdown.recv() => return,
            }
        }
    }

    /// Reads every page due now, `[full_text].concurrency` at a time and one at a time per
    /// site, until none is left.
    pub(crate) async fn drain(&self) -> Result<Read, StoreError> {
        let mut read = Read::default();
        loop {
            let config = self.live.current();
            let sources: HashMap<&str, (&ExtractOptions, bool)> = config
                .sources
                .iter()
                .filter_map(|s| Some((s.name.as_str(), (s.full_text.as_ref()?, s.allow_private))))
                .collect();
            let names: Vec<String> = sources.keys().map(|s| (*s).to_owned()).collect();
            let due = self.store.pages_due(&names, Utc::now(), BATCH).await?;
            if due.is_empty() {
                return Ok(read);
            }
            let places = Arc::new(Semaphore::new(config.full_text_concurrency));
            let sites: Mutex<HashMap<String, Arc<Mutex<()>>>> = Mutex::default();
            let mut tasks = tokio::task::JoinSet::new();
            for page in due {
                let Some((options, allow_private)) = sources.get(page.source.as_str()) else {
                    continue;
                };
                let site = Url::parse(&page.url)
                    .map_or_else(|_| String::new(), |u| u.origin().ascii_serialization());
                let site = sites.lock().await.entry(site).or_default().clone();
                let (this, options, allow_private, places) = (
                    self.clone(),
                    (*options).clone(),
                    *allow_private,
                    places.clone(),
                );
                tasks.spawn(async move {
                    let _place = places.acquire_owned().await;
                    let _site = site.lock().await;
                    this.read(page, &options, allow_private).await
                });
            }
            while let Some(done) = tasks.join_next().await {
                match done {
                    Ok(Ok(Some(true))) => read.stored += 1,
                    Ok(Ok(Some(false))) | Err(_) => read.failed += 1,
                    // Another process read it.
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => return Err(e),
                }
            }
        }
    }

    /// What the page at `url` gives with `options`, read as the queue reads pages (robots.txt
    /// honoured), without storing anything: `feedmerge extract`.
    pub(crate) async fn preview(
        &self,
        url: &str,
        options: &ExtractOptions,
        allow_private: bool,
    ) -> Result<Extracted, String> {
        let page = PageDue {
            article: 0,
            url: url.to_owned(),
            source: String::new(),
        };
        self.fetch_and_extract(&page, options, allow_private)
            .await
            .map_err(|(error, _)| error)
    }

    /// Reads one page and stores what it gave: whether its text was stored, or `None` if
    /// another process had claimed it.
    async fn read(
        &self,
        page: PageDue,
        options: &ExtractOptions,
        allow_private: bool,
    ) -> Result<Option<bool>, StoreError> {
        let Some(attempt) = self.store.claim_page(&page, Utc::now()).await? else {
            return Ok(None);
        };
        let outcome = self.fetch_and_extract(&page, options, allow_private).await;
        let stored = outcome.is_ok();
        self.metrics.page_read(&page.source, stored);
        match &outcome {
            Ok(article) => {
                // A picture on a non-public address would have readers' browsers reach into
                // their own network: kept only for a source allowed private addresses.
                let image = article
                    .image
                    .as_deref()
                    .filter(|i| allow_private || !crate::parse::on_non_public_address(i));
                let text = PageText {
                    content: &article.content,
                    byline: article.byline.as_deref(),
                    image,
                    language: article.language.as_deref(),
                    published: article.published,
                };
                self.store
                    .page_read(&page, Ok(text), attempt, Utc::now())
                    .await?
            }
            Err((error, last)) => {
                tracing::info!(source = %page.source, page = %page.url, %error, "no full text");
                self.store
                    .page_read(&page, Err((error, *last)), attempt, Utc::now())
                    .await?
            }
        }
        Ok(Some(stored))
    }

    /// The article of `page`, or why not, and whether trying again is pointless.
    async fn fetch_and_extract(
        &self,
        page: &PageDue,
        options: &ExtractOptions,
        allow_private: bool,
    ) -> Result<Extracted, (String, bool)> {
        let url = Url::parse(&page.url).map_err(|e| (format!("not a web address: {e}"), true))?;
        if !self.robots.allow(&url, allow_private).await {
            return Err((
                "the site's robots.txt does not let feedmerge read the page".into(),
                true,
            ));
        }
        let fetched = self
            .fetcher
            .fetch_page(&url, allow_private, MAX_PAGE as u64)
            .await
            .map_err(|e| match e {
                FetchError::TooLarge { limit } => {
                    (format!("the page is larger than {limit} bytes"), true)
                }
                FetchError::Private { .. } | FetchError::RedirectScheme { .. } => {
                    (e.to_string(), true)
                }
                e => (e.to_string(), false),
            })?;
        let html = fetched
            .content_type
            .as_deref()
            .is_none_or(|t| t.contains("html") || t.starts_with("text/plain"));
        if !html {
            let kind = fetched.content_type.unwrap_or_default();
            return Err((format!("the page is not HTML ({kind})"), true));
        }
        let _turn = self.extracting.acquire().await;
        let options = options.clone();
        tokio::task::spawn_blocking(move || {
            extract_typed(
                &fetched.body,
                fetched.content_type.as_deref(),
                fetched.url.as_str(),
                &options,
            )
        })
        .await
        .map_err(|_| ("reading the page failed".to_owned(), true))?
        .map_err(|e| (e.to_string(), true))
    }
}
