//! Stage 8 of the pipeline: the HTTP server.
//!
//! Owns the routes, the connections (their timeouts, their number, closing them at a stop),
//! and how failures become HTTP responses: one [`HttpError`], a status per variant, that
//! every handler answers with. One module per group of routes, all sharing one
//! [`Context`] (the config and the store); handlers ask `publish`'s feeds service which
//! stories a feed shows and read the rest from the store. They never write, but for the
//! WebSub routes, which hand what they receive to `websub` and, a pushed feed, to `poll`.

mod cache;
mod clients;
mod entries;
mod feeds;
mod health;
mod index;
mod metrics;
mod revalidate;
mod search;
mod sources;
mod status;
mod websub;

pub(crate) use clients::ClientAddr;
pub(crate) use websub::{WebSub, DELIVERIES_AT_ONCE};

use std::sync::Arc;
use std::time::Duration;

use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::{Config, MAX_CONNECTIONS};
use crate::metrics::Metrics;
use crate::reload::Live;
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError};

/// What every handler can reach, shared: each request's handler gets a copy (axum's
/// `State`), so a copy is one reference count, not a copy of the store's and the config's
/// handles (which once cost a 304 half its instructions).
#[derive(Debug, Clone)]
pub(crate) struct Context(Arc<Shared>);

impl std::ops::Deref for Context {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`Context`] holds.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    /// The configuration in force, replaced when the file is edited.
    pub(crate) live: Live,
    /// The database.
    pub(crate) store: Store,
    /// The daemon's counters.
    pub(crate) metrics: Arc<Metrics>,
    /// Rendered feeds and the river page, shared by every request.
    pub(crate) feeds: Arc<cache::FeedCache>,
    /// Rendered story pages, kept apart from the feeds.
    pub(crate) pages: Arc<cache::FeedCache>,
    /// Rendered searches, kept apart too: any query makes one.
    pub(crate) searches: Arc<cache::FeedCache>,
    /// The page each request target was last answered with, for 304s before routing.
    revalidation: Arc<revalidate::Revalidation>,
    /// Turns to render a search: a few at once, so that many heavy ones at once cannot take
    /// the memory and the cores the feeds need.
    pub(crate) searching: Arc<Semaphore>,
    /// What `/healthz` last read, for when the database keeps it waiting.
    pub(super) last_seen: Arc<std::sync::Mutex<Option<health::Seen>>>,
    /// WebSub's subscriber, hub and the poller that stores pushes (the daemon's only).
    pub(crate) websub: Option<websub::WebSub>,
}

impl Context {
    /// The context for serving `config` from `store`.
    pub(crate) fn new(live: Live, store: Store, metrics: Arc<Metrics>) -> Context {
        Context(Arc::new(Shared {
            live,
            metrics,
            store,
            feeds: Default::default(),
            pages: Default::default(),
            searches: Default::default(),
            revalidation: Default::default(),
            searching: Arc::new(Semaphore::new(SEARCHES_AT_ONCE)),
            last_seen: Default::default(),
            websub: None,
        }))
    }

    /// This context, with WebSub's routes served by `websub`.
    pub(crate) fn with_websub(self, websub: websub::WebSub) -> Context {
        let shared = Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone());
        Context(Arc::new(Shared {
            websub: Some(websub),
            ..shared
        }))
    }
}

impl Context {
    /// The configuration in force now.
    pub(crate) fn config(&self) -> Arc<Config> {
        self.live.current()
    }

    /// A number that grows whenever what the pages show may have changed: the store's
    /// content (see [`Store::generation`]) or the config in force (titles, views, sources).
    /// A rendered page is kept for as long as it stays the same.
    pub(crate) fn generation(&self) -> u64 {
        self.store.generation().wrapping_add(self.live.revision())
    }

    /// The answer to `request` from the cached page `rendered`; the request's target is
    /// remembered with it, so that the next conditional request for it is answered before
    /// routing (see `revalidate`).
    fn answer(&self, request: &Parts, rendered: &Arc<cache::Rendered>) -> Response {
        self.revalidation.remember(&request.uri, rendered);
        rendered.respond(&request.headers)
    }
}

