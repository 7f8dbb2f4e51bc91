//! Every entry id is a working address: `/entries/<id>` is the story's page (its published
//! version, then every outlet that carried it with its own headline, time and link, oldest
//! first) and `/entries/<id>.json` the same as JSON, both with validators and 304s; an unknown
//! id is a short 404 page; the river page links each story's outlets to its page. On both
//! engines, with the seed story carried by three outlets under three headlines.

use std::time::{Duration, Instant};

use crate::common::{free_port, ConfigBuilder, Daemon, Engine, FeedServer};
use reqwest::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};

crate::on_both_engines!(a_story_page_lists_every_outlet_that_carried_it);

const SEED_LINK: &str = "https://www.globaltimes.cn/page/202405/1312466.shtml";

/// The outlets of the seed story, oldest first: name, headline, link.
const CARRIERS: [(&str, &str, &str); 3] = [
    (
        "Global Times",
        "Two countries’ coordination ‘propelling establishment of a fair multipolar world order’",
        SEED_LINK,
    ),
    (
        "Partner Wire",
        "Putin: Russia open to Ukraine dialogue, praises China’s <balanced> stance",
        "https://www.globaltimes.cn/page/202405/1312466.shtml?utm_source=partner&utm_medium=atom&utm_campaign=syndication#comments",
    ),
    (
        "Worldwire",
        "Russia ready for Ukraine talks, Putin tells Xinhua before China visit",
        "http://www.globaltimes.cn/page/202405/1312466.shtml?fbclid=IwAR0xyz&gclid=abc",
    ),
];

async fn a_story_page_lists_every_outlet_that_carried_it(engine: Engine) {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    server.put_fixture("/partner.atom", "partner.atom", "application/atom+xml");
    server.put_fixture("/worldwire.json", "worldwire.json", "application/feed+json");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/");
    let Some(setup) = ConfigBuilder::new()
        .serve(port)
        .text("feed", "title", "Pages test")
        .text("feed", "base_url", &base)
        .schedule(crate::common::NEVER)
        .source("Global Times", &server.url("/gt.rss"))
        .source("Partner Wire", &server.url("/partner.atom"))
        .source("Worldwire", &server.url("/worldwire.json"))
        .on(engine)
        .await
    else {
        return;
    };
    let _daemon = Daemon::start(&setup, "warn");
    let http = reqwest::Client::new();
    let started = Instant::now();
    let item = loop {
        if let Ok(r) = http.get(format!("{base}feed.json")).send().await {
            let feed: serde_json::Value =
                serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or_default();
            let items = feed["items"].as_array().cloned().unwrap_or_default();
            let seed = items.into_iter().find(|i| i["url"] == SEED_LINK);
            if let Some(seed) =
                seed.filter(|s| s["_feedmerge"]["also"].as_array().unwrap().len() == 2)
            {
                break seed;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(20), "not merged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let page = item["id"].as_str().unwrap().to_owned();
    assert!(page.starts_with(&format!("{base}entries/")), "{page}");

    // The page at the entry id.
    let r = http.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let etag = r.headers()[ETAG].clone();
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script"), "no script");
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut at = 0;
    for (name, headline, link) in CARRIERS {
        let row = format!("<a href=\"{}\">{}</a>", escape(link), escape(headline));
        let found = html[at..]
            .find(&row)
            .unwrap_or_else(|| panic!("{name}'s row, after the earlier ones: {row}\n{html}"));
        at += found;
        assert!(html[at..].contains(name), "{name}");
    }
    assert!(html.contains("Carried by 3 outlets"), "{html}");
    assert!(
        html.contains("President Vladimir Putin"),
        "the text: {html}"
    );
    let again = http
        .get(&page)
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // The same as JSON.
    let r = http.get(format!("{page}.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let story: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(story["id"], page);
    assert_eq!(story["url"], SEED_LINK);
    let outlets: Vec<(&str, &str, &str)> = story["outlets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap(),
                o["title"].as_str().unwrap(),
                o["url"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(outlets, CARRIERS.to_vec());
    let times: Vec<&str> = story["outlets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["date_published"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        [
            "2024-05-15T13:48:00Z",
            "2024-05-16T06:30:00Z",
            "2024-05-16T09:15:00Z"
        ],
        "each outlet's own time"
    );

    // Unknown and malformed ids.
    for missing in [
        "entries/00000000000000000000000000000000",
        "entries/..%2F..%2Fetc",
        "entries/x.json",
    ] {
        let r = http.get(format!("{base}{missing}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{missing}");
        assert!(
            r.text().await.unwrap().contains("No such story"),
            "{missing}"
        );
    }

    // The river page links the story's outlets to its page.
    let river = http.get(&base).send().await.unwrap().text().await.unwrap();
    let relative = page.trim_start_matches(&base);
    assert!(
        river.contains(&format!("<a href=\"{relative}\">3 outlets</a>")),
        "{river}"
    );
}
