//! `[[notify]]`: a local webhook receiver gets one signed JSON POST per new story the alert's
//! query matches, none for the others, the same one again after it answered 500, and the
//! deliveries on `/status` and `/metrics`; a chat-format alert gets a line of text; two
//! replicas on PostgreSQL send each delivery once between them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

use crate::common::{
    free_port, hub_signature, serve_apart, text, ConfigBuilder, Daemon, Engine, FeedServer,
    Resource, NEVER, STALL,
};

/// A webhook receiver: every request's headers and body, and how many of the first it
/// answers 500.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes, StatusCode)>>>,
    fail_first: usize,
}

impl Receiver {
    fn start(fail_first: usize) -> (Receiver, String) {
        let receiver = Receiver {
            fail_first,
            ..Receiver::default()
        };
        let state = receiver.clone();
        let app = Router::new().route(
            "/hook/{token}",
            post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let mut got = state.got.lock().unwrap_or_else(|e| e.into_inner());
                    let status = match got.len() < state.fail_first {
                        true => StatusCode::INTERNAL_SERVER_ERROR,
                        false => StatusCode::OK,
                    };
                    got.push((headers, body, status));
                    status
                }
            }),
        );
        let addr = serve_apart(app);
        (receiver, format!("http://{addr}/hook/s3cr3t-path"))
    }

    /// The requests so far.
    fn got(&self) -> Vec<(HeaderMap, Bytes, StatusCode)> {
        self.got.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The titles of the stories taken (answered 200), in order.
    fn taken(&self) -> Vec<String> {
        self.got()
            .iter()
            .filter(|(_, _, s)| s.is_success())
            .map(|(_, body, _)| {
                let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                json["title"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    }

    /// Waits until `done` holds of the requests so far, for at most `limit`.
    async fn until(&self, limit: Duration, done: impl Fn(&Receiver) -> bool) -> bool {
        let started = Instant::now();
        while !done(self) {
            if started.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        true
    }
}

/// An RSS feed of `items` (guid, title, text), all published just now.
fn feed(items: &[(&str, &str, &str)]) -> Resource {
    let now = chrono::Utc::now().to_rfc2822();
    let mut xml = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Wire</title>\
         <link>https://wire.example/</link>",
    );
    for (guid, title, text) in items {
        xml.push_str(&format!(
            "<item><guid>{guid}</guid><link>https://wire.example/{guid}</link>\
             <title>{title}</title><description>{text}</description><pubDate>{now}</pubDate></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    Resource::new(xml.into_bytes(), "application/rss+xml")
}

const TALKS: (&str, &str, &str) = (
    "talks",
    "Ukraine talks resume in Geneva",
    "Delegations from Kyiv and Moscow met for the first time in months.",
);
const FOOTBALL: (&str, &str, &str) = (
    "football",
    "Ukraine beat Spain in Seville",
    "A late goal settled it; a famous night for the country's sport.",
);
const MARKETS: (&str, &str, &str) = (
    "markets",
    "Markets rally on rate hopes",
    "Stocks rose across Europe as bond yields fell.",
);
const GRAIN: (&str, &str, &str) = (
    "grain",
    "Ukraine grain deal extended for a year",
    "Ships will keep sailing from Odesa under the agreement.",
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_posts_each_new_matching_story_once_signed() {
    let (receiver, hook) = Receiver::start(1);
    let site = FeedServer::start();
    site.put("/wire.rss", feed(&[TALKS, FOOTBALL, MARKETS]));
    let port = free_port();
    // The variable is this test's own: no other test reads it.
    std::env::set_var("FEEDMERGE_TEST_ALERT_SECRET", "hook-secret");
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .source_with("Wire", &site.url("/wire.rss"), "allow_private = true")
        .raw(&format!(
            "[[notify]]\nname = \"ukraine\"\nquery = 'Ukraine -sport'\nurl = \"{hook}\"\n\
             secret_env = \"FEEDMERGE_TEST_ALERT_SECRET\"\nformat = \"json\"\nallow_private = true\n"
        ))
        .setup();
    let daemon = Daemon::start(&setup, "feedmerge=info");

    // The matching story: refused once (500), then taken; signed both times.
    if !receiver
        .until(STALL * 3, |r| {
            r.taken() == ["Ukraine talks resume in Geneva"]
        })
        .await
    {
        daemon.fail(&format!("no delivery taken: {:?}", receiver.taken()));
    }
    let got = receiver.got();
    assert_eq!(got.len(), 2, "one refused, then one taken");
    assert_eq!(got[0].2, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(got[0].1, got[1].1, "the retry sends the same body");
    for (headers, body, _) in &got {
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            headers["x-feedmerge-signature"]
                .to_str()
                .unwrap_or_default(),
            hub_signature("sha256", "hook-secret", body)
        );
    }
    let story: serde_json::Value = serde_json::from_slice(&got[1].1).expect("JSON");
    assert_eq!(story["alert"], "ukraine");
    assert_eq!(story["url"], "https://wire.example/talks");
    assert_eq!(story["outlets"][0]["name"], "Wire");
    let id = story["id"].as_str().unwrap_or_default();
    assert!(
        id.starts_with(&format!("http://127.0.0.1:{port}/entries/")),
        "{id}"
    );

    // The feed gains a matching story and another: one more delivery, for the match.
    site.put("/wire.rss", feed(&[GRAIN, MARKETS, TALKS, FOOTBALL]));
    let out = setup.feedmerge(&["fetch"]);
    assert!(out.status.success());
    let wanted = [
        "Ukraine talks resume in Geneva",
        "Ukraine grain deal extended for a year",
    ];
    if !receiver.until(STALL * 3, |r| r.taken() == wanted).await {
        daemon.fail(&format!(
            "the second story was not taken: {:?}",
            receiver.taken()
        ));
    }
    // Nothing more comes: no story twice, none that did not match.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.taken(), wanted);
    assert_eq!(receiver.got().len(), 3);

    // The deliveries as /status and /metrics show them; the hook's secret path in neither.
    let http = reqwest::Client::new();
    let status = text(&http, &format!("http://127.0.0.1:{port}/status")).await;
    assert!(status.contains("<h2>Alerts</h2>"), "{status}");
    assert!(
        status.contains("<td>ukraine</td><td>http://127.0.0.1/…</td><td class=\"n\">0</td><td class=\"n\">2</td>"),
        "{status}"
    );
    let metrics = text(&http, &format!("http://127.0.0.1:{port}/metrics")).await;
    assert!(
        metrics.contains("feedmerge_alert_deliveries{alert=\"ukraine\",state=\"delivered\"} 2"),
        "{metrics}"
    );
    assert!(!status.contains("s3cr3t") && !metrics.contains("s3cr3t"));
    daemon.signal("TERM");
    let (_, log) = daemon.wait(STALL * 3);
    assert!(log.contains("it will be tried again"), "{log}");
    assert!(
        !log.contains("s3cr3t") && !log.contains("hook-secret"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_alert_posts_a_line_of_text() {
    let (receiver, hook) = Receiver::start(0);
    let site = FeedServer::start();
    site.put("/wire.rss", feed(&[TALKS, MARKETS]));
    let setup = ConfigBuilder::new()
        .serve(free_port())
        .schedule(NEVER)
        .source_with("Wire", &site.url("/wire.rss"), "allow_private = true")
        .raw(&format!(
            "[[notify]]\nname = \"markets\"\nquery = 'title:markets'\nurl = \"{hook}\"\n\
             format = \"slack\"\nallow_private = true\n"
        ))
        .setup();
    let daemon = Daemon::start(&setup, "warn");
    if !receiver.until(STALL * 3, |r| !r.got().is_empty()).await {
        daemon.fail("no message");
    }
    let got = receiver.got();
    let body: serde_json::Value = serde_json::from_slice(&got[0].1).expect("JSON");
    assert_eq!(
        body["text"],
        "Markets rally on rate hopes\nWire · markets\nhttps://wire.example/markets"
    );
    assert!(got[0].0.get("x-feedmerge-signature").is_none());
}

/// An alert's target on a loopback address without `allow_private` is refused by `check`.
#[test]
fn a_private_target_needs_allow_private() {
    let setup = ConfigBuilder::new()
        .source("Wire", "https://wire.example/feed")
        .raw("[[notify]]\nname = \"x\"\nquery = 'ukraine'\nurl = \"http://127.0.0.1:9/hook\"\n")
        .setup();
    let out = setup.feedmerge(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let said = crate::common::stderr(&out);
    assert!(
        said.contains(
            "notify[0].url: is on a private or loopback address; set allow_private = true"
        ),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set FEEDMERGE_TEST_POSTGRES=postgres://USER@HOST/DB and pass --include-ignored"]
async fn two_replicas_send_each_delivery_once() {
    let (receiver, hook) = Receiver::start(0);
    let site = FeedServer::start();
    site.put("/wire.rss", feed(&[TALKS, FOOTBALL, MARKETS, GRAIN]));
    let config = ConfigBuilder::new()
        .text("storage", "database", "db/unused.db")
        .schedule("*/2 * * * * *")
        .source_with("Wire", &site.url("/wire.rss"), "allow_private = true")
        .raw(&format!(
            "[[notify]]\nname = \"ukraine\"\nquery = 'ukraine'\nurl = \"{hook}\"\nallow_private = true\n"
        ));
    let Some(setup) = config.on(Engine::Postgres).await else {
        return;
    };
    let replicas = [
        Daemon::replica(&setup, free_port()),
        Daemon::replica(&setup, free_port()),
    ];
    let three = |r: &Receiver| r.taken().len() >= 3;
    assert!(
        receiver.until(STALL * 3, three).await,
        "{:?}",
        receiver.taken()
    );
    // Both replicas keep looking and sending for a while: nothing is sent twice.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut taken = receiver.taken();
    assert_eq!(taken.len(), 3, "{taken:?}");
    taken.sort();
    assert_eq!(
        taken,
        [
            "Ukraine beat Spain in Seville",
            "Ukraine grain deal extended for a year",
            "Ukraine talks resume in Geneva"
        ]
    );
    drop(replicas);
}
