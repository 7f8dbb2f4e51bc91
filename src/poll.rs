//! One poll: one source run through the pipeline — `fetch`, `parse`, `dedup`, `store` — with
//! when it is next due stored in the same transaction, and a [`PollReport`] of what came of
//! it. When each source is polled is `engine`'s.
//!
//! Owns what happens around a fetch: the global limit on concurrent fetches and a limit per
//! host (so 500 feeds on one outlet's host never open 500 connections); holding back every
//! source on a host that answered 429 or sent Retry-After; disabling a source that answered
//! 410; remembering a permanent redirect; in the daemon, claiming each due source in the store
//! before fetching it, so that replicas sharing a database fetch it once. Every failure —
//! network, HTTP status, an unreadable or hostile feed, even a panic in the parser — becomes
//! that source's recorded error and a line in the report, never the caller's error, so one bad
//! source cannot stop the others.
//!
//! Cancellation: a shutdown drops a poll that is still waiting or fetching; one that has
//! reached the store finishes its (short) transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use tokio::sync::Semaphore;
use url::Url;

use crate::config::{Limits, Source};
use crate::dedup;
use crate::fetch::{FetchError, Fetched, Fetcher, Links, Validators};
use crate::metrics::Metrics;
use crate::parse;
use crate::reload::Live;
use crate::report::{log, Outcome, PollReport};
use crate::schedule::Ended;
use crate::shutdown::Shutdown;
use crate::store::{from_millis, Attempt, Counts, Next, SourceState, Store, StoreError};
use crate::websub::Subscriber;

mod many;

/// What a claim on a source lasts beyond twice the fetch timeout: time to store the result.
/// A replica that dies holding a claim delays that source by at most its lease.
const LEASE_MARGIN: Duration = Duration::from_secs(10);

/// How long a host that answered 429 without a Retry-After is left alone.
const TOO_MANY_REQUESTS_HOLD: Duration = Duration::from_secs(60);

/// Whether a poll first claims its source in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Polled now, whatever the store says (`feedmerge fetch`, which a user asked for).
    No,
    /// Polled only if this process can claim it: it is due in the store and no other process
    /// (replica) is polling it (the daemon).
    Due,
}

/// Polls one source at a time, under limits that all its polls share: used by the daemon's
/// engine and by `feedmerge fetch`.
#[derive(Debug, Clone)]
pub(crate) struct Poller {
    fetcher: Fetcher,
    store: Store,
    /// The config in force: schedules are read from it at each poll.
    live: Live,
    /// Counts every poll, for `/metrics`.
    metrics: Arc<Metrics>,
    /// How long a claim lasts: the fetch timeout, as long again to parse, and time to store
    /// the result.
    lease: Duration,
    /// How long a feed may take to parse: the fetch timeout.
    parse_limit: Duration,
    /// Entries read from one feed.
    max_items: usize,
    /// Fetches at once, on all hosts.
    global: Arc<Semaphore>,
    /// Feeds parsed at once: one per core.
    cores: Arc<Semaphore>,
    /// Fetches at once on one host.
    per_host: usize,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    /// Polls of a batch started at once (`poll_all`): a few per place under the global limit.
    started_at_once: usize,
    /// Hosts that asked to be left alone, and until when.
    holds: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
    /// Our subscriptions at sources' WebSub hubs (the daemon's; `None` for one-shot
    /// commands): told of the hubs polls find, and asked which sources push.
    push: Option<Subscriber>,
}

/// What a fetch and parse came to, before it is stored.
enum Got {
    /// 304: nothing changed.
    NotModified,
    /// A feed, parsed and its articles identified.
    Parsed {
        status: u16,
        validators: Validators,
        /// Boxed, as `push` is: the other variants are small.
        feed: Box<parse::ParsedFeed>,
        articles: Vec<dedup::Keyed>,
        /// The WebSub hub and topic the response named, if it named both.
        push: Option<Box<Discovered>>,
    },
    /// The fetch or the parse failed.
    Failed {
        status: Option<u16>,
        message: String,
        retry_after: Option<Duration>,
    },
}

impl Got {
    fn failed(status: Option<u16>, message: impl Into<String>) -> Got {
        Got::failed_after(status, message, None)
    }

