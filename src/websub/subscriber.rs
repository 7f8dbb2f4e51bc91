//! The subscriber: a subscription at the hub each source's feed announces, so that its news
//! is pushed to `<base_url>/websub/callback/TOKEN` seconds after the outlet publishes it.
//!
//! Owns the subscriptions' life: asking (`hub.mode=subscribe`, a callback and a secret unique
//! to the subscription, the lease `[websub].lease`), answering the hub's verification of
//! intent only for what we asked, a denial, renewing before the lease ends, unsubscribing
//! when a source leaves the config or is disabled; checking each delivery's signature before
//! it is stored; and which sources push, which `poll` then polls only as a safety net.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};
use chrono::Utc;
use url::Url;

use super::signature;
use crate::config::{Config, Source};
use crate::fetch::{Fetcher, Outgoing};
use crate::poll::{Discovered, Push};
use crate::reload::Live;
use crate::shutdown::Shutdown;
use crate::store::{from_millis, Counts, PushCount, PushSubscription, Store};
use crate::untrusted::{printable, MAX_SAID};

/// The longest lease a hub's verification is taken at.
const LONGEST_LEASE: Duration = Duration::from_secs(365 * 24 * 3600);
/// How long a hub has to verify a subscription we asked for before it counts as failed.
const VERIFY_WITHIN: Duration = Duration::from_secs(300);
/// How long a failed subscription waits before a poll that finds the hub again retries it.
const RETRY_FAILED: Duration = Duration::from_secs(3600);
/// How long an unsubscribe waits for the hub's verification before the row is dropped.
const UNSUBSCRIBE_WITHIN: Duration = Duration::from_secs(24 * 3600);
/// The longest the maintenance loop sleeps: how soon a replica sees another's changes.
const LOOK_EVERY: Duration = Duration::from_secs(60);

/// Our subscriptions at the sources' hubs.
#[derive(Debug, Clone)]
pub(crate) struct Subscriber {
    store: Store,
    fetcher: Fetcher,
    live: Live,
    /// Each source's subscription as last read or written (the store is the truth; replicas
    /// each keep their own copy, refreshed by [`Subscriber::run`]).
    known: Arc<Mutex<HashMap<String, PushSubscription>>>,
    /// Wakes the maintenance loop: a subscription changed.
    wake: Arc<tokio::sync::Notify>,
}

/// What a verification request (`GET` on a callback) asked.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Verification {
    #[serde(rename = "hub.mode")]
    mode: String,
    #[serde(rename = "hub.topic")]
    topic: String,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
    #[serde(rename = "hub.lease_seconds")]
    lease_seconds: Option<u64>,
    #[serde(rename = "hub.reason")]
    reason: Option<String>,
}

