//! Stage 7 of the pipeline: which stories each feed shows (the feeds service, [`Feeds`] in
//! `feeds.rs`), and rendering them as a feed, one entry per story.
//!
//! Owns the output formats: Atom 1.0 (RFC 4287), RSS 2.0 and JSON Feed 1.1. Every entry
//! credits the outlet whose version it publishes (Atom `atom:source`, RSS `<source>`, JSON
//! Feed author and `_feedmerge.source`) and links every other outlet that carried the story
//! (Atom `link rel="related"`, a credits line at the end of the RSS description,
//! `_feedmerge.also`). Entry
//! ids come from the store, so they are the same on every render. Characters XML 1.0
//! forbids are removed from every string before it is written, so the output is always
//! well-formed whatever an outlet sent.

use atom_syndication as atom;
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::json;
use url::Url;

use crate::parse::{escape_html, html_to_text, xml_safe};
use crate::store::{Outlet, Story};

mod feeds;
mod status;
pub use feeds::FeedError;
pub(crate) use feeds::{Feed, Feeds};
pub(crate) use status::{human, sort_rows, status, Sort, SourceRow, StatusPage};

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
    /// The public address of this server; must end in `/` to be a base.
    pub base_url: &'a Url,
    /// Its path relative to the base URL, without the extension: `feed`,
    /// `categories/world`, `views/ukraine`.
    pub path: &'a str,
    /// Which page this is, from 1 (the newest entries).
    pub page: u32,
    /// Whether a page of older entries follows.
    pub has_next: bool,
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
        if page > 1 {
            format!("{url}?page={page}")
        } else {
            url
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
    let mut links = vec![
        link(
            meta.page_url(Format::Atom, meta.page),
            "self",
            Some("application/atom+xml"),
        ),
        link(meta.base_url.to_string(), "alternate", Some("text/html")),
    ];
    for (rel, href) in meta.pages(Format::Atom) {
        links.push(link(href, rel, Some("application/atom+xml")));
    }
    atom::Feed {
        // Every page is part of one feed, with one id.
        id: meta.page_url(Format::Atom, 1),
        title: atom::Text::plain(x(meta.title)),
        updated: fixed(feed_updated(articles)),
        authors: vec![atom::Person {
            name: x(meta.title),
            uri: Some(meta.base_url.to_string()),
            ..Default::default()
        }],
        links,
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
    let atom_link = |rel: &str, href: String| rss::extension::atom::Link {
        href,
        rel: rel.into(),
        mime_type: Some("application/rss+xml".into()),
        ..Default::default()
    };
    let mut atom_links = vec![atom_link("self", meta.page_url(Format::Rss, meta.page))];
    for (rel, href) in meta.pages(Format::Rss) {
        atom_links.push(atom_link(rel, href));
    }
    rss::Channel {
        title: x(meta.title),
        link: meta.base_url.to_string(),
        description: x(meta.title),
        last_build_date: Some(fixed(feed_updated(articles)).to_rfc2822()),
        generator: Some(format!("feedmerge {}", env!("CARGO_PKG_VERSION"))),
        docs: Some("https://www.rssboard.org/rss-specification".into()),
        atom_ext: Some(rss::extension::atom::AtomExtension { links: atom_links }),
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
    let mut feed = json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": meta.title,
        "home_page_url": meta.base_url.as_str(),
        "feed_url": meta.page_url(Format::Json, meta.page),
        "items": items,
    });
    if meta.has_next {
        feed["next_url"] = json!(meta.page_url(Format::Json, meta.page + 1));
    }
    feed
}

/// A feed the river page links to: its title and its path without extension.
#[derive(Debug, Clone)]
pub(crate) struct FeedLink {
    /// What the feed is called.
    pub(crate) title: String,
    /// Its path relative to the base URL, without extension (`feed`, `views/ukraine`).
    pub(crate) path: String,
}

