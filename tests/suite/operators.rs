//! What an operator running feedmerge for a month trips over (issue 22): log lines nobody
//! can act on, and protocols nobody asked for.

use std::time::Duration;

use crate::common::{
    free_port, run_for_cpu, stderr, stdout, ConfigBuilder, Daemon, FeedServer, Resource, Setup,
    NEVER,
};

/// An article whose table html5ever must repair ("foster parenting"): the HTML crates log
/// about it, once per table, and nobody can act on that. Third-party crates log errors only,
/// unless `RUST_LOG` asks for more.
#[test]
fn third_party_crates_log_errors_only_by_default() {
    let server = FeedServer::start();
    let table = "&lt;table&gt;&lt;tr&gt;&lt;td&gt;cell&lt;/td&gt;&lt;/tr&gt;stray text&lt;b&gt;bold&lt;/b&gt;&lt;/table&gt;";
    let items: String = (0..3)
        .map(|i| format!("<item><guid>t{i}</guid><title>Table {i}</title><description>{table}</description></item>"))
        .collect();
    let rss = format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>{items}</channel></rss>");
    server.put(
        "/tables.rss",
        Resource::new(rss.into_bytes(), "application/rss+xml"),
    );
    server.put(
        "/gone.rss",
        Resource::status(axum::http::StatusCode::NOT_FOUND),
    );
    let setup = ConfigBuilder::new()
        .source("Tables", &server.url("/tables.rss"))
        .source("Gone", &server.url("/gone.rss"))
        .setup();
    let quiet = setup
        .command()
        .args(["fetch", "--config"])
        .arg(&setup.config)
        .env_remove("RUST_LOG")
        .output()
        .expect("feedmerge fetch");
    let log = stderr(&quiet);
    assert!(!log.contains("html5ever"), "{log}");
    // The failing source is reported once, in fetch's table (not again as a log line).
    assert!(
        stdout(&quiet).contains("error: the server answered 404"),
        "{}",
        stdout(&quiet)
    );
    assert!(!log.contains("Gone"), "{log}");

    // RUST_LOG still raises them (a fresh database, so the articles are read again).
    std::fs::remove_dir_all(setup.dir.path().join("db")).ok();
    let loud = setup
        .command()
        .args(["fetch", "--config"])
        .arg(&setup.config)
        .env("RUST_LOG", "warn")
        .output()
        .expect("feedmerge fetch");
    assert!(stderr(&loud).contains("html5ever"), "{}", stderr(&loud));
}

/// The daemon speaks HTTP/1.1 only: HTTP/2 without TLS (h2c, "prior knowledge") is refused,
/// as the README says, rather than served undocumented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_is_refused() {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    let port = free_port();
    let setup = Setup::new(
        &ConfigBuilder::new()
            .serve(port)
            .schedule(NEVER)
            .source("Global Times", &server.url("/gt.rss"))
            .build(),
    );
    let _daemon = Daemon::start(&setup, "warn");
    let http1 = reqwest::Client::new();
    crate::common::health_until(&http1, port, Duration::from_secs(15), |h| {
        h["articles"].as_i64() == Some(3)
    })
    .await;
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let answer = h2c
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(answer.is_err(), "h2c answered: {answer:?}");
    let r = http1
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
}

