//! Stage 7 of the pipeline: which stories each feed shows (the feeds service, [`Feeds`] in
//! `feeds.rs`), and rendering them as a feed, one entry per story.
//!
//! Owns the output formats: Atom 1.0 (RFC 4287, `atom.rs`), RSS 2.0 (`rss.rs`) and JSON
//! Feed 1.1 (`json.rs`), and the HTML pages made of the same stories: the river page and
//! each story's page (`pages.rs`), a search's results (`search.rs`), the status page
//! (`status.rs`, with each source's health row in `health.rs`, which the CLI shows too) and
//! the sources as OPML (`opml.rs`). Every entry credits the outlet whose version it publishes
//! (Atom `atom:source`, RSS `<source>`, JSON Feed `_feedmerge.source`) and links every other
//! outlet that carried the story (Atom `link rel="related"`, a credits line at the end of
//! the RSS description, `_feedmerge.also`); it names its author, or else that outlet, and
//! carries the story's files and picture. Every entry has a working link: the outlet's page,
//! or the story's own page at its entry id. Entry ids come from the store, so they are the
//! same on every render. Characters XML 1.0 forbids are removed from every string before it
//! is written, so the output is always well-formed whatever an outlet sent.

use chrono::{DateTime, FixedOffset, Utc};
use url::Url;

use std::collections::BTreeMap;

use crate::parse::{escape_html, xml_safe, Enclosure, Image};
use crate::store::{Outlet, Story};

mod atom;
mod feeds;
mod health;
mod json;
mod opml;
mod pages;
mod rss;
mod search;
mod status;
pub use feeds::FeedError;
pub(crate) use feeds::{story_matches, story_text, Feed, Feeds, Scope, MAX_PAGE};
pub(crate) use health::{moved_permanently, source_rows, Health, SourceRow};
pub(crate) use opml::opml;
pub(crate) use pages::{river, story_json, story_page, Empty, FeedLink, River};
pub(crate) use search::{encoded, results, Results};
pub(crate) use status::{human, sort_rows, status, AlertRow, Paused, Sort, StatusPage};

/// Query parameters taken out of a published feed address: their names, in lower case, end
/// with one of these (`api_key`, `access_token`, `client_secret`, `sig`) or start with `auth`.
const SECRET_PARAMETERS: [&str; 8] = [
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "sig",
    "signature",
];

/// `url` as it may be published: without user name and password, and without the query
/// parameters that look like credentials ([`SECRET_PARAMETERS`]); the rest of the query stays,
/// so that the address still names the same feed where it can. Anything that does not parse
/// as a web address is not published at all.
pub(crate) fn public_url(url: &str) -> Option<String> {
    let mut url = Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))?;
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(name, _)| {
                let name = name.to_ascii_lowercase();
                !(name.starts_with("auth") || SECRET_PARAMETERS.iter().any(|s| name.ends_with(s)))
            })
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url.into())
}

impl Outlet {
    /// The outlet's feed address as published ([`public_url`]); empty if it has none to show.
    pub(crate) fn public_feed_url(&self) -> String {
        public_url(&self.feed_url).unwrap_or_default()
    }

    /// The outlet's site, if it is a web address.
    pub(crate) fn public_site_url(&self) -> Option<&str> {
        self.site_url
            .as_deref()
            .filter(|u| Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
    }
}

/// The Media RSS namespace, for `media:thumbnail` and `media:content` in Atom and RSS.
const MEDIA_RSS: &str = "http://search.yahoo.com/mrss/";

/// An output format of the merged feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Atom 1.0.
    Atom,
    /// RSS 2.0.
    Rss,
    /// JSON Feed 1.1.
    Json,
}

impl Format {
    /// The `Content-Type` it is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Json => "application/feed+json; charset=utf-8",
        }
    }

    /// The extension of the paths it is served at.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Atom => "atom",
            Format::Rss => "rss",
            Format::Json => "json",
        }
    }

    /// Its name for people.
    pub fn name(self) -> &'static str {
        match self {
            Format::Atom => "Atom",
            Format::Rss => "RSS",
            Format::Json => "JSON Feed",
        }
    }

    /// Every format.
    pub const ALL: [Format; 3] = [Format::Atom, Format::Rss, Format::Json];
}

/// What a feed says about itself, and where it sits among its pages (RFC 5005).
#[derive(Debug, Clone)]
pub struct FeedMeta<'a> {
    /// Its title.
    pub title: &'a str,
    /// The WebSub hubs that push it (`link rel="hub"`; JSON Feed `hubs`).
    pub hubs: &'a [String],
    /// The public address of this server; must end in `/` to be a base.
    pub base_url: &'a Url,
    /// Its path relative to the base URL, without the extension: `feed`,
    /// `categories/world`, `views/ukraine`.
    pub path: &'a str,
    /// Which page this is, from 1 (the newest entries).
    pub page: u32,
    /// Whether a page of older entries follows.
    pub has_next: bool,
    /// For a search's feed: its query string, encoded (`q=brexit&sort=relevance`), which
    /// every link to its pages carries.
    pub query: Option<&'a str>,
}

