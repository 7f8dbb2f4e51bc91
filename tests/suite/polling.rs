//! The polling engine against a local server: backoff (through the stored due times, not by
//! sleeping), Retry-After and holds per host, 410, permanent and temporary redirects, the
//! per-host limit, the cap on a decompressed body, HTML pages, feed hints and the spread.
//! What a poll stores of a source runs on both engines (PostgreSQL when
//! `FEEDMERGE_TEST_POSTGRES` names a database).

use std::collections::BTreeSet;

use crate::common::{fixture, stdout, ConfigBuilder, Engine, FeedServer, Resource, Setup};
use axum::http::StatusCode;

crate::on_both_engines!(
    backoff_doubles_with_jitter_up_to_the_cap,
    retry_after_is_obeyed_and_holds_back_the_whole_host,
    gone_disables_the_source_and_it_is_reported,
    a_permanent_redirect_is_remembered_and_a_temporary_one_is_not,
    feed_hints_space_polls_unless_the_source_opts_out,
    sources_on_one_schedule_are_spread_across_the_interval,
);

const MINUTE: i64 = 60_000;

async fn config(
    engine: Engine,
    poll: &[(&str, &str)],
    sources: &[(&str, String)],
) -> Option<Setup> {
    let with_poll = poll.iter().fold(
        ConfigBuilder::new().schedule("*/15 * * * *"),
        |c, (key, value)| c.set("poll", key, value),
    );
    sources
        .iter()
        .fold(with_poll, |c, (name, url)| c.source(name, url))
        .on(engine)
        .await
}

fn line<'a>(out: &'a str, source: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(source))
        .unwrap_or_else(|| panic!("no line for {source} in:\n{out}"))
}

/// (last_attempt_at, next_due_at, consecutive_failures, last_error) of a source.
async fn timing(setup: &Setup, name: &str) -> (i64, Option<i64>, i64, Option<String>) {
    let s = setup.source(name).await;
    (
        s.last_attempt_at.unwrap_or(0),
        s.next_due_at,
        s.consecutive_failures,
        s.last_error,
    )
}

async fn backoff_doubles_with_jitter_up_to_the_cap(engine: Engine) {
    let server = FeedServer::start();
    server.put(
        "/down.xml",
        Resource::status(StatusCode::INTERNAL_SERVER_ERROR),
    );
    let Some(setup) = config(
        engine,
        &[("backoff_cap", "\"1h\"")],
        &[("Down", server.url("/down.xml"))],
    )
    .await
    else {
        return;
    };
    // After the n-th failure: min(cap, 15 min × 2^(n-1)) × (1 + jitter), jitter in [0, 25%),
    // and never more than the cap.
    for (n, base_minutes) in [(1, 15), (2, 30), (3, 60), (4, 60), (5, 60)] {
        let out = setup.feedmerge(&["fetch"]);
        assert!(
            line(&stdout(&out), "Down")
                .contains("500  error: the server answered 500 Internal Server Error"),
            "{out:?}"
        );
        let (attempt, due, failures, error) = timing(&setup, "Down").await;
        assert_eq!(failures, n);
        assert!(error.is_some());
        let wait = due.unwrap() - attempt;
        let base = base_minutes * MINUTE;
        let cap = 60 * MINUTE;
        assert!(
            wait >= base.min(cap) - 1000 && wait <= (base * 5 / 4).min(cap) + 1000,
            "failure {n}: waited {}s",
            wait / 1000
        );
    }
    // One success resets it: the next poll is the next tick (plus the source's spread offset).
    server.put_fixture("/down.xml", "globaltimes.rss", "application/rss+xml");
    assert!(stdout(&setup.feedmerge(&["fetch"])).contains("3 new"));
    let (attempt, due, failures, error) = timing(&setup, "Down").await;
    assert_eq!((failures, error), (0, None));
    assert!(
        due.unwrap() - attempt <= 30 * MINUTE,
        "within a tick and the 15-minute spread"
    );
}

