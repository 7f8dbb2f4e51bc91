//! Retention: `feedmerge cleanup` deletes exactly the stories past `[storage]`'s `max_age`
//! and `max_per_source`, except those a served feed shows; what it deleted does not come
//! back as new while the outlet still lists it; and an SQLite file keeps its free pages apart
//! (incremental vacuum). On both engines (PostgreSQL when `FEEDMERGE_TEST_POSTGRES` names a
//! database).

use crate::common;

use crate::common::{stdout, ConfigBuilder, Engine, FeedServer, Resource, NEVER};
use chrono::{Duration, Utc};

crate::on_both_engines!(cleanup_removes_exactly_the_expired_stories_and_they_stay_removed);

/// An RSS feed of `(guid, title, days ago)` items, each with a text of its own.
fn rss(items: &[(&str, &str, i64)]) -> Vec<u8> {
    let now = Utc::now();
    let items: String = items
        .iter()
        .map(|(guid, title, days)| {
            format!(
                "<item><guid isPermaLink=\"false\">{guid}</guid><title>{title}</title>\
                 <link>https://outlet.example/{guid}</link>\
                 <description>Report {guid} on {title}.</description>\
                 <pubDate>{}</pubDate></item>",
                (now - Duration::days(*days)).to_rfc2822()
            )
        })
        .collect();
    format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>{items}</channel></rss>")
        .into_bytes()
}

async fn cleanup_removes_exactly_the_expired_stories_and_they_stay_removed(engine: Engine) {
    let server = FeedServer::start();
    server.put(
        "/old.rss",
        Resource::new(
            rss(&[
                ("o1", "Harbour dredging begins", 200),
                ("o2", "Kept headline on the lighthouse", 150),
                ("o3", "Ferry timetable changes", 100),
                ("o4", "Market square reopens", 1),
            ]),
            "application/rss+xml",
        ),
    );
    server.put(
        "/many.rss",
        Resource::new(
            rss(&[
                ("m1", "Council votes on budget", 2),
                ("m2", "School term starts", 3),
                ("m3", "Rail works over the weekend", 4),
                ("m4", "Library extends hours", 5),
                ("m5", "Bridge inspection finds cracks", 6),
            ]),
            "application/rss+xml",
        ),
    );
    let Some(setup) = ConfigBuilder::new()
        .text("feed", "title", "Retention test")
        .text("feed", "base_url", "http://127.0.0.1:1")
        .set("feed", "max_entries", "2")
        .text("storage", "max_age", "90d")
        .set("storage", "max_per_source", "3")
        .schedule(NEVER)
        .source("Old Outlet", &server.url("/old.rss"))
        .source("Busy Outlet", &server.url("/many.rss"))
        .raw("[[views]]\nname = \"lighthouse\"\ntitle = \"The lighthouse\"\ninclude = [\"lighthouse\"]")
        .on(engine)
    .await
    else {
        return;
    };
    let fetch = setup.feedmerge(&["fetch"]);
    assert!(fetch.status.success(), "{}", common::stderr(&fetch));
    // The guids of the stored articles, sorted.
    let guids = || async {
        let mut links: Vec<String> = setup
            .articles()
            .await
            .into_iter()
            .filter_map(|a| a.link)
            .map(|l| l.trim_start_matches("https://outlet.example/").to_owned())
            .collect();
        links.sort();
        links
    };
    assert_eq!(guids().await.len(), 9);

    let cleanup = setup.feedmerge(&["cleanup"]);
    assert!(cleanup.status.success(), "{}", common::stderr(&cleanup));
    // Past 90 days: o1, o2, o3; but o2 is the lighthouse view's entry, so it stays.
    // Past 3 per source: Old Outlet's o1 (already going), Busy Outlet's m4 and m5. The
    // merged feed's page (o4, m1) is inside both limits anyway.
    assert!(
        stdout(&cleanup).starts_with("removed 4 stories (4 articles)"),
        "{}",
        stdout(&cleanup)
    );
    assert_eq!(guids().await, ["m1", "m2", "m3", "o2", "o4"]);
    let (stories, tombstones) = (
        setup.count("stories").await,
        setup.count("tombstones").await,
    );
    assert_eq!((stories, tombstones), (5, 4));
    if engine == Engine::Sqlite {
        assert_eq!(setup.pragma("auto_vacuum").await, 2, "incremental");
    }

    // The outlets still list what was deleted (and send their feeds whole, no 304): it must
    // not come back as new.
    for path in ["/old.rss", "/many.rss"] {
        let mut r = server.get(path);
        r.etag = None;
        server.put(path, r);
    }
    let again = setup.feedmerge(&["fetch"]);
    assert!(again.status.success());
    for line in stdout(&again).lines() {
        assert!(line.contains(" 0 new,"), "{line}");
    }
    assert_eq!(guids().await, ["m1", "m2", "m3", "o2", "o4"]);
    setup.assert_intact().await;
}

/// A database just created gives back its free pages from the start: it is not converted
/// (a full VACUUM announced as taking a while) on its first cleanup.
#[test]
fn a_new_database_needs_no_conversion() {
    let setup = ConfigBuilder::new()
        .source("Wire", "https://wire.example/feed.xml")
        .setup();
    let out = setup
        .command()
        .arg("-c")
        .arg(&setup.config)
        .arg("cleanup")
        .env("RUST_LOG", "info")
        .output()
        .expect("cleanup");
    assert!(out.status.success(), "{out:?}");
    let said = common::stderr(&out);
    assert!(!said.contains("converting the database"), "{said}");
}
