//! Cron expressions mean what they mean in crontab(5), whatever the cron crate's dialect.

use std::time::Duration;

use chrono::{DateTime, Utc};
use feedmerge::{CronSchedule, Ended, Plan};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn next(expr: &str, after: &str) -> String {
    CronSchedule::parse(expr)
        .unwrap_or_else(|e| panic!("{e}"))
        .next_after(at(after), chrono_tz::UTC)
        .unwrap()
        .to_rfc3339()
}

// 2024-05-13 is a Monday.
const MONDAY: &str = "2024-05-13T00:00:00Z";

#[test]
fn sunday_is_0_and_7_monday_is_1() {
    assert_eq!(next("0 9 * * 0", MONDAY), "2024-05-19T09:00:00+00:00");
    assert_eq!(next("0 9 * * 7", MONDAY), "2024-05-19T09:00:00+00:00");
    assert_eq!(next("0 9 * * 1", MONDAY), "2024-05-13T09:00:00+00:00");
    assert_eq!(next("0 9 * * 6", MONDAY), "2024-05-18T09:00:00+00:00");
}

#[test]
fn day_of_week_ranges_lists_steps_and_names() {
    assert_eq!(
        next("0 9 * * mon-fri", "2024-05-18T00:00:00Z"),
        "2024-05-20T09:00:00+00:00"
    );
    assert_eq!(next("30 8 * * 5-7", MONDAY), "2024-05-17T08:30:00+00:00");
    assert_eq!(
        next("30 8 * * 5-7", "2024-05-18T09:00:00Z"),
        "2024-05-19T08:30:00+00:00"
    );
    assert_eq!(next("0 0 * * 2,4", MONDAY), "2024-05-14T00:00:00+00:00");
    assert_eq!(next("0 0 * * */3", MONDAY), "2024-05-15T00:00:00+00:00"); // Sun, Wed, Sat
}

#[test]
fn restricted_day_of_month_or_day_of_week_matches_either() {
    // "the 13th, or any Friday": crontab ORs the two day fields.
    assert_eq!(
        next("0 0 13 * 5", "2024-05-01T00:00:00Z"),
        "2024-05-03T00:00:00+00:00"
    );
    assert_eq!(
        next("0 0 13 * 5", "2024-05-10T00:00:00Z"),
        "2024-05-13T00:00:00+00:00"
    );
    // A '*'-led day field means both must match, as in crontab.
    assert_eq!(
        next("0 0 */2 * 5", "2024-05-01T00:00:00Z"),
        "2024-05-03T00:00:00+00:00"
    );
    assert_eq!(
        next("0 0 */2 * 5", "2024-05-04T00:00:00Z"),
        "2024-05-17T00:00:00+00:00"
    );
    assert_eq!(
        next("0 0 * * 5", "2024-05-10T00:00:00Z"),
        "2024-05-17T00:00:00+00:00"
    );
}

#[test]
fn minutes_seconds_and_shortcuts() {
    assert_eq!(
        next("*/15 * * * *", "2024-05-13T10:07:00Z"),
        "2024-05-13T10:15:00+00:00"
    );
    assert_eq!(
        next("*/15 * * * *", "2024-05-13T10:15:00Z"),
        "2024-05-13T10:30:00+00:00"
    );
    assert_eq!(
        next("30 */5 * * * *", "2024-05-13T10:00:00Z"),
        "2024-05-13T10:00:30+00:00"
    );
    assert_eq!(
        next("@daily", "2024-05-13T10:00:00Z"),
        "2024-05-14T00:00:00+00:00"
    );
    assert_eq!(
        next("@hourly", "2024-05-13T10:00:00Z"),
        "2024-05-13T11:00:00+00:00"
    );
}

#[test]
fn expressions_are_read_in_the_configured_time_zone() {
    let s = CronSchedule::parse("0 9 * * *").unwrap();
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    // 09:00 in Berlin is 07:00 UTC in summer and 08:00 UTC in winter.
    assert_eq!(
        s.next_after(at(MONDAY), berlin).unwrap().to_rfc3339(),
        "2024-05-13T07:00:00+00:00"
    );
    assert_eq!(
        s.next_after(at("2024-12-02T00:00:00Z"), berlin)
            .unwrap()
            .to_rfc3339(),
        "2024-12-02T08:00:00+00:00"
    );
    // Across the autumn change (the cron crate returns times out of order that day), hourly
    // ticks still come in order, at most the repeated local hour apart.
    let hourly = CronSchedule::parse("0 * * * *").unwrap();
    let mut t = at("2024-10-26T22:30:00Z");
    for _ in 0..6 {
        let n = hourly.next_after(t, berlin).unwrap();
        assert!(n > t && (n - t).num_minutes() <= 120, "{t} -> {n}");
        t = n;
    }
    assert!(t >= at("2024-10-27T03:00:00Z"));
}

#[test]
fn bad_expressions_are_explained() {
    for (expr, why) in [
        ("* * *", "expected 5 fields"),
        ("0 9 * * 8", "day of week \"8\" is not 0-7"),
        ("0 9 * * fri-mon", "runs backwards"),
        ("60 * * * *", "minute 60 is out of range 0-59"),
        ("0 24 * * *", "hour 24 is out of range 0-23"),
        ("0 0 0 * *", "day of month 0 is out of range 1-31"),
        ("0 0 * 13 *", "month 13 is out of range 1-12"),
    ] {
        let e = CronSchedule::parse(expr).unwrap_err().to_string();
        assert!(e.contains(why), "{expr}: {e}");
        assert!(
            e.starts_with(&format!("invalid cron expression {expr:?}")),
            "{e}"
        );
    }
}

/// A schedule with a seconds field is spread and polled over its own interval, not a minute:
/// every source of `*/10 * * * * *` has a stable offset under 10 s, its first poll after the
/// start is followed by one 5 to 15 s later and then one every 10 s, and its backoff starts
/// at 10 s. A minute schedule's sources still spread over the minute.
#[test]
fn sources_are_spread_over_their_schedules_own_interval() {
    let every_10s = CronSchedule::parse("*/10 * * * * *").unwrap();
    let every_minute = CronSchedule::parse("* * * * *").unwrap();
    let now = at(MONDAY);
    let success = Ended::Success { hint: None };
    let mut offsets = std::collections::BTreeSet::new();
    for i in 0..50 {
        let name = format!("Outlet {i}");
        let plan = |schedule| Plan {
            name: &name,
            schedule,
            tz: chrono_tz::UTC,
            backoff_cap: Duration::from_secs(3600),
        };
        let fast = plan(&every_10s);
        assert_eq!(fast.interval(now), Duration::from_secs(10));
        let offset = fast.offset(now);
        assert!(offset < Duration::from_secs(10), "{offset:?}");
        offsets.insert(offset.as_secs());
        let first = fast.next_due(success, now);
        let gap = (first - now).to_std().unwrap();
        assert!(
            gap >= Duration::from_secs(5) && gap < Duration::from_secs(15),
            "{name}: first gap {gap:?}"
        );
        let second = fast.next_due(success, first);
        assert_eq!((second - first).to_std().unwrap(), Duration::from_secs(10));
        let backoff = fast.backoff(1, now);
        assert!(
            backoff >= Duration::from_secs(10) && backoff <= Duration::from_millis(12_500),
            "{backoff:?}"
        );

        let slow = plan(&every_minute);
        assert_eq!(slow.interval(now), Duration::from_secs(60));
        assert!(slow.offset(now) < Duration::from_secs(60));
    }
    assert!(
        offsets.len() >= 5,
        "offsets spread over the interval: {offsets:?}"
    );
}
