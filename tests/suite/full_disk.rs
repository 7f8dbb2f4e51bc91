//! A database that cannot be written, under `feedmerge run`:
//! - a full disk: the poll whose result cannot be written fails with a clear error, polling
//!   pauses, `/healthz` and `/status` say why, the stored feed is still served, and once
//!   space returns polling resumes by itself and stores what it missed;
//! - a read-only database file: the daemon starts, says so, serves what the file holds and
//!   polls nothing, and once the file is writable again it resumes by itself;
//! - a read-only file system (a replica serving a snapshot): the daemon starts, serves what
//!   the file holds, polls nothing, and says why on `/healthz` and `/status`.
//!
//! The first and last need a tmpfs (`mount`, root); the second runs the daemon as `nobody`
//! (`setpriv`, root), since root writes to read-only files. They are ignored unless asked
//! for (`--include-ignored`, as `.ci/run` does, as root), and fail without root.

use crate::common;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use crate::common::{
    free_port, health_until, text, ConfigBuilder, Daemon, FeedServer, Resource, Setup, NEVER,
};

/// A tmpfs mounted at a path, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_owned()))
    }
}

impl Tmpfs {
    /// Makes the file system read-only.
    fn read_only(&self) {
        let ok = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount -o remount,ro failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
#[ignore = "needs root (mounts a tmpfs, runs as another user): pass --include-ignored as root"]
async fn a_full_disk_pauses_polling_keeps_serving_and_recovers() {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    // The partner answers late: the disk fills up while its fetch is under way.
    let mut late = Resource::new(common::fixture("partner.atom"), "application/atom+xml");
    late.delay = Duration::from_secs(4);
    server.put("/partner.atom", late);
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .source("Global Times", &server.url("/gt.rss"))
        .source("Partner Wire", &server.url("/partner.atom"))
        .setup();
    let Some(disk) = Tmpfs::mount(&setup.dir.path().join("db"), "4m") else {
        panic!("this test needs root: mount -t tmpfs failed");
    };
    let daemon = Daemon::start(&setup, "info");
    let client = reqwest::Client::new();
    let h = health_until(&client, port, Duration::from_secs(10), |h| {
        h["stories"] == 3
    })
    .await;
    assert_eq!(h["stories"], 3, "{h}");

    // Fill the disk.
    let filler = disk.0.join("filler");
    let mut f = std::fs::File::create(&filler).expect("filler");
    let chunk = vec![0u8; 16 << 10];
    while f.write_all(&chunk).is_ok() {}
    drop(f);

    // The partner's result cannot be written: polling pauses, serving goes on.
    let h = health_until(&client, port, Duration::from_secs(10), |h| {
        h["status"] == "degraded"
    })
    .await;
    if h["status"] != "degraded" {
        daemon.fail(&format!("not degraded: {h}"));
    }
    let error = h["storage_error"].as_str().unwrap_or_default();
    assert!(error.contains("full"), "{error}");
    assert_eq!(h["stories"], 3);
    let feed = client
        .get(format!("http://127.0.0.1:{port}/feed.atom"))
        .send()
        .await
        .expect("feed");
    if feed.status() != 200 {
        daemon.fail(&format!("the feed is not served: {}", feed.status()));
    }
    let feed = atom_syndication::Feed::read_from(&feed.bytes().await.expect("body")[..])
        .expect("valid Atom");
    assert_eq!(feed.entries().len(), 3);
    let status = text(&client, &format!("http://127.0.0.1:{port}/status")).await;
    if !status.contains("The database cannot be written") {
        daemon.fail(&status);
    }

    // Space returns: polling resumes by itself and stores what it missed.
    std::fs::remove_file(&filler).expect("free space");
    let h = health_until(&client, port, Duration::from_secs(30), |h| {
        h["status"] == "ok" && h["stories"] == 4
    })
    .await;
    if h["status"] != "ok" || h["stories"] != 4 {
        daemon.fail(&format!("no recovery: {h}"));
    }
    assert!(server.seen("/partner.atom").len() >= 2, "fetched again");

    daemon.signal("TERM");
    let (status, log) = daemon.wait(Duration::from_secs(10));
    assert!(status.success(), "{log}");
    assert!(log.contains("polling paused"), "{log}");
    assert!(log.contains("polling resumed"), "{log}");
    setup.assert_intact().await;
}

#[tokio::test]
#[ignore = "needs root (mounts a tmpfs, runs as another user): pass --include-ignored as root"]
async fn a_read_only_database_is_served_and_polling_waits_until_it_is_writable() {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    server.put_fixture("/partner.atom", "partner.atom", "application/atom+xml");
    server.put_fixture("/wire.json", "worldwire.json", "application/feed+json");
    let port = free_port();
    let config = |sources: &[(&str, String)]| {
        let base = ConfigBuilder::new().serve(port).schedule(NEVER);
        sources
            .iter()
            .fold(base, |c, (name, url)| c.source(name, url))
            .build()
    };
    let gt = ("Global Times", server.url("/gt.rss"));
    let setup = Setup::new(&config(std::slice::from_ref(&gt)));
    assert!(setup.feedmerge(&["fetch"]).status.success());
    // A second source, never polled: it would be due at once.
    std::fs::write(
        &setup.config,
        config(&[gt.clone(), ("Partner Wire", server.url("/partner.atom"))]),
    )
    .expect("config");
    let nobody = |args: &[&str]| {
        Command::new("chown")
            .args(args)
            .arg(setup.dir.path())
            .status()
            .is_ok_and(|s| s.success())
    };
    let db = setup.database();
    let set_mode = |mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    let can_switch = Command::new("setpriv").arg("--version").output().is_ok();
    if !can_switch || !nobody(&["-R", "nobody"]) {
        panic!("this test needs root: chown or setpriv failed");
    }
    set_mode(0o444);
    let child = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_feedmerge"))
        .args(["run", "--config"])
        .arg(&setup.config)
        .env("RUST_LOG", "info")
        .env_remove("FEEDMERGE_LISTEN")
        .env_remove("FEEDMERGE_DATABASE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start feedmerge as nobody");
    let daemon = Daemon(child);
    let client = reqwest::Client::new();
    let h = health_until(&client, port, Duration::from_secs(10), |h| {
        h["status"] == "degraded"
    })
    .await;
    if h["status"] != "degraded" {
        daemon.fail(&format!("not degraded: {h}"));
    }
    let error = h["storage_error"].as_str().unwrap_or_default();
    assert!(error.contains("readonly"), "{error}");
    assert_eq!(h["stories"], 3, "what the file holds is served: {h}");
    let feed = client
        .get(format!("http://127.0.0.1:{port}/feed.atom"))
        .send()
        .await
        .expect("feed");
    assert_eq!(feed.status(), 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        server.seen("/partner.atom").is_empty(),
        "nothing is polled while nothing can be stored"
    );
    // An edit made meanwhile applies (the source waits to be registered), not refused.
    std::fs::write(
        &setup.config,
        config(&[
            gt,
            ("Partner Wire", server.url("/partner.atom")),
            ("World Wire", server.url("/wire.json")),
        ]),
    )
    .expect("config");
    let h = health_until(&client, port, Duration::from_secs(10), |h| {
        h["sources"] == 3
    })
    .await;
    assert_eq!(h["sources"], 3, "{h}");
    assert!(h["config_error"].is_null(), "{h}");

    // Writable again: polling resumes by itself. The partner adds one story (its other
    // entry merges), the wire one more.
    set_mode(0o644);
    // Each probe (every 10 s) retires one connection opened while the file was read-only, and
    // the pool may hold several of them: resuming can take a few probes, more under load.
    let h = health_until(&client, port, Duration::from_secs(90), |h| {
        h["status"] == "ok" && h["stories"] == 5
    })
    .await;
    daemon.signal("TERM");
    let (status, log) = daemon.wait(Duration::from_secs(10));
    assert_eq!(
        (&h["status"], &h["stories"]),
        (&"ok".into(), &5.into()),
        "{h}\n{log}"
    );
    assert!(status.success(), "{log}");
    assert!(log.contains("polling resumed"), "{log}");
    assert_eq!(
        server.seen("/wire.json").len(),
        1,
        "the source added meanwhile is polled"
    );
}

#[tokio::test]
#[ignore = "needs root (mounts a tmpfs, runs as another user): pass --include-ignored as root"]
async fn a_read_only_file_system_is_served_with_polling_paused() {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    server.put_fixture("/partner.atom", "partner.atom", "application/atom+xml");
    let port = free_port();
    let config = |sources: &[(&str, String)]| {
        let base = ConfigBuilder::new().serve(port).schedule(NEVER);
        sources
            .iter()
            .fold(base, |c, (name, url)| c.source(name, url))
            .build()
    };
    let gt = ("Global Times", server.url("/gt.rss"));
    let setup = Setup::new(&config(std::slice::from_ref(&gt)));
    let Some(disk) = Tmpfs::mount(&setup.dir.path().join("db"), "16m") else {
        panic!("this test needs root: mount -t tmpfs failed");
    };
    assert!(setup.feedmerge(&["fetch"]).status.success());
    // The snapshot is taken after a clean stop: the file alone holds every commit.
    let beside: Vec<_> = std::fs::read_dir(&disk.0)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(beside, ["feedmerge.db"], "nothing left beside the file");
    // A second source, never polled: it would be due at once.
    std::fs::write(
        &setup.config,
        config(&[gt, ("Partner Wire", server.url("/partner.atom"))]),
    )
    .expect("config");
    disk.read_only();

    let daemon = Daemon::start(&setup, "info");
    let client = reqwest::Client::new();
    let h = health_until(&client, port, Duration::from_secs(10), |h| {
        h["status"] == "degraded"
    })
    .await;
    if h["status"] != "degraded" {
        daemon.fail(&format!("not degraded: {h}"));
    }
    let error = h["storage_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Read-only file system") && error.contains("open read-only"),
        "{error}"
    );
    assert_eq!(h["stories"], 3, "what the file holds is served: {h}");
    let feed = client
        .get(format!("http://127.0.0.1:{port}/feed.atom"))
        .send()
        .await
        .expect("feed");
    assert_eq!(feed.status(), 200);
    let feed = atom_syndication::Feed::read_from(&feed.bytes().await.expect("body")[..])
        .expect("valid Atom");
    assert_eq!(feed.entries().len(), 3);
    let status = text(&client, &format!("http://127.0.0.1:{port}/status")).await;
    if !status.contains("The database cannot be written") || !status.contains("open read-only") {
        daemon.fail(&status);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        server.seen("/partner.atom").is_empty(),
        "nothing is polled while nothing can be stored"
    );
    // A manual fetch asks no outlet either, and says why.
    let fetch = setup.feedmerge(&["fetch"]);
    let said = String::from_utf8_lossy(&fetch.stderr);
    assert!(
        !fetch.status.success() && said.contains("open read-only"),
        "{said}"
    );
    assert!(server.seen("/partner.atom").is_empty(), "{said}");

    daemon.signal("TERM");
    let (status, log) = daemon.wait(Duration::from_secs(10));
    assert!(status.success(), "{log}");
    assert!(!log.contains("claims"), "nothing to free: {log}");
}
