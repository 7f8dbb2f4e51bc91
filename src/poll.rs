//! The polling engine: when each source is due, it runs it through the pipeline — `fetch`,
//! `parse`, `dedup`, `store` — and stores when it is next due, in the same transaction.
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

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::stream::{FuturesUnordered, StreamExt};
use reqwest::StatusCode;
use tokio::sync::{mpsc, Semaphore};
use url::Url;

use crate::config::{Config, Source};
use crate::dedup;
use crate::fetch::{FetchError, Fetcher, Validators};
use crate::metrics::Metrics;
use crate::parse;
use crate::reload::Live;
use crate::schedule::{Ended, Plan};
use crate::shutdown::Shutdown;
use crate::store::{from_millis, Attempt, Counts, Next, SourceState, Store};

/// How long polling waits when the database cannot be written, before trying again.
const STORAGE_PAUSE: Duration = Duration::from_secs(10);

/// What a claim on a source lasts beyond twice the fetch timeout: time to store the result.
/// A replica that dies holding a claim delays that source by at most its lease.
const LEASE_MARGIN: Duration = Duration::from_secs(10);

/// How long a host that answered 429 without a Retry-After is left alone.
const TOO_MANY_REQUESTS_HOLD: Duration = Duration::from_secs(60);

/// What polling one source came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// The source's name.
    pub source: String,
    /// The HTTP status, if the server answered.
    pub status: Option<u16>,
    /// The outcome.
    pub outcome: Outcome,
    /// When it is next due; `None` once it is disabled.
    pub next_due: Option<DateTime<Utc>>,
    /// Where a permanent redirect led, to be written into the config.
    pub moved_to: Option<String>,
    /// Bytes of feed body received (after content decoding).
    pub bytes: u64,
    /// How long the request took, from sending it to having the whole body, if one was sent.
    pub fetch_time: Option<Duration>,
}

/// The outcome of a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server said the feed has not changed.
    NotModified,
    /// The feed was read and its articles stored.
    Stored(Counts),
    /// Something failed; the message is also stored as the source's last error.
    Failed(String),
    /// Not fetched: its host asked everyone to wait until then.
    Deferred(DateTime<Utc>),
    /// Not fetched: another replica polled it, or is polling it.
    Elsewhere,
    /// Shutdown came first; nothing was recorded.
    Cancelled,
}

impl fmt::Display for PollReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status.map_or("-".to_owned(), |s| s.to_string());
        write!(f, "{:<28} {:>3}  ", self.source, status)?;
        match &self.outcome {
            Outcome::NotModified => f.write_str("not modified")?,
            Outcome::Stored(c) => write!(
                f,
                "{} new, {} updated, {} unchanged, {} merged",
                c.new, c.updated, c.unchanged, c.merged
            )?,
            Outcome::Failed(e) => write!(f, "error: {e}")?,
            Outcome::Deferred(until) => write!(
                f,
                "held back: its host asked to wait until {}",
                until.format("%H:%M:%SZ")
            )?,
            Outcome::Elsewhere => f.write_str("polled by another replica")?,
            Outcome::Cancelled => f.write_str("cancelled by shutdown")?,
        }
        if let Some(url) = &self.moved_to {
            write!(
                f,
                " (moved permanently to {url}: update its url in the config)"
            )?;
        }
        Ok(())
    }
}

/// Polls sources: shared by the daemon's engine and `feedmerge fetch`.
#[derive(Debug, Clone)]
pub struct Poller {
    fetcher: Fetcher,
    store: Store,
    /// The config in force: schedules are read from it at each poll.
    live: Live,
    /// Counts every poll, for `/metrics`.
    metrics: Arc<Metrics>,
    global: Arc<Semaphore>,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    /// Hosts that asked to be left alone, and until when.
    holds: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
}

/// What a fetch and parse came to, before it is stored.
enum Fetch {
    NotModified,
    Parsed {
        status: u16,
        validators: Validators,
        feed: parse::ParsedFeed,
        articles: Vec<dedup::Keyed>,
    },
}

struct Failure {
    status: Option<u16>,
    message: String,
    retry_after: Option<Duration>,
}