/// What to do with a delivery.
pub(crate) enum Delivery {
    /// Signed with the subscription's secret: store it for `source`.
    Accept {
        /// The source whose feed it is.
        source: String,
        /// The feed's URL, which relative links resolve against.
        topic: Url,
    },
    /// Unsigned or badly signed: acknowledged, as WebSub asks, and dropped.
    Rejected,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Subscriber {
    /// The subscriber for the sources of `live`, recording in `store`, asking hubs through
    /// `fetcher`.
    pub(crate) fn new(store: Store, fetcher: Fetcher, live: Live) -> Subscriber {
        Subscriber {
            store,
            fetcher,
            live,
            known: Arc::default(),
            wake: Arc::default(),
        }
    }

    /// How far apart polls of `source` must be at least: `[websub].safety_poll` while a
    /// hub pushes its feed, else nothing.
    fn safety_net(&self, source: &str) -> Option<Duration> {
        let now = Utc::now();
        lock(&self.known)
            .get(source)
            .filter(|s| s.active_at(now))
            .map(|_| self.live.current().websub.safety_poll)
    }

    /// After a stored poll of `source`: subscribes at the hub it `found`, if it names one we
    /// are not subscribed to; counts the new stories the poll found while push was active
    /// (what the hub did not push).
    async fn polled(&self, source: &Source, found: Option<Discovered>, counts: Counts) {
        let now = Utc::now();
        let current = lock(&self.known).get(&source.name).cloned();
        if counts.new > 0 && current.as_ref().is_some_and(|s| s.active_at(now)) {
            if let Err(e) = self
                .store
                .count_push(&source.name, PushCount::Missed(counts.new))
                .await
            {
                tracing::warn!(source = %source.name, error = %e, "cannot count the stories push missed");
            }
        }
        let config = self.live.current();
        let Some(found) = found.filter(|_| config.websub.subscribe && source.enabled) else {
            return;
        };
        if let Some(s) = &current {
            let same = s.hub == found.hub.as_str() && s.topic == found.topic.as_str();
            let asked = from_millis(s.requested_at);
            // A source back in the config while its unsubscribe is pending subscribes afresh.
            let settled = match s.state.as_str() {
                "failed" => {
                    now - asked < chrono::Duration::from_std(RETRY_FAILED).unwrap_or_default()
                }
                "unsubscribing" => false,
                _ => true,
            };
            if same && settled {
                return;
            }
        }
        self.subscribe(&config, source, found).await;
    }

    /// Asks `found.hub` for a new subscription of `source` to `found.topic`.
    async fn subscribe(&self, config: &Config, source: &Source, found: Discovered) {
        let sub = PushSubscription {
            token: signature::random(),
            source: source.name.clone(),
            hub: found.hub.to_string(),
            topic: found.topic.to_string(),
            secret: signature::random(),
            allow_private: source.allow_private,
            state: "pending".into(),
            error: None,
            requested_at: Utc::now().timestamp_millis(),
            lease_until: None,
            last_push_at: None,
            pushes: 0,
            rejected: 0,
            pushed_new: 0,
            missed: 0,
        };
        if let Err(e) = self.store.put_push_subscription(&sub).await {
            tracing::warn!(source = %source.name, error = %e, "cannot store the push subscription");
            return;
        }
        lock(&self.known).insert(sub.source.clone(), sub.clone());
        tracing::info!(source = %source.name, hub = %sub.hub, topic = %sub.topic, "subscribing at the feed's WebSub hub");
        self.ask(config, &sub, "subscribe").await;
    }

    /// Sends `mode` for `sub` to its hub; a refusal marks it failed, with the hub's words.
    async fn ask(&self, config: &Config, sub: &PushSubscription, mode: &str) {
        let failure = match self.request(config, sub, mode).await {
            Ok(()) => return,
            Err(why) => why,
        };
        tracing::warn!(source = %sub.source, hub = %sub.hub, error = %failure, "the WebSub hub refused");
        let state = if mode == "unsubscribe" {
            "unsubscribing"
        } else {
            "failed"
        };
        let error = format!("the hub refused to {mode}: {failure}");
        let _ = self
            .store
            .set_push_state(
                &sub.token,
                state,
                Some(&error),
                sub.lease_until.map(from_millis),
                true,
            )
            .await;
        if let Some(known) = lock(&self.known).get_mut(&sub.source) {
            if known.token == sub.token {
                known.state = state.into();
                known.error = Some(error);
            }
        }
    }

    /// The request itself: `Err` says why it failed.
    async fn request(
        &self,
        config: &Config,
        sub: &PushSubscription,
        mode: &str,
    ) -> Result<(), String> {
        let hub = Url::parse(&sub.hub).map_err(|e| format!("not a URL: {e}"))?;
        let callback = callback_url(config, &sub.token);
        let lease = config.websub.lease.as_secs().to_string();
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("hub.mode", mode)
                .append_pair("hub.topic", &sub.topic)
                .append_pair("hub.callback", callback.as_str());
            if mode == "subscribe" {
                form.append_pair("hub.secret", &sub.secret)
                    .append_pair("hub.lease_seconds", &lease);
            }
            form.finish()
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let answer = self
            .fetcher
            .send(Outgoing {
                method: reqwest::Method::POST,
                url: &hub,
                headers,
                body: Some(form.into_bytes()),
                allow_private: sub.allow_private,
            })
            .await
            .map_err(|e| e.to_string())?;
        if answer.status.is_success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&answer.body);
        let said = printable(said.trim(), 200);
        Err(format!(
            "it answered {}{}",
            answer.status,
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ))
    }

