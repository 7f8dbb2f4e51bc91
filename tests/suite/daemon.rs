//! `feedmerge run` as a user runs it: it polls at start, serves the merged feed in three
//! formats and `/healthz` over HTTP, and stops cleanly on SIGTERM within 10 seconds, even
//! with a fetch in flight to a server that has not answered.

use crate::common;

use std::time::Duration;

use crate::common::{free_port, ConfigBuilder, Daemon, FeedServer, Resource, NEVER};

async fn get(client: &reqwest::Client, url: &str) -> (u16, String, String) {
    let r = client.get(url).send().await.expect(url);
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, ct, r.text().await.expect("body"))
}

#[tokio::test]
async fn run_serves_the_merged_feed_and_stops_on_sigterm() {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    server.put_fixture("/partner.atom", "partner.atom", "application/atom+xml");
    // A server that takes a minute to answer: shutdown must not wait for it.
    let mut slow = Resource::new(
        b"<rss version=\"2.0\"><channel></channel></rss>".to_vec(),
        "application/rss+xml",
    );
    slow.delay = Duration::from_secs(60);
    server.put("/slow.rss", slow);
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .text("feed", "title", "Daemon test")
        .schedule(NEVER)
        .source("Global Times", &server.url("/gt.rss"))
        .source("Partner Wire", &server.url("/partner.atom"))
        .source("Dead Link", &server.url("/nothing-here.xml"))
        .source("Slow Outlet", &server.url("/slow.rss"))
        .setup();
    let daemon = Daemon::start(&setup, "warn");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");

    // Never-polled sources are polled at start, not at their next cron tick (next January).
    let mut health = serde_json::Value::Null;
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            health = serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or_default();
            if health["stories"] == 4 && health["failing_sources"] == 1 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(
        health["stories"], 4,
        "3 from Global Times, the partner's re-run merged, 1 of its own: {health}"
    );
    assert_eq!(health["sources"], 4);
    assert_eq!(health["failing_sources"], 1, "the 404 source: {health}");
    assert!(
        health["last_poll"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{health}"
    );

    let (status, ct, atom) = get(&client, &format!("{base}/feed.atom")).await;
    assert_eq!(
        (status, ct.as_str()),
        (200, "application/atom+xml; charset=utf-8")
    );
    let atom = atom_syndication::Feed::read_from(atom.as_bytes()).expect("valid Atom");
    assert_eq!(atom.entries().len(), 4);
    let (status, ct, rss) = get(&client, &format!("{base}/feed.rss")).await;
    assert_eq!(
        (status, ct.as_str()),
        (200, "application/rss+xml; charset=utf-8")
    );
    assert_eq!(
        rss::Channel::read_from(rss.as_bytes())
            .expect("valid RSS")
            .items()
            .len(),
        4
    );
    let (status, ct, json) = get(&client, &format!("{base}/feed.json")).await;
    assert_eq!(
        (status, ct.as_str()),
        (200, "application/feed+json; charset=utf-8")
    );
    let json: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(json["items"].as_array().map(Vec::len), Some(4));
    // Every format shows the same entries under the same ids.
    let atom_ids: Vec<&str> = atom.entries().iter().map(|e| e.id()).collect();
    let json_ids: Vec<&str> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(atom_ids, json_ids);

    // The feeds' web page (their `alternate` link) exists, and lets readers discover them.
    let (status, ct, page) = get(&client, &format!("{base}/")).await;
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    for (path, mime) in [
        ("feed.atom", "application/atom+xml"),
        ("feed.rss", "application/rss+xml"),
        ("feed.json", "application/feed+json"),
    ] {
        assert!(
            page.contains(&format!("rel=\"alternate\" type=\"{}\"", mime))
                && page.contains(&format!("href=\"{path}\"")),
            "{page}"
        );
    }
    let (status, _, _) = get(&client, &format!("{base}/nope")).await;
    assert_eq!(status, 404);

    assert_eq!(
        server.seen("/slow.rss").len(),
        0,
        "the slow fetch is still in flight"
    );
    daemon.signal("TERM");
    let (exit, stderr) = daemon.wait(Duration::from_secs(10));
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    assert!(
        stderr.contains("Dead Link") && stderr.contains("404"),
        "the failure is logged with its source: {stderr}"
    );

    // The database it leaves is consistent and complete.
    setup.assert_intact().await;
    let error = setup.source("Dead Link").await.last_error;
    assert_eq!(error.as_deref(), Some("the server answered 404 Not Found"));
}

#[test]
fn log_lines_are_json_objects_with_the_source_on_request() {
    let server = FeedServer::start();
    let setup = ConfigBuilder::new()
        .source("Dead Link", &server.url("/missing.xml"))
        .setup();
    let out = setup.feedmerge(&["--log-format", "json", "fetch"]);
    let log = common::stderr(&out);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    let failed = lines
        .iter()
        .find(|l| l["fields"]["message"] == "poll failed")
        .unwrap_or_else(|| panic!("no poll failure logged: {log}"));
    assert_eq!(failed["level"], "WARN");
    assert_eq!(failed["fields"]["source"], "Dead Link");
    assert_eq!(failed["fields"]["status"], 404);
}
