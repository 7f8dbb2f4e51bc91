//! The fixture feed server: an HTTP server on 127.0.0.1 serving fixture feeds, honouring
//! `If-None-Match`, recording every request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;

use super::fixture;

/// One resource the fixture server serves.
#[derive(Clone, Debug)]
pub struct Resource {
    pub body: Vec<u8>,
    pub content_type: String,
    pub etag: Option<String>,
    pub status: StatusCode,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// How long the server waits before answering.
    pub delay: std::time::Duration,
}

impl Resource {
    pub fn new(body: Vec<u8>, content_type: &str) -> Resource {
        let etag = format!("\"{}\"", blake3::hash(&body).to_hex()[..16].to_owned());
        Resource {
            body,
            content_type: content_type.into(),
            etag: Some(etag),
            status: StatusCode::OK,
            headers: Vec::new(),
            delay: std::time::Duration::ZERO,
        }
    }

    /// A response with only a status (and headers to add).
    pub fn status(status: StatusCode) -> Resource {
        Resource {
            status,
            etag: None,
            ..Resource::new(Vec::new(), "text/plain")
        }
    }

    /// This resource with one more response header.
    pub fn with_header(mut self, name: &str, value: &str) -> Resource {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A redirect to `to`.
    pub fn redirect(status: StatusCode, to: &str) -> Resource {
        Resource {
            body: Vec::new(),
            content_type: "text/plain".into(),
            etag: None,
            status,
            headers: vec![("location".into(), to.into())],
            delay: std::time::Duration::ZERO,
        }
    }
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub if_none_match: Option<String>,
    pub user_agent: Option<String>,
    pub referer: Option<String>,
    /// Every header of the request.
    pub headers: axum::http::HeaderMap,
    /// When the answer was sent.
    pub at: std::time::Instant,
}

#[derive(Default)]
struct World {
    resources: HashMap<String, Resource>,
    seen: Vec<Seen>,
    in_flight: usize,
    max_in_flight: usize,
}

/// Serves `app` on 127.0.0.1 from a thread and runtime of its own, so that a test may block
/// (running the feedmerge binary) while it serves; says where.
pub fn serve_apart(app: Router) -> SocketAddr {
    serve_apart_on([127, 0, 0, 1], app)
}

/// [`serve_apart`] on another loopback address (127.0.0.2, …), standing for another host.
pub fn serve_apart_on(ip: [u8; 4], app: Router) -> SocketAddr {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::from(ip), 0))
        .expect("bind a loopback address");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local addr");
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
    addr
}

/// An HTTP server on 127.0.0.1 serving fixture feeds, honouring `If-None-Match`, and
/// recording every request.
#[derive(Clone)]
pub struct FeedServer {
    pub addr: SocketAddr,
    world: Arc<Mutex<World>>,
}

impl FeedServer {
    /// Starts the server on its own thread and runtime, so that a test may block (running
    /// the feedmerge binary) while it serves.
    pub fn start() -> FeedServer {
        FeedServer::start_on([127, 0, 0, 1])
    }

    /// The same on another loopback address, standing for another host.
    pub fn start_on(ip: [u8; 4]) -> FeedServer {
        let world = Arc::new(Mutex::new(World::default()));
        let app = Router::new().fallback(serve).with_state(world.clone());
        FeedServer {
            addr: serve_apart_on(ip, app),
            world,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn put(&self, path: &str, resource: Resource) {
        self.world
            .lock()
            .unwrap()
            .resources
            .insert(path.into(), resource);
    }

    /// The resource served at `path` (which must be there).
    pub fn get(&self, path: &str) -> Resource {
        self.world.lock().unwrap().resources[path].clone()
    }

    /// Serves `tests/fixtures/NAME` at `path`.
    pub fn put_fixture(&self, path: &str, name: &str, content_type: &str) {
        self.put(path, Resource::new(fixture(name), content_type));
    }

    /// The most requests the server ever had in progress at once.
    pub fn max_in_flight(&self) -> usize {
        self.world.lock().unwrap().max_in_flight
    }

    /// How many requests the server has answered so far.
    pub fn requests(&self) -> usize {
        self.world.lock().unwrap().seen.len()
    }

    /// Every request so far, in order.
    pub fn all_seen(&self) -> Vec<Seen> {
        self.world.lock().unwrap().seen.clone()
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.world
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

async fn serve(State(world): State<Arc<Mutex<World>>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let headers = req.headers().clone();
    let (if_none_match, user_agent, referer) = {
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        (
            header(header::IF_NONE_MATCH),
            header(header::USER_AGENT),
            header(header::REFERER),
        )
    };
    let resource = {
        let mut w = world.lock().unwrap();
        w.in_flight += 1;
        w.max_in_flight = w.max_in_flight.max(w.in_flight);
        w.resources.get(&path).cloned()
    };
    if let Some(r) = &resource {
        tokio::time::sleep(r.delay).await;
    }
    let response = match resource {
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found")),
        Some(r) if r.etag.is_some() && r.etag == if_none_match => Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty()),
        Some(r) => {
            let mut b = Response::builder()
                .status(r.status)
                .header(header::CONTENT_TYPE, r.content_type);
            if let Some(etag) = r.etag {
                b = b.header(header::ETAG, etag);
            }
            for (name, value) in r.headers {
                b = b.header(name, value);
            }
            b.body(Body::from(r.body))
        }
    }
    .expect("response");
    let mut world = world.lock().unwrap();
    world.in_flight -= 1;
    world.seen.push(Seen {
        path,
        if_none_match,
        user_agent,
        referer,
        headers,
        at: std::time::Instant::now(),
    });
    response
}