    /// Answers a hub's `GET` on the callback `token`: the challenge to echo, or `None` (404)
    /// when it is not about a subscription we asked for. A denial is recorded (and answered
    /// with an empty 200).
    pub(crate) async fn verify(&self, token: &str, v: Verification) -> Option<String> {
        let sub = self.store.push_subscription(token).await.ok().flatten()?;
        if sub.topic != v.topic {
            return None;
        }
        let now = Utc::now();
        let (state, lease_until, error, answer) = match (v.mode.as_str(), sub.state.as_str()) {
            ("subscribe", "pending" | "active") => {
                // A hub's lease is taken at its word up to a year: a longer one (or one past
                // the end of time) is renewed as a year's would be.
                let lease = v
                    .lease_seconds
                    .map(|s| Duration::from_secs(s.min(LONGEST_LEASE.as_secs())))
                    .unwrap_or(self.live.current().websub.lease);
                let until = chrono::Duration::from_std(lease)
                    .ok()
                    .and_then(|lease| now.checked_add_signed(lease))
                    .unwrap_or(now);
                tracing::info!(source = %sub.source, until = %until.format("%Y-%m-%d %H:%M:%SZ"), "the WebSub hub verified the subscription; news is pushed");
                ("active", Some(until), None, v.challenge?)
            }
            ("unsubscribe", "unsubscribing") => {
                let _ = self.store.forget_push_subscription(token).await;
                let mut known = lock(&self.known);
                if known.get(&sub.source).is_some_and(|k| k.token == token) {
                    known.remove(&sub.source);
                }
                tracing::info!(source = %sub.source, "unsubscribed from the WebSub hub");
                return v.challenge;
            }
            ("denied", _) => {
                // A hub's words are stored, logged and shown: bounded, and without control
                // characters.
                let reason = v
                    .reason
                    .as_deref()
                    .map_or("no reason given".into(), |r| printable(r.trim(), MAX_SAID));
                tracing::warn!(source = %sub.source, reason = %reason, "the WebSub hub denied the subscription");
                (
                    "failed",
                    None,
                    Some(format!("denied by the hub: {reason}")),
                    String::new(),
                )
            }
            _ => return None,
        };
        if let Err(e) = self
            .store
            .set_push_state(token, state, error.as_deref(), lease_until, false)
            .await
        {
            tracing::warn!(source = %sub.source, error = %e, "cannot record the hub's verification");
            return None;
        }
        let updated = PushSubscription {
            state: state.into(),
            error,
            lease_until: lease_until.map(|t| t.timestamp_millis()),
            ..sub
        };
        lock(&self.known).insert(updated.source.clone(), updated);
        self.wake.notify_one();
        Some(answer)
    }

    /// The subscription a `POST` on the callback `token` may deliver to: one that is
    /// pending or active. Asked before the body is read.
    pub(crate) async fn receiving(&self, token: &str) -> Option<PushSubscription> {
        let sub = self.store.push_subscription(token).await.ok().flatten()?;
        matches!(sub.state.as_str(), "active" | "pending").then_some(sub)
    }

    /// Whether a delivery to `sub` with `headers` and `body` is one to store.
    pub(crate) async fn delivery(
        &self,
        sub: PushSubscription,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Delivery {
        let token = sub.token.as_str();
        let signed = headers
            .get("x-hub-signature")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|h| signature::verify(sub.secret.as_bytes(), h, body));
        let topic = Url::parse(&sub.topic);
        match (signed, topic) {
            (true, Ok(topic)) => Delivery::Accept {
                source: sub.source,
                topic,
            },
            _ => {
                tracing::warn!(source = %sub.source, "a WebSub delivery without a valid signature was dropped");
                let _ = self.store.count_push(token, PushCount::Rejected).await;
                Delivery::Rejected
            }
        }
    }

