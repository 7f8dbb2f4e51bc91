//! Ingest throughput: how many articles per second feedmerge parses, identifies and stores,
//! from a folder of feed files (no network: the fetch stage is not measured here).
//!
//! `cargo bench --bench ingest -- [CORPUS_DIR] [RUNS]`
//!
//! CORPUS_DIR defaults to `tests/fixtures`; the project's shared corpus of 553 real feeds is
//! the intended input. Every file is one source. Each run parses every file, then stores
//! every parsed feed into a fresh SQLite database (one transaction per source, as in
//! production), then stores them all again (the re-poll case, where nothing is new).
//! Medians over RUNS (default 5) are printed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use feedmerge::Validators;
use feedmerge::{identify, Keyed};
use feedmerge::{parse_feed, ParsedFeed};
use feedmerge::{Attempt, Counts, Next, Store};
use feedmerge::{Database, Source};
use url::Url;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("md" | "tsv" | "txt")
        ) {
            out.push(path);
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Run {
    parse: Duration,
    store_new: Duration,
    store_again: Duration,
}

/// Every parsed feed as a fetch of its source, ready to record (made before the clock starts:
/// the store takes what it records).
fn attempts(keyed: &[(&str, &ParsedFeed, Vec<Keyed>)]) -> Vec<(String, Attempt)> {
    keyed
        .iter()
        .map(|(name, feed, articles)| {
            let attempt = Attempt::Fetched {
                status: 200,
                validators: Validators::default(),
                title: feed.title.clone(),
                site_url: feed.site_url.clone(),
                articles: articles.clone(),
                discarded: Vec::new(),
                min_interval: None,
                warning: None,
            };
            (name.to_string(), attempt)
        })
        .collect()
}

/// Records each attempt; the counts added up.
async fn store_all(store: &Store, attempts: Vec<(String, Attempt)>) -> Counts {
    let mut total = Counts::default();
    for (name, attempt) in attempts {
        let counts = store
            .record(&name, attempt, Next::default())
            .await
            .expect("record");
        total.new += counts.new;
        total.merged += counts.merged;
    }
    total
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // cargo passes `--bench`; everything else is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dir = PathBuf::from(args.first().map_or("tests/fixtures", String::as_str));
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    paths.sort();
    let inputs: Vec<(String, Vec<u8>)> = paths
        .iter()
        .filter_map(|p| {
            Some((
                p.strip_prefix(&dir).ok()?.display().to_string(),
                std::fs::read(p).ok()?,
            ))
        })
        .collect();
    let bytes: usize = inputs.iter().map(|(_, b)| b.len()).sum();
    if inputs.is_empty() {
        eprintln!("no feed files under {}", dir.display());
        std::process::exit(2);
    }

    let mut results = Vec::new();
    let mut summary = (0, 0, Counts::default());
    for _ in 0..runs {
        let started = Instant::now();
        let parsed: Vec<(String, Option<ParsedFeed>)> = inputs
            .iter()
            .map(|(name, body)| {
                let url = Url::parse(&format!("https://bench.example/{name}")).expect("bench url");
                (name.clone(), parse_feed(body, None, &url).ok())
            })
            .collect();
        let parse = started.elapsed();

        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(
            &Database::Sqlite(dir.path().join("bench.db")),
            Default::default(),
        )
        .await
        .expect("open store");
        let sources: Vec<Source> = parsed
            .iter()
            .map(|(name, _)| Source {
                name: name.clone(),
                url: Url::parse(&format!("https://bench.example/{name}")).expect("bench url"),
                categories: Vec::new(),
                schedule: None,
                enabled: true,
                respect_feed_hints: true,
                allow_private: false,
                full_text: None,
                http: Default::default(),
                listing: None,
            })
            .collect();
        store.sync_sources(&sources).await.expect("sources");
        // Identification is part of the timed work: it is what dedup costs per fetch.
        let started = Instant::now();
        let keyed: Vec<(&str, &ParsedFeed, Vec<Keyed>)> = parsed
            .iter()
            .filter_map(|(name, feed)| {
                let feed = feed.as_ref()?;
                Some((
                    name.as_str(),
                    feed,
                    identify(feed.articles.clone(), feed.site_url.as_deref()),
                ))
            })
            .collect();
        let identified = started.elapsed();
        let (first_time, again) = (attempts(&keyed), attempts(&keyed));
        let started = Instant::now();
        let first = store_all(&store, first_time).await;
        let store_new = identified + started.elapsed();
        let started = Instant::now();
        assert_eq!(
            store_all(&store, again).await.new,
            0,
            "nothing is new the second time"
        );
        let store_again = started.elapsed();
        store.close().await;
        let ok = parsed.iter().filter(|(_, f)| f.is_some()).count();
        let articles: usize = parsed
            .iter()
            .filter_map(|(_, f)| f.as_ref())
            .map(|f| f.articles.len())
            .sum();
        summary = (ok, articles, first);
        results.push(Run {
            parse,
            store_new,
            store_again,
        });
    }

    let (ok, articles, first) = summary;
    let parse = median(results.iter().map(|r| r.parse).collect());
    let store_new = median(results.iter().map(|r| r.store_new).collect());
    let store_again = median(results.iter().map(|r| r.store_again).collect());
    let per_sec = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "corpus: {} ({} files, {:.1} MiB; {ok} parsed, {} errors)",
        dir.display(),
        inputs.len(),
        bytes as f64 / 1048576.0,
        inputs.len() - ok
    );
    println!(
        "articles: {articles} parsed; {} stored, {} merged into another feed's copy, the rest repeats within a feed",
        first.new, first.merged
    );
    println!("runs: {runs}, medians:");
    println!("| stage | time | throughput |");
    println!("|---|---|---|");
    println!("| parse (decode, feed-rs, normalise, sanitise) | {parse:.2?} | {:.0} articles/s, {:.1} MiB/s |", per_sec(articles, parse), bytes as f64 / 1048576.0 / parse.as_secs_f64());
    println!(
        "| identify + store, first time (all new) | {store_new:.2?} | {:.0} articles/s |",
        per_sec(articles, store_new)
    );
    println!(
        "| identify + store, again (all unchanged) | {store_again:.2?} | {:.0} articles/s |",
        per_sec(articles, store_again)
    );
    println!(
        "| end to end, first ingest | {:.2?} | {:.0} articles/s |",
        parse + store_new,
        per_sec(articles, parse + store_new)
    );
}
