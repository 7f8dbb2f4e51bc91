//! `[[rules]]` on real captures (`tests/fixtures/rules/`): Daring Fireball's sponsor posts
//! discarded by a `title:` query, Expansión's "MOCKS: " prefix rewritten and its Nielsen
//! tracking pixel gone by default (kept where a rule says so), FeedBurner's flare and counting
//! pixels gone from a blog's entries, a rule scoped to one category touching no other source,
//! the discarded entries counted once; `feedmerge reapply` changing what is stored and served
//! beside a running daemon; and a rule that cannot be read refused by `check` with its line.

use crate::common::{stderr, stdout, ConfigBuilder, FeedServer, Setup};

const DF: &str = "Daring Fireball";
const EXP: &str = "Expansión";
const BLOG: &str = "Amit Gupta";

/// The three real feeds, served.
fn site() -> FeedServer {
    let site = FeedServer::start();
    site.put_fixture(
        "/df.atom",
        "rules/daringfireball.atom",
        "application/atom+xml",
    );
    site.put_fixture("/portada.xml", "rules/expansion.xml", "application/rss+xml");
    site.put_fixture(
        "/amit.xml",
        "rules/feedburner-amitgupta.xml",
        "application/rss+xml",
    );
    site
}

/// A config polling the three feeds, with `rules` after them.
fn config(site: &FeedServer, rules: &str) -> ConfigBuilder {
    // Every entry in one page of the merged feed.
    ConfigBuilder::new()
        .set("feed", "max_entries", "500")
        .source_with(
            DF,
            &site.url("/df.atom"),
            "allow_private = true\ncategories = [\"tech\"]",
        )
        .source_with(
            EXP,
            &site.url("/portada.xml"),
            "allow_private = true\ncategories = [\"spain\"]",
        )
        .source_with(BLOG, &site.url("/amit.xml"), "allow_private = true")
        .raw(rules)
}

/// The merged feed's items (JSON Feed), by `feedmerge export`.
fn items(setup: &Setup) -> Vec<serde_json::Value> {
    let out = setup.feedmerge(&["export", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let feed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON feed");
    feed["items"].as_array().cloned().unwrap_or_default()
}

/// The DISCARDED column of `feedmerge sources` for Daring Fireball, Expansión and the blog.
fn discarded(setup: &Setup) -> (String, String, String) {
    let listed = stdout(&setup.feedmerge(&["sources"]));
    let header = listed.lines().next().unwrap_or_default();
    let at = header.find("DISCARDED").expect("a DISCARDED column");
    let column = |name: &str| {
        let line = listed
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default();
        let cell = line.get(at..).unwrap_or_default().split_whitespace().next();
        cell.unwrap_or_default().to_owned()
    };
    (column(DF), column(EXP), column(BLOG))
}

/// The items credited to `source`.
fn of<'a>(items: &'a [serde_json::Value], source: &str) -> Vec<&'a serde_json::Value> {
    items
        .iter()
        .filter(|i| i["_feedmerge"]["source"]["name"] == source)
        .collect()
}

fn title(item: &serde_json::Value) -> &str {
    item["title"].as_str().unwrap_or_default()
}

const RULES: &str = r#"
[[rules]]
sources = ["Daring Fireball"]
discard = 'title:sponsor'

[[rules]]
sources = ["Daring Fireball"]
rewrite_text = { pattern = '(?s)^.*TidBITS on Virgin Mobile.*$', replace = "<p>A rule replaced this text: now it tells of rain, snow and wind in the mountains for days.</p>" }

[[rules]]
categories = ["spain"]
rewrite_title = { pattern = "^MOCKS: ", replace = "" }

[[rules]]
categories = ["spain"]
discard = 'title:vídeo OR apple'
remove = ["a[href*='expansion.com/']"]
"#;

