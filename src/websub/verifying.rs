//! Our hub's verifications of intent in flight. Each new subscription being verified counts
//! in the limits beside the stored ones, so that requests arriving together cannot pass a
//! limit together; at most [`AT_ONCE`] verifications run at once, [`PER_HOST`] to one
//! callback host; and one client address may ask at most [`PER_MINUTE`] times a minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

/// Verifications running at once, in all.
pub(super) const AT_ONCE: usize = 64;
/// Verifications running at once to one callback host.
pub(super) const PER_HOST: i64 = 8;
/// Requests one client address may make a minute.
pub(super) const PER_MINUTE: u32 = 30;
/// Client addresses remembered for the rate limit, at most (the oldest windows go first).
const CLIENTS: usize = 10_000;

/// A refusal: its status and its reason, for the reader.
pub(super) type Refusal = (StatusCode, String);

#[derive(Debug, Default)]
struct Inner {
    /// New subscriptions being verified, by topic and by callback host.
    by_topic: HashMap<String, i64>,
    by_host: HashMap<String, i64>,
    /// Verifications running, new and renewals.
    running: usize,
    running_by_host: HashMap<String, i64>,
    /// Each client address's requests in its current minute.
    asked: HashMap<IpAddr, (Instant, u32)>,
}

/// The verifications in flight, and who asked how often.
#[derive(Debug, Default)]
pub(super) struct Verifying(Mutex<Inner>);

/// A verification's place, given back when it ends.
#[derive(Debug)]
pub(super) struct Ticket {
    verifying: Arc<Verifying>,
    topic: String,
    host: String,
    new: bool,
}

fn bump(map: &mut HashMap<String, i64>, key: &str, by: i64) {
    let count = map.entry(key.to_owned()).or_insert(0);
    *count += by;
    if *count <= 0 {
        map.remove(key);
    }
}

impl Verifying {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `client` may make another request now (and counts it).
    pub(super) fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let mut inner = self.inner();
        if inner.asked.len() >= CLIENTS {
            inner
                .asked
                .retain(|_, (since, _)| now.duration_since(*since) < Duration::from_secs(60));
        }
        let (since, count) = inner.asked.entry(client).or_insert((now, 0));
        if now.duration_since(*since) >= Duration::from_secs(60) {
            (*since, *count) = (now, 0);
        }
        *count += 1;
        *count <= PER_MINUTE
    }

    /// A place to verify a subscription of a callback on `host` to `topic`: a `new` one
    /// counts in the limits, with `stored` (the topic's and the host's live subscriptions)
    /// against `limits` (per topic, per host).
    pub(super) fn reserve(
        self: &Arc<Self>,
        topic: &str,
        host: &str,
        new: bool,
        stored: (i64, i64),
        limits: (i64, i64),
    ) -> Result<Ticket, Refusal> {
        let mut inner = self.inner();
        if inner.running >= AT_ONCE {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "this hub is verifying many subscriptions; try again in a minute".into(),
            ));
        }
        if inner.running_by_host.get(host).copied().unwrap_or(0) >= PER_HOST {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                format!("this hub verifies at most {PER_HOST} callbacks on one host at once"),
            ));
        }
        let on_topic = stored.0 + inner.by_topic.get(topic).copied().unwrap_or(0);
        let on_host = stored.1 + inner.by_host.get(host).copied().unwrap_or(0);
        if new && (on_topic >= limits.0 || on_host >= limits.1) {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "this hub takes at most {} subscriptions per topic and {} per callback host",
                    limits.0, limits.1
                ),
            ));
        }
        inner.running += 1;
        bump(&mut inner.running_by_host, host, 1);
        if new {
            bump(&mut inner.by_topic, topic, 1);
            bump(&mut inner.by_host, host, 1);
        }
        Ok(Ticket {
            verifying: self.clone(),
            topic: topic.to_owned(),
            host: host.to_owned(),
            new,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.verifying.inner();
        inner.running = inner.running.saturating_sub(1);
        bump(&mut inner.running_by_host, &self.host, -1);
        if self.new {
            bump(&mut inner.by_topic, &self.topic, -1);
            bump(&mut inner.by_host, &self.host, -1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_verifications_count_in_the_limits() {
        let v = Arc::new(Verifying::default());
        let limits = (1_000, 3);
        let tickets: Vec<Ticket> = (0..3)
            .map(|_| v.reserve("t", "h", true, (0, 0), limits).unwrap())
            .collect();
        assert_eq!(
            v.reserve("t", "h", true, (0, 0), limits).unwrap_err().0,
            429
        );
        // A renewal is not a new subscription, but still a verification running.
        assert!(v.reserve("t", "h", false, (0, 0), limits).is_ok());
        drop(tickets);
        assert!(v.reserve("t", "h", true, (2, 2), limits).is_ok());
    }

    #[test]
    fn a_client_is_limited_per_minute() {
        let v = Verifying::default();
        let (client, now) = (IpAddr::from([127, 0, 0, 2]), Instant::now());
        assert!((0..PER_MINUTE).all(|_| v.allow(client, now)));
        assert!(!v.allow(client, now));
        assert!(v.allow(IpAddr::from([127, 0, 0, 3]), now));
        assert!(v.allow(client, now + Duration::from_secs(61)));
    }
}
