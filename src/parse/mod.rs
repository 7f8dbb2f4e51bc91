//! Stage 4 of the pipeline: bytes of a feed in, our own [`Article`]s out.
//!
//! Owns everything about feed formats. feed-rs reads RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and JSON
//! Feed, but it trusts the XML declaration alone for the character set (panicking on some
//! real ones), rejects `<rss>` versions it does not know, and mints a random id for entries
//! with neither guid nor link. So we decode the bytes ourselves first (BOM, then XML
//! declaration, then HTTP charset, then UTF-8, replacing undecodable bytes), hand feed-rs
//! clean UTF-8, contain any panic as an error, and leave identity to `dedup`. Dates are read
//! in every form feeds write them (`date.rs`); what feed-rs does not read at all (Dublin Core
//! terms' dates, `itunes:author`, `xhtml:body`, permalink guids, `xml:base` on links) is
//! read in a second pass over the text when an entry lacks it (`extra.rs`); a feed refused
//! for a harmless break of its format is read again, repaired (`repair.rs`).
//!
//! Every article leaves this stage normalised (`article.rs`): plain-text title, HTML summary and content
//! sanitised (no scripts, handlers or `javascript:` links) with relative URLs made absolute
//! against the entry's `xml:base`, else the article's own page, else the feed's address; and
//! its files and picture (`media.rs`), read from the same text.
mod article;
mod bound;
mod cap;
mod date;
mod decode;
mod elements;
mod extra;
mod listing;
mod media;
mod page;
mod repair;
mod text;
mod vocab;

use article::{article, plain_text};
pub(crate) use bound::nests_too_deep;
pub use cap::DEFAULT_MAX_ITEMS;
pub(crate) use date::parse_date;
pub(crate) use decode::{decode, decode_html, xml_safe};
use extra::Extra;
pub(crate) use listing::parse_listing;
pub use listing::{Listing, Pick};
pub(crate) use media::on_non_public_address;
use media::Candidates;
pub use media::{Enclosure, Image, Media};
use page::{advertised_feeds, embedded_atom, looks_like_html};
use repair::{repaired_json_feed, repaired_xml, rss_090_as_rss_10};
use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
pub use text::SearchTerms;
pub(crate) use text::{escape_html, indexed, sanitised_text, terms, text_of_html, unspaced};

use chrono::{DateTime, Utc};

use feed_rs::model::{Feed, FeedType};
use url::Url;

/// One entry of a feed, normalised. `dedup` decides its identity, `store` its dates if the
/// feed gave none.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// The feed's own id for the entry (RSS guid, Atom id, JSON Feed id), if it has one.
    pub guid: Option<String>,
    /// The entry's web page, absolute.
    pub link: Option<String>,
    /// Plain text; never empty (an entry without a title gets one from its text or link).
    pub title: String,
    /// Sanitised HTML.
    pub summary: Option<String>,
    /// Sanitised HTML.
    pub content: Option<String>,
    /// The plain text of the content, else of the summary (empty if neither): derived once,
    /// here, for what matches or quotes the text (views, excerpts), never per request.
    pub text: String,
    /// Author names.
    pub authors: Vec<String>,
    /// Category terms.
    pub categories: Vec<String>,
    /// When the outlet says it was published.
    pub published: Option<DateTime<Utc>>,
    /// When the outlet says it last changed.
    pub updated: Option<DateTime<Utc>>,
    /// Its attached files and its picture.
    pub media: Media,
}

/// A parsed feed: what it says about itself, and its articles in feed order.
#[derive(Debug, Clone)]
pub struct ParsedFeed {
    /// The feed's title.
    pub title: Option<String>,
    /// The outlet's web site, as the feed gives it.
    pub site_url: Option<String>,
    /// The entries.
    pub articles: Vec<Article>,
    /// How often the feed says it is worth polling, at most (RSS `<ttl>`,
    /// `sy:updatePeriod`/`sy:updateFrequency`; the larger if both).
    pub min_interval: Option<std::time::Duration>,
    /// Entries past the first ones read (`[poll].max_items`), which were not read.
    pub items_cut: usize,
    /// Why the feed could not be read as written, when it was read after a repair (elements
    /// closed where their parents close, bare `&`s escaped, Atom text types named as Atom
    /// 1.0 names them, a JSON Feed's tags made a list).
    pub repaired: Option<String>,
    /// The WebSub hubs the feed names (Atom and RSS `link rel="hub"`, JSON Feed `hubs`).
    pub hubs: Vec<Url>,
    /// The feed's own URL as it names itself (`link rel="self"`, JSON Feed `feed_url`): the
    /// topic its hubs know it by.
    pub topic: Option<Url>,
}

