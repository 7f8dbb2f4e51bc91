//! Full text: a truncated feed whose items link to real article pages (`tests/fixtures/pages/`,
//! from Mozilla Readability's test pages) served on 127.0.0.1; after a poll the merged feed
//! carries each article's whole text in all three formats while the feed's own text stays
//! its summary; a page that fails leaves its entry with the feed's text and the error on the
//! source; robots.txt is honoured.

use crate::common::{stderr, stdout, ConfigBuilder, Engine, FeedServer, Resource};

/// A config whose one source, "Outlet", polls `/feed.rss` on `server` and reads its articles'
/// pages for their full text (pages on this machine, so allowed private addresses).
fn reading(server: &FeedServer) -> ConfigBuilder {
    ConfigBuilder::new().source_with(
        "Outlet",
        &server.url("/feed.rss"),
        "full_text = true\nallow_private = true",
    )
}

/// An RSS feed of (link path, title, the feed's truncated text).
fn truncated(server: &FeedServer, items: &[(&str, &str, &str)]) -> Resource {
    let items: String = items
        .iter()
        .map(|(path, title, text)| {
            format!(
                "<item><title>{title}</title><link>{}</link><guid>{path}</guid>\
                 <description>{text}</description><pubDate>Tue, 01 Dec 2026 10:00:00 GMT</pubDate></item>",
                server.url(path)
            )
        })
        .collect();
    Resource::new(
        format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Outlet</title>{items}</channel></rss>")
            .into_bytes(),
        "application/rss+xml",
    )
}

const ARS: &str = "The vulnerability stems from the fact that the client is allowed to send the server information about certain slots.";
const HERALD: &str = "The roadshow featured the Prime Minister’s national security adviser, Andrew Shearer, Justin Bassi";

crate::on_both_engines!(a_truncated_feed_is_published_whole);

async fn a_truncated_feed_is_published_whole(engine: Engine) {
    let server = FeedServer::start();
    server.put_fixture(
        "/news/ars.html",
        "pages/ars-1.html",
        "text/html; charset=utf-8",
    );
    server.put_fixture("/news/herald.html", "pages/herald-sun-1.html", "text/html");
    server.put(
        "/robots.txt",
        Resource::new(
            b"User-agent: *\nDisallow: /private/\n".to_vec(),
            "text/plain",
        ),
    );
    server.put(
        "/feed.rss",
        truncated(
            &server,
            &[
                (
                    "/news/ars.html",
                    "Minecraft exploit",
                    "A flaw in the wildly popular online game Minecraft…",
                ),
                (
                    "/news/herald.html",
                    "Surveillance laws",
                    "A HIGH-powered federal government team…",
                ),
                (
                    "/news/gone.html",
                    "A gone page",
                    "Only the feed text of a gone page.",
                ),
                (
                    "/private/kept.html",
                    "Kept back",
                    "Robots keep this page to the feed text.",
                ),
            ],
        ),
    );
    let Some(setup) = reading(&server).on(engine).await else {
        return;
    };
    let fetched = setup.feedmerge(&["fetch"]);
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    let said = stderr(&fetched);
    assert!(
        said.contains("2 article pages read for their full text, 2 failed"),
        "{said}"
    );
    assert!(
        server.seen("/private/kept.html").is_empty(),
        "robots.txt was not honoured"
    );

    for format in ["atom", "rss", "json"] {
        let out = setup.feedmerge(&["export", "--format", format]);
        assert!(out.status.success(), "{}", stderr(&out));
        // Pages keep their own line breaks: matched as words.
        let feed = stdout(&out)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        // The whole articles, from their pages.
        for sentence in [ARS, HERALD] {
            assert!(feed.contains(sentence), "{format}: {sentence:?} missing");
        }
        // The feed's own texts stay, as summaries (and as the content where no page was read).
        for text in [
            "A flaw in the wildly popular online game Minecraft…",
            "Only the feed text of a gone page.",
            "Robots keep this page to the feed text.",
        ] {
            assert!(feed.contains(text), "{format}: {text:?} missing");
        }
    }
    // The lazy picture of the Herald's page was made real.
    let atom = stdout(&setup.feedmerge(&["export", "--format", "atom"]));
    assert!(
        atom.contains("http://api.news.com.au/content/1.0/heraldsun/images/1227261885862"),
        "{atom}"
    );
    // Nothing is read twice: a second fetch reads no page again.
    let again = setup.feedmerge(&["fetch"]);
    assert!(
        !stderr(&again).contains("article pages read"),
        "{}",
        stderr(&again)
    );
    assert_eq!(server.seen("/news/ars.html").len(), 1);
}

