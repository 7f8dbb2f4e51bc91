//! The pages in a real browser, headless Chromium against `feedmerge run`:
//! - the river page (`/`) lists the fixture stories with their outlets and pictures (loaded
//!   by the browser, lazily, without a `Referer`), every feed link on it answers with a feed
//!   that parses, and a screenshot at phone width is kept in `target/tmp/river.png`;
//! - a story's page (`/entries/<id>`) shows its picture, text and every outlet that carried
//!   it, and a screenshot is kept in `target/tmp/story.png`;
//! - the status page (`/status`) shows a failing and a healthy source in their states,
//!   failing first, sorts by a column when its header is followed, and a screenshot is kept in
//!   `target/tmp/status.png`.
//!
//! Needs Chromium (Debian's `chromium`, which `.ci/run` installs): ignored unless asked for
//! (`--include-ignored`, as `.ci/run` does), and failing without it.

use std::process::Command;
use std::time::Duration;

use crate::common::{free_port, health_until, ConfigBuilder, Daemon, FeedServer, Resource, NEVER};

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// Runs headless Chromium on `url` with `args`, returning its stdout.
fn headless(browser: &str, args: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            // A phone's viewport.
            "--window-size=412,915",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The browser; the tests that use it are ignored unless asked for, and fail without it.
fn browser() -> &'static str {
    chromium().expect("this test needs chromium: apt-get install chromium")
}

/// Takes a screenshot of `url` into `target/tmp/NAME` and checks it is a real picture.
fn screenshot(browser: &str, url: &str, name: &str) {
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&shot);
    headless(browser, &[&format!("--screenshot={}", shot.display())], url);
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}

#[tokio::test]
#[ignore = "needs chromium (apt-get install chromium): pass --include-ignored"]
async fn the_status_page_shows_failing_and_healthy_sources_in_chromium() {
    let browser = browser();
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .text("feed", "title", "Status test")
        .schedule(NEVER)
        .source("Global Times", &server.url("/gt.rss"))
        .source("Broken Outlet", &server.url("/gone-missing.xml"))
        .setup();
    let _daemon = Daemon::start(&setup, "warn");
    let base = format!("http://127.0.0.1:{port}/");
    let http = client();
    let health = health_until(&http, port, Duration::from_secs(15), |h| {
        h["stories"] == 3 && h["failing_sources"] == 1
    })
    .await;
    assert!(
        health["stories"] == 3 && health["failing_sources"] == 1,
        "no polls: {health}"
    );

    let dom = headless(browser, &["--dump-dom"], &format!("{base}status"));
    let row = |name: &str| {
        dom.split("<tr ")
            .find(|r| r.contains(&format!(">{name}</a>")))
            .unwrap_or_else(|| panic!("no row for {name}: {dom}"))
            .to_owned()
    };
    let broken = row("Broken Outlet");
    assert!(broken.contains("data-health=\"failing\""), "{broken}");
    assert!(
        broken.contains("HTTP 404") || broken.contains("404"),
        "{broken}"
    );
    let healthy = row("Global Times");
    assert!(healthy.contains("data-health=\"ok\""), "{healthy}");
    assert!(
        healthy.contains("<td class=\"n\" data-label=\"Articles\">3</td>"),
        "3 articles: {healthy}"
    );
    assert!(
        dom.find("Broken Outlet") < dom.find("Global Times"),
        "failing first"
    );
    assert!(dom.contains("<b>1</b> failing"), "{dom}");
    assert_eq!(dom.matches("<rect ").count(), 30, "a bar per day: {dom}");
    // By publication day: the fixture's stories are of May 2024, before the chart's days.
    assert!(dom.contains("(0 in all;"), "{dom}");

    // Sorted by name when that header is followed.
    let href = dom
        .split("href=\"")
        .filter_map(|r| r.split('"').next())
        .find(|h| h.starts_with("?sort=name"))
        .expect("a sort link")
        .replace("&amp;", "&");
    let sorted = headless(browser, &["--dump-dom"], &format!("{base}status{href}"));
    assert!(
        sorted.find("Broken Outlet") < sorted.find("Global Times") && sorted.contains("Source ▾"),
        "{sorted}"
    );
    let reversed = headless(
        browser,
        &["--dump-dom"],
        &format!("{base}status?sort=name&reverse=true"),
    );
    assert!(reversed.find("Global Times") < reversed.find("Broken Outlet"));

    screenshot(browser, &format!("{base}status"), "status.png");
}