async fn retry_after_is_obeyed_and_holds_back_the_whole_host(engine: Engine) {
    let server = FeedServer::start();
    server.put(
        "/a.xml",
        Resource::status(StatusCode::TOO_MANY_REQUESTS).with_header("retry-after", "7200"),
    );
    server.put_fixture("/b.xml", "globaltimes.rss", "application/rss+xml");
    server.put_fixture("/c.xml", "partner.atom", "application/atom+xml");
    // One request at a time to the host, in config order: A is asked first.
    let Some(setup) = config(
        engine,
        &[("per_host", "1")],
        &[
            ("A", server.url("/a.xml")),
            ("B", server.url("/b.xml")),
            ("C", server.url("/c.xml")),
        ],
    )
    .await
    else {
        return;
    };
    let out = stdout(&setup.feedmerge(&["fetch"]));
    assert!(
        line(&out, "A").contains(
            "429  error: the server answered 429 Too Many Requests and asked to wait 7200s"
        ),
        "{out}"
    );
    for held in ["B", "C"] {
        assert!(
            line(&out, held).contains("held back: its host asked to wait until"),
            "{out}"
        );
    }
    assert_eq!(
        server.all_seen().len(),
        1,
        "B and C were not requested: {:?}",
        server.all_seen()
    );
    let (attempt, due, _, _) = timing(&setup, "A").await;
    // (The attempt is stamped a moment after the due time is worked out.)
    assert!(
        due.unwrap() - attempt >= 120 * MINUTE - 1000,
        "Retry-After: 7200 obeyed"
    );
    for held in ["B", "C"] {
        let (_, due, failures, _) = timing(&setup, held).await;
        assert!(
            due.unwrap() >= attempt + 120 * MINUTE,
            "{held} waits for the host too"
        );
        assert_eq!(failures, 0, "being held back is not a failure");
    }
    // A second `fetch` run holds back A itself, not only the others of its host.
    let out = stdout(&setup.feedmerge(&["fetch"]));
    for held in ["A", "B", "C"] {
        assert!(
            line(&out, held).contains("held back: its host asked to wait until"),
            "{out}"
        );
    }
    assert_eq!(server.all_seen().len(), 1, "{:?}", server.all_seen());
    // A 503 with an HTTP-date Retry-After is obeyed as well; polling A now takes --force,
    // which says so.
    let at = (chrono::Utc::now() + chrono::Duration::hours(3))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    server.put(
        "/a.xml",
        Resource::status(StatusCode::SERVICE_UNAVAILABLE).with_header("retry-after", &at),
    );
    let forced = setup.feedmerge(&["fetch", "--source", "A", "--force"]);
    assert!(
        crate::common::stderr(&forced).contains("--force: polled although its host asked to wait"),
        "{}",
        crate::common::stderr(&forced)
    );
    assert_eq!(server.all_seen().len(), 2);
    let (attempt, due, failures, _) = timing(&setup, "A").await;
    assert_eq!(failures, 2);
    assert!(
        due.unwrap() - attempt >= 179 * MINUTE,
        "{}",
        (due.unwrap() - attempt) / MINUTE
    );
}

async fn gone_disables_the_source_and_it_is_reported(engine: Engine) {
    let server = FeedServer::start();
    server.put("/gone.xml", Resource::status(StatusCode::GONE));
    server.put_fixture("/ok.xml", "globaltimes.rss", "application/rss+xml");
    let Some(setup) = config(
        engine,
        &[],
        &[
            ("Gone", server.url("/gone.xml")),
            ("Fine", server.url("/ok.xml")),
        ],
    )
    .await
    else {
        return;
    };
    let out = stdout(&setup.feedmerge(&["fetch"]));
    assert!(
        line(&out, "Gone").contains("410  error: the server answered 410 Gone"),
        "{out}"
    );
    let (_, due, _, _) = timing(&setup, "Gone").await;
    assert_eq!(due, None, "never due again");
    let table = stdout(&setup.feedmerge(&["sources"]));
    let row = line(&table, "Gone");
    assert!(
        row.contains("disabled") && row.contains("the feed is gone (410 Gone on"),
        "{table}"
    );
    assert!(line(&table, "Fine").contains("ok 200"), "{table}");
    // The next cycle leaves it alone; it is kept, with its history.
    let out = stdout(&setup.feedmerge(&["fetch"]));
    assert!(!out.contains("Gone"), "{out}");
    assert_eq!(server.seen("/gone.xml").len(), 1);
    // Asked for by name, it is tried again (the user may know better).
    setup.feedmerge(&["fetch", "--source", "Gone"]);
    assert_eq!(server.seen("/gone.xml").len(), 2);
}