/// Config errors point the right way, at once: a duplicate source name is reported against
/// its first use, every time; 20,000 of them are checked in linear time (under a second of
/// CPU in a debug build; the quadratic check took 11 s in a release one); a database path
/// through a file says so. CPU time, not wall time: in CI the suite's other tests share the
/// two cores, and the same 0.8 s check once took 6 s of wall time there.
#[test]
fn config_errors_point_at_the_first_use_and_come_at_once() {
    let mut config = String::from("[feed]\ntitle = \"T\"\nbase_url = \"http://x.example/\"\n");
    for i in 0..20_000 {
        config.push_str(&format!(
            "[[sources]]\nname = \"News\"\nurl = \"http://n{i}.example/feed\"\n"
        ));
    }
    let setup = Setup::new(&config);
    let (out, cpu) = run_for_cpu(setup.command().arg("-c").arg(&setup.config).arg("check"));
    assert!(!out.status.success());
    let errors = stderr(&out);
    assert_eq!(
        errors
            .matches("duplicate source name \"News\" (first used on line 5)")
            .count(),
        19_999,
        "{:.500}",
        errors
    );
    assert!(cpu < Duration::from_secs(8), "{cpu:?} of CPU");

    let setup = Setup::new(
        "[feed]\ntitle = \"T\"\nbase_url = \"http://x.example/\"\n\
         [[sources]]\nname = \"A\"\nurl = \"http://a.example/feed\"\n",
    );
    let file = setup.dir.path().join("afile");
    std::fs::write(&file, "not a folder").unwrap();
    let out = setup
        .command()
        .args(["fetch", "--config"])
        .arg(&setup.config)
        .env("FEEDMERGE_DATABASE", file.join("x.db"))
        .output()
        .expect("feedmerge fetch");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("{} is a file, not a folder", file.display())),
        "{}",
        stderr(&out)
    );
}

/// `/healthz` says `degraded` when more than `[poll].degraded_share` of the enabled sources
/// fail (here 2 of 3), with the counts, and `ok` under the share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_degraded_when_most_sources_fail() {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    for share in ["0.5", "0.7"] {
        let port = free_port();
        let setup = Setup::new(
            &ConfigBuilder::new()
                .serve(port)
                .schedule(NEVER)
                .set("poll", "degraded_share", share)
                .source("Global Times", &server.url("/gt.rss"))
                .source("Gone One", &server.url("/missing-1.rss"))
                .source("Gone Two", &server.url("/missing-2.rss"))
                .build(),
        );
        let _daemon = Daemon::start(&setup, "warn");
        let http = reqwest::Client::new();
        let health = crate::common::health_until(&http, port, Duration::from_secs(15), |h| {
            h["failing_sources"] == 2 && h["articles"] == 3
        })
        .await;
        assert_eq!(health["failing_sources"], 2, "{health}");
        assert_eq!(health["stale_sources"], 0, "{health}");
        let (status, degraded) = if share == "0.5" {
            ("degraded", true)
        } else {
            ("ok", false)
        };
        assert_eq!(health["status"], status, "share {share}: {health}");
        assert_eq!(health["sources_degraded"], degraded, "{health}");
    }
}

/// A `feedmerge fetch` beside a running daemon on SQLite shows in the daemon's feeds within
/// seconds, not when the rendered feed expires (a minute): the daemon asks SQLite every second
/// whether another connection committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_beside_the_daemon_shows_at_once() {
    let server = FeedServer::start();
    server.put_fixture("/feed.rss", "globaltimes.rss", "application/rss+xml");
    let port = free_port();
    let setup = Setup::new(
        &ConfigBuilder::new()
            .serve(port)
            .schedule(NEVER)
            .source("Outlet", &server.url("/feed.rss"))
            .build(),
    );
    let _daemon = Daemon::start(&setup, "warn");
    let http = reqwest::Client::new();
    crate::common::health_until(&http, port, Duration::from_secs(15), |h| h["articles"] == 3).await;
    let url = format!("http://127.0.0.1:{port}/feed.atom");
    assert!(!crate::common::text(&http, &url)
        .await
        .contains("A fresh entry"));

    server.put(
        "/feed.rss",
        Resource::new(
            b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>O</title>\
              <item><guid>fresh</guid><title>A fresh entry from the outlet</title>\
              <description>Written after the daemon rendered its feed.</description></item>\
              </channel></rss>"
                .to_vec(),
            "application/rss+xml",
        ),
    );
    let fetched = setup.feedmerge(&["fetch"]);
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    let written = std::time::Instant::now();
    loop {
        if crate::common::text(&http, &url)
            .await
            .contains("A fresh entry")
        {
            break;
        }
        assert!(
            written.elapsed() < crate::common::STALL,
            "the feed is still stale {:?} after the fetch",
            written.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