/// Why a body is not a feed we can read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is empty.
    #[error("the server sent an empty body instead of a feed")]
    Empty,
    /// It looks like a web page; it may advertise feeds of its own.
    #[error("this is an HTML page, not a feed{}", advertised(.feeds))]
    Html {
        /// The absolute URLs of the feeds the page links with `<link rel="alternate">`.
        feeds: Vec<String>,
    },
    /// Its DTD declares entities (as "billion laughs" bombs do), which no real feed needs.
    #[error(
        "the feed declares XML entities in its DOCTYPE; entity declarations are not supported"
    )]
    Entities,
    /// feed-rs rejected it.
    #[error("not a readable RSS, Atom or JSON feed: {0}")]
    Invalid(String),
    /// A source's `html` or `json` found no item on its page.
    #[error("{0}")]
    NothingFound(String),
    /// feed-rs panicked on it (a bug there, contained here).
    #[error("the feed parser crashed on this feed ({0}); the feed is probably malformed")]
    Crashed(String),
}

/// Parses a feed body fetched from `url`, whose server sent `content_type`, reading its first
/// [`DEFAULT_MAX_ITEMS`] entries.
pub fn parse_feed(
    body: &[u8],
    content_type: Option<&str>,
    url: &Url,
) -> Result<ParsedFeed, ParseError> {
    parse_feed_upto(body, content_type, url, DEFAULT_MAX_ITEMS)
}

/// [`parse_feed`], reading the first `max_items` entries (`[poll].max_items`).
pub fn parse_feed_upto(
    body: &[u8],
    content_type: Option<&str>,
    url: &Url,
    max_items: usize,
) -> Result<ParsedFeed, ParseError> {
    let text = decode(body, content_type);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    let trimmed = match looks_like_html(trimmed) {
        false => trimmed,
        true => embedded_atom(trimmed).ok_or_else(|| ParseError::Html {
            feeds: advertised_feeds(trimmed, url),
        })?,
    };
    if declares_entities(trimmed) {
        return Err(ParseError::Entities);
    }
    let (capped, items_cut) = if trimmed.starts_with('{') {
        cap::capped_json(trimmed, max_items)
    } else {
        cap::capped_xml(trimmed, max_items)
    }
    .map_or((Cow::Borrowed(trimmed), 0), |(text, cut)| {
        (Cow::Owned(text), cut)
    });
    let trimmed: &str = &capped;
    let min_interval = syndication_interval(trimmed);
    let parse = |text: &str| {
        let parser = feed_rs::parser::Builder::new()
            .base_uri(Some(url.as_str()))
            // An empty id marks "the feed gave none"; `dedup` gives such entries a stable key.
            .id_generator(|_, _, _| String::new())
            .timestamp_parser(date::parse_date)
            .build();
        catch_unwind(AssertUnwindSafe(|| parser.parse(text.as_bytes())))
            .map_err(|panic| ParseError::Crashed(panic_message(&panic)))?
            .map_err(|e| ParseError::Invalid(e.to_string()))
    };
    let readable = rss_090_as_rss_10(trimmed);
    let (feed, read, repaired) = match parse(&readable) {
        // Read as written first; a feed that breaks the spec in a known harmless way is read
        // again, repaired, and what was wrong with it is said.
        Err(e) => match repaired_json_feed(trimmed).or_else(|| repaired_xml(&readable)) {
            Some(text) => match parse(&text) {
                Ok(feed) => {
                    let why = match e {
                        ParseError::Invalid(why) => why,
                        other => other.to_string(),
                    };
                    (feed, Cow::Owned(text), Some(why))
                }
                Err(_) => return Err(e),
            },
            None => return Err(e),
        },
        Ok(feed) => (feed, readable, None),
    };
    // Media are read from the text feed-rs read, and matched to its entries by position:
    // if the two readings disagree on how many entries there are, no entry gets media
    // rather than another entry's.
    let mut media = if read.starts_with('{') {
        media::json_media(&read)
    } else {
        media::xml_media(&read)
    }
    .filter(|m| m.len() == feed.entries.len())
    .unwrap_or_default()
    .into_iter();
    let (feed_extra, extras) = extras(&read, &feed, url);
    let mut extras = extras.into_iter();
    let mut parsed = normalise(feed, url, &mut media, &mut extras, &feed_extra);
    if read.starts_with('{') {
        json_hubs(&read, url, &mut parsed);
    }
    parsed.min_interval = parsed.min_interval.max(min_interval);
    parsed.items_cut = items_cut;
    parsed.repaired = repaired;
    Ok(parsed)
}

