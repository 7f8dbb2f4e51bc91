//! WebSub in both directions, against hubs and readers on 127.0.0.1: an outlet's hub pushes
//! its news to us (subscribe, verify, signed deliveries, renewal, unsubscribe), and readers
//! subscribe to our hub (verification, signed deliveries of the merged feed, refusals).

use std::time::{Duration, Instant};

use crate::common::*;

/// An Atom feed at `url`, naming `hub` and itself, with one entry per (id, title).
fn atom(url: &str, hub: &str, entries: &[(&str, &str)]) -> Vec<u8> {
    let mut feed = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Outlet</title><id>{url}</id>\
         <updated>2026-12-01T10:00:00Z</updated>\
         <link rel=\"self\" href=\"{url}\"/><link rel=\"hub\" href=\"{hub}\"/>"
    );
    for (id, title) in entries {
        feed.push_str(&format!(
            "<entry><id>urn:x:{id}</id><title>{title}</title>\
             <link href=\"https://outlet.example/{id}\"/><updated>2026-12-01T10:00:00Z</updated>\
             <content type=\"html\">The text of {title}, which no other entry shares: {id} {id}.</content></entry>"
        ));
    }
    feed.push_str("</feed>");
    feed.into_bytes()
}

async fn feed_has(http: &reqwest::Client, port: u16, text: &str) -> bool {
    crate::common::text(http, &format!("http://127.0.0.1:{port}/feed.atom"))
        .await
        .contains(text)
}

crate::on_both_engines!(an_outlets_hub_pushes_its_news_without_a_poll);

