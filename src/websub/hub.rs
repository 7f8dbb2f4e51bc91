//! Our hub, at `<base_url>/websub`: readers subscribe to our feeds (the merged feed, the
//! categories, the views, in any format) and have each change of a feed's first page pushed.
//!
//! Owns accepting a request (`hub.mode=subscribe|unsubscribe`, our topics only, callbacks
//! through the same address guard as feeds, caps per topic and per callback host), verifying
//! intent by `GET` on the callback, and delivering: when the store's content or the config
//! changes, each subscribed topic's first page is rendered and, if it differs from the last
//! one delivered (a digest in the store, moved on by one replica only), `POST`ed to every
//! subscriber, signed with its secret, retried with backoff, dropped when its lease ends.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use chrono::Utc;
use url::Url;

use super::owed::{Change, Owed};
use super::signature;
use super::verifying::{self, Verifying};
use crate::config::Config;
use crate::fetch::{Fetcher, Outgoing};
use crate::publish::{Feeds, Paused};
use crate::reload::Live;
use crate::shutdown::Shutdown;
use crate::store::{HubSubscription, Store};

/// Live subscriptions one topic may have.
pub(crate) const MAX_PER_TOPIC: i64 = 1_000;
/// Live subscriptions whose callbacks are on one host.
pub(crate) const MAX_PER_HOST: i64 = 100;
/// The longest lease granted, and the shortest.
const LONGEST_LEASE: Duration = Duration::from_secs(30 * 24 * 3600);
const SHORTEST_LEASE: Duration = Duration::from_secs(60);
/// The longest `hub.secret` taken (WebSub: under 200 bytes).
const MAX_SECRET: usize = 199;
/// When a delivery that failed is tried again (after the first try): then it is given up.
const RETRIES: [Duration; 5] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(3600),
];
/// How long a subscriber that failed every attempt to deliver a change is left alone.
const PAUSE: Duration = Duration::from_secs(6 * 3600);
/// How often the hub looks for a change to deliver.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// A subscription request, as a reader's `POST /websub` sends it.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Request {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.topic")]
    topic: Option<String>,
    #[serde(rename = "hub.callback")]
    callback: Option<String>,
    #[serde(rename = "hub.lease_seconds")]
    lease_seconds: Option<String>,
    #[serde(rename = "hub.secret")]
    secret: Option<String>,
}

/// Our hub.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    store: Store,
    fetcher: Fetcher,
    live: Live,
    /// Wakes the delivery loop: a subscription was verified (its topic's digest is then
    /// stored, so that its first change is known as one).
    wake: std::sync::Arc<tokio::sync::Notify>,
    /// What each subscriber is owed.
    owed: Arc<Owed>,
    /// The verifications of intent in flight, and who asked how often.
    verifying: Arc<Verifying>,
}

impl Hub {
    /// The hub for the feeds of `live` over `store`, reaching callbacks through `fetcher`.
    pub(crate) fn new(store: Store, fetcher: Fetcher, live: Live) -> Hub {
        Hub {
            store,
            fetcher,
            live,
            wake: Default::default(),
            owed: Default::default(),
            verifying: Default::default(),
        }
    }

    /// The subscribers paused now, having failed every attempt to deliver a change.
    pub(crate) fn paused(&self) -> Vec<Paused> {
        self.owed.paused(Utc::now())
    }

    /// Tasks delivering to subscribers, and the bytes of the changes held for them.
    pub(crate) fn load(&self) -> (usize, usize) {
        self.owed.load()
    }

