//! Stage 2 of the pipeline: *when* each source is polled.
//!
//! Owns cron expressions and the per-source timer loop. Expressions mean exactly what they
//! mean in crontab(5), whatever the `cron` crate's own dialect says: five fields, minute
//! first (or six, with a seconds field in front), day of week 0-7 with Sunday as 0 or 7, and
//! when both day of month and day of week are restricted a day matches if *either* does.
//! The crate numbers weekdays 1-7 from Sunday and ANDs the two day fields, so each
//! expression is translated into one or two crate schedules whose union is the crontab one.
//!
//! The loop gives each source its own task, so two polls of one source never overlap; how
//! many polls run at once across sources is the poller's business (`poll`).

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::Source;
use crate::shutdown::Shutdown;

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
    /// use feedmerge::schedule::CronSchedule;
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

/// One source's place in the timetable.
pub struct Job {
    /// The source to poll.
    pub source: Arc<Source>,
    /// When it fires.
    pub schedule: CronSchedule,
    /// When it is first due: now for a source never polled or one whose tick was missed while
    /// the daemon was down, otherwise its next tick.
    pub first_due: DateTime<Utc>,
}

impl Job {
    /// Works out when a source is first due, given when it was last attempted.
    pub fn new(
        source: Arc<Source>,
        schedule: CronSchedule,
        last_attempt: Option<DateTime<Utc>>,
        tz: Tz,
    ) -> Job {
        let now = Utc::now();
        let first_due = match last_attempt.and_then(|t| schedule.next_after(t, tz)) {
            Some(next) if next > now => next,
            _ => now,
        };
        Job {
            source,
            schedule,
            first_due,
        }
    }
}

/// Runs every job on its schedule until `shutdown` fires, calling `poll` for each tick.
///
/// Each job has its own task, so a slow poll delays only its own source's next tick (a tick
/// that passes while the source is still being polled is skipped, not queued).
pub async fn run<F, Fut>(jobs: Vec<Job>, tz: Tz, shutdown: Shutdown, poll: F)
where
    F: Fn(Arc<Source>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let mut shutdown = shutdown.clone();
        let poll = poll.clone();
        tasks.spawn(async move {
            let mut due = Some(job.first_due);
            while let Some(at) = due {
                let wait = (at - Utc::now()).to_std().unwrap_or_default();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.recv() => return,
                }
                poll(job.source.clone()).await;
                if shutdown.is_shutdown() {
                    return;
                }
                due = job.schedule.next_after(Utc::now(), tz);
            }
            tracing::warn!(source = %job.source.name, "schedule never fires again; not polling");
        });
    }
    while tasks.join_next().await.is_some() {}
}