async fn a_permanent_redirect_is_remembered_and_a_temporary_one_is_not(engine: Engine) {
    let server = FeedServer::start();
    server.put(
        "/old.xml",
        Resource::redirect(StatusCode::MOVED_PERMANENTLY, "/new.xml"),
    );
    server.put_fixture("/new.xml", "globaltimes.rss", "application/rss+xml");
    server.put(
        "/via-temp.xml",
        Resource::redirect(StatusCode::FOUND, "/elsewhere.xml"),
    );
    server.put_fixture("/elsewhere.xml", "atom03.xml", "application/atom+xml");
    let Some(setup) = config(
        engine,
        &[],
        &[
            ("Moved", server.url("/old.xml")),
            ("Temp", server.url("/via-temp.xml")),
        ],
    )
    .await
    else {
        return;
    };
    let out = stdout(&setup.feedmerge(&["fetch"]));
    let moved = line(&out, "Moved");
    assert!(moved.contains("200  3 new"), "{out}");
    assert!(
        moved.contains(&format!(
            "moved permanently to {}: update its url in the config",
            server.url("/new.xml")
        )),
        "{out}"
    );
    assert!(
        line(&out, "Temp").contains("200  1 new") && !line(&out, "Temp").contains("moved"),
        "{out}"
    );
    let table = stdout(&setup.feedmerge(&["sources"]));
    assert!(
        line(&table, "Moved").contains("moved permanently to"),
        "{table}"
    );

    setup.feedmerge(&["fetch"]);
    assert_eq!(
        server.seen("/old.xml").len(),
        1,
        "the old address is not asked again"
    );
    assert_eq!(server.seen("/new.xml").len(), 2);
    assert_eq!(
        server.seen("/via-temp.xml").len(),
        2,
        "a temporary redirect is not remembered"
    );
    // The remembered address keeps its validators: the second poll was conditional.
    assert!(server.seen("/new.xml")[1].if_none_match.is_some());
}

#[tokio::test]
async fn requests_per_host_never_exceed_the_limit() {
    in_flight_at_most(&[("concurrency", "16"), ("per_host", "2")], 2).await;
}

#[tokio::test]
async fn fetches_at_once_never_exceed_the_limit() {
    in_flight_at_most(&[("concurrency", "3"), ("per_host", "16")], 3).await;
}

/// 12 slow feeds on one host, fetched under `limits`: exactly `most` are in flight at once.
async fn in_flight_at_most(limits: &[(&str, &str)], most: usize) {
    let server = FeedServer::start();
    let mut sources = Vec::new();
    for i in 0..12 {
        let mut slow = Resource::new(fixture("globaltimes.rss"), "application/rss+xml");
        slow.delay = std::time::Duration::from_millis(150);
        server.put(&format!("/feed{i}.xml"), slow);
        sources.push((format!("Outlet {i}"), server.url(&format!("/feed{i}.xml"))));
    }
    let sources: Vec<(&str, String)> = sources
        .iter()
        .map(|(n, u)| (n.as_str(), u.clone()))
        .collect();
    let setup = config(Engine::Sqlite, limits, &sources)
        .await
        .expect("SQLite");
    let out = setup.feedmerge(&["fetch"]);
    assert!(out.status.success());
    assert_eq!(server.all_seen().len(), 12);
    assert_eq!(
        server.max_in_flight(),
        most,
        "{most} at a time under {limits:?}, no more, and not fewer"
    );
}

