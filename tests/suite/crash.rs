//! `kill -9` of `feedmerge run` at random moments while it ingests, 50 times, against a world
//! of feeds that changes between runs; then one clean run. The database must pass SQLite's integrity and
//! foreign-key checks, hold every entry the feeds ever listed exactly once, and every source's
//! state must be whole: its last fetch recorded with the validators of what it stored.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{ConfigBuilder, FeedServer, Resource, Setup, NEVER};

const SOURCES: usize = 20;
const ROUNDS: usize = 50;
const NEW_PER_ROUND: usize = 5;

/// Source `s`'s feed after `round` rounds: every entry it ever listed, newest first.
fn feed(s: usize, round: usize) -> Vec<u8> {
    let items: String = (0..round * NEW_PER_ROUND)
        .rev()
        .map(|i| {
            format!(
                "<item><title>Outlet {s} item {i}</title><guid>s{s}-{i}</guid>\
                 <link>https://outlet{s}.example/{i}</link><description>Note {s}.{i}</description></item>"
            )
        })
        .collect();
    format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Outlet {s}</title>{items}</channel></rss>")
        .into_bytes()
}

/// A small fixed pseudo-random sequence, so a failure can be reproduced.
fn delays() -> impl Iterator<Item = Duration> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    std::iter::repeat_with(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        Duration::from_millis(10 + x % 400)
    })
}

#[tokio::test]
async fn kill_9_during_ingest_loses_and_duplicates_nothing() {
    let server = FeedServer::start();
    let port = common::free_port();
    // Each round's config gives every feed a new query string: a new URL is a new feed to
    // the daemon, due at once, so every start ingests (the server ignores the query).
    let config = |round: usize| {
        (0..SOURCES)
            .fold(
                ConfigBuilder::new()
                    .text("server", "listen", &format!("127.0.0.1:{port}"))
                    .set("poll", "per_host", "4")
                    .schedule(NEVER),
                |c, s| {
                    let url = format!("{}?round={round}", server.url(&format!("/{s}.rss")));
                    c.source(&format!("Outlet {s}"), &url)
                },
            )
            .build()
    };
    let setup = Setup::new(&config(0));
    let mut killed_mid_run = 0;
    for (round, delay) in (1..=ROUNDS).zip(delays()) {
        for s in 0..SOURCES {
            server.put(
                &format!("/{s}.rss"),
                Resource::new(feed(s, round), "application/rss+xml"),
            );
        }
        std::fs::write(&setup.config, config(round)).expect("config");
        let asked = server.requests();
        // The daemon, as a service manager runs it; killed as the kernel's OOM killer or a
        // power cut would.
        let mut child = Command::new(env!("CARGO_BIN_EXE_feedmerge"))
            .args(["run", "-c"])
            .arg(&setup.config)
            .env("RUST_LOG", "off")
            .env_remove("FEEDMERGE_LISTEN")
            .env_remove("FEEDMERGE_DATABASE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start feedmerge");
        // The delay counts from the round's first fetch, not from the start, so that the kill
        // lands among the writes however long starting takes on a busy machine.
        let spawned = std::time::Instant::now();
        while server.requests() == asked && spawned.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(delay).await;
        if child.try_wait().expect("wait").is_none() {
            killed_mid_run += 1;
        }
        child.kill().expect("kill -9"); // SIGKILL
        child.wait().expect("reap");
    }
    // Most kills must land mid-run, or the loop proves nothing.
    assert!(
        killed_mid_run >= ROUNDS * 3 / 4,
        "{killed_mid_run} of {ROUNDS} kills mid-run"
    );

    // The killed daemons did ingest: the kills landed among real writes.
    let before = setup.count("articles").await;
    assert!(before > 0, "nothing was stored before the kills");
    eprintln!(
        "{before} of {} entries stored by the killed daemons",
        SOURCES * ROUNDS * NEW_PER_ROUND
    );

    let clean = setup.feedmerge(&["fetch"]);
    assert!(clean.status.success(), "{}", common::stderr(&clean));
    setup.assert_intact().await;
    let broken = setup.foreign_key_violations().await;
    assert!(broken.is_empty(), "{broken:?}");
    let links: std::collections::HashSet<String> = setup
        .articles()
        .await
        .into_iter()
        .filter_map(|a| a.link)
        .collect();
    let (articles, appearances, distinct, stories) = (
        setup.count("articles").await,
        setup.count("appearances").await,
        links.len() as i64,
        setup.count("stories").await,
    );
    let expected = (SOURCES * ROUNDS * NEW_PER_ROUND) as i64;
    assert_eq!(
        (articles, appearances, distinct, stories),
        (expected, expected, expected, expected)
    );
    // Every source's state is whole: the last fetch succeeded and its validators are those of
    // the feed now served, so the next poll is a 304.
    let states = setup.sources().await;
    assert_eq!(states.len(), SOURCES);
    for (s, state) in states.into_iter().enumerate() {
        let name = state.name.as_str();
        let (etag, success, error, due) = (
            state.etag,
            state.last_success_at,
            state.last_error,
            state.next_due_at,
        );
        let served = Resource::new(feed(s, ROUNDS), "application/rss+xml").etag;
        assert_eq!(etag, served, "{name}");
        assert!(
            success.is_some() && error.is_none() && due.is_some(),
            "{name}"
        );
    }
}
