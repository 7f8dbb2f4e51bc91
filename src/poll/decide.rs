//! The decision after a fetch, a pure function: from what came back, the source's schedule and
//! what is known of it, what to record, when it is next due, whether it is disabled (410 Gone),
//! and how long its host is to be left alone (429, Retry-After).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;

use super::reading::Read;
use super::PollError;
use crate::report::Outcome;
use crate::schedule::{Ended, Plan};
use crate::store::{Attempt, Next};

/// How long a host that answered 429 without a Retry-After is left alone.
const TOO_MANY_REQUESTS_HOLD: Duration = Duration::from_secs(60);

/// What a fetch and its reading came to.
pub(super) enum Got {
    /// 304: nothing changed.
    NotModified,
    /// A feed, read (boxed: the other variants are small).
    Read { status: u16, read: Box<Read> },
    /// The fetch or the reading failed; `status` is the server's, if it answered.
    Failed {
        status: Option<u16>,
        error: PollError,
    },
}

/// What the decision knows besides what came back.
pub(super) struct Known<'a> {
    /// The source's schedule.
    pub(super) plan: Plan<'a>,
    /// The time of the decision.
    pub(super) now: DateTime<Utc>,
    /// Failures since the last success, before this poll.
    pub(super) failures: i64,
    /// The feed's own minimum interval, as stored (for a 304, which carries no feed).
    pub(super) stored_min_interval: Option<Duration>,
    /// Whether the source follows the feed's and the server's hints on how often to poll.
    pub(super) respect_hints: bool,
    /// The server's `Cache-Control: max-age`.
    pub(super) max_age: Option<Duration>,
    /// How far apart polls must be at least because a hub pushes the feed.
    pub(super) safety_net: Option<Duration>,
    /// Entries read from one feed.
    pub(super) max_items: usize,
    /// Where permanent redirects led, if they did, or the feed the source's page advertises.
    pub(super) moved_to: Option<String>,
    /// Whether `moved_to` is the feed the page advertises.
    pub(super) found_on_page: bool,
}

/// What to do about a poll.
#[derive(Debug)]
pub(super) struct Decision {
    /// What to record.
    pub(super) attempt: Attempt,
    /// When it is next due, where it moved, why it is disabled.
    pub(super) next: Next,
    /// The HTTP status, if the server answered.
    pub(super) status: Option<u16>,
    /// What the poll came to, if not what the store will count.
    pub(super) outcome: Option<Outcome>,
    /// Until when every source on the host is to be left alone.
    pub(super) hold_until: Option<DateTime<Utc>>,
}

/// When a source held back until `until` (its host asked to wait) is due: spread past the
/// end of the hold, as after any tick.
pub(super) fn after_hold(plan: &Plan, until: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    until + chrono::Duration::from_std(plan.offset(now)).unwrap_or_default()
}

/// What a feed read held that was not read as written: a repair of its format (`repaired`
/// says why), entries past the first `max_items` (`items_cut` of them).
fn warning(repaired: Option<String>, items_cut: usize, max_items: usize) -> Option<String> {
    let cut = (items_cut > 0).then(|| {
        format!(
            "the feed lists {} entries; only its first {max_items} are read",
            items_cut + max_items,
        )
    });
    let repaired =
        repaired.map(|why| format!("the feed is malformed and was read after a repair ({why})"));
    [repaired, cut]
        .into_iter()
        .flatten()
        .reduce(|a, b| a + "; " + &b)
}

