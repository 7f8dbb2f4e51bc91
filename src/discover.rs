//! `feedmerge add URL`: finding the feed behind a web address, and adding it to the config.
//!
//! The address is fetched as every poll fetches (the address guard, the body cap, the
//! deadline). A feed is taken as it is. A web page's advertised feeds (`<link
//! rel="alternate">`) are the candidates, else the usual places (`/feed`, `/rss.xml`, …) are
//! tried: a handful of requests at most. The main feed is the first candidate that reads as a
//! feed, comment feeds last. The config is then edited as `import` edits it.

use std::path::Path;

use url::Url;

use crate::config::{Config, ConfigError, Limits};
use crate::fetch::{FetchError, Fetcher};
use crate::import::{add_to_config, ImportError, Outline};
use crate::parse::{parse_feed_upto, ParseError};

/// Where a site's feed usually is when its pages do not say: tried in this order, against
/// the site's root.
const USUAL_PLACES: [&str; 6] = [
    "/feed",
    "/rss.xml",
    "/atom.xml",
    "/index.xml",
    "/feed.xml",
    "/rss",
];

/// Advertised feeds fetched at most to find one that reads.
const TRIES: usize = 3;

/// What `feedmerge add` is asked to add.
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// The source's name; by default the feed's title (or the site's host).
    pub name: Option<String>,
    /// Its categories.
    pub categories: Vec<String>,
    /// The address may be on this machine or the local network (and so may the feed).
    pub allow_private: bool,
}

/// What `feedmerge add` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The source's name in the config: new, or the one that already had this feed.
    pub name: String,
    /// The feed polled.
    pub feed: String,
    /// Where it was found: `None` if the address given is the feed; else the page.
    pub found_on: Option<String>,
    /// Whether the page advertised it (else it was at one of the usual places).
    pub advertised: bool,
    /// The page's other feeds, not added.
    pub others: Vec<String>,
    /// Whether a source already polled it, so that nothing was written.
    pub already: bool,
}

/// Why nothing was added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The address is not a web address.
    #[error("{0:?} is not a web address (http:// or https://)")]
    NotWeb(String),
    /// The config file cannot be read or is not valid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address (or a feed it names) is not on the public internet.
    #[error("cannot fetch {url}: {host} is a {kind} address, not a public one; pass --allow-private if it is meant")]
    Private {
        /// The address.
        url: String,
        /// Its host.
        host: String,
        /// What kind of address that is.
        kind: &'static str,
    },
    /// The address could not be fetched.
    #[error("cannot fetch {url}: {source}")]
    Fetch {
        /// The address.
        url: String,
        /// Why.
        source: FetchError,
    },
    /// Neither the address nor anything it points to is a feed.
    #[error("no feed found for {url}: {why}")]
    NoFeed {
        /// The address.
        url: String,
        /// What was tried, and what each gave.
        why: String,
    },
    /// The config could not be edited.
    #[error(transparent)]
    Import(#[from] ImportError),
}

/// A feed found: its address and title.
struct Found {
    url: Url,
    title: Option<String>,
}

/// Finds the feed behind `url` and adds it to the config file at `config` as a
/// `[[sources]]` table, unless a source polls it already.
pub async fn add(config: &Path, url: &str, options: AddOptions) -> Result<Added, AddError> {
    let page = Url::parse(url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| AddError::NotWeb(url.to_owned()))?;
    let limits = match std::fs::metadata(config) {
        Ok(_) => Config::load(config)?.startup.limits,
        // A config still to be written: the defaults.
        Err(_) => Limits::defaults(),
    };
    let fetcher = Fetcher::new(&limits).map_err(|source| AddError::Fetch {
        url: page.to_string(),
        source,
    })?;
    let max_items = limits.max_items;
    let read = |url: Url| read(&fetcher, url, options.allow_private, max_items);
    let (found, found_on, advertised, others) = match read(page.clone()).await? {
        Read::Feed(found) => (found, None, false, Vec::new()),
        Read::Page(feeds) if !feeds.is_empty() => {
            let (found, others) = pick(&read, &page, feeds).await?;
            (found, Some(page.to_string()), true, others)
        }
        Read::Page(_) => {
            let found = probe(&read, &page).await?;
            (found, Some(page.to_string()), false, Vec::new())
        }
    };
    let name = options
        .name
        .or(found.title)
        .map(|n| n.chars().filter(|c| !c.is_control()).collect::<String>())
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .or_else(|| page.host_str().map(str::to_owned))
        .unwrap_or_else(|| page.to_string());
    let outline = Outline {
        name,
        url: found.url.to_string(),
        categories: options.categories,
    };
    let imported = add_to_config(config, vec![outline])?;
    let (name, already) = match (imported.added.first(), imported.skipped.first()) {
        (Some(name), _) => (name.clone(), false),
        (None, Some((_, existing))) => (existing.clone(), true),
        (None, None) => (String::new(), true),
    };
    Ok(Added {
        name,
        feed: found.url.to_string(),
        found_on,
        advertised,
        others,
        already,
    })
}

