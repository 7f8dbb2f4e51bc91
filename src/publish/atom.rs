//! A page of stories as Atom 1.0 (RFC 4287): an alternate link always (the outlet's page or
//! the story's), every file as `link rel="enclosure"`, the picture as `media:thumbnail`.

use std::collections::BTreeMap;

use atom_syndication as atom;
use atom_syndication::extension::{Extension, ExtensionMap};

use super::{
    byline, feed_updated, file_type, fixed, thumbnail_attributes, x, FeedMeta, Format, MEDIA_RSS,
};
use crate::parse::{escape_html, Image};
use crate::store::Story;

fn link(href: String, rel: &str, mime: Option<&str>) -> atom::Link {
    atom::Link {
        href,
        rel: rel.to_owned(),
        mime_type: mime.map(str::to_owned),
        ..Default::default()
    }
}

/// `media:thumbnail` for `image`, keyed as the writer's extension maps are. The writer puts
/// extension attributes out as they are, so the URL is escaped here (`&` in a query).
fn thumbnail(image: &Image) -> BTreeMap<String, Vec<Extension>> {
    let mut attrs = thumbnail_attributes(image);
    for value in attrs.values_mut() {
        *value = escape_html(value);
    }
    let element = Extension {
        name: "media:thumbnail".into(),
        attrs,
        ..Default::default()
    };
    BTreeMap::from([("thumbnail".to_owned(), vec![element])])
}

fn entry(meta: &FeedMeta, a: &Story) -> atom::Entry {
    let mut links = vec![link(x(&meta.entry_link(a)), "alternate", Some("text/html"))];
    links.extend(
        a.also
            .iter()
            .filter_map(|o| o.link.as_deref())
            .map(|l| link(x(l), "related", Some("text/html"))),
    );
    links.extend(a.media.enclosures.iter().map(|e| atom::Link {
        length: e.length.map(|l| l.to_string()),
        ..link(x(&e.url), "enclosure", Some(file_type(e)))
    }));
    let mut source_links = vec![link(x(&a.source.public_feed_url()), "self", None)];
    if let Some(site) = a.source.public_site_url() {
        source_links.push(link(x(site), "alternate", Some("text/html")));
    }
    let mut extensions = ExtensionMap::new();
    if let Some(image) = &a.media.image {
        extensions.insert("media".into(), thumbnail(image));
    }
    atom::Entry {
        id: meta.entry_id(a),
        title: atom::Text::plain(x(&a.title)),
        updated: fixed(a.updated),
        published: Some(fixed(a.published)),
        authors: byline(a)
            .into_iter()
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
            lang: a.language.clone(),
            ..Default::default()
        }),
        source: Some(atom::Source {
            id: x(&a.source.public_feed_url()),
            title: atom::Text::plain(x(&a.source.name)),
            updated: fixed(a.updated),
            links: source_links,
            ..Default::default()
        }),
        extensions,
        ..Default::default()
    }
}

/// `articles` (newest first) as one page of an Atom feed.
pub(super) fn feed(meta: &FeedMeta, articles: &[Story]) -> atom::Feed {
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
    links.extend(meta.hubs.iter().map(|hub| link(hub.clone(), "hub", None)));
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
        entries: articles.iter().map(|a| entry(meta, a)).collect(),
        namespaces: BTreeMap::from([("media".to_owned(), MEDIA_RSS.to_owned())]),
        ..Default::default()
    }
}
