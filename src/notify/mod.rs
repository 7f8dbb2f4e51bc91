//! Alerts (`[[notify]]`), beside the hub after `publish`: each new story that an alert's
//! search query or view matches is sent to its target, once. When the store changes, every
//! alert looks at the stories stored since it last looked (a cursor in the store), and queues
//! a delivery for each match, its body made then (`message.rs`); then each alert's queue is
//! sent in order, one delivery at a time, through `fetch` (the address guard, the deadline,
//! no redirects), retried with backoff when it fails, given up after a day of failures. The
//! queue is the store's: a delivery is queued once however many replicas look, and claimed
//! by one of them at a time, so none is sent twice. Its own task: polling never waits for it.

mod message;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::config::{Alert, AlertMatch, Config};
use crate::fetch::{FetchError, Fetcher, Outgoing};
use crate::publish::{story_matches, story_text, Scope};
use crate::reload::Live;
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError, Story};

/// Stories an alert looks at a time: the bound of what one look holds.
const BATCH: u32 = 200;
/// How often the store is checked for new stories, and deliveries for being due.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long a replica holds a delivery it is sending: longer than any request may take.
const LEASE: Duration = Duration::from_secs(300);
/// The wait before the first retry; each next one waits twice as long, up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(2);
/// The longest wait between tries.
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// Tries before a delivery is given up (about a day of them, the last an hour apart).
const MAX_ATTEMPTS: i64 = 32;
/// A story published longer ago than this when it is first seen is not news: an outlet's
/// backlog, or an old entry it republished. No alert tells of it.
const RECENT: chrono::Duration = chrono::Duration::days(1);

/// The alerts' loop.
#[derive(Clone)]
pub(crate) struct Notifier {
    store: Store,
    fetcher: Fetcher,
    live: Live,
}

impl Notifier {
    pub(crate) fn new(store: Store, fetcher: Fetcher, live: Live) -> Notifier {
        Notifier {
            store,
            fetcher,
            live,
        }
    }

    /// Marks where each configured alert starts: the stories stored from now on. Called
    /// before polling starts, so that what the first polls store is told of.
    pub(crate) async fn start(&self) {
        for alert in &self.live.current().alerts {
            if let Err(e) = self.store.alert_cursor(&alert.name).await {
                tracing::warn!(alert = %alert.name, error = %e, "cannot read where the alert stands");
            }
        }
    }

