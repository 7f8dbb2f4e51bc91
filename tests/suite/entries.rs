//! Every entry and every field an outlet sends, from real captures (`tests/fixtures/real/`,
//! copied from the shared corpus): a podcast's episodes stay episodes, links that only their
//! fragments tell apart stay apart, and dates, permalinks, `xml:base`, media descriptions and
//! MIME-typed Atom titles are read as Python's feedparser reads them. The whole corpus is
//! compared with feedparser entry by entry in `differential`.

use chrono::{TimeZone, Utc};
use feedmerge::{parse_feed, ParsedFeed};
use url::Url;

use crate::common::{fixture, stderr, stdout, ConfigBuilder, FeedServer, Resource};

fn parse_bytes(body: &[u8]) -> ParsedFeed {
    let url = Url::parse("https://feeds.example.com/feed.xml").unwrap();
    parse_feed(body, None, &url).unwrap_or_else(|e| panic!("{e}"))
}

/// A setup whose one source, `outlet`, serves the fixture `name` and was fetched once.
fn fetched(name: &str) -> crate::common::Setup {
    let server = FeedServer::start();
    server.put("/feed", Resource::new(fixture(name), "application/rss+xml"));
    let setup = ConfigBuilder::new()
        .set("feed", "max_entries", "1000")
        .source("outlet", &server.url("/feed"))
        .setup();
    let out = setup.feedmerge(&["fetch"]);
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    setup
}

