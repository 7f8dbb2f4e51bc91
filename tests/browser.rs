//! The river page in a real browser: headless Chromium loads `/` from `feedmerge run`, the
//! page it renders lists the fixture stories with their outlets, every feed link on it
//! answers with a feed that parses, and a screenshot of the page at phone width is kept in
//! `target/tmp/river.png`.
//!
//! Needs Chromium (Debian's `chromium`, which `.ci/run` installs). Without it the test says
//! so and passes, unless `FEEDMERGE_BROWSER_TESTS=1` (set by `.ci/run`) requires it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, Daemon, FeedServer, Setup};

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

#[tokio::test]
async fn the_river_page_renders_in_chromium_and_its_feed_links_work() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("FEEDMERGE_BROWSER_TESTS").is_none(),
            "FEEDMERGE_BROWSER_TESTS is set but no chromium is installed"
        );
        eprintln!("SKIPPED: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    server.put_fixture("/partner.atom", "partner.atom", "application/atom+xml");
    let port = free_port();
    let setup = Setup::new(&format!(
        "[feed]\ntitle = \"Browser test\"\nbase_url = \"http://127.0.0.1:{port}/\"\n\
         [server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndatabase = \"db/feedmerge.db\"\n\
         [poll]\nschedule = \"0 0 1 1 *\"\n\
         [[sources]]\nname = \"Global Times\"\nurl = \"{}\"\ncategories = [\"world\"]\n\
         [[sources]]\nname = \"Partner Wire\"\nurl = \"{}\"\n\
         [[views]]\nname = \"ukraine\"\ninclude = [\"ukraine\"]\n",
        server.url("/gt.rss"),
        server.url("/partner.atom"),
    ));
    let _daemon = Daemon::start(&setup, "warn");
    let base = format!("http://127.0.0.1:{port}/");
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let health = http.get(format!("{base}healthz")).send().await;
        if let Ok(r) = health {
            let v: serde_json::Value =
                serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or_default();
            if v["stories"] == 4 {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the daemon did not poll"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The DOM as Chromium built it.
    let dom = headless(browser, &["--dump-dom"], &base);
    assert!(dom.contains("<h1>Browser test</h1>"), "{dom}");
    let articles = dom.matches("<article>").count();
    assert_eq!(articles, 4, "one per story: {dom}");
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

    // A screenshot at phone width, kept as an artifact.
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("river.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        browser,
        &[&format!("--screenshot={}", shot.display())],
        &base,
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
