//! `feedmerge add URL`, as a user runs it beside a running daemon: a feed's address, a page
//! advertising feeds (comment feeds passed over, the others listed), a page advertising none
//! whose site serves `/feed`, a page whose feed is on another host; the config edited in
//! place (comments kept, validated), and the daemon polling the new source.

use std::time::{Duration, Instant};

use crate::common::{
    free_port, stderr, stdout, ConfigBuilder, Daemon, FeedServer, Resource, NEVER, STALL,
};

fn feed(title: &str, item: &str) -> Resource {
    let body = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{title}</title>\
         <link>https://outlet.example/</link><item><guid>{item}</guid><title>{item}</title>\
         <link>https://outlet.example/{item}</link>\
         <pubDate>Mon, 01 Sep 2025 10:00:00 +0000</pubDate></item></channel></rss>"
    );
    Resource::new(body.into_bytes(), "application/rss+xml")
}

fn page(links: &[&str]) -> Resource {
    let links: String = links
        .iter()
        .map(|href| {
            let kind = match href.ends_with(".atom") {
                true => "application/atom+xml",
                false => "application/rss+xml",
            };
            format!("<link rel=\"alternate\" type=\"{kind}\" href=\"{href}\">\n")
        })
        .collect();
    let body = format!(
        "<!doctype html>\n<html><head><title>An outlet</title>\n{links}</head>\
         <body><h1>Today's news</h1></body></html>"
    );
    Resource::new(body.into_bytes(), "text/html; charset=utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_finds_a_sites_feed_and_a_running_daemon_polls_it() {
    let site = FeedServer::start();
    let elsewhere = FeedServer::start_on([127, 0, 0, 2]);
    site.put("/first.rss", feed("First Outlet", "first-story"));
    // A page advertising its comments feed first, then its news feed.
    site.put("/news/", page(&["/comments.atom", "news.rss"]));
    site.put("/comments.atom", feed("Comments", "a-comment"));
    site.put(
        "/news/news.rss",
        feed("The Daily Wire Service", "harvest-story"),
    );
    // A page advertising nothing, on a site whose feed is at /feed.
    let bare = FeedServer::start();
    bare.put("/blog/", page(&[]));
    bare.put("/feed", feed("A Bare Blog", "bare-story"));
    // A page whose feed is on another host.
    site.put("/partner/", page(&[&elsewhere.url("/partner.rss")]));
    elsewhere.put("/partner.rss", feed("Partner Outlet", "partner-story"));

    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .source_with(
            "First",
            &site.url("/first.rss"),
            "allow_private = true # the outlet we started with",
        )
        .setup();
    let daemon = Daemon::start(&setup, "warn");
    let add = |args: &[&str]| {
        let mut all = vec!["add", "--allow-private"];
        all.extend_from_slice(args);
        setup.feedmerge(&all)
    };

    // A page advertising two feeds: the news feed, not the comments'; the other listed.
    let out = add(&[&site.url("/news/"), "--category", "wire"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains("added \"The Daily Wire Service\"")
            && said.contains(&site.url("/news/news.rss"))
            && said.contains(&format!("advertised by {}", site.url("/news/")))
            && said.contains(&format!(
                "also advertised (not added): {}",
                site.url("/comments.atom")
            )),
        "{said}"
    );
    // A page advertising none: the site's /feed.
    let out = add(&[&bare.url("/blog/"), "--name", "Bare"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("added \"Bare\": {}", bare.url("/feed"))));
    // A page whose feed is on another host; then a feed's own address.
    let out = add(&[&site.url("/partner/")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&elsewhere.url("/partner.rss")),
        "{}",
        stdout(&out)
    );
    // A feed's own address.
    site.put("/direct.rss", feed("Direct Wire", "direct-story"));
    let out = add(&[&site.url("/direct.rss")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains(&format!(
            "added \"Direct Wire\": {}",
            site.url("/direct.rss")
        )) && !said.contains("advertised by"),
        "{said}"
    );
    // The feed we have already: nothing written.
    let before = std::fs::read_to_string(&setup.config).unwrap();
    let out = add(&[&site.url("/news/news.rss")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("already there as \"The Daily Wire Service\""));
    // No feed anywhere: an error naming what was tried; nothing written.
    let empty = FeedServer::start();
    empty.put("/", page(&[]));
    let out = add(&[&empty.url("/")]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no feed found") && stderr(&out).contains("/rss.xml"),
        "{}",
        stderr(&out)
    );
    // Without --allow-private, a loopback address is refused, and the error says so.
    let out = setup.feedmerge(&["add", &site.url("/news/")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("private"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&setup.config).unwrap(), before);

    // The config: edited in place, the comment kept, and valid.
    assert!(before.contains("# the outlet we started with"), "{before}");
    assert!(before.contains("categories = [\"wire\"]"), "{before}");
    let check = setup.feedmerge(&["check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        stdout(&check).contains("(5 sources, 5 enabled)"),
        "{}",
        stdout(&check)
    );

    // The daemon beside it polls the new sources.
    let http = reqwest::Client::new();
    let started = Instant::now();
    let wanted = [
        "harvest-story",
        "bare-story",
        "partner-story",
        "direct-story",
    ];
    loop {
        let body = match http
            .get(format!("http://127.0.0.1:{port}/feed.json"))
            .send()
            .await
        {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if wanted.iter().all(|w| body.contains(w)) {
            break;
        }
        if started.elapsed() > STALL * 2 {
            daemon.fail(&format!("the added sources were not polled: {body}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A source whose url is a page advertising one feed is polled at that feed: the page is
/// read once, then the feed directly, and `sources` says where the feed was found.
#[test]
fn a_source_at_a_page_advertising_one_feed_is_polled_at_that_feed() {
    let site = FeedServer::start();
    site.put("/outlet/", page(&["/outlet/feed.rss"]));
    site.put("/outlet/feed.rss", feed("An Outlet", "found-story"));
    // The feed's address is the page's word, not the config's: a loopback one needs
    // allow_private.
    let setup = ConfigBuilder::new()
        .source_with("Outlet", &site.url("/outlet/"), "allow_private = true")
        .setup();
    for round in 1..=2 {
        let out = setup.feedmerge(&["fetch"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let expected = if round == 1 { "1 new" } else { "not modified" };
        assert!(
            stdout(&out).contains(expected),
            "round {round}: {}",
            stdout(&out)
        );
    }
    assert_eq!(site.seen("/outlet/").len(), 1, "the page is read once");
    assert_eq!(site.seen("/outlet/feed.rss").len(), 2);
    let listed = stdout(&setup.feedmerge(&["sources"]));
    assert!(
        listed.contains(&format!("polled at {}", site.url("/outlet/feed.rss")))
            && listed.contains("the feed its page advertises"),
        "{listed}"
    );
    // A page advertising two feeds is not guessed at: the error lists them.
    site.put("/two/", page(&["/a.rss", "/b.rss"]));
    let two = ConfigBuilder::new()
        .source("Two", &site.url("/two/"))
        .setup();
    let out = two.feedmerge(&["fetch"]);
    assert!(
        stdout(&out).contains("HTML page") && stdout(&out).contains("/b.rss"),
        "{}",
        stdout(&out)
    );
}
