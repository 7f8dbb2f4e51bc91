//! The pipeline end to end through the real CLI: outlets' feeds of every format served on
//! 127.0.0.1, polled with `feedmerge fetch`, checked in the SQLite file and in the merged
//! feed that `feedmerge export` writes, parsed back. Each test runs on both engines: the
//! SQLite file, and PostgreSQL when `FEEDMERGE_TEST_POSTGRES` names a database.

use crate::common;

use std::collections::BTreeSet;

use crate::common::{fixture, stdout, ConfigBuilder, Engine, FeedServer, Resource, Setup, NEVER};

const SEED_LINK: &str = "https://www.globaltimes.cn/page/202405/1312466.shtml";

crate::on_both_engines!(
    one_story_is_stored_once_and_credits_every_outlet,
    second_poll_is_conditional_and_an_edit_updates_in_place,
    fetch_limits_and_failures_are_reported_plainly,
    characters_xml_forbids_never_reach_the_output,
    a_new_guid_on_the_same_link_is_the_same_article,
);

async fn world(engine: Engine) -> Option<(FeedServer, Setup)> {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    server.put_fixture("/partner.atom", "partner.atom", "application/atom+xml");
    server.put_fixture("/worldwire.json", "worldwire.json", "application/feed+json");
    server.put_fixture("/digest.rdf", "digest.rdf", "application/rdf+xml");
    server.put_fixture("/truncated.xml", "truncated.xml", "text/xml");
    let setup = ConfigBuilder::new()
        .text("feed", "title", "Test merge")
        .text("feed", "base_url", "http://news.example/merged")
        .set("feed", "max_entries", "50")
        .schedule(NEVER)
        .source_with(
            "Global Times",
            &server.url("/gt.rss"),
            "categories = [\"world\"]",
        )
        .source("Partner Wire", &server.url("/partner.atom"))
        .source("Worldwire", &server.url("/worldwire.json"))
        .source("Morning Digest", &server.url("/digest.rdf"))
        .source("Broken Outlet", &server.url("/truncated.xml"))
        .on(engine)
        .await?;
    Some((server, setup))
}

fn line<'a>(out: &'a str, source: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(source))
        .unwrap_or_else(|| panic!("no line for {source} in:\n{out}"))
}