#[tokio::test]
#[ignore = "needs chromium (apt-get install chromium): pass --include-ignored"]
async fn the_river_page_renders_in_chromium_and_its_feed_links_work() {
    let browser = browser();
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    server.put_fixture("/partner.atom", "partner.atom", "application/atom+xml");
    // A newer story with a picture and audio, the picture served here.
    server.put(
        "/picture.svg",
        Resource::new(PICTURE.to_vec(), "image/svg+xml"),
    );
    let pictured = format!(
        r#"<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>Pictured</title><link>https://pictured.example/</link><description>d</description>
<item><title>Harbour festival draws record crowds</title><link>https://pictured.example/festival</link>
<guid>festival</guid><pubDate>Sat, 01 Jun 2030 10:00:00 GMT</pubDate>
<description>Thousands filled the quays for the harbour festival's tall ships and fireworks.</description>
<media:thumbnail url="{}" width="400" height="300"/>
<enclosure url="https://pictured.example/festival.mp3" length="1200000" type="audio/mpeg"/>
</item></channel></rss>"#,
        server.url("/picture.svg")
    );
    server.put(
        "/pictured.rss",
        Resource::new(pictured.into_bytes(), "application/rss+xml"),
    );
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .text("feed", "title", "Browser test")
        .schedule(NEVER)
        .source_with(
            "Global Times",
            &server.url("/gt.rss"),
            "categories = [\"world\"]",
        )
        .source("Partner Wire", &server.url("/partner.atom"))
        // Its picture is on this machine, which a source must be allowed to publish.
        .source_with(
            "Pictured",
            &server.url("/pictured.rss"),
            "allow_private = true",
        )
        .raw("[[views]]\nname = \"ukraine\"\ninclude = [\"ukraine\"]")
        .setup();
    let _daemon = Daemon::start(&setup, "warn");
    let base = format!("http://127.0.0.1:{port}/");
    let http = client();
    let health = health_until(&http, port, Duration::from_secs(15), |h| h["stories"] == 5).await;
    assert_eq!(health["stories"], 5, "the daemon did not poll: {health}");

    // The DOM as Chromium built it.
    let dom = headless(browser, &["--dump-dom"], &base);
    assert!(dom.contains("<h1>Browser test</h1>"), "{dom}");
    let articles = dom.matches("<article>").count();
    assert_eq!(articles, 5, "one per story: {dom}");
    assert!(
        dom.contains("loading=\"lazy\"") && dom.contains("referrerpolicy=\"no-referrer\""),
        "{dom}"
    );
    assert!(dom.contains(">Listen</a>"), "a link to the audio: {dom}");
    assert!(
        dom.contains("multipolar world order") || dom.contains("Putin: Russia open"),
        "{dom}"
    );
    assert!(
        dom.contains("Partner Wire") && dom.contains("Global Times"),
        "{dom}"
    );

    // Every feed link on the page answers with a feed that parses.
    let hrefs: Vec<&str> = dom
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|h| h.ends_with(".atom") || h.ends_with(".rss") || h.ends_with(".json"))
        .collect();
    assert!(
        hrefs.len() >= 9,
        "merged feed, category and view, three formats each: {hrefs:?}"
    );
    for href in hrefs {
        let url = url::Url::parse(&base).unwrap().join(href).unwrap();
        let r = http.get(url.clone()).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let body = r.bytes().await.unwrap();
        let parsed = feed_rs::parser::parse(&body[..]);
        assert!(parsed.is_ok(), "{url} does not parse: {parsed:?}");
    }

    // A screenshot at phone width, kept as an artifact; the picture was fetched for it,
    // without telling its server which page showed it.
    screenshot(browser, &base, "river.png");
    let fetched = server.seen("/picture.svg");
    assert!(!fetched.is_empty(), "the browser loaded the picture");
    assert!(fetched.iter().all(|s| s.referer.is_none()), "{fetched:?}");

    // The story's page, from the river page's link to it.
    let story = dom
        .split("href=\"")
        .filter_map(|r| r.split('"').next())
        .find(|h| h.starts_with("entries/"))
        .expect("a link to a story page");
    let page = headless(browser, &["--dump-dom"], &format!("{base}{story}"));
    assert!(page.contains("<h2>Carried by"), "{page}");
    assert!(!page.contains("<script"), "{page}");
    let pictured = dom
        .split("<article>")
        .find(|a| a.contains("Harbour festival"))
        .and_then(|a| {
            a.split("href=\"")
                .filter_map(|r| r.split('"').next())
                .find(|h| h.starts_with("entries/"))
        })
        .expect("the pictured story's page");
    screenshot(browser, &format!("{base}{pictured}"), "story.png");
}

