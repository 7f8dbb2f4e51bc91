//! Parse throughput on a folder of feed files: `feedmerge::parse::parse_feed` (feed-rs, then
//! our normalisation: decoding, sanitising, dates, links) over every file, repeated for at
//! least three seconds, in MB/s of feed bytes. `benches/compare.sh` runs it beside Python's
//! feedparser and fastfeedparser on the same files.
//!
//! `cargo bench --bench parse -- DIR`

use std::time::{Duration, Instant};

use feedmerge::parse::parse_feed;
use url::Url;

fn main() {
    let Some(dir) = std::env::args().skip(1).find(|a| !a.starts_with("--")) else {
        eprintln!("usage: cargo bench --bench parse -- DIR");
        std::process::exit(2);
    };
    let mut files: Vec<(Vec<u8>, &str)> = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("read the folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    for path in names {
        let kind = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => "application/feed+json",
            Some("atom") => "application/atom+xml",
            Some("rdf") => "application/rdf+xml",
            _ => "application/rss+xml",
        };
        files.push((std::fs::read(&path).expect("read a feed"), kind));
    }
    let bytes: usize = files.iter().map(|(b, _)| b.len()).sum();
    let url = Url::parse("https://outlet.example/feed").expect("a URL");
    let (mut rounds, mut entries) = (0u32, 0usize);
    let started = Instant::now();
    while rounds == 0 || started.elapsed() < Duration::from_secs(3) {
        for (body, kind) in &files {
            let feed = parse_feed(body, Some(kind), &url).expect("the corpus parses");
            entries += feed.articles.len();
        }
        rounds += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "feedmerge (feed-rs + normalise)\t{:.1} MB/s\t{} files, {:.1} MB, {} entries per round, {rounds} rounds",
        bytes as f64 * f64::from(rounds) / secs / 1e6,
        files.len(),
        bytes as f64 / 1e6,
        entries / rounds as usize,
    );
}
