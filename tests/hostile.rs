//! Hostile servers: a feed that leads to addresses off the public internet (request forgery)
//! is refused with a plain error and never contacted, unless its source allows it; a redirect
//! to `file:` is refused; a redirect loop ends. The other sources are polled as usual.

mod common;

use axum::http::StatusCode;
use common::{stdout, FeedServer, Resource, Setup};

fn setup(sources: &[(&str, String, bool)]) -> Setup {
    let mut toml = String::from("[storage]\ndatabase = \"db/feedmerge.db\"\n");
    for (name, url, allow) in sources {
        toml.push_str(&format!(
            "[[sources]]\nname = \"{name}\"\nurl = \"{url}\"\nallow_private = {allow}\n"
        ));
    }
    Setup::new(&toml)
}

fn line<'a>(out: &'a str, source: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(source))
        .unwrap_or_else(|| panic!("no line for {source} in:\n{out}"))
}

#[tokio::test]
async fn feeds_leading_off_the_public_internet_are_refused_unless_allowed() {
    let server = FeedServer::start();
    server.put_fixture("/gt.rss", "globaltimes.rss", "application/rss+xml");
    server.put_fixture("/local.rss", "globaltimes.rss", "application/rss+xml");
    server.put(
        "/to-metadata",
        Resource::redirect(
            StatusCode::FOUND,
            "http://169.254.169.254/latest/meta-data/iam/",
        ),
    );
    let by_name = server.url("/local.rss").replace("127.0.0.1", "localhost");
    server.put(
        "/to-localhost",
        Resource::redirect(StatusCode::MOVED_PERMANENTLY, &by_name),
    );
    server.put(
        "/to-file",
        Resource::redirect(StatusCode::FOUND, "file:///etc/passwd"),
    );
    server.put(
        "/loop",
        Resource::redirect(StatusCode::FOUND, &server.url("/loop")),
    );
    let setup = setup(&[
        // Written as an address in the config: taken as meant.
        ("As Written", server.url("/gt.rss"), false),
        // A name that resolves to loopback.
        ("By Name", by_name.clone(), false),
        ("By Name Allowed", by_name.clone(), true),
        ("Metadata", server.url("/to-metadata"), false),
        ("Redirect To Name", server.url("/to-localhost"), false),
        ("File", server.url("/to-file"), false),
        ("Loop", server.url("/loop"), false),
    ]);
    let out = setup.feedmerge(&["fetch"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = stdout(&out);

    // (Both carry the same three stories: one stores them, the other merges into them.)
    for source in ["As Written ", "By Name Allowed"] {
        let l = line(&out, source);
        assert!(l.contains(" 200  ") && !l.contains("error"), "{l}");
    }
    let by_name = line(&out, "By Name ");
    assert!(
        by_name.contains("refused: localhost resolves only to non-public addresses")
            || (by_name.contains("refused: localhost is") && by_name.contains("loopback")),
        "{by_name}"
    );
    assert!(by_name.contains("allow_private = true"), "{by_name}");
    assert!(
        line(&out, "Metadata")
            .contains("refused: 169.254.169.254 is a link-local (cloud metadata) address"),
        "{out}"
    );
    assert!(
        line(&out, "Redirect To Name").contains("refused: localhost"),
        "{out}"
    );
    assert!(
        line(&out, "File").contains("refused a redirect to a file: URL"),
        "{out}"
    );
    assert!(
        line(&out, "Loop").contains("more than 5 redirects (a redirect loop?)"),
        "{out}"
    );
    // Only the allowed source reached the feed by its name; the refused ones never did.
    assert_eq!(server.seen("/local.rss").len(), 1);

    // The errors are stored against their sources, in the same words.
    let db = setup.db().await;
    let errors: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT name, last_error FROM sources ORDER BY name")
            .fetch_all(&db)
            .await
            .expect("sources");
    let error_of = |name: &str| {
        errors
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, e)| e.clone())
    };
    assert!(error_of("Metadata").is_some_and(|e| e.contains("cloud metadata")));
    assert_eq!(error_of("As Written"), None);
}