/// The merged feed (JSON Feed) after one fetch of `name` alone.
fn merged(name: &str) -> serde_json::Value {
    let out = fetched(name).feedmerge(&["export", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("JSON Feed")
}

fn items(feed: &serde_json::Value) -> &Vec<serde_json::Value> {
    feed["items"].as_array().expect("items")
}

/// 131 episodes, all linking the show's home page (with or without `www.` and a slash): 130
/// entries, not one per distinct link (9 before). Two of the 131 items are one episode posted
/// twice: the same guid and the same audio file under two titles.
#[test]
fn a_podcasts_episodes_stay_episodes() {
    let feed = merged("real/itunes-missing-image.rss");
    let items = items(&feed);
    assert_eq!(items.len(), 130);
    let mut audio: Vec<&str> = items
        .iter()
        .map(|i| i["attachments"][0]["url"].as_str().expect("audio"))
        .collect();
    audio.sort_unstable();
    audio.dedup();
    assert_eq!(audio.len(), 130, "each episode keeps its own audio");
    assert!(items
        .iter()
        .all(|i| i["url"].as_str().unwrap().contains("taverncast.com")));
}

/// Scripting News links each post as `26.html#a080605`: its 50 items are 48 stored articles
/// (two guids are listed twice), each with its own link, fragment and all (7 before).
#[tokio::test]
async fn links_told_apart_by_their_fragments_stay_apart() {
    let setup = fetched("real/scriptingNews.rss");
    let articles = setup.articles_of("outlet").await;
    assert_eq!(articles.len(), 48);
    let mut links: Vec<&str> = articles.iter().filter_map(|a| a.link.as_deref()).collect();
    assert!(links.iter().all(|l| l.contains(".html#a")), "{links:?}");
    links.sort_unstable();
    links.dedup();
    assert_eq!(links.len(), 48);
}

/// `2020/1/10 14:16:00` (a Chinese forum's RSS) is that instant, not the time of the fetch.
#[test]
fn a_slashed_date_is_read() {
    let feed = parse_bytes(&fixture("real/kc0011.rss"));
    let want = Utc.with_ymd_and_hms(2020, 1, 10, 14, 16, 0).unwrap();
    assert!(
        feed.articles.iter().any(|a| a.published == Some(want)),
        "{:?}",
        feed.articles
            .iter()
            .map(|a| a.published)
            .collect::<Vec<_>>()
    );
    assert!(feed.articles.iter().all(|a| a.published.is_some()));
}

/// An item's `pubDate` is its publication date beside a `dc:date` that differs from it or
/// cannot be read (a Unix timestamp): feed-rs lets the later element replace it.
#[test]
fn pubdate_stands_beside_dc_date() {
    let feed = parse_bytes(&fixture("real/dc-date-beside-pubdate.xml"));
    let dates: Vec<_> = feed.articles.iter().map(|a| a.published).collect();
    assert_eq!(
        dates,
        [
            Some(Utc.with_ymd_and_hms(2017, 10, 16, 15, 10, 0).unwrap()),
            Some(Utc.with_ymd_and_hms(2017, 10, 17, 12, 17, 0).unwrap()),
        ]
    );
}

/// A relative `<guid isPermaLink="true">` under the document's `xml:base` is the link of an
/// item that has no `<link>`.
#[test]
fn a_permalink_guid_is_the_link() {
    let feed = parse_bytes(&fixture("real/permalink.rss"));
    assert_eq!(
        feed.articles[0].link.as_deref(),
        Some("http://example.com/podcast/episode/1/")
    );
}

/// An Atom entry with no `<link>` whose id is a web address links there, and its content's
/// relative picture resolves against the content's `xml:base`.
#[test]
fn xml_base_and_id_links_resolve() {
    let feed = parse_bytes(&fixture("real/atom_xml_base.xml"));
    let a = &feed.articles[0];
    assert_eq!(
        a.link.as_deref(),
        Some("https://numi.st/post/2022/travel-uke")
    );
    let content = a.content.as_deref().unwrap_or_default();
    assert!(
        content.contains("https://numi.st/post/2022/travel-uke/IMG_1232.jpeg"),
        "{content}"
    );
}

/// A YouTube channel's feed puts each video's description in `media:description`: it is the
/// entry's body.
#[test]
fn a_media_description_is_the_body() {
    let feed = parse_bytes(&fixture("real/youtube_atom.xml"));
    assert!(!feed.articles.is_empty());
    for a in &feed.articles {
        assert!(a.summary.is_some() && !a.text.is_empty(), "{}", a.title);
    }
}

/// An Atom 0.3 capture whose titles are typed as a MIME type (`text/plain`, as Atom 0.3 and
/// some generators write; the capture's titles are untyped, so the type is added here): every
/// entry is read, titled as written.
#[test]
fn mime_typed_atom_titles_are_read() {
    let text = String::from_utf8(fixture("real/atom03-juniordeveloper.xml")).unwrap();
    let typed = text.replace("<title>", "<title type=\"text/plain\">");
    assert!(typed.matches("type=\"text/plain\"").count() > 10);
    let feed = parse_bytes(typed.as_bytes());
    let plain = parse_bytes(text.as_bytes());
    assert_eq!(feed.articles.len(), 50);
    assert_eq!(
        feed.articles.iter().map(|a| &a.title).collect::<Vec<_>>(),
        plain.articles.iter().map(|a| &a.title).collect::<Vec<_>>()
    );
    assert_eq!(feed.articles[0].title, "RubyForge now on PostgreSQL 8.3");
    // Atom 0.3's own dates (`issued`, `modified`) date each entry.
    assert!(feed.articles.iter().all(|a| a.published.is_some()));
}

/// A feed that is not well-formed XML loses what is malformed, not the feed: a channel's
/// `<itunes:category>` left open before the items, and a bare `&` in a link (`?foo=1&bar=2`).
/// Every item is read, and the source's problem says the feed was repaired.
#[tokio::test]
async fn a_malformed_feed_is_read_after_a_repair() {
    for (name, items, link) in [
        (
            "real/itunes-unclosed-category.xml",
            3,
            "http://example.com/podcasts/archive/aae20050615.m4a",
        ),
        (
            "real/bare-ampersand.xml",
            3,
            "http://example.com/bad?foo=1&bar=2",
        ),
    ] {
        let setup = fetched(name);
        let articles = setup.articles_of("outlet").await;
        assert_eq!(articles.len(), items, "{name}");
        assert!(
            articles.iter().any(|a| a.link.as_deref() == Some(link)),
            "{name}: {:?}",
            articles.iter().map(|a| &a.link).collect::<Vec<_>>()
        );
        let sources = stdout(&setup.feedmerge(&["sources"]));
        assert!(sources.contains("read after a repair"), "{name}: {sources}");
    }
}

/// Elements the usual parser leaves behind: a podcast's `content:encoded` under a namespace
/// written without its slash, Reddit's description written as markup rather than escaped,
/// an Atom author inside an RSS item, an Atom feed's author for its entries, twice-encoded
/// UTF-8 (eldiario.es), RSS 1.0 descriptions that hold HTML (Craigslist), and an item told
/// only in Dublin Core under a prefix of its own (`dublincore:title`).
#[test]
fn what_other_parsers_leave_behind_is_read() {
    let podcast = parse_bytes(&fixture("real/itunes-missing-image.rss"));
    let episode = podcast
        .articles
        .iter()
        .find(|a| a.title.contains("Octavernfest"))
        .expect("episode");
    assert!(episode.text.contains("Oktoberfest"), "{:?}", episode.text);

    let reddit = parse_bytes(&fixture("real/reddit-markup-description.rss"));
    assert!(reddit
        .articles
        .iter()
        .all(|a| a.text.contains("submitted by") && a.text.contains("comments")));

    let a10 = parse_bytes(&fixture("real/atom-author-in-rss.xml"));
    assert_eq!(a10.articles[0].authors, ["John Doe"]);

    // RFC 4287's own example: the feed's author is its entry's.
    let spec = parse_bytes(&fixture("real/atom-spec-example.xml"));
    assert_eq!(spec.articles[0].authors, ["John Doe"]);

    let eldiario = parse_bytes(&fixture("real/eldiario-double-utf8.xml"));
    let text: String = eldiario.articles.iter().map(|a| a.text.as_str()).collect();
    assert!(text.contains("Policía") && !text.contains("Ã"), "{text}");

    let craigslist = parse_bytes(&fixture("real/craigslist-rss1.rss"));
    for a in &craigslist.articles {
        assert!(
            !a.text.contains("<a ") && !a.text.contains("&lt;"),
            "{}",
            a.text
        );
    }

    let dublin = parse_bytes(&fixture("real/dublin-core-item.xml"));
    assert_eq!(dublin.articles[0].title, "Title");
    assert_eq!(dublin.articles[0].text, "Description");
}
