//! Live reload: editing the config file of a running `feedmerge run` adds and removes sources
//! within seconds; an edit that does not validate is refused, the old config keeps serving,
//! and the error (file, line, key) shows on `/healthz` until it is fixed.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{
    free_port, health_until, text, ConfigBuilder, Daemon, FeedServer, Setup, NEVER,
};

const TEN_SECONDS: Duration = Duration::from_secs(10);

fn config(port: u16, sources: &[(&str, String)], extra: &str) -> String {
    let base = ConfigBuilder::new()
        .serve(port)
        .text("feed", "title", "Reload test")
        .text("storage", "on_remove", "purge")
        .schedule(NEVER);
    sources
        .iter()
        .fold(base, |c, (name, url)| c.source(name, url))
        .raw(extra)
        .build()
}

/// The `alternate` link of every entry of the served Atom feed.
async fn feed_links(client: &reqwest::Client, port: u16) -> Vec<String> {
    let body = text(client, &format!("http://127.0.0.1:{port}/feed.atom")).await;
    let feed = atom_syndication::Feed::read_from(body.as_bytes()).expect("valid Atom");
    feed.entries()
        .iter()
        .flat_map(|e| e.links().iter().find(|l| l.rel() == "alternate"))
        .map(|l| l.href().to_owned())
        .collect()
}

#[tokio::test]
async fn edits_to_the_config_apply_while_running_and_bad_ones_are_refused() {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    server.put_fixture("/partner.atom", "partner.atom", "application/atom+xml");
    let port = free_port();
    let gt = ("Global Times", server.url("/gt.rss"));
    let partner = ("Partner Wire", server.url("/partner.atom"));
    let setup = Setup::new(&config(port, std::slice::from_ref(&gt), ""));
    let daemon = Daemon::start(&setup, "info");
    let client = reqwest::Client::new();

    let health = health_until(&client, port, TEN_SECONDS, |h| h["stories"] == 3).await;
    assert_eq!(health["stories"], 3, "the Global Times feed: {health}");
    assert!(server.seen("/partner.atom").is_empty());

    // Add a source: it is polled at once, and its copy of a Global Times story (same link)
    // merges into it.
    std::fs::write(
        &setup.config,
        config(port, &[gt.clone(), partner.clone()], ""),
    )
    .expect("edit");
    let health = health_until(&client, port, TEN_SECONDS, |h| {
        h["sources"] == 2 && h["articles"] == 4 && h["stories"] == 4
    })
    .await;
    assert_eq!(
        (&health["sources"], &health["articles"], &health["stories"]),
        (&2.into(), &4.into(), &4.into()),
        "after adding Partner Wire: {health}"
    );
    assert_eq!(server.seen("/partner.atom").len(), 1);
    assert_eq!(health["status"], "ok");

    // A changed schedule takes effect: Global Times, due next January, becomes due within
    // the next quarter hour (plus its spread offset, at most 15 minutes). Its stored state
    // (the ETag for the next conditional request) is kept.
    let due = || async {
        let s = setup.source("Global Times").await;
        (s.next_due_at, s.etag)
    };
    let (before, etag) = due().await;
    let in_a_month = chrono::Utc::now().timestamp_millis() + 30 * 24 * 3600 * 1000;
    assert!(before.is_some_and(|t| t > in_a_month), "{before:?}");
    assert!(etag.is_some());
    let quarterly = config(port, &[gt.clone(), partner.clone()], "").replace(
        "name = \"Global Times\"\n",
        "name = \"Global Times\"\nschedule = \"*/15 * * * *\"\n",
    );
    std::fs::write(&setup.config, quarterly).expect("edit");
    let started = Instant::now();
    let mut after = due().await;
    while after.0 == before && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = due().await;
    }
    let soon = chrono::Utc::now().timestamp_millis() + 30 * 60 * 1000;
    assert!(after.0.is_some_and(|t| t <= soon), "{after:?}");
    assert_eq!(after.1, etag, "the validators are kept");

    // An edit that does not validate: refused, with its line; the old config keeps serving.
    let bad = config(
        port,
        &[gt.clone(), partner.clone()],
        "[[sources]]\nname = \"Broken\"\nurl = \"https://example.org/feed\"\nschedule = \"every tuesday\"\n",
    );
    let line = bad
        .lines()
        .position(|l| l.starts_with("schedule = \"every"))
        .map(|i| i + 1)
        .expect("line");
    std::fs::write(&setup.config, &bad).expect("edit");
    let health = health_until(&client, port, TEN_SECONDS, |h| h["status"] == "degraded").await;
    assert_eq!(health["status"], "degraded", "{health}");
    let error = health["config_error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("feedmerge.toml:{line}:")) && error.contains("sources[2].schedule"),
        "the error names file, line and key: {error}"
    );
    assert_eq!(health["sources"], 2, "still the old config: {health}");
    let status = text(&client, &format!("http://127.0.0.1:{port}/status")).await;
    assert!(
        status.contains("the previous config is still running")
            && status.contains(&format!("feedmerge.toml:{line}:")),
        "{status}"
    );
    assert_eq!(feed_links(&client, port).await.len(), 4);

    // Undo the edit: the file holds the config in force again, and nothing is wrong.
    std::fs::write(
        &setup.config,
        config(port, &[gt.clone(), partner.clone()], "").replace(
            "name = \"Global Times\"\n",
            "name = \"Global Times\"\nschedule = \"*/15 * * * *\"\n",
        ),
    )
    .expect("edit");
    let health = health_until(&client, port, TEN_SECONDS, |h| h["status"] == "ok").await;
    assert!(health["config_error"].is_null(), "{health}");

    // Now remove Global Times: its articles are purged (on_remove = "purge"); the
    // story both carried stays, now under the partner's headline and link.
    std::fs::write(
        &setup.config,
        config(port, std::slice::from_ref(&partner), ""),
    )
    .expect("edit");
    let health = health_until(&client, port, TEN_SECONDS, |h| {
        h["sources"] == 1 && h["articles"] == 2 && h["status"] == "ok"
    })
    .await;
    assert_eq!(
        (&health["sources"], &health["articles"], &health["stories"]),
        (&1.into(), &2.into(), &2.into()),
        "after removing Global Times: {health}"
    );
    assert!(health["config_error"].is_null(), "{health}");
    let partner_feed =
        atom_syndication::Feed::read_from(&common::fixture("partner.atom")[..]).expect("fixture");
    let mut own: Vec<String> = partner_feed
        .entries()
        .iter()
        .flat_map(|e| e.links().first())
        .map(|l| {
            url::Url::parse(&server.url("/partner.atom"))
                .and_then(|base| base.join(l.href()))
                .expect("link")
                .to_string()
        })
        .collect();
    let mut links = feed_links(&client, port).await;
    own.sort();
    links.sort();
    assert_eq!(links, own, "the partner's own links");

    daemon.signal("TERM");
    let (status, log) = daemon.wait(Duration::from_secs(10));
    assert!(status.success(), "{log}");
    assert!(log.contains("config reloaded"), "{log}");
    assert!(log.contains("config not reloaded"), "{log}");
    setup.assert_intact().await;
}