/// What the entries of `feed` (read from `text`) lack that other elements of theirs give:
/// read only when the feed has such elements and an entry lacks a date, a byline, a body or a
/// link, or the feed sets `xml:base`; matched to the entries by position (none if the two
/// readings disagree on how many there are).
fn extras(text: &str, feed: &Feed, url: &Url) -> (extra::FeedExtra, Vec<extra::Extra>) {
    let worth = !text.starts_with('{') && extra::needed(text, &feed.entries);
    worth
        .then(|| extra::xml_extras(text, url))
        .flatten()
        .filter(|(_, entries)| entries.len() == feed.entries.len())
        .unwrap_or_default()
}

fn advertised(feeds: &[String]) -> String {
    if feeds.is_empty() {
        String::new()
    } else {
        format!("; the page links to these feeds: {}", feeds.join(", "))
    }
}

/// Whether a `<!DOCTYPE` of `text` declares entities in its internal subset.
fn declares_entities(text: &str) -> bool {
    text.find("<!DOCTYPE").is_some_and(|at| {
        let doctype = &text[at..];
        let end = doctype.find("]>").unwrap_or(doctype.len());
        doctype[..end].contains("<!ENTITY")
    })
}

/// The RSS syndication module's `sy:updatePeriod` / `sy:updateFrequency` as an interval.
fn syndication_interval(text: &str) -> Option<std::time::Duration> {
    let element = |name: &str| {
        let open = format!("<sy:{name}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find('<')?;
        Some(text[start..start + len].trim().to_ascii_lowercase())
    };
    let period: u64 = match element("updatePeriod")?.as_str() {
        "hourly" => 3600,
        "daily" => 86_400,
        "weekly" => 7 * 86_400,
        "monthly" => 30 * 86_400,
        "yearly" => 365 * 86_400,
        _ => return None,
    };
    let frequency: u64 = element("updateFrequency")
        .and_then(|f| f.parse().ok())
        .filter(|f| *f > 0)
        .unwrap_or(1);
    Some(std::time::Duration::from_secs(period / frequency))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn normalise(
    feed: Feed,
    url: &Url,
    media: &mut impl Iterator<Item = Candidates>,
    extras: &mut impl Iterator<Item = Extra>,
    feed_extra: &extra::FeedExtra,
) -> ParsedFeed {
    let site_url = feed
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .and_then(|l| url.join(&l.href).ok())
        .filter(is_web)
        .map(String::from);
    let linked = |rel: &'static str| {
        feed.links
            .iter()
            .filter(move |l| l.rel.as_deref() == Some(rel))
            .filter_map(|l| url.join(&l.href).ok())
            .filter(is_web)
    };
    let mut hubs: Vec<Url> = linked("hub").collect();
    hubs.dedup();
    let topic = linked("self").next();
    let title = feed
        .title
        .as_ref()
        .map(plain_text)
        .filter(|t| !t.is_empty());
    // One sanitiser for the feed's entries: building ammonia's default one (its sets of
    // allowed tags and attributes) took as long as sanitising a short summary.
    let mut sanitiser = sanitiser();
    // RSS 1.0's and 0.9x's descriptions are HTML, as RSS 2.0's are, to readers and to
    // feedparser; feed-rs reads them as plain text.
    let rss_before_2 = matches!(feed.feed_type, FeedType::RSS0 | FeedType::RSS1);
    // The byline of entries that name none: a podcast's host (`itunes:author`), or an Atom
    // feed's authors, which its entries inherit (RFC 4287, 4.2.1).
    let byline = match (&feed_extra.author, feed.feed_type) {
        (Some(host), _) => vec![extra::person(host.clone())],
        (None, FeedType::Atom) => feed.authors.clone(),
        _ => Vec::new(),
    };
    let articles = feed
        .entries
        .into_iter()
        .map(|mut e| {
            if rss_before_2 {
                e.summary = e.summary.map(|s| extra::html_text(s.content));
            }
            let extra = extras.next().unwrap_or_default();
            let link = extra::link(&e, &extra, url);
            extra::fill(&mut e, extra, &byline);
            article(
                e,
                link,
                url,
                media.next().unwrap_or_default(),
                &mut sanitiser,
            )
        })
        .collect();
    ParsedFeed {
        title,
        site_url,
        articles,
        items_cut: 0,
        repaired: None,
        hubs,
        topic,
        min_interval: feed
            .ttl
            .map(|minutes| std::time::Duration::from_secs(u64::from(minutes) * 60)),
    }
}

/// A JSON Feed's `hubs` (of type WebSub) and `feed_url`, which feed-rs does not read.
fn json_hubs(text: &str, url: &Url, parsed: &mut ParsedFeed) {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let web = |v: &serde_json::Value| v.as_str().and_then(|u| url.join(u).ok()).filter(is_web);
    for hub in doc
        .get("hubs")
        .and_then(|h| h.as_array())
        .into_iter()
        .flatten()
    {
        let websub = hub
            .get("type")
            .and_then(|t| t.as_str())
            .is_none_or(|t| t.eq_ignore_ascii_case("websub"));
        if let Some(u) = hub.get("url").and_then(web).filter(|_| websub) {
            if !parsed.hubs.contains(&u) {
                parsed.hubs.push(u);
            }
        }
    }
    if parsed.topic.is_none() {
        parsed.topic = doc.get("feed_url").and_then(web);
    }
}

/// Whether `url` is one we publish: `http` or `https`, and at most [`MAX_URL`] bytes.
fn is_web(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https") && url.as_str().len() <= MAX_URL
}

/// Bytes of an address published (a page, a file, a picture): longer ones are no real
/// address, and a reader's database may refuse them.
const MAX_URL: usize = 2_048;

/// The sanitiser of an outlet's HTML: ammonia's default rules, web addresses only, and no
/// picture or link to a non-public address (a router's reboot page, the cloud's metadata
/// service), which would have each reader's browser reach into its own network. Elements
/// keep their `class` (as feedparser's sanitiser keeps it): what a rule's `remove` selectors
/// (`div.share-bar`) and the tracker filter (`div.feedflare`) find them by.
fn sanitiser() -> ammonia::Builder<'static> {
    let mut sanitiser = ammonia::Builder::default();
    sanitiser.add_generic_attributes(["class"]);
    sanitiser.url_schemes(["http", "https"].into());
    sanitiser.attribute_filter(|_, attribute, value| match attribute {
        "src" | "href" if media::on_non_public_address(value) => None,
        _ => Some(value.into()),
    });
    sanitiser
}

/// `html` (an article page's text) sanitised exactly as an entry's HTML is, its relative
/// addresses resolved against `base`.
pub(crate) fn clean_html(html: &str, base: &Url) -> String {
    let mut sanitiser = sanitiser();
    sanitiser.url_relative(ammonia::UrlRelative::RewriteWithBase(base.clone()));
    let clean = sanitiser.clean(&bound::bound(html)).to_string();
    xml_safe(clean.trim()).into_owned()
}
