//! Search at scale: with ARTICLES stored (default 1,000,000), how long a search takes, as
//! `feedmerge search` runs it (query parsed against the config, the store's search, the
//! stories read back), and what the index costs on disk.
//!
//! `cargo bench --bench search -- [ARTICLES] [DATABASE]`
//!
//! The database (default `target/bench-search-ARTICLES.db`) is built on the first run and
//! reused after: 1,000 sources, and articles of synthetic text (`common/words.rs`: a 30,000
//! word vocabulary with Zipf frequencies; a headline of 8 to 12 words and 80 to 200 words of
//! text) published over 60 days, one story each, written straight into the schema the store
//! made; then indexed by the store as articles stored before search are
//! (`Store::index_backlog`), which is timed.
//!
//! Then 400 searches, each run once on a fresh query (nothing cached): single words from the
//! most common to the rarest, two words, phrases taken from stored headlines, an excluded
//! word, OR, `title:`, each newest first and best match first. Percentiles by kind, and the
//! ten slowest searches.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use feedmerge::{App, Config, Database, Dedup, Store};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

#[path = "common/words.rs"]
mod words;
use words::{Rng, Words};

const SOURCES: usize = 1_000;
const DAY_MS: i64 = 24 * 3600 * 1000;
const BATCH: usize = 2_000;

fn article(words: &Words, i: usize) -> (String, String) {
    let mut rng = Rng(i as u64 ^ 0x5eed);
    let length = 8 + rng.below(5);
    let title = words.sentence(&mut rng, length);
    let length = 80 + rng.below(120);
    let text = words.sentence(&mut rng, length);
    (title, text)
}

