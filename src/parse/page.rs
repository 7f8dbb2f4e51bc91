//! Web pages where a feed was expected: telling one from a feed, the feeds it advertises, and
//! the Atom feed some blogs' templates wrap in XHTML.

use url::Url;

use super::decode::{attribute, attribute_at};

/// The most feeds of a web page named in its error: enough to pick from.
const MAX_ADVERTISED: usize = 10;

/// The feeds a web page advertises: `<link rel="alternate">` with a feed type, made absolute.
pub(super) fn advertised_feeds(html: &str, page: &Url) -> Vec<String> {
    const FEED_TYPES: [&str; 5] = [
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/json",
        "application/rdf+xml",
    ];
    let mut feeds = Vec::new();
    let lower = html.to_ascii_lowercase();
    for (start, _) in lower.match_indices("<link") {
        if feeds.len() == MAX_ADVERTISED {
            break;
        }
        // A tag ends at its `>`; one cut short by the next `<` is no tag. Either way each
        // search stops at the next tag, so the page is read once, however many tags it has.
        let Some(len) = lower[start + 1..].find(['>', '<']).map(|i| i + 1) else {
            break;
        };
        if lower.as_bytes()[start + len] == b'<' {
            continue;
        }
        // Attribute names are matched in lower case, values taken from the original text.
        let (tag, original) = (&lower[start..start + len], &html[start..start + len]);
        let rel = attribute(tag, "rel").unwrap_or_default();
        let kind = attribute(tag, "type").unwrap_or_default();
        if !rel.split_whitespace().any(|r| r == "alternate") || !FEED_TYPES.contains(&kind.trim()) {
            continue;
        }
        let href = attribute_at(tag, "href").map(|(_, r)| original[r].trim().replace("&amp;", "&"));
        if let Some(url) = href.and_then(|h| page.join(&h).ok()) {
            if !feeds.contains(&url.to_string()) {
                feeds.push(url.to_string());
            }
        }
    }
    feeds
}

pub(super) fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    let head = head.trim_start();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

/// The Atom feed inside an XHTML page, if it holds one: some blogs' templates wrap their feed
/// in `<html><body>`, and feedparser (so Python readers) reads such a page as the feed.
pub(super) fn embedded_atom(page: &str) -> Option<&str> {
    const ATOM: &str = "http://www.w3.org/2005/Atom";
    let start = page.match_indices("<feed").map(|(i, _)| i).find(|&i| {
        page[i + "<feed".len()..].starts_with(|c: char| c.is_ascii_whitespace() || c == '>')
    })?;
    let tag_end = start + page[start..].find('>')?;
    if !page[start..tag_end].contains(ATOM) {
        return None;
    }
    let end = page.rfind("</feed>")? + "</feed>".len();
    (end > tag_end).then(|| &page[start..end])
}
