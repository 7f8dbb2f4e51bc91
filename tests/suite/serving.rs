//! The served feeds as readers and caches see them, over real HTTP from `feedmerge run`:
//! category and view feeds, paging, validators and 304s, content coding, HEAD, the river page,
//! OPML, sanitised content, and the order of entries.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::common::{free_port, stdout, ConfigBuilder, Daemon, FeedServer, Resource, Setup, NEVER};
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED, VARY,
};

fn config(server: &FeedServer, port: u16) -> String {
    ConfigBuilder::new()
        .serve(port)
        .text("feed", "title", "Serving test")
        .set("feed", "max_entries", "2")
        .schedule(NEVER)
        .source_with(
            "Global Times",
            &server.url("/gt.rss"),
            "categories = [\"world\"]",
        )
        .source_with(
            "Partner Wire",
            &server.url("/partner.atom"),
            "categories = [\"partners\"]",
        )
        .raw(
            r#"
[[views]]
name = "ukraine"
title = "Ukraine crisis"
include = ["ukraine", "Kiev|Kyiv"]
exclude = ["retail"]
max_entries = 10

[[views]]
name = "no-putin"
sources = ["Global Times", "Partner Wire"]
exclude = ["putin"]
max_entries = 10
"#,
        )
        .build()
}

/// A client that leaves content codings to the test.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .build()
        .unwrap()
}