impl Failure {
    fn new(status: Option<u16>, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
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
    /// A poller for the sources of `config`.
    pub fn new(fetcher: Fetcher, store: Store, live: Live, metrics: Arc<Metrics>) -> Poller {
        Poller {
            metrics,
            global: Arc::new(Semaphore::new(live.current().poll.concurrency)),
            fetcher,
            store,
            live,
            hosts: Arc::default(),
            holds: Arc::default(),
        }
    }

    fn host_limit(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .entry(host.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.live.current().poll.per_host)))
            .clone()
    }

    fn held_until(&self, host: &str) -> Option<DateTime<Utc>> {
        let holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        holds.get(host).copied().filter(|t| *t > Utc::now())
    }

    fn hold(&self, host: &str, until: DateTime<Utc>) {
        let mut holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        let entry = holds.entry(host.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Polls `source` once, now, recording the result and when it is next due, unless
    /// `shutdown` comes first. `state` is its stored state, read beforehand for a whole batch
    /// of sources (one query, not one per source; and polls queue for their host in the
    /// order they are started).
    pub async fn poll(
        &self,
        source: &Source,
        state: Option<SourceState>,
        shutdown: Shutdown,
    ) -> PollReport {
        self.poll_with(source, state, shutdown, false).await
    }

    /// Polls `source` as [`Poller::poll`] does; with `claim`, only if this process can claim
    /// it (the daemon): it is due in the store, and no other process (replica) is polling it.
    async fn poll_with(
        &self,
        source: &Source,
        state: Option<SourceState>,
        shutdown: Shutdown,
        claim: bool,
    ) -> PollReport {
        let report = self.poll_once(source, state, shutdown, claim).await;
        self.metrics.observe(&report);
        report
    }

    async fn poll_once(
        &self,
        source: &Source,
        state: Option<SourceState>,
        mut shutdown: Shutdown,
        claim: bool,
    ) -> PollReport {
        let name = source.name.as_str();
        let mut report = PollReport {
            source: name.to_owned(),
            status: None,
            outcome: Outcome::Cancelled,
            next_due: None,
            moved_to: None,
            bytes: 0,
            fetch_time: None,
        };
        // The store registers every configured source when it opens.
        let Some(state) = state else {
            report.outcome = Outcome::Failed("not registered in the database".into());
            log(&report);
            return report;
        };
        let url = state
            .effective_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .unwrap_or_else(|| source.url.clone());
        let host = host_of(&url);
        let validators = Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        };
        let config = self.live.current();
        let plan = plan(&config, source);

        let claim = claim.then_some(name);
        let fetched = tokio::select! {
            r = self.fetch_politely(&url, &host, &validators, source.allow_private, claim) => r,
            _ = shutdown.recv() => return report,
        };
        let now = Utc::now();
        let fetched = match fetched {
            Err(NotFetched::Elsewhere) => {
                report.outcome = Outcome::Elsewhere;
                report.next_due = self.look_again(name, now).await;
                return report;
            }
            Err(NotFetched::Held(until)) => {
                // Spread the held sources past the end of the hold, as after any tick.
                let due = until + chrono::Duration::from_std(plan.offset(now)).unwrap_or_default();
                if let Err(e) = self.store.defer(name, due).await {
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
            moved_to: report.moved_to.as_deref(),
            ..Next::default()
        };
        let disabled;
        let recorded = match &result {
            Ok(Fetch::NotModified) => {
                report.status = Some(304);
                let min_interval = hint(
                    state
                        .min_interval_secs
                        .map(|s| Duration::from_secs(s as u64)),
                );
                next.due = Some(plan.next_due(Ended::Success { hint: min_interval }, now));
                self.store
                    .record(name, Attempt::NotModified { min_interval }, next)
                    .await
            }
            Ok(Fetch::Parsed {
                status,
                validators,
                feed,
                articles,
            }) => {
                report.status = Some(*status);
                let min_interval = hint(feed.min_interval);
                next.due = Some(plan.next_due(Ended::Success { hint: min_interval }, now));
                let attempt = Attempt::Fetched {
                    status: *status,
                    validators,
                    title: feed.title.as_deref(),
                    site_url: feed.site_url.as_deref(),
                    articles,
                    min_interval,
                };
                self.store.record(name, attempt, next).await
            }
            Err(failure) => {
                report.status = failure.status;
                if failure.status == Some(StatusCode::GONE.as_u16()) {
                    disabled = format!(
                        "the feed is gone (410 Gone on {}): remove it from the config or give it a new url",
                        now.format("%Y-%m-%d")
                    );
                    next.disabled = Some(&disabled);
                } else {
                    let failures =
                        u32::try_from(state.consecutive_failures + 1).unwrap_or(u32::MAX);
                    let ended = Ended::Failure {
                        failures,
                        retry_after: failure.retry_after,
                    };
                    next.due = Some(plan.next_due(ended, now));
                }
                if failure.status == Some(StatusCode::TOO_MANY_REQUESTS.as_u16())
                    || failure.retry_after.is_some()
                {
                    let wait = failure
                        .retry_after
                        .unwrap_or(TOO_MANY_REQUESTS_HOLD)
                        .min(config.poll.backoff_cap);
                    self.hold(
                        &host,
                        now + chrono::Duration::from_std(wait).unwrap_or_default(),
                    );
                }
                let error = failure.message.as_str();
                self.store
                    .record(
                        name,
                        Attempt::Failed {
                            status: failure.status,
                            error,
                        },
                        next,
                    )
                    .await
            }
        };
        report.next_due = next.due;
        report.outcome = match (result, recorded) {
            (_, Err(e)) => {
                tracing::error!(source = name, error = %e, "could not record the poll");
                if e.is_unwritable() {
                    // Nothing was stored: due again as soon as polling resumes.
                    report.next_due = Some(now);
                }
                Outcome::Failed(format!("could not store the result: {e}"))
            }
            (Ok(Fetch::NotModified), Ok(_)) => Outcome::NotModified,
            (Ok(Fetch::Parsed { .. }), Ok(counts)) => Outcome::Stored(counts),
            (Err(failure), Ok(_)) => Outcome::Failed(failure.message),
        };
        log(&report);
        report
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
    /// busy host holds no global place), claims the source named `claim` if one is, then
    /// fetches and parses, handing back the places.
    async fn fetch_politely(
        &self,
        url: &Url,
        host: &str,
        validators: &Validators,
        allow_private: bool,
        claim: Option<&str>,
    ) -> Result<Attempted, NotFetched> {
        if let Some(until) = self.held_until(host) {
            return Err(NotFetched::Held(until));
        }
        // Neither semaphore is ever closed, so acquiring only waits (an error is impossible).
        let host_permit = self.host_limit(host).acquire_owned().await.ok();
        let global_permit = self.global.clone().acquire_owned().await.ok();
        let permits = Permits {
            _host: host_permit,
            _global: global_permit,
        };
        // A 429 may have come in while this poll waited.
        if let Some(until) = self.held_until(host) {
            return Err(NotFetched::Held(until));
        }
        // Claimed only now, with the places: the lease covers the fetch and the store, not
        // the wait for a place.
        if let Some(name) = claim {
            let lease = self.live.current().poll.timeout * 2 + LEASE_MARGIN;
            match self.store.claim(name, lease).await {
                Ok(true) => {}
                Ok(false) => return Err(NotFetched::Elsewhere),
                // Fetched anyway: a database that cannot take a claim will not take the
                // result either, and that failure is recorded and reported as such.
                Err(e) => tracing::warn!(source = name, error = %e, "cannot claim the source"),
            }
        }
        let started = Instant::now();
        let fetched = self.fetcher.fetch(url, validators, allow_private).await;
        let fetch_time = started.elapsed();
        let outcome = match fetched {
            Ok(outcome) => outcome,
            Err(e) => {
                let retry_after = match &e {
                    FetchError::Status { retry_after, .. } => *retry_after,
                    _ => None,
                };
                let failure = Failure {
                    retry_after,
                    ..Failure::new(e.status(), e.to_string())
                };
                return Ok(Attempted {
                    permits,
                    moved_to: None,
                    max_age: None,
                    bytes: 0,
                    fetch_time,
                    result: Err(failure),
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
                result: Ok(Fetch::NotModified),
            });
        };
        let status = fetched.status;
        let bytes = fetched.body.len() as u64;
        // Parsing is CPU work (and a hostile feed can make it long): off the async threads.
        let parsed = tokio::task::spawn_blocking(move || {
            let feed =
                parse::parse_feed(&fetched.body, fetched.content_type.as_deref(), &fetched.url)?;
            Ok::<_, parse::ParseError>((feed, fetched.validators))
        })
        .await;
        let result = match parsed {
            Ok(Ok((mut feed, validators))) => {
                let articles = dedup::identify(std::mem::take(&mut feed.articles));
                Ok(Fetch::Parsed {
                    status,
                    validators,
                    feed,
                    articles,
                })
            }
            Ok(Err(e)) => Err(Failure::new(Some(status), e.to_string())),
            Err(e) => Err(Failure::new(
                Some(status),
                format!("the feed parser failed: {e}"),
            )),
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

    /// The daemon's engine: polls every enabled source whenever it is due, until `shutdown`,
    /// following the config in force as it is reloaded (see [`Poller::timetable`]).
    ///
    /// Sources due together form a cycle, logged as one summary line when it is done.
    /// A source is never polled twice at once.
    pub async fn run(&self, mut shutdown: Shutdown) {
        let mut changes = self.live.subscribe();
        let mut config = changes.borrow_and_update().clone();
        let mut due: HashMap<String, (Arc<Source>, DateTime<Utc>)> = HashMap::new();
        self.timetable(&mut due, None, &config).await;
        let (done_tx, mut done) = mpsc::unbounded_channel::<PollReport>();
        let mut in_flight: HashSet<String> = HashSet::new();
        // While the database cannot be written: until when polling waits (see `unwritable`).
        let mut paused: Option<DateTime<Utc>> = None;
        let mut cycles = tokio::task::JoinSet::new();
        loop {
            paused = self.unwritable(paused).await;
            let now = Utc::now();
            let ready: Vec<Arc<Source>> = due
                .values()
                .filter(|(s, at)| *at <= now && !in_flight.contains(&s.name))
                .filter(|_| paused.is_none())
                .map(|(s, _)| s.clone())
                .collect();
            if !ready.is_empty() {
                in_flight.extend(ready.iter().map(|s| s.name.clone()));
                cycles.spawn(self.clone().cycle(ready, shutdown.clone(), done_tx.clone()));
            }
            let wake = due
                .values()
                .filter(|(s, _)| !in_flight.contains(&s.name))
                .map(|(_, at)| *at)
                .min();
            let wake = match (wake, paused) {
                (Some(at), Some(until)) => Some(at.max(until)),
                (at, until) => at.or(until),
            };
            let sleep = wake.map_or(Duration::from_secs(3600), |at| {
                (at - now).to_std().unwrap_or_default()
            });
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                Some(report) = done.recv() => {
                    // Take every poll that has finished before looking at the timetable again.
                    let mut report = Some(report);
                    while let Some(r) = report {
                        in_flight.remove(&r.source);
                        match r.next_due {
                            Some(at) => { if let Some(entry) = due.get_mut(&r.source) { entry.1 = at; } }
                            None => { due.remove(&r.source); }
                        }
                        report = done.try_recv().ok();
                    }
                }
                Ok(()) = changes.changed() => {
                    let new = changes.borrow_and_update().clone();
                    self.timetable(&mut due, Some(&config), &new).await;
                    config = new;
                }
                _ = shutdown.recv() => break,
            }
        }
        // The cycles see the same shutdown and cancel their fetches; wait for them to finish
        // their transactions, then free what they claimed and did not record.
        while cycles.join_next().await.is_some() {}
        if let Err(e) = self.store.release().await {
            tracing::warn!(error = %e, "cannot free this replica's claims; they expire by themselves");
        }
    }

    /// Brings the timetable `due` in line with `config` (which replaced `old`, if any).
    ///
    /// At start, and for a source added by a reload, due times come from the store, so a
    /// restarted daemon resumes where it was: sources never polled are due at once, those whose
    /// time is ahead wait for it, and those whose time passed while it was down are spread over
    /// their offsets instead of all firing at once. A source removed or disabled leaves the
    /// timetable (a poll in flight finishes). A source whose schedule changed is due at the
    /// new schedule's next tick, which is stored, so a restart keeps it.
    async fn timetable(
        &self,
        due: &mut HashMap<String, (Arc<Source>, DateTime<Utc>)>,
        old: Option<&Config>,
        config: &Config,
    ) {
        let states = match self.store.source_states().await {
            Ok(states) => states,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the sources' state; the timetable is unchanged");
                return;
            }
        };
        let now = Utc::now();
        let mut next: HashMap<String, (Arc<Source>, DateTime<Utc>)> = HashMap::new();
        for source in config.sources.iter().filter(|s| s.enabled) {
            let state = states.get(&source.name);
            if let Some(reason) = state.and_then(|s| s.disabled_reason.as_deref()) {
                tracing::warn!(source = %source.name, reason, "disabled; not polling");
                continue;
            }
            let plan = plan(config, source);
            let before = old.and_then(|o| {
                let s = o.sources.iter().find(|s| s.name == source.name)?;
                Some((o.schedule_of(s), due.get(&source.name)?.1))
            });
            let at = match before {
                Some((schedule, at)) if schedule == config.schedule_of(source) => at,
                Some(_) => {
                    let at = plan.next_due(Ended::Success { hint: None }, now);
                    tracing::info!(source = %source.name, next_due = %at.format("%Y-%m-%d %H:%M:%SZ"), "schedule changed");
                    if let Err(e) = self.store.defer(&source.name, at).await {
                        tracing::warn!(source = %source.name, error = %e, "cannot store the new due time");
                    }
                    at
                }
                None => plan.resume(state.and_then(|s| s.next_due_at).map(from_millis), now),
            };
            next.insert(source.name.clone(), (Arc::new(source.clone()), at));
        }
        if old.is_some() {
            for name in due.keys().filter(|n| !next.contains_key(*n)) {
                tracing::info!(source = %name, "no longer polled");
            }
        }
        *due = next;
    }

    /// While the database cannot be written (a full disk, a read-only file), polling is
    /// pointless: every result would be lost, and every outlet asked again for nothing. So
    /// polling stops, the HTTP server goes on serving what is stored, and every
    /// [`STORAGE_PAUSE`] one small write tests the database; when it succeeds, polling resumes
    /// where it was (a poll whose result was lost is due at once). Given the pause so far,
    /// returns the pause from now on; says so in the log when that changes.
    async fn unwritable(&self, paused: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let now = Utc::now();
        let again = now + chrono::Duration::from_std(STORAGE_PAUSE).unwrap_or_default();
        match paused {
            Some(until) if until > now => Some(until),
            Some(_) => match self.store.probe_write().await {
                // Sources added while it could not be written are registered first. If that
                // write fails too (on a connection still read-only), polling stays paused:
                // resuming would fail those sources' polls and put them in backoff.
                Ok(()) => match self.store.sync_sources(&self.live.current().sources).await {
                    Err(e) if e.is_unwritable() => Some(again),
                    registered => {
                        if let Err(e) = registered {
                            tracing::error!(error = %e, "cannot register the sources");
                        }
                        tracing::info!("the database can be written again; polling resumed");
                        None
                    }
                },
                Err(_) => Some(again),
            },
            None => {
                let error = self.store.unwritable()?;
                tracing::error!(
                    %error,
                    retry_in_seconds = STORAGE_PAUSE.as_secs(),
                    "the database cannot be written; polling paused, serving goes on"
                );
                Some(again)
            }
        }
    }

    /// Polls a batch of sources that fell due together, reporting each as it finishes and the
    /// whole as one log line.
    async fn cycle(
        self,
        sources: Vec<Arc<Source>>,
        shutdown: Shutdown,
        done: mpsc::UnboundedSender<PollReport>,
    ) {
        let started = Instant::now();
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        let mut states = match self.store.states_of(&names).await {
            Ok(states) => states,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the sources' state; skipping this cycle");
                HashMap::new()
            }
        };
        let mut polls: FuturesUnordered<_> = sources
            .iter()
            .map(|s| self.poll_with(s, states.remove(&s.name), shutdown.clone(), true))
            .collect();
        let (mut unchanged, mut changed, mut failed, mut held, mut new_stories) = (0, 0, 0, 0, 0);
        let mut elsewhere = 0;
        let mut next: Option<DateTime<Utc>> = None;
        while let Some(report) = polls.next().await {
            match &report.outcome {
                Outcome::NotModified => unchanged += 1,
                Outcome::Stored(c) if c.new + c.updated + c.merged > 0 => {
                    changed += 1;
                    new_stories += c.new;
                }
                Outcome::Stored(_) => unchanged += 1,
                Outcome::Failed(_) => failed += 1,
                Outcome::Deferred(_) => held += 1,
                Outcome::Elsewhere => elsewhere += 1,
                Outcome::Cancelled => {}
            }
            if let Some(at) = report.next_due {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
            // The engine is gone only when shutting down; nothing to tell it then.
            let _ = done.send(report);
        }
        if shutdown.is_shutdown() {
            return;
        }
        tracing::info!(
            sources = sources.len(),
            seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
            unchanged,
            changed,
            new_stories,
            failed,
            held,
            elsewhere,
            next_due = next.map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string()),
            "cycle done"
        );
    }
}

/// How `config` schedules `source`.
fn plan<'a>(config: &'a Config, source: &'a Source) -> Plan<'a> {
    Plan {
        name: &source.name,
        schedule: config.schedule_of(source),
        tz: config.poll.timezone,
        backoff_cap: config.poll.backoff_cap,
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
    result: Result<Fetch, Failure>,
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

fn log(report: &PollReport) {
    let name = report.source.as_str();
    let status = report.status;
    let next_due = report
        .next_due
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string());
    match &report.outcome {
        Outcome::Failed(error) => {
            tracing::warn!(source = name, status, %error, next_due, "poll failed")
        }
        Outcome::Stored(c) => tracing::debug!(
            source = name,
            status,
            new = c.new,
            updated = c.updated,
            unchanged = c.unchanged,
            merged = c.merged,
            next_due,
            "polled"
        ),
        _ => tracing::debug!(source = name, status, next_due, "polled"),
    }
    if let Some(url) = &report.moved_to {
        tracing::warn!(source = name, %url, "moved permanently: update its url in the config");
    }
}