/// The routes and what they share, ready to serve.
#[derive(Clone)]
pub(crate) struct Routes {
    router: Router,
    ctx: Context,
}

/// The routes, ready to serve.
pub(crate) fn router(ctx: Context) -> Routes {
    let router = Router::new()
        .merge(entries::routes())
        .merge(feeds::routes())
        .merge(health::routes())
        .merge(index::routes())
        .merge(metrics::routes())
        .merge(search::routes())
        .merge(sources::routes())
        .merge(status::routes())
        .merge(websub::routes())
        .with_state(ctx.clone())
        .layer(axum::middleware::map_response(hardened));
    Routes { router, ctx }
}

/// What a page may do once a browser has it: nothing but show its own styles and the
/// outlets' pictures, and submit the search box to this server. The pages use no script and
/// no frame; a story's text passed the sanitiser, and this holds even if something slipped
/// through it.
const PAGE_POLICY: &str = "default-src 'none'; img-src http: https:; style-src 'unsafe-inline'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn hardened(mut response: Response) -> Response {
    harden(response.headers_mut());
    response
}

/// Every response: its type is not to be guessed (a feed or a JSON body read as HTML); and
/// every HTML page: the policy above, and not to be framed (by browsers that predate
/// `frame-ancestors`).
fn harden(headers: &mut axum::http::HeaderMap) {
    use axum::http::{header, HeaderValue};
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
}

/// Searches rendered at once; one more is answered 503, to be asked again in a few seconds.
const SEARCHES_AT_ONCE: usize = 4;

