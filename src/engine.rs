//! The daemon's engine: the timetable of every enabled source, the loop that starts each
//! batch of sources falling due together (a cycle) and takes their reports back, the pause
//! while the database cannot be written, and following the config as it is reloaded. One
//! poll is `poll`'s.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::stream::StreamExt;
use tokio::sync::mpsc;

use crate::config::{Config, Source};
use crate::poll::{Claim, Poller};
use crate::reload::Live;
use crate::report::{Outcome, PollReport};
use crate::schedule::Ended;
use crate::shutdown::Shutdown;
use crate::store::{from_millis, Store};

/// How long polling waits when the database cannot be written, before trying again.
const STORAGE_PAUSE: Duration = Duration::from_secs(10);

/// Polls every enabled source on its schedule.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    /// Polls one source.
    poller: Poller,
    /// The database: the timetable is read from it, and its writability decides pauses.
    store: Store,
    /// The config in force: the sources and their schedules.
    live: Live,
}

impl Engine {
    /// The engine that runs `poller` over the sources of `live`, recording in `store`.
    pub(crate) fn new(poller: Poller, store: Store, live: Live) -> Engine {
        Engine {
            poller,
            store,
            live,
        }
    }

    /// The daemon's engine: polls every enabled source whenever it is due, until `shutdown`,
    /// following the config in force as it is reloaded (see [`Engine::timetable`]).
    ///
    /// Sources due together form a cycle, logged as one summary line when it is done.
    /// A source is never polled twice at once.
    pub(crate) async fn run(self, mut shutdown: Shutdown) {
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
        // While nothing can be written, nothing was claimed.
        if self.store.unwritable().is_some() {
        } else if let Err(e) = self.store.release().await {
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
            let plan = config.plan_of(source);
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
        let states = match self.store.states_of(&names).await {
            Ok(states) => states,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the sources' state; skipping this cycle");
                HashMap::new()
            }
        };
        let mut polls =
            std::pin::pin!(self
                .poller
                .poll_all(&sources, states, &shutdown, Claim::Due));
        let (mut unchanged, mut changed, mut failed, mut held, mut new_stories) = (0, 0, 0, 0, 0);
        let mut elsewhere = 0;
        let mut next: Option<DateTime<Utc>> = None;
        while let Some((_, report)) = polls.next().await {
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