/// What to record after a fetch that came to `got`, knowing `known`.
pub(super) fn decide(got: Got, known: &Known) -> Decision {
    let hint = |feed_hint: Option<Duration>| {
        known
            .respect_hints
            .then(|| feed_hint.max(known.max_age))
            .flatten()
    };
    let success = |min_interval: Option<Duration>| {
        let hint = min_interval.max(known.safety_net);
        known.plan.next_due(Ended::Success { hint }, known.now)
    };
    let mut next = Next {
        moved_to: known.moved_to.clone(),
        found_on_page: known.moved_to.as_ref().map(|_| known.found_on_page),
        ..Next::default()
    };
    let (attempt, status, outcome, hold_until) = match got {
        Got::NotModified => {
            let min_interval = hint(known.stored_min_interval);
            next.due = Some(success(min_interval));
            let attempt = Attempt::NotModified { min_interval };
            (attempt, Some(304), Some(Outcome::NotModified), None)
        }
        Got::Read { status, read } => {
            let Read {
                feed,
                articles,
                discarded,
                validators,
                ..
            } = *read;
            let min_interval = hint(feed.min_interval);
            next.due = Some(success(min_interval));
            let warning = warning(feed.repaired, feed.items_cut, known.max_items);
            let attempt = Attempt::Fetched {
                status,
                validators,
                title: feed.title,
                site_url: feed.site_url,
                articles,
                discarded,
                min_interval,
                warning,
            };
            (attempt, Some(status), None, None)
        }
        Got::Failed { status, error } => {
            let retry_after = error.retry_after();
            if status == Some(StatusCode::GONE.as_u16()) {
                next.disabled = Some(format!(
                    "the feed is gone (410 Gone on {}): remove it from the config or give it a new url",
                    known.now.format("%Y-%m-%d")
                ));
            } else {
                let failures = u32::try_from(known.failures + 1).unwrap_or(u32::MAX);
                let ended = Ended::Failure {
                    failures,
                    retry_after,
                };
                next.due = Some(known.plan.next_due(ended, known.now));
            }
            let asked_to_wait =
                status == Some(StatusCode::TOO_MANY_REQUESTS.as_u16()) || retry_after.is_some();
            let hold_until = asked_to_wait.then(|| {
                let wait = retry_after
                    .unwrap_or(TOO_MANY_REQUESTS_HOLD)
                    .min(known.plan.backoff_cap);
                known.now + chrono::Duration::from_std(wait).unwrap_or_default()
            });
            let message = error.message();
            let attempt = Attempt::Failed {
                status,
                error: message.clone(),
            };
            (attempt, status, Some(Outcome::Failed(message)), hold_until)
        }
    };
    Decision {
        attempt,
        next,
        status,
        outcome,
        hold_until,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::FetchError;
    use crate::schedule::CronSchedule;
    use chrono::TimeZone;

    fn decided(got: Got, schedule: &CronSchedule, tweak: impl FnOnce(&mut Known)) -> Decision {
        let mut known = Known {
            plan: Plan {
                name: "outlet",
                schedule,
                tz: chrono_tz::UTC,
                backoff_cap: Duration::from_secs(3600),
            },
            now: Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 30).unwrap(),
            failures: 0,
            stored_min_interval: None,
            respect_hints: true,
            max_age: None,
            safety_net: None,
            max_items: 100,
            moved_to: None,
            found_on_page: false,
        };
        tweak(&mut known);
        decide(got, &known)
    }

    fn every_minute() -> CronSchedule {
        CronSchedule::parse("0 * * * * *").unwrap()
    }

    fn status(code: u16, retry_after: Option<Duration>) -> Got {
        Got::Failed {
            status: Some(code),
            error: PollError::Fetch(FetchError::Status {
                status: StatusCode::from_u16(code).unwrap(),
                retry_after,
            }),
        }
    }

    #[test]
    fn a_304_is_due_at_the_next_tick_or_the_stored_hint() {
        let schedule = every_minute();
        let d = decided(Got::NotModified, &schedule, |_| {});
        assert_eq!(d.status, Some(304));
        assert!(matches!(d.outcome, Some(Outcome::NotModified)));
        let due = d.next.due.unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 30).unwrap();
        assert!(
            due > now && due <= now + chrono::Duration::seconds(90),
            "{due}"
        );

        let hinted = decided(Got::NotModified, &schedule, |k| {
            k.stored_min_interval = Some(Duration::from_secs(3600));
        });
        assert!(hinted.next.due.unwrap() >= now + chrono::Duration::minutes(59));
        let ignored = decided(Got::NotModified, &schedule, |k| {
            k.stored_min_interval = Some(Duration::from_secs(3600));
            k.respect_hints = false;
        });
        assert_eq!(ignored.next.due, d.next.due);
    }

    #[test]
    fn gone_disables_and_is_not_due_again() {
        let d = decided(status(410, None), &every_minute(), |_| {});
        assert_eq!(d.next.due, None);
        assert!(d.next.disabled.unwrap().contains("410 Gone on 2026-01-05"));
        assert!(d.hold_until.is_none());
        assert!(matches!(
            d.attempt,
            Attempt::Failed {
                status: Some(410),
                ..
            }
        ));
    }

    #[test]
    fn too_many_requests_holds_the_host_within_the_cap() {
        let schedule = every_minute();
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 30).unwrap();
        let plain = decided(status(429, None), &schedule, |_| {});
        assert_eq!(plain.hold_until, Some(now + chrono::Duration::seconds(60)));
        let asked = decided(
            status(503, Some(Duration::from_secs(600))),
            &schedule,
            |_| {},
        );
        assert_eq!(asked.hold_until, Some(now + chrono::Duration::seconds(600)));
        assert!(asked.next.due.unwrap() >= now + chrono::Duration::seconds(600));
        let capped = decided(
            status(429, Some(Duration::from_secs(86_400))),
            &schedule,
            |_| {},
        );
        assert_eq!(capped.hold_until, Some(now + chrono::Duration::hours(1)));
        assert!(decided(status(500, None), &schedule, |_| {})
            .hold_until
            .is_none());
    }

    #[test]
    fn failures_back_off() {
        let schedule = every_minute();
        let first = decided(status(500, None), &schedule, |_| {});
        let fifth = decided(status(500, None), &schedule, |k| k.failures = 4);
        assert!(fifth.next.due.unwrap() > first.next.due.unwrap());
        match first.outcome {
            Some(Outcome::Failed(message)) => assert!(message.contains("500"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pushed_source_is_polled_no_more_often_than_its_safety_net() {
        let schedule = every_minute();
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 30).unwrap();
        let d = decided(Got::NotModified, &schedule, |k| {
            k.safety_net = Some(Duration::from_secs(6 * 3600));
        });
        assert!(
            d.next.due.unwrap() >= now + chrono::Duration::hours(6) - chrono::Duration::minutes(1)
        );
    }
}
