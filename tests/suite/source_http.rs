//! A source's own HTTP, as a paid subscription's feed needs it: its user agent, a token
//! header, basic auth (password from the environment or a file) and a cookie, sent to the
//! feed's host; dropped on a redirect to another host; and the secrets shown nowhere: not in
//! the log, the commands' output, an error, the status page or the OPML export.

use crate::common::{stderr, stdout, ConfigBuilder, FeedServer, Resource};
use reqwest::StatusCode;

const PASSWORD: &str = "hunter2-very-secret";
const COOKIE: &str = "session=cookie-very-secret";
const TOKEN: &str = "token-very-secret";

fn feed(item: &str) -> Resource {
    let body = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Paid</title>\
         <item><guid>{item}</guid><title>{item}</title><link>https://paid.example/{item}</link>\
         </item></channel></rss>"
    );
    Resource::new(body.into_bytes(), "application/rss+xml")
}

fn header(seen: &crate::common::Seen, name: &str) -> Option<String> {
    seen.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[test]
fn a_sources_credentials_reach_its_host_only_and_show_nowhere() {
    let paid = FeedServer::start();
    let other = FeedServer::start_on([127, 0, 0, 2]);
    paid.put("/paid.rss", feed("paid-story"));
    paid.put(
        "/moved.rss",
        Resource::redirect(StatusCode::FOUND, &other.url("/elsewhere.rss")),
    );
    other.put("/elsewhere.rss", feed("elsewhere-story"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("password.txt"), format!("{PASSWORD}\n")).unwrap();
    let own = |extra: &str| {
        format!(
            "user_agent = \"PaidReader/2.0\"\nheaders = {{ \"X-Token\" = \"{TOKEN}\" }}\n\
             cookie_env = \"FM_TEST_COOKIE\"\n{extra}"
        )
    };
    let password_file = format!(
        "basic_auth = {{ user = \"reader\", password_file = \"{}\" }}",
        dir.path().join("password.txt").display()
    );
    let setup = ConfigBuilder::new()
        .source_with(
            "Paid",
            &paid.url("/paid.rss"),
            &own("basic_auth = { user = \"reader\", password_env = \"FM_TEST_PASSWORD\" }"),
        )
        .source_with(
            "Moved",
            &paid.url("/moved.rss"),
            &own(&format!("{password_file}\nallow_private = true")),
        )
        .setup();
    let run = |args: &[&str], password: Option<&str>| {
        let mut command = setup.command();
        command
            .arg("-c")
            .arg(&setup.config)
            .args(args)
            .env("RUST_LOG", "debug")
            .env("FM_TEST_COOKIE", COOKIE);
        match password {
            Some(p) => command.env("FM_TEST_PASSWORD", p),
            None => command.env_remove("FM_TEST_PASSWORD"),
        };
        command.output().unwrap()
    };
    let shown_nowhere = |output: &std::process::Output, what: &str| {
        let all = format!("{}{}", stdout(output), stderr(output));
        for secret in [PASSWORD, COOKIE, TOKEN, "cmVhZGVyOmh1bnRlcj"] {
            assert!(!all.contains(secret), "{what} shows a secret: {all}");
        }
    };

    // Without the password's variable, the config is refused, naming the key.
    let out = run(&["check"], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("sources[0].basic_auth.password_env")
            && stderr(&out).contains("FM_TEST_PASSWORD is not set"),
        "{}",
        stderr(&out)
    );

    let out = run(&["fetch"], Some(PASSWORD));
    assert!(out.status.success(), "{}", stderr(&out));
    shown_nowhere(&out, "fetch, with debug logging");
    let seen = paid.seen("/paid.rss");
    let first = seen.first().expect("the paid feed was asked for");
    assert_eq!(
        header(first, "user-agent").as_deref(),
        Some("PaidReader/2.0")
    );
    assert_eq!(header(first, "x-token").as_deref(), Some(TOKEN));
    assert_eq!(header(first, "cookie").as_deref(), Some(COOKIE));
    let basic = format!("Basic {}", base64_of(&format!("reader:{PASSWORD}")));
    assert_eq!(header(first, "authorization"), Some(basic.clone()));
    // The password from a file (its line break dropped) goes the same way.
    let moved = paid.seen("/moved.rss");
    assert_eq!(header(&moved[0], "authorization"), Some(basic));
    // A redirect to another host: the user agent, but none of the source's headers.
    let elsewhere = other.seen("/elsewhere.rss");
    let there = elsewhere.first().expect("the redirect was followed");
    assert_eq!(
        header(there, "user-agent").as_deref(),
        Some("PaidReader/2.0")
    );
    for name in ["authorization", "cookie", "x-token"] {
        assert_eq!(header(there, name), None, "{name} went to another host");
    }

    // The commands that show sources, and the export, show none of it.
    for args in [
        &["sources"][..],
        &["export", "--format", "opml"][..],
        &["check"][..],
    ] {
        let out = run(args, Some(PASSWORD));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        shown_nowhere(&out, &args.join(" "));
    }
    // A failing poll's error neither.
    paid.put("/paid.rss", Resource::status(StatusCode::UNAUTHORIZED));
    let out = run(&["fetch"], Some("wrong-password"));
    shown_nowhere(&out, "a failing fetch");
    assert!(stdout(&out).contains("401"), "{}", stdout(&out));

    // A password written in the file is allowed, with a warning from `check`.
    let clear = ConfigBuilder::new()
        .source_with(
            "Clear",
            &paid.url("/paid.rss"),
            "basic_auth = { user = \"reader\", password = \"in-the-clear\" }",
        )
        .setup();
    let out = clear.feedmerge(&["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning:")
            && stderr(&out).contains("sources[0].basic_auth.password")
            && !stderr(&out).contains("in-the-clear"),
        "{}",
        stderr(&out)
    );
}

/// Standard base64, as `Authorization: Basic` carries it.
fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// An HTTP proxy that answers every request itself with a feed, and keeps each request line.
fn http_proxy() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = lines.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(stream);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            kept.lock().unwrap().push(line.trim().to_owned());
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let body = String::from_utf8(feed("proxied-story").body).unwrap();
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = reader.get_mut().write_all(answer.as_bytes());
        }
    });
    (port, lines)
}