/// An RSS feed whose items link to `paths` on `server`, each titled by its path.
fn linking(server: &FeedServer, paths: &[&str]) -> Resource {
    let items: Vec<(&str, &str, &str)> = paths
        .iter()
        .map(|p| (*p, *p, "The feed text of this item."))
        .collect();
    truncated(server, &items)
}

/// Each article's full-text state: (title, error) of every page read.
async fn errors(setup: &crate::common::Setup) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT a.title, f.error FROM full_texts f JOIN articles a ON a.id = f.article_id
         ORDER BY a.title",
    )
    .fetch_all(&setup.db().await)
    .await
    .expect("full texts")
}

/// Hostile article pages — huge, of 60,000 elements, nested 300,000 deep, a decompression bomb, not HTML, slow —
/// cost a bounded amount (the fetch's CPU time and peak memory, a generous bound only a
/// runaway exceeds) and each is recorded as its article's error; the entries keep the
/// feed's text.
#[tokio::test]
async fn hostile_article_pages_cost_little_and_are_recorded() {
    use std::io::Write;
    let server = FeedServer::start();
    let huge = "<p>word word word word word word word word word</p>\n".repeat(100_000);
    server.put("/huge.html", Resource::new(huge.into_bytes(), "text/html"));
    let many = format!("<html><body>{}</body></html>", "<p>a</p>".repeat(60_000));
    server.put("/many.html", Resource::new(many.into_bytes(), "text/html"));
    let deep = format!(
        "<html><body>{}<p>deep</p></body></html>",
        "<div>".repeat(300_000)
    );
    server.put("/deep.html", Resource::new(deep.into_bytes(), "text/html"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b' '; 64 * 1024 * 1024]).unwrap();
    let bomb =
        Resource::new(gz.finish().unwrap(), "text/html").with_header("content-encoding", "gzip");
    server.put("/bomb.html", bomb);
    server.put(
        "/picture.html",
        Resource::new(vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3], "image/png"),
    );
    let mut slow = Resource::new(b"<p>too late</p>".to_vec(), "text/html");
    slow.delay = std::time::Duration::from_secs(30);
    server.put("/slow.html", slow);
    let paths = [
        "/huge.html",
        "/many.html",
        "/deep.html",
        "/bomb.html",
        "/picture.html",
        "/slow.html",
    ];
    server.put("/feed.rss", linking(&server, &paths));
    let setup = reading(&server).text("poll", "timeout", "3s").setup();
    let (out, cpu, peak) =
        crate::common::run_measured(setup.command().arg("-c").arg(&setup.config).arg("fetch"));
    assert!(out.status.success(), "{}", stderr(&out));
    eprintln!("fetch of 6 hostile pages: {cpu:?} of CPU, {peak} MiB peak");
    assert!(
        stderr(&out).contains("0 article pages read for their full text, 6 failed"),
        "{}",
        stderr(&out)
    );
    assert!(cpu < std::time::Duration::from_secs(20), "{cpu:?}");
    assert!(peak < 300, "{peak} MiB");
    let errors = errors(&setup).await;
    let error = |path: &str| {
        errors
            .iter()
            .find(|(t, _)| t == path)
            .and_then(|(_, e)| e.clone())
            .unwrap_or_else(|| panic!("{path}: no error in {errors:?}"))
    };
    assert!(error("/huge.html").contains("larger than"), "{errors:?}");
    assert!(error("/many.html").contains("50000 elements"), "{errors:?}");
    assert!(
        error("/deep.html").contains("nests its elements too deeply"),
        "{errors:?}"
    );
    assert!(error("/bomb.html").contains("larger than"), "{errors:?}");
    assert!(
        error("/picture.html").contains("not HTML (image/png)"),
        "{errors:?}"
    );
    assert!(
        error("/slow.html").contains("3s") || error("/slow.html").contains("time"),
        "{errors:?}"
    );
    let atom = stdout(&setup.feedmerge(&["export", "--format", "atom"]));
    assert_eq!(
        atom.matches("The feed text of this item.").count(),
        6,
        "{atom}"
    );
}

