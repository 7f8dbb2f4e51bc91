//! Hostile feeds, round two: each recipe of an attack on the daemon that once cost far more
//! than it should, through the public parse and render path and through `feedmerge run`.
//! The work's shape is asserted through a generous limit on its CPU time that only a quadratic
//! path could exceed (on this debug build); sizes exactly.

use std::time::{Duration, Instant};

use feedmerge::{parse_feed, render, FeedMeta, Format, Outlet, ParseError, ParsedFeed, Story};
use url::Url;

use crate::common::{
    free_port, on_this_thread, ConfigBuilder, Daemon, FeedServer, Resource, Setup, NEVER,
};

/// CPU time: far more than any linear pass over these bodies takes (at most 3 s of one core
/// in a debug build), far less than the quadratic ones took (32 s, 60 s, 66 s in a release
/// build, several times that in a debug one): a bound on the shape of the work, not a measure
/// of its speed. CPU time, not wall time, so that the other tests' load cannot reach it.
const LINEAR: Duration = Duration::from_secs(20);

fn feed_url() -> Url {
    Url::parse("https://feeds.example.com/feed.xml").unwrap()
}

/// `body` parsed, and the CPU time that took.
fn timed_parse(body: &[u8]) -> (Result<ParsedFeed, ParseError>, Duration) {
    on_this_thread(|| parse_feed(body, None, &feed_url()))
}

fn rss(items: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>R</title>\
         <link>http://r.example/</link>{items}</channel></rss>"
    )
}

/// The issue's recipe: a description of 100,000 nested `<div>` (1.1 MB).
fn deeply_nested() -> String {
    rss(&format!(
        "<item><title>n</title><guid>n</guid><description>{}deep</description></item>",
        "&lt;div&gt;".repeat(100_000)
    ))
}

/// Every format's rendering of the articles of `feed`, one story each.
fn rendered(feed: ParsedFeed) -> Vec<String> {
    let base = Url::parse("https://merged.example/").unwrap();
    let stories: Vec<Story> = feed
        .articles
        .into_iter()
        .map(|a| {
            let outlet = Outlet {
                name: "Outlet".into(),
                feed_url: feed_url().to_string(),
                site_url: feed.site_url.clone(),
                link: a.link.clone(),
                title: String::new(),
                published: chrono::Utc::now(),
            };
            Story::of_article(
                a,
                "https://merged.example/entries/1",
                outlet,
                chrono::Utc::now(),
            )
        })
        .collect();
    let meta = FeedMeta {
        hubs: &[],
        query: None,
        title: "Merged",
        base_url: &base,
        path: "feed",
        page: 1,
        has_next: false,
    };
    Format::ALL
        .into_iter()
        .map(|f| render(f, &meta, &stories).expect("render"))
        .collect()
}

#[test]
fn deeply_nested_html_is_read_in_linear_time_and_kept_shallow() {
    let (parsed, took) = timed_parse(deeply_nested().as_bytes());
    assert!(took < LINEAR, "100,000 nested <div> took {took:?}");
    let article = &parsed.expect("a feed").articles[0];
    let summary = article.summary.as_deref().expect("a summary");
    assert!(summary.contains("deep"));
    assert_eq!(summary.matches("<div>").count(), 100, "{}", &summary[..200]);
}

