//! Hostile servers: a feed that leads to addresses off the public internet (request forgery)
//! is refused with a plain error and never contacted, unless its source allows it; a redirect
//! to `file:` is refused; a redirect loop ends. The other sources are polled as usual.

use crate::common;

use crate::common::{stdout, ConfigBuilder, FeedServer, Resource, Setup};
use axum::http::StatusCode;

fn setup(sources: &[(&str, String, bool)]) -> Setup {
    sources
        .iter()
        .fold(ConfigBuilder::new(), |c, (name, url, allow)| {
            c.source_with(name, url, &format!("allow_private = {allow}"))
        })
        .setup()
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
    let errors: Vec<(String, Option<String>)> = setup
        .sources()
        .await
        .into_iter()
        .map(|s| (s.name, s.last_error))
        .collect();
    let error_of = |name: &str| {
        errors
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, e)| e.clone())
    };
    assert!(error_of("Metadata").is_some_and(|e| e.contains("cloud metadata")));
    assert_eq!(error_of("As Written"), None);
}

/// An RSS document of `items` (already XML) in a channel.
fn rss(items: &str) -> Vec<u8> {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>T</title><link>http://127.0.0.1/</link>{items}</channel></rss>").into_bytes()
}

#[tokio::test]
async fn hostile_and_broken_feeds_fail_or_are_stored_safely_and_never_stop_the_others() {
    let server = FeedServer::start();
    let xml = "application/rss+xml";
    // Entity expansion ("billion laughs"): ten levels of ten.
    let mut laughs = String::from("<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY l0 \"lol\">");
    for i in 1..10 {
        let refs = format!("&l{};", i - 1).repeat(10);
        laughs.push_str(&format!("<!ENTITY l{i} \"{refs}\">"));
    }
    laughs.push_str("]><rss version=\"2.0\"><channel><title>T</title><item><title>&l9;</title><guid>1</guid></item></channel></rss>");
    server.put("/laughs.rss", Resource::new(laughs.into_bytes(), xml));
    // An external entity naming a local file.
    server.put(
        "/xxe.rss",
        Resource::new(
            b"<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
              <rss version=\"2.0\"><channel><title>T</title><item><title>Secret: &x;</title>\
              <guid>1</guid></item></channel></rss>"
                .to_vec(),
            xml,
        ),
    );
    // Control characters and invalid UTF-8 in an otherwise good feed.
    let mut dirty = rss("<item><title>Bell\u{7} rings</title><guid>c1</guid><description>ok INVALID bytes</description></item>");
    let at = dirty
        .windows(7)
        .position(|w| w == b"INVALID")
        .expect("marker");
    dirty.splice(at..at + 7, [0xff, 0xfe, 0x80]);
    server.put("/dirty.rss", Resource::new(dirty, xml));
    // A 10 MB title.
    let huge = rss(&format!(
        "<item><title>{}</title><guid>h1</guid></item><item><title>Small</title><guid>h2</guid></item>",
        "A".repeat(10 << 20)
    ));
    server.put("/huge-title.rss", Resource::new(huge, xml));
    // 100,000 entries.
    let many: String = (0..100_000)
        .map(|i| format!("<item><title>Entry {i}</title><guid>m{i}</guid></item>"))
        .collect();
    server.put("/many.rss", Resource::new(rss(&many), xml));
    // Dates as outlets write them, broken ones included; duplicate ids in one feed.
    server.put(
        "/dates.rss",
        Resource::new(
            rss("<item><title>RFC 822</title><guid>d1</guid><pubDate>Tue, 10 Jun 2003 04:00:00 GMT</pubDate></item>\
                 <item><title>No weekday</title><guid>d2</guid><pubDate>10 Jun 2003 04:00:00 +0200</pubDate></item>\
                 <item><title>ISO</title><guid>d3</guid><pubDate>2003-06-10T04:00:00Z</pubDate></item>\
                 <item><title>Garbage</title><guid>d4</guid><pubDate>yesterday-ish</pubDate></item>\
                 <item><title>Year 99999</title><guid>d5</guid><pubDate>Tue, 10 Jun 99999 04:00:00 GMT</pubDate></item>\
                 <item><title>Twice</title><guid>d6</guid></item>\
                 <item><title>Twice again</title><guid>d6</guid></item>"),
            xml,
        ),
    );
    server.put("/empty.rss", Resource::new(Vec::new(), xml));
    server.put(
        "/page.html",
        Resource::new(
            b"<!DOCTYPE html><html><head><title>Home</title></head><body>Hi</body></html>".to_vec(),
            "text/html",
        ),
    );
    server.put(
        "/truncated.rss",
        Resource::new(common::fixture("truncated.xml"), xml),
    );
    server.put_fixture("/good.rss", "globaltimes.rss", xml);
    let names = [
        ("Laughs", "/laughs.rss"),
        ("XXE", "/xxe.rss"),
        ("Dirty", "/dirty.rss"),
        ("Huge Title", "/huge-title.rss"),
        ("Many", "/many.rss"),
        ("Dates", "/dates.rss"),
        ("Empty", "/empty.rss"),
        ("Page", "/page.html"),
        ("Truncated", "/truncated.rss"),
        ("Good", "/good.rss"),
    ];
    let setup = names
        .iter()
        .fold(
            ConfigBuilder::new().text("poll", "timeout", "120s"),
            |c, (name, path)| c.source(name, &server.url(path)),
        )
        .setup();
    let out = setup.feedmerge(&["fetch"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    // Memory stays bounded: bodies are capped at [poll].max_body (16 MiB) each, at most
    // [poll].concurrency (16) at once, and a feed's parsed form is of the order of its body.
    // RUSAGE_CHILDREN gives the largest peak of any child the suite has waited for so far,
    // this fetch's or a smaller one's (no other test's child reads such feeds): a bound on it.
    // SAFETY: rusage is plain data that getrusage fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let peak_mib = usage.ru_maxrss / 1024;
    eprintln!("peak RSS of feedmerge fetch on the hostile feeds (at most): {peak_mib} MiB");
    assert!(peak_mib < 1024, "{peak_mib} MiB");
    let out = stdout(&out);
    let outcome = |name: &str| line(&out, &format!("{name:<28}")).to_owned();
    for (name, expected) in [
        // Entity declarations are refused, expanded or not, external or internal.
        (
            "Laughs",
            "error: the feed declares XML entities in its DOCTYPE; entity declarations are not supported",
        ),
        (
            "XXE",
            "error: the feed declares XML entities in its DOCTYPE; entity declarations are not supported",
        ),
        ("Dirty", "1 new,"),
        ("Huge Title", "2 new,"),
        // 100,000 items: the first 5,000 are read (feedmerge::DEFAULT_MAX_ITEMS).
        ("Many", "5000 new,"),
        // Seven items, two of them under one guid: one entry.
        ("Dates", "6 new,"),
        (
            "Empty",
            "error: the server sent an empty body instead of a feed",
        ),
        ("Page", "error: this is an HTML page, not a feed"),
        (
            "Truncated",
            "error: not a readable RSS, Atom or JSON feed: unable to parse XML",
        ),
        ("Good", "3 new,"),
    ] {
        assert!(
            outcome(name).contains(expected),
            "{name}: {}",
            outcome(name)
        );
    }

    let titles = |source: &'static str| {
        let setup = &setup;
        async move {
            let articles = setup.articles_of(source).await;
            articles
                .into_iter()
                .map(|a| (a.title, a.published))
                .collect::<Vec<_>>()
        }
    };
    // Nothing of either was stored.
    assert!(titles("Laughs").await.is_empty());
    assert!(titles("XXE").await.is_empty());
    // Invalid bytes became U+FFFD; the control character does not reach the feed (below).
    let dirty = setup.articles_of("Dirty").await;
    let summary = dirty[0].summary.as_deref().unwrap_or_default();
    assert!(summary.contains("ok \u{fffd}"), "{summary:?}");
    // A 10 MB title is cut to 1,000 characters.
    let huge = titles("Huge Title").await;
    assert_eq!(huge[0].0.chars().count(), 1_001, "1,000 and an ellipsis");
    assert!(huge[0].0.ends_with("A…"));
    assert_eq!(huge[1].0, "Small");
    // Dates: the readable ones as written; unreadable ones, on the source's first poll, as
    // its oldest dated entry.
    let dates = titles("Dates").await;
    let at = |title: &str| {
        dates
            .iter()
            .find(|(t, _)| t == title)
            .map(|(_, p)| *p)
            .expect(title)
    };
    let june_2003 = chrono::DateTime::parse_from_rfc3339("2003-06-10T04:00:00Z")
        .expect("date")
        .timestamp_millis();
    assert_eq!(at("RFC 822"), june_2003);
    assert_eq!(at("ISO"), june_2003);
    assert_eq!(at("No weekday"), june_2003 - 2 * 3600 * 1000);
    for title in ["Garbage", "Year 99999"] {
        assert_eq!(at(title), june_2003 - 2 * 3600 * 1000, "{title}");
    }
    let stored = setup.count("articles").await;
    // Dirty, Huge Title, Many, the dates, Good (Laughs and XXE are refused).
    assert_eq!(stored, 1 + 2 + feedmerge::DEFAULT_MAX_ITEMS as i64 + 6 + 3);

    // What is served is well-formed, and carries no control character.
    let export = setup.feedmerge(&["export", "--format", "atom"]);
    assert!(export.status.success());
    let atom = stdout(&export);
    assert!(!atom.contains('\u{7}'));
    atom_syndication::Feed::read_from(atom.as_bytes()).expect("well-formed Atom");
    setup.assert_intact().await;
}

/// A server on 127.0.0.1 that answers every request with a chunked 200 and then `body`
/// forever: `fast` writes 64 KiB chunks as fast as it can (an endless body); otherwise one
/// byte every two seconds (a server that trickles).
async fn endless(fast: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\n\
                            transfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let opening = b"<rss version=\"2.0\"><channel><title>";
                let _ = socket
                    .write_all(format!("{:x}\r\n", opening.len()).as_bytes())
                    .await;
                let _ = socket.write_all(opening).await;
                let _ = socket.write_all(b"\r\n").await;
                let chunk = if fast {
                    vec![b'x'; 64 << 10]
                } else {
                    vec![b'x']
                };
                loop {
                    let frame = [
                        format!("{:x}\r\n", chunk.len()).into_bytes(),
                        chunk.clone(),
                        b"\r\n".to_vec(),
                    ]
                    .concat();
                    if socket.write_all(&frame).await.is_err() {
                        return;
                    }
                    if !fast {
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    }
                }
            });
        }
    });
    format!("http://{addr}/feed.rss")
}

// Two workers: the test blocks one waiting for `feedmerge fetch`; the servers run on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_and_a_trickling_server_are_cut_off_and_the_others_polled() {
    let server = FeedServer::start();
    server.put_fixture("/good.rss", "globaltimes.rss", "application/rss+xml");
    let setup = ConfigBuilder::new()
        .text("poll", "timeout", "3s")
        .text("poll", "max_body", "1MiB")
        .source("Endless", &endless(true).await)
        .source("Trickle", &endless(false).await)
        .source("Good", &server.url("/good.rss"))
        .setup();
    let started = std::time::Instant::now();
    let out = setup.feedmerge(&["fetch"]);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = stdout(&out);
    assert!(
        line(&out, "Endless").contains(
            "error: the feed is larger than 1048576 bytes; raise [poll].max_body if it is legitimate"
        ),
        "{out}"
    );
    assert!(
        line(&out, "Trickle").contains("error: no complete answer within 3s"),
        "{out}"
    );
    assert!(line(&out, "Good").contains("3 new"), "{out}");
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
}
