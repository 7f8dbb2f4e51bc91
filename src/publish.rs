//! Stage 7 of the pipeline: rendering stored stories as a feed, one entry per story.
//!
//! Owns the output formats: Atom 1.0 (RFC 4287), RSS 2.0 and JSON Feed 1.1. Every entry
//! credits the outlet whose version it publishes (Atom `atom:source`, RSS `<source>`, JSON
//! Feed author and `_feedmerge.source`) and links every other outlet that carried the story
//! (Atom `link rel="related"`, a credits line at the end of the RSS description,
//! `_feedmerge.also`). Entry
//! ids come from the store, so they are the same on every render. Characters XML 1.0
//! forbids are removed from every string before it is written, so the output is always
//! well-formed whatever an outlet sent.

use std::borrow::Cow;

use atom_syndication as atom;
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::json;
use url::Url;

use crate::parse::{escape_html, html_to_text, xml_forbidden};
use crate::store::{Outlet, Story};

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

    /// The path it is served at, relative to the base URL.
    pub fn path(self) -> &'static str {
        match self {
            Format::Atom => "feed.atom",
            Format::Rss => "feed.rss",
            Format::Json => "feed.json",
        }
    }
}

/// What the merged feed says about itself.
#[derive(Debug, Clone)]
pub struct FeedMeta<'a> {
    /// Its title.
    pub title: &'a str,
    /// The public address of this server; must end in `/` to be a base.
    pub base_url: &'a Url,
}

impl FeedMeta<'_> {
    fn url(&self, path: &str) -> String {
        self.base_url
            .join(path)
            .map(String::from)
            .unwrap_or_else(|_| format!("{}{path}", self.base_url))
    }

    fn entry_id(&self, article: &Story) -> String {
        self.url(&format!("entries/{}", article.entry_id))
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
        Format::Atom => atom_feed(meta, articles)
            .write_to(Vec::new())
            .map_err(|e| e.to_string()),
        Format::Rss => rss_feed(meta, articles)
            .write_to(Vec::new())
            .map_err(|e| e.to_string()),
        Format::Json => {
            return serde_json::to_string_pretty(&json_feed(meta, articles))
                .map_err(|e| fail(e.to_string()))
        }
    };
    xml.and_then(|bytes| String::from_utf8(bytes).map_err(|e| e.to_string()))
        .map_err(fail)
}

