//! Replicas on one PostgreSQL database: sources polled per minute by one, two and three
//! `feedmerge run` processes sharing N sources served by a local server on 127.0.0.1.
//!
//! `cargo bench --bench replicas -- [N] [SECONDS] [LATENCY_MS]`
//! (defaults: 2,000 sources, 60 s measured per run, 100 ms per answer)
//!
//! Every source is due as often as the planner allows (`schedule = "* * * * * *"`: each
//! source every 30 s or so), more than the replicas can poll, so what is counted is how many
//! polls they get through. Two phases per run:
//! - the first round: every source fetched once, a 200 whose three articles are stored (the
//!   writes take turns on one advisory lock);
//! - then `SECONDS` of polls that find nothing new (a 304, as most polls of a real aggregator
//!   find): each claims its source, fetches it and records the result.
//!
//! The server waits `LATENCY_MS` before each answer, standing in for a remote outlet. Each run
//! gets a fresh database, named after `FEEDMERGE_BENCH_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped after.

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

/// The server's state: how long it takes to answer, and how many polls it answered (and of
/// those, how many were first fetches, without a validator).
struct Server {
    latency: Duration,
    polls: AtomicU64,
    first: AtomicU64,
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
    if !headers.contains_key(header::IF_NONE_MATCH) {
        server.first.fetch_add(1, Ordering::Relaxed);
    }
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

/// How long `replicas` processes take over the first round of `n` sources, and the polls
/// they get through in `seconds` after it.
async fn run(
    replicas: usize,
    n: u64,
    config: &std::path::Path,
    base: &str,
    server: &Server,
    seconds: u64,
) -> (Duration, u64) {
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
    let started = std::time::Instant::now();
    let first_before = server.first.load(Ordering::Relaxed);
    while server.first.load(Ordering::Relaxed) - first_before < n {
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "the first round did not end"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_round = started.elapsed();
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
    (first_round, polls)
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
        first: AtomicU64::new(0),
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
    println!(
        "| replicas | first round (200, 3 articles stored) | per minute | against one \
         | then, nothing new (304): polls in {seconds} s | per minute | against one |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut one = (0.0, 0.0);
    for replicas in 1..=3 {
        let (first_round, polls) = run(replicas, n as u64, &config, &base, &server, seconds).await;
        let first = n as f64 * 60.0 / first_round.as_secs_f64();
        let unchanged = polls as f64 * 60.0 / seconds as f64;
        if replicas == 1 {
            one = (first, unchanged);
        }
        println!(
            "| {replicas} | {:.1} s | {first:.0} | {:.2}x | {polls} | {unchanged:.0} | {:.2}x |",
            first_round.as_secs_f64(),
            first / one.0.max(1.0),
            unchanged / one.1.max(1.0)
        );
    }
}
