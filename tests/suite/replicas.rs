//! Three `feedmerge run` replicas on one PostgreSQL database, polling 300 sources on a local
//! server: each due source is fetched once, by one replica; a replica killed mid-cycle
//! (`kill -9`) delays the sources it held by at most their lease; a story whose versions the
//! replicas ingest at the same moment is one story; and every replica serves the same bytes
//! under the same ETag. Skipped, saying so, unless `FEEDMERGE_TEST_POSTGRES` names a database.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::{
    fixture, free_port, health_until, ConfigBuilder, Daemon, Engine, FeedServer, Resource,
};

/// `[poll].schedule`: every 10 seconds. The planner spreads sources over those 10 s and
/// polls each in its slot, at least half an interval after its last poll, so each is due
/// every 5 to 15 seconds (10 once in its slot).
const INTERVAL: Duration = Duration::from_secs(10);
/// The shortest and longest time between two due times of one source.
const DUE_EVERY: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(15));
/// `[poll].timeout`; a claim lasts twice that and 10 s (`poll::LEASE_MARGIN`).
const TIMEOUT: Duration = Duration::from_secs(2);
const LEASE: Duration = Duration::from_secs(2 * 2 + 10);
/// Slack for the spread of a cycle's polls and the machine's load. The suite runs two tests
/// at once on CI's two cores, beside PostgreSQL and three daemons; a neighbour that parses
/// hostile feeds starves the survivors for seconds: 3 s was once exceeded by 1 s (33.05 s
/// unfetched), 6 s by 1.8 s (36.8 s). A source that no survivor took over would stay
/// unfetched until the end, which this still catches.
const SLACK: Duration = Duration::from_secs(12);

/// The outlets that carry the seed story (the original and three re-runs), with their feeds.
const STORY: [(&str, &str, &str); 4] = [
    ("Global Times", "/gt.rss", "globaltimes.rss"),
    ("Partner Wire", "/partner.atom", "partner.atom"),
    ("Worldwire", "/worldwire.json", "worldwire.json"),
    ("Morning Digest", "/digest.rdf", "digest.rdf"),
];

/// A feed of one item of its own, dated 2020 so that the story below leads the merged feed.
fn small_feed(i: usize) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet {i}</title>
<link>https://outlet{i}.example/</link>
<item><guid>item-{i}</guid><link>https://outlet{i}.example/{i}</link>
<title>Local report number {i} from outlet {i}</title>
<description>Outlet {i} reports on its harbour, its school number {i} and its council.</description>
<pubDate>Wed, 01 Jan 2020 00:00:00 GMT</pubDate></item></channel></rss>"#
    )
    .into_bytes()
}

fn empty_feed() -> Vec<u8> {
    b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Quiet</title></channel></rss>"
        .to_vec()
}

/// `body` served after `delay`, so that each replica has polls in flight when one is killed.
fn slow(body: Vec<u8>, content_type: &str) -> Resource {
    let mut r = Resource::new(body, content_type);
    r.delay = Duration::from_millis(200);
    r
}