async fn build(path: &std::path::Path, n: usize, words: &Words) {
    let database = Database::Sqlite(path.to_owned());
    Store::open(&database, Dedup::default())
        .await
        .expect("create")
        .close()
        .await;
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .foreign_keys(false)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
        .connect()
        .await
        .expect("connect");
    let started = Instant::now();
    let mut tx = conn.begin().await.expect("begin");
    for s in 1..=SOURCES {
        sqlx::query("INSERT INTO sources (id, name, url) VALUES ($1, $2, $3)")
            .bind(s as i64)
            .bind(format!("Source {s}"))
            .bind(format!("https://outlet{s}.example/feed.xml"))
            .execute(&mut *tx)
            .await
            .expect("source");
    }
    tx.commit().await.expect("commit");
    let start = 1_767_225_600_000i64 - 60 * DAY_MS; // 60 days before 2026-01-01
    for first in (1..=n).step_by(BATCH) {
        let mut tx = conn.begin().await.expect("begin");
        let rows: Vec<(i64, String, String, i64, i64)> = (first..(first + BATCH).min(n + 1))
            .map(|i| {
                let (title, text) = article(words, i);
                let published = start + 60 * DAY_MS * i as i64 / n as i64;
                (i as i64, title, text, published, 1 + (i % SOURCES) as i64)
            })
            .collect();
        for chunk in rows.chunks(200) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO articles (id, entry_id, source_id, title, plain_text, published,
                 updated, first_seen, content_hash, story_id) ",
            );
            q.push_values(chunk, |mut b, (id, title, text, published, source)| {
                b.push_bind(id)
                    .push_bind(format!("a{id}"))
                    .push_bind(source)
                    .push_bind(title)
                    .push_bind(text)
                    .push_bind(published)
                    .push_bind(published)
                    .push_bind(published)
                    .push_bind("")
                    .push_bind(id);
            });
            q.build().execute(&mut *tx).await.expect("articles");
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO stories (id, entry_id, representative, published, updated,
                 first_seen, sort_at) ",
            );
            q.push_values(chunk, |mut b, (id, _, _, published, _)| {
                b.push_bind(id)
                    .push_bind(format!("a{id}"))
                    .push_bind(id)
                    .push_bind(published)
                    .push_bind(published)
                    .push_bind(published)
                    .push_bind(published);
            });
            q.build().execute(&mut *tx).await.expect("stories");
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO appearances (source_id, entry_key, article_id, title, first_seen) ",
            );
            q.push_values(chunk, |mut b, (id, title, _, published, source)| {
                b.push_bind(source)
                    .push_bind(format!("guid:a{id}"))
                    .push_bind(id)
                    .push_bind(title)
                    .push_bind(published);
            });
            q.build().execute(&mut *tx).await.expect("appearances");
        }
        tx.commit().await.expect("commit");
    }
    // As the migration leaves a database that held articles: all of them to index.
    sqlx::query("UPDATE search_backlog SET below = $1")
        .bind(n as i64 + 1)
        .execute(&mut conn)
        .await
        .expect("backlog");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .expect("checkpoint");
    conn.close().await.expect("close");
    let before = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "stored {n} articles in {:.0} s; database {:.0} MiB without the index",
        started.elapsed().as_secs_f64(),
        before as f64 / 1048576.0
    );
    let store = Store::open(&database, Dedup::default())
        .await
        .expect("open");
    let started = Instant::now();
    let mut indexed = 0;
    loop {
        let done = store.index_backlog().await.expect("index");
        if done == 0 {
            break;
        }
        indexed += done;
    }
    let took = started.elapsed().as_secs_f64();
    store.close().await;
    let after = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "indexed {indexed} articles in {took:.0} s ({:.0} articles/s); the index takes {:.0} MiB ({:.0} bytes per article)",
        indexed as f64 / took,
        after.saturating_sub(before) as f64 / 1048576.0,
        after.saturating_sub(before) as f64 / indexed.max(1) as f64
    );
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let n: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let path = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("target/bench-search-{n}.db")));
    let words = Words::new();
    if !path.exists() {
        build(&path, n, &words).await;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("feedmerge.toml");
    let text = format!(
        "[storage]\ndatabase = {:?}\n[feed]\nmax_entries = 50\n[[sources]]\nname = \"Source 1\"\nurl = \"https://outlet1.example/feed.xml\"\n",
        std::fs::canonicalize(&path).expect("database").display().to_string()
    );
    std::fs::write(&config_path, &text).expect("config");
    let config = Config::parse(&config_path, &text).expect("config");
    let app = App::open(config).await.expect("open");

    // The queries: words by rank of frequency, pairs, phrases from headlines, exclusions, ORs.
    let mut rng = Rng(42);
    let mut queries: Vec<(&str, String)> = Vec::new();
    for k in 0..40 {
        let rank = [0usize, 3, 10, 30, 100, 300, 1_000, 3_000, 10_000, 29_000][k % 10];
        queries.push(("one word", words.words[rank + k / 10].clone()));
    }
    for _ in 0..40 {
        queries.push(("two words", words.sentence(&mut rng, 2)));
    }
    for _ in 0..40 {
        let (title, _) = article(&words, 1 + rng.below(n));
        let t: Vec<&str> = title.split(' ').collect();
        let at = rng.below(t.len() - 2);
        queries.push((
            "phrase",
            format!("\"{} {} {}\"", t[at], t[at + 1], t[at + 2]),
        ));
    }
    for _ in 0..40 {
        queries.push((
            "excluded",
            format!("{} -{}", words.word(&mut rng), words.word(&mut rng)),
        ));
    }
    for _ in 0..20 {
        queries.push((
            "OR",
            format!("{} OR {}", words.word(&mut rng), words.word(&mut rng)),
        ));
    }
    for _ in 0..20 {
        queries.push(("title:", format!("title:{}", words.word(&mut rng))));
    }
    let mut all = Vec::new();
    let mut slowest: Vec<(Duration, String)> = Vec::new();
    let mut by_kind: Vec<(String, Vec<Duration>)> = Vec::new();
    for relevance in [false, true] {
        for (kind, query) in &queries {
            let started = Instant::now();
            feedmerge::cli::search(&app, query, None, relevance, None)
                .await
                .expect("search");
            let took = started.elapsed();
            all.push(took);
            let kind = format!(
                "{kind}{}",
                if relevance { ", best match first" } else { "" }
            );
            slowest.push((took, format!("{kind}: `{query}`")));
            match by_kind.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, times)) => times.push(took),
                None => by_kind.push((kind, vec![took])),
            }
        }
    }
    println!(
        "\n| searches at {n} articles | n | median | p90 | p99 | max |\n|---|---|---|---|---|---|"
    );
    by_kind.push(("all".into(), all));
    for (kind, mut times) in by_kind {
        times.sort();
        println!(
            "| {kind} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            times.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.9),
            percentile(&times, 0.99),
            percentile(&times, 1.0)
        );
    }
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    println!("\nThe slowest:");
    for (took, query) in slowest.iter().take(10) {
        println!("- {:.1} ms: {query}", took.as_secs_f64() * 1000.0);
    }
    app.close().await;
}
