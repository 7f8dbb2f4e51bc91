//! Stage 2 of the pipeline: *when* each source is polled.
//!
//! Owns cron expressions. Expressions mean exactly what they
//! mean in crontab(5), whatever the `cron` crate's own dialect says: five fields, minute
//! first (or six, with a seconds field in front), day of week 0-7 with Sunday as 0 or 7, and
//! when both day of month and day of week are restricted a day matches if *either* does.
//! The crate numbers weekdays 1-7 from Sunday and ANDs the two day fields, so each
//! expression is translated into one or two crate schedules whose union is the crontab one.
//!
//! It also decides where each source's next poll goes: the next tick plus a stable
//! per-source offset (the spread), no sooner than the feed asks (its hints), later and later
//! after failures (exponential backoff with jitter, Retry-After). These are pure functions of
//! the stored state and the clock; `poll` stores them and `engine` acts on them.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A parsed crontab expression.
#[derive(Clone)]
pub struct CronSchedule {
    expr: String,
    /// The crontab expression is the union of these (one, or two for the day-field OR rule).
    alternatives: Vec<cron::Schedule>,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.expr)
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

/// A cron expression that could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("invalid cron expression {expr:?}: {reason}")]
pub struct ScheduleError {
    expr: String,
    reason: String,
}

const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl CronSchedule {
    /// Parses a crontab(5) expression: five fields, or six with seconds first, or one of
    /// `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
    pub fn parse(expr: &str) -> Result<CronSchedule, ScheduleError> {
        let fail = |reason: String| ScheduleError {
            expr: expr.to_owned(),
            reason,
        };
        let expanded = match expr.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (sec, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(fail(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), \
                     or 6 with seconds first; found {n}"
                )))
            }
        };
        let (min, hour, dom, month, dow) = (rest[0], rest[1], rest[2], rest[3], rest[4]);
        for (field, name, lo, hi) in [
            (sec, "second", 0, 59),
            (min, "minute", 0, 59),
            (hour, "hour", 0, 23),
            (dom, "day of month", 1, 31),
            (month, "month", 1, 12),
        ] {
            check_range(field, name, lo, hi).map_err(fail)?;
        }
        let days = weekdays(dow).map_err(fail)?;
        // crontab(5): a field starting with '*' is unrestricted for the OR rule.
        let dom_restricted = !dom.starts_with('*');
        let dow_restricted = !dow.starts_with('*');
        // Both restricted: either may match (the union of two schedules). Otherwise both
        // must match, as the crate does it (a '*'-led field like "*/2" still constrains).
        let variants: Vec<(&str, String)> = if dom_restricted && dow_restricted {
            vec![(dom, "*".to_owned()), ("*", days)]
        } else {
            vec![(dom, days)]
        };
        let alternatives = variants
            .into_iter()
            .map(|(dom, dow)| {
                let crate_expr = format!("{sec} {min} {hour} {dom} {month} {dow}");
                // The crate's message describes its own dialect over several lines; its last
                // line is the part that makes sense for ours.
                cron::Schedule::from_str(&crate_expr).map_err(|e| {
                    let text = e.to_string();
                    fail(
                        text.lines()
                            .rev()
                            .find(|l| !l.trim().is_empty())
                            .unwrap_or(&text)
                            .trim()
                            .to_owned(),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CronSchedule {
            expr: expr.trim().to_owned(),
            alternatives,
        })
    }

    /// The expression as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The first time strictly after `after` at which the schedule fires, reading the
    /// expression in time zone `tz`. `None` only for expressions that never fire again.
    ///
    /// ```
    /// use feedmerge::CronSchedule;
    /// // Sundays at 09:00 (0 and 7 both mean Sunday, as in crontab), after Monday 13 May 2024.
    /// let monday = "2024-05-13T00:00:00Z".parse().unwrap();
    /// let next = CronSchedule::parse("0 9 * * 7").unwrap().next_after(monday, chrono_tz::UTC);
    /// assert_eq!(next.unwrap().to_rfc3339(), "2024-05-19T09:00:00+00:00");
    /// ```
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&tz);
        self.alternatives
            .iter()
            // cron 0.17 can yield times out of order on a DST fall-back day: look at a few.
            .flat_map(|s| s.after(&local).take(3))
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| *t > after)
            .min()
    }
}

/// Checks that every number in a crontab field lies in `lo..=hi` (names are left to the crate).
fn check_range(field: &str, name: &str, lo: u32, hi: u32) -> Result<(), String> {
    for item in field.split(',') {
        let (range, _step) = item.split_once('/').unwrap_or((item, ""));
        for token in range.split('-') {
            if let Ok(n) = token.parse::<u32>() {
                if n < lo || n > hi {
                    return Err(format!("{name} {n} is out of range {lo}-{hi}"));
                }
            }
        }
    }
    Ok(())
}

/// Translates a crontab day-of-week field into the cron crate's numbering (1 = Sunday).
fn weekdays(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok("*".into());
    }
    let value = |s: &str| -> Result<u32, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = DAY_NAMES.iter().position(|d| *d == lower) {
            return Ok(i as u32);
        }
        match s.parse::<u32>() {
            Ok(n) if n <= 7 => Ok(n),
            _ => Err(format!(
                "day of week {s:?} is not 0-7 (0 or 7 = Sunday) or a name like \"mon\""
            )),
        }
    };
    let mut days = BTreeSet::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 =
                    s.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("step {s:?} in day of week is not a positive number")
                    })?;
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (0, 7)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else if item.contains('/') {
            (value(range)?, 7)
        } else {
            let v = value(range)?;
            (v, v)
        };
        if lo > hi {
            return Err(format!("day-of-week range {range:?} runs backwards"));
        }
        days.extend((lo..=hi).step_by(step as usize).map(|d| d % 7));
    }
    let list: Vec<String> = days.iter().map(|d| (d + 1).to_string()).collect();
    Ok(list.join(","))
}