/// An article page is fetched through the same guard as feeds: the feed names it, not the
/// config, so an address on this machine is refused unless the source allows private
/// addresses; the error is on the source (`feedmerge sources`).
#[test]
fn article_pages_on_private_addresses_are_refused() {
    let server = FeedServer::start();
    server.put_fixture("/news/ars.html", "pages/ars-1.html", "text/html");
    server.put("/feed.rss", linking(&server, &["/news/ars.html"]));
    let setup = ConfigBuilder::new()
        .source_with("Outlet", &server.url("/feed.rss"), "full_text = true")
        .setup();
    let out = setup.feedmerge(&["fetch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        server.seen("/news/ars.html").is_empty(),
        "the page was fetched"
    );
    let table = stdout(&setup.feedmerge(&["sources"]));
    assert!(
        table.contains("0 articles; last error: refused: 127.0.0.1 is a loopback address"),
        "{table}"
    );
}

/// A source's `content_selector` picks the article and `remove` takes parts out; `check`
/// refuses a selector CSS cannot read, naming file, line and key; `extract` shows what a
/// page gives with given selectors; `refetch` reads the pages again after they changed.
#[test]
fn selectors_extract_and_refetch() {
    let server = FeedServer::start();
    server.put_fixture("/news/herald.html", "pages/herald-sun-1.html", "text/html");
    server.put("/feed.rss", linking(&server, &["/news/herald.html"]));
    let page = server.url("/news/herald.html");
    // `extract`: what the page gives, as automatic extraction and with a selector.
    let setup = reading(&server).setup();
    let shown = setup.feedmerge(&["extract", &page, "--allow-private"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown = stdout(&shown);
    assert!(
        shown.starts_with("title:     Angry media won’t buckle over new surveillance laws\n"),
        "{shown}"
    );
    assert!(
        shown.contains("\nlanguage:  en-au\n") && shown.contains(HERALD),
        "{shown}"
    );
    let caption = setup.feedmerge(&[
        "extract",
        &page,
        "--allow-private",
        "--selector",
        "p.caption",
    ]);
    assert!(
        stdout(&caption).contains("A new Bill would require"),
        "{}",
        stdout(&caption)
    );
    assert!(!stdout(&caption).contains(HERALD), "{}", stdout(&caption));
    let bad = setup.feedmerge(&["extract", &page, "--allow-private", "--selector", "p["]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("\"p[\" is not a CSS selector"),
        "{}",
        stderr(&bad)
    );

    // Stored with the whole text; then a `remove` that takes the captions out, and `refetch`.
    assert!(setup.feedmerge(&["fetch"]).status.success());
    let atom = stdout(&setup.feedmerge(&["export", "--format", "atom"]));
    assert!(
        atom.contains("Source: Supplied") || atom.contains("Supplied"),
        "{atom}"
    );
    let config = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(&setup.config, format!("{config}remove = [\".caption\"]\n")).unwrap();
    let again = setup.feedmerge(&["refetch", "--source", "Outlet"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again)
            .contains("1 articles forgotten; 1 article pages read for their full text, 0 failed"),
        "{}",
        stderr(&again)
    );
    let atom = stdout(&setup.feedmerge(&["export", "--format", "atom"]));
    assert!(
        !atom.contains("Supplied") && atom.contains("roadshow"),
        "{atom}"
    );

    // `check` names a selector CSS cannot read.
    std::fs::write(
        &setup.config,
        format!("{config}content_selector = \"div[\"\n"),
    )
    .unwrap();
    let check = setup.feedmerge(&["check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stderr(&check)
            .contains(":8:20: sources[0].content_selector: \"div[\" is not a CSS selector"),
        "{}",
        stderr(&check)
    );
}

/// In the daemon, a hanging article page delays no feed poll: the outlet is polled on its
/// schedule (every 2 s) all the while its page hangs, until the page's fetch gives up (its
/// timeout, 8 s), which `/metrics` then counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_article_page_delays_no_feed_poll() {
    use crate::common::{free_port, text, Daemon, STALL};
    let server = FeedServer::start();
    let mut hanging = Resource::new(b"<p>never in time</p>".to_vec(), "text/html");
    hanging.delay = std::time::Duration::from_secs(60);
    server.put("/hang.html", hanging);
    server.put("/feed.rss", linking(&server, &["/hang.html"]));
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule("*/2 * * * * *")
        .text("poll", "timeout", "8s")
        .source_with(
            "Outlet",
            &server.url("/feed.rss"),
            "full_text = true\nallow_private = true\nrespect_feed_hints = false",
        )
        .setup();
    let _daemon = Daemon::start(&setup, "warn");
    let http = reqwest::Client::new();
    // The first poll stores the article and its page is asked for at once; it hangs until
    // the fetch gives up, 8 s later: every poll after the first happened while it hung.
    let failed = "feedmerge_full_texts_total{source=\"Outlet\",outcome=\"failed\"} 1";
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let started = std::time::Instant::now();
    while !text(&http, &metrics).await.contains(failed) {
        assert!(
            started.elapsed() < STALL + STALL,
            "the page's fetch never gave up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let polls = server.seen("/feed.rss").len().saturating_sub(1);
    eprintln!(
        "{polls} polls of the feed while its page hung ({:?} in all)",
        started.elapsed()
    );
    assert!(polls >= 2, "{polls} polls while the page hung");
}

/// The page's metadata fills what the feed left out: the byline, the lead picture, the
/// language and, for an entry its feed did not date, the time.
#[test]
fn the_page_fills_what_the_feed_left_out() {
    let server = FeedServer::start();
    let paragraph = "<p>The harbour authority opened the new quay on Monday, after three years of \
                     works that closed the old fish market and moved the ferries east.</p>";
    let page = format!(
        "<html lang=\"fr-FR\"><head><title>Quay opens</title>\
         <meta property=\"article:published_time\" content=\"2026-11-30T08:00:00Z\">\
         <meta name=\"author\" content=\"Anne Martin\">\
         <meta property=\"og:image\" content=\"/pictures/quay.jpg\"></head>\
         <body><nav>Home · News</nav><article><h1>Quay opens</h1>{}</article>\
         <footer>© The Harbour Times</footer></body></html>",
        paragraph.repeat(6)
    );
    server.put("/quay.html", Resource::new(page.into_bytes(), "text/html"));
    server.put(
        "/feed.rss",
        Resource::new(
            format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>\
                 <item><title>Quay opens</title><link>{}</link><description>The quay…</description></item>\
                 </channel></rss>",
                server.url("/quay.html")
            )
            .into_bytes(),
            "application/rss+xml",
        ),
    );
    let setup = reading(&server).setup();
    assert!(setup.feedmerge(&["fetch"]).status.success());
    let atom = stdout(&setup.feedmerge(&["export", "--format", "atom"]));
    assert!(atom.contains("<name>Anne Martin</name>"), "{atom}");
    assert!(
        atom.contains(&format!(
            "{}/pictures/quay.jpg",
            server.url("").trim_end_matches('/')
        )),
        "{atom}"
    );
    assert!(atom.contains("xml:lang=\"fr-FR\""), "{atom}");
    assert!(
        atom.contains("<published>2026-11-30T08:00:00+00:00</published>"),
        "{atom}"
    );
}
