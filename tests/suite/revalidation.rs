//! A reader's conditional request for a page it has, answered in-process by the daemon
//! (`App::run`) whose store counts every connection it takes: a 304 reads nothing from the
//! database and carries no body, on every cached route; and a poll that changes the feed
//! changes its ETag at once.

use std::time::{Duration, Instant};

use crate::common::{free_port, ConfigBuilder, FeedServer, Resource, NEVER, STALL};
use reqwest::header::{
    CACHE_CONTROL, CONTENT_LENGTH, ETAG, IF_NONE_MATCH, LAST_MODIFIED, LINK, VARY,
    X_CONTENT_TYPE_OPTIONS,
};

fn rss(items: &[&str]) -> Resource {
    let items: String = items
        .iter()
        .enumerate()
        .map(|(i, title)| {
            format!(
                "<item><guid>{title}</guid><title>{title}</title>\
                 <link>https://outlet.example/{i}</link>\
                 <pubDate>Mon, 0{} Sep 2025 10:00:00 +0000</pubDate>\
                 <description>The story of {title}, told at length.</description></item>",
                i + 1
            )
        })
        .collect();
    let body = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Outlet</title>\
         <link>https://outlet.example/</link>{items}</channel></rss>"
    );
    Resource::new(body.into_bytes(), "application/rss+xml")
}

/// Polls every source once, now, as `feedmerge fetch` beside the daemon would.
async fn poll(app: &feedmerge::App, shutdown: &feedmerge::Shutdown) {
    let reports = app.fetch(&[], true, shutdown.clone(), |_, _, _| {}).await;
    assert!(reports.is_ok(), "{reports:?}");
}

/// Waits until the store has taken no connection for half a second (the daemon's start-up
/// work done), and gives the count then.
async fn quiet(store: &feedmerge::Store) -> u64 {
    let started = Instant::now();
    let mut last = store.connections_taken();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = store.connections_taken();
        if now == last || started.elapsed() > STALL {
            return now;
        }
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_304_reads_nothing_and_a_changed_feed_gets_a_new_etag_at_once() {
    let outlet = FeedServer::start();
    outlet.put("/feed.rss", rss(&["Harvest", "Election"]));
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .set("websub", "hub", "true")
        .source_with(
            "Outlet",
            &outlet.url("/feed.rss"),
            "categories = [\"world\"]",
        )
        .setup();
    let config = feedmerge::Config::load(&setup.config).unwrap();
    let app = feedmerge::App::open(config).await.unwrap();
    let store = app.store().clone();
    let (stop, shutdown) = feedmerge::shutdown_channel();
    let daemon = tokio::spawn(app.clone().run(shutdown.clone()));
    poll(&app, &shutdown).await;

    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    let feed = loop {
        match http.get(format!("{base}/feed.json")).send().await {
            Ok(r) if r.status() == 200 => {
                break serde_json::from_slice::<serde_json::Value>(&r.bytes().await.unwrap())
                    .unwrap()
            }
            _ if started.elapsed() > STALL => panic!("the daemon does not answer"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let entry = feed["items"][0]["id"].as_str().unwrap().to_owned();
    let id = entry.rsplit('/').next().unwrap();
    let targets = [
        "/feed.atom".to_owned(),
        "/feed.rss?page=1".to_owned(),
        "/categories/world.json".to_owned(),
        "/".to_owned(),
        format!("/entries/{id}"),
        format!("/entries/{id}.json"),
        "/search?q=harvest".to_owned(),
        "/search.atom?q=election".to_owned(),
        "/sources.opml".to_owned(),
    ];
    let mut etags = Vec::new();
    for target in &targets {
        let r = http.get(format!("{base}{target}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{target}");
        let etag = r.headers()[ETAG].to_str().unwrap().to_owned();
        etags.push(etag);
    }

    // The conditional requests, each target's 20 times: every one a 304 with the headers of
    // the 200 and no body, and not one connection taken from the store's pools. (Should a
    // background task of the daemon take one meanwhile, the round is run again: a 304 that
    // read the database would take one in every round.)
    let mut taken_in_rounds = Vec::new();
    for _ in 0..3 {
        let before = quiet(&store).await;
        for (target, etag) in targets.iter().zip(&etags) {
            for _ in 0..20 {
                let r = http
                    .get(format!("{base}{target}"))
                    .header(IF_NONE_MATCH, etag)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 304, "{target}");
                let h = r.headers();
                assert_eq!(h[ETAG], etag.as_str(), "{target}");
                assert!(h.contains_key(LAST_MODIFIED), "{target}");
                assert_eq!(h[VARY], "accept-encoding", "{target}");
                assert_eq!(h[CACHE_CONTROL], "public, max-age=60", "{target}");
                assert_eq!(h[X_CONTENT_TYPE_OPTIONS], "nosniff", "{target}");
                if target.starts_with("/feed.") {
                    assert!(h[LINK].to_str().unwrap().contains("rel=\"hub\""));
                }
                assert!(!h.contains_key(CONTENT_LENGTH) || h[CONTENT_LENGTH] == "0");
                assert!(r.bytes().await.unwrap().is_empty(), "{target}");
            }
        }
        taken_in_rounds.push(store.connections_taken() - before);
        if taken_in_rounds.last() == Some(&0) {
            break;
        }
    }
    assert_eq!(
        taken_in_rounds.last(),
        Some(&0),
        "connections taken by 180 conditional requests, round by round: {taken_in_rounds:?}"
    );

    // A poll that changes the feed: the next request with the old ETag gets the new feed.
    let (atom_etag, json_etag) = (etags[0].clone(), etags[2].clone());
    outlet.put("/feed.rss", rss(&["Harvest", "Election", "Flood"]));
    poll(&app, &shutdown).await;
    for (target, old) in [
        ("/feed.atom", &atom_etag),
        ("/categories/world.json", &json_etag),
    ] {
        let r = http
            .get(format!("{base}{target}"))
            .header(IF_NONE_MATCH, old)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{target} right after the poll");
        assert_ne!(r.headers()[ETAG], old.as_str(), "{target}");
        assert!(r.text().await.unwrap().contains("Flood"), "{target}");
    }

    stop.fire();
    let ran = tokio::time::timeout(STALL, daemon).await;
    assert!(matches!(ran, Ok(Ok(Ok(())))), "{ran:?}");
}
