//! One poll: one source run through the pipeline — `fetch`, `parse`, `dedup`, `store` — with
//! when it is next due stored in the same transaction, and a [`PollReport`] of what came of
//! it. When each source is polled is `engine`'s.
//!
//! A poll reads top-down as its steps, in [`Poller::poll`]: wait for places under the limits
//! (`polite`), claim the source in the store (in the daemon, so that replicas sharing a
//! database fetch it once), fetch, read the feed off the async threads (`reading`), decide
//! (`decide`: when it is next due, disabled on 410, its host held on 429 or Retry-After, a
//! permanent redirect remembered), record, and report. Every failure — network, HTTP status,
//! an unreadable or hostile feed, even a panic in the parser — becomes that source's recorded
//! error and a line in the report, never the caller's error, so one bad source cannot stop
//! the others. What polling knows of WebSub is `push`'s narrow interface.
//!
//! Cancellation: a shutdown drops a poll that is still waiting or fetching; one that has
//! reached the store finishes its (short) transaction.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use url::Url;

use crate::config::{Limits, Source, SourceHttp};
use crate::fetch::{Fetched, Fetcher, Links, Validators};
use crate::metrics::Metrics;
use crate::parse::ParseError;
use crate::reload::Live;
use crate::report::{log, Outcome, PollReport};
use crate::rules::Ruleset;
use crate::store::{from_millis, Attempt, Counts, Next, SourceState, Store};

mod decide;
mod error;
mod many;
mod polite;
mod preview;
mod push;
mod reading;

use decide::{decide, Decision, Got, Known};
pub(crate) use error::PollError;
use polite::{host_of, Permits, Politeness};
pub(crate) use push::{Discovered, Push};
use reading::Reader;

/// What a claim on a source lasts beyond twice the fetch timeout: time to store the result.
/// A replica that dies holding a claim delays that source by at most its lease.
const LEASE_MARGIN: Duration = Duration::from_secs(10);

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
    /// How long a claim lasts: the fetch timeout, as long again to read, and time to store
    /// the result.
    lease: Duration,
    /// Places for fetches, and hosts on hold.
    polite: Politeness,
    /// Reads feeds off the async threads.
    reader: Reader,
    /// Polls of a batch started at once (`poll_all`): a few per place under the global limit.
    started_at_once: usize,
    /// Our subscriptions at sources' WebSub hubs (the daemon's; `None` for one-shot
    /// commands): told of the hubs polls find, and asked which sources push.
    push: Option<Arc<dyn Push>>,
}

/// One source to poll, where, and how.
struct Job<'a> {
    source: &'a Source,
    /// Its stored state, read beforehand for a whole batch of sources.
    state: SourceState,
    /// Where it is fetched: where a permanent redirect led, if one did.
    url: Url,
    /// The host of `url`, the unit of politeness.
    host: String,
    claim: Claim,
}

/// A fetch that was made (or failed) under the limits, and what came of it.
struct Attempted {
    /// The places it holds until its result is stored: parsed feeds waiting for the (one)
    /// database writer are so bounded by the limits, instead of piling up in memory.
    permits: Permits,
    /// Where permanent redirects led, if they did; or the feed the source's page advertises.
    moved_to: Option<Url>,
    /// Whether `moved_to` is the feed the page advertises.
    found_on_page: bool,
    /// The server's `Cache-Control: max-age`.
    max_age: Option<Duration>,
    /// Bytes of body received.
    bytes: u64,
    /// From sending the request to having the whole body.
    fetch_time: Duration,
    /// The feed read, a 304, or the failure.
    got: Got,
    /// The WebSub hub and topic the response named, if it named both.
    discovered: Option<Discovered>,
}

/// Not fetched: another replica polled the source, or holds it.
struct Elsewhere;