#[test]
fn javascript_and_vbscript_never_come_in_through_xml_base() {
    for scheme in ["javascript", "vbscript"] {
        let body = format!(
            r#"<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<link href="{scheme}:alert(1)"/><id>urn:a</id><updated>2024-01-01T00:00:00Z</updated>
<entry><id>urn:e</id><title>e</title><updated>2024-01-01T00:00:00Z</updated>
<link href="https://a.example/e"/>
<content type="html" xml:base="{scheme}://x/">&lt;a href="%0aalert(document.domain)"&gt;here&lt;/a&gt;&lt;img src="%0aalert(2)"&gt;&lt;a href="{scheme}:alert(3)"&gt;there&lt;/a&gt;</content>
</entry></feed>"#
        );
        let feed = parse_feed(body.as_bytes(), None, &feed_url()).expect("a feed");
        assert_eq!(feed.site_url, None, "the feed's own link is no web address");
        let content = feed.articles[0].content.clone().expect("content");
        assert!(
            content.contains(r#"<a href="https://a.example/%0aalert(document.domain)""#),
            "relative links resolve against the article's page: {content}"
        );
        for out in rendered(feed) {
            assert!(!out.contains(&format!("{scheme}:")), "{out}");
        }
    }
}

#[test]
fn scans_before_parsing_are_linear() {
    // 1.25 MiB of `<?xml`: stray declarations.
    let (_, took) = timed_parse("<?xml".repeat(262_144).as_bytes());
    assert!(took < LINEAR, "<?xml × 262,144 took {took:?}");
    // An HTML page of 262,144 unclosed `<link`: feed discovery.
    let page = format!("<html>{}</html>", "<link".repeat(262_144));
    let (parsed, took) = timed_parse(page.as_bytes());
    assert!(took < LINEAR, "<link × 262,144 took {took:?}");
    assert!(matches!(parsed, Err(ParseError::Html { feeds }) if feeds.is_empty()));
    // A page advertising 80,000 feeds names the first ten.
    let links: String = (0..80_000)
        .map(|i| {
            format!("<link rel=\"alternate\" type=\"application/rss+xml\" href=\"/f{i}.rss\">")
        })
        .collect();
    let (parsed, took) = timed_parse(format!("<html><head>{links}</head></html>").as_bytes());
    assert!(took < LINEAR, "80,000 feed links took {took:?}");
    let Err(ParseError::Html { feeds }) = parsed else {
        panic!("an HTML page");
    };
    assert_eq!(feeds.len(), 10);
    assert_eq!(feeds[9], "https://feeds.example.com/f9.rss");
}

#[test]
fn entity_declarations_are_refused_plainly() {
    let body = r#"<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
<rss version="2.0"><channel><title>R</title><item><title>&lol2;</title><guid>g</guid></item></channel></rss>"#;
    let error = parse_feed(body.as_bytes(), None, &feed_url()).expect_err("refused");
    assert!(matches!(error, ParseError::Entities));
    assert_eq!(
        error.to_string(),
        "the feed declares XML entities in its DOCTYPE; entity declarations are not supported"
    );
}

#[test]
fn a_huge_text_is_cut_after_a_paragraph_and_says_so() {
    let paragraph = "<p>".to_owned() + &"word ".repeat(200) + "</p>";
    let body = rss(&format!(
        "<item><title>long</title><guid>l</guid><description><![CDATA[{}]]></description></item>",
        paragraph.repeat(15_000)
    ));
    assert!(body.len() > 15_000_000);
    let (parsed, took) = timed_parse(body.as_bytes());
    assert!(took < LINEAR, "15 MB of text took {took:?}");
    let summary = parsed.expect("a feed").articles[0].summary.clone().unwrap();
    assert!(
        summary.ends_with("</p><p>[…]</p>"),
        "{}",
        &summary[summary.len() - 50..]
    );
    // 256 KiB, and at most the paragraph that crosses it.
    assert!(
        summary.len() <= 256 * 1024 + paragraph.len() + 20,
        "{}",
        summary.len()
    );
    assert!(summary.len() >= 256 * 1024);
}

#[test]
fn markup_revealed_by_decoding_a_title_is_stripped() {
    let body = rss(
        "<item><guid>t</guid><title>&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;\
         &amp;lt;b&amp;gt;Bold&amp;lt;/b&amp;gt; news &amp;amp; views</title></item>",
    );
    let feed = parse_feed(body.as_bytes(), None, &feed_url()).expect("a feed");
    assert_eq!(feed.articles[0].title, "Bold news & views");
    // A headline is a line: a 1 MB one keeps 1,000 characters, marked where it was cut.
    let body = rss(&format!(
        "<item><guid>t</guid><title>{}</title></item>",
        "&lt;b&gt;word&lt;/b&gt; ".repeat(50_000)
    ));
    let (parsed, took) = timed_parse(body.as_bytes());
    assert!(took < LINEAR, "a 1 MB title took {took:?}");
    let title = &parsed.expect("a feed").articles[0].title;
    assert!(title.chars().count() <= 1_001, "{}", title.chars().count());
    assert!(
        title.starts_with("word word") && title.ends_with("word…"),
        "{title}"
    );
}

/// One daemon over hostile sources and its clients: credentials in a source's address are not
/// published, a deeply nested story is served at once without holding up `/healthz`, pages
/// past the last one served are refused without a query, and every response carries the
/// headers that keep a browser from guessing or framing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_publishes_no_credentials_and_serves_hostile_stories_at_once() {
    let server = FeedServer::start();
    server.put(
        "/deep.rss",
        Resource::new(deeply_nested().into_bytes(), "application/rss+xml"),
    );
    let secret_url = server
        .url("/deep.rss?api_key=SEKRIT1&access_token=SEKRIT2&page=2")
        .replace("http://", "http://user:SEKRIT3@");
    let port = free_port();
    let setup = Setup::new(
        &ConfigBuilder::new()
            .serve(port)
            .schedule(NEVER)
            .source("Deep", &secret_url)
            .source("Page", &server.url("/page"))
            .build(),
    );
    // A page that names feeds of 1,000-character addresses: an error of over 10 kB.
    let links: String = (0..10)
        .map(|i| {
            format!(
                "<link rel=\"alternate\" type=\"application/rss+xml\" href=\"/{i}{}\">",
                "x".repeat(1_000)
            )
        })
        .collect();
    server.put(
        "/page",
        Resource::new(
            format!("<html><head>{links}</head></html>").into_bytes(),
            "text/html",
        ),
    );
    let fetched = setup.feedmerge(&["fetch"]);
    assert!(
        fetched.status.success(),
        "{}",
        crate::common::stderr(&fetched)
    );
    let _daemon = Daemon::start(&setup, "warn");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let health = crate::common::health_until(&http, port, Duration::from_secs(15), |h| {
        h["articles"].as_i64() == Some(1)
    })
    .await;
    assert_eq!(health["articles"], 1, "{health}");
    // The text is derived once, when the article is stored: no request parses its HTML.
    let text: String = sqlx::query_scalar("SELECT plain_text FROM articles")
        .fetch_one(&setup.db().await)
        .await
        .expect("the stored text");
    assert_eq!(text, "deep");

    // The story's text is bounded at ingest, so no render takes long; and a render never
    // holds up the health check.
    let renders: Vec<_> = ["/", "/feed.json", "/feed.atom", "/feed.rss"]
        .into_iter()
        .map(|path| {
            let (http, url) = (http.clone(), format!("{base}{path}"));
            tokio::spawn(async move {
                let started = Instant::now();
                let body = http
                    .get(&url)
                    .send()
                    .await
                    .expect(&url)
                    .text()
                    .await
                    .unwrap();
                (url, body, started.elapsed())
            })
        })
        .collect();
    let started = Instant::now();
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < crate::common::STALL,
        "{:?}",
        started.elapsed()
    );
    let mut bodies = Vec::new();
    for render in renders {
        let (url, body, took) = render.await.unwrap();
        assert!(took < crate::common::STALL, "{url}: {took:?}");
        assert!(body.contains("deep"), "{url}");
        bodies.push(body);
    }
    for path in ["/sources.opml", "/status"] {
        bodies.push(
            http.get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    for body in &bodies {
        for secret in ["SEKRIT1", "SEKRIT2", "SEKRIT3", "user:"] {
            assert!(!body.contains(secret), "{secret} published in {body}");
        }
    }
    let opml = &bodies[4];
    assert!(opml.contains("/deep.rss?page=2\""), "{opml}");
    // The page's error is stored and shown cut at 2,000 bytes.
    let status = &bodies[5];
    let error = status
        .split("the page links to these feeds: ")
        .nth(1)
        .and_then(|rest| rest.split(" […]").next())
        .unwrap_or_else(|| panic!("no cut error in {status}"));
    assert!(
        error.len() < 2_000 && error.len() > 1_500,
        "{}",
        error.len()
    );

    // Page 100 is the last a feed has; further ones are not looked for. The same page gets
    // the same answer on every paged route: 0 is the first, past 100 a 404, a word a 400.
    for path in [
        "/feed.atom?",
        "/feed.json?",
        "/search?q=a&",
        "/search.atom?q=a&",
    ] {
        for (page, status) in [
            ("100", 200),
            ("0", 200),
            ("101", 404),
            ("9999", 404),
            ("x", 400),
        ] {
            let r = http
                .get(format!("{base}{path}page={page}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), status, "{path}page={page}");
            let said = r.text().await.unwrap();
            match status {
                404 => assert_eq!(said, "no such page\n", "{path}page={page}"),
                400 => assert!(said.contains("page"), "{path}page={page}: {said}"),
                _ => {}
            }
        }
    }

    for path in ["/", "/status", "/feed.atom", "/healthz", "/nothing-here"] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        let html = h
            .get("content-type")
            .is_some_and(|t| t.to_str().unwrap().starts_with("text/html"));
        assert_eq!(h.contains_key("content-security-policy"), html, "{path}");
        if html {
            let policy = h["content-security-policy"].to_str().unwrap();
            assert!(policy.starts_with("default-src 'none'"), "{policy}");
            assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
            assert_eq!(h["x-frame-options"], "DENY", "{path}");
        }
    }
}

/// Every form of IPv6 address that carries a non-public IPv4 one, the reserved IPv4 ranges,
/// and another port of a host written as an address in the config: each redirect is refused
/// before any connection, with what the address is.
#[test]
fn embedded_and_reserved_addresses_and_other_ports_are_refused() {
    let server = FeedServer::start();
    let other = FeedServer::start();
    other.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    let cases = [
        (
            "Compatible",
            "http://[::127.0.0.1]/feed".to_owned(),
            "loopback",
        ),
        (
            "Nat64",
            "http://[64:ff9b::a9fe:a9fe]/feed".to_owned(),
            "link-local",
        ),
        (
            "SixToFour",
            "http://[2002:a00:1::]/feed".to_owned(),
            "private",
        ),
        (
            "Documentation",
            "http://[2001:db8::1]/feed".to_owned(),
            "reserved",
        ),
        (
            "Translated",
            "http://[::ffff:0:7f00:1]/feed".to_owned(),
            "loopback",
        ),
        (
            "Ipv6 Benchmarking",
            "http://[2001:2::1]/feed".to_owned(),
            "reserved",
        ),
        (
            "Ipv6 Documentation",
            "http://[3fff::1]/feed".to_owned(),
            "reserved",
        ),
        (
            "Benchmarking",
            "http://198.18.0.1/feed".to_owned(),
            "reserved",
        ),
        (
            "Assignments",
            "http://192.0.0.8/feed".to_owned(),
            "reserved",
        ),
        ("Other Port", other.url("/gt.rss"), "loopback"),
    ];
    let mut config = ConfigBuilder::new();
    for (name, to, _) in &cases {
        let path = format!("/{}", name.replace(' ', "-"));
        server.put(&path, Resource::redirect(axum::http::StatusCode::FOUND, to));
        config = config.source(name, &server.url(&path));
    }
    let out = config.setup().feedmerge(&["fetch"]);
    let out = crate::common::stdout(&out);
    for (name, _, kind) in cases {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name} in {out}"));
        assert!(line.contains("refused: ") && line.contains(kind), "{line}");
    }
    assert!(other.requests() == 0, "the other port was reached");
}

/// Hostile clients: 1,100 idle connections from another host do not keep others from being
/// served (past its share, 256, that host's connections are closed at once), and are closed
/// after the header timeout (10 s); a half-sent request does not keep the daemon from
/// stopping on SIGTERM within the README's 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_are_closed_and_stop_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    let port = free_port();
    let setup = Setup::new(
        &ConfigBuilder::new()
            .serve(port)
            .schedule(NEVER)
            .source("Global Times", &server.url("/gt.rss"))
            .build(),
    );
    let daemon = Daemon::start(&setup, "warn");
    let http = reqwest::Client::new();
    crate::common::health_until(&http, port, Duration::from_secs(15), |h| {
        h["status"] == "ok"
    })
    .await;
    let opened = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..1_100 {
        idle.push(crate::common::connect_from([127, 0, 0, 2], port).await);
    }
    // Past its share, the other host's connections are closed at once.
    let mut byte = [0u8; 1];
    let last = tokio::time::timeout(Duration::from_secs(5), idle[1_099].read(&mut byte)).await;
    assert!(matches!(last, Ok(Ok(0)) | Ok(Err(_))), "{last:?}");
    let mut half = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let started = Instant::now();
    let r = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < crate::common::STALL,
        "{:?}",
        started.elapsed()
    );

    // The server closes an idle connection: the client reads its end.
    let closed = tokio::time::timeout(Duration::from_secs(20), idle[0].read(&mut byte)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "an idle connection is still open after {:?}",
        opened.elapsed()
    );
    assert!(
        opened.elapsed() >= Duration::from_secs(9),
        "{:?}",
        opened.elapsed()
    );

    let mut half = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    daemon.signal("TERM");
    let asked = Instant::now();
    let (status, log) = daemon.wait(Duration::from_secs(10));
    assert!(status.success(), "{log}");
    eprintln!(
        "stopped {:?} after SIGTERM with a half-sent request open",
        asked.elapsed()
    );
    drop(half);
}

