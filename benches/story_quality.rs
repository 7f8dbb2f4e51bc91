//! Story quality on real texts, with an exact answer: how well feedmerge joins every copy of
//! a real entry into one story, and keeps different entries apart.
//!
//! `cargo bench --bench story_quality -- [CORPUS_DIR] [FEEDS]`
//!
//! The copies corpus (the one the ingest comparison uses): from CORPUS_DIR (default
//! `../shared/corpus/real`), every RSS 2.0 and Atom 1.0 file under 400 kB that parses and
//! has at least 5 entries, taken in turn until there are FEEDS sources (default 2,000). Each
//! copy of a file is an outlet of its own whose guids and links are its own (a prefix on the
//! guid, a subdomain on the link's host), with byte-identical titles, texts and dates: the
//! same real entry appears in every copy of its file under different identities, so only
//! the text can join them. Every copy is stored through the public store API, one fetch per
//! source, into a fresh SQLite database; then every story is read back as the feeds publish
//! it (its source and `also` outlets, as in the JSON export's `_feedmerge`).
//!
//! Printed: pair precision and recall (over pairs of stored versions: a pair is joined when
//! both are in one story, and truly one when they are copies of the same real entry), the
//! real entries split over several stories, and the stories mixing several real entries,
//! with the worst examples of each.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use feedmerge::{identify, parse_feed, Article};
use feedmerge::{Attempt, Next, Store, Validators};
use feedmerge::{Database, Source};
use url::Url;

/// Files larger than this are left out (as the ingest comparison does).
const MAX_BYTES: u64 = 400 * 1024;
/// Files with fewer entries are left out.
const MIN_ENTRIES: usize = 5;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Whether the text is an RSS 2.0 or Atom 1.0 document (by its root element).
fn rss2_or_atom(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let rss2 =
        head.contains("<rss") && head.contains("version=\"2.0\"") || head.contains("version='2.0'");
    let atom = head.contains("<feed") && head.contains("http://www.w3.org/2005/Atom");
    rss2 || atom
}

/// Copy `k` of an entry: the same text under its own guid and link.
fn copy(article: &Article, k: usize) -> Article {
    let mut a = article.clone();
    a.guid = a.guid.map(|g| format!("copy{k}-{g}"));
    a.link = a.link.map(|link| match Url::parse(&link) {
        Ok(mut url) if url.host_str().is_some() => {
            let host = format!("copy{k}.{}", url.host_str().unwrap_or_default());
            match url.set_host(Some(&host)) {
                Ok(()) => url.to_string(),
                Err(_) => format!("{link}#copy{k}"),
            }
        }
        _ => format!("{link}#copy{k}"),
    });
    a
}

/// One real entry. Entries of the corpus's files are one real entry when they share a guid or
/// a page (the canonical link, as feedmerge reads it): an article that two real feeds both
/// carry (a blog's own feed and its FeedBurner feed, a blog and a planet aggregating it) is
/// one article on the web. Lacking both, an entry is its title and text (feedmerge's `hash:`
/// identity).
type Label = String;