async fn an_outlets_hub_pushes_its_news_without_a_poll(engine: Engine) {
    let outlet = FeedServer::start();
    let hub = TestHub::start(3);
    let feed_url = outlet.url("/feed.atom");
    outlet.put(
        "/feed.atom",
        Resource::new(
            atom(&feed_url, &hub.url(), &[("one", "The first story")]),
            "application/atom+xml",
        ),
    );
    let port = free_port();
    let Some(setup) = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .set("websub", "subscribe", "true")
        .source_with("Outlet", &feed_url, "allow_private = true")
        .on(engine)
        .await
    else {
        return;
    };
    let daemon = Daemon::start(&setup, "info");

    // The first poll finds the hub; the subscription is asked for and verified.
    let requests = hub
        .until(15, |_, verified| {
            verified.iter().any(|(m, ok)| m == "subscribe" && *ok)
        })
        .await;
    if !hub.verified().contains(&("subscribe".into(), true)) {
        daemon.fail(&format!(
            "the hub saw no verified subscription: {requests:?}"
        ));
    }
    let subscribe = &requests[0];
    assert_eq!(subscribe["hub.mode"], "subscribe");
    assert_eq!(subscribe["hub.topic"], feed_url);
    assert!(
        subscribe["hub.callback"].starts_with(&format!("http://127.0.0.1:{port}/websub/callback/"))
    );
    assert_eq!(
        subscribe["hub.lease_seconds"], "864000",
        "the default lease is 10 days"
    );
    let (callback, secret) = (
        subscribe["hub.callback"].clone(),
        subscribe["hub.secret"].clone(),
    );
    assert!(secret.len() >= 32);

    // A verification for a subscription we did not ask for is refused.
    let http = reqwest::Client::new();
    let forged = http
        .get(format!(
            "{callback}-not-ours?hub.mode=subscribe&hub.topic={feed_url}&hub.challenge=x"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);
    let other_topic = http
        .get(format!(
            "{callback}?hub.mode=subscribe&hub.topic=http://elsewhere.example/&hub.challenge=x"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other_topic.status(), 404);

    let polls = outlet.seen("/feed.atom").len();
    // A signed delivery (sha512 here; we sign with sha256) is in the merged feed at once,
    // without a poll of the outlet (the schedule polls it never).
    let pushed = atom(
        &feed_url,
        &hub.url(),
        &[("two", "A pushed story"), ("one", "The first story")],
    );
    let sent = Instant::now();
    let answer = http
        .post(&callback)
        .header("content-type", "application/atom+xml")
        .header("x-hub-signature", hub_signature("sha512", &secret, &pushed))
        .body(pushed)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    let mut shown = false;
    while sent.elapsed() < crate::common::STALL {
        if feed_has(&http, port, "A pushed story").await {
            shown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if !shown {
        daemon.fail("the pushed story is not in /feed.atom after its delivery");
    }

    // The same signed delivery replayed (WebSub has no replay protection) changes nothing:
    // the merged feed, its `updated` times included, stays byte for byte.
    let before = crate::common::text(&http, &format!("http://127.0.0.1:{port}/feed.atom")).await;
    let replayed = atom(
        &feed_url,
        &hub.url(),
        &[("two", "A pushed story"), ("one", "The first story")],
    );
    let answer = http
        .post(&callback)
        .header("content-type", "application/atom+xml")
        .header(
            "x-hub-signature",
            hub_signature("sha512", &secret, &replayed),
        )
        .body(replayed)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = crate::common::text(&http, &format!("http://127.0.0.1:{port}/feed.atom")).await;
    assert_eq!(before, after, "a replayed push changed the merged feed");

    // A delivery with a bad signature is acknowledged and changes nothing.
    let forged = atom(&feed_url, &hub.url(), &[("three", "A forged story")]);
    for signature in [
        hub_signature("sha256", "not-the-secret", &forged),
        String::new(),
    ] {
        let answer = http
            .post(&callback)
            .header("x-hub-signature", signature)
            .body(forged.clone())
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!feed_has(&http, port, "A forged story").await);
    assert_eq!(
        outlet.seen("/feed.atom").len(),
        polls,
        "the pushes needed no poll"
    );

    // The lease is 3 s: the subscription is renewed before it ends.
    let requests = hub.until(6, |r, _| r.len() >= 2).await;
    assert!(requests.len() >= 2, "no renewal: {requests:?}");
    assert_eq!(requests[1]["hub.mode"], "subscribe");
    assert_eq!(requests[1]["hub.callback"], callback);

    // What /status, `feedmerge sources` and /metrics say of it.
    let status = crate::common::text(&http, &format!("http://127.0.0.1:{port}/status")).await;
    assert!(status.contains("active until"), "{status}");
    assert!(
        status.contains("(deliveries 2, new stories 1, missed by push 0, bad signatures 2)"),
        "{status}"
    );
    let metrics = crate::common::text(&http, &format!("http://127.0.0.1:{port}/metrics")).await;
    assert!(
        metrics.contains("feedmerge_source_push_state{source=\"Outlet\",state=\"active\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("feedmerge_source_pushes_total{source=\"Outlet\"} 2"),
        "{metrics}"
    );
    let table = stdout(&setup.feedmerge(&["sources"]));
    assert!(table.contains("active until"), "{table}");

    // The source leaves the config: the hub is asked to unsubscribe, and its verification is
    // confirmed.
    std::fs::write(
        &setup.config,
        ConfigBuilder::new()
            .serve(port)
            .schedule(NEVER)
            .set("websub", "subscribe", "true")
            .source("Another outlet", &outlet.url("/another.atom"))
            .build(),
    )
    .unwrap();
    hub.until(15, |_, verified| {
        verified.iter().any(|(m, _)| m == "unsubscribe")
    })
    .await;
    let unsubscribe = hub
        .requests()
        .into_iter()
        .find(|r| r["hub.mode"] == "unsubscribe");
    let Some(unsubscribe) = unsubscribe else {
        daemon.fail("no unsubscribe after the source left the config");
    };
    assert_eq!(unsubscribe["hub.callback"], callback);
    assert_eq!(unsubscribe["hub.topic"], feed_url);
    assert!(
        hub.verified().contains(&("unsubscribe".into(), true)),
        "{:?}",
        hub.verified()
    );
    // Gone: a delivery now is for no subscription.
    let late = http.post(&callback).body("x").send().await.unwrap();
    assert_eq!(late.status(), 404);
}

/// While a hub pushes a source, the source is polled at most every `[websub].safety_poll`
/// instead of on its schedule; a story that a safety poll finds and no push brought is
/// counted as missed.
#[tokio::test]
async fn while_a_hub_pushes_the_source_is_polled_only_as_a_safety_net() {
    let outlet = FeedServer::start();
    let hub = TestHub::start(600);
    let feed_url = outlet.url("/feed.atom");
    let feed = |entries: &[(&str, &str)]| {
        Resource::new(atom(&feed_url, &hub.url(), entries), "application/atom+xml")
    };
    outlet.put("/feed.atom", feed(&[("one", "The first story")]));
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule("* * * * * *")
        .set("websub", "subscribe", "true")
        .text("websub", "safety_poll", "3s")
        .source_with("Outlet", &feed_url, "allow_private = true")
        .setup();
    let daemon = Daemon::start(&setup, "info");
    hub.until(15, |_, verified| {
        verified.iter().any(|(m, ok)| m == "subscribe" && *ok)
    })
    .await;
    if hub.verified().is_empty() {
        daemon.fail("no verified subscription");
    }
    // The poll that was due when the subscription was verified, then one every 3 s at most
    // (against one a second, the schedule's).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = outlet.seen("/feed.atom").len();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let polls = outlet.seen("/feed.atom").len() - before;
    assert!((1..=3).contains(&polls), "{polls} polls in 6 s");

    // A story the hub never pushed: the next safety poll stores it, and counts it missed.
    outlet.put(
        "/feed.atom",
        feed(&[("two", "A story nobody pushed"), ("one", "The first story")]),
    );
    let http = reqwest::Client::new();
    let started = Instant::now();
    let metric = "feedmerge_source_push_missed_total{source=\"Outlet\"} 1";
    loop {
        let metrics = crate::common::text(&http, &format!("http://127.0.0.1:{port}/metrics")).await;
        if metrics.contains(metric) {
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            daemon.fail(&format!("no missed story counted: {metrics}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(feed_has(&http, port, "A story nobody pushed").await);
    let status = crate::common::text(&http, &format!("http://127.0.0.1:{port}/status")).await;
    assert!(status.contains("missed by push 1"), "{status}");

    // The hub withdraws the subscription (`hub.mode=denied`): it is failed, with its reason.
    let subscribe = &hub.requests()[0];
    let mut denied = url::Url::parse(&subscribe["hub.callback"]).unwrap();
    denied
        .query_pairs_mut()
        .append_pair("hub.mode", "denied")
        .append_pair("hub.topic", &feed_url)
        .append_pair("hub.reason", "too many subscriptions");
    assert_eq!(http.get(denied).send().await.unwrap().status(), 200);
    let table = stdout(&setup.feedmerge(&["sources"]));
    assert!(
        table.contains("failed: denied by the hub: too many subscriptions"),
        "{table}"
    );
}

/// A feed naming no hub: nothing is subscribed, and polling goes on as scheduled.
#[tokio::test]
async fn a_feed_without_a_hub_is_polled_as_before() {
    let outlet = FeedServer::start();
    outlet.put_fixture("/feed.rss", "globaltimes.rss", "application/rss+xml");
    let hub = TestHub::start(600);
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .set("websub", "subscribe", "true")
        .source_with("Outlet", &outlet.url("/feed.rss"), "allow_private = true")
        .setup();
    let _daemon = Daemon::start(&setup, "warn");
    let http = reqwest::Client::new();
    health_until(&http, port, Duration::from_secs(15), |h| h["articles"] == 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(hub.requests().is_empty());
    let table = stdout(&setup.feedmerge(&["sources"]));
    let outlet_row: Vec<&str> = table
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(
        table.starts_with("NAME") && table.contains(" PUSH "),
        "{table}"
    );
    // Its push state, then its full text (off), no entry discarded, and no problem.
    assert_eq!(
        outlet_row[outlet_row.len() - 3..],
        ["none", "off", "0"],
        "{table}"
    );
}

crate::on_both_engines!(readers_subscribe_to_our_hub);

async fn readers_subscribe_to_our_hub(engine: Engine) {
    let outlet = FeedServer::start();
    let rss = |titles: &[&str]| {
        let mut feed =
            String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>O</title>");
        for (i, t) in titles.iter().enumerate() {
            feed.push_str(&format!(
                "<item><guid>g{i}</guid><title>{t}</title><description>All about {t}, told once: {i}.</description></item>"
            ));
        }
        feed.push_str("</channel></rss>");
        Resource::new(feed.into_bytes(), "application/rss+xml")
    };
    outlet.put("/feed.rss", rss(&["The first story"]));
    let port = free_port();
    let Some(setup) = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .set("websub", "hub", "true")
        .set("websub", "allow_private_callbacks", "true")
        .source("Outlet", &outlet.url("/feed.rss"))
        .on(engine)
        .await
    else {
        return;
    };
    let daemon = Daemon::start(&setup, "info");
    let http = reqwest::Client::new();
    health_until(&http, port, Duration::from_secs(15), |h| h["articles"] == 1).await;
    let base = format!("http://127.0.0.1:{port}");
    let hub = format!("{base}/websub");
    let topic = format!("{base}/feed.atom");

    // Discovery: the Link header and the feed itself name the hub and the topic.
    let feed = http.get(&topic).send().await.unwrap();
    let link = feed.headers()["link"].to_str().unwrap().to_owned();
    assert_eq!(
        link,
        format!("<{hub}>; rel=\"hub\", <{topic}>; rel=\"self\"")
    );
    let body = feed.text().await.unwrap();
    assert!(
        body.contains(&format!("<link href=\"{hub}\" rel=\"hub\"/>")),
        "{body}"
    );
    let json = crate::common::text(&http, &format!("{base}/feed.json")).await;
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["hubs"],
        serde_json::json!([{ "type": "WebSub", "url": hub }])
    );

    // Subscribe: 202, then our callback is asked to verify.
    let reader = Callback::start();
    let ask = |mode: &'static str, topic: String, callback: String| {
        let http = http.clone();
        let hub = hub.clone();
        async move {
            let form = [
                ("hub.mode", mode),
                ("hub.topic", &topic),
                ("hub.callback", &callback),
                ("hub.secret", "the reader's secret"),
                ("hub.lease_seconds", "600"),
            ];
            let r = post_form(&http, &hub, &form).await;
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, said) = ask("subscribe", topic.clone(), reader.url()).await;
    assert_eq!(status, 202, "{said}");
    reader.until(10, |v, _| !v.is_empty()).await;
    let verification = reader.verifications();
    assert_eq!(verification.len(), 1, "{verification:?}");
    assert_eq!(verification[0]["hub.mode"], "subscribe");
    assert_eq!(verification[0]["hub.topic"], topic);
    assert_eq!(verification[0]["hub.lease_seconds"], "600");
    let stored = Instant::now();
    while setup.count("hub_subscriptions").await == 0 {
        assert!(
            stored.elapsed() < Duration::from_secs(10),
            "the subscription was not stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The source brings a new story: the new merged feed is delivered, signed.
    outlet.put(
        "/feed.rss",
        rss(&["A second story arrives", "The first story"]),
    );
    let fetched = setup.feedmerge(&["fetch"]);
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    reader.until(15, |_, d| !d.is_empty()).await;
    let deliveries = reader.deliveries();
    if deliveries.len() != 1 {
        daemon.fail(&format!("expected one delivery, got {}", deliveries.len()));
    }
    let delivery = &deliveries[0];
    assert!(
        delivery.body.contains("A second story arrives"),
        "{}",
        delivery.body
    );
    assert_eq!(
        delivery.headers["x-hub-signature"].to_str().unwrap(),
        hub_signature("sha256", "the reader's secret", delivery.body.as_bytes())
    );
    assert_eq!(
        delivery.headers["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    assert_eq!(delivery.headers["link"].to_str().unwrap(), link);

    // Unsubscribe: verified, and the next story is not delivered.
    let (status, said) = ask("unsubscribe", topic.clone(), reader.url()).await;
    assert_eq!(status, 202, "{said}");
    reader.until(10, |v, _| v.len() >= 2).await;
    assert_eq!(reader.verifications()[1]["hub.mode"], "unsubscribe");
    let gone = Instant::now();
    while setup.count("hub_subscriptions").await != 0 {
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "the subscription was not removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    outlet.put(
        "/feed.rss",
        rss(&["A third story", "A second story arrives", "The first story"]),
    );
    let fetched = setup.feedmerge(&["fetch"]);
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(reader.deliveries().len(), 1);

    // Refused: a topic that is not ours, a mode we do not serve, a callback that is no URL.
    let (status, said) = ask(
        "subscribe",
        "https://elsewhere.example/feed".into(),
        reader.url(),
    )
    .await;
    assert_eq!((status, said.trim()), (400, "hub.topic is not a feed of this server; its feeds are the merged feed, its categories and its views, each named by its own Link header (rel=\"self\")"));
    let (status, said) = ask("publish", topic.clone(), reader.url()).await;
    assert_eq!(status, 400, "{said}");
    let (status, said) = ask("unsubscribe", topic.clone(), reader.url()).await;
    assert_eq!(
        (status, said.trim()),
        (404, "that callback is not subscribed to that topic")
    );
    let (status, said) = ask("subscribe", topic.clone(), "javascript:alert(1)".into()).await;
    assert_eq!(status, 400, "{said}");
    assert_eq!(
        reader.verifications().len(),
        2,
        "a refused request is never verified"
    );
}

/// Without `allow_private_callbacks`, our hub delivers only to public addresses: a callback
/// on this machine or the local network is refused before anything is sent to it.
#[tokio::test]
async fn a_callback_on_a_private_address_is_refused() {
    let (_setup, _daemon, port) = hub_daemon(true, false).await;
    let http = reqwest::Client::new();
    let reader = Callback::start();
    let topic = format!("http://127.0.0.1:{port}/feed.atom");
    for (callback, refusal) in [
        (reader.url(), "hub.callback refused: 127.0.0.1 is 127.0.0.1, a loopback address; this hub delivers only to public addresses"),
        ("http://169.254.169.254/latest/".into(), "hub.callback refused: 169.254.169.254 is 169.254.169.254, a link-local (cloud metadata) address; this hub delivers only to public addresses"),
        ("http://localhost:9/".into(), "hub.callback refused: localhost is "),
        ("http://[::ffff:0:7f00:1]:9/".into(), "hub.callback refused: ::ffff:0:7f00:1 is ::ffff:0:7f00:1, a loopback address; this hub delivers only to public addresses"),
    ] {
        let form = [("hub.mode", "subscribe"), ("hub.topic", topic.as_str()), ("hub.callback", callback.as_str())];
        let answer = post_form(&http, &format!("http://127.0.0.1:{port}/websub"), &form).await;
        assert_eq!(answer.status(), 403);
        let said = answer.text().await.unwrap();
        // localhost is 127.0.0.1 or ::1, whichever the resolver gives first.
        assert!(said.trim() == refusal || (said.starts_with(refusal) && said.trim().ends_with("a loopback address; this hub delivers only to public addresses")), "{said}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(reader.verifications().is_empty());
}

/// An independent hub, Flask-WebSub's (`tests/tools/flask_hub.py`), run by the Python
/// `FEEDMERGE_PYTHON` names. The test that runs it is ignored unless asked for, and fails
/// without it.
struct FlaskHub {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl FlaskHub {
    fn start() -> FlaskHub {
        let python = std::env::var("FEEDMERGE_PYTHON").unwrap_or_else(|_| "python3".into());
        let ready = std::process::Command::new(&python)
            .args(["-c", "import flask_websub.hub, celery"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ready,
            "this test needs a Python with flask-websub 0.4.1 and celery: \
             FEEDMERGE_PYTHON={python} cannot import them"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/flask_hub.py");
        let child = std::process::Command::new(&python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path().join("hub.db"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the Flask-WebSub hub did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        FlaskHub {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hub", self.port)
    }

    async fn callbacks(&self, topic: &str) -> Vec<String> {
        let mut url =
            url::Url::parse(&format!("http://127.0.0.1:{}/callbacks", self.port)).unwrap();
        url.query_pairs_mut().append_pair("topic", topic);
        let r = reqwest::get(url).await.unwrap();
        serde_json::from_str(&r.text().await.unwrap()).unwrap()
    }
}

impl Drop for FlaskHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The same as with our own test hub, against Flask-WebSub's: it verifies our intent, fetches
/// the outlet's feed when told of a change, and pushes it signed with sha512; an unsubscribe
/// removes us from its subscribers.
#[tokio::test]
#[ignore = "needs a Python with flask-websub 0.4.1 and celery in FEEDMERGE_PYTHON: pass --include-ignored"]
async fn an_independent_hub_pushes_to_us() {
    let hub = FlaskHub::start();
    let outlet = FeedServer::start();
    let feed_url = outlet.url("/feed.atom");
    // Discovery by the Link header alone (Flask-WebSub needs it to push the feed, too).
    let link = format!("<{}>; rel=\"hub\", <{feed_url}>; rel=\"self\"", hub.url());
    let feed = |entries: &[(&str, &str)]| {
        let body = String::from_utf8(atom(&feed_url, "", entries))
            .unwrap()
            .replace("<link rel=\"hub\" href=\"\"/>", "");
        Resource::new(body.into_bytes(), "application/atom+xml").with_header("link", &link)
    };
    outlet.put("/feed.atom", feed(&[("one", "The first story")]));
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .set("websub", "subscribe", "true")
        .source_with("Outlet", &feed_url, "allow_private = true")
        .setup();
    let daemon = Daemon::start(&setup, "info");
    let started = Instant::now();
    while hub.callbacks(&feed_url).await.is_empty() {
        if started.elapsed() > Duration::from_secs(15) {
            daemon.fail("Flask-WebSub has no subscriber for the feed");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let callback = hub.callbacks(&feed_url).await.remove(0);
    assert!(
        callback.starts_with(&format!("http://127.0.0.1:{port}/websub/callback/")),
        "{callback}"
    );

    // The outlet publishes, and tells its hub; the hub pushes.
    outlet.put(
        "/feed.atom",
        feed(&[("two", "A story Flask pushed"), ("one", "The first story")]),
    );
    let http = reqwest::Client::new();
    let published = post_form(
        &http,
        &hub.url(),
        &[("hub.mode", "publish"), ("hub.topic", &feed_url)],
    )
    .await;
    assert_eq!(published.status(), 202);
    let sent = Instant::now();
    while !feed_has(&http, port, "A story Flask pushed").await {
        if sent.elapsed() > Duration::from_secs(5) {
            daemon.fail("the story Flask-WebSub pushed is not in /feed.atom");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = crate::common::text(&http, &format!("http://127.0.0.1:{port}/status")).await;
    assert!(
        status.contains("(deliveries 1, new stories 1, missed by push 0, bad signatures 0)"),
        "{status}"
    );

    // Disabled: unsubscribed, which the hub verifies with us before it forgets us.
    std::fs::write(
        &setup.config,
        ConfigBuilder::new()
            .serve(port)
            .schedule(NEVER)
            .set("websub", "subscribe", "true")
            .source_with("Outlet", &feed_url, "allow_private = true\nenabled = false")
            .build(),
    )
    .unwrap();
    let asked = Instant::now();
    while !hub.callbacks(&feed_url).await.is_empty() {
        if asked.elapsed() > Duration::from_secs(15) {
            daemon.fail("Flask-WebSub still has us after the source was disabled");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two replicas on one PostgreSQL database both see each change of the merged feed; the
/// subscriber gets it once. Skipped, saying so, without `FEEDMERGE_TEST_POSTGRES`.
#[tokio::test]
#[ignore = "needs PostgreSQL: set FEEDMERGE_TEST_POSTGRES=postgres://USER@HOST/DB and pass --include-ignored"]
async fn replicas_deliver_each_change_once() {
    let outlet = FeedServer::start();
    let rss = |titles: &[&str]| {
        let items: String = titles
            .iter()
            .map(|t| format!("<item><guid>{t}</guid><title>{t}</title><description>On {t} alone.</description></item>"))
            .collect();
        let body = format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>O</title>{items}</channel></rss>");
        Resource::new(body.into_bytes(), "application/rss+xml")
    };
    outlet.put("/feed.rss", rss(&["First"]));
    let (a, b) = (free_port(), free_port());
    let Some(setup) = ConfigBuilder::new()
        .serve(a)
        .schedule(NEVER)
        .set("websub", "hub", "true")
        .set("websub", "allow_private_callbacks", "true")
        .source("Outlet", &outlet.url("/feed.rss"))
        .on(Engine::Postgres)
        .await
    else {
        return;
    };
    let (_first, _second) = (Daemon::replica(&setup, a), Daemon::replica(&setup, b));
    let http = reqwest::Client::new();
    for port in [a, b] {
        health_until(&http, port, Duration::from_secs(15), |h| h["articles"] == 1).await;
    }
    let reader = Callback::start();
    let topic = format!("http://127.0.0.1:{a}/feed.atom");
    let form = [
        ("hub.mode", "subscribe"),
        ("hub.topic", topic.as_str()),
        ("hub.callback", &reader.url()),
    ];
    // Asked of the second replica: any replica is the hub.
    assert_eq!(
        post_form(&http, &format!("http://127.0.0.1:{b}/websub"), &form)
            .await
            .status(),
        202
    );
    let asked = Instant::now();
    while setup.count("hub_subscriptions").await == 0 {
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "the subscription was not stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (n, titles) in [
        (1, &["Second", "First"][..]),
        (2, &["Third", "Second", "First"][..]),
    ] {
        outlet.put("/feed.rss", rss(titles));
        let fetched = setup.feedmerge(&["fetch"]);
        assert!(fetched.status.success(), "{}", stderr(&fetched));
        reader.until(15, |_, d| d.len() >= n).await;
        // Time for a second delivery of the same change, were there one.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let deliveries = reader.deliveries();
        assert_eq!(deliveries.len(), n, "change {n}");
        assert!(deliveries[n - 1].body.contains(titles[0]));
    }
}