async fn one_story_is_stored_once_and_credits_every_outlet(engine: Engine) {
    let Some((server, setup)) = world(engine).await else {
        return;
    };

    // The original first, so that Global Times is the outlet the story is credited to.
    let first = setup.feedmerge(&["fetch", "--source", "Global Times"]);
    assert!(first.status.success(), "{first:?}");
    let out = stdout(&first);
    assert!(
        line(&out, "Global Times").contains("200  3 new, 0 updated, 0 unchanged, 0 merged"),
        "{out}"
    );

    let all = setup.feedmerge(&["fetch"]);
    assert!(
        all.status.success(),
        "a failing source must not fail the command: {all:?}"
    );
    let out = stdout(&all);
    assert_eq!(out.lines().count(), 5, "one line per source:\n{out}");
    assert!(
        line(&out, "Global Times").contains("304  not modified"),
        "{out}"
    );
    for re_run in ["Partner Wire", "Worldwire", "Morning Digest"] {
        assert!(
            line(&out, re_run).contains("200  1 new, 0 updated, 0 unchanged, 1 merged"),
            "{re_run}: {out}"
        );
    }
    let broken = line(&out, "Broken Outlet");
    assert!(
        broken.contains("200  error: not a readable RSS, Atom or JSON feed"),
        "{broken}"
    );

    let articles = setup.articles().await;
    assert_eq!(articles.len(), 6, "3 + 1 + 1 + 1 distinct articles");
    let seed = articles
        .iter()
        .find(|a| a.canonical_link.as_deref() == Some(SEED_LINK))
        .expect("the seed article is stored under its canonical link");
    assert_eq!(seed.source, "Global Times");
    let carriers = setup.carriers(seed.id).await;
    let names: Vec<&str> = carriers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Global Times",
            "Morning Digest",
            "Partner Wire",
            "Worldwire"
        ]
    );
    // An Atom title of type html arrives as plain text, entities decoded once.
    assert!(
        carriers.iter().any(|(_, t)| t
            == "Putin: Russia open to Ukraine dialogue, praises China\u{2019}s <balanced> stance"),
        "{carriers:?}"
    );

    // The failure is recorded against its source, the others are healthy.
    for s in setup.sources().await {
        let (name, status, error, failures) = (
            &s.name,
            &s.last_status,
            &s.last_error,
            &s.consecutive_failures,
        );
        if name == "Broken Outlet" {
            assert_eq!(*status, Some(200));
            assert!(
                error.as_deref().unwrap_or("").contains("not a readable"),
                "{error:?}"
            );
            assert_eq!(*failures, 1);
        } else {
            assert_eq!((error, failures), (&None, &0), "{name}");
        }
    }

    // Content is sanitised and its relative URLs made absolute.
    let content = seed.content.clone().unwrap_or_default();
    assert!(
        content
            .contains(r#"src="https://www.globaltimes.cn/Portals/0/attachment/2024/putin-xi.jpg""#),
        "{content}"
    );
    assert!(
        content.contains(r#"href="https://www.globaltimes.cn/opinion/editorial/""#),
        "{content}"
    );
    assert!(
        content.contains("Zhang Hanhui, Chinese ambassador to Russia"),
        "the body survives"
    );
    for banned in ["<script", "javascript:", "onclick", "<iframe", "steal()"] {
        assert!(!content.contains(banned), "{banned} survived: {content}");
    }
    // Atom's relative link resolves against the feed's address.
    let titled = |start: &str| {
        articles
            .iter()
            .find(|a| a.title.starts_with(start))
            .unwrap_or_else(|| panic!("no article titled {start}…"))
    };
    let partner_own = titled("Local elections").link.clone();
    assert_eq!(
        partner_own.as_deref(),
        Some(server.url("/2024/05/16/elections.html").as_str())
    );
    // An undated entry of a source's first poll was there before we looked: it is dated with
    // the oldest dated entry of its feed (15 May 2024), below the news the source dates.
    let editorial = titled("Editorial:");
    let may_15 = chrono::DateTime::parse_from_rfc2822("Wed, 15 May 2024 21:48:00 +0800")
        .unwrap()
        .timestamp_millis();
    assert_eq!(editorial.published, may_15);

    // The merged feed, in each format, parsed back.
    let atom_out = setup.feedmerge(&["export", "--format", "atom"]);
    assert!(atom_out.status.success(), "{atom_out:?}");
    let atom = atom_syndication::Feed::read_from(&atom_out.stdout[..]).expect("valid Atom");
    assert_eq!(atom.entries().len(), 6);
    assert_eq!(
        atom.links()
            .iter()
            .find(|l| l.rel() == "self")
            .map(|l| l.href()),
        Some("http://news.example/merged/feed.atom")
    );
    for entry in atom.entries() {
        assert!(
            entry
                .id()
                .starts_with("http://news.example/merged/entries/"),
            "{}",
            entry.id()
        );
        assert!(
            entry.source().is_some(),
            "entry {} credits no outlet",
            entry.title().as_str()
        );
    }
    let seed = atom
        .entries()
        .iter()
        .find(|e| e.links().iter().any(|l| l.href() == SEED_LINK))
        .expect("seed entry");
    assert_eq!(seed.title().as_str(), fixture_title());
    assert_eq!(seed.source().unwrap().title().as_str(), "Global Times");
    let related: BTreeSet<&str> = seed
        .links()
        .iter()
        .filter(|l| l.rel() == "related")
        .map(|l| l.href())
        .collect();
    assert_eq!(related.len(), 3, "{related:?}");
    assert!(
        related.iter().any(|l| l.contains("utm_source=partner")),
        "each outlet's own link: {related:?}"
    );

    let rss_out = setup.feedmerge(&["export", "--format", "rss"]);
    let rss = rss::Channel::read_from(&rss_out.stdout[..]).expect("valid RSS");
    assert_eq!(rss.items().len(), 6);
    assert!(rss.items().iter().all(|i| i.source().is_some()));
    let seed_item = rss
        .items()
        .iter()
        .find(|i| i.link() == Some(SEED_LINK))
        .expect("seed item");
    assert_eq!(seed_item.source().unwrap().title(), Some("Global Times"));
    let description = seed_item.description().unwrap();
    for outlet in ["Partner Wire", "Worldwire", "Morning Digest"] {
        assert!(
            description.contains(outlet),
            "{outlet} not credited in {description}"
        );
    }

    let json_out = setup.feedmerge(&["export", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&json_out.stdout).expect("valid JSON");
    assert_eq!(json["version"], "https://jsonfeed.org/version/1.1");
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), 6);
    let seed_json = items
        .iter()
        .find(|i| i["url"] == SEED_LINK)
        .expect("seed item");
    // The byline is the outlet's; the outlet is credited as the source.
    assert_eq!(
        seed_json["authors"][0]["name"],
        "Global Times staff reporters"
    );
    assert_eq!(seed_json["_feedmerge"]["source"]["name"], "Global Times");
    let also: BTreeSet<&str> = seed_json["_feedmerge"]["also"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        also,
        BTreeSet::from(["Morning Digest", "Partner Wire", "Worldwire"])
    );
    // Newest first.
    let dates: Vec<&str> = items
        .iter()
        .map(|i| i["date_published"].as_str().unwrap())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted);
}

