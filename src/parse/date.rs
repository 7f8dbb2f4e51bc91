//! Dates as outlets write them, read as a careful parser (Python's feedparser) reads them.
//!
//! feed-rs reads RFC 3339 and RFC 2822 dates; real feeds also carry the formats of databases
//! (`2004-07-08 23:56:58`), of other languages' defaults (`2020/1/10 14:16:00`, C's asctime,
//! `Sun Jul 15 01:16:00 +0000 2012`), W3C-DTF's reduced forms (`2003-12`), RFC 2822 with
//! the month first, a 12-hour clock, a full month name, no seconds or no time, a wrong
//! weekday, or a zone abbreviation (`ET`, `PST`). Two readers cover them: one for dates that
//! start with a four-digit year (ISO 8601 and its relatives), and one that reads the words
//! of any other (month names, `hh:mm[:ss]`, numbers, AM/PM, zones) whatever their order.
//! A date with no zone is UTC, as feedparser takes it.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// `raw` as an instant, if it is a date in any form this module knows.
pub(crate) fn parse_date(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 100 {
        return None;
    }
    // Most dates are well-formed RFC 3339 (Atom) or RFC 2822 (RSS): chrono reads them without
    // taking them apart word by word.
    let strict = DateTime::parse_from_rfc3339(raw).or_else(|_| DateTime::parse_from_rfc2822(raw));
    if let Ok(date) = strict {
        return Some(date.with_timezone(&Utc));
    }
    let starts_with_year = raw
        .get(..4)
        .is_some_and(|y| y.bytes().all(|b| b.is_ascii_digit()));
    match starts_with_year {
        true => iso(raw).or_else(|| words(raw)),
        false => words(raw),
    }
}