/// Where `source` is fetched: where a permanent redirect led, if one did (in `state`).
fn url_of(source: &Source, state: Option<&SourceState>) -> Url {
    state
        .and_then(|s| s.effective_url.as_deref())
        .and_then(|u| Url::parse(u).ok())
        .unwrap_or_else(|| source.url.clone())
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
            polite: Politeness::new(limits.concurrency, limits.per_host),
            reader: Reader::new(limits.timeout, limits.max_items),
            started_at_once: limits.concurrency.max(1) * many::STARTED_PER_PLACE,
            fetcher,
            store,
            live,
            push: None,
        }
    }

    /// This poller, telling `push` of the hubs its polls find and polling the sources that
    /// push only as a safety net.
    pub(crate) fn with_push(self, push: Arc<dyn Push>) -> Poller {
        Poller {
            push: Some(push),
            ..self
        }
    }

    /// Holds back every source on `url`'s host until `until`, as if it had just asked to wait.
    pub(crate) fn hold_host_of(&self, url: &Url, until: DateTime<Utc>) {
        self.polite.hold(&host_of(url), until);
    }

    /// Polls `source` once, now (if `claim` allows), recording the result and when it is next
    /// due, unless `shutdown` comes first; counts it in the metrics. `state` is its stored
    /// state, read beforehand for a whole batch of sources (one query, not one per source;
    /// and polls queue for their host in the order they are started).
    pub(crate) async fn poll(
        &self,
        source: &Source,
        state: Option<SourceState>,
        mut shutdown: crate::shutdown::Shutdown,
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
                    places = self.polite.places(&host) => places,
                    _ = shutdown.recv() => return PollReport::new(&source.name),
                };
                let job = Job {
                    source,
                    state,
                    url,
                    host,
                    claim,
                };
                Box::pin(self.poll_once(job, places, shutdown)).await
            }
        };
        self.metrics.observe(&report);
        report
    }

    /// The steps of one poll of `job` that has its `places` under the limits, or knows that
    /// its host asked to wait until then: claim, fetch and read (unless `shutdown` comes
    /// first), decide, record.
    async fn poll_once(
        &self,
        job: Job<'_>,
        places: Result<Permits, DateTime<Utc>>,
        mut shutdown: crate::shutdown::Shutdown,
    ) -> PollReport {
        let permits = match places {
            Ok(permits) => permits,
            Err(until) => return self.defer(&job, until).await,
        };
        let attempted = tokio::select! {
            attempted = self.claim_and_fetch(&job, permits) => attempted,
            _ = shutdown.recv() => return PollReport::new(&job.source.name),
        };
        let Ok(attempted) = attempted else {
            return self.elsewhere(&job).await;
        };
        let Attempted {
            permits: _held_until_recorded,
            got,
            discovered,
            ..
        } = attempted;
        let config = self.live.current();
        let known = Known {
            plan: config.plan_of(job.source),
            now: Utc::now(),
            failures: job.state.consecutive_failures,
            stored_min_interval: job
                .state
                .min_interval_secs
                .map(|s| Duration::from_secs(s.max(0) as u64)),
            respect_hints: job.source.respect_feed_hints,
            max_age: attempted.max_age,
            safety_net: self
                .push
                .as_ref()
                .and_then(|p| p.safety_net(&job.source.name)),
            max_items: self.reader.max_items(),
            moved_to: attempted.moved_to.as_ref().map(Url::to_string),
            found_on_page: attempted.found_on_page,
        };
        let decision = decide(got, &known);
        if let Some(until) = decision.hold_until {
            self.polite.hold(&job.host, until);
        }
        let mut report = PollReport::new(&job.source.name);
        report.bytes = attempted.bytes;
        report.fetch_time = Some(attempted.fetch_time);
        report.moved_to = known.moved_to.clone().filter(|_| !known.found_on_page);
        self.record(job.source, decision, discovered, report, known.now)
            .await
    }

    /// Records what was `decision`ed of a poll of `source` made at `now`, tells WebSub what it
    /// `discovered`, and completes and logs its `report`.
    async fn record(
        &self,
        source: &Source,
        decision: Decision,
        discovered: Option<Discovered>,
        mut report: PollReport,
        now: DateTime<Utc>,
    ) -> PollReport {
        let name = source.name.as_str();
        let Decision {
            attempt,
            next,
            status,
            outcome,
            ..
        } = decision;
        report.status = status;
        report.next_due = next.due;
        report.outcome = match self.store.record(name, attempt, next).await {
            Err(e) => {
                tracing::error!(source = name, error = %e, "could not record the poll");
                if e.is_unwritable() {
                    // Nothing was stored: due again as soon as polling resumes.
                    report.next_due = Some(now);
                }
                Outcome::Failed(PollError::Store(e).message())
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

    /// Not fetched, the host of `job` having asked to wait until `until`: the source is due
    /// again past the end of the hold.
    async fn defer(&self, job: &Job<'_>, until: DateTime<Utc>) -> PollReport {
        let name = job.source.name.as_str();
        let now = Utc::now();
        let due = decide::after_hold(&self.live.current().plan_of(job.source), until, now);
        if let Err(e) = Box::pin(self.store.defer(name, due)).await {
            tracing::error!(source = name, error = %e, "could not record the hold");
        }
        let mut report = PollReport::new(name);
        report.outcome = Outcome::Deferred(until);
        report.next_due = Some(due);
        report
    }

    /// Not fetched, another replica having polled `job`'s source or polling it: due again
    /// when the store says it is, or when that replica's claim runs out; never, if it was
    /// disabled.
    async fn elsewhere(&self, job: &Job<'_>) -> PollReport {
        let name = job.source.name.as_str();
        let soon = Utc::now() + chrono::Duration::seconds(1);
        let state = match Box::pin(self.store.states_of(&[name])).await {
            Ok(mut states) => states.remove(name),
            Err(e) => {
                tracing::warn!(source = name, error = %e, "cannot read the source's state");
                None
            }
        };
        let mut report = PollReport::new(name);
        report.outcome = Outcome::Elsewhere;
        report.next_due = match state {
            Some(s) if s.disabled_reason.is_some() => None,
            Some(s) => Some(
                [s.next_due_at, s.lease_until]
                    .into_iter()
                    .flatten()
                    .map(from_millis)
                    .fold(soon, DateTime::max),
            ),
            None => Some(soon),
        };
        report
    }

    /// With its places, claims `job`'s source if it is to be claimed, then fetches it and
    /// reads what came, handing back the places.
    async fn claim_and_fetch(
        &self,
        job: &Job<'_>,
        permits: Permits,
    ) -> Result<Attempted, Elsewhere> {
        let name = job.source.name.as_str();
        // Claimed only now, with the places: the lease covers the fetch and the store, not
        // the wait for a place.
        if job.claim == Claim::Due {
            match Box::pin(self.store.claim(name, self.lease)).await {
                Ok(true) => {}
                Ok(false) => return Err(Elsewhere),
                // Fetched anyway: a database that cannot take a claim will not take the
                // result either, and that failure is recorded and reported as such.
                Err(e) => tracing::warn!(source = name, error = %e, "cannot claim the source"),
            }
        }
        let validators = Validators {
            etag: job.state.etag.clone(),
            last_modified: job.state.last_modified.clone(),
        };
        // A feed that moved permanently to another host is not sent the source's headers:
        // its credentials were given for the host in the config.
        // (Borrowed, not copied, on the usual path: every poll takes this.)
        let moved_elsewhere;
        let own = match job.url.host_str() == job.source.url.host_str() {
            true => &job.source.http,
            false => {
                moved_elsewhere = SourceHttp {
                    user_agent: job.source.http.user_agent.clone(),
                    ..SourceHttp::default()
                };
                &moved_elsewhere
            }
        };
        let started = Instant::now();
        let fetched = self
            .fetcher
            .fetch(&job.url, &validators, job.source.allow_private, own)
            .await;
        let mut attempted = Attempted {
            permits,
            moved_to: None,
            found_on_page: false,
            max_age: None,
            bytes: 0,
            fetch_time: started.elapsed(),
            got: Got::NotModified,
            discovered: None,
        };
        let outcome = match fetched {
            Ok(outcome) => outcome,
            Err(e) => {
                let status = e.status();
                attempted.got = Got::Failed {
                    status,
                    error: e.into(),
                };
                return Ok(attempted);
            }
        };
        (attempted.moved_to, attempted.max_age) = (outcome.moved_to, outcome.max_age);
        if let Some(fetched) = outcome.content {
            let status = fetched.status;
            attempted.bytes = fetched.body.len() as u64;
            let allow_private = job.source.allow_private;
            let listing = job.source.listing.as_ref();
            let rules = Ruleset::for_source(&self.live.current(), job.source);
            let mut read = self
                .reader
                .read(fetched, allow_private, listing, rules.clone())
                .await;
            // The config names a page advertising one feed: that feed is the source's.
            if let Err(PollError::Parse(ParseError::Html { feeds })) = &read {
                if let ([feed], true) = (&feeds[..], job.url == job.source.url) {
                    if let Some((found, at)) = self.advertised(feed, allow_private, rules).await {
                        (read, attempted.moved_to) = (Ok(found), Some(at));
                        attempted.found_on_page = true;
                    }
                }
            }
            attempted.got = match read {
                Ok(read) => {
                    attempted.discovered = Discovered::of(&read.links, &read.feed);
                    Got::Read {
                        status,
                        read: Box::new(read),
                    }
                }
                Err(error) => Got::Failed {
                    status: Some(status),
                    error,
                },
            };
        }
        Ok(attempted)
    }

    /// The feed at `feed` (the one a source's page advertises), read as a poll's, and its
    /// address; `None` if it cannot be fetched or read (the page's error then stands, naming
    /// it). Its address is not the config's, so an IP address in it is not taken as meant:
    /// the guard applies in full.
    async fn advertised(
        &self,
        feed: &str,
        allow_private: bool,
        rules: Ruleset,
    ) -> Option<(reading::Read, Url)> {
        let url = Url::parse(feed).ok()?;
        let fetched = self
            .fetcher
            .fetch_page(&url, allow_private, u64::MAX)
            .await
            .ok()?;
        let read = self
            .reader
            .read(fetched, allow_private, None, rules)
            .await
            .ok()?;
        Some((read, url))
    }

    /// Stores what a source's hub pushed (`body`, of type `content_type`, the feed at
    /// `topic`) as a poll's fetch is stored: read under the same limits, counted on the
    /// subscription `token`.
    pub(crate) async fn pushed(
        &self,
        source: &str,
        token: &str,
        body: Vec<u8>,
        content_type: Option<String>,
        topic: Url,
    ) -> Result<Counts, PollError> {
        let fetched = Fetched {
            status: 200,
            url: topic,
            content_type,
            body,
            validators: Validators::default(),
            links: Links::default(),
        };
        let config = self.live.current();
        let configured = config.sources.iter().find(|s| s.name == source);
        let allow_private = configured.is_some_and(|s| s.allow_private);
        let rules = configured.map_or_else(Ruleset::default, |s| Ruleset::for_source(&config, s));
        let read = self
            .reader
            .read(fetched, allow_private, None, rules)
            .await?;
        let attempt = Attempt::Pushed {
            token: token.to_owned(),
            articles: read.articles,
            discarded: read.discarded,
        };
        Ok(self.store.record(source, attempt, Next::default()).await?)
    }
}