/// What an address gave.
enum Read {
    /// A feed.
    Feed(Found),
    /// A web page, advertising these feeds.
    Page(Vec<String>),
}

/// `url`, fetched and read as a feed, or as the page it is.
async fn read(
    fetcher: &Fetcher,
    url: Url,
    allow_private: bool,
    max_items: usize,
) -> Result<Read, AddError> {
    let fetch_error = |source| match source {
        FetchError::Private { host, kind, .. } => AddError::Private {
            url: url.to_string(),
            host,
            kind,
        },
        source => AddError::Fetch {
            url: url.to_string(),
            source,
        },
    };
    let fetched = fetcher
        .fetch_page(&url, allow_private, u64::MAX)
        .await
        .map_err(fetch_error)?;
    let (body, content_type, at) = (fetched.body, fetched.content_type, fetched.url);
    let parsed = tokio::task::spawn_blocking(move || {
        let parsed = parse_feed_upto(&body, content_type.as_deref(), &at, max_items);
        (parsed, at)
    })
    .await;
    let Ok((parsed, at)) = parsed else {
        return Err(AddError::NoFeed {
            url: url.to_string(),
            why: "reading it failed".into(),
        });
    };
    match parsed {
        Ok(feed) => Ok(Read::Feed(Found {
            url: at,
            title: feed.title,
        })),
        Err(ParseError::Html { feeds }) => Ok(Read::Page(feeds)),
        Err(e) => Err(AddError::NoFeed {
            url: url.to_string(),
            why: e.to_string(),
        }),
    }
}

/// The first of a page's advertised `feeds` that reads as a feed (comment feeds last, a few
/// tried at most), and the others.
async fn pick<F, Fut>(
    read: &F,
    page: &Url,
    feeds: Vec<String>,
) -> Result<(Found, Vec<String>), AddError>
where
    F: Fn(Url) -> Fut,
    Fut: std::future::Future<Output = Result<Read, AddError>>,
{
    let mut ordered = feeds.clone();
    ordered.sort_by_key(|f| f.to_ascii_lowercase().contains("comment"));
    let mut why = Vec::new();
    for candidate in ordered.iter().take(TRIES) {
        let Ok(url) = Url::parse(candidate) else {
            continue;
        };
        match read(url).await {
            Ok(Read::Feed(found)) => {
                let others = feeds.into_iter().filter(|f| f != candidate).collect();
                return Ok((found, others));
            }
            Ok(Read::Page(_)) => why.push(format!("{candidate}: a web page, not a feed")),
            Err(e) => why.push(e.to_string()),
        }
    }
    Err(AddError::NoFeed {
        url: page.to_string(),
        why: format!("the feeds it advertises do not read: {}", why.join("; ")),
    })
}

/// The first of the [`USUAL_PLACES`] on `page`'s site that is a feed.
async fn probe<F, Fut>(read: &F, page: &Url) -> Result<Found, AddError>
where
    F: Fn(Url) -> Fut,
    Fut: std::future::Future<Output = Result<Read, AddError>>,
{
    for place in USUAL_PLACES {
        let Ok(url) = page.join(place) else { continue };
        if let Ok(Read::Feed(found)) = read(url).await {
            return Ok(found);
        }
    }
    Err(AddError::NoFeed {
        url: page.to_string(),
        why: format!(
            "it is a web page that advertises no feed, and none is at {}",
            USUAL_PLACES.join(", ")
        ),
    })
}