/// Removes the characters XML 1.0 does not allow (most C0 controls, U+FFFE, U+FFFF).
pub fn xml_safe(text: &str) -> Cow<'_, str> {
    if text.contains(xml_forbidden) {
        Cow::Owned(text.chars().filter(|&c| !xml_forbidden(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
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

/// The time the feed last changed: its newest entry's update.
fn feed_updated(articles: &[Story]) -> DateTime<Utc> {
    articles
        .iter()
        .map(|a| a.updated)
        .max()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// "Also carried by …" as HTML, for formats with no structured way to say it.
fn credits_html(article: &Story) -> String {
    let names = |o: &Outlet| match &o.link {
        Some(link) => format!(
            "<a href=\"{}\">{}</a>",
            escape_html(link),
            escape_html(&o.name)
        ),
        None => escape_html(&o.name),
    };
    let mut html = format!("<p>Source: {}", names(&article.source));
    if !article.also.is_empty() {
        let others: Vec<String> = article.also.iter().map(names).collect();
        html.push_str(&format!("; also carried by {}", others.join(", ")));
    }
    html.push_str("</p>");
    html
}

fn atom_feed(meta: &FeedMeta, articles: &[Story]) -> atom::Feed {
    let link = |href: String, rel: &str, mime: Option<&str>| atom::Link {
        href,
        rel: rel.to_owned(),
        mime_type: mime.map(str::to_owned),
        ..Default::default()
    };
    let entries = articles
        .iter()
        .map(|a| {
            let mut links = Vec::new();
            if let Some(l) = &a.link {
                links.push(link(x(l), "alternate", Some("text/html")));
            }
            links.extend(
                a.also
                    .iter()
                    .filter_map(|o| o.link.as_deref())
                    .map(|l| link(x(l), "related", Some("text/html"))),
            );
            let mut source_links = vec![link(x(&a.source.feed_url), "self", None)];
            if let Some(site) = &a.source.site_url {
                source_links.push(link(x(site), "alternate", Some("text/html")));
            }
            atom::Entry {
                id: meta.entry_id(a),
                title: atom::Text::plain(x(&a.title)),
                updated: fixed(a.updated),
                published: Some(fixed(a.published)),
                authors: a
                    .authors
                    .iter()
                    .map(|n| atom::Person {
                        name: x(n),
                        ..Default::default()
                    })
                    .collect(),
                categories: a
                    .categories
                    .iter()
                    .map(|c| atom::Category {
                        term: x(c),
                        ..Default::default()
                    })
                    .collect(),
                links,
                summary: a.summary.as_deref().map(|s| atom::Text::html(x(s))),
                content: a.content.as_deref().map(|c| atom::Content {
                    value: Some(x(c)),
                    content_type: Some("html".into()),
                    ..Default::default()
                }),
                source: Some(atom::Source {
                    id: x(&a.source.feed_url),
                    title: atom::Text::plain(x(&a.source.name)),
                    updated: fixed(a.updated),
                    links: source_links,
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect();
    atom::Feed {
        id: meta.url(Format::Atom.path()),
        title: atom::Text::plain(x(meta.title)),
        updated: fixed(feed_updated(articles)),
        authors: vec![atom::Person {
            name: x(meta.title),
            uri: Some(meta.base_url.to_string()),
            ..Default::default()
        }],
        links: vec![
            link(
                meta.url(Format::Atom.path()),
                "self",
                Some("application/atom+xml"),
            ),
            link(meta.base_url.to_string(), "alternate", Some("text/html")),
        ],
        generator: Some(atom::Generator {
            value: "feedmerge".into(),
            uri: Some(env!("CARGO_PKG_REPOSITORY").into()),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
        entries,
        ..Default::default()
    }
}

fn rss_feed(meta: &FeedMeta, articles: &[Story]) -> rss::Channel {
    let items = articles
        .iter()
        .map(|a| {
            let body = a.content.as_deref().or(a.summary.as_deref()).unwrap_or("");
            rss::Item {
                title: Some(x(&a.title)),
                link: a.link.as_deref().map(x),
                description: Some(x(&format!("{body}{}", credits_html(a)))),
                guid: Some(rss::Guid {
                    value: meta.entry_id(a),
                    permalink: false,
                }),
                pub_date: Some(fixed(a.published).to_rfc2822()),
                categories: a
                    .categories
                    .iter()
                    .map(|c| rss::Category {
                        name: x(c),
                        domain: None,
                    })
                    .collect(),
                source: Some(rss::Source {
                    url: x(&a.source.feed_url),
                    title: Some(x(&a.source.name)),
                }),
                ..Default::default()
            }
        })
        .collect();
    let self_link = rss::extension::atom::Link {
        href: meta.url(Format::Rss.path()),
        rel: "self".into(),
        mime_type: Some("application/rss+xml".into()),
        ..Default::default()
    };
    rss::Channel {
        title: x(meta.title),
        link: meta.base_url.to_string(),
        description: x(meta.title),
        last_build_date: Some(fixed(feed_updated(articles)).to_rfc2822()),
        generator: Some(format!("feedmerge {}", env!("CARGO_PKG_VERSION"))),
        docs: Some("https://www.rssboard.org/rss-specification".into()),
        atom_ext: Some(rss::extension::atom::AtomExtension {
            links: vec![self_link],
        }),
        items,
        ..Default::default()
    }
}

fn json_feed(meta: &FeedMeta, articles: &[Story]) -> serde_json::Value {
    let outlet = |o: &Outlet| {
        json!({
            "name": o.name,
            "feed_url": o.feed_url,
            "home_page_url": o.site_url,
            "url": o.link,
        })
    };
    let items: Vec<serde_json::Value> = articles
        .iter()
        .map(|a| {
            let mut item = json!({
                "id": meta.entry_id(a),
                "title": a.title,
                "content_html": a.content.as_deref().or(a.summary.as_deref()).unwrap_or(""),
                "date_published": a.published.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "date_modified": a.updated.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "authors": [{ "name": a.source.name, "url": a.source.site_url.as_deref().unwrap_or(&a.source.feed_url) }],
                "_feedmerge": {
                    "source": outlet(&a.source),
                    "also": a.also.iter().map(outlet).collect::<Vec<_>>(),
                    "authors": a.authors,
                },
            });
            if let Some(link) = &a.link {
                item["url"] = json!(link);
            }
            if let Some(summary) = &a.summary {
                item["summary"] = json!(html_to_text(summary));
            }
            if !a.categories.is_empty() {
                item["tags"] = json!(a.categories);
            }
            item
        })
        .collect();
    json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": meta.title,
        "home_page_url": meta.base_url.as_str(),
        "feed_url": meta.url(Format::Json.path()),
        "items": items,
    })
}