/// `/feed.atom` from the replica on `port`: its body and ETag.
async fn feed(client: &reqwest::Client, port: u16) -> (String, String) {
    let r = client
        .get(format!("http://127.0.0.1:{port}/feed.atom"))
        .send()
        .await
        .expect("GET /feed.atom");
    assert_eq!(r.status(), 200);
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (r.text().await.expect("body"), etag)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set FEEDMERGE_TEST_POSTGRES=postgres://USER@HOST/DB and pass --include-ignored"]
async fn three_replicas_share_the_polling_and_serve_the_same_feeds() {
    let server = FeedServer::start();
    let mut config = ConfigBuilder::new()
        .text("feed", "title", "Replicas")
        .text("feed", "base_url", "http://news.example/")
        .set("feed", "max_entries", "20")
        .text("storage", "database", "db/unused.db")
        .schedule(&format!("*/{} * * * * *", INTERVAL.as_secs()))
        .text("poll", "timeout", &format!("{}s", TIMEOUT.as_secs()))
        .set("poll", "concurrency", "16")
        .set("poll", "per_host", "16");
    for i in 0..300 {
        let path = format!("/feeds/{i}.rss");
        server.put(&path, slow(small_feed(i), "application/rss+xml"));
        config = config.source(&format!("Outlet {i:03}"), &server.url(&path));
    }
    for (name, path, _) in STORY {
        server.put(path, slow(empty_feed(), "application/rss+xml"));
        // Their fixtures ask to be polled hourly at most; here they are polled like the rest.
        config = config.source_with(name, &server.url(path), "respect_feed_hints = false");
    }
    let Some(setup) = config.on(Engine::Postgres).await else {
        return;
    };
    let started = Instant::now();
    let ports = [free_port(), free_port(), free_port()];
    let mut replicas: Vec<Daemon> = ports.iter().map(|&p| Daemon::replica(&setup, p)).collect();
    let client = reqwest::Client::new();
    for port in ports {
        let health = health_until(&client, port, Duration::from_secs(30), |h| {
            h["articles"].as_i64() == Some(300)
        })
        .await;
        assert_eq!(health["articles"], 300, "replica on {port}: {health}");
    }

    // Every replica renders the feed (and keeps it cached).
    let before: Vec<(String, String)> =
        futures_util::future::join_all(ports.iter().map(|&p| feed(&client, p))).await;
    assert!(
        before.iter().all(|f| *f == before[0]),
        "every replica serves the same feed and ETag"
    );

    // Mid-cycle (in the second round of polls), one replica dies.
    tokio::time::sleep((started + DUE_EVERY.0 + Duration::from_secs(6)) - Instant::now()).await;
    let killed = Instant::now();
    replicas[0].0.kill().expect("kill -9");
    let _ = replicas[0].0.wait();

    // Four outlets publish one story at once. The survivors render their feeds now and keep
    // them a minute unless told of a change: they must show the story, alike, well before.
    for (_, path, file) in STORY {
        let content_type = if path.ends_with(".json") {
            "application/feed+json"
        } else {
            "application/xml"
        };
        server.put(path, slow(fixture(file), content_type));
    }
    let rendered = Instant::now();
    let stale = futures_util::future::join_all(ports[1..].iter().map(|&p| feed(&client, p))).await;
    assert!(stale[0] == stale[1], "the survivors serve the same feed");
    let after = loop {
        let after: Vec<(String, String)> =
            futures_util::future::join_all(ports[1..].iter().map(|&p| feed(&client, p))).await;
        if after[0] == after[1] && after[0].0.contains("multipolar world order") {
            break after;
        }
        assert!(
            rendered.elapsed() < Duration::from_secs(55),
            "the story did not reach both survivors' feeds, alike, before their renders expired"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    tokio::time::sleep((killed + DUE_EVERY.1 + LEASE + SLACK) - Instant::now()).await;
    let ended = Instant::now();

    // Each source fetched once per due time (its polls at least the shortest time between
    // two due times apart), and none left unfetched after the kill for longer than the
    // longest such time and a lease.
    let mut polls: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
    for seen in server.all_seen() {
        polls.entry(seen.path).or_default().push(seen.at);
    }
    assert_eq!(polls.len(), 304, "every source was fetched");
    let seldom: Vec<(&String, Vec<Duration>)> = polls
        .iter()
        .filter(|(_, times)| times.len() < 3)
        .map(|(path, times)| (path, times.iter().map(|t| *t - started).collect()))
        .collect();
    assert!(
        seldom.is_empty(),
        "polled fewer than 3 times in {:?} (times since the start): {seldom:?}",
        ended - started
    );
    for (path, times) in &polls {
        for pair in times.windows(2) {
            assert!(
                pair[1] - pair[0] >= DUE_EVERY.0 - Duration::from_secs(1),
                "{path} fetched twice for one due time: {:?} apart",
                pair[1] - pair[0]
            );
        }
        let mut last = *times.iter().rev().find(|t| **t < killed).unwrap_or(&killed);
        for t in times.iter().filter(|t| **t >= killed).chain([&ended]) {
            assert!(
                *t - last <= DUE_EVERY.1 + LEASE + SLACK,
                "{path} went {:?} unfetched after the kill",
                *t - last
            );
            last = *t;
        }
    }

    // In the end the story is in the feed once, crediting all four outlets, whichever
    // replicas stored its versions; the survivors still serve the same bytes and ETag.
    assert_ne!(after[0], before[0]);
    let after: Vec<(String, String)> =
        futures_util::future::join_all(ports[1..].iter().map(|&p| feed(&client, p))).await;
    assert!(after[0] == after[1], "the same bytes under the same ETag");
    let entries = atom_syndication::Feed::read_from(after[0].0.as_bytes())
        .expect("valid Atom")
        .entries()
        .to_vec();
    let story: Vec<_> = entries
        .iter()
        .filter(|e| {
            e.content()
                .and_then(|c| c.value())
                .or(e.summary().map(|s| s.as_str()))
                .is_some_and(|text| text.contains("multipolar world order"))
        })
        .collect();
    assert_eq!(story.len(), 1, "one entry for the story");
    let credited = story[0]
        .links()
        .iter()
        .filter(|l| l.rel() == "related")
        .count();
    assert_eq!(
        credited, 3,
        "the original's entry credits the three re-runs"
    );
}
