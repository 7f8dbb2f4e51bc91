//! The feeds are valid whatever the outlets left out, as third parties judge them: a daemon
//! is fed every fixture feed, plus entries in RSS, Atom and JSON Feed lacking every
//! combination of title, link, date, content, author and media (64 per format), and then
//! - the W3C Feed Validation Service's engine (`../shared/tools/fv_check.py`) finds no error
//!   in `/feed.atom` or `/feed.rss`;
//! - Python's feedparser reads both without complaint, every entry with a title, a link and
//!   an author, and the files and pictures the inputs gave;
//! - newsboat (whose podboat downloads what it lists) reads both, every entry with its
//!   byline, and each file where a podcast client looks for it;
//! - `/feed.json` keeps the JSON Feed 1.1 rules checked below.
//!
//! The validator is not part of this repository, and needs Python with lxml, html5lib,
//! rdflib and feedparser (`.ci/run` makes such a venv and names its interpreter in
//! `FEEDMERGE_PYTHON`), and newsboat. The test is ignored unless asked for
//! (`--include-ignored`, as `.ci/run` does), and fails without them.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{free_port, stderr, ConfigBuilder, Daemon, FeedServer, Resource, NEVER};

/// What an entry of the generated feeds has: one bit per field.
const TITLE: u32 = 1;
const LINK: u32 = 2;
const DATE: u32 = 4;
const CONTENT: u32 = 8;
const AUTHOR: u32 = 16;
const MEDIA: u32 = 32;
const COMBINATIONS: u32 = 64;