#[tokio::test]
async fn the_body_cap_holds_on_the_decompressed_size() {
    let server = FeedServer::start();
    let mut bomb = Resource::new(fixture("inflates-to-2mib.rss.gz"), "application/rss+xml");
    bomb.headers
        .push(("content-encoding".into(), "gzip".into()));
    server.put("/bomb.xml", bomb);
    let setup = config(
        Engine::Sqlite,
        &[("max_body", "\"1MiB\"")],
        &[("Bomb", server.url("/bomb.xml"))],
    )
    .await
    .expect("SQLite");
    let out = stdout(&setup.feedmerge(&["fetch"]));
    assert!(
        line(&out, "Bomb").contains("error: the feed is larger than 1048576 bytes"),
        "{out}"
    );
    assert!(
        fixture("inflates-to-2mib.rss.gz").len() < 4096,
        "it is the inflated size that is too large"
    );
    // With room for it, the same body is read whole: gzip is decoded.
    let roomy = config(
        Engine::Sqlite,
        &[("max_body", "\"3MiB\"")],
        &[("Bomb", server.url("/bomb.xml"))],
    )
    .await
    .expect("SQLite");
    assert!(line(&stdout(&roomy.feedmerge(&["fetch"])), "Bomb").contains("200  1 new"));
}

#[tokio::test]
async fn an_html_page_names_the_feeds_it_advertises() {
    let server = FeedServer::start();
    let page = r#"<!DOCTYPE html><html><head><title>News</title>
        <link rel="stylesheet" href="/style.css">
        <link rel="alternate" type="application/rss+xml" title="RSS" href="/rss/world.xml">
        <LINK REL="alternate" TYPE="application/atom+xml" HREF="https://cdn.example.com/atom.xml?a=1&amp;b=2">
        </head><body>Hello</body></html>"#;
    server.put(
        "/",
        Resource::new(page.as_bytes().to_vec(), "text/html; charset=utf-8"),
    );
    let setup = config(Engine::Sqlite, &[], &[("Homepage", server.url("/"))])
        .await
        .expect("SQLite");
    let out = stdout(&setup.feedmerge(&["fetch"]));
    let expected = format!(
        "200  error: this is an HTML page, not a feed; the page links to these feeds: {}, https://cdn.example.com/atom.xml?a=1&b=2",
        server.url("/rss/world.xml")
    );
    assert!(line(&out, "Homepage").contains(&expected), "{out}");
}

async fn feed_hints_space_polls_unless_the_source_opts_out(engine: Engine) {
    let server = FeedServer::start();
    let ttl = String::from_utf8(fixture("globaltimes.rss"))
        .unwrap()
        .replace("<channel>", "<channel><ttl>180</ttl>");
    server.put(
        "/ttl.xml",
        Resource::new(ttl.clone().into_bytes(), "application/rss+xml"),
    );
    server.put(
        "/ttl-ignored.xml",
        Resource::new(ttl.into_bytes(), "application/rss+xml"),
    );
    let sy = String::from_utf8(fixture("globaltimes.rss"))
        .unwrap()
        .replace("<rss version=\"2.0\"", "<rss version=\"2.0\" xmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\"")
        .replace("<channel>", "<channel><sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>");
    server.put(
        "/sy.xml",
        Resource::new(sy.into_bytes(), "application/rss+xml"),
    );
    server.put(
        "/max-age.xml",
        Resource::new(fixture("partner.atom"), "application/atom+xml")
            .with_header("cache-control", "public, max-age=10800"),
    );
    let mut config = ConfigBuilder::new().schedule("*/15 * * * *");
    for (name, path, respect) in [
        ("Ttl", "/ttl.xml", true),
        ("Ignored", "/ttl-ignored.xml", false),
        ("Sy", "/sy.xml", true),
        ("MaxAge", "/max-age.xml", true),
    ] {
        let hints = format!("respect_feed_hints = {respect}");
        config = config.source_with(name, &server.url(path), &hints);
    }
    let Some(setup) = config.on(engine).await else {
        return;
    };
    assert!(setup.feedmerge(&["fetch"]).status.success());
    // In whole minutes, allowing the second by which the attempt is stamped after the due
    // time is worked out.
    let wait = |t: (i64, Option<i64>, i64, Option<String>)| (t.1.unwrap() - t.0 + 1000) / MINUTE;
    assert!(
        wait(timing(&setup, "Ttl").await) >= 180,
        "<ttl>180</ttl>: three hours"
    );
    assert!(
        wait(timing(&setup, "Ignored").await) < 30,
        "respect_feed_hints = false: the schedule alone"
    );
    assert!(
        wait(timing(&setup, "Sy").await) >= 360,
        "daily / 4: six hours"
    );
    assert!(
        wait(timing(&setup, "MaxAge").await) >= 180,
        "max-age=10800: three hours"
    );
    // The hint holds on a 304 too.
    assert!(setup
        .feedmerge(&["fetch", "--source", "Ttl"])
        .status
        .success());
    assert_eq!(server.seen("/ttl.xml").len(), 2);
    assert!(wait(timing(&setup, "Ttl").await) >= 180);
}