/// How far past each tick a source's polls are spread, at most: sources sharing a schedule
/// each get a stable offset within this window (or the interval, if shorter), so that 10,000
/// of them do not fire in the same second.
pub(crate) const SPREAD_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The longest interval a feed may ask for (`<ttl>`, `sy:updatePeriod`, `max-age`): a longer
/// one is read as this, so a mistaken hint cannot silence a source for weeks.
pub(crate) const MAX_HINT: Duration = Duration::from_secs(24 * 3600);

/// What the scheduler needs to know about one source to place its next poll.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// The source's name: its stable spread offset and jitter derive from it.
    pub name: &'a str,
    /// Its schedule.
    pub schedule: &'a CronSchedule,
    /// The zone the schedule is read in.
    pub tz: Tz,
    /// The longest wait after failures (and the longest Retry-After obeyed).
    pub backoff_cap: Duration,
}

/// How a poll ended, as far as timing is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ended {
    /// The feed was read (or was unchanged); `hint` is the shortest interval it asks for.
    Success {
        /// The feed's own minimum polling interval, if it gave one and the source honours it.
        hint: Option<Duration>,
    },
    /// The poll failed for the `failures`-th time in a row; the server may have said when to
    /// come back.
    Failure {
        /// Consecutive failures, this one included (at least 1).
        failures: u32,
        /// A `Retry-After` the server sent.
        retry_after: Option<Duration>,
    },
}

impl Plan<'_> {
    /// The time between two ticks of the schedule around `now` (at least a second): a
    /// schedule with a seconds field is spread, and polled, over its own interval.
    pub fn interval(&self, now: DateTime<Utc>) -> Duration {
        let first = self.schedule.next_after(now, self.tz);
        let second = first.and_then(|t| self.schedule.next_after(t, self.tz));
        match (first, second) {
            (Some(a), Some(b)) => (b - a)
                .to_std()
                .unwrap_or_default()
                .max(Duration::from_secs(1)),
            _ => SPREAD_WINDOW,
        }
    }

    /// This source's stable offset past each tick, within [`SPREAD_WINDOW`] or the interval.
    pub fn offset(&self, now: DateTime<Utc>) -> Duration {
        let window = self.interval(now).min(SPREAD_WINDOW).as_millis().max(1) as u64;
        Duration::from_millis(stable_hash(&[self.name.as_bytes()]) % window)
    }

    /// When the source is next due after a poll that ended at `now`.
    ///
    /// After a success: the first tick plus the source's offset that is at least half an
    /// interval away, but no sooner than the feed's hint (capped at [`MAX_HINT`]). After the n-th failure in a row: `now` plus
    /// `min(cap, interval × 2^(n-1))` stretched by a stable jitter of up to 25 % (still at most
    /// the cap), and no sooner than a `Retry-After` (also capped).
    pub fn next_due(&self, ended: Ended, now: DateTime<Utc>) -> DateTime<Utc> {
        match ended {
            Ended::Success { hint } => {
                let offset = chrono_duration(self.offset(now));
                // The first slot at least half an interval away: a poll in its slot lands one
                // interval later, and one made outside it (the first, at start) is not
                // followed by another seconds later because its slot came up.
                let half = chrono_duration(self.interval(now) / 2);
                let tick = self
                    .schedule
                    .next_after(now + half - offset, self.tz)
                    .map(|t| t + offset)
                    .unwrap_or(now + chrono_duration(SPREAD_WINDOW));
                let floor = now + chrono_duration(hint.unwrap_or_default().min(MAX_HINT));
                tick.max(floor)
            }
            Ended::Failure {
                failures,
                retry_after,
            } => {
                let now_plus = |d: Duration| now + chrono_duration(d);
                now_plus(self.backoff(failures, now)).max(now_plus(
                    retry_after.unwrap_or_default().min(self.backoff_cap),
                ))
            }
        }
    }

    /// The wait after the `failures`-th consecutive failure, jitter included.
    pub fn backoff(&self, failures: u32, now: DateTime<Utc>) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let base = self
            .interval(now)
            .saturating_mul(1 << doublings)
            .min(self.backoff_cap);
        // Jitter keeps sources that failed together (an outlet's outage) from retrying
        // together; stable per source and failure count, so it is reproducible.
        let jitter =
            (stable_hash(&[self.name.as_bytes(), &failures.to_le_bytes()]) % 1000) as f64 / 4000.0;
        base.mul_f64(1.0 + jitter).min(self.backoff_cap)
    }

    /// When a source is due when the daemon starts: at once if never polled; at its stored
    /// time if that is still ahead; otherwise (ticks missed while the daemon was down) at its
    /// offset from now, so that a restart after downtime is spread, not a burst.
    pub fn resume(&self, stored: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
        match stored {
            None => now,
            Some(due) if due > now => due,
            Some(_) => now + chrono_duration(self.offset(now)),
        }
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p);
    }
    let bytes = h.finalize();
    u64::from_le_bytes(bytes.as_bytes()[..8].try_into().unwrap_or_default())
}
