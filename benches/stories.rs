//! Story placement at scale: with ARTICLES stored (default 1,000,000), how long it takes to
//! decide which story a new article belongs to, and what the story index costs.
//!
//! `cargo bench --bench stories -- [ARTICLES] [DATABASE]`
//!
//! The database (default `target/bench-stories-ARTICLES.db`) is built on the first run and
//! reused after, through the public store API, one fetch of 50 articles at a time from 1,000
//! sources. Its articles are synthetic text drawn from a 30,000-word vocabulary with Zipf
//! frequencies (so common word sequences recur, as in real news), all published within one
//! week (so every stored article is inside the `[dedup].window` of every new one: the worst
//! case); one in ten is a re-run of a recent one under a new headline and lead paragraph.
//!
//! Then it measures, on 2,000 new articles of which half are re-runs of stored ones:
//! fingerprinting; finding the story (the index lookups and sketch comparisons); and storing
//! one article in its own fetch (the whole transaction, as a poll does it). Percentiles of
//! each, how many re-runs found their story, how many new articles wrongly joined one, the
//! index's size, and the process's peak memory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use feedmerge::Article;
use feedmerge::Validators;
use feedmerge::{identify, Fingerprint};
use feedmerge::{Attempt, Next, Store};
use feedmerge::{Database, Source};
use url::Url;

#[path = "common/words.rs"]
mod words;
use words::{Rng, Words};

const SOURCES: usize = 1_000;
const BATCH: usize = 50;
const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;

fn published(i: usize, n: usize) -> DateTime<Utc> {
    let base = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    base + chrono::Duration::milliseconds(WEEK_MS * i as i64 / n.max(1) as i64)
}

/// Article `i` of the corpus: its own text, or (one in ten) a re-run of a recent article
/// with a new headline and a new first paragraph.
fn article(words: &Words, i: usize, n: usize) -> Article {
    let mut rng = Rng(i as u64);
    let (title, content) = if i >= 100 && rng.below(10) == 0 {
        let of = i - 1 - rng.below(100.min(i));
        let original = article(words, of, n);
        let body = original.content.unwrap_or_default();
        let rest = body.find("</p>").map_or("", |end| &body[end + 4..]);
        (
            words.sentence(&mut rng, 9),
            format!("{}{rest}", words.paragraph(&mut rng)),
        )
    } else {
        let paragraphs = 4 + rng.below(5);
        let length = 8 + rng.below(5);
        let title = words.sentence(&mut rng, length);
        (
            title,
            (0..paragraphs).map(|_| words.paragraph(&mut rng)).collect(),
        )
    };
    Article {
        guid: Some(format!("a{i}")),
        link: Some(format!("https://outlet{}.example/a/{i}", i % SOURCES)),
        title,
        summary: None,
        // What parsing would derive: the paragraphs' words (the bench never reads it).
        text: content
            .replace("<p>", " ")
            .replace("</p>", " ")
            .trim()
            .to_owned(),
        content: Some(content),
        authors: Vec::new(),
        categories: Vec::new(),
        published: Some(published(i, n)),
        updated: None,
        media: Default::default(),
    }
}

fn source(k: usize) -> Source {
    Source {
        name: format!("source {k}"),
        url: Url::parse(&format!("https://outlet{k}.example/feed")).unwrap(),
        categories: Vec::new(),
        schedule: None,
        enabled: true,
        respect_feed_hints: true,
        allow_private: false,
        full_text: None,
        http: Default::default(),
        listing: None,
    }
}

async fn record(store: &Store, source: &str, articles: Vec<Article>) -> feedmerge::Counts {
    let keyed = identify(articles, None);
    let attempt = Attempt::Fetched {
        status: 200,
        validators: Validators::default(),
        title: None,
        site_url: None,
        articles: keyed,
        discarded: Vec::new(),
        min_interval: None,
        warning: None,
    };
    store
        .record(source, attempt, Next::default())
        .await
        .expect("record")
}

fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    format!(
        "median {:.1?}, p99 {:.1?}, max {:.1?}",
        at(0.5),
        at(0.99),
        v[v.len() - 1]
    )
}

