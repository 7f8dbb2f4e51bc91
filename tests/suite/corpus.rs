//! Every file of the real-feed corpus (`../shared/corpus/real/`, 553 captures of news outlets,
//! blogs and parser fixtures, 23 of them broken on purpose) fetched and ingested from a local
//! server in one `feedmerge fetch`: each ends in stored articles or a clear recorded error,
//! none in a panic; and for every file Python's feedparser read without complaint (the
//! manifest's `bozo` = 0), the entries stored match the entries it counted, except where the
//! difference is explained below.
//!
//! The corpus is not part of this repository; without it the test says so and passes.

use std::collections::HashMap;
use std::path::Path;

use crate::common::{stderr, ConfigBuilder, FeedServer, Resource};

/// Files feedparser read without complaint whose stored entry count differs from its count:
/// the count we store, and why.
const EXPLAINED: &[(&str, usize, &str)] = &[
    (
        "rust-rss/rss092.xml",
        21,
        "two of its 22 items are the same item, byte for byte, with neither guid nor link",
    ),
    (
        "feedjira-2009/sneer.xml",
        21,
        "two items share the guid http://del.icio.us/jperkins#2009-01-18",
    ),
    (
        "rsparser/scriptingNews.rss",
        48,
        "two guids (…/06/25.html#a080631, …/06/24.html#a100632) each appear twice",
    ),
    (
        "atoma/broken-enclosure.xml",
        2,
        "two items are the same item (\"Foo item\") with neither guid nor link",
    ),
    (
        "newsoutlets-chrome-extension/libertaddigital.xml",
        135,
        "three articles are listed twice under the same guid",
    ),
    (
        "node-feedparser/illegally-nested.xml",
        10,
        "items nested inside items (not valid RSS): the 10 outer items are read; \
         feedparser also counts the nested ones",
    ),
    (
        "feed-rs/xml_iso8859.xml",
        0,
        "its root element is a bare <rdf> in no namespace: neither RSS 1.0 nor any other \
         format; reported as not a feed",
    ),
];

#[tokio::test]
#[ignore = "needs ../shared/corpus/real beside the checkout: pass --include-ignored"]
async fn every_real_feed_is_stored_or_fails_plainly() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/real");
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv"))
        .unwrap_or_else(|e| panic!("this test needs the corpus at {}: {e}", corpus.display()));
    let server = FeedServer::start();
    let mut config = ConfigBuilder::new()
        .set("poll", "per_host", "16")
        .text("poll", "timeout", "60s");
    // file -> (entries feedparser counted, whether it read the file without complaint)
    let mut expected: HashMap<String, (usize, bool)> = HashMap::new();
    for row in manifest.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (file, format, entries, bozo) = (cols[0], cols[1], cols[2], cols[3]);
        let body = std::fs::read(corpus.join(file)).expect("corpus file");
        let content_type = match format {
            f if f.starts_with("atom") => "application/atom+xml",
            f if f.starts_with("json") => "application/feed+json",
            f if f.starts_with("rss") => "application/rss+xml",
            _ => "application/xml",
        };
        let path = format!("/{file}");
        server.put(&path, Resource::new(body, content_type));
        config = config.source(file, &server.url(&path));
        expected.insert(file.to_owned(), (entries.parse().unwrap_or(0), bozo == "0"));
    }
    let setup = config.setup();
    let out = setup.feedmerge(&["fetch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));

    let rows = setup.sources().await;
    assert_eq!(rows.len(), expected.len());
    let mut mismatches = Vec::new();
    let (mut stored, mut failed) = (0, 0);
    for row in &rows {
        let (name, error, count) = (&row.name, &row.last_error, &row.articles);
        match (error, row.last_success_at) {
            (Some(e), _) => {
                failed += 1;
                assert!(
                    !e.trim().is_empty() && !e.contains("panicked"),
                    "{name}: {e:?}"
                );
            }
            (None, Some(_)) => stored += 1,
            (None, None) => panic!("{name}: neither stored nor failed"),
        }
        let (entries, clean) = expected[name];
        if !clean {
            continue;
        }
        let explained = EXPLAINED.iter().find(|(f, _, _)| f == name);
        let want = explained.map_or(entries, |(_, n, _)| *n);
        // A file with no entries may fail plainly (it is not a feed); any other must not.
        if *count as usize != want || (error.is_some() && want > 0) {
            mismatches.push(format!(
                "{name}: feedparser {entries}, stored {count}{}",
                error
                    .as_ref()
                    .map(|e| format!(" (error: {e})"))
                    .unwrap_or_default()
            ));
        }
    }
    eprintln!("{stored} files stored, {failed} failed with a recorded error");
    assert!(
        mismatches.is_empty(),
        "{} well-formed files differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    setup.assert_intact().await;
}
