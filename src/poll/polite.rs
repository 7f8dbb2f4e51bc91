//! Politeness: how many fetches run at once, on all hosts and on each one, and which hosts
//! asked to be left alone (a 429, a Retry-After) and until when. Shared by every poll of one
//! poller, so that 500 feeds on one outlet's host never open 500 connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

/// The places fetches take, and the hosts on hold.
#[derive(Debug, Clone)]
pub(super) struct Politeness {
    /// Fetches at once, on all hosts.
    global: Arc<Semaphore>,
    /// Fetches at once on one host.
    per_host: usize,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    /// Hosts that asked to be left alone, and until when.
    holds: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
}

/// A poll's places under the per-host and global limits, released when dropped.
pub(super) struct Permits {
    _host: Option<OwnedSemaphorePermit>,
    _global: Option<OwnedSemaphorePermit>,
}

/// The host (and port) requests to `url` go to: the unit of politeness.
pub(super) fn host_of(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(0)
    )
}

impl Politeness {
    /// `concurrency` fetches at once in all, `per_host` on each host.
    pub(super) fn new(concurrency: usize, per_host: usize) -> Politeness {
        Politeness {
            global: Arc::new(Semaphore::new(concurrency)),
            per_host,
            hosts: Arc::default(),
            holds: Arc::default(),
        }
    }

    /// Waits for a place under the per-host and global limits (host first, so waiting on a
    /// busy host holds no global place); `Err` with the time until which `host` asked to be
    /// left alone, if it did, before or while this waited.
    pub(super) async fn places(&self, host: &str) -> Result<Permits, DateTime<Utc>> {
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

    /// Holds back every fetch from `host` until `until` (or a later hold already in force).
    pub(super) fn hold(&self, host: &str, until: DateTime<Utc>) {
        let mut holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        let entry = holds.entry(host.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_host_gets_no_place_until_its_hold_ends() {
        let polite = Politeness::new(4, 1);
        let until = Utc::now() + chrono::Duration::minutes(5);
        polite.hold("a.example:443", until);
        polite.hold("a.example:443", Utc::now() + chrono::Duration::minutes(1));
        assert_eq!(polite.places("a.example:443").await.err(), Some(until));
        assert!(polite.places("b.example:443").await.is_ok());
    }

    #[tokio::test]
    async fn one_host_waits_for_its_own_place_only() {
        let polite = Politeness::new(4, 1);
        let first = polite.places("a.example:443").await;
        assert!(first.is_ok());
        let second = polite.places("a.example:443");
        tokio::pin!(second);
        assert!(futures_util::FutureExt::now_or_never(&mut second).is_none());
        assert!(polite.places("b.example:443").await.is_ok());
        drop(first);
        assert!(second.await.is_ok());
    }
}
