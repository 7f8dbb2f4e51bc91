//! `/metrics` parses as Prometheus text format, and its counters match what the daemon did:
//! one stored poll and one failed poll, the bytes of the body it read, the stories it made.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use crate::common::{free_port, ConfigBuilder, Daemon, FeedServer, NEVER};
use prometheus_parse::{Sample, Scrape, Value};

fn find<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    scrape.samples.iter().find(|s| {
        s.metric == metric
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(k).is_some_and(|x| x == *v))
    })
}

fn number(sample: Option<&Sample>) -> Option<f64> {
    match sample?.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
        _ => None,
    }
}

#[tokio::test]
async fn metrics_parse_and_count_what_happened() {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .source("Global Times — 环球时报", &server.url("/gt.rss"))
        .source("Dead Link", &server.url("/missing.xml"))
        .setup();
    let daemon = Daemon::start(&setup, "warn");
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut scrape = None;
    for _ in 0..100 {
        if let Ok(r) = client.get(&url).send().await {
            assert_eq!(
                r.headers()["content-type"],
                "text/plain; version=0.0.4; charset=utf-8"
            );
            let text = r.text().await.expect("body");
            let lines = text.lines().map(|l| Ok(l.to_owned()));
            let parsed = Scrape::parse(lines).expect("Prometheus text format");
            let done = parsed
                .samples
                .iter()
                .filter(|s| s.metric == "feedmerge_fetches_total")
                .count()
                == 2;
            scrape = Some(parsed);
            if done {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let scrape = scrape.expect("a scrape");
    let gt = "Global Times — 环球时报";
    let fetches = |source, outcome| {
        number(find(
            &scrape,
            "feedmerge_fetches_total",
            &[("source", source), ("outcome", outcome)],
        ))
    };
    assert_eq!(fetches(gt, "stored"), Some(1.0));
    assert_eq!(fetches("Dead Link", "failed"), Some(1.0));
    assert_eq!(fetches(gt, "failed"), None);
    let body = common::fixture("globaltimes.rss").len() as f64;
    assert_eq!(
        number(find(
            &scrape,
            "feedmerge_fetch_body_bytes_total",
            &[("source", gt)]
        )),
        Some(body)
    );
    let articles = |kind| {
        number(find(
            &scrape,
            "feedmerge_articles_total",
            &[("source", gt), ("kind", kind)],
        ))
    };
    assert_eq!(
        (articles("new"), articles("updated"), articles("merged")),
        (Some(3.0), Some(0.0), Some(0.0))
    );
    assert_eq!(number(find(&scrape, "feedmerge_stories", &[])), Some(3.0));
    let histogram = scrape
        .samples
        .iter()
        .find(|s| s.metric == "feedmerge_fetch_duration_seconds")
        .expect("histogram");
    match &histogram.value {
        Value::Histogram(buckets) => {
            let last = buckets.last().expect("buckets");
            assert!(last.less_than.is_infinite());
            assert_eq!(last.count, 2.0, "both polls timed");
        }
        other => panic!("not a histogram: {other:?}"),
    }
    let size = number(find(&scrape, "feedmerge_database_bytes", &[])).unwrap_or(0.0);
    // Pages not yet checkpointed are still in the write-ahead log beside the file.
    let wal = setup.database().with_extension("db-wal");
    let on_disk = std::fs::metadata(setup.database()).expect("db").len() as f64
        + std::fs::metadata(wal).map_or(0, |m| m.len()) as f64;
    assert!(size > 0.0 && size <= on_disk, "{size} vs {on_disk}");
    let success: HashMap<String, f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "feedmerge_source_last_success_timestamp_seconds")
        .filter_map(|s| Some((s.labels.get("source")?.to_owned(), number(Some(s))?)))
        .collect();
    let now = chrono::Utc::now().timestamp() as f64;
    assert_eq!(
        success.len(),
        1,
        "only the source that succeeded: {success:?}"
    );
    assert!((now - success[gt]).abs() < 120.0);

    daemon.signal("TERM");
    let (status, log) = daemon.wait(Duration::from_secs(10));
    assert!(status.success(), "{log}");
}
