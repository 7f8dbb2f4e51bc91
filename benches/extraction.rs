//! Full-text extraction on real article pages: `../shared/extraction/pages/NAME/source.html`,
//! each scored against its `expected.html` (Mozilla Readability's view of the article) by
//! the words of their texts: precision (the share of the words extracted that the expected
//! text holds), recall (the share of the expected words extracted) and F1, per page and over
//! all pages; the time per page, and the process's peak memory.
//!
//! `cargo bench --bench extraction --features extraction-peers -- CANDIDATE [PAGES] [TSV]`
//!
//! CANDIDATE is `feedmerge` (what feedmerge stores: the chosen crate through
//! `feedmerge::extract`, sanitised), or a crate run alone: `dom_smoothie` (a port of
//! Readability.js) or `trafilatura` (a port of go-trafilatura). One candidate a run, so
//! that the peak memory is its own. TSV, when given, receives each page's figures.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The words of an HTML fragment's text: lower case, letters and digits; each character of a
/// script written without spaces (Chinese, Japanese) a word of its own.
fn words(html: &str) -> HashMap<String, usize> {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    let mut counts = HashMap::new();
    let mut word = String::new();
    let mut flush = |word: &mut String| {
        if !word.is_empty() {
            *counts.entry(std::mem::take(word)).or_insert(0) += 1;
        }
    };
    for c in text.chars().flat_map(char::to_lowercase) {
        let unspaced = matches!(c as u32, 0x3040..=0x30ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xac00..=0xd7af);
        if unspaced {
            flush(&mut word);
            word.push(c);
            flush(&mut word);
        } else if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word);
        }
    }
    flush(&mut word);
    counts
}

/// (words in common, words extracted, words expected).
fn overlap(
    got: &HashMap<String, usize>,
    expected: &HashMap<String, usize>,
) -> (usize, usize, usize) {
    let common = got
        .iter()
        .map(|(w, n)| (*n).min(expected.get(w).copied().unwrap_or(0)))
        .sum();
    (common, got.values().sum(), expected.values().sum())
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// The page's article as HTML, by `candidate`; an error as text.
fn extract(candidate: &str, html: &str, url: &str) -> Result<String, String> {
    match candidate {
        "feedmerge" => feedmerge::extract_article(html.as_bytes(), url, &Default::default())
            .map(|a| a.content)
            .map_err(|e| e.to_string()),
        "dom_smoothie" => {
            let mut r =
                dom_smoothie::Readability::new(html, Some(url), None).map_err(|e| e.to_string())?;
            r.parse()
                .map(|a| a.content.to_string())
                .map_err(|e| e.to_string())
        }
        #[cfg(feature = "extraction-peers")]
        "trafilatura" => trafilatura::extract(html, &trafilatura::Options::default())
            .map(|r| r.content_html)
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "unknown candidate {other} (or built without --features extraction-peers)"
        )),
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let candidate = args.first().map(String::as_str).unwrap_or("feedmerge");
    let pages = args.get(1).map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/extraction/pages")
    });
    let mut names: Vec<PathBuf> = std::fs::read_dir(&pages)
        .unwrap_or_else(|e| panic!("{}: {e}", pages.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("source.html").exists())
        .collect();
    names.sort();
    let mut rows = Vec::new();
    let (mut common, mut got_all, mut expected_all) = (0, 0, 0);
    let mut times: Vec<Duration> = Vec::new();
    let mut failed = 0;
    for page in &names {
        let name = page
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let source = std::fs::read(page.join("source.html")).expect("source");
        let source = String::from_utf8_lossy(&source);
        let expected = std::fs::read_to_string(page.join("expected.html")).expect("expected");
        let url = format!("http://fakehost/test/{name}/");
        let started = Instant::now();
        let got = extract(candidate, &source, &url);
        times.push(started.elapsed());
        let got = got.unwrap_or_else(|e| {
            failed += 1;
            eprintln!("{name}: {e}");
            String::new()
        });
        let (c, g, e) = overlap(&words(&got), &words(&expected));
        common += c;
        got_all += g;
        expected_all += e;
        let p = if g == 0 { 0.0 } else { c as f64 / g as f64 };
        let r = if e == 0 { 1.0 } else { c as f64 / e as f64 };
        rows.push((name, p, r, f1(p, r)));
    }
    let n = rows.len() as f64;
    let mean = |i: usize| rows.iter().map(|r| [r.1, r.2, r.3][i]).sum::<f64>() / n;
    let (p, r) = (
        common as f64 / got_all.max(1) as f64,
        common as f64 / expected_all.max(1) as f64,
    );
    times.sort();
    let total: Duration = times.iter().sum();
    let median = times[times.len() / 2];
    let mut f1s: Vec<f64> = rows.iter().map(|r| r.3).collect();
    f1s.sort_by(f64::total_cmp);
    println!("| candidate | pages | failed | precision | recall | F1 (mean of pages) | median F1 | F1 (all words) | time per page (mean / median) | peak memory |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {candidate} | {} | {failed} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} / {:.1} ms | {:.0} MiB |",
        rows.len(),
        mean(0),
        mean(1),
        mean(2),
        f1s[f1s.len() / 2],
        f1(p, r),
        total.as_secs_f64() * 1000.0 / n,
        median.as_secs_f64() * 1000.0,
        peak_rss_mib()
    );
    if let Some(tsv) = args.get(2) {
        let lines: String = rows
            .iter()
            .map(|(name, p, r, f)| format!("{name}\t{p:.3}\t{r:.3}\t{f:.3}\n"))
            .collect();
        std::fs::write(tsv, format!("page\tprecision\trecall\tf1\n{lines}")).expect("tsv");
    }
}