/// A SOCKS5 proxy (no authentication, CONNECT only) that keeps where each connection went.
fn socks5_proxy() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let targets = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = targets.clone();
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            let kept = kept.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut head = [0u8; 2];
                client.read_exact(&mut head)?;
                let mut methods = vec![0u8; usize::from(head[1])];
                client.read_exact(&mut methods)?;
                client.write_all(&[5, 0])?;
                let mut request = [0u8; 4];
                client.read_exact(&mut request)?;
                let host = match request[3] {
                    1 => {
                        let mut ip = [0u8; 4];
                        client.read_exact(&mut ip)?;
                        std::net::Ipv4Addr::from(ip).to_string()
                    }
                    3 => {
                        let mut len = [0u8; 1];
                        client.read_exact(&mut len)?;
                        let mut name = vec![0u8; usize::from(len[0])];
                        client.read_exact(&mut name)?;
                        String::from_utf8_lossy(&name).into_owned()
                    }
                    _ => return Ok(()),
                };
                let mut port = [0u8; 2];
                client.read_exact(&mut port)?;
                let target = format!("{host}:{}", u16::from_be_bytes(port));
                kept.lock().unwrap().push(target.clone());
                let upstream = std::net::TcpStream::connect(&target)?;
                client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])?;
                let (mut up_read, mut up_write) = (upstream.try_clone()?, upstream);
                let (mut client_read, mut client_write) = (client.try_clone()?, client);
                std::thread::spawn(move || std::io::copy(&mut client_read, &mut up_write));
                std::io::copy(&mut up_read, &mut client_write)?;
                Ok(())
            });
        }
    });
    (port, targets)
}

