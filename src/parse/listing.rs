//! Sites without a feed: a listing page read by a source's CSS selectors (`html`), or a JSON
//! list read by its JSON pointers (`json`), turned into entries as a feed's are: links and
//! pictures resolved against the page, dates read by the feeds' liberal parser, the summary
//! sanitised, the title plain text. Finding no item is an error (a redesign that broke the
//! selector), never an empty feed.

use chrono::{DateTime, TimeZone, Utc};
use dom_query::{Document, Selection};
use serde_json::Value;
use url::Url;

use super::{
    clean_html, decode_html, is_web, parse_date, sanitised_text, Article, Image, Media, ParseError,
    ParsedFeed,
};

/// Where a site without a feed keeps its entries: the items (a CSS selector on an HTML page,
/// a JSON pointer to a list), and in each item where each field is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// An HTML page read by CSS selectors, or JSON read by JSON pointers.
    pub json: bool,
    /// The items: a selector, or a pointer to a list.
    pub items: String,
    /// Each item's title.
    pub title: Pick,
    /// Each item's link (resolved against the page).
    pub link: Pick,
    /// When it was published, read as liberally as a feed's dates.
    pub date: Option<Pick>,
    /// Its summary (HTML, sanitised).
    pub summary: Option<Pick>,
    /// Its picture's address.
    pub image: Option<Pick>,
    /// Its author.
    pub author: Option<Pick>,
}

/// Where a field is within an item: a CSS selector and, after `@`, the attribute to read
/// (else its text); or a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    /// The selector or pointer.
    pub path: String,
    /// The attribute read (`href`, `datetime`, `src`), on HTML pages.
    pub attribute: Option<String>,
}

/// Characters of a title kept: a listing's "title" may be a whole card's text.
const MAX_TITLE: usize = 500;

/// One item's fields, as found.
#[derive(Default)]
struct Found {
    title: Option<String>,
    link: Option<String>,
    date: Option<String>,
    summary: Option<String>,
    image: Option<String>,
    author: Option<String>,
}

/// The entries `listing` finds in `body`, the page at `url`: its first `max_items`.
pub(crate) fn parse_listing(
    body: &[u8],
    content_type: Option<&str>,
    url: &Url,
    listing: &Listing,
    max_items: usize,
) -> Result<ParsedFeed, ParseError> {
    let (found, total) = match listing.json {
        true => json_items(body, listing, max_items)?,
        false => html_items(&decode_html(body, content_type), listing, max_items),
    };
    if total == 0 {
        let what = if listing.json { "pointer" } else { "selector" };
        return Err(ParseError::NothingFound(format!(
            "the items {what} {:?} matched nothing: the page may have changed; check the \
             source's {}.items",
            listing.items,
            if listing.json { "json" } else { "html" }
        )));
    }
    let articles = found.into_iter().filter_map(|f| article(f, url)).collect();
    Ok(ParsedFeed {
        title: None,
        site_url: Some(url.to_string()),
        articles,
        min_interval: None,
        items_cut: total.saturating_sub(max_items),
        repaired: None,
        hubs: Vec::new(),
        topic: None,
    })
}

/// The items of an HTML page, and how many matched.
fn html_items(text: &str, listing: &Listing, max_items: usize) -> (Vec<Found>, usize) {
    let document = Document::from(text);
    let items = document.select(&listing.items);
    let total = items.length();
    let found = items
        .iter()
        .take(max_items)
        .map(|item| {
            let text = |pick: &Option<Pick>| pick.as_ref().and_then(|p| html_value(&item, p));
            Found {
                title: html_value(&item, &listing.title),
                link: html_value(&item, &listing.link),
                date: text(&listing.date),
                summary: listing.summary.as_ref().and_then(|p| {
                    let matched = item.select(&p.path).first();
                    match &p.attribute {
                        Some(a) => matched.attr(a).map(|v| v.to_string()),
                        None => (matched.length() > 0).then(|| matched.inner_html().to_string()),
                    }
                }),
                image: text(&listing.image),
                author: text(&listing.author),
            }
        })
        .collect();
    (found, total)
}

/// The text of the first element `pick` selects within `item` (the item itself for an
/// empty selector), or its attribute.
fn html_value(item: &Selection, pick: &Pick) -> Option<String> {
    let matched = match pick.path.is_empty() {
        true => item.clone(),
        false => item.select(&pick.path).first(),
    };
    if matched.length() == 0 {
        return None;
    }
    let value = match &pick.attribute {
        Some(a) => matched.attr(a)?.to_string(),
        None => matched.text().to_string(),
    };
    Some(value.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|v| !v.is_empty())
}

/// The items of a JSON document, and how many there are.
fn json_items(
    body: &[u8],
    listing: &Listing,
    max_items: usize,
) -> Result<(Vec<Found>, usize), ParseError> {
    let document: Value =
        serde_json::from_slice(body).map_err(|e| ParseError::Invalid(format!("not JSON: {e}")))?;
    let Some(items) = document.pointer(&listing.items).and_then(Value::as_array) else {
        return Ok((Vec::new(), 0));
    };
    let value = |item: &Value, pick: Option<&Pick>| {
        let v = item.pointer(&pick?.path)?;
        match v {
            Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let found = items
        .iter()
        .take(max_items)
        .map(|item| Found {
            title: value(item, Some(&listing.title)),
            link: value(item, Some(&listing.link)),
            date: value(item, listing.date.as_ref()),
            summary: value(item, listing.summary.as_ref()),
            image: value(item, listing.image.as_ref()),
            author: value(item, listing.author.as_ref()),
        })
        .collect();
    Ok((found, items.len()))
}

/// An entry of what was found, with links resolved against `page`; `None` for an item with
/// neither a title nor a link (a card the selector caught that is no article).
fn article(found: Found, page: &Url) -> Option<Article> {
    let link = found
        .link
        .and_then(|l| page.join(&l).ok())
        .filter(is_web)
        .map(String::from);
    let summary = found
        .summary
        .map(|s| clean_html(&s, page))
        .filter(|s| !s.is_empty());
    let text = summary.as_deref().map(sanitised_text).unwrap_or_default();
    let title = found
        .title
        .map(|t| t.chars().take(MAX_TITLE).collect::<String>())
        .or_else(|| link.clone())?;
    let image = found
        .image
        .and_then(|i| page.join(i.split_whitespace().next()?).ok())
        .filter(is_web)
        .map(|u| Image {
            url: u.into(),
            width: None,
            height: None,
        });
    Some(Article {
        guid: None,
        link,
        title,
        summary,
        content: None,
        text,
        authors: found.author.into_iter().collect(),
        categories: Vec::new(),
        published: found.date.as_deref().and_then(date),
        updated: None,
        media: Media {
            image,
            enclosures: Vec::new(),
        },
    })
}

/// A date as feeds write theirs, or seconds (or milliseconds) since 1970 as JSON does.
fn date(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(n) = raw.parse::<i64>() {
        let seconds = if n > 100_000_000_000 { n / 1000 } else { n };
        return Utc.timestamp_opt(seconds, 0).single();
    }
    parse_date(raw)
}
