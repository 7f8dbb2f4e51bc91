//! Replicas on one PostgreSQL database: sources polled per minute by one, two and three
//! `feedmerge run` processes sharing N sources served by a local server on 127.0.0.1.
//!
//! `cargo bench --bench replicas -- [N] [SECONDS] [LATENCY_MS]`
//! (defaults: 2,000 sources, 60 s measured per run, 100 ms per answer)
//!
//! Every source is due every second (`schedule = "* * * * * *"`), more than the replicas can
//! poll, so what is counted is how many polls they get through: each claims a source in the
//! database, fetches it (a 304: the feeds do not change after the first poll, as most polls of
//! a real aggregator find), and records the result. The server waits `LATENCY_MS` before each
//! answer, standing in for a remote outlet. Each run gets a fresh database, named after
//! `FEEDMERGE_BENCH_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped
//! after; the first 20 s of each run (every source's first fetch) are not counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use sqlx::Connection;

/// The server's state: how long it takes to answer, and how many polls it answered.
struct Server {
    latency: Duration,
    polls: AtomicU64,
}

/// A small RSS feed of three items, the same at every request.
fn feed(i: usize) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Outlet {i}</title>\
         <link>https://outlet{i}.example/</link>"
    );
    for j in 0..3 {
        x.push_str(&format!(
            "<item><guid>{i}-{j}</guid><link>https://outlet{i}.example/{j}</link>\
             <title>Outlet {i} reports development {j} in the regional talks</title>\
             <description>Officials met on day {j} to discuss item {i} of outlet {i}.</description>\
             <pubDate>Wed, 01 May 2024 0{j}:00:00 GMT</pubDate></item>"
        ));
    }
    x + "</channel></rss>"
}

async fn serve(
    State(server): State<Arc<Server>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    tokio::time::sleep(server.latency).await;
    server.polls.fetch_add(1, Ordering::Relaxed);
    let Some(i) = file
        .strip_suffix(".xml")
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap_or_default();
    };
    let etag = format!("\"{i}\"");
    let builder = Response::builder().header(header::ETAG, &etag);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_default();
    }
    builder
        .header(header::CONTENT_TYPE, "application/rss+xml")
        .body(Body::from(feed(i)))
        .unwrap_or_default()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The polls that `replicas` processes get through in `seconds`, after the warm-up.
async fn run(
    replicas: usize,
    config: &std::path::Path,
    base: &str,
    server: &Server,
    seconds: u64,
) -> u64 {
    let name = format!("feedmerge_bench_replicas_{replicas}");
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("connect to PostgreSQL (FEEDMERGE_BENCH_POSTGRES)");
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .expect("make the run's database");
    }
    let mut children: Vec<std::process::Child> = (0..replicas)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_feedmerge"))
                .args(["run", "--config"])
                .arg(config)
                .env("FEEDMERGE_DATABASE", format!("{base}/{name}"))
                .env("FEEDMERGE_LISTEN", format!("127.0.0.1:{}", free_port()))
                .env("RUST_LOG", "error")
                .spawn()
                .expect("start feedmerge run")
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let before = server.polls.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let polls = server.polls.load(Ordering::Relaxed) - before;
    for child in &mut children {
        // SIGTERM, as a service manager stops it; then reaped.
        let _ = std::process::Command::new("kill")
            .arg(child.id().to_string())
            .status();
    }
    for child in &mut children {
        let _ = child.wait();
    }
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    polls
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(2_000) as usize;
    let seconds = args.get(1).copied().unwrap_or(60);
    let latency = Duration::from_millis(args.get(2).copied().unwrap_or(100));
    let base = std::env::var("FEEDMERGE_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    // The database's name is the run's own: the URL up to it.
    let base = base
        .rsplit_once('/')
        .map_or(base.clone(), |(b, _)| b.to_owned());

    let server = Arc::new(Server {
        latency,
        polls: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("address");
    let app = Router::new()
        .route("/{file}", get(serve))
        .with_state(server.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("feedmerge.toml");
    let mut toml = String::from(
        "[storage]\ndatabase = \"unused.db\"\n\
         [poll]\nschedule = \"* * * * * *\"\nconcurrency = 16\nper_host = 16\n",
    );
    for i in 0..n {
        toml.push_str(&format!(
            "[[sources]]\nname = \"Outlet {i}\"\nurl = \"http://{addr}/{i}.xml\"\n"
        ));
    }
    std::fs::write(&config, toml).expect("write config");

    println!(
        "{n} sources, each due every second; {} ms per answer; {seconds} s measured per run",
        latency.as_millis()
    );
    println!("| replicas | polls in {seconds} s | sources polled per minute | against one |");
    println!("|---|---|---|---|");
    let mut one = 0.0;
    for replicas in 1..=3 {
        let polls = run(replicas, &config, &base, &server, seconds).await;
        let per_minute = polls as f64 * 60.0 / seconds as f64;
        if replicas == 1 {
            one = per_minute;
        }
        println!(
            "| {replicas} | {polls} | {per_minute:.0} | {:.2}x |",
            per_minute / one.max(1.0)
        );
    }
}
