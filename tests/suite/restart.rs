//! Restarting the daemon: after a crash in the middle of a cycle it resumes from the stored
//! due times — nothing polled before the crash is polled again, nothing is lost — and after
//! downtime the sources that fell due meanwhile are spread out, not fetched in one burst.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::common::{fixture, ConfigBuilder, Daemon, FeedServer, Resource, Setup};

const SOURCES: usize = 30;

fn world() -> (FeedServer, Setup) {
    let server = FeedServer::start();
    let mut config = ConfigBuilder::new()
        .text("server", "listen", "127.0.0.1:0")
        .schedule("*/15 * * * *")
        .set("poll", "per_host", "1");
    for i in 0..SOURCES {
        // Each answer takes 100 ms, and the host takes one request at a time: a 3 s cycle.
        let mut feed = Resource::new(fixture("globaltimes.rss"), "application/rss+xml");
        feed.delay = Duration::from_millis(100);
        server.put(&format!("/feed{i}.xml"), feed);
        config = config.source(
            &format!("Outlet {i:02}"),
            &server.url(&format!("/feed{i}.xml")),
        );
    }
    (server, config.setup())
}

fn requests_per_path(server: &FeedServer) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for seen in server.all_seen() {
        *counts.entry(seen.path).or_insert(0) += 1;
    }
    counts
}

async fn polled(setup: &Setup) -> BTreeSet<String> {
    let sources = setup.sources_if_any().await;
    sources
        .into_iter()
        .filter(|s| s.last_success_at.is_some())
        .map(|s| s.name)
        .collect()
}

fn path_of(name: &str) -> String {
    format!(
        "/feed{}.xml",
        name.trim_start_matches("Outlet ")
            .trim_start_matches('0')
            .parse::<usize>()
            .unwrap_or(0)
    )
}

#[tokio::test]
async fn a_crash_mid_cycle_loses_nothing_and_repeats_nothing() {
    let (server, setup) = world();
    let first = Daemon::start(&setup, "info");
    let started = Instant::now();
    while server.all_seen().len() < SOURCES / 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first cycle did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.signal("KILL");
    let _ = first.wait(Duration::from_secs(5));
    let before = polled(&setup).await;
    assert!(
        !before.is_empty() && before.len() < SOURCES,
        "killed mid-cycle: {} polled",
        before.len()
    );
    let requests_before = server.all_seen().len();

    let second = Daemon::start(&setup, "info");
    let started = Instant::now();
    while polled(&setup).await.len() < SOURCES {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the cycle was not finished after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let anything that would wrongly repeat have its chance.
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.signal("TERM");
    let (exit, log) = second.wait(Duration::from_secs(10));
    assert!(exit.success());
    assert!(
        log.contains("cycle done"),
        "a summary line per cycle: {log}"
    );

    let after: Vec<String> = server.all_seen()[requests_before..]
        .iter()
        .map(|s| s.path.clone())
        .collect();
    for name in &before {
        assert!(
            !after.contains(&path_of(name)),
            "{name} was polled before the crash and again after it"
        );
    }
    let counts = requests_per_path(&server);
    assert_eq!(
        counts.len(),
        SOURCES,
        "every source was fetched: {counts:?}"
    );
    let repeated = counts.values().filter(|n| **n > 1).count();
    assert!(
        repeated <= 1,
        "only the one fetch in flight at the crash may repeat: {counts:?}"
    );

    setup.assert_intact().await;
    let articles = setup.count("articles").await;
    assert_eq!(
        articles, 3,
        "30 outlets carrying the same 3 articles: stored once each"
    );
}

#[tokio::test]
async fn after_downtime_overdue_sources_are_spread_not_burst() {
    let (server, setup) = world();
    assert!(setup.feedmerge(&["fetch"]).status.success());
    assert_eq!(server.all_seen().len(), SOURCES);
    // The daemon was down for an hour: every source's due time has passed.
    let hour_ago = chrono::Utc::now().timestamp_millis() - 3_600_000;
    setup.make_all_due(hour_ago).await;
    let daemon = Daemon::start(&setup, "warn");
    tokio::time::sleep(Duration::from_secs(3)).await;
    daemon.signal("TERM");
    let (exit, _) = daemon.wait(Duration::from_secs(10));
    assert!(exit.success());
    // Spread over their offsets in the 15-minute window, barely any fall in the first seconds.
    let burst = server.all_seen().len() - SOURCES;
    assert!(
        burst <= 3,
        "{burst} of {SOURCES} overdue sources were fetched within 3 s of the restart"
    );
}
