//! A page of stories as RSS 2.0: the one `<enclosure>` the format allows (the file a
//! podcast client plays), the other files as `media:content`, the picture as
//! `media:thumbnail`, the byline as `dc:creator` (RSS's own `<author>` must be an e-mail
//! address).

use std::collections::BTreeMap;

use rss::extension::dublincore::DublinCoreExtension;
use rss::extension::{Extension, ExtensionMap};

use super::{
    byline, credits_html, feed_updated, file_type, fixed, main_file, thumbnail_attributes, x,
    FeedMeta, Format, MEDIA_RSS,
};
use crate::store::Story;

/// The elements of the Media RSS namespace an item carries: its picture, and every file but
/// the one in `<enclosure>`.
fn media(a: &Story) -> BTreeMap<String, Vec<Extension>> {
    let mut elements = BTreeMap::new();
    if let Some(image) = &a.media.image {
        let element = Extension {
            name: "media:thumbnail".into(),
            attrs: thumbnail_attributes(image),
            ..Default::default()
        };
        elements.insert("thumbnail".to_owned(), vec![element]);
    }
    let main = main_file(a);
    let others: Vec<Extension> = a
        .media
        .enclosures
        .iter()
        .filter(|e| Some(*e) != main)
        .map(|e| {
            let mut attrs = BTreeMap::from([
                ("url".to_owned(), x(&e.url)),
                ("type".to_owned(), file_type(e).to_owned()),
            ]);
            if let Some(length) = e.length {
                attrs.insert("fileSize".into(), length.to_string());
            }
            if let Some(duration) = e.duration {
                attrs.insert("duration".into(), duration.to_string());
            }
            Extension {
                name: "media:content".into(),
                attrs,
                ..Default::default()
            }
        })
        .collect();
    if !others.is_empty() {
        elements.insert("content".into(), others);
    }
    elements
}

fn item(meta: &FeedMeta, a: &Story) -> rss::Item {
    // Text and summary both: the summary is the description and the text `content:encoded`,
    // as readers expect (a full text read from the article's page, or an outlet's own
    // pair); one of them alone is the description.
    let (body, encoded) = match (&a.summary, &a.content) {
        (Some(summary), Some(content)) => (summary.as_str(), Some(content.as_str())),
        (summary, content) => (
            content.as_deref().or(summary.as_deref()).unwrap_or(""),
            None,
        ),
    };
    let mut extensions = ExtensionMap::new();
    let media = media(a);
    if !media.is_empty() {
        extensions.insert("media".into(), media);
    }
    rss::Item {
        title: Some(x(&a.title)),
        link: Some(x(&meta.entry_link(a))),
        description: Some(x(&format!("{body}{}", credits_html(a)))),
        content: encoded.map(|c| x(&format!("{c}{}", credits_html(a)))),
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
        // The RSS 2.0 specification requires all three; 0 is the convention for a length
        // the outlet did not give.
        enclosure: main_file(a).map(|e| rss::Enclosure {
            url: x(&e.url),
            length: e.length.unwrap_or(0).to_string(),
            mime_type: file_type(e).to_owned(),
        }),
        source: Some(rss::Source {
            url: x(&a.source.public_feed_url()),
            title: Some(x(&a.source.name)),
        }),
        dublin_core_ext: Some(DublinCoreExtension {
            creators: byline(a).into_iter().map(x).collect(),
            ..Default::default()
        }),
        extensions,
        ..Default::default()
    }
}

/// `articles` (newest first) as one page of an RSS 2.0 channel.
pub(super) fn feed(meta: &FeedMeta, articles: &[Story]) -> rss::Channel {
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
    atom_links.extend(meta.hubs.iter().map(|hub| rss::extension::atom::Link {
        href: hub.clone(),
        rel: "hub".into(),
        ..Default::default()
    }));
    rss::Channel {
        title: x(meta.title),
        link: meta.base_url.to_string(),
        description: x(meta.title),
        last_build_date: Some(fixed(feed_updated(articles)).to_rfc2822()),
        generator: Some(format!("feedmerge {}", env!("CARGO_PKG_VERSION"))),
        docs: Some("https://www.rssboard.org/rss-specification".into()),
        atom_ext: Some(rss::extension::atom::AtomExtension { links: atom_links }),
        items: articles.iter().map(|a| item(meta, a)).collect(),
        namespaces: BTreeMap::from([("media".to_owned(), MEDIA_RSS.to_owned())]),
        ..Default::default()
    }
}