async fn sources_on_one_schedule_are_spread_across_the_interval(engine: Engine) {
    let server = FeedServer::start();
    server.put_fixture("/feed.xml", "globaltimes.rss", "application/rss+xml");
    let names: Vec<String> = (0..40).map(|i| format!("Outlet {i:02}")).collect();
    let sources: Vec<(&str, String)> = names
        .iter()
        .map(|n| (n.as_str(), server.url("/feed.xml")))
        .collect();
    let Some(setup) = config(engine, &[("concurrency", "8"), ("per_host", "8")], &sources).await
    else {
        return;
    };
    assert!(setup.feedmerge(&["fetch"]).status.success());
    let rows: Vec<(i64, i64)> = setup
        .sources()
        .await
        .into_iter()
        .map(|s| (s.last_attempt_at.unwrap_or(0), s.next_due_at.unwrap_or(0)))
        .collect();
    // Polled now, outside their slots, none is due again within half an interval: no source
    // is fetched twice in a row because its slot happened to come up a second later.
    for (attempt, due) in &rows {
        assert!(
            due - attempt >= 15 * MINUTE / 2,
            "due again {}s after its first poll",
            (due - attempt) / 1000
        );
    }
    let due: Vec<i64> = rows.iter().map(|(_, due)| *due).collect();
    // Each is due at the next quarter hour plus its own offset within that quarter.
    let distinct_seconds: BTreeSet<i64> = due.iter().map(|d| d / 1000).collect();
    assert!(
        distinct_seconds.len() >= 38,
        "40 sources, nearly all in different seconds: {distinct_seconds:?}"
    );
    let spread = due.iter().max().unwrap() - due.iter().min().unwrap();
    assert!(
        spread > 5 * MINUTE && spread < 30 * MINUTE,
        "spread over the interval: {}s",
        spread / 1000
    );
}

#[tokio::test]
async fn the_timeout_covers_the_whole_fetch_redirects_included() {
    let server = FeedServer::start();
    // Each hop answers well within the timeout; together they do not.
    for (from, to) in [
        ("/hop1", "/hop2"),
        ("/hop2", "/hop3"),
        ("/hop3", "/feed.xml"),
    ] {
        let mut hop = Resource::redirect(StatusCode::FOUND, to);
        hop.delay = std::time::Duration::from_millis(400);
        server.put(from, hop);
    }
    server.put_fixture("/feed.xml", "globaltimes.rss", "application/rss+xml");
    let setup = config(
        Engine::Sqlite,
        &[("timeout", "\"1s\"")],
        &[("Slow Hops", server.url("/hop1"))],
    )
    .await
    .expect("SQLite");
    let out = stdout(&setup.feedmerge(&["fetch"]));
    assert!(
        line(&out, "Slow Hops").contains("error: no complete answer within 1s"),
        "{out}"
    );
    assert!(server.seen("/feed.xml").is_empty());
}