/// Peak memory out of proportion to the body: 1,000,000 empty `<item/>` (7 MB) once peaked
/// at 777 MB, and 1,000,000 JSON Feed ids (13.7 MB) at 1.55 GB. The first
/// `feedmerge::DEFAULT_MAX_ITEMS` of each are read; `feedmerge run` polling both at once stays within
/// a small multiple of their bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_items_cost_a_few_times_their_body() {
    let server = FeedServer::start();
    server.put(
        "/items.rss",
        Resource::new(
            rss(&"<item/>".repeat(1_000_000)).into_bytes(),
            "application/rss+xml",
        ),
    );
    let ids: Vec<String> = (0..1_000_000)
        .map(|i| format!("{{\"id\":\"{i}\"}}"))
        .collect();
    let json = format!(
        "{{\"version\":\"https://jsonfeed.org/version/1.1\",\"title\":\"J\",\"items\":[{}]}}",
        ids.join(",")
    );
    let bodies = 7 + json.len() / 1_000_000;
    server.put(
        "/ids.json",
        Resource::new(json.into_bytes(), "application/feed+json"),
    );
    let port = free_port();
    let setup = Setup::new(
        &ConfigBuilder::new()
            .serve(port)
            .schedule(NEVER)
            .source("Items", &server.url("/items.rss"))
            .source("Ids", &server.url("/ids.json"))
            .build(),
    );
    let daemon = Daemon::start(&setup, "warn");
    let http = reqwest::Client::new();
    // Empty items are one article (no text, no link, no id); the ids are the first 5,000.
    let health = crate::common::health_until(&http, port, Duration::from_secs(60), |h| {
        h["articles"].as_u64() == Some(1 + feedmerge::DEFAULT_MAX_ITEMS as u64)
    })
    .await;
    assert_eq!(
        health["articles"],
        1 + feedmerge::DEFAULT_MAX_ITEMS as u64,
        "{health}"
    );
    let peak_mib = peak_mib(daemon.0.id());
    eprintln!("peak RSS of feedmerge run on {bodies} MB of a million items each: {peak_mib} MiB");
    // What was not read is recorded against each source, and shown.
    let status = crate::common::text(&http, &format!("http://127.0.0.1:{port}/status")).await;
    assert_eq!(
        status
            .matches("the feed lists 1000000 entries; only its first 5000 are read")
            .count(),
        2,
        "{status}"
    );
    assert!(peak_mib < 300, "{peak_mib} MiB");
}

