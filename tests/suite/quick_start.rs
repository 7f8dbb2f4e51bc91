//! The README's quick start, as a newcomer follows it: its config (with the outlets'
//! addresses swapped for feeds served on 127.0.0.1) and its commands, run in order in an
//! empty folder; then the addresses it says to open.

use std::process::Command;
use std::time::Duration;

use crate::common::{free_port, health_until, stdout, Daemon, FeedServer, STALL};

/// The quick start: from its heading to the next section's.
fn quick_start() -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("## Quick start")
        .expect("the README has a quick start");
    let end = readme[start + 3..]
        .find("\n## ")
        .map_or(readme.len(), |e| start + 3 + e);
    readme[start..end].to_owned()
}

/// The code blocks of `text` written in `language`.
fn blocks(text: &str, language: &str) -> Vec<String> {
    text.split(&format!("```{language}\n"))
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_readmes_quick_start_works_as_written() {
    let guide = quick_start();
    let outlets = FeedServer::start();
    outlets.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    outlets.put_fixture("/partner.atom", "partner.atom", "application/atom+xml");
    outlets.put_fixture("/reader.rss", "globaltimes.rss", "application/rss+xml");
    let folder = tempfile::tempdir().unwrap();

    // The config as written, each outlet's address one served here.
    let config = blocks(&guide, "toml")
        .pop()
        .expect("a config in the quick start");
    let mut served = [outlets.url("/gt.rss"), outlets.url("/partner.atom")].into_iter();
    let config: String = config
        .lines()
        .map(|line| match line.starts_with("url = ") {
            true => format!("url = \"{}\"\n", served.next().expect("two outlets")),
            false => format!("{line}\n"),
        })
        .collect();
    assert!(served.next().is_none(), "the quick start lists two outlets");
    std::fs::write(folder.path().join("my-feeds.toml"), config).unwrap();
    // A reader's export: the command imports it.
    std::fs::write(
        folder.path().join("subscriptions.opml"),
        format!(
            "<?xml version=\"1.0\"?><opml version=\"2.0\"><body><outline text=\"Reader\" \
             xmlUrl=\"{}\"/></body></opml>",
            outlets.url("/reader.rss")
        ),
    )
    .unwrap();

    let commands = blocks(&guide, "sh").pop().expect("the commands");
    let port = free_port();
    let mut daemon = None;
    for line in commands.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some("target/release/feedmerge"), "{line}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_feedmerge"));
        command
            .args(words)
            .current_dir(folder.path())
            .env_remove("FEEDMERGE_CONFIG")
            .env_remove("FEEDMERGE_DATABASE")
            .env("FEEDMERGE_LISTEN", format!("127.0.0.1:{port}"));
        if line.ends_with(" run") {
            daemon = Some(Daemon(command.spawn().expect("run")));
            break;
        }
        let out = command.output().expect(line);
        assert!(out.status.success(), "{line}: {out:?}");
        let said = stdout(&out);
        match line.split_whitespace().nth(3) {
            Some("check") => assert!(said.contains("OK (2 sources, 2 enabled)"), "{said}"),
            Some("import") => assert!(said.contains("added    Reader"), "{said}"),
            Some("fetch") => assert_eq!(said.matches(" 200 ").count(), 3, "{said}"),
            other => panic!("a command the test does not know: {other:?}"),
        }
    }
    assert!(daemon.is_some(), "the quick start ends with `run`");
    assert!(folder.path().join("data/feedmerge.db").exists());

    // The addresses it says to open.
    let http = reqwest::Client::new();
    let health = health_until(&http, port, STALL, |h| h["stories"].as_u64() > Some(0)).await;
    assert!(health["stories"].as_u64() > Some(0), "{health}");
    let addresses: Vec<&str> = guide
        .split("<http://127.0.0.1:8080")
        .skip(1)
        .filter_map(|r| r.split('>').next())
        .collect();
    assert_eq!(addresses, ["/", "/feed.atom", "/status"]);
    for path in addresses {
        let r = http
            .get(format!("http://127.0.0.1:{port}{path}"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("My news") || path == "/status",
            "{path}: {body}"
        );
    }
}
