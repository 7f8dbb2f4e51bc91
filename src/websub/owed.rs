//! What our hub owes each subscriber: only the latest change of its topic not yet delivered.
//! A subscriber whose callback fails keeps one body (shared with every other subscriber owed
//! the same change), however often the feed changes meanwhile; one task at most delivers to
//! it, and only [`SENDING`] deliveries are in flight at once over all subscribers. One that
//! keeps failing is paused, its state shown on `/status`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::publish::Paused;
use crate::store::HubSubscription;

/// Deliveries in flight at once, over all subscribers.
pub(super) const SENDING: usize = 16;

/// One change of a topic: its first page, as delivered.
#[derive(Debug)]
pub(super) struct Change {
    pub(super) body: String,
    pub(super) content_type: &'static str,
}

/// A subscriber: its topic and callback.
type Key = (String, String);

/// What one subscriber is owed, and how delivering to it went.
#[derive(Debug)]
struct Slot {
    /// The subscription as last seen (its lease may have been renewed since the task began).
    sub: HubSubscription,
    /// The newest change not yet delivered.
    latest: Option<Arc<Change>>,
    /// Whether a task is delivering to it.
    running: bool,
    /// Attempts that failed in a row.
    failures: u32,
    /// Why the last attempt failed.
    error: Option<String>,
    /// Until when it is paused, having failed every attempt of a change.
    paused_until: Option<DateTime<Utc>>,
}

/// Every subscriber's debt, and the places for deliveries in flight.
#[derive(Debug)]
pub(super) struct Owed {
    slots: Mutex<HashMap<Key, Slot>>,
    sending: Arc<Semaphore>,
}

impl Default for Owed {
    fn default() -> Owed {
        Owed {
            slots: Mutex::default(),
            sending: Arc::new(Semaphore::new(SENDING)),
        }
    }
}

fn key(sub: &HubSubscription) -> Key {
    (sub.topic.clone(), sub.callback.clone())
}

impl Owed {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that `sub` is owed `change` (instead of any older one it was owed); `true` if no
    /// task delivers to it, so that one must be started.
    pub(super) fn offer(&self, sub: &HubSubscription, change: Arc<Change>) -> bool {
        let mut slots = self.slots();
        let slot = slots.entry(key(sub)).or_insert_with(|| Slot {
            sub: sub.clone(),
            latest: None,
            running: false,
            failures: 0,
            error: None,
            paused_until: None,
        });
        slot.sub = sub.clone();
        slot.latest = Some(change);
        !std::mem::replace(&mut slot.running, true)
    }

    /// What to deliver to `sub` next, and the subscription as it now stands; `None` when it
    /// is owed nothing, and its task ends.
    pub(super) fn next(&self, sub: &HubSubscription) -> Option<(Arc<Change>, HubSubscription)> {
        let mut slots = self.slots();
        let slot = slots.get_mut(&key(sub))?;
        match slot.latest.take() {
            Some(change) => Some((change, slot.sub.clone())),
            None => {
                slot.running = false;
                None
            }
        }
    }

    /// A place for one delivery in flight.
    pub(super) async fn place(&self) -> Option<OwnedSemaphorePermit> {
        self.sending.clone().acquire_owned().await.ok()
    }

    /// `sub` took what it was sent.
    pub(super) fn delivered(&self, sub: &HubSubscription) {
        if let Some(slot) = self.slots().get_mut(&key(sub)) {
            (slot.failures, slot.error, slot.paused_until) = (0, None, None);
        }
    }

    /// Delivering `change` to `sub` failed (`why`): it is owed again, unless a newer change
    /// is. Says how many attempts have failed in a row.
    pub(super) fn failed(&self, sub: &HubSubscription, change: Arc<Change>, why: String) -> u32 {
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(&key(sub)) else {
            return 0;
        };
        slot.latest.get_or_insert(change);
        slot.failures += 1;
        slot.error = Some(why);
        slot.failures
    }

    /// Pauses `sub` until `until`.
    pub(super) fn pause(&self, sub: &HubSubscription, until: DateTime<Utc>) {
        if let Some(slot) = self.slots().get_mut(&key(sub)) {
            slot.paused_until = Some(until);
            slot.failures = 0;
        }
    }

    /// Forgets `sub`: its subscription ended.
    pub(super) fn forget(&self, sub: &HubSubscription) {
        self.slots().remove(&key(sub));
    }

    /// The subscribers paused now.
    pub(super) fn paused(&self, now: DateTime<Utc>) -> Vec<Paused> {
        let slots = self.slots();
        let mut paused: Vec<Paused> = slots
            .values()
            .filter_map(|s| {
                let until = s.paused_until.filter(|u| *u > now)?;
                let host = url::Url::parse(&s.sub.callback)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default();
                let error = s.error.clone().unwrap_or_default();
                Some(Paused { host, until, error })
            })
            .collect();
        paused.sort_by(|a, b| a.host.cmp(&b.host));
        paused
    }

    /// Tasks delivering, and the bytes of the distinct changes held for subscribers.
    pub(super) fn load(&self) -> (usize, usize) {
        let slots = self.slots();
        let tasks = slots.values().filter(|s| s.running).count();
        let mut seen = std::collections::HashSet::new();
        let bytes = slots
            .values()
            .filter_map(|s| s.latest.as_ref())
            .filter(|c| seen.insert(Arc::as_ptr(c)))
            .map(|c| c.body.len())
            .sum();
        (tasks, bytes)
    }
}