impl FeedMeta<'_> {
    fn url(&self, path: &str) -> String {
        self.base_url
            .join(path)
            .map(String::from)
            .unwrap_or_else(|_| format!("{}{path}", self.base_url))
    }

    /// The address of page `page` of this feed in `format`.
    pub fn page_url(&self, format: Format, page: u32) -> String {
        let url = self.url(&format!("{}.{}", self.path, format.extension()));
        match (self.query, page) {
            (Some(query), 1) => format!("{url}?{query}"),
            (Some(query), _) => format!("{url}?{query}&page={page}"),
            (None, 1) => url,
            (None, _) => format!("{url}?page={page}"),
        }
    }

    /// The paging links: `first`, then `previous` (newer) and `next` (older) where they exist.
    fn pages(&self, format: Format) -> Vec<(&'static str, String)> {
        let mut links = vec![("first", self.page_url(format, 1))];
        if self.page > 1 {
            links.push(("previous", self.page_url(format, self.page - 1)));
        }
        if self.has_next {
            links.push(("next", self.page_url(format, self.page + 1)));
        }
        links
    }

    /// A story's entry id: the address of its page.
    fn entry_id(&self, article: &Story) -> String {
        self.url(&format!("entries/{}", article.entry_id))
    }

    /// Where an entry links: the outlet's page, else the story's own.
    fn entry_link(&self, article: &Story) -> String {
        article
            .link
            .clone()
            .unwrap_or_else(|| self.entry_id(article))
    }
}

/// Who an entry names as its author: the outlet's bylines, else the outlet, so that no
/// reader shows an empty byline.
fn byline(story: &Story) -> Vec<&str> {
    if story.authors.is_empty() {
        vec![story.source.name.as_str()]
    } else {
        story.authors.iter().map(String::as_str).collect()
    }
}

/// The attributes of a picture's `media:thumbnail`: its URL, and its size where known.
fn thumbnail_attributes(image: &Image) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::from([("url".to_owned(), x(&image.url))]);
    if let (Some(w), Some(h)) = (image.width, image.height) {
        attrs.insert("width".into(), w.to_string());
        attrs.insert("height".into(), h.to_string());
    }
    attrs
}

/// The file a podcast client plays: the first audio or video one, else the first.
fn main_file(story: &Story) -> Option<&Enclosure> {
    let files = &story.media.enclosures;
    files
        .iter()
        .find(|e| file_type(e).starts_with("audio/") || file_type(e).starts_with("video/"))
        .or(files.first())
}

/// A file's media type: as the outlet said, else guessed from its name (RSS and JSON Feed
/// require one), else the type of any bytes.
fn file_type(e: &Enclosure) -> &str {
    if let Some(m) = &e.mime_type {
        return m;
    }
    let path = e.url.split(['?', '#']).next().unwrap_or_default();
    let extension = path.rsplit_once('.').map(|(_, x)| x.to_ascii_lowercase());
    match extension.as_deref() {
        Some("mp3") => "audio/mpeg",
        Some("m4a") => "audio/mp4",
        Some("aac") => "audio/aac",
        Some("ogg" | "oga") => "audio/ogg",
        Some("opus") => "audio/opus",
        Some("mp4" | "m4v") => "video/mp4",
        Some("webm") => "video/webm",
        Some("mov") => "video/quicktime",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// A feed could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot render the {format:?} feed: {reason}")]
pub struct PublishError {
    format: Format,
    reason: String,
}

/// Renders `articles` (newest first) as a feed in `format`.
pub fn render(format: Format, meta: &FeedMeta, articles: &[Story]) -> Result<String, PublishError> {
    let fail = |reason: String| PublishError { format, reason };
    let xml = match format {
        Format::Atom => atom::feed(meta, articles)
            .write_to(Vec::new())
            .map_err(|e| e.to_string()),
        Format::Rss => rss::feed(meta, articles)
            .write_to(Vec::new())
            .map_err(|e| e.to_string()),
        Format::Json => {
            return serde_json::to_string_pretty(&json::feed(meta, articles))
                .map_err(|e| fail(e.to_string()))
        }
    };
    xml.and_then(|bytes| String::from_utf8(bytes).map_err(|e| e.to_string()))
        .map_err(fail)
}

fn x(text: &str) -> String {
    xml_safe(text).into_owned()
}

/// Whole seconds: feed readers and validators choke on sub-second digits.
fn fixed(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(t.timestamp(), 0)
        .unwrap_or_default()
        .fixed_offset()
}

/// The time the feed last changed: its newest entry's update, or for a feed without entries
/// [`empty_since`].
fn feed_updated(articles: &[Story]) -> DateTime<Utc> {
    articles
        .iter()
        .map(|a| a.updated)
        .max()
        .unwrap_or_else(empty_since)
}

/// When a feed without entries is said to have changed: when this process first needed the
/// time (its first empty feed), in whole seconds. Not 1970: readers show that date.
pub(crate) fn empty_since() -> DateTime<Utc> {
    static SINCE: std::sync::LazyLock<DateTime<Utc>> = std::sync::LazyLock::new(|| {
        DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default()
    });
    *SINCE
}

/// An outlet's name as HTML, linked to its entry if it has a link.
fn outlet_html(o: &Outlet) -> String {
    match &o.link {
        Some(link) => format!(
            "<a href=\"{}\">{}</a>",
            escape_html(link),
            escape_html(&o.name)
        ),
        None => escape_html(&o.name),
    }
}

/// "Also carried by …" as HTML, for formats with no structured way to say it.
fn credits_html(article: &Story) -> String {
    let mut html = format!("<p>Source: {}", outlet_html(&article.source));
    if !article.also.is_empty() {
        let others: Vec<String> = article.also.iter().map(outlet_html).collect();
        html.push_str(&format!("; also carried by {}", others.join(", ")));
    }
    html.push_str("</p>");
    html
}
