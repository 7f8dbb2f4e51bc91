//! Polling at scale: `feedmerge fetch` over N sources served by a local server on 127.0.0.1,
//! twice — first with every feed new (20 items each), then with every feed answering 304.
//!
//! `cargo bench --bench poll -- [N]` (N defaults to 10,000)
//!
//! Each cycle is the real release binary in its own process, measured whole: wall time, CPU
//! time (user + system) and peak resident memory, from `wait4`. The feeds rotate through RSS
//! 2.0, Atom 1.0 and JSON Feed 1.1, about 9 KB each with realistic markup. All sources share
//! the one local host, which stands in for many outlets' hosts: the config lifts the per-host
//! limit to the global one (16), as N real outlets would spread the load over their hosts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

struct Feed {
    body: Vec<u8>,
    content_type: &'static str,
    etag: String,
}

fn feed(i: usize) -> Feed {
    let items: Vec<(String, String, String, String)> = (0..20)
        .map(|j| {
            let title = format!("Outlet {i} reports development {j} in the regional talks");
            let link = format!("https://outlet{i}.example/news/2024/05/{j}/story-{i}-{j}.html");
            let date = format!("2024-05-{:02}T{:02}:{:02}:00Z", 1 + j % 28, j % 24, i % 60);
            let text = format!(
                "<p>Officials from <b>several countries</b> met on day {j} to discuss item {i}; \
                 the <a href=\"/topics/talks\">talks</a> continue, a spokesperson told reporters. \
                 More details are expected as negotiations proceed over the coming days.</p>\
                 <p><img src=\"/img/{i}-{j}.jpg\" alt=\"photo\"> Analysts said the outcome remains uncertain.</p>"
            );
            (title, link, date, text)
        })
        .collect();
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let (body, content_type) = match i % 3 {
        0 => {
            let mut x = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Outlet {i}</title><link>https://outlet{i}.example/</link><description>News</description>\n");
            for (t, l, d, text) in &items {
                let date = chrono::DateTime::parse_from_rfc3339(d)
                    .map(|d| d.to_rfc2822())
                    .unwrap_or_default();
                x.push_str(&format!("<item><title>{}</title><link>{l}</link><guid>{l}</guid><pubDate>{date}</pubDate><description>{}</description></item>\n", esc(t), esc(text)));
            }
            x.push_str("</channel></rss>\n");
            (x, "application/rss+xml")
        }
        1 => {
            let mut x = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Outlet {i}</title><id>tag:outlet{i}.example,2024:feed</id><updated>2024-05-28T00:00:00Z</updated>\n");
            for (t, l, d, text) in &items {
                x.push_str(&format!("<entry><title>{}</title><id>{l}</id><link href=\"{l}\"/><updated>{d}</updated><content type=\"html\">{}</content></entry>\n", esc(t), esc(text)));
            }
            x.push_str("</feed>\n");
            (x, "application/atom+xml")
        }
        _ => {
            let items: Vec<serde_json::Value> = items
                .iter()
                .map(|(t, l, d, text)| serde_json::json!({"id": l, "url": l, "title": t, "date_published": d, "content_html": text}))
                .collect();
            let doc = serde_json::json!({"version": "https://jsonfeed.org/version/1.1", "title": format!("Outlet {i}"), "items": items});
            (doc.to_string(), "application/feed+json")
        }
    };
    let etag = format!("\"v1-{i}\"");
    Feed {
        body: body.into_bytes(),
        content_type,
        etag,
    }
}

async fn serve(
    State(feeds): State<Arc<HashMap<usize, Feed>>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(feed) = file
        .strip_suffix(".xml")
        .and_then(|n| n.parse().ok())
        .and_then(|n: usize| feeds.get(&n))
    else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap_or_default();
    };
    let builder = Response::builder().header(header::ETAG, &feed.etag);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(feed.etag.as_str())
    {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_default();
    }
    builder
        .header(header::CONTENT_TYPE, feed.content_type)
        .body(Body::from(feed.body.clone()))
        .unwrap_or_default()
}

struct Measured {
    wall: Duration,
    cpu: Duration,
    peak_mib: f64,
    stdout: String,
}

/// Runs the feedmerge binary and measures it as a whole process.
// The child is reaped by wait4, which also reports its resource usage; clippy cannot see that.
#[allow(clippy::zombie_processes)]
fn measure(args: &[&str]) -> Measured {
    use std::io::Read;
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start feedmerge");
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).expect("read output");
    }
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; the pid is our own child, not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4 failed");
    let wall = started.elapsed();
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Measured {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_mib: usage.ru_maxrss as f64 / 1024.0,
        stdout,
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    eprintln!("generating {n} feeds...");
    let feeds: HashMap<usize, Feed> = (0..n).map(|i| (i, feed(i))).collect();
    let bytes: usize = feeds.values().map(|f| f.body.len()).sum();
    let feeds = Arc::new(feeds);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("address");
    let app = Router::new().route("/{file}", get(serve)).with_state(feeds);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app).await
        })
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("feedmerge.toml");
    let mut toml = String::from(
        "[storage]\ndatabase = \"feedmerge.db\"\n[poll]\nschedule = \"*/15 * * * *\"\nconcurrency = 16\nper_host = 16\n",
    );
    for i in 0..n {
        toml.push_str(&format!(
            "[[sources]]\nname = \"Outlet {i}\"\nurl = \"http://{addr}/{i}.xml\"\n"
        ));
    }
    std::fs::write(&config, toml).expect("write config");
    let config = config.to_string_lossy().into_owned();

    let first = measure(&["-c", &config, "fetch"]);
    let stored = first
        .stdout
        .lines()
        .filter(|l| l.contains(" 20 new,"))
        .count();
    let second = measure(&["-c", &config, "fetch"]);
    let unchanged = second
        .stdout
        .lines()
        .filter(|l| l.ends_with("not modified"))
        .count();
    let db_mib = std::fs::metadata(dir.path().join("feedmerge.db"))
        .map(|m| m.len())
        .unwrap_or(0) as f64
        / 1048576.0;

    println!(
        "sources: {n}, {:.1} MiB of feeds, 20 items each; database after: {db_mib:.0} MiB",
        bytes as f64 / 1048576.0
    );
    println!("| cycle | wall | CPU (user+sys) | peak memory | result |");
    println!("|---|---|---|---|---|");
    println!(
        "| every feed new | {:.1} s | {:.1} s | {:.0} MiB | {stored} of {n} sources stored 20 new articles |",
        first.wall.as_secs_f64(),
        first.cpu.as_secs_f64(),
        first.peak_mib
    );
    println!(
        "| every feed 304 | {:.1} s | {:.1} s | {:.0} MiB | {unchanged} of {n} not modified |",
        second.wall.as_secs_f64(),
        second.cpu.as_secs_f64(),
        second.peak_mib
    );
    if stored != n {
        let odd: Vec<&str> = first
            .stdout
            .lines()
            .filter(|l| !l.contains(" 20 new,"))
            .take(5)
            .collect();
        eprintln!("sources that did not store 20 new articles, for example: {odd:#?}");
    }
    assert_eq!(stored, n, "every source stored its articles");
    assert_eq!(unchanged, n, "every source answered 304");
}