/// A date that starts with its year: `YYYY[-MM[-DD]][(T| )hh:mm[:ss[.frac]]][zone]`, with `-`
/// or `/` between the date's parts and months and days of one digit allowed.
fn iso(raw: &str) -> Option<DateTime<Utc>> {
    let (date, rest) = split_at_time(raw);
    let mut parts = date.split(['-', '/']);
    let year: i32 = parts.next()?.parse().ok()?;
    let month = parts.next().map_or(Some(1), |m| m.parse().ok())?;
    let day = parts.next().map_or(Some(1), |d| d.trim().parse().ok())?;
    if parts.next().is_some() {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let rest = rest.trim();
    if rest.is_empty() {
        return Some(Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)));
    }
    // The time runs to the zone: `Z`, a sign, or a space before a zone's name.
    let end = rest.find(['Z', 'z', '+', ' ', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(end);
    let (time, _) = clock(time)?;
    let offset = zone_offset(zone.trim())?;
    local(date.and_time(time), offset)
}

/// `raw` split where its time starts (`T` or a space after the date), the date trimmed.
fn split_at_time(raw: &str) -> (&str, &str) {
    match raw.find(['T', 't', ' ']) {
        Some(i) => (&raw[..i], &raw[i + 1..]),
        None => (raw, ""),
    }
}

/// `hh:mm[:ss[.frac]]` as a time, and whether it had seconds.
fn clock(text: &str) -> Option<(NaiveTime, bool)> {
    let mut parts = text.trim().split(':');
    let hour: u32 = parts.next()?.trim().parse().ok()?;
    let minute: u32 = parts.next()?.trim().parse().ok()?;
    let second = match parts.next() {
        Some(s) => Some(s.split(['.', ',']).next()?.trim().parse::<u32>().ok()?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    // A leap second is read as the second before it.
    let time = NaiveTime::from_hms_opt(hour, minute, second.unwrap_or(0).min(59))?;
    Some((time, second.is_some()))
}

/// A local time at `offset` seconds east of UTC, as an instant.
fn local(time: NaiveDateTime, offset: i32) -> Option<DateTime<Utc>> {
    let utc = time.checked_sub_signed(chrono::TimeDelta::seconds(i64::from(offset)))?;
    Some(Utc.from_utc_datetime(&utc))
}

/// Seconds east of UTC of a zone as written after a time: empty (UTC), `Z`, `+hh:mm`, `+hhmm`,
/// `+hh`, `GMT+hh:mm`, or a name feedparser knows.
fn zone_offset(zone: &str) -> Option<i32> {
    let zone = zone.trim();
    if zone.is_empty() {
        return Some(0);
    }
    let upper = zone.to_ascii_uppercase();
    let numeric = upper
        .strip_prefix("GMT")
        .or_else(|| upper.strip_prefix("UTC"))
        .filter(|r| r.starts_with(['+', '-']))
        .unwrap_or(&upper);
    if let Some(sign) = numeric.chars().next().filter(|c| *c == '+' || *c == '-') {
        let digits: String = numeric[1..].chars().filter(char::is_ascii_digit).collect();
        let (hours, minutes) = match digits.len() {
            1 | 2 => (digits.parse::<i32>().ok()?, 0),
            3 | 4 => (
                digits[..digits.len() - 2].parse::<i32>().ok()?,
                digits[digits.len() - 2..].parse::<i32>().ok()?,
            ),
            _ => return None,
        };
        if hours > 23 || minutes > 59 {
            return None;
        }
        let seconds = hours * 3600 + minutes * 60;
        return Some(if sign == '-' { -seconds } else { seconds });
    }
    named_zone(&upper).map(|hours| (hours * 3600.0) as i32)
}

/// Hours east of UTC of a zone's name: RFC 822's, the US zones without their season (`ET`)
/// as feedparser reads them, and a few common elsewhere.
fn named_zone(name: &str) -> Option<f64> {
    Some(match name {
        "Z" | "UT" | "UTC" | "GMT" | "WET" => 0.0,
        "ADT" => -3.0,
        "AST" | "AT" | "EDT" => -4.0,
        "EST" | "ET" | "CDT" => -5.0,
        "CST" | "CT" | "MDT" => -6.0,
        "MST" | "MT" | "PDT" => -7.0,
        "PST" | "PT" | "AKDT" => -8.0,
        "AKST" | "HDT" => -9.0,
        "HST" => -10.0,
        "BST" | "CET" | "MET" | "WEST" => 1.0,
        "CEST" | "MEST" | "EET" => 2.0,
        "EEST" | "MSK" => 3.0,
        "JST" | "KST" => 9.0,
        "AEST" => 10.0,
        "AEDT" => 11.0,
        "NZST" => 12.0,
        "NZDT" => 13.0,
        _ => return None,
    })
}

/// The month a name (English, full or abbreviated to at least three letters) stands for.
fn month(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let word = if word.eq_ignore_ascii_case("sept") {
        "sep"
    } else {
        word
    };
    named(word, &MONTHS).map(|i| i as u32 + 1)
}

/// Whether `word` names a day of the week, which is read past (feeds often get it wrong).
fn weekday(word: &str) -> bool {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    named(word, &DAYS).is_some()
}

/// Which of `names` (lower case) `word` is, written whole or cut to three letters or more,
/// in any case, perhaps with a full stop.
fn named(word: &str, names: &[&str]) -> Option<usize> {
    let word = word.trim_end_matches('.').to_ascii_lowercase();
    (word.len() >= 3).then(|| names.iter().position(|n| n.starts_with(&word)))?
}

/// A date written in words and numbers in any order (RFC 822 and its variants, asctime):
/// a month's name, a day, a four-digit (or two-digit, after the day) year, `hh:mm[:ss]`,
/// AM/PM and a zone.
fn words(raw: &str) -> Option<DateTime<Utc>> {
    let (mut year, mut month_no, mut day) = (None, None, None);
    let (mut time, mut offset, mut pm) = (None, None, None);
    let spaced = raw.replace(',', " ");
    for token in spaced.split_whitespace() {
        if token.contains(':') && time.is_none() && token.starts_with(|c: char| c.is_ascii_digit())
        {
            // A zone written onto the time (`14:16:00+0100`, `10:00Z`).
            let end = token[1..]
                .find(|c: char| c == '+' || c == '-' || c.is_ascii_alphabetic())
                .map_or(token.len(), |i| i + 1);
            time = Some(clock(&token[..end])?.0);
            if end < token.len() {
                offset = Some(zone_offset(&token[end..])?);
            }
        } else if token.starts_with(['+', '-']) {
            offset = Some(zone_offset(token)?);
        } else if let Ok(n) = token.trim_end_matches('.').parse::<u32>() {
            match (token.len(), day, year) {
                (4, _, None) => year = Some(n as i32),
                (1 | 2, None, _) => day = Some(n),
                (2, Some(_), None) => year = Some(two_digit_year(n)),
                _ => return None,
            }
        } else if let Some(m) = month(token).filter(|_| month_no.is_none()) {
            month_no = Some(m);
        } else if weekday(token) {
            continue;
        } else {
            match token.to_ascii_uppercase().as_str() {
                "AM" | "A.M." => pm = Some(false),
                "PM" | "P.M." => pm = Some(true),
                zone => offset = Some(zone_offset(zone)?),
            }
        }
    }
    let mut time = time.unwrap_or(NaiveTime::MIN);
    if let Some(pm) = pm {
        let hour = chrono::Timelike::hour(&time) % 12 + if pm { 12 } else { 0 };
        time = chrono::Timelike::with_hour(&time, hour)?;
    }
    let date = NaiveDate::from_ymd_opt(year?, month_no?, day?)?;
    local(date.and_time(time), offset.unwrap_or(0))
}

/// A two-digit year as RFC 822 dates meant it.
fn two_digit_year(n: u32) -> i32 {
    if n < 50 {
        2000 + n as i32
    } else {
        1900 + n as i32
    }
}

#[cfg(test)]
mod tests {
    use super::parse_date;

    fn at(raw: &str) -> String {
        parse_date(raw).map_or_else(|| "none".into(), |d| d.to_rfc3339())
    }

    /// Each form of the issue, and the common ones, to the right instant.
    #[test]
    fn reads_the_forms_real_feeds_use() {
        let cases = [
            ("Sat, Dec 16 2023 02:02:33 PM", "2023-12-16T14:02:33+00:00"),
            ("2020/1/10 14:16:00", "2020-01-10T14:16:00+00:00"),
            ("2004-07-08 23:56:58", "2004-07-08T23:56:58+00:00"),
            ("Thu, 01 Jan 2004", "2004-01-01T00:00:00+00:00"),
            (
                "Mon, 26 January 2004 16:31:00 ET",
                "2004-01-26T21:31:00+00:00",
            ),
            ("Mon, 26 Jan 2004 16:31:00 EDT", "2004-01-26T20:31:00+00:00"),
            (
                "Sun Jul 15 01:16:00 +0000 2012",
                "2012-07-15T01:16:00+00:00",
            ),
            ("Sun Jul 15 01:16:00 2012", "2012-07-15T01:16:00+00:00"),
            ("2003-12", "2003-12-01T00:00:00+00:00"),
            ("2003", "2003-01-01T00:00:00+00:00"),
            ("2003-12-31T10:14:55Z", "2003-12-31T10:14:55+00:00"),
            (
                "2003-12-31T10:14:55.123-08:00",
                "2003-12-31T18:14:55.123+00:00",
            ),
            ("2009-01-12T5:40:14-05:00", "2009-01-12T10:40:14+00:00"),
            ("2003-12-31T10:14-0800", "2003-12-31T18:14:00+00:00"),
            ("Wed, 02 Oct 2002 13:00:00 GMT", "2002-10-02T13:00:00+00:00"),
            (
                "Tue, 02 Oct 2002 08:00:00 -0400",
                "2002-10-02T12:00:00+00:00",
            ),
            ("2 Oct 02 08:00 PST", "2002-10-02T16:00:00+00:00"),
            (
                "Mon, 16 Oct 2017 15:10:00 GMT+02:00",
                "2017-10-16T13:10:00+00:00",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(at(raw), want, "{raw}");
        }
    }

    #[test]
    fn refuses_what_is_no_date() {
        for raw in [
            "",
            "yesterday",
            "32 Jan 2004",
            "2004-13-01",
            "12:00",
            "Jan 2004 Foo",
        ] {
            assert_eq!(at(raw), "none", "{raw:?}");
        }
    }
}