/// Waits until the daemon has polled both sources and serves all four stories.
async fn ready(base: &str) {
    let started = Instant::now();
    loop {
        if let Ok(r) = client()
            .get(format!("{base}/feed.json?page=2"))
            .send()
            .await
        {
            if let Ok(v) =
                serde_json::from_slice::<serde_json::Value>(&r.bytes().await.unwrap_or_default())
            {
                if v["items"].as_array().map(Vec::len) == Some(2) {
                    return;
                }
            }
        }
        assert!(started.elapsed() < Duration::from_secs(15), "not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The body at `url`, as sent (no content coding is asked for).
async fn body_of(http: &reqwest::Client, url: &str) -> Vec<u8> {
    let r = http.get(url).send().await.expect(url);
    r.bytes().await.expect(url).to_vec()
}

async fn json_of(http: &reqwest::Client, url: &str) -> serde_json::Value {
    serde_json::from_slice(&body_of(http, url).await).expect("valid JSON")
}

fn atom(body: &[u8]) -> atom_syndication::Feed {
    atom_syndication::Feed::read_from(body).expect("valid Atom")
}

fn link<'a>(feed: &'a atom_syndication::Feed, rel: &str) -> Option<&'a str> {
    feed.links()
        .iter()
        .find(|l| l.rel() == rel)
        .map(|l| l.href())
}

#[tokio::test]
async fn feeds_views_paging_and_http_caching() {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    server.put_fixture("/partner.atom", "partner.atom", "application/atom+xml");
    let port = free_port();
    let setup = Setup::new(&config(&server, port));
    let _daemon = Daemon::start(&setup, "warn");
    let base = format!("http://127.0.0.1:{port}");
    ready(&base).await;
    let http = client();

    // Page 1 of the merged feed: two entries, paging links, validators, caching headers.
    let r = http.get(format!("{base}/feed.atom")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let etag = h[ETAG].to_str().unwrap().to_owned();
    let modified = h[LAST_MODIFIED].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );
    assert!(h[CACHE_CONTROL].to_str().unwrap().contains("max-age="));
    assert_eq!(h[VARY], "accept-encoding");
    assert_eq!(h[CONTENT_TYPE], "application/atom+xml; charset=utf-8");
    let plain = r.bytes().await.unwrap();
    let first = atom(&plain);
    assert_eq!(first.entries().len(), 2);
    assert_eq!(
        link(&first, "self"),
        Some(format!("{base}/feed.atom").as_str())
    );
    assert_eq!(
        link(&first, "next"),
        Some(format!("{base}/feed.atom?page=2").as_str())
    );
    assert_eq!(link(&first, "previous"), None);

    // Page 2 walks back; it is the last.
    let body = body_of(&http, &format!("{base}/feed.atom?page=2")).await;
    let second = atom(&body);
    assert_eq!(second.entries().len(), 2);
    assert_eq!(
        link(&second, "previous"),
        Some(format!("{base}/feed.atom").as_str())
    );
    assert_eq!(link(&second, "next"), None);
    assert_eq!(second.id(), first.id(), "the pages are one feed");
    let mut ids: Vec<&str> = first
        .entries()
        .iter()
        .chain(second.entries())
        .map(|e| e.id())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    let json = json_of(&http, &format!("{base}/feed.json")).await;
    assert_eq!(json["next_url"], format!("{base}/feed.json?page=2"));
    let rss = body_of(&http, &format!("{base}/feed.rss?page=2")).await;
    assert_eq!(
        rss::Channel::read_from(&rss[..])
            .expect("valid RSS")
            .items()
            .len(),
        2
    );

    // Conditional GET: a matching ETag or date gets 304 and no body.
    for (name, value) in [
        (IF_NONE_MATCH, etag.as_str()),
        (IF_MODIFIED_SINCE, modified.as_str()),
    ] {
        let r = http
            .get(format!("{base}/feed.atom"))
            .header(name.clone(), value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304, "{name}");
        assert_eq!(r.headers()[ETAG], etag.as_str());
        assert!(r.bytes().await.unwrap().is_empty());
    }
    let r = http
        .get(format!("{base}/feed.atom"))
        .header(IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a different ETag gets the feed");
    // If-None-Match decides when present, even with a current If-Modified-Since.
    let r = http
        .get(format!("{base}/feed.atom"))
        .header(IF_NONE_MATCH, "\"other\"")
        .header(IF_MODIFIED_SINCE, modified.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Content codings: brotli preferred, then gzip; each decodes to the same bytes.
    let r = http
        .get(format!("{base}/feed.atom"))
        .header(ACCEPT_ENCODING, "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[CONTENT_ENCODING], "br");
    let br_etag = r.headers()[ETAG].to_str().unwrap().to_owned();
    assert_ne!(br_etag, etag, "each coding has its own strong ETag");
    let mut decoded = Vec::new();
    brotli::BrotliDecompress(&mut &r.bytes().await.unwrap()[..], &mut decoded).unwrap();
    assert_eq!(decoded, plain);
    let r = http
        .get(format!("{base}/feed.atom"))
        .header(ACCEPT_ENCODING, "gzip, br;q=0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[CONTENT_ENCODING], "gzip");
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&r.bytes().await.unwrap()[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain);
    let r = http
        .get(format!("{base}/feed.atom"))
        .header(IF_NONE_MATCH, br_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304, "any coding's ETag validates the feed");

    // HEAD: the headers of GET, no body.
    let r = http.head(format!("{base}/feed.rss")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key(ETAG));
    assert!(r.bytes().await.unwrap().is_empty());

    // A category: stories that a source filed under it carries, the re-run included.
    let body = body_of(&http, &format!("{base}/categories/partners.atom")).await;
    let partners = atom(&body);
    assert_eq!(partners.entries().len(), 2);
    assert_eq!(
        link(&partners, "self"),
        Some(format!("{base}/categories/partners.atom").as_str())
    );
    for missing in [
        "/categories/sport.atom",
        "/categories/world.txt",
        "/views/nope.rss",
    ] {
        assert_eq!(
            http.get(format!("{base}{missing}"))
                .send()
                .await
                .unwrap()
                .status(),
            404,
            "{missing}"
        );
    }

    // Views: a pattern on title and text, and exclusions.
    let body = body_of(&http, &format!("{base}/views/ukraine.rss")).await;
    let ukraine = rss::Channel::read_from(&body[..]).expect("valid RSS");
    assert_eq!(ukraine.title(), "Ukraine crisis");
    let titles: Vec<&str> = ukraine.items().iter().filter_map(|i| i.title()).collect();
    assert_eq!(titles.len(), 1, "{titles:?}");
    assert!(titles[0].contains("multipolar world order"), "{titles:?}");
    let json = json_of(&http, &format!("{base}/views/no-putin.json")).await;
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items
        .iter()
        .all(|i| !i["content_html"].as_str().unwrap().contains("Putin")));

    // Entry HTML arrives clean, with absolute links.
    let seed = first
        .entries()
        .iter()
        .chain(second.entries())
        .find(|e| e.title().as_str().contains("multipolar"))
        .expect("seed story");
    let content = seed.content().and_then(|c| c.value()).unwrap();
    for bad in ["<script", "javascript:", "onclick", "<iframe"] {
        assert!(!content.contains(bad), "{bad} in {content}");
    }
    assert!(content
        .contains("src=\"https://www.globaltimes.cn/Portals/0/attachment/2024/putin-xi.jpg\""));
    assert!(content.contains("href=\"https://www.globaltimes.cn/opinion/editorial/\""));

    // Every link in every format is absolute: the feeds' own, entries', and inside content.
    let link =
        regex::Regex::new(r#"(?:href|src|url)(?:=|"\s*:\s*)(?:"|\\"|&quot;)([^"\\&]*)"#).unwrap();
    for path in [
        "feed.atom",
        "feed.rss",
        "feed.json",
        "feed.atom?page=2",
        "views/ukraine.rss",
    ] {
        let body =
            String::from_utf8(body_of(&http, &format!("{base}/{path}")).await).expect("UTF-8");
        let found: Vec<&str> = link
            .captures_iter(&body)
            .map(|c| c.get(1).unwrap().as_str())
            .collect();
        assert!(found.len() >= 4, "{path}: {found:?}");
        for url in found {
            assert!(
                url.starts_with("http://") || url.starts_with("https://"),
                "{path}: relative {url:?}"
            );
        }
    }

    // The sources as OPML, grouped by category.
    let r = http
        .get(format!("{base}/sources.opml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[CONTENT_TYPE], "text/x-opml; charset=utf-8");
    let opml = r.text().await.unwrap();
    assert!(
        opml.starts_with("<?xml") && opml.contains("<opml version=\"2.0\">"),
        "{opml}"
    );
    let world = &opml[opml.find("<outline text=\"world\"").unwrap()..];
    let world = &world[..world.find("</outline>").unwrap()];
    assert!(
        world.contains(&format!("xmlUrl=\"{}\"", server.url("/gt.rss"))),
        "{opml}"
    );
    assert!(!world.contains("Partner Wire"), "{opml}");

    // The river page: stories with their outlets, every feed, autodiscovery.
    let r = http.get(format!("{base}/")).send().await.unwrap();
    assert!(r.headers().contains_key(ETAG));
    let page = r.text().await.unwrap();
    assert!(page.contains("<meta name=\"viewport\""));
    assert!(page.contains("multipolar world order"), "{page}");
    assert!(page.contains("also <a href=\"https://www.globaltimes.cn/page/202405/1312466.shtml?utm_source=partner"), "{page}");
    for href in [
        "feed.atom",
        "categories/world.rss",
        "views/ukraine.json",
        "sources.opml",
    ] {
        assert!(page.contains(&format!("href=\"{href}\"")), "{href}: {page}");
    }
    assert!(page.contains("<link rel=\"alternate\" type=\"application/atom+xml\" title=\"Serving test (Atom)\" href=\"feed.atom\">"));
    setup.assert_intact().await;
}

#[tokio::test]
async fn future_and_backdated_entries_are_placed_when_first_seen() {
    let item = |guid: &str, title: &str, date: &str| {
        format!(
            "<item><guid>{guid}</guid><title>{title}</title><link>https://o.example/{guid}</link>\
             <pubDate>{date}</pubDate><description>{title}, in a few words of its own.</description></item>"
        )
    };
    let feed = |items: &[String]| {
        format!(
            "<rss version=\"2.0\"><channel><title>O</title>{}</channel></rss>",
            items.concat()
        )
        .into_bytes()
    };
    let server = FeedServer::start();
    let backlog = vec![
        item("old-1", "Last week", "Mon, 16 Nov 2026 09:00:00 +0000"),
        item("old-2", "Last year", "Sat, 16 Nov 2025 09:00:00 +0000"),
    ];
    server.put(
        "/o.rss",
        Resource::new(feed(&backlog), "application/rss+xml"),
    );
    let setup = ConfigBuilder::new()
        .schedule(NEVER)
        .source("Outlet", &server.url("/o.rss"))
        .setup();
    assert!(setup.feedmerge(&["fetch"]).status.success());
    // Later: one entry claims to come from 2035, one to be from two years ago.
    let mut later = vec![
        item(
            "future",
            "From the future",
            "Mon, 01 Jan 2035 00:00:00 +0000",
        ),
        item("backdated", "Slipped in", "Fri, 01 Nov 2024 00:00:00 +0000"),
    ];
    later.extend(backlog);
    server.put("/o.rss", Resource::new(feed(&later), "application/rss+xml"));
    let out = setup.feedmerge(&["fetch"]);
    assert!(stdout(&out).contains("2 new"), "{out:?}");
    let export = setup.feedmerge(&["export", "--format", "atom"]);
    let titles: Vec<String> = atom(&export.stdout)
        .entries()
        .iter()
        .map(|e| e.title().as_str().to_owned())
        .collect();
    // The first fetch's backlog keeps its dates; the later two sit where they were seen.
    assert_eq!(titles.len(), 4);
    assert_eq!(&titles[2..], ["Last week", "Last year"], "{titles:?}");
    let mut top = titles[..2].to_vec();
    top.sort();
    assert_eq!(top, ["From the future", "Slipped in"], "{titles:?}");
}

/// A feed without entries (nothing polled yet) says when it was made, not 1970-01-01, which
/// readers show as its date.
#[test]
fn an_empty_feed_is_not_dated_1970() {
    let setup = ConfigBuilder::new()
        .source("Wire", "https://wire.example/feed.xml")
        .setup();
    let out = setup.feedmerge(&["export", "--format", "atom"]);
    assert!(out.status.success(), "{out:?}");
    let feed = atom(&out.stdout);
    assert!(feed.entries().is_empty());
    let age = chrono::Utc::now() - feed.updated().with_timezone(&chrono::Utc);
    assert!(age.num_days().abs() < 1, "updated {}", feed.updated());
}

/// The river page says why it has no story: nothing polled yet, or every source failing
/// (with a link to the status page that says why).
#[tokio::test]
async fn an_empty_river_says_why() {
    let server = FeedServer::start();
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .source("Broken", &server.url("/missing.rss"))
        .setup();
    let _daemon = Daemon::start(&setup, "warn");
    let http = client();
    let h = crate::common::health_until(&http, port, Duration::from_secs(15), |h| {
        h["failing_sources"] == 1
    })
    .await;
    assert_eq!(h["failing_sources"], 1, "{h}");
    let river = crate::common::text(&http, &format!("http://127.0.0.1:{port}/")).await;
    assert!(
        river.contains("every source failed when it was polled")
            && river.contains("<a href=\"status\">The status page</a> says why"),
        "{river}"
    );
}