    /// A failure, its message bounded: it is stored, logged and shown on every `/status`,
    /// and a hostile feed can make one of megabytes (a page naming 80,000 feeds).
    fn failed_after(
        status: Option<u16>,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Got {
        let mut message = message.into();
        if message.len() > MAX_ERROR {
            let mut end = MAX_ERROR;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str(" […]");
        }
        Got::Failed {
            status,
            message,
            retry_after,
        }
    }
}

/// A source's WebSub hub and topic, as its feed or its response named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Discovered {
    /// The first hub named (HTTP `Link` headers before the feed's own links, as WebSub says).
    pub(crate) hub: Url,
    /// The feed's own URL: `rel="self"`.
    pub(crate) topic: Url,
}

impl Discovered {
    /// The hub and topic of a response whose `Link` headers were `links` and whose feed is
    /// `feed`: the headers' if they name a hub, else the feed's.
    fn of(links: &Links, feed: &parse::ParsedFeed) -> Option<Discovered> {
        let hub = links.hubs.first().or(feed.hubs.first())?.clone();
        let topic = links.this.clone().or_else(|| feed.topic.clone())?;
        Some(Discovered { hub, topic })
    }
}

/// Bytes of a failure's message kept.
const MAX_ERROR: usize = 2_000;

/// Where `source` is fetched: where a permanent redirect led, if one did (in `state`).
fn url_of(source: &Source, state: Option<&SourceState>) -> Url {
    state
        .and_then(|s| s.effective_url.as_deref())
        .and_then(|u| Url::parse(u).ok())
        .unwrap_or_else(|| source.url.clone())
}

/// The host (and port) requests to `url` go to: the unit of politeness.
fn host_of(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(0)
    )
}