#[test]
fn feeds_are_fetched_through_an_http_or_a_socks5_proxy_and_the_guard_still_holds() {
    let outlet = FeedServer::start();
    outlet.put("/socks.rss", feed("socks-story"));
    outlet.put("/direct.rss", feed("direct-story"));
    let (http_port, request_lines) = http_proxy();
    let (socks_port, targets) = socks5_proxy();
    let setup = ConfigBuilder::new()
        .set(
            "poll",
            "proxy",
            &format!("\"http://127.0.0.1:{http_port}\""),
        )
        .source("Through HTTP", &outlet.url("/direct.rss"))
        .source_with(
            "Through SOCKS",
            &outlet.url("/socks.rss"),
            &format!("proxy = \"socks5://127.0.0.1:{socks_port}\""),
        )
        .source(
            "Local by name",
            &format!("http://localhost:{}/socks.rss", outlet.addr.port()),
        )
        .setup();
    let out = setup.feedmerge(&["fetch"]);
    let said = stdout(&out);
    // The HTTP proxy answered for the first source; the outlet never saw its request.
    assert!(
        said.lines()
            .any(|l| l.starts_with("Through HTTP") && l.contains("1 new")),
        "{said}{}",
        stderr(&out)
    );
    let lines = request_lines.lock().unwrap().clone();
    let direct = format!("GET {} HTTP/1.1", outlet.url("/direct.rss"));
    assert_eq!(lines, [direct], "the HTTP proxy's requests");
    assert!(outlet.seen("/direct.rss").is_empty());
    // The SOCKS5 proxy connected to the outlet for the second.
    assert!(
        said.lines()
            .any(|l| l.starts_with("Through SOCKS") && l.contains("1 new")),
        "{said}"
    );
    let port = outlet.addr.port();
    assert_eq!(
        targets.lock().unwrap().clone(),
        [format!("127.0.0.1:{port}")]
    );
    assert_eq!(outlet.seen("/socks.rss").len(), 1);
    // A name on this machine is refused before the proxy is asked, as it would be directly.
    assert!(
        said.lines()
            .any(|l| l.starts_with("Local by name") && l.contains("loopback")),
        "{said}"
    );

    // A proxy that is not an address is refused with its key, and its text is not shown.
    let bad = ConfigBuilder::new()
        .source_with(
            "Bad",
            &outlet.url("/socks.rss"),
            "proxy = \"ftp://user:pw-very-secret@proxy\"",
        )
        .setup();
    let out = bad.feedmerge(&["check"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("sources[0].proxy") && !stderr(&out).contains("pw-very-secret"),
        "{}",
        stderr(&out)
    );
}

/// The daemon polling a source with credentials through a proxy with a password: its pages,
/// its metrics, its OPML and its log (at debug level) show none of the secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_shows_no_secret_on_its_pages_or_in_its_log() {
    use crate::common::{free_port, Daemon, NEVER, STALL};
    let paid = FeedServer::start();
    paid.put("/paid.rss", feed("paid-story"));
    let (proxy_port, _) = http_proxy();
    let port = free_port();
    let extra = format!(
        "headers = {{ \"X-Token\" = \"{TOKEN}\" }}\ncookie_env = \"FM_TEST_COOKIE\"\n\
         basic_auth = {{ user = \"reader\", password_env = \"FM_TEST_PASSWORD\" }}\n\
         proxy = \"http://someone:proxy-very-secret@127.0.0.1:{proxy_port}\""
    );
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .source_with("Paid", &paid.url("/paid.rss"), &extra)
        .setup();
    let child = setup
        .command()
        .args(["run", "--config"])
        .arg(&setup.config)
        .env("RUST_LOG", "feedmerge=debug")
        .env("FM_TEST_PASSWORD", PASSWORD)
        .env("FM_TEST_COOKIE", COOKIE)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let daemon = Daemon(child);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    // The first poll of a new source runs at start; the proxy answers it.
    while !crate::common::text(&http, &format!("{base}/feed.json"))
        .await
        .contains("proxied-story")
    {
        if started.elapsed() > STALL {
            daemon.fail("the source was not polled through its proxy");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let secrets = [
        PASSWORD,
        COOKIE,
        TOKEN,
        "cmVhZGVyOmh1bnRlcj",
        "proxy-very-secret",
    ];
    for path in [
        "/status",
        "/healthz",
        "/metrics",
        "/sources.opml",
        "/",
        "/feed.atom",
    ] {
        let page = crate::common::text(&http, &format!("{base}{path}")).await;
        assert!(!page.is_empty(), "{path}");
        for secret in secrets {
            assert!(!page.contains(secret), "{path} shows a secret: {page}");
        }
    }
    daemon.signal("TERM");
    let (_, log) = daemon.wait(STALL);
    assert!(log.contains("Paid"), "the log names the source: {log}");
    for secret in secrets {
        assert!(!log.contains(secret), "the log shows a secret: {log}");
    }
}
