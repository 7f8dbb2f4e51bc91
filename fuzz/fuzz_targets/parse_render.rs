//! Decode → parse → normalise → render on arbitrary bytes: parsing may fail, but must not
//! panic; whatever parses must render as Atom, RSS and JSON Feed that parse back.

#![no_main]

use feedmerge::{render, FeedMeta, Format};
use feedmerge::{Outlet, Story};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(base) = url::Url::parse("https://feeds.example.com/feed.xml") else {
        return;
    };
    // The first byte picks the Content-Type the server claimed, as it varies in the wild.
    let (kind, body) = match data.split_first() {
        Some((k, rest)) => (*k, rest),
        None => (0, data),
    };
    let content_type = match kind % 4 {
        0 => None,
        1 => Some("application/rss+xml; charset=windows-1251"),
        2 => Some("application/feed+json"),
        _ => Some("text/xml; charset=gb2312"),
    };
    let Ok(feed) = feedmerge::parse_feed(body, content_type, &base) else {
        return;
    };
    let stories: Vec<Story> = feed
        .articles
        .into_iter()
        .take(20)
        .map(|a| {
            let outlet = Outlet {
                name: "Outlet".into(),
                feed_url: base.to_string(),
                site_url: feed.site_url.clone(),
                link: a.link.clone(),
                title: String::new(),
                published: chrono::Utc::now(),
            };
            Story::of_article(
                a,
                "https://merged.example/entries/1",
                outlet,
                chrono::Utc::now(),
            )
        })
        .collect();
    let Ok(site) = url::Url::parse("https://merged.example/") else {
        return;
    };
    let meta = FeedMeta {
        hubs: &[],
            query: None,
        title: feed.title.as_deref().unwrap_or("Merged"),
        base_url: &site,
        path: "feed",
        page: 1,
        has_next: false,
    };
    for format in Format::ALL {
        let out = render(format, &meta, &stories).expect("render");
        match format {
            Format::Atom => {
                atom_syndication::Feed::read_from(out.as_bytes()).expect("Atom parses back");
            }
            Format::Rss => {
                rss::Channel::read_from(out.as_bytes()).expect("RSS parses back");
            }
            Format::Json => {
                serde_json::from_str::<serde_json::Value>(&out).expect("JSON parses back");
            }
        }
    }
});
