//! The rules of a story once its versions are known, as pure functions over plain values:
//! which version represents it, where it is placed in the feed, and who may edit a stored
//! article. `store` applies them when it ingests and when retention deletes versions, so both
//! decide alike.

use chrono::{DateTime, Utc};

/// How far back a new entry of an already-polled source may be dated and still be placed by
/// its date rather than by when it was first seen.
const BACKDATED_MS: i64 = 2 * 24 * 3600 * 1000;

/// One version of a story, as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version<'a> {
    /// The stored article's id: the earlier stored wins a tie.
    pub(crate) article: i64,
    /// The name of the source that carried it first.
    pub(crate) source: &'a str,
    /// Its publication time, ms since the epoch.
    pub(crate) published: i64,
}

/// Whether `challenger` represents a story rather than `current`: the version of the source
/// earliest in `prefer` (`[dedup].prefer`), else the earliest published, else the first stored.
pub(crate) fn represents(prefer: &[String], challenger: &Version, current: &Version) -> bool {
    order(prefer, challenger) < order(prefer, current)
}

/// How long after a story is first stored (ms) a version may still take it over by being
/// published earlier: long enough for the first polls of every outlet carrying it, which
/// come in in any order, to settle which is the original.
pub(crate) const SETTLED_MS: i64 = 10 * 60 * 1000;

/// Whether `challenger` takes a settled story over from `current`, the version readers were
/// served: only if `prefer` ranks its source above `current`'s, however early it says it was
/// published. Otherwise a later copy claiming an earlier date, under a headline and link of
/// its own, could replace what readers trusted.
pub(crate) fn takes_over(prefer: &[String], challenger: &Version, current: &Version) -> bool {
    let rank = |v: &Version| {
        prefer
            .iter()
            .position(|p| p == v.source)
            .unwrap_or(prefer.len())
    };
    rank(challenger) < rank(current)
}

/// The version of `versions` that represents their story (see [`represents`]); `None` if there
/// are none.
pub(crate) fn representative<'a>(
    prefer: &[String],
    versions: impl IntoIterator<Item = Version<'a>>,
) -> Option<Version<'a>> {
    versions.into_iter().min_by_key(|v| order(prefer, v))
}

fn order(prefer: &[String], v: &Version) -> (usize, i64, i64) {
    let rank = prefer
        .iter()
        .position(|p| p == v.source)
        .unwrap_or(prefer.len());
    (rank, v.published, v.article)
}

/// Where a new story is placed in the feed (ms since the epoch): by its publication time,
/// unless it claims to come from the future, or (once its source's backlog was read, i.e.
/// `polled_before`) from more than two days ago: then by when it was first seen, `now`. A
/// back-dated or future-dated entry would otherwise land where no reader looks, or sit on top.
pub(crate) fn placed_at(published: i64, now: i64, polled_before: bool) -> i64 {
    let backdated = polled_before && published < now - BACKDATED_MS;
    if published > now || backdated {
        now
    } else {
        published
    }
}

/// The date given to an entry without one, seen `now` in a fetch whose entries have the
/// dates `dates`: when it was first seen, unless the fetch is its source's first
/// (`polled_before` false), whose undated entries were there before anyone looked, and are
/// dated with the oldest dated entry beside them (not in the future), below the news the
/// source dates. A new source's undated items (advertisements, evergreen pages) would
/// otherwise sit above every dated story.
pub(crate) fn undated_at(
    polled_before: bool,
    dates: impl Iterator<Item = Option<DateTime<Utc>>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    if polled_before {
        return now;
    }
    dates.flatten().filter(|d| *d <= now).min().unwrap_or(now)
}

/// Whether an entry of source `editor` whose text hashes to `new_hash` changes the stored
/// article that source `owner` carried first with text `stored_hash`. Only the first outlet
/// edits an article: another outlet's copy must not overwrite the text credited to the first.
pub(crate) fn edits(owner: i64, stored_hash: &str, editor: i64, new_hash: &str) -> bool {
    owner == editor && stored_hash != new_hash
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600 * 1000;

    fn v(article: i64, source: &str, published: i64) -> Version<'_> {
        Version {
            article,
            source,
            published,
        }
    }

    #[test]
    fn undated_entries_of_a_backlog_sit_below_its_dated_ones() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let (old, older) = (
            now - chrono::Duration::hours(5),
            now - chrono::Duration::days(9),
        );
        let future = Some(now + chrono::Duration::days(1));
        let dates = || [Some(old), None, future, Some(older)].into_iter();
        assert_eq!(undated_at(false, dates(), now), older);
        assert_eq!(undated_at(true, dates(), now), now);
        assert_eq!(undated_at(false, [None, future].into_iter(), now), now);
    }

    #[test]
    fn the_earliest_version_represents_a_story_unless_a_source_is_preferred() {
        let none: Vec<String> = Vec::new();
        let (early, late) = (v(2, "Wire", 100), v(1, "Paper", 200));
        assert!(represents(&none, &early, &late));
        assert!(!represents(&none, &late, &early));
        let prefer = vec!["Paper".to_owned()];
        assert!(represents(&prefer, &late, &early));
        // Same source and date: the first stored stays.
        assert!(!represents(&none, &v(3, "Wire", 100), &early));
        // A settled story is taken over by a preferred source only.
        assert!(!takes_over(&none, &early, &late));
        assert!(takes_over(&prefer, &late, &early));
        assert!(!takes_over(&prefer, &early, &late));
        assert_eq!(representative(&prefer, [early, late]), Some(late));
        assert_eq!(representative(&none, [late, early]), Some(early));
        assert_eq!(representative(&none, []), None);
    }

    #[test]
    fn a_future_or_backdated_story_is_placed_when_first_seen() {
        let now = 100 * DAY;
        assert_eq!(placed_at(now - DAY, now, true), now - DAY);
        assert_eq!(placed_at(now + 1, now, false), now);
        assert_eq!(placed_at(now - 3 * DAY, now, true), now);
        // A source's first poll brings its backlog, dated as it is.
        assert_eq!(placed_at(now - 3 * DAY, now, false), now - 3 * DAY);
    }

    #[test]
    fn only_the_first_outlet_edits_an_article() {
        assert!(edits(1, "a", 1, "b"));
        assert!(!edits(1, "a", 1, "a"));
        assert!(!edits(1, "a", 2, "b"));
    }
}