fn pairs(n: usize) -> u64 {
    (n * n.saturating_sub(1) / 2) as u64
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dir = PathBuf::from(args.first().map_or("../shared/corpus/real", String::as_str));
    let feeds: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(2000);
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    paths.sort();
    let base = Url::parse("https://quality.example/").expect("base url");
    let chosen: Vec<(String, Vec<Article>)> = paths
        .iter()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() < MAX_BYTES))
        .filter_map(|p| {
            let body = std::fs::read(p).ok()?;
            if !rss2_or_atom(&body) {
                return None;
            }
            let feed = parse_feed(&body, None, &base).ok()?;
            let name = p.strip_prefix(&dir).ok()?.display().to_string();
            (feed.articles.len() >= MIN_ENTRIES).then_some((name, feed.articles))
        })
        .collect();
    if chosen.is_empty() {
        eprintln!(
            "no RSS 2.0 or Atom file with {MIN_ENTRIES} entries under {}: skipped",
            dir.display()
        );
        std::process::exit(2);
    }

    // The copies: source i is copy i / files of file i % files.
    let copies: Vec<(String, usize, Vec<Article>)> = (0..feeds)
        .map(|i| {
            let (file, k) = (i % chosen.len(), i / chosen.len());
            let (name, articles) = &chosen[file];
            let articles = articles.iter().map(|a| copy(a, k)).collect();
            (format!("copy{k}/{name}"), file, articles)
        })
        .collect();

    let tmp = tempfile::tempdir().expect("temp dir");
    let store = Store::open(
        &Database::Sqlite(tmp.path().join("quality.db")),
        Default::default(),
    )
    .await
    .expect("open store");
    let sources: Vec<Source> = copies
        .iter()
        .map(|(name, _, _)| Source {
            name: name.clone(),
            url: base.join(&format!("feeds/{name}")).expect("source url"),
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

    // Each stored version's label, by its outlet's name, link and headline.
    let mut labels: HashMap<(String, Option<String>, String), Vec<Label>> = HashMap::new();
    let mut stored = 0;
    let started = std::time::Instant::now();
    // Each original entry's identities, joined where they meet (union-find over names).
    let mut parent: HashMap<String, String> = HashMap::new();
    fn root(parent: &mut HashMap<String, String>, name: &str) -> String {
        let mut at = name.to_owned();
        while let Some(up) = parent.get(&at).filter(|up| **up != at) {
            at = up.clone();
        }
        parent.insert(name.to_owned(), at.clone());
        at
    }
    let identities: Vec<Vec<Vec<String>>> = chosen
        .iter()
        .map(|(_, articles)| {
            identify(articles.clone(), None)
                .into_iter()
                .map(|k| {
                    let page = k.canonical_link.map(|l| format!("page:{l}"));
                    std::iter::once(k.key).chain(page).collect()
                })
                .collect()
        })
        .collect();
    for names in identities.iter().flatten() {
        let first = root(&mut parent, &names[0]);
        for name in &names[1..] {
            let other = root(&mut parent, name);
            parent.insert(other, first.clone());
        }
    }
    let originals: Vec<Vec<String>> = identities
        .iter()
        .map(|file| {
            file.iter()
                .map(|names| root(&mut parent, &names[0]))
                .collect()
        })
        .collect();
    for (name, file, articles) in &copies {
        let keyed = identify(articles.clone(), None);
        assert_eq!(
            keyed.len(),
            originals[*file].len(),
            "{name}: a copy has other entries"
        );
        for (k, label) in keyed.iter().zip(&originals[*file]) {
            labels
                .entry((
                    name.clone(),
                    k.article.link.clone(),
                    k.article.title.clone(),
                ))
                .or_default()
                .push(label.clone());
        }
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
        let counts = store
            .record(name, attempt, Next::default())
            .await
            .expect("record");
        stored += counts.new + counts.merged;
    }
    let ingest = started.elapsed();

    // Every story, with the labels of its versions.
    let mut stories: Vec<(String, Vec<Label>)> = Vec::new();
    let mut ambiguous = 0;
    let mut offset = 0;
    loop {
        let page = store.stories_page(offset, 500).await.expect("stories");
        if page.is_empty() {
            break;
        }
        offset += page.len() as u32;
        for story in page {
            let mut versions = Vec::new();
            for o in std::iter::once(&story.source).chain(&story.also) {
                match labels.get(&(o.name.clone(), o.link.clone(), o.title.clone())) {
                    Some(l) if l.len() == 1 => versions.push(l[0].clone()),
                    _ => ambiguous += 1,
                }
            }
            stories.push((story.title.clone(), versions));
        }
    }
    store.close().await;

    // Pairs: joined (in one story), true (one real entry), both.
    let (mut joined, mut truly, mut both) = (0u64, 0u64, 0u64);
    let mut stories_of: HashMap<Label, Vec<usize>> = HashMap::new();
    let mut mixed = Vec::new();
    for (s, (title, versions)) in stories.iter().enumerate() {
        joined += pairs(versions.len());
        let mut count: HashMap<Label, usize> = HashMap::new();
        for l in versions {
            *count.entry(l.clone()).or_default() += 1;
            stories_of.entry(l.clone()).or_default().push(s);
        }
        both += count.values().map(|&n| pairs(n)).sum::<u64>();
        if count.len() > 1 {
            let mut labels: Vec<&String> = count.keys().collect();
            labels.sort();
            let labels = labels
                .iter()
                .take(3)
                .map(|l| l.as_str())
                .collect::<Vec<_>>();
            mixed.push((
                count.len(),
                versions.len(),
                title.clone(),
                labels.join(" | "),
            ));
        }
    }
    let mut split = Vec::new();
    for (label, in_stories) in &stories_of {
        truly += pairs(in_stories.len());
        let mut distinct = in_stories.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() > 1 {
            split.push((distinct.len(), in_stories.len(), label.clone()));
        }
    }
    let precision = both as f64 / joined.max(1) as f64;
    let recall = both as f64 / truly.max(1) as f64;

    println!(
        "corpus: {} ({} files chosen; {feeds} sources); {stored} versions stored in {:.1?}, {} stories, {ambiguous} versions unlabelled (same outlet, link and headline)",
        dir.display(),
        chosen.len(),
        ingest,
        stories.len(),
    );
    println!("| pair precision | pair recall | real entries split | stories mixed |");
    println!("|---|---|---|---|");
    println!(
        "| {precision:.4} | {recall:.4} | {} of {} | {} |",
        split.len(),
        stories_of.len(),
        mixed.len()
    );
    split.sort_unstable_by(|a, b| b.cmp(a));
    for (in_stories, copies, label) in split.iter().take(15) {
        println!("split: {copies} copies in {in_stories} stories: {label}");
    }
    mixed.sort_unstable_by(|a, b| b.cmp(a));
    for (entries, versions, title, labels) in mixed.iter().take(15) {
        println!("mixed: {entries} real entries in one story of {versions} versions: {title:?}: {labels}");
    }
}