/// The river page: the newest stories, each with its time, outlets and the start of its
/// text, and every feed in every format, with autodiscovery links. Plain HTML and a little
/// CSS: readable without JavaScript and on a phone. Links are relative, so the page works
/// wherever the server is mounted.
pub(crate) fn river(title: &str, stories: &[Story], feeds: &[FeedLink]) -> String {
    let title = escape_html(title);
    let mut head = String::new();
    let mut nav = String::new();
    for feed in feeds {
        let name = escape_html(&feed.title);
        let mut formats = Vec::new();
        for format in Format::ALL {
            let mime = format.content_type().split(';').next().unwrap_or_default();
            let href = escape_html(&format!("{}.{}", feed.path, format.extension()));
            head.push_str(&format!(
                "<link rel=\"alternate\" type=\"{mime}\" title=\"{name} ({})\" href=\"{href}\">\n",
                format.name()
            ));
            formats.push(format!("<a href=\"{href}\">{}</a>", format.name()));
        }
        nav.push_str(&format!("<li>{name}: {}</li>\n", formats.join(" · ")));
    }
    let mut items = String::new();
    for story in stories {
        let headline = escape_html(&story.title);
        let headline = match &story.link {
            Some(link) => format!("<a href=\"{}\">{headline}</a>", escape_html(link)),
            None => headline,
        };
        let outlet = |o: &Outlet| match &o.link {
            Some(link) => format!(
                "<a href=\"{}\">{}</a>",
                escape_html(link),
                escape_html(&o.name)
            ),
            None => escape_html(&o.name),
        };
        let mut outlets = outlet(&story.source);
        if !story.also.is_empty() {
            let others: Vec<String> = story.also.iter().map(outlet).collect();
            outlets.push_str(&format!(", also {}", others.join(", ")));
        }
        let body = story
            .summary
            .as_deref()
            .or(story.content.as_deref())
            .unwrap_or("");
        let text = html_to_text(body);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let excerpt: String = text.chars().take(320).collect();
        let excerpt = if excerpt.len() < text.len() {
            format!("{}…", excerpt.trim_end())
        } else {
            excerpt
        };
        items.push_str(&format!(
            "<article>\n<h2>{headline}</h2>\n<p class=\"meta\"><time datetime=\"{}\">{}</time> · {outlets}</p>\n<p>{}</p>\n</article>\n",
            story.published.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            story.published.format("%Y-%m-%d %H:%M UTC"),
            escape_html(&excerpt),
        ));
    }
    if items.is_empty() {
        items.push_str("<p>No stories yet: the sources have not been polled.</p>\n");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n{head}<style>\n\
         body{{max-width:46rem;margin:0 auto;padding:0 1rem;font:16px/1.5 system-ui,sans-serif;color:#222}}\n\
         h1{{font-size:1.5rem}} h2{{font-size:1.1rem;margin:0}} a{{color:#0645ad}}\n\
         article{{border-top:1px solid #ddd;padding:.8rem 0}} article p{{margin:.3rem 0}}\n\
         .meta{{color:#555;font-size:.875rem}} nav ul{{padding-left:1.2rem}} footer{{padding:1rem 0;color:#555}}\n\
         </style>\n</head>\n<body>\n<header>\n<h1>{title}</h1>\n\
         <nav><p>Subscribe in any feed reader:</p>\n<ul>\n{nav}</ul></nav>\n</header>\n\
         <main>\n{items}</main>\n<footer><a href=\"sources.opml\">Sources (OPML)</a> · \
         <a href=\"healthz\">Status</a></footer>\n</body>\n</html>\n"
    )
}

/// The sources as an OPML 2.0 subscription list, for importing into a feed reader: one
/// outline per category holding its sources (a source under several is in each), then the
/// sources filed under none.
pub(crate) fn opml(title: &str, sources: &[crate::config::Source]) -> String {
    let outline = |s: &crate::config::Source| {
        format!(
            "<outline type=\"rss\" text=\"{0}\" title=\"{0}\" xmlUrl=\"{1}\"/>",
            x(&escape_html(&s.name)),
            x(&escape_html(s.url.as_str()))
        )
    };
    let categories = crate::config::categories(sources);
    let mut body = String::new();
    for c in categories {
        body.push_str(&format!(
            "<outline text=\"{0}\" title=\"{0}\">\n",
            x(&escape_html(c))
        ));
        for s in sources
            .iter()
            .filter(|s| s.categories.iter().any(|sc| sc.eq_ignore_ascii_case(c)))
        {
            body.push_str(&format!("  {}\n", outline(s)));
        }
        body.push_str("</outline>\n");
    }
    for s in sources.iter().filter(|s| s.categories.is_empty()) {
        body.push_str(&format!("{}\n", outline(s)));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n<head>\n\
         <title>{}</title>\n</head>\n<body>\n{body}</body>\n</opml>\n",
        x(&escape_html(title))
    )
}