/// The highest resident size process `pid` has had (its `VmHWM`), in MiB. Read from `/proc`
/// while it runs: the rusage of a spawned child counts the test process's own peak, whose
/// memory the child shared until it ran the binary.
pub(crate) fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib / 1024
}

/// `feedmerge run` with a dozen hostile sources beside a normal one on another host: the
/// normal one is polled on time, `/healthz` and `/feed.atom` answer without a stall
/// throughout, SIGTERM stops the daemon within 10 s, and its peak memory stays under 300 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dozen_hostile_sources_slow_down_nothing() {
    let hostile = FeedServer::start();
    let xml = "application/rss+xml";
    let put = |path: &str, body: String, content_type: &str| {
        hostile.put(path, Resource::new(body.into_bytes(), content_type));
    };
    put("/deep.rss", deeply_nested(), xml);
    put("/declarations.xml", "<?xml".repeat(262_144), xml);
    put(
        "/links.html",
        format!("<html>{}</html>", "<link".repeat(262_144)),
        "text/html",
    );
    let advertised: String = (0..80_000)
        .map(|i| format!("<link rel=\"alternate\" type=\"application/rss+xml\" href=\"/f{i}\">"))
        .collect();
    put(
        "/advertised.html",
        format!("<html><head>{advertised}</head></html>"),
        "text/html",
    );
    put("/items.rss", rss(&"<item/>".repeat(1_000_000)), xml);
    let ids: Vec<String> = (0..1_000_000)
        .map(|i| format!("{{\"id\":\"{i}\"}}"))
        .collect();
    put(
        "/ids.json",
        format!(
            "{{\"version\":\"https://jsonfeed.org/version/1.1\",\"title\":\"J\",\"items\":[{}]}}",
            ids.join(",")
        ),
        "application/feed+json",
    );
    let paragraph = "<p>".to_owned() + &"word ".repeat(200) + "</p>";
    put(
        "/huge.rss",
        rss(&format!(
            "<item><guid>h</guid><title>h</title><description><![CDATA[{}]]></description></item>",
            paragraph.repeat(14_000)
        )),
        xml,
    );
    put(
        "/laughs.rss",
        format!(
            "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY a \"{}\">]>{}",
            "lol".repeat(1000),
            rss("<item><title>&a;</title></item>")
        ),
        xml,
    );
    put(
        "/base.atom",
        r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><id>urn:a</id><updated>2024-01-01T00:00:00Z</updated><entry><id>urn:e</id><title>e</title><updated>2024-01-01T00:00:00Z</updated><content type="html" xml:base="javascript://x/">&lt;a href="%0aalert(1)"&gt;x&lt;/a&gt;</content></entry></feed>"#.to_owned(),
        "application/atom+xml",
    );
    put(
        "/titles.rss",
        rss("<item><guid>t</guid><title>&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;</title></item>"),
        xml,
    );
    let mut trickle = Resource::new(rss("").into_bytes(), xml);
    trickle.delay = Duration::from_secs(60);
    hostile.put("/trickle.rss", trickle);
    hostile.put(
        "/elsewhere",
        Resource::redirect(axum::http::StatusCode::FOUND, "http://[::127.0.0.1]/feed"),
    );
    let normal = FeedServer::start();
    normal.put_fixture("/gt.rss", "globaltimes.rss", xml);

    let port = free_port();
    let mut config = ConfigBuilder::new()
        .serve(port)
        .schedule("*/5 * * * * *")
        .text("poll", "timeout", "3s")
        .source_with(
            "Normal",
            &normal.url("/gt.rss"),
            "respect_feed_hints = false",
        );
    for path in [
        "/deep.rss",
        "/declarations.xml",
        "/links.html",
        "/advertised.html",
        "/items.rss",
        "/ids.json",
        "/huge.rss",
        "/laughs.rss",
        "/base.atom",
        "/titles.rss",
        "/trickle.rss",
        "/elsewhere",
    ] {
        config = config.source(&format!("Hostile {path}"), &hostile.url(path));
    }
    let setup = Setup::new(&config.build());
    let daemon = Daemon::start(&setup, "error");
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(20) {
        for path in ["/healthz", "/feed.atom"] {
            let asked = Instant::now();
            match http
                .get(format!("http://127.0.0.1:{port}{path}"))
                .send()
                .await
            {
                Ok(r) => {
                    assert_eq!(r.status(), 200, "{path}");
                    r.bytes().await.expect(path);
                    slowest = slowest.max(asked.elapsed());
                    assert!(
                        asked.elapsed() < crate::common::STALL,
                        "{path}: {:?}",
                        asked.elapsed()
                    );
                }
                // Not listening yet.
                Err(e) if started.elapsed() < Duration::from_secs(5) && e.is_connect() => {}
                Err(e) => panic!("{path}: {e}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("slowest answer while the hostile sources were polled: {slowest:?}");
    let polls: Vec<Duration> = normal
        .seen("/gt.rss")
        .iter()
        .map(|s| s.at - started)
        .collect();
    assert!(
        polls.len() >= 3,
        "the normal source was polled at {polls:?}"
    );
    // Every 5 s: a gap of a slot and a stall would mean the hostile ones held it up.
    for pair in polls.windows(2) {
        assert!(
            pair[1] - pair[0] < Duration::from_secs(5) + crate::common::STALL,
            "polled at {polls:?}"
        );
    }

    let peak_mib = peak_mib(daemon.0.id());
    daemon.signal("TERM");
    let asked = Instant::now();
    let (status, log) = daemon.wait(Duration::from_secs(10));
    assert!(status.success(), "{log}");
    eprintln!(
        "stopped {:?} after SIGTERM; peak RSS {peak_mib} MiB",
        asked.elapsed()
    );
    assert!(peak_mib < 300, "{peak_mib} MiB");
}

/// `/healthz` never waits for a database that keeps it waiting (every connection busy, a
/// table locked): it answers at once (no stall), with the last totals it read, degraded and
/// saying why. On PostgreSQL, where another session can lock the table it reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set FEEDMERGE_TEST_POSTGRES=postgres://USER@HOST/DB and pass --include-ignored"]
async fn health_answers_while_the_database_keeps_it_waiting() {
    use sqlx::Connection;
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    let port = free_port();
    let Some(setup) = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .source("Global Times", &server.url("/gt.rss"))
        .on(crate::common::Engine::Postgres)
        .await
    else {
        return;
    };
    let _daemon = Daemon::start(&setup, "warn");
    let http = reqwest::Client::new();
    let health = crate::common::health_until(&http, port, Duration::from_secs(15), |h| {
        h["articles"].as_i64() == Some(3)
    })
    .await;
    assert_eq!(health["database_busy"], false, "{health}");

    let url = setup.postgres.clone().expect("a PostgreSQL database");
    let mut locker = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("LOCK TABLE sources IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let asked = Instant::now();
    let r = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        // A check that waited for the lock would wait for ever: fail instead.
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert!(
        asked.elapsed() < crate::common::STALL,
        "{:?}",
        asked.elapsed()
    );
    let health: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.unwrap()).expect("JSON");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["database_busy"], true, "{health}");
    assert_eq!(health["articles"], 3, "the last totals read: {health}");
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
}

/// `[poll].max_items` sets how many of a feed's entries are read: its first ones.
#[test]
fn max_items_reads_a_feeds_first_entries() {
    let server = FeedServer::start();
    let items: String = (0..100)
        .map(|i| {
            format!("<item><guid>g{i}</guid><title>Entry number {i} of the feed</title></item>")
        })
        .collect();
    server.put(
        "/feed.rss",
        Resource::new(rss(&items).into_bytes(), "application/rss+xml"),
    );
    let setup = ConfigBuilder::new()
        .set("poll", "max_items", "10")
        .source("Feed", &server.url("/feed.rss"))
        .setup();
    let out = crate::common::stdout(&setup.feedmerge(&["fetch"]));
    assert!(out.contains(" 10 new,"), "{out}");
    let sources = crate::common::stdout(&setup.feedmerge(&["sources"]));
    assert!(
        sources.contains("the feed lists 100 entries; only its first 10 are read"),
        "{sources}"
    );
}

/// A config edit read while the daemon is out of file descriptors (clients holding every one)
/// is not lost: the reload is tried again once descriptors are free, with no further edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_read_while_out_of_descriptors_is_applied_later() {
    use std::os::unix::process::CommandExt;
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    let port = free_port();
    let config = |title: &str| {
        ConfigBuilder::new()
            .serve(port)
            .schedule(NEVER)
            .text("feed", "title", title)
            .source("Global Times", &server.url("/gt.rss"))
            .build()
    };
    let setup = Setup::new(&config("Before"));
    let mut command = setup.command();
    command
        .args(["run", "--config"])
        .arg(&setup.config)
        .env("RUST_LOG", "error")
        .stderr(std::process::Stdio::null());
    // SAFETY: setrlimit is async-signal-safe, and only lowers this child's own limit.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let _daemon = Daemon(command.spawn().expect("feedmerge run"));
    let http = reqwest::Client::new();
    crate::common::health_until(&http, port, Duration::from_secs(15), |h| {
        h["articles"].as_i64() == Some(3)
    })
    .await;

    // Idle clients take every descriptor the daemon has left (within the 10 s before it
    // closes idle connections: each connect is given 50 ms).
    let mut clients = Vec::new();
    let connecting = Instant::now();
    for _ in 0..300 {
        let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
        if let Ok(Ok(c)) = tokio::time::timeout(Duration::from_millis(50), connect).await {
            clients.push(c);
        }
    }
    assert!(
        connecting.elapsed() < crate::common::STALL,
        "{:?}",
        connecting.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::write(&setup.config, config("After")).unwrap();
    // The watcher looks every second: it has found the edit and failed to read it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(clients);

    let started = Instant::now();
    loop {
        let feed = crate::common::text(&http, &format!("http://127.0.0.1:{port}/feed.atom")).await;
        if feed.contains("<title>After</title>") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the edit was not applied once descriptors were free: {feed:.300}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
