//! A page of stories as JSON Feed 1.1: `image`, `attachments` and `authors` as the
//! specification has them, and feedmerge's own `_feedmerge` object crediting the outlets.

use serde_json::json;

use super::{byline, file_type, FeedMeta, Format};
use crate::parse::sanitised_text;
use crate::store::{Outlet, Story};

fn outlet(o: &Outlet) -> serde_json::Value {
    json!({
        "name": o.name,
        "feed_url": o.public_feed_url(),
        "home_page_url": o.public_site_url(),
        "url": o.link,
    })
}

fn item(meta: &FeedMeta, a: &Story) -> serde_json::Value {
    let authors: Vec<serde_json::Value> = if a.authors.is_empty() {
        let home = a
            .source
            .public_site_url()
            .map(str::to_owned)
            .unwrap_or_else(|| a.source.public_feed_url());
        vec![json!({ "name": a.source.name, "url": home })]
    } else {
        byline(a)
            .into_iter()
            .map(|n| json!({ "name": n }))
            .collect()
    };
    let mut item = json!({
        "id": meta.entry_id(a),
        "url": meta.entry_link(a),
        "title": a.title,
        "content_html": a.content.as_deref().or(a.summary.as_deref()).unwrap_or(""),
        "date_published": a.published.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "date_modified": a.updated.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "authors": authors,
        "_feedmerge": {
            "source": outlet(&a.source),
            "also": a.also.iter().map(outlet).collect::<Vec<_>>(),
            "authors": a.authors,
        },
    });
    if let Some(summary) = &a.summary {
        item["summary"] = json!(sanitised_text(summary));
    }
    if !a.categories.is_empty() {
        item["tags"] = json!(a.categories);
    }
    if let Some(image) = &a.media.image {
        item["image"] = json!(image.url);
    }
    if !a.media.enclosures.is_empty() {
        let attachments: Vec<serde_json::Value> = a
            .media
            .enclosures
            .iter()
            .map(|e| {
                let mut attachment = json!({ "url": e.url, "mime_type": file_type(e) });
                if let Some(length) = e.length {
                    attachment["size_in_bytes"] = json!(length);
                }
                if let Some(duration) = e.duration {
                    attachment["duration_in_seconds"] = json!(duration);
                }
                attachment
            })
            .collect();
        item["attachments"] = json!(attachments);
    }
    item
}

/// `articles` (newest first) as one page of a JSON Feed.
pub(super) fn feed(meta: &FeedMeta, articles: &[Story]) -> serde_json::Value {
    let mut feed = json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": meta.title,
        "home_page_url": meta.base_url.as_str(),
        "feed_url": meta.page_url(Format::Json, meta.page),
        "items": articles.iter().map(|a| item(meta, a)).collect::<Vec<_>>(),
    });
    if !meta.hubs.is_empty() {
        let hubs: Vec<_> = meta
            .hubs
            .iter()
            .map(|url| json!({ "type": "WebSub", "url": url }))
            .collect();
        feed["hubs"] = json!(hubs);
    }
    if meta.has_next {
        feed["next_url"] = json!(meta.page_url(Format::Json, meta.page + 1));
    }
    feed
}