    /// Keeps the subscriptions in line with the config until `shutdown`: renews each before
    /// its lease ends (when four fifths of it have passed), fails those the hub never
    /// verified, unsubscribes those whose source left the config or was disabled (or all, if
    /// `[websub].subscribe` was turned off).
    pub(crate) async fn run(self, mut shutdown: Shutdown) {
        let mut changes = self.live.subscribe();
        loop {
            let wait = self.maintain().await;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                Ok(()) = changes.changed() => {}
                _ = shutdown.recv() => return,
            }
        }
    }

    /// One round of [`Subscriber::run`]; says how long until the next is due.
    async fn maintain(&self) -> Duration {
        let subs = match self.store.push_subscriptions().await {
            Ok(subs) => subs,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the push subscriptions");
                return LOOK_EVERY;
            }
        };
        let config = self.live.current();
        let now = Utc::now();
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4);
        let mut wait = LOOK_EVERY;
        for sub in &subs {
            let source = config
                .sources
                .iter()
                .find(|s| s.name == sub.source && s.enabled)
                .filter(|_| config.websub.subscribe);
            let since_asked = now.timestamp_millis() - sub.requested_at;
            match (source, sub.state.as_str()) {
                (None, "pending" | "active") => {
                    let _ = self
                        .store
                        .set_push_state(&sub.token, "unsubscribing", None, None, true)
                        .await;
                    let leaving = PushSubscription {
                        state: "unsubscribing".into(),
                        ..sub.clone()
                    };
                    tracing::info!(source = %sub.source, hub = %sub.hub, "unsubscribing: the source is no longer polled");
                    self.ask(&config, &leaving, "unsubscribe").await;
                }
                (None, "failed") => {
                    let _ = self.store.forget_push_subscription(&sub.token).await;
                }
                (_, "unsubscribing") if since_asked > ms(UNSUBSCRIBE_WITHIN) => {
                    let _ = self.store.forget_push_subscription(&sub.token).await;
                }
                (Some(_), "pending") if since_asked > ms(VERIFY_WITHIN) => {
                    let error = "the hub did not verify the subscription within 5 minutes";
                    let _ = self
                        .store
                        .set_push_state(&sub.token, "failed", Some(error), None, false)
                        .await;
                }
                (Some(_), "active") if !sub.active_at(now) => {
                    let error = "the lease ended before the hub verified a renewal";
                    let _ = self
                        .store
                        .set_push_state(&sub.token, "failed", Some(error), None, false)
                        .await;
                }
                (Some(_), "active") => {
                    let Some(until) = sub.lease_until else {
                        continue;
                    };
                    let renew_at = sub.requested_at + (until - sub.requested_at) * 4 / 5;
                    if now.timestamp_millis() >= renew_at {
                        tracing::info!(source = %sub.source, "renewing the WebSub subscription before its lease ends");
                        let _ = self
                            .store
                            .set_push_state(
                                &sub.token,
                                "active",
                                None,
                                Some(from_millis(until)),
                                true,
                            )
                            .await;
                        self.ask(&config, sub, "subscribe").await;
                    } else {
                        let left = (renew_at - now.timestamp_millis()).max(0) as u64;
                        wait = wait.min(Duration::from_millis(left));
                    }
                }
                (Some(_), "pending") => {
                    let left = (ms(VERIFY_WITHIN) - since_asked).max(0) as u64;
                    wait = wait.min(Duration::from_millis(left));
                }
                _ => {}
            }
        }
        match self.store.push_subscriptions().await {
            Ok(subs) => {
                *lock(&self.known) = subs.into_iter().map(|s| (s.source.clone(), s)).collect();
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the push subscriptions"),
        }
        wait.max(Duration::from_millis(100))
    }
}

/// `<base_url>/websub/callback/TOKEN`.
pub(crate) fn callback_url(config: &Config, token: &str) -> Url {
    let base = &config.feed.base_url;
    base.join(&format!("websub/callback/{token}"))
        .unwrap_or_else(|_| base.clone())
}

impl Push for Subscriber {
    fn safety_net(&self, source: &str) -> Option<Duration> {
        Subscriber::safety_net(self, source)
    }

    fn polled<'a>(
        &'a self,
        source: &'a Source,
        found: Option<Discovered>,
        counts: Counts,
    ) -> futures_util::future::BoxFuture<'a, ()> {
        Box::pin(Subscriber::polled(self, source, found, counts))
    }
}
