//! WebSub's other ends, on 127.0.0.1: a hub (as an outlet's would be) that takes
//! subscriptions, verifies them by `GET` on the callback and pushes signed content; and a
//! reader's callback that echoes verifications and keeps the deliveries it receives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;

use super::serve_apart;

/// `X-Hub-Signature` for `body` under `secret` by `method` (sha1, sha256, sha384, sha512).
pub fn hub_signature(method: &str, secret: &str, body: &[u8]) -> String {
    let algorithm = match method {
        "sha1" => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        "sha256" => hmac::HMAC_SHA256,
        "sha384" => hmac::HMAC_SHA384,
        _ => hmac::HMAC_SHA512,
    };
    let tag = hmac::sign(&hmac::Key::new(algorithm, secret.as_bytes()), body);
    format!("{method}={}", hex::encode(tag.as_ref()))
}

/// A request a hub received: its form fields.
pub type Form = HashMap<String, String>;

#[derive(Default)]
struct HubWorld {
    requests: Vec<Form>,
    /// Each verification: the mode, and whether the callback echoed the challenge.
    verified: Vec<(String, bool)>,
    lease_seconds: u64,
}

/// An outlet's WebSub hub.
#[derive(Clone)]
pub struct TestHub {
    pub addr: SocketAddr,
    world: Arc<Mutex<HubWorld>>,
}

impl TestHub {
    /// A hub that grants leases of `lease_seconds`.
    pub fn start(lease_seconds: u64) -> TestHub {
        let world = Arc::new(Mutex::new(HubWorld {
            lease_seconds,
            ..HubWorld::default()
        }));
        let app = Router::new()
            .route("/hub", post(hub_request))
            .with_state(world.clone());
        TestHub {
            addr: serve_apart(app),
            world,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hub", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Form> {
        self.world.lock().unwrap().requests.clone()
    }

    /// Every verification so far: (mode, echoed).
    pub fn verified(&self) -> Vec<(String, bool)> {
        self.world.lock().unwrap().verified.clone()
    }

    /// Waits up to `secs` for `done` to hold of the requests; returns them.
    pub async fn until(
        &self,
        secs: u64,
        done: impl Fn(&[Form], &[(String, bool)]) -> bool,
    ) -> Vec<Form> {
        let started = std::time::Instant::now();
        loop {
            let (requests, verified) = {
                let w = self.world.lock().unwrap();
                (w.requests.clone(), w.verified.clone())
            };
            if done(&requests, &verified) || started.elapsed().as_secs() >= secs {
                return requests;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

async fn hub_request(State(world): State<Arc<Mutex<HubWorld>>>, body: Bytes) -> StatusCode {
    let form: Form = url::form_urlencoded::parse(&body).into_owned().collect();
    let lease = {
        let mut w = world.lock().unwrap();
        w.requests.push(form.clone());
        w.lease_seconds
    };
    // Verification of intent comes after the 202, as a real hub's does.
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mode = form.get("hub.mode").cloned().unwrap_or_default();
        let mut url = url::Url::parse(&form["hub.callback"]).expect("callback URL");
        url.query_pairs_mut()
            .append_pair("hub.mode", &mode)
            .append_pair("hub.topic", &form["hub.topic"])
            .append_pair("hub.challenge", "a-challenge-to-echo")
            .append_pair("hub.lease_seconds", &lease.to_string());
        let echoed = match reqwest::get(url).await {
            Ok(r) if r.status().is_success() => {
                r.text().await.unwrap_or_default() == "a-challenge-to-echo"
            }
            _ => false,
        };
        world.lock().unwrap().verified.push((mode, echoed));
    });
    StatusCode::ACCEPTED
}

/// A delivery a callback received.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub headers: HeaderMap,
    pub body: String,
}

#[derive(Default)]
struct CallbackWorld {
    verifications: Vec<Form>,
    deliveries: Vec<Delivered>,
    /// What deliveries are answered, if not 204.
    refuse_with: Option<StatusCode>,
}

/// A reader's callback: echoes every verification, keeps every delivery.
#[derive(Clone)]
pub struct Callback {
    pub addr: SocketAddr,
    world: Arc<Mutex<CallbackWorld>>,
}

impl Callback {
    pub fn start() -> Callback {
        let world = Arc::new(Mutex::new(CallbackWorld::default()));
        let app = Router::new()
            .route("/callback", get(echo).post(keep))
            .with_state(world.clone());
        Callback {
            addr: serve_apart(app),
            world,
        }
    }

    /// A callback that verifies, but answers every delivery with `status` (after keeping it).
    pub fn refusing(status: StatusCode) -> Callback {
        let callback = Callback::start();
        callback.world.lock().unwrap().refuse_with = Some(status);
        callback
    }

    pub fn url(&self) -> String {
        format!("http://{}/callback", self.addr)
    }

    pub fn verifications(&self) -> Vec<Form> {
        self.world.lock().unwrap().verifications.clone()
    }

    pub fn deliveries(&self) -> Vec<Delivered> {
        self.world.lock().unwrap().deliveries.clone()
    }

    /// Waits up to `secs` for `done` to hold of (verifications, deliveries).
    pub async fn until(&self, secs: u64, done: impl Fn(&[Form], &[Delivered]) -> bool) {
        let started = std::time::Instant::now();
        loop {
            let (v, d) = (self.verifications(), self.deliveries());
            if done(&v, &d) || started.elapsed().as_secs() >= secs {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

async fn echo(State(world): State<Arc<Mutex<CallbackWorld>>>, Query(query): Query<Form>) -> String {
    let challenge = query.get("hub.challenge").cloned().unwrap_or_default();
    world.lock().unwrap().verifications.push(query);
    challenge
}

async fn keep(
    State(world): State<Arc<Mutex<CallbackWorld>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut world = world.lock().unwrap();
    world.deliveries.push(Delivered {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    world.refuse_with.unwrap_or(StatusCode::NO_CONTENT)
}

/// `POST url` with `pairs` as a form.
pub async fn post_form(
    http: &reqwest::Client,
    url: &str,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    http.post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A daemon serving on a port of its own, its one source never polled, its hub on or off
/// (`hub`), delivering to callbacks on this machine if `private_callbacks`; ready when this
/// returns. Keep the `Daemon`: dropping it stops the daemon.
pub async fn hub_daemon(
    hub: bool,
    private_callbacks: bool,
) -> (crate::common::Setup, crate::common::Daemon, u16) {
    use crate::common::{free_port, health_until, ConfigBuilder, Daemon, NEVER};
    let port = free_port();
    let setup = ConfigBuilder::new()
        .serve(port)
        .schedule(NEVER)
        .set("websub", "hub", &hub.to_string())
        .set(
            "websub",
            "allow_private_callbacks",
            &private_callbacks.to_string(),
        )
        .source("Outlet", "http://127.0.0.1:9/feed.rss")
        .setup();
    let daemon = Daemon::start(&setup, "warn");
    let http = reqwest::Client::new();
    health_until(&http, port, std::time::Duration::from_secs(15), |h| {
        !h.is_null()
    })
    .await;
    (setup, daemon, port)
}