fn fixture_title() -> String {
    String::from_utf8(fixture("seed-article.txt"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_owned()
}

async fn second_poll_is_conditional_and_an_edit_updates_in_place(engine: Engine) {
    let Some((server, setup)) = world(engine).await else {
        return;
    };
    assert!(setup.feedmerge(&["fetch"]).status.success());
    let versions = || async {
        let articles = setup.articles().await;
        articles
            .into_iter()
            .map(|a| (a.id, a.title, a.updated))
            .collect::<Vec<_>>()
    };
    let before = versions().await;
    let ids_before = setup.feedmerge(&["export", "--format", "json"]).stdout;

    // Nothing changed: every feed that gave an ETag is asked with If-None-Match and answers 304.
    let again = setup.feedmerge(&["fetch"]);
    let out = stdout(&again);
    for name in [
        "Global Times",
        "Partner Wire",
        "Worldwire",
        "Morning Digest",
    ] {
        assert!(line(&out, name).contains("304  not modified"), "{out}");
    }
    let gt = server.seen("/gt.rss");
    assert_eq!(gt.len(), 2);
    assert_eq!(gt[0].if_none_match, None);
    assert_eq!(
        gt[1].if_none_match.as_deref(),
        Resource::new(fixture("globaltimes.rss"), "")
            .etag
            .as_deref()
    );
    assert!(
        gt[0]
            .user_agent
            .as_deref()
            .unwrap_or("")
            .starts_with("feedmerge/"),
        "{:?}",
        gt[0].user_agent
    );
    // A feed that failed to parse is not cached: it is fetched in full again.
    let broken = server.seen("/truncated.xml");
    assert_eq!(broken.len(), 2);
    assert_eq!(broken[1].if_none_match, None);
    let after = versions().await;
    assert_eq!(before, after, "a 304 changes no article");
    assert_eq!(
        setup.feedmerge(&["export", "--format", "json"]).stdout,
        ids_before,
        "re-rendering is stable"
    );

    // Global Times edits a headline: the same row is updated, its `updated` moves.
    let edited = String::from_utf8(fixture("globaltimes.rss"))
        .unwrap()
        .replace(
            "rise 2.3% in April as consumption recovers",
            "rise 2.3% in April, beating forecasts",
        );
    server.put(
        "/gt.rss",
        Resource::new(edited.into_bytes(), "application/rss+xml"),
    );
    let third = setup.feedmerge(&["fetch", "--source", "global times"]);
    assert!(
        line(&stdout(&third), "Global Times")
            .contains("200  0 new, 1 updated, 2 unchanged, 0 merged"),
        "{third:?}"
    );
    let now = versions().await;
    let (id, title, updated) = now
        .iter()
        .find(|(_, t, _)| t.starts_with("China's retail sales"))
        .cloned()
        .expect("the edited article");
    let old = before
        .iter()
        .find(|(_, t, _)| t.starts_with("China's retail sales"))
        .unwrap();
    assert_eq!(id, old.0, "updated in place");
    assert_eq!(
        title,
        "China's retail sales rise 2.3% in April, beating forecasts"
    );
    assert!(updated > old.2, "updated time moves");
    assert_eq!(now.len(), before.len(), "never stored twice");
}

#[tokio::test]
async fn unknown_source_is_a_usage_error() {
    let Some((_server, setup)) = world(Engine::Sqlite).await else {
        return;
    };
    let out = setup.feedmerge(&["fetch", "--source", "Nope"]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("no source named \"Nope\"") && err.contains("Global Times"),
        "{err}"
    );
}

async fn fetch_limits_and_failures_are_reported_plainly(engine: Engine) {
    let server = FeedServer::start();
    server.put_fixture("/big.rss", "globaltimes.rss", "application/rss+xml");
    server.put(
        "/home.html",
        Resource::new(
            b"<!doctype html><html><body>Welcome</body></html>".to_vec(),
            "text/html",
        ),
    );
    server.put(
        "/loop",
        Resource::redirect(axum::http::StatusCode::FOUND, "/loop"),
    );
    server.put(
        "/moved",
        Resource::redirect(axum::http::StatusCode::MOVED_PERMANENTLY, "/feed.json"),
    );
    server.put_fixture("/feed.json", "worldwire.json", "application/feed+json");
    let closed = common::free_port();
    let Some(setup) = ConfigBuilder::new()
        // Between the JSON (6.5 KB) and the RSS (7.8 KB).
        .text("poll", "max_body", "7KiB")
        .text("poll", "timeout", "5s")
        .source("Too Big", &server.url("/big.rss"))
        .source("Homepage", &server.url("/home.html"))
        .source("Loop", &server.url("/loop"))
        .source(
            "Refused",
            &format!("http://reader:s3cret@127.0.0.1:{closed}/feed.xml"),
        )
        .source("Moved", &server.url("/moved"))
        .on(engine)
        .await
    else {
        return;
    };
    let out = setup.feedmerge(&["fetch"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        line(&text, "Too Big")
            .contains("error: the feed is larger than 7168 bytes; raise [poll].max_body"),
        "{text}"
    );
    assert!(
        line(&text, "Homepage").contains("200  error: this is an HTML page, not a feed"),
        "{text}"
    );
    assert!(
        line(&text, "Loop").contains("error: more than 5 redirects"),
        "{text}"
    );
    assert!(
        line(&text, "Refused").contains("-  error: could not connect: Connection refused"),
        "{text}"
    );
    assert!(
        line(&text, "Moved").contains("200  2 new"),
        "redirects are followed: {text}"
    );
    assert_eq!(
        server.seen("/loop").len(),
        6,
        "the first request and 5 redirects"
    );
    assert!(
        !text.contains("s3cret") && !common::stderr(&out).contains("s3cret"),
        "credentials leaked: {out:?}"
    );
    let stored: Vec<String> = setup
        .sources()
        .await
        .into_iter()
        .filter_map(|s| s.last_error)
        .collect();
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert!(stored.iter().all(|e| !e.contains("s3cret")), "{stored:?}");
    // Each failure is said once, in the table, and not again as a log line (by default).
    let again = setup
        .command()
        .arg("-c")
        .arg(&setup.config)
        .arg("fetch")
        .env_remove("RUST_LOG")
        .output()
        .expect("fetch");
    assert!(
        line(&stdout(&again), "Too Big").contains("error:"),
        "{again:?}"
    );
    assert!(
        !crate::common::stderr(&again).contains("Too Big"),
        "{}",
        crate::common::stderr(&again)
    );
}

async fn characters_xml_forbids_never_reach_the_output(engine: Engine) {
    let server = FeedServer::start();
    // JSON strings may hold control characters that XML 1.0 forbids.
    let json = r#"{"version": "https://jsonfeed.org/version/1.1", "title": "Ctl",
        "items": [{"id": "1", "url": "https://ctl.example/1", "title": "Bell\u0007 and\u0001 nul\u0000",
                   "content_html": "<p>vertical\u000btab \uFFFF</p>", "date_published": "2024-05-16T09:15:00Z"}]}"#;
    server.put(
        "/ctl.json",
        Resource::new(json.as_bytes().to_vec(), "application/feed+json"),
    );
    let Some(setup) = ConfigBuilder::new()
        .source("Ctl", &server.url("/ctl.json"))
        .on(engine)
        .await
    else {
        return;
    };
    assert!(stdout(&setup.feedmerge(&["fetch"])).contains("1 new"));
    let atom = setup.feedmerge(&["export", "--format", "atom"]).stdout;
    let feed = atom_syndication::Feed::read_from(&atom[..]).expect("well-formed Atom");
    assert_eq!(feed.entries()[0].title().as_str(), "Bell and nul");
    let rss = setup.feedmerge(&["export", "--format", "rss"]).stdout;
    let channel = rss::Channel::read_from(&rss[..]).expect("well-formed RSS");
    assert!(channel.items()[0]
        .description()
        .unwrap()
        .contains("verticaltab"));
}

async fn a_new_guid_on_the_same_link_is_the_same_article(engine: Engine) {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    let Some(setup) = ConfigBuilder::new()
        .source("GT", &server.url("/gt.rss"))
        .on(engine)
        .await
    else {
        return;
    };
    assert!(stdout(&setup.feedmerge(&["fetch"])).contains("3 new"));
    // Some CMSs mint new guids on every rebuild; the links stay.
    let reminted = String::from_utf8(fixture("globaltimes.rss"))
        .unwrap()
        .replace("gt-13124", "cms-v2-13124");
    server.put(
        "/gt.rss",
        Resource::new(reminted.into_bytes(), "application/rss+xml"),
    );
    let out = stdout(&setup.feedmerge(&["fetch"]));
    assert!(
        line(&out, "GT").contains("200  0 new, 0 updated, 3 unchanged, 0 merged"),
        "{out}"
    );
    assert_eq!(setup.count("articles").await, 3);
    // The new guids are remembered: the next poll finds the entries by key.
    let keys = setup.entry_keys().await;
    let reminted = keys
        .iter()
        .filter(|k| k.starts_with("guid:cms-v2-"))
        .count();
    assert_eq!(reminted, 2, "{keys:?}");
}