/// The validator and a Python that can run it and feedparser; the test is ignored unless asked
/// for, and fails without them.
fn tools() -> (PathBuf, String) {
    let validator = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/fv_check.py");
    let python = std::env::var("FEEDMERGE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ready = validator.exists()
        && Command::new("newsboat")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        && Command::new(&python)
            .args(["-c", "import lxml, html5lib, rdflib, feedparser"])
            .output()
            .is_ok_and(|o| o.status.success());
    assert!(
        ready,
        "this test needs {}, newsboat and a Python (FEEDMERGE_PYTHON={python}) with lxml, \
         html5lib, rdflib and feedparser",
        validator.display()
    );
    (validator, python)
}

/// Words for the generated entries' text: each entry draws its own, so that no two are
/// versions of one story.
const WORDS: [&str; 48] = [
    "harbour",
    "council",
    "ferry",
    "budget",
    "school",
    "bridge",
    "river",
    "orchard",
    "festival",
    "railway",
    "museum",
    "library",
    "clinic",
    "market",
    "stadium",
    "airport",
    "vineyard",
    "quarry",
    "lighthouse",
    "glacier",
    "canal",
    "forest",
    "village",
    "tunnel",
    "reservoir",
    "monastery",
    "observatory",
    "brewery",
    "shipyard",
    "parliament",
    "theatre",
    "bakery",
    "cathedral",
    "mill",
    "island",
    "valley",
    "summit",
    "desert",
    "lagoon",
    "meadow",
    "prison",
    "embassy",
    "laboratory",
    "garrison",
    "pier",
    "foundry",
    "archive",
    "aqueduct",
];

fn text(format: &str, i: u32) -> String {
    let mut seed = u64::from(i) * 2_654_435_761 + format.len() as u64 * 97;
    (0..40)
        .map(|_| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            WORDS[(seed >> 33) as usize % WORDS.len()]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn rss(port: u16) -> String {
    let mut items = String::new();
    for i in 0..COMBINATIONS {
        let has = |bit| i & bit != 0;
        items.push_str(&format!(
            "<item><guid isPermaLink=\"false\">gap-rss-{i}</guid>"
        ));
        if has(TITLE) {
            items.push_str(&format!("<title>RSS gap {i}</title>"));
        }
        if has(LINK) {
            items.push_str(&format!("<link>https://gaps.example/rss/{i}</link>"));
        }
        if has(DATE) {
            items.push_str("<pubDate>Tue, 02 Jun 2026 08:00:00 GMT</pubDate>");
        }
        if has(CONTENT) {
            items.push_str(&format!("<description>{}</description>", text("rss", i)));
        }
        if has(AUTHOR) {
            items.push_str(&format!("<dc:creator>Reporter {i}</dc:creator>"));
        }
        if has(MEDIA) {
            items.push_str(&format!(
                "<enclosure url=\"http://127.0.0.1:{port}/audio/{i}.mp3\" length=\"1000\" type=\"audio/mpeg\"/>\
                 <media:thumbnail url=\"http://127.0.0.1:{port}/pictures/{i}.jpg\" width=\"320\" height=\"180\"/>"
            ));
        }
        items.push_str("</item>\n");
    }
    format!(
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
         xmlns:media=\"http://search.yahoo.com/mrss/\"><channel><title>Gaps RSS</title>\
         <link>https://gaps.example/</link><description>d</description>\n{items}</channel></rss>"
    )
}

fn atom(port: u16) -> String {
    let mut entries = String::new();
    for i in 0..COMBINATIONS {
        let has = |bit| i & bit != 0;
        entries.push_str(&format!("<entry><id>urn:gaps:atom:{i}</id>"));
        if has(TITLE) {
            entries.push_str(&format!("<title>Atom gap {i}</title>"));
        }
        if has(LINK) {
            entries.push_str(&format!("<link href=\"https://gaps.example/atom/{i}\"/>"));
        }
        if has(DATE) {
            entries.push_str("<updated>2026-06-02T08:00:00Z</updated>");
        }
        if has(CONTENT) {
            entries.push_str(&format!(
                "<content type=\"html\">{}</content>",
                text("atom", i)
            ));
        }
        if has(AUTHOR) {
            entries.push_str(&format!("<author><name>Reporter {i}</name></author>"));
        }
        if has(MEDIA) {
            entries.push_str(&format!(
                "<link rel=\"enclosure\" href=\"http://127.0.0.1:{port}/video/{i}.mp4\" type=\"video/mp4\"/>\
                 <media:thumbnail url=\"http://127.0.0.1:{port}/pictures/a{i}.jpg\"/>"
            ));
        }
        entries.push_str("</entry>\n");
    }
    format!(
        "<?xml version=\"1.0\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" \
         xmlns:media=\"http://search.yahoo.com/mrss/\"><title>Gaps Atom</title>\
         <id>urn:gaps:atom</id><updated>2026-06-02T08:00:00Z</updated>\n{entries}</feed>"
    )
}

fn json(port: u16) -> String {
    let items: Vec<serde_json::Value> = (0..COMBINATIONS)
        .map(|i| {
            let has = |bit| i & bit != 0;
            let mut item = serde_json::json!({ "id": format!("gap-json-{i}") });
            if has(TITLE) {
                item["title"] = format!("JSON gap {i}").into();
            }
            if has(LINK) {
                item["url"] = format!("https://gaps.example/json/{i}").into();
            }
            if has(DATE) {
                item["date_published"] = "2026-06-02T08:00:00Z".into();
            }
            if has(CONTENT) {
                item["content_html"] = text("json", i).into();
            }
            if has(AUTHOR) {
                item["authors"] = serde_json::json!([{ "name": format!("Reporter {i}") }]);
            }
            if has(MEDIA) {
                item["image"] = format!("http://127.0.0.1:{port}/pictures/j{i}.jpg").into();
                item["attachments"] = serde_json::json!([{
                    "url": format!("http://127.0.0.1:{port}/audio/j{i}.m4a"),
                    "mime_type": "audio/mp4",
                    "duration_in_seconds": 61,
                }]);
            }
            item
        })
        .collect();
    serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Gaps JSON",
        "items": items,
    })
    .to_string()
}

/// The JSON Feed 1.1 rules an item must keep (jsonfeed.org/version/1.1).
fn check_json_item(item: &serde_json::Value) {
    let string = |key: &str| item[key].as_str();
    assert!(string("id").is_some_and(|s| !s.is_empty()), "id: {item}");
    assert!(
        string("content_html").is_some() || string("content_text").is_some(),
        "content_html or content_text: {item}"
    );
    for key in ["url", "image"] {
        if !item[key].is_null() {
            let url = string(key).unwrap_or_else(|| panic!("{key} is a string: {item}"));
            let url = url::Url::parse(url).unwrap_or_else(|e| panic!("{key}: {e}: {item}"));
            assert!(matches!(url.scheme(), "http" | "https"), "{item}");
        }
    }
    assert!(
        string("url").is_some(),
        "every entry links somewhere: {item}"
    );
    for key in ["date_published", "date_modified"] {
        if let Some(date) = string(key) {
            chrono::DateTime::parse_from_rfc3339(date).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }
    let authors = item["authors"].as_array().expect("authors");
    assert!(!authors.is_empty(), "a byline: {item}");
    for a in authors {
        assert!(a["name"].as_str().is_some_and(|n| !n.is_empty()), "{item}");
    }
    for a in item["attachments"].as_array().into_iter().flatten() {
        assert!(
            a["url"].as_str().is_some() && a["mime_type"].as_str().is_some(),
            "{item}"
        );
        for key in ["size_in_bytes", "duration_in_seconds"] {
            assert!(a[key].is_null() || a[key].is_u64(), "{key}: {item}");
        }
    }
    if let Some(tags) = item.get("tags") {
        assert!(tags
            .as_array()
            .is_some_and(|t| t.iter().all(|t| t.is_string())));
    }
}

/// What feedparser makes of a feed, as JSON: whether it complained, and per entry its
/// title, link, author, files and pictures.
const FEEDPARSER: &str = r#"
import feedparser, json, sys
d = feedparser.parse(sys.argv[1])
print(json.dumps({
    "bozo": bool(d.bozo), "why": str(d.get("bozo_exception", "")),
    "entries": [{
        "title": e.get("title", ""), "link": e.get("link", ""), "author": e.get("author", ""),
        "files": [f.get("href", "") for f in e.get("enclosures", [])],
        "pictures": [t.get("url", "") for t in e.get("media_thumbnail", [])],
    } for e in d.entries],
}))
"#;

#[tokio::test]
#[ignore = "needs ../shared/tools, newsboat and FEEDMERGE_PYTHON with lxml, html5lib, rdflib, feedparser: pass --include-ignored"]
async fn the_feeds_are_valid_whatever_the_outlets_left_out() {
    let (validator, python) = tools();
    let server = FeedServer::start();
    let port = server.addr.port();
    server.put(
        "/gaps.rss",
        Resource::new(rss(port).into_bytes(), "application/rss+xml"),
    );
    server.put(
        "/gaps.atom",
        Resource::new(atom(port).into_bytes(), "application/atom+xml"),
    );
    server.put(
        "/gaps.json",
        Resource::new(json(port).into_bytes(), "application/feed+json"),
    );
    let fixtures = [
        "globaltimes.rss",
        "partner.atom",
        "worldwire.json",
        "digest.rdf",
        "atom03.xml",
        "real/rss091.xml",
        "real/rss092.xml",
        "real/rss1.xml",
        "real/latin2.rss",
        "real/encoding-gb2312.xml",
        "media/bbc.xml",
        "media/giantbomb-podcast.rss",
        "media/expertopinionent.atom",
        "media/therecord-podcast.json",
    ];
    let feed_port = free_port();
    let mut config = ConfigBuilder::new()
        .serve(feed_port)
        .text("feed", "title", "Validity test")
        .text(
            "feed",
            "base_url",
            &format!("http://127.0.0.1:{feed_port}/"),
        )
        .set("feed", "max_entries", "1000")
        // Our hub named in every feed (link rel="hub", JSON Feed hubs), as readers get it.
        .set("websub", "hub", "true")
        .schedule(NEVER);
    for (i, name) in fixtures.iter().enumerate() {
        let path = format!("/fixture/{i}");
        server.put_fixture(&path, name, "application/xml");
        config = config.source(&format!("Fixture {name}"), &server.url(&path));
    }
    // Their files and pictures are on this machine, which a source must be allowed to
    // publish.
    for format in ["rss", "atom", "json"] {
        config = config.source_with(
            &format!("Gaps {format}"),
            &server.url(&format!("/gaps.{format}")),
            "allow_private = true",
        );
    }
    let setup = config.setup();
    let fetch = setup.feedmerge(&["fetch"]);
    assert!(fetch.status.success(), "{}", stderr(&fetch));
    let _daemon = Daemon::start(&setup, "warn");
    let base = format!("http://127.0.0.1:{feed_port}/");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}healthz")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "not serving");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let body = http
        .get(format!("{base}feed.json"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let feed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(feed["version"], "https://jsonfeed.org/version/1.1");
    assert!(feed["title"].is_string() && feed["home_page_url"].is_string());
    let items = feed["items"].as_array().unwrap();
    assert!(
        items.len() > 3 * COMBINATIONS as usize,
        "{} entries",
        items.len()
    );
    items.iter().for_each(check_json_item);
    let with_files = items.iter().filter(|i| i["attachments"].is_array()).count();

    for format in ["atom", "rss"] {
        let url = format!("{base}feed.{format}");
        let out = Command::new(&python)
            .arg(&validator)
            .arg(&url)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            matches!(out.status.code(), Some(0 | 1)) && !report.contains("ERROR"),
            "the W3C validator finds errors in {url}:\n{report}{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let out = Command::new(&python)
            .args(["-c", FEEDPARSER, &url])
            .output()
            .unwrap();
        let read: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(read["bozo"], false, "feedparser on {url}: {}", read["why"]);
        let entries = read["entries"].as_array().unwrap();
        assert_eq!(
            entries.len(),
            items.len(),
            "{url}: the same entries as the JSON Feed"
        );
        for e in entries {
            for key in ["title", "link", "author"] {
                assert!(
                    e[key].as_str().is_some_and(|v| !v.is_empty()),
                    "{url}: {key} of {e}"
                );
            }
        }
        let files = entries
            .iter()
            .filter(|e| !e["files"].as_array().unwrap().is_empty());
        assert_eq!(files.count(), with_files, "{url}: entries with files");
        // The generated entries given media, with their exact files and pictures.
        for i in (0..COMBINATIONS).filter(|i| i & MEDIA != 0 && i & TITLE != 0) {
            let e = entries
                .iter()
                .find(|e| e["title"] == format!("RSS gap {i}"))
                .unwrap_or_else(|| panic!("{url}: RSS gap {i}"));
            assert_eq!(
                e["files"],
                serde_json::json!([server.url(&format!("/audio/{i}.mp3"))])
            );
            assert_eq!(
                e["pictures"],
                serde_json::json!([server.url(&format!("/pictures/{i}.jpg"))])
            );
        }

        let read = newsboat(&url).await;
        assert_eq!(read.len(), items.len(), "newsboat on {url}: every entry");
        assert!(
            read.iter().all(|(_, author, _)| !author.is_empty()),
            "newsboat: bylines"
        );
        // Each entry's audio or video where a podcast client takes it from, for every entry
        // whose title tells it apart.
        for item in items {
            let title = item["title"].as_str().unwrap();
            let playable = item["attachments"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| {
                    let kind = a["mime_type"].as_str().unwrap();
                    kind.starts_with("audio/") || kind.starts_with("video/")
                });
            let mut same_title = read.iter().filter(|(t, _, _)| t == title);
            if let (Some(file), Some(entry), None) =
                (playable, same_title.next(), same_title.next())
            {
                assert_eq!(
                    entry.2,
                    file["url"].as_str().unwrap(),
                    "newsboat on {url}: {title}"
                );
            }
        }
        let mp3 = "https://dts.podtrac.com/redirect.mp3/www.giantbomb.com/podcasts/download/\
                   2823/603__Call_of_Tuesday-10-01-2019-6277737276.mp3";
        let episode = read
            .iter()
            .find(|(t, _, _)| t == "Giant Bombcast 603: Call of Tuesday");
        assert_eq!(
            episode.map(|e| e.2.as_str()),
            Some(mp3),
            "newsboat on {url}"
        );
    }
}

/// Each entry of the feed at `url` as newsboat stores it (title, author, enclosure URL),
/// read from the cache a `newsboat -x reload` leaves.
async fn newsboat(url: &str) -> Vec<(String, String, String)> {
    let home = tempfile::tempdir().unwrap();
    let urls = home.path().join("urls");
    let cache = home.path().join("cache.db");
    std::fs::write(&urls, format!("{url}\n")).unwrap();
    let out = Command::new("newsboat")
        .env("HOME", home.path())
        .arg("-u")
        .arg(&urls)
        .arg("-c")
        .arg(&cache)
        .args(["-C", "/dev/null", "-x", "reload"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "newsboat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&cache)
        .read_only(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::query_as("SELECT title, author, enclosure_url FROM rss_item")
        .fetch_all(&pool)
        .await
        .unwrap()
}