    /// Takes a reader's request from the address `client`: `Ok` (202) once it is checked,
    /// its intent then verified apart; `Err` with the status and the reason, for the reader.
    pub(crate) async fn request(
        &self,
        r: Request,
        client: std::net::IpAddr,
    ) -> Result<(), (StatusCode, String)> {
        if !self.verifying.allow(client, std::time::Instant::now()) {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "this hub takes at most {} requests a minute from one address",
                    verifying::PER_MINUTE
                ),
            ));
        }
        let bad = |why: String| Err((StatusCode::BAD_REQUEST, why));
        let config = self.live.current();
        if !config.websub.hub {
            return Err((
                StatusCode::NOT_FOUND,
                "this server runs no WebSub hub ([websub].hub = false)".into(),
            ));
        }
        let mode = r.mode.unwrap_or_default();
        if mode != "subscribe" && mode != "unsubscribe" {
            return bad(format!("hub.mode must be subscribe or unsubscribe, not {mode:?}: this hub publishes only this server's own feeds"));
        }
        let Some(topic) = r
            .topic
            .filter(|t| Feeds::new(&self.store, &config).topic(t).is_some())
        else {
            return bad("hub.topic is not a feed of this server; its feeds are the merged feed, its categories and its views, each named by its own Link header (rel=\"self\")".into());
        };
        let callback = match r.callback.as_deref().map(Url::parse) {
            Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.fragment().is_none() => u,
            _ => {
                return bad(
                    "hub.callback must be an http:// or https:// URL without a fragment".into(),
                )
            }
        };
        let allow_private = config.websub.allow_private_callbacks;
        if let Err(e) = Fetcher::check_address(&callback, allow_private).await {
            return Err((
                StatusCode::FORBIDDEN,
                format!("hub.callback refused: {}", refusal(&e)),
            ));
        }
        let secret = r.secret.filter(|s| !s.is_empty());
        if secret.as_ref().is_some_and(|s| s.len() > MAX_SECRET) {
            return bad(format!(
                "hub.secret must be shorter than {} bytes",
                MAX_SECRET + 1
            ));
        }
        let lease = r
            .lease_seconds
            .and_then(|s| s.trim().parse().ok())
            .map_or(config.websub.lease, Duration::from_secs)
            .clamp(SHORTEST_LEASE, LONGEST_LEASE);
        let host = callback.host_str().unwrap_or_default().to_owned();
        let busy = |e: crate::store::StoreError| {
            tracing::error!(error = %e, "cannot read the hub's subscriptions");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is busy; try again".to_owned(),
            )
        };
        let subscribed = self.store.has_hub_subscription(&topic, callback.as_str());
        let subscribed = subscribed.await.map_err(busy)?;
        if mode == "unsubscribe" && !subscribed {
            // Verified only if there is something to end: a request does not make us send a
            // GET to any address it names.
            return Err((
                StatusCode::NOT_FOUND,
                "that callback is not subscribed to that topic".into(),
            ));
        }
        // A renewal is always taken; a new subscription only under the caps, counting those
        // being verified; every verification under the caps on verifications at once.
        let new = mode == "subscribe" && !subscribed;
        let stored = match new {
            true => self.store.hub_load(&topic, &host).await.map_err(busy)?,
            false => (0, 0),
        };
        let limits = (MAX_PER_TOPIC, MAX_PER_HOST);
        let ticket = self.verifying.reserve(&topic, &host, new, stored, limits)?;
        let hub = self.clone();
        tokio::spawn(async move {
            let _ticket = ticket;
            hub.verify(&config, mode, topic, callback, host, secret, lease)
                .await;
        });
        Ok(())
    }

    /// Verifies intent (WebSub §5.3): a `GET` on the callback must echo the challenge. Then
    /// the subscription is stored, or removed.
    #[allow(clippy::too_many_arguments)]
    async fn verify(
        &self,
        config: &Config,
        mode: String,
        topic: String,
        callback: Url,
        host: String,
        secret: Option<String>,
        lease: Duration,
    ) {
        let challenge = signature::random();
        let mut url = callback.clone();
        url.query_pairs_mut()
            .append_pair("hub.mode", &mode)
            .append_pair("hub.topic", &topic)
            .append_pair("hub.challenge", &challenge);
        if mode == "subscribe" {
            url.query_pairs_mut()
                .append_pair("hub.lease_seconds", &lease.as_secs().to_string());
        }
        let answer = self
            .fetcher
            .send(Outgoing {
                method: reqwest::Method::GET,
                url: &url,
                headers: HeaderMap::new(),
                body: None,
                allow_private: config.websub.allow_private_callbacks,
            })
            .await;
        let verified = match &answer {
            Ok(a) => a.status.is_success() && a.body.trim_ascii() == challenge.as_bytes(),
            Err(_) => false,
        };
        if !verified {
            let why = match answer {
                Ok(a) => format!("it answered {} without echoing the challenge", a.status),
                Err(e) => e.to_string(),
            };
            tracing::info!(callback = %host, topic, mode, error = %why, "a WebSub subscriber did not verify its intent");
            return;
        }
        let written = if mode == "subscribe" {
            // What the topic shows now is what the reader has: the next change is news.
            if let Err(e) = self.seed(config, &topic).await {
                tracing::warn!(error = %e, topic, "cannot render a subscribed feed");
            }
            let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
            let sub = HubSubscription {
                topic: topic.clone(),
                callback: callback.to_string(),
                secret,
                lease_until: until.timestamp_millis(),
            };
            self.store.put_hub_subscription(&sub, &host).await
        } else {
            self.store
                .forget_hub_subscription(&topic, callback.as_str())
                .await
        };
        match written {
            Ok(()) => {
                tracing::info!(callback = %host, topic, mode, "a WebSub subscriber verified its intent");
                self.wake.notify_one();
            }
            Err(e) => tracing::error!(error = %e, "cannot store a WebSub subscription"),
        }
    }

    /// Stores `topic`'s first page's digest, unless it has one.
    async fn seed(&self, config: &Config, topic: &str) -> Result<(), crate::publish::FeedError> {
        let feeds = Feeds::new(&self.store, config);
        if let Some((feed, format)) = feeds.topic(topic) {
            let (body, _) = feeds.page(&feed, format, 1).await?;
            let digest = blake3::hash(body.as_bytes()).to_hex().to_string();
            self.store.seed_topic(topic, &digest).await?;
        }
        Ok(())
    }

    /// Delivers each change of a subscribed topic until `shutdown`.
    pub(crate) async fn run(self, mut shutdown: Shutdown) {
        let mut seen = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(LOOK_EVERY) => {}
                _ = self.wake.notified() => { seen = None; }
                _ = shutdown.recv() => return,
            }
            let generation = (self.store.generation(), self.live.revision());
            if seen == Some(generation) {
                continue;
            }
            seen = Some(generation);
            if let Err(e) = self.deliver_changes().await {
                tracing::warn!(error = %e, "cannot look for changes to push");
                seen = None;
            }
        }
    }

    /// Renders each subscribed topic's first page; delivers those whose digest this process
    /// moved on.
    async fn deliver_changes(&self) -> Result<(), crate::publish::FeedError> {
        let config = self.live.current();
        if !config.websub.hub {
            return Ok(());
        }
        let subs = self.store.hub_subscriptions(Utc::now()).await?;
        let feeds = Feeds::new(&self.store, &config);
        for topic in subs.chunk_by(|a, b| a.topic == b.topic) {
            let url = &topic[0].topic;
            // A topic whose feed left the config (a view removed) has nothing to deliver.
            let Some((feed, format)) = feeds.topic(url) else {
                continue;
            };
            let (body, _) = feeds.page(&feed, format, 1).await?;
            let digest = blake3::hash(body.as_bytes()).to_hex().to_string();
            if !self.store.advance_topic(url, &digest).await? {
                continue;
            }
            let change = Arc::new(Change {
                body,
                content_type: format.content_type(),
            });
            for sub in topic {
                if self.owed.offer(sub, change.clone()) {
                    tokio::spawn(self.clone().deliver_owed(config.clone(), sub.clone()));
                }
            }
        }
        Ok(())
    }

    /// Delivers to `sub` what it is owed, the latest change each time, until it is owed
    /// nothing: a failed attempt is tried again after each of [`RETRIES`], with whatever
    /// change is then the latest; after the last, `sub` is paused for [`PAUSE`]. A 410 Gone,
    /// or the end of its lease, ends the subscription.
    async fn deliver_owed(self, config: Arc<Config>, sub: HubSubscription) {
        while let Some((change, sub)) = self.owed.next(&sub) {
            if Utc::now().timestamp_millis() >= sub.lease_until {
                self.owed.forget(&sub);
                return;
            }
            let place = self.owed.place().await;
            let sent = self.send(&config, &sub, &change).await;
            drop(place);
            let host = Url::parse(&sub.callback)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            let why = match sent {
                Sent::Taken => {
                    self.owed.delivered(&sub);
                    continue;
                }
                Sent::Gone => {
                    let _ = self
                        .store
                        .forget_hub_subscription(&sub.topic, &sub.callback)
                        .await;
                    self.owed.forget(&sub);
                    return;
                }
                Sent::Failed(why) => why,
            };
            tracing::info!(callback = %host, topic = %sub.topic, error = %why, "a WebSub delivery failed; trying again later");
            let failures = self.owed.failed(&sub, change, why);
            let wait = match RETRIES.get((failures as usize).saturating_sub(1)) {
                Some(wait) => *wait,
                None => {
                    tracing::warn!(callback = %host, topic = %sub.topic, pause = ?PAUSE, "every WebSub delivery to a subscriber failed; it is paused, then sent the latest change");
                    let until = Utc::now() + chrono::Duration::from_std(PAUSE).unwrap_or_default();
                    self.owed.pause(&sub, until);
                    PAUSE
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// `POST`s `change` to `sub`'s callback once.
    async fn send(&self, config: &Config, sub: &HubSubscription, change: &Change) -> Sent {
        let Ok(callback) = Url::parse(&sub.callback) else {
            return Sent::Gone;
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(change.content_type)
                .unwrap_or(HeaderValue::from_static("application/xml")),
        );
        let link = Feeds::new(&self.store, config).link_header(&sub.topic);
        if let Some(link) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LINK, link);
        }
        let body = change.body.as_bytes();
        if let Some(secret) = &sub.secret {
            if let Ok(v) = HeaderValue::from_str(&signature::sign(secret.as_bytes(), body)) {
                headers.insert("x-hub-signature", v);
            }
        }
        let answer = self
            .fetcher
            .send(Outgoing {
                method: reqwest::Method::POST,
                url: &callback,
                headers,
                body: Some(body.to_vec()),
                allow_private: config.websub.allow_private_callbacks,
            })
            .await;
        match answer {
            Ok(a) if a.status.is_success() => Sent::Taken,
            Ok(a) if a.status == StatusCode::GONE => Sent::Gone,
            Ok(a) => Sent::Failed(format!("it answered {}", a.status)),
            Err(e) => Sent::Failed(e.to_string()),
        }
    }
}

/// How one delivery went.
enum Sent {
    /// 2xx.
    Taken,
    /// 410 Gone: the subscriber wants no more.
    Gone,
    /// Anything else, and why.
    Failed(String),
}

/// Why a callback's address is refused, in the reader's terms.
fn refusal(e: &crate::fetch::FetchError) -> String {
    match e {
        crate::fetch::FetchError::Private {
            host,
            address,
            kind,
        } => format!(
            "{host} is {address}, a {kind} address; this hub delivers only to public addresses"
        ),
        other => other.to_string(),
    }
}