fn peak_rss_mib() -> f64 {
    // SAFETY: rusage is plain data that getrusage fills in for this process.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args
        .first()
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let path = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("target/bench-stories-{n}.db")));
    let words = Words::new();
    let store = Store::open(&Database::Sqlite(path.clone()), Default::default())
        .await
        .expect("open the database");
    let sources: Vec<Source> = (0..SOURCES).map(source).collect();
    store.sync_sources(&sources).await.expect("sources");

    let stored = store.totals().await.expect("totals").articles as usize;
    if stored < n {
        println!("building {path:?}: {n} articles ({stored} there already)");
        let started = Instant::now();
        let (mut new, mut merged) = (0u64, 0u64);
        for (b, first) in (stored / BATCH * BATCH..n).step_by(BATCH).enumerate() {
            let batch = (first..(first + BATCH).min(n))
                .map(|i| article(&words, i, n))
                .collect();
            let c = record(&store, &sources[(first / BATCH) % SOURCES].name, batch).await;
            new += u64::from(c.new);
            merged += u64::from(c.merged);
            if b % 2_000 == 0 {
                eprintln!("  {first} articles, {:.0?}", started.elapsed());
            }
        }
        println!(
            "built in {:.0?}: {new} stories, {merged} articles joined one ({:.0} articles/s)",
            started.elapsed(),
            (n - stored) as f64 / started.elapsed().as_secs_f64()
        );
    }

    // 2,000 new articles: even ones re-run a stored article, odd ones are new text. Seeded by
    // how many articles are stored, so that a run never probes with the articles an earlier
    // run stored.
    let stored = store.totals().await.expect("totals").articles as u64;
    let probes: Vec<(bool, Article)> = (0..2_000)
        .map(|k| {
            let mut rng = Rng(stored.wrapping_mul(1_000_003) + k as u64);
            if k % 2 == 0 {
                // A stored original (not itself a re-run) under a new headline and lead.
                let mut i = rng.below(n);
                while Rng(i as u64).below(10) == 0 && i >= 100 {
                    i = rng.below(n);
                }
                let mut a = article(&words, i, n);
                let body = a.content.take().unwrap_or_default();
                let rest = body
                    .find("</p>")
                    .map_or("", |end| &body[end + 4..])
                    .to_owned();
                a.title = words.sentence(&mut rng, 9);
                a.content = Some(format!("{}{rest}", words.paragraph(&mut rng)));
                a.guid = Some(format!("probe{stored}-{k}"));
                a.link = Some(format!("https://probe.example/{stored}/{k}"));
                (true, a)
            } else {
                let mut a = article(&words, n + 10_000 + 2 * stored as usize + k, n);
                a.published = Some(published(rng.below(n), n));
                a.guid = Some(format!("probe{stored}-{k}"));
                (false, a)
            }
        })
        .collect();

    // The story index is loaded from the database when first needed, as at a daemon's start.
    let t = Instant::now();
    let (memory, indexed) = store.index_memory().await.expect("index memory");
    let loading = t.elapsed();

    let mut fingerprinting = Vec::new();
    let mut finding = Vec::new();
    let (mut found, mut wrongly) = (0, 0);
    for (rerun, a) in &probes {
        let t = Instant::now();
        let fp = Fingerprint::of(&a.title, a.content.as_deref().unwrap_or("")).expect("text");
        fingerprinting.push(t.elapsed());
        let t = Instant::now();
        let story = store
            .find_story(&fp, a.published.unwrap())
            .await
            .expect("find");
        finding.push(t.elapsed());
        match (rerun, story) {
            (true, Some(_)) => found += 1,
            (false, Some(_)) => wrongly += 1,
            _ => {}
        }
    }

    let mut storing = Vec::new();
    for (k, (_, a)) in probes.into_iter().enumerate().take(1_000) {
        let t = Instant::now();
        record(&store, &sources[k % SOURCES].name, vec![a]).await;
        storing.push(t.elapsed());
    }

    let index = store.index_size().await.expect("index size");
    let file = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let total = store.totals().await.expect("totals").articles;
    store.close().await;
    println!("{total} articles stored; story index {:.0} MiB on disk ({:.0} bytes per article), database {:.0} MiB",
        index as f64 / (1 << 20) as f64,
        index as f64 / total as f64,
        file as f64 / (1 << 20) as f64);
    println!(
        "story index in memory: {indexed} articles, {:.0} MiB ({:.0} bytes per article), loaded in {loading:.1?}",
        memory as f64 / (1 << 20) as f64,
        memory as f64 / indexed.max(1) as f64
    );
    println!(
        "fingerprint a new article:            {}",
        percentiles(fingerprinting)
    );
    println!("find its story among {n}:     {}", percentiles(finding));
    println!(
        "store it in its own fetch (tx):       {}",
        percentiles(storing)
    );
    println!("re-runs placed in their story: {found}/1000; new articles wrongly joined to one: {wrongly}/1000");
    println!(
        "peak memory (RSS) of this process: {:.0} MiB",
        peak_rss_mib()
    );
}