/// A picture: a harbour at dusk, as SVG.
const PICTURE: &[u8] = br##"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300">
<rect width="400" height="300" fill="#f4a261"/><rect y="190" width="400" height="110" fill="#264653"/>
<circle cx="300" cy="120" r="40" fill="#e9c46a"/><rect x="60" y="150" width="120" height="40" fill="#2a9d8f"/>
</svg>"##;

/// Lays out `html` (a page feedmerge served, fetched as is) in Chromium at `width`×`height`
/// and returns what `measure` (a JavaScript expression) gives as JSON. The page is served
/// from the test's own server with the measuring script added, since feedmerge's pages run
/// no script: the same HTML and CSS, so the same layout.
fn measure(
    browser: &str,
    server: &FeedServer,
    html: &str,
    (width, height): (u32, u32),
    measure: &str,
) -> serde_json::Value {
    let script = format!(
        "<script>addEventListener('load', () => {{ const m = document.createElement('pre'); \
         m.id = 'measured'; m.textContent = JSON.stringify({measure}); \
         document.body.append(m); }});</script>"
    );
    let page = html.replace("</body>", &format!("{script}</body>"));
    let path = format!("/measure-{width}.html");
    server.put(&path, Resource::new(page.into_bytes(), "text/html"));
    let dom = headless(
        browser,
        &[
            &format!("--window-size={width},{height}"),
            "--virtual-time-budget=3000",
            "--dump-dom",
        ],
        &server.url(&path),
    );
    let measured = dom
        .split("<pre id=\"measured\">")
        .nth(1)
        .and_then(|r| r.split("</pre>").next())
        .unwrap_or_else(|| panic!("nothing measured: {dom}"));
    serde_json::from_str(&measured.replace("&quot;", "\"")).expect("JSON")
}