impl Poller {
    /// A poller within `limits` (fixed at start) for the sources of `live`.
    pub(crate) fn new(
        limits: &Limits,
        fetcher: Fetcher,
        store: Store,
        live: Live,
        metrics: Arc<Metrics>,
    ) -> Poller {
        Poller {
            metrics,
            lease: limits.timeout * 2 + LEASE_MARGIN,
            parse_limit: limits.timeout,
            max_items: limits.max_items,
            global: Arc::new(Semaphore::new(limits.concurrency)),
            cores: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(1, usize::from),
            )),
            per_host: limits.per_host,
            started_at_once: limits.concurrency.max(1) * many::STARTED_PER_PLACE,
            fetcher,
            store,
            live,
            hosts: Arc::default(),
            holds: Arc::default(),
            push: None,
        }
    }

    /// This poller, telling `push` of the hubs its polls find and polling the sources that
    /// push only as a safety net.
    pub(crate) fn with_push(self, push: Subscriber) -> Poller {
        Poller {
            push: Some(push),
            ..self
        }
    }

    /// How far apart polls of `name` must be at least because a hub pushes its feed.
    fn safety_net(&self, name: &str) -> Option<Duration> {
        self.push.as_ref().and_then(|p| p.safety_net(name))
    }

    fn host_limit(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .entry(host.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
    }

    fn held_until(&self, host: &str) -> Option<DateTime<Utc>> {
        let holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        holds.get(host).copied().filter(|t| *t > Utc::now())
    }

    /// Holds back every source on `url`'s host until `until`, as if it had just asked to wait.
    pub(crate) fn hold_host_of(&self, url: &Url, until: DateTime<Utc>) {
        self.hold(&host_of(url), until);
    }

    fn hold(&self, host: &str, until: DateTime<Utc>) {
        let mut holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        let entry = holds.entry(host.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Polls `source` once, now (if `claim` allows), recording the result and when it is next
    /// due, unless `shutdown` comes first; counts it in the metrics. `state` is its stored
    /// state, read beforehand for a whole batch of sources (one query, not one per source;
    /// and polls queue for their host in the order they are started).
    pub(crate) async fn poll(
        &self,
        source: &Source,
        state: Option<SourceState>,
        mut shutdown: Shutdown,
        claim: Claim,
    ) -> PollReport {
        let report = match state {
            // The store registers every configured source when it opens.
            None => {
                let mut report = PollReport::new(&source.name);
                report.outcome = Outcome::Failed("not registered in the database".into());
                log(&report);
                report
            }
            Some(state) => {
                let url = url_of(source, Some(&state));
                let host = host_of(&url);
                // Many polls wait here at once (`poll_all` starts a few per place), so the
                // wait holds little: the poll proper is made, boxed, once it has its places.
                let places = tokio::select! {
                    places = self.places(&host) => places,
                    _ = shutdown.recv() => return PollReport::new(&source.name),
                };
                let poll = self.poll_once(source, state, url, host, places, shutdown, claim);
                Box::pin(poll).await
            }
        };
        self.metrics.observe(&report);
        report
    }

    /// Polls `source` (whose stored state is `state`) at `url` on `host`, now that it has its
    /// places under the limits, or knows that the host asked to wait until then.
    #[allow(clippy::too_many_arguments)]
    async fn poll_once(
        &self,
        source: &Source,
        state: SourceState,
        url: Url,
        host: String,
        places: Result<Permits, DateTime<Utc>>,
        mut shutdown: Shutdown,
        claim: Claim,
    ) -> PollReport {
        let name = source.name.as_str();
        let mut report = PollReport::new(name);
        let validators = Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        };
        let config = self.live.current();
        let plan = config.plan_of(source);

        let fetched = match places {
            Err(until) => Err(NotFetched::Held(until)),
            Ok(permits) => tokio::select! {
                r = self.fetch_politely(source, &url, &validators, claim, permits) => r,
                _ = shutdown.recv() => return report,
            },
        };
        let now = Utc::now();
        let fetched = match fetched {
            Err(NotFetched::Elsewhere) => {
                report.outcome = Outcome::Elsewhere;
                report.next_due = Box::pin(self.look_again(name, now)).await;
                return report;
            }
            Err(NotFetched::Held(until)) => {
                // Spread the held sources past the end of the hold, as after any tick.
                let due = until + chrono::Duration::from_std(plan.offset(now)).unwrap_or_default();
                if let Err(e) = Box::pin(self.store.defer(name, due)).await {
                    tracing::error!(source = name, error = %e, "could not record the hold");
                }
                report.outcome = Outcome::Deferred(until);
                report.next_due = Some(due);
                return report;
            }
            Ok(f) => f,
        };
        // The places are held until the result is stored: parsed feeds waiting for the (one)
        // database writer are then bounded by the limits, instead of piling up in memory.
        let Attempted {
            permits: _permits,
            moved_to,
            max_age,
            bytes,
            fetch_time,
            result,
        } = fetched;
        report.bytes = bytes;
        report.fetch_time = Some(fetch_time);
        report.moved_to = moved_to.as_ref().map(Url::to_string);
        let hint = |feed_hint: Option<Duration>| {
            source
                .respect_feed_hints
                .then(|| feed_hint.max(max_age))
                .flatten()
        };
        let mut next = Next {
            moved_to: report.moved_to.clone(),
            ..Next::default()
        };
        let mut discovered = None;
        // What is recorded, and what the poll came to once it is (`None`: what was stored).
        let (attempt, outcome) = match result {
            Got::NotModified => {
                report.status = Some(304);
                let min_interval = hint(
                    state
                        .min_interval_secs
                        .map(|s| Duration::from_secs(s as u64)),
                );
                let hint = min_interval.max(self.safety_net(name));
                next.due = Some(plan.next_due(Ended::Success { hint }, now));
                let attempt = Attempt::NotModified { min_interval };
                (attempt, Some(Outcome::NotModified))
            }
            Got::Parsed {
                status,
                validators,
                feed,
                articles,
                push,
            } => {
                report.status = Some(status);
                discovered = push.map(|d| *d);
                let min_interval = hint(feed.min_interval);
                let hint = min_interval.max(self.safety_net(name));
                next.due = Some(plan.next_due(Ended::Success { hint }, now));
                let cut = (feed.items_cut > 0).then(|| {
                    format!(
                        "the feed lists {} entries; only its first {} are read",
                        feed.items_cut + self.max_items,
                        self.max_items
                    )
                });
                let repaired = feed.repaired.as_ref().map(|why| {
                    format!("the feed is malformed and was read after a repair ({why})")
                });
                let warning = [repaired, cut]
                    .into_iter()
                    .flatten()
                    .reduce(|a, b| a + "; " + &b);
                let attempt = Attempt::Fetched {
                    status,
                    validators,
                    title: feed.title,
                    site_url: feed.site_url,
                    articles,
                    min_interval,
                    warning,
                };
                (attempt, None)
            }
            Got::Failed {
                status,
                message,
                retry_after,
            } => {
                report.status = status;
                if status == Some(StatusCode::GONE.as_u16()) {
                    next.disabled = Some(format!(
                        "the feed is gone (410 Gone on {}): remove it from the config or give it a new url",
                        now.format("%Y-%m-%d")
                    ));
                } else {
                    let failures =
                        u32::try_from(state.consecutive_failures + 1).unwrap_or(u32::MAX);
                    let ended = Ended::Failure {
                        failures,
                        retry_after,
                    };
                    next.due = Some(plan.next_due(ended, now));
                }
                if status == Some(StatusCode::TOO_MANY_REQUESTS.as_u16()) || retry_after.is_some() {
                    let wait = retry_after
                        .unwrap_or(TOO_MANY_REQUESTS_HOLD)
                        .min(config.poll.backoff_cap);
                    self.hold(
                        &host,
                        now + chrono::Duration::from_std(wait).unwrap_or_default(),
                    );
                }
                let attempt = Attempt::Failed {
                    status,
                    error: message.clone(),
                };
                (attempt, Some(Outcome::Failed(message)))
            }
        };
        report.next_due = next.due;
        report.outcome = match self.store.record(name, attempt, next).await {
            Err(e) => {
                tracing::error!(source = name, error = %e, "could not record the poll");
                if e.is_unwritable() {
                    // Nothing was stored: due again as soon as polling resumes.
                    report.next_due = Some(now);
                }
                Outcome::Failed(format!("could not store the result: {e}"))
            }
            Ok(counts) => {
                if let Some(push) = &self.push {
                    push.polled(source, discovered, counts).await;
                }
                outcome.unwrap_or(Outcome::Stored(counts))
            }
        };
        log(&report);
        report
    }

    /// Stores what a source's hub pushed (`body`, of type `content_type`, the feed at
    /// `topic`) as a poll's fetch is stored: parsed under the same limits, counted on the
    /// subscription `token`.
    pub(crate) async fn pushed(
        &self,
        source: &str,
        token: &str,
        body: Vec<u8>,
        content_type: Option<String>,
        topic: Url,
    ) -> Result<Counts, String> {
        let fetched = Fetched {
            status: 200,
            url: topic,
            content_type,
            body,
            validators: Validators::default(),
            links: Links::default(),
        };
        let (_, articles, _, _) = self.parse(fetched).await?;
        let attempt = Attempt::Pushed {
            token: token.to_owned(),
            articles,
        };
        self.store
            .record(source, attempt, Next::default())
            .await
            .map_err(|e: StoreError| format!("could not store the pushed feed: {e}"))
    }

    /// When to try a source again that another replica polled or is polling: when the store
    /// says it is next due, or when that replica's claim runs out; `None` if it was disabled.
    async fn look_again(&self, name: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let soon = now + chrono::Duration::seconds(1);
        let state = match self.store.states_of(&[name]).await {
            Ok(mut states) => states.remove(name),
            Err(e) => {
                tracing::warn!(source = name, error = %e, "cannot read the source's state");
                None
            }
        };
        match state {
            Some(s) if s.disabled_reason.is_some() => None,
            Some(s) => Some(
                [s.next_due_at, s.lease_until]
                    .into_iter()
                    .flatten()
                    .map(from_millis)
                    .fold(soon, DateTime::max),
            ),
            None => Some(soon),
        }
    }

    /// Waits for a place under the per-host and global limits (host first, so waiting on a
    /// busy host holds no global place); `Err` with the time until which `host` asked to be
    /// left alone, if it did, before or while this waited.
    async fn places(&self, host: &str) -> Result<Permits, DateTime<Utc>> {
        if let Some(until) = self.held_until(host) {
            return Err(until);
        }
        // Neither semaphore is ever closed, so acquiring only waits (an error is impossible).
        let host_permit = self.host_limit(host).acquire_owned().await.ok();
        let global_permit = self.global.clone().acquire_owned().await.ok();
        let permits = Permits {
            _host: host_permit,
            _global: global_permit,
        };
        // A 429 may have come in while this poll waited.
        match self.held_until(host) {
            Some(until) => Err(until),
            None => Ok(permits),
        }
    }

    /// With its places, claims `source` if `claim` says to, then fetches `url` and parses,
    /// handing back the places.
    async fn fetch_politely(
        &self,
        source: &Source,
        url: &Url,
        validators: &Validators,
        claim: Claim,
        permits: Permits,
    ) -> Result<Attempted, NotFetched> {
        // Claimed only now, with the places: the lease covers the fetch and the store, not
        // the wait for a place.
        if claim == Claim::Due {
            let name = source.name.as_str();
            match Box::pin(self.store.claim(name, self.lease)).await {
                Ok(true) => {}
                Ok(false) => return Err(NotFetched::Elsewhere),
                // Fetched anyway: a database that cannot take a claim will not take the
                // result either, and that failure is recorded and reported as such.
                Err(e) => tracing::warn!(source = name, error = %e, "cannot claim the source"),
            }
        }
        let started = Instant::now();
        let fetched = self
            .fetcher
            .fetch(url, validators, source.allow_private)
            .await;
        let fetch_time = started.elapsed();
        let outcome = match fetched {
            Ok(outcome) => outcome,
            Err(e) => {
                let retry_after = match &e {
                    FetchError::Status { retry_after, .. } => *retry_after,
                    _ => None,
                };
                return Ok(Attempted {
                    permits,
                    moved_to: None,
                    max_age: None,
                    bytes: 0,
                    fetch_time,
                    result: Got::failed_after(e.status(), e.to_string(), retry_after),
                });
            }
        };
        let (moved_to, max_age) = (outcome.moved_to, outcome.max_age);
        let Some(fetched) = outcome.content else {
            return Ok(Attempted {
                permits,
                moved_to,
                max_age,
                bytes: 0,
                fetch_time,
                result: Got::NotModified,
            });
        };
        let status = fetched.status;
        let bytes = fetched.body.len() as u64;
        let result = match self.parse(fetched).await {
            Ok((feed, articles, validators, links)) => Got::Parsed {
                status,
                validators,
                push: Discovered::of(&links, &feed).map(Box::new),
                feed: Box::new(feed),
                articles,
            },
            Err(message) => Got::failed(Some(status), message),
        };
        Ok(Attempted {
            permits,
            moved_to,
            max_age,
            bytes,
            fetch_time,
            result,
        })
    }
}

impl Poller {
    /// Parses, sanitises and fingerprints a fetched (or pushed) feed: CPU work, and a hostile
    /// feed can make it long. So it runs off the async threads, one feed per core at a time
    /// (each holds a body and its parse trees, so no more are in memory than the cores work
    /// on), and is given the fetch's time limit once a core is free, so that no feed holds
    /// its places for longer. One that takes longer is abandoned: its thread finishes (every
    /// pass over a body is linear, so it does), holding its core until then, and its result
    /// is dropped. The writer receives only rows to store. `Err` says why in words.
    async fn parse(
        &self,
        fetched: Fetched,
    ) -> Result<(parse::ParsedFeed, Vec<dedup::Keyed>, Validators, Links), String> {
        let max_items = self.max_items;
        // The semaphore is never closed: acquiring only waits.
        let core = self.cores.clone().acquire_owned().await.ok();
        let parse = tokio::task::spawn_blocking(move || {
            let _core = core;
            crate::priority::parsing();
            let Fetched {
                body,
                content_type,
                url,
                validators,
                links,
                ..
            } = fetched;
            let mut feed = parse::parse_feed_upto(&body, content_type.as_deref(), &url, max_items)?;
            drop(body);
            let articles = std::mem::take(&mut feed.articles);
            let articles = dedup::identify(articles, feed.site_url.as_deref());
            Ok::<_, parse::ParseError>((feed, articles, validators, links))
        });
        match tokio::time::timeout(self.parse_limit, parse).await {
            Err(_) => Err(format!(
                "reading the feed took longer than {} s (the [poll].timeout); it is too large or too complex",
                self.parse_limit.as_secs()
            )),
            Ok(Ok(Ok(parsed))) => Ok(parsed),
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(e)) => Err(format!("the feed parser failed: {e}")),
        }
    }
}

/// A fetch that was made (or failed) under the limits, and what came of it.
struct Attempted {
    /// The places it holds until its result is stored.
    permits: Permits,
    /// Where permanent redirects led, if they did.
    moved_to: Option<Url>,
    /// The server's `Cache-Control: max-age`.
    max_age: Option<Duration>,
    /// Bytes of body received.
    bytes: u64,
    /// From sending the request to having the whole body.
    fetch_time: Duration,
    /// The parsed feed, a 304, or the failure.
    result: Got,
}

/// A poll's places under the per-host and global limits, released when dropped.
struct Permits {
    _host: Option<tokio::sync::OwnedSemaphorePermit>,
    _global: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Why a fetch was not made.
enum NotFetched {
    /// The host asked everyone to wait until then.
    Held(DateTime<Utc>),
    /// Another replica polled the source, or holds it.
    Elsewhere,
}