    /// Looks for matches whenever the store changes, and sends what is due, until shutdown.
    pub(crate) async fn run(self, mut shutdown: Shutdown) {
        let mut seen = None;
        loop {
            let config = self.live.current();
            if !config.alerts.is_empty() {
                let generation = self.store.generation();
                if seen != Some(generation) {
                    if let Err(e) = self.look(&config).await {
                        tracing::warn!(error = %e, "cannot look for stories to alert about; trying again");
                    } else {
                        seen = Some(generation);
                    }
                }
                tokio::select! {
                    _ = self.send_due(&config) => {}
                    _ = shutdown.recv() => return,
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(CHECK_EVERY) => {}
                _ = shutdown.recv() => return,
            }
        }
    }

    /// Queues a delivery for every story stored since each alert last looked that it matches.
    async fn look(&self, config: &Config) -> Result<(), StoreError> {
        let categories: HashMap<&str, &[String]> = config
            .sources
            .iter()
            .map(|s| (s.name.as_str(), s.categories.as_slice()))
            .collect();
        for alert in &config.alerts {
            let mut after = self.store.alert_cursor(&alert.name).await?;
            loop {
                let stories = self.store.stories_after(after, BATCH).await?;
                let Some((last, _)) = stories.last() else {
                    break;
                };
                let looked_to = *last;
                let recent = Utc::now() - RECENT;
                let bodies: Vec<(i64, String)> = stories
                    .iter()
                    .filter(|(_, story)| story.published >= recent)
                    .filter(|(_, story)| matches(config, alert, story, &categories))
                    .map(|(id, story)| {
                        let url = config
                            .feed
                            .base_url
                            .join(&format!("entries/{}", story.entry_id))
                            .map(String::from)
                            .unwrap_or_default();
                        (*id, message::body(alert, &url, story))
                    })
                    .collect();
                self.store
                    .queue_alerts(&alert.name, &bodies, looked_to, Utc::now())
                    .await?;
                after = looked_to;
                if stories.len() < BATCH as usize {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Sends every alert's due deliveries, the alerts side by side, each in order.
    async fn send_due(&self, config: &Arc<Config>) {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..config.alerts.len() {
            let (this, config) = (self.clone(), config.clone());
            tasks.spawn(async move { this.drain(&config.alerts[i]).await });
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "cannot read or record alert deliveries; trying again");
            }
        }
    }

    /// Sends `alert`'s deliveries that are due, oldest first, until one must wait.
    async fn drain(&self, alert: &Alert) -> Result<(), StoreError> {
        loop {
            let now = Utc::now();
            let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
            let Some(delivery) = self.store.claim_delivery(&alert.name, now, until).await? else {
                return Ok(());
            };
            let sent = self.send(alert, &delivery.body).await;
            let outcome = match sent {
                Ok(()) => Ok(()),
                Err(why) => {
                    let tries = delivery.attempts + 1;
                    let next = (tries < MAX_ATTEMPTS).then(|| Utc::now() + backoff(tries));
                    match next {
                        Some(_) => {
                            tracing::info!(alert = %alert.name, error = %why, tries, "an alert's delivery failed; it will be tried again")
                        }
                        None => {
                            tracing::warn!(alert = %alert.name, error = %why, tries, "an alert's delivery failed every try and is given up")
                        }
                    }
                    Err((why, next))
                }
            };
            // A failed one is claimed again only when its retry is due; the next waits for
            // it, as deliveries go in order.
            self.store
                .settle_delivery(delivery.id, outcome, Utc::now())
                .await?;
        }
    }

    /// POSTs `body` to `alert`'s target once: `Err` says why it was not taken.
    async fn send(&self, alert: &Alert, body: &str) -> Result<(), String> {
        let answer = self
            .fetcher
            .send(Outgoing {
                method: reqwest::Method::POST,
                url: &alert.target.0,
                headers: message::headers(alert, body),
                body: Some(body.as_bytes().to_vec()),
                allow_private: alert.allow_private,
            })
            .await;
        match answer {
            Ok(a) if a.status.is_success() => Ok(()),
            Ok(a) => Err(format!("{} answered {}", alert.target.shown(), a.status)),
            Err(FetchError::Private {
                host,
                address,
                kind,
            }) => Err(format!(
                "refused: {host} is {address}, a {kind} address; set allow_private = true on \
                 the alert if it is meant to reach it"
            )),
            Err(e) => Err(format!("{}: {e}", alert.target.shown())),
        }
    }
}

/// Whether `story` is one `alert` tells of.
fn matches(
    config: &Config,
    alert: &Alert,
    story: &Story,
    categories: &HashMap<&str, &[String]>,
) -> bool {
    match &alert.matches {
        AlertMatch::Query(query) => {
            let text = story_text(story);
            let fresh = query.since.is_none_or(|since| {
                chrono::Duration::from_std(since).is_ok_and(|s| story.published >= Utc::now() - s)
            });
            fresh && story_matches(query, story, &text)
        }
        AlertMatch::View(name) => config
            .views
            .iter()
            .find(|v| &v.name == name)
            .is_some_and(|v| Scope::View(v).admits(story, categories)),
    }
}

/// The wait after the `tries`th failed try.
fn backoff(tries: i64) -> chrono::Duration {
    let exp = u32::try_from(tries.clamp(1, 20) - 1).unwrap_or(0);
    let doubled = FIRST_WAIT.saturating_mul(1u32 << exp);
    chrono::Duration::from_std(doubled.min(MAX_WAIT)).unwrap_or_default()
}