/// How long a client has to send a request's headers, from when the connection opens or
/// its last response was sent: an idle or half-sent connection is closed after it.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the requests in flight at a stop may take to finish before their connections
/// are closed.
const GRACE: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` fires, then lets the requests in flight
/// finish for at most [`GRACE`] and closes every connection. HTTP/1.1, each connection
/// bounded by [`HEADER_TIMEOUT`], at most [`MAX_CONNECTIONS`] at once and `per_client`
/// from one client address.
pub(crate) async fn serve(
    listener: TcpListener,
    routes: Routes,
    per_client: usize,
    mut shutdown: Shutdown,
) -> std::io::Result<()> {
    let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let clients = clients::Clients::new(per_client);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // The semaphore is never closed: acquiring only waits.
        let place = tokio::select! {
            place = places.clone().acquire_owned() => place.ok(),
            _ = shutdown.recv() => break,
        };
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, peer.ip()),
                Err(e) => {
                    // Out of descriptors, most likely: wait for connections to close.
                    tracing::warn!(error = %e, "cannot accept a connection; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            _ = shutdown.recv() => break,
        };
        // A client that holds its share already is turned away at once.
        let Some(held) = clients.admit(client) else {
            drop(stream);
            continue;
        };
        let served = clients::Served {
            routes: routes.clone(),
            client,
        };
        let service = hyper_util::service::TowerToHyperService::new(served);
        let mut stop = shutdown.clone();
        connections.spawn(async move {
            let _place = (place, held);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                // A client that goes away or times out is no error of ours.
                _ = connection.as_mut() => {}
                _ = stop.recv() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(GRACE, connection).await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    // Each connection saw the stop too, and ends within the grace period.
    let _ = tokio::time::timeout(GRACE + Duration::from_secs(1), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

/// A handler's failure, each with its status. The details of a 500 go to the log; the client
/// gets a short message, since database errors can name files and queries that are none of
/// its business. Every other answer says plainly what was wrong.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    /// The database failed: 500.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A feed could not be made: 500.
    #[error(transparent)]
    Feed(#[from] crate::publish::FeedError),
    /// No story has that id (any more: retention may have removed it): 404, as a page.
    #[error("no such story")]
    NoSuchStory,
    /// Nothing is at that address (a feed, a page of one, a subscription): 404.
    #[error("{0}")]
    NotFound(&'static str),
    /// The parameters are not what the route takes: 400, saying what it takes.
    #[error("{0}")]
    BadRequest(String),
    /// A search that cannot be run, as the search page showing why: 400.
    #[error("the search cannot be run")]
    BadSearch(String),
    /// A body larger than the route takes: 413.
    #[error("{0}")]
    TooLarge(String),
    /// A body that did not arrive within [`BODY_DEADLINE`]: 408.
    #[error("the request's body did not arrive within {} s", BODY_DEADLINE.as_secs())]
    TooSlow,
    /// A request our WebSub hub refused, with the status the protocol gives the reason
    /// (400, 403, 404, 429, 503).
    #[error("{why}")]
    Refused { status: StatusCode, why: String },
    /// Compressing a page failed (its thread panicked): 500.
    #[error("compressing the page failed: {0}")]
    Compress(#[from] tokio::task::JoinError),
    /// Too many searches are being rendered: 503, with `Retry-After`.
    #[error("too many searches are running; try again in a few seconds")]
    Overloaded,
    /// The database kept the request waiting for longer than it may (the health check): 503.
    #[error("the database is busy; try again")]
    Busy,
}

/// How long a request's body may take to arrive, once its headers have.
pub(crate) const BODY_DEADLINE: Duration = Duration::from_secs(5);

/// A request's body, whole: at most `limit` bytes (413 beyond), arrived within
/// [`BODY_DEADLINE`] (408 after), so that a slow or endless sender holds nothing for long.
pub(crate) async fn read_body(
    body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, HttpError> {
    match tokio::time::timeout(BODY_DEADLINE, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(HttpError::TooSlow),
        Ok(Err(_)) => Err(HttpError::TooLarge(format!(
            "the body is larger than {limit} bytes"
        ))),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

/// The page that a `page=` parameter asks for, the same on every paged route: the first if
/// it is absent or 0; a 404 past the last page any feed has; a 400 if it is not a number.
pub(crate) fn page_number(raw: Option<&str>) -> Result<u32, HttpError> {
    match raw.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(1),
        Some(raw) => match raw.parse::<u32>() {
            Ok(page) if page <= crate::publish::MAX_PAGE => Ok(page.max(1)),
            Ok(_) => Err(HttpError::NotFound("no such page")),
            Err(_) => Err(HttpError::BadRequest(format!(
                "page= takes a page number, from 1 to {}",
                crate::publish::MAX_PAGE
            ))),
        },
    }
}

impl HttpError {
    /// The status it answers with.
    fn status(&self) -> StatusCode {
        match self {
            HttpError::Store(_) | HttpError::Feed(_) | HttpError::Compress(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            HttpError::NoSuchStory | HttpError::NotFound(_) => StatusCode::NOT_FOUND,
            HttpError::BadRequest(_) | HttpError::BadSearch(_) => StatusCode::BAD_REQUEST,
            HttpError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::TooSlow => StatusCode::REQUEST_TIMEOUT,
            HttpError::Refused { status, .. } => *status,
            HttpError::Busy | HttpError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            HttpError::NoSuchStory => {
                let page = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
                    <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                    <title>No such story</title></head>\n<body><h1>No such story</h1>\n\
                    <p>It may have been removed as it aged. <a href=\"../\">The newest stories</a></p>\
                    </body></html>\n";
                (status, axum::response::Html(page)).into_response()
            }
            HttpError::BadSearch(page) => (status, axum::response::Html(page)).into_response(),
            HttpError::Overloaded => (
                status,
                [(axum::http::header::RETRY_AFTER, "5")],
                format!("{self}\n"),
            )
                .into_response(),
            HttpError::Store(_) | HttpError::Feed(_) | HttpError::Compress(_) => {
                tracing::error!(error = %self, "request failed");
                (status, "internal error; see the server's log\n").into_response()
            }
            _ => (status, format!("{self}\n")).into_response(),
        }
    }
}

/// `mutex`, locked: a panic while it was held leaves the data still valid here.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
