//! Story clustering measured on the labelled pairs in `tests/fixtures/stories/`.

use std::collections::BTreeMap;

use feedmerge::config::Dedup;
use feedmerge::dedup::Fingerprint;

struct Pair {
    a: usize,
    b: usize,
    same: bool,
    kind: String,
}

fn load() -> (Vec<Option<Fingerprint>>, Vec<Pair>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stories/");
    let articles = std::fs::read_to_string(format!("{dir}articles.jsonl")).unwrap();
    let mut fingerprints = Vec::new();
    for (i, line) in articles.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["id"].as_u64(), Some(i as u64));
        fingerprints.push(Fingerprint::of(
            v["title"].as_str().unwrap(),
            v["html"].as_str().unwrap(),
        ));
    }
    let pairs = std::fs::read_to_string(format!("{dir}pairs.tsv")).unwrap();
    let pairs = pairs
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Pair {
                a: f[0].parse().unwrap(),
                b: f[1].parse().unwrap(),
                same: f[2] == "same",
                kind: f[3].to_owned(),
            }
        })
        .collect();
    (fingerprints, pairs)
}

#[test]
fn labelled_pairs_meet_precision_and_recall() {
    let threshold = Dedup::default().threshold;
    let (fps, pairs) = load();
    assert!(pairs.len() >= 300, "{} pairs", pairs.len());
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    let mut by_kind: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let mut mistakes = Vec::new();
    for p in &pairs {
        let said = match (&fps[p.a], &fps[p.b]) {
            (Some(a), Some(b)) => a.same_story(b, threshold),
            _ => false,
        };
        let score = match (&fps[p.a], &fps[p.b]) {
            (Some(a), Some(b)) => a.sketch.similarity(&b.sketch),
            _ => -1.0,
        };
        let bands = match (&fps[p.a], &fps[p.b]) {
            (Some(a), Some(b)) => a.bands.iter().zip(&b.bands).filter(|(x, y)| x == y).count(),
            _ => 0,
        };
        let entry = by_kind.entry(&p.kind).or_default();
        entry.1 += 1;
        if said == p.same {
            entry.0 += 1;
        } else {
            mistakes.push(format!("{} {} {}-{} {score:.2} bands {bands}", p.kind, p.same, p.a, p.b));
        }
        match (said, p.same) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let precision = f64::from(tp) / f64::from((tp + fp).max(1));
    let recall = f64::from(tp) / f64::from((tp + fn_).max(1));
    println!("threshold {threshold}: precision {precision:.3}, recall {recall:.3} on {} pairs", pairs.len());
    for (kind, (right, all)) in &by_kind {
        println!("  {kind:24} {right}/{all}");
    }
    for m in &mistakes {
        println!("  wrong: {m}");
    }
    assert!(precision >= 0.99, "precision {precision:.3} < 0.99");
    assert!(recall >= 0.90, "recall {recall:.3} < 0.90");
}