#[test]
fn rules_shape_real_feeds_as_they_come_in() {
    let site = site();
    let setup = config(&site, RULES).setup();
    let out = setup.feedmerge(&["fetch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let items = items(&setup);

    // Daring Fireball: its 48 entries but the two sponsor posts; its posts about Apple kept,
    // though a rule of another category discards entries that mention Apple.
    let df = of(&items, DF);
    assert_eq!(
        df.len(),
        46,
        "{:?}",
        df.iter().map(|i| title(i)).collect::<Vec<_>>()
    );
    assert!(df.iter().all(|i| !title(i).contains("[Sponsor]")));
    assert!(df.iter().filter(|i| title(i).contains("Apple")).count() >= 4);

    // Expansión: the prefix rewritten, the video discarded (a word, so "Videoanálisis"
    // stays), the "Leer" links taken out, and the Nielsen pixel gone without any rule.
    let exp = of(&items, EXP);
    // One video, and one entry that mentions Apple, discarded.
    assert_eq!(exp.len(), 73);
    let titles: Vec<&str> = exp.iter().map(|i| title(i)).collect();
    assert!(
        titles
            .contains(&"El BCE sorprende al mercado con un amplio paquete de medidas antipandemia"),
        "{titles:?}"
    );
    assert!(titles.iter().all(|t| !t.starts_with("MOCKS")), "{titles:?}");
    assert!(
        titles.iter().all(|t| !t.starts_with("Vídeo:")),
        "{titles:?}"
    );
    assert!(
        titles.iter().any(|t| t.starts_with("Videoanálisis:")),
        "{titles:?}"
    );
    for item in &exp {
        let html = item["content_html"].as_str().unwrap_or_default();
        assert!(!html.contains("imrworldwide"), "{html}");
        assert!(!html.contains(">Leer</a>"), "{html}");
    }

    // The blog: FeedBurner's flare and counting pixels gone, its text kept.
    let blog = of(&items, BLOG);
    assert_eq!(blog.len(), 20);
    for item in &blog {
        let html = item["content_html"].as_str().unwrap_or_default();
        assert!(
            !html.contains("feedflare") && !html.contains("/~f/"),
            "{html}"
        );
        assert!(!html.contains("/~4/"), "{html}");
    }
    assert!(blog
        .iter()
        .any(|i| i["content_html"].as_str().unwrap_or_default().len() > 500));

    // One language: the fields a rule reads, a search reads too.
    let found = stdout(&setup.feedmerge(&["search", "author:gruber link:tidbits.com"]));
    assert!(
        found.contains("Virgin Mobile Partners With Apple"),
        "{found}"
    );
    assert!(found.trim_end().ends_with("1 stories match"), "{found}");
    let found = stdout(&setup.feedmerge(&["search", "author:\"department of commerce\""]));
    assert_eq!(
        found.trim(),
        "no story matches",
        "the sponsor posts were not stored"
    );

    // What the rules kept out, per source, counted once however often the feed carries it.
    assert_eq!(discarded(&setup), ("2".into(), "2".into(), "0".into()));
    site.put_fixture(
        "/df.atom",
        "rules/daringfireball.atom",
        "application/atom+xml",
    );
    let out = setup.feedmerge(&["fetch", "--source", DF]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(discarded(&setup).0, "2");
}

#[test]
fn trackers_stay_where_a_rule_keeps_them() {
    let site = site();
    let keep = "[[rules]]\nsources = [\"Expansión\"]\nkeep_trackers = true\n";
    let setup = config(&site, keep).setup();
    let out = setup.feedmerge(&["fetch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let items = items(&setup);
    let exp = of(&items, EXP);
    assert!(exp
        .iter()
        .all(|i| i["content_html"].to_string().contains("imrworldwide")));
    // The rule's scope is one source: the blog's flare still goes.
    let blog = of(&items, BLOG);
    assert!(blog
        .iter()
        .all(|i| !i["content_html"].to_string().contains("feedflare")));
}

/// `reapply` beside a running daemon: rules added after the articles were stored discard and
/// rewrite them, and the daemon's merged feed shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reapply_changes_stored_articles_beside_a_running_daemon() {
    use crate::common::{free_port, health_until, text, Daemon, NEVER, STALL};
    let site = site();
    let port = free_port();
    let before = config(&site, "").serve(port).schedule(NEVER);
    let setup = before.setup();
    let daemon = Daemon::start(&setup, "warn");
    let http = reqwest::Client::new();
    let merged = format!("http://127.0.0.1:{port}/feed.json");
    // Every entry of the three feeds stored (the sources are polled side by side).
    let health = health_until(&http, port, STALL * 3, |h| h["articles"] == 48 + 75 + 20).await;
    if health["articles"] != 48 + 75 + 20 {
        daemon.fail(&format!(
            "the daemon never stored the three feeds: {health}"
        ));
    }
    // The Virgin Mobile post, as the daemon serves it before the rules.
    let virgin = |feed: &str| -> Vec<serde_json::Value> {
        let feed: serde_json::Value = serde_json::from_str(feed).unwrap_or_default();
        let items = feed["items"].as_array().cloned().unwrap_or_default();
        items
            .into_iter()
            .filter(|i| {
                i["title"] == "Virgin Mobile Partners With Apple to Go iPhone-Only With $1 Service"
            })
            .collect()
    };
    let first = virgin(&text(&http, &merged).await);
    assert_eq!(first.len(), 1);
    // The rules, written while the daemon runs.
    let after = config(&site, RULES).serve(port).schedule(NEVER);
    std::fs::write(&setup.config, after.build()).expect("write the config");
    let out = setup.feedmerge(&["reapply"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains(
            "Daring Fireball: 2 of 48 stored articles discarded, 1 rewritten (1 placed in a story anew)"
        ),
        "{said}"
    );
    // Every other Expansión article loses its "Leer" link (one its prefix too).
    assert!(
        said.contains(
            "Expansión: 2 of 75 stored articles discarded, 73 rewritten (0 placed in a story anew)"
        ),
        "{said}"
    );
    assert!(
        stderr(&out).contains("4 stored articles discarded, 74 rewritten"),
        "{}",
        stderr(&out)
    );

    // The daemon serves what reapply left.
    let started = std::time::Instant::now();
    loop {
        let feed = text(&http, &merged).await;
        let done = feed.contains("\"El BCE sorprende al mercado")
            && !feed.contains("MOCKS: El BCE")
            && !feed.contains("[Sponsor]")
            && !feed.contains("Vídeo: Así se vuela");
        // The post whose text a rule replaced is no longer a version of its story: placed
        // anew, it is one entry still (its id is made from its entry, so it keeps it).
        let now = virgin(&feed);
        let replaced = now.len() == 1
            && now[0]["id"] == first[0]["id"]
            && now[0]["content_html"]
                .as_str()
                .is_some_and(|h| h.contains("rain, snow and wind"));
        if done && replaced {
            break;
        }
        if started.elapsed() > STALL * 3 {
            daemon.fail(&format!("the merged feed does not show the rules: {feed}"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // A second reapply has nothing left to do.
    let again = stderr(&setup.feedmerge(&["reapply"]));
    assert!(
        again.contains("0 stored articles discarded, 0 rewritten"),
        "{again}"
    );
    assert_eq!(discarded(&setup), ("2".into(), "2".into(), "0".into()));
    daemon.signal("TERM");
    let (status, log) = daemon.wait(STALL * 3);
    assert!(status.success(), "{log}");
    setup.assert_intact().await;
    assert!(setup.foreign_key_violations().await.is_empty());
}

#[test]
fn a_rule_that_cannot_be_read_is_refused_with_its_line() {
    let setup = Setup::new(
        r#"[[sources]]
name = "Daring Fireball"
url = "https://daringfireball.net/feeds/main"

[[rules]]
sources = ["Daring Firebal"]
discard = 'title:"sponsor'
rewrite_title = { pattern = "^(MOCKS", replace = "" }
remove = ["div["]

[[rules]]
categories = ["spain"]
"#,
    );
    let out = setup.feedmerge(&["check"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = stderr(&out).replace(&setup.config.display().to_string(), "CONFIG");
    for expected in [
        "CONFIG:6:12: rules[0].sources[0]: \"Daring Firebal\" is not the name of any [[sources]] entry",
        "CONFIG:7:11: rules[0].discard: \"title:\\\"sponsor\" is not a query that can be read: a phrase opened by the quote at character 7 is not closed",
        "CONFIG:8:29: rules[0].rewrite_title.pattern: \"^(MOCKS\" is not a valid regular expression: error: unclosed group",
        "CONFIG:9:11: rules[0].remove[0]: \"div[\" is not a CSS selector",
        "CONFIG:11:1: rules[1]: this rule does nothing",
        "CONFIG:12:15: rules[1].categories[0]: no source is filed under category \"spain\"",
    ] {
        assert!(said.contains(expected), "{expected}\nnot in:\n{said}");
    }
}

/// The README's worked examples are a config `check` accepts, beside the sources they name.
#[test]
fn the_readmes_rules_are_valid() {
    let readme = include_str!("../../README.md");
    let rules = readme
        .split("## Rules")
        .nth(1)
        .and_then(|s| s.split("```toml\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("the README's rules");
    let mut config = String::new();
    for (name, more) in [
        (DF, ""),
        (EXP, "categories = [\"spain\"]\n"),
        ("Wire", ""),
        ("Daily", ""),
    ] {
        config.push_str(&format!(
            "[[sources]]\nname = \"{name}\"\nurl = \"https://{}.example/feed\"\n{more}",
            name.len()
        ));
    }
    let setup = Setup::new(&format!("{config}{rules}"));
    let out = setup.feedmerge(&["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
