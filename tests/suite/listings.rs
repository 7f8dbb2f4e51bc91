//! Sites without a feed: a news site's listing page (in the markup real sites write, in
//! `tests/fixtures/listings/`) read by a source's CSS selectors, and a JSON list read by its
//! JSON pointers; their entries previewed, polled and served like a feed's (links and
//! pictures absolute, dates read, text sanitised); a redesign that breaks the selector an
//! error on the source; a selector that cannot be read refused by `check`.

use crate::common::{stderr, stdout, ConfigBuilder, FeedServer, Resource};

const HTML: &str = r#"html = { items = ".gs-c-promo", title = ".gs-c-promo-heading__title", link = "a.gs-c-promo-heading@href", date = "time@datetime", summary = ".gs-c-promo-summary", image = "img@src" }"#;
const CARDS: &str = r#"html = { items = ".fc-item", title = ".fc-item__title .js-headline-text", link = "a.fc-item__link@href", date = "time@datetime", summary = ".fc-item__standfirst", image = "img@src", author = ".fc-item__byline" }"#;
const JSON: &str = r#"json = { items = "/data/items", title = "/headline", link = "/url", date = "/publishedAt", summary = "/dek", image = "/image/url", author = "/byline/name" }"#;

/// The world page after a redesign: none of the old selectors finds anything.
fn redesigned() -> Resource {
    let page =
        r#"<!doctype html><html><body><div class="ssrcss-card">New look</div></body></html>"#;
    Resource::new(page.as_bytes().to_vec(), "text/html")
}

fn export(setup: &crate::common::Setup) -> serde_json::Value {
    let out = setup.feedmerge(&["export", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("a JSON feed")
}

#[test]
fn a_listing_page_and_a_json_list_become_entries() {
    let site = FeedServer::start();
    site.put_fixture(
        "/news/world",
        "listings/world-news.html",
        "text/html; charset=utf-8",
    );
    site.put_fixture("/api/latest", "listings/latest.json", "application/json");
    site.put_fixture("/uk", "listings/uk-front.html", "text/html; charset=utf-8");
    let setup = ConfigBuilder::new()
        .source_with(
            "World",
            &site.url("/news/world"),
            &format!("allow_private = true\n{HTML}"),
        )
        .source_with(
            "Front",
            &site.url("/uk"),
            &format!("allow_private = true\n{CARDS}"),
        )
        .source_with(
            "Latest",
            &site.url("/api/latest"),
            &format!("allow_private = true\n{JSON}"),
        )
        .setup();

    // Previewed: what the selectors find, before anything is stored.
    let out = setup.feedmerge(&["preview", "World"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("1. Harvest falls short across the plains"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "link:    {}",
            site.url("/news/world-europe-68000001")
        )),
        "{shown}"
    );
    assert!(
        shown.contains("date:    2025-09-01T10:12:00+00:00"),
        "{shown}"
    );
    assert!(shown.contains("3. Floods cut off river towns"), "{shown}");
    assert!(stderr(&out).contains("3 entries"), "{}", stderr(&out));
    let json = stdout(&setup.feedmerge(&["preview", "Latest"]));
    assert!(
        json.contains("1. Central bank holds rates") && json.contains("author:  Ana Ruiz"),
        "{json}"
    );

    // Polled and served.
    let out = setup.feedmerge(&["fetch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.lines()
            .any(|l| l.starts_with("World") && l.contains("3 new")),
        "{said}"
    );
    assert!(
        said.lines()
            .any(|l| l.starts_with("Latest") && l.contains("2 new")),
        "{said}"
    );
    assert!(
        said.lines()
            .any(|l| l.starts_with("Front") && l.contains("2 new")),
        "{said}"
    );
    let feed = export(&setup);
    let items = feed["items"].as_array().unwrap();
    let item = |title: &str| {
        items
            .iter()
            .find(|i| i["title"] == title)
            .unwrap_or_else(|| panic!("no {title:?} in {feed}"))
    };
    let harvest = item("Harvest falls short across the plains");
    assert_eq!(harvest["url"], site.url("/news/world-europe-68000001"));
    assert_eq!(harvest["date_published"], "2025-09-01T10:12:00Z");
    assert_eq!(
        harvest["image"],
        "https://ichef.news.example/news/240/cpsprodpb/harvest.jpg"
    );
    let text = harvest.to_string();
    assert!(
        text.contains("<b>halved</b>") && !text.contains("steal()"),
        "{text}"
    );
    let floods = item("Floods cut off river towns");
    assert_eq!(
        floods["url"],
        site.url("/news/world-asia-68000003?at_medium=RSS")
    );
    assert_eq!(floods["image"], site.url("/news/images/flood-240.jpg"));
    assert_eq!(floods["date_published"], "2025-09-01T07:30:00Z");
    let bank = item("Central bank holds rates");
    assert_eq!(
        bank["url"],
        site.url("/business/2025/09/01/central-bank-holds-rates")
    );
    assert_eq!(bank["date_published"], "2025-09-01T10:00:00Z");
    assert!(!bank.to_string().contains("onerror"), "{bank}");
    assert_eq!(
        item("Rail strike called off")["date_published"],
        "2025-09-01T05:45:00Z"
    );

    let quake = item("Earthquake shakes coastal city as thousands sleep outdoors");
    assert_eq!(
        quake["url"],
        "https://www.theguardian.example/world/live/2025/sep/01/earthquake"
    );
    assert_eq!(quake["date_published"], "2025-09-01T08:41:12Z");
    assert_eq!(
        quake["image"],
        "https://i.guim.example/img/media/quake/master/3000.jpg?width=140&quality=85"
    );
    let trains = item("The trains will run on time when we pay for them");
    assert_eq!(
        trains["url"],
        site.url("/commentisfree/2025/sep/01/trains-on-time")
    );
    assert_eq!(trains["authors"][0]["name"], "Polly Example");
    assert_eq!(trains["date_published"], "2025-09-01T06:00:00Z");

    // A redesign: the selector finds nothing, and the source says so.
    site.put("/news/world", redesigned());
    let out = setup.feedmerge(&["fetch", "--source", "World"]);
    // (`/status` shows the same row as `sources`: publish/health.rs; the daemon's is
    // checked below.)
    assert!(
        stdout(&out).contains("matched nothing"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let listed = stdout(&setup.feedmerge(&["sources"]));
    assert!(
        listed.contains("the items selector \".gs-c-promo\" matched nothing"),
        "{listed}"
    );

    // A selector CSS cannot read is refused with its key.
    let bad = ConfigBuilder::new()
        .source_with(
            "Bad",
            &site.url("/news/world"),
            r#"html = { items = "div[", title = "h3", link = "a@href" }"#,
        )
        .setup();
    let out = bad.feedmerge(&["check"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("sources[0].html.items"),
        "{}",
        stderr(&out)
    );
}

/// The daemon polling a listing whose site was redesigned: `/status` names the selector that
/// matched nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redesign_is_an_error_on_the_status_page() {
    use crate::common::{free_port, text, Daemon, NEVER, STALL};
    let site = FeedServer::start();
    site.put("/news/world", redesigned());
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .source_with("World", &site.url("/news/world"), HTML)
        .setup();
    let daemon = Daemon::start(&setup, "warn");
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    loop {
        let status = text(&http, &format!("http://127.0.0.1:{port}/status")).await;
        if status.contains("the items selector &quot;.gs-c-promo&quot; matched nothing")
            || status.contains("the items selector \".gs-c-promo\" matched nothing")
        {
            break;
        }
        if started.elapsed() > STALL {
            daemon.fail(&format!("/status does not show the error: {status}"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