/// The river page as a newcomer meets it: a search box that finds, stories above the fold on
/// a 1280×800 screen (the subscribe links fold away), older stories a page at a time, a
/// link to the status page, and a new source's undated item below its dated news; `/status`
/// at a phone's width with nothing off-screen, the failing source's problem included.
#[tokio::test]
#[ignore = "needs chromium (apt-get install chromium): pass --include-ignored"]
async fn the_river_page_leads_to_everything_and_status_fits_a_phone() {
    let browser = browser();
    let server = FeedServer::start();
    let mut items = String::from(
        "<item><title>Sponsored: an undated offer</title><link>https://outlet.example/ad</link>\
         <description>Buy now.</description></item>",
    );
    for i in 0..60 {
        items.push_str(&format!(
            "<item><title>Harbour story number {i}</title><link>https://outlet.example/{i}</link>\
             <description>Story {i} about the harbour and its ships.</description>\
             <pubDate>{}</pubDate></item>",
            (chrono::Utc::now() - chrono::Duration::minutes(10 + i)).to_rfc2822()
        ));
    }
    let feed = format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Outlet</title>{items}</channel></rss>");
    server.put(
        "/outlet.rss",
        Resource::new(feed.into_bytes(), "application/rss+xml"),
    );
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .text("feed", "title", "River test")
        .schedule(NEVER)
        .set("dedup", "threshold", "1.0")
        .source_with(
            "Outlet",
            &server.url("/outlet.rss"),
            "categories = [\"harbour\", \"world\", \"europe\", \"ports\", \"ships\", \"weather\", \"trade\", \"local\", \"sport\", \"culture\", \"science\", \"business\"]",
        )
        .source(
            "Broken Outlet With A Long Name",
            &server.url("/missing.rss"),
        )
        .raw("[[views]]\nname = \"ships\"\ninclude = [\"ships\"]")
        .setup();
    let _daemon = Daemon::start(&setup, "warn");
    let base = format!("http://127.0.0.1:{port}/");
    let http = client();
    let health = health_until(&http, port, Duration::from_secs(15), |h| h["stories"] == 61).await;
    assert_eq!(health["stories"], 61, "{health}");

    let dom = headless(browser, &["--dump-dom"], &base);
    // The newest dated story on top; the undated item of the source's first poll is not.
    let first = dom.split("<article>").nth(1).unwrap_or_default();
    assert!(first.contains("Harbour story number 0"), "{first}");
    assert!(
        !dom.contains("undated offer"),
        "the undated item is on page one: {dom}"
    );
    // A search box whose form finds.
    assert!(
        dom.contains("<form action=\"search\" role=\"search\">"),
        "{dom}"
    );
    assert!(dom.contains("name=\"q\""), "{dom}");
    let found = crate::common::text(&http, &format!("{base}search.atom?q=number+7")).await;
    assert!(found.contains("Harbour story number 7"), "{found}");
    // The status page, linked.
    assert!(dom.contains("<a href=\"status\">"), "{dom}");
    // Older stories, a page at a time, and back.
    assert_eq!(dom.matches("<article>").count(), 50);
    assert!(dom.contains("<a href=\"?page=2\" rel=\"next\">"), "{dom}");
    let older = headless(browser, &["--dump-dom"], &format!("{base}?page=2"));
    assert_eq!(older.matches("<article>").count(), 11, "{older}");
    assert!(older.contains("Harbour story number 59"), "{older}");
    assert!(older.contains("undated offer"), "{older}");
    assert!(older.contains("<a href=\"./\" rel=\"prev\">"), "{older}");
    assert!(!older.contains("rel=\"next\""), "{older}");

    // On a 1280×800 screen, stories come before the fold.
    let river = crate::common::text(&http, &base).await;
    let above = measure(
        browser,
        &server,
        &river,
        (1280, 800),
        "{first: document.querySelector('article').getBoundingClientRect().top, \
         above: [...document.querySelectorAll('article')].filter(a => a.getBoundingClientRect().top < innerHeight).length}",
    );
    eprintln!("the river at 1280x800: {above}");
    assert!(
        above["first"].as_f64().unwrap_or(f64::MAX) < 300.0 && above["above"].as_u64() >= Some(3),
        "{above}"
    );

    // `/status` at a phone's width (headless Chromium lays out no narrower than 500 px):
    // nothing wider than the screen, the problem in view.
    let status = crate::common::text(&http, &format!("{base}status")).await;
    assert!(status.contains("404"), "{status}");
    // Its chart counts the stories by the days they were published, all within the hour.
    assert!(status.contains("(61 in all;"), "{status}");
    let fits = measure(
        browser,
        &server,
        &status,
        (412, 915),
        "{scroll: document.documentElement.scrollWidth, width: innerWidth, \
         problem: Math.max(...[...document.querySelectorAll('td.problem')].map(p => p.getBoundingClientRect().right))}",
    );
    let (scroll, width, problem) = (
        fits["scroll"].as_f64().unwrap_or(f64::MAX),
        fits["width"].as_f64().unwrap_or(0.0),
        fits["problem"].as_f64().unwrap_or(f64::MAX),
    );
    eprintln!("/status at a phone's width: {fits}");
    assert!(scroll <= width && problem <= width, "{fits}");
}

/// The tests' own HTTP client. It keeps an idle connection for less time than the daemon
/// does (10 s without a request): a headless run of Chromium takes seconds, and a connection
/// reused just as the daemon closes it fails ("IncompleteMessage"), as it would for any
/// client that keeps connections longer than the server.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap()
}
