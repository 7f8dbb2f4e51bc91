//! How each configured source is doing, in words for the person who must act: one row per
//! source, which `/status` and `feedmerge sources` both show.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::config::Source;
use crate::store::{from_millis, FullTextState, PushSubscription, SourceState};

/// How a configured source is doing, from its stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Health {
    /// Its last attempt failed.
    Failing,
    /// No longer polled: the feed is gone (410), until the config changes.
    Disabled,
    /// Not polled yet.
    New,
    /// Its last attempt succeeded.
    Ok,
    /// Turned off in the config (`enabled = false`).
    Off,
}

impl Health {
    /// The health of `source`, whose stored state is `state`.
    pub(crate) fn of(source: &Source, state: Option<&SourceState>) -> Health {
        match state {
            _ if !source.enabled => Health::Off,
            Some(st) if st.disabled_reason.is_some() => Health::Disabled,
            Some(st) if st.last_attempt_at.is_none() => Health::New,
            Some(st) if st.last_error.is_some() => Health::Failing,
            Some(_) => Health::Ok,
            None => Health::New,
        }
    }

    /// A word for it.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Health::Failing => "failing",
            Health::Disabled => "disabled",
            Health::New => "new",
            Health::Ok => "ok",
            Health::Off => "off (config)",
        }
    }
}

/// One source's row.
#[derive(Debug, Clone)]
pub(crate) struct SourceRow {
    /// Its name.
    pub(crate) name: String,
    /// Its feed's address, without credentials.
    pub(crate) url: String,
    /// How it is doing.
    pub(crate) health: Health,
    /// The last HTTP status.
    pub(crate) status: Option<i64>,
    /// The last successful poll.
    pub(crate) last_success: Option<DateTime<Utc>>,
    /// When it is next polled.
    pub(crate) next_poll: Option<DateTime<Utc>>,
    /// Failures since the last success.
    pub(crate) failures: i64,
    /// Articles it carries.
    pub(crate) articles: i64,
    /// Entries its rules discarded.
    pub(crate) discarded: i64,
    /// Its last error, why it is disabled, or where it moved.
    pub(crate) problem: Option<String>,
    /// Its WebSub subscription: `none`, `pending`, `active until T`, `failed: why`.
    pub(crate) push: String,
    /// Its full text: `off`, or how many articles have theirs and the last error.
    pub(crate) full_text: String,
}

/// Every configured source's row, in config order, from the stored `states`, the articles
/// each carries and the entries its rules `discarded`, the WebSub subscriptions (`push`) and
/// the full texts read (`full`).
pub(crate) fn source_rows(
    sources: &[Source],
    states: &HashMap<String, SourceState>,
    articles: &HashMap<String, i64>,
    discarded: &HashMap<String, i64>,
    push: &[PushSubscription],
    full: &[FullTextState],
) -> Vec<SourceRow> {
    let push: HashMap<&str, String> = push
        .iter()
        .map(|s| (s.source.as_str(), push_words(s)))
        .collect();
    sources
        .iter()
        .map(|source| {
            let st = states.get(&source.name);
            SourceRow {
                name: source.name.clone(),
                // Shown in public: credentials in the address are not.
                url: super::public_url(source.url.as_str()).unwrap_or_default(),
                health: Health::of(source, st),
                status: st.and_then(|s| s.last_status),
                last_success: st.and_then(|s| s.last_success_at).map(from_millis),
                next_poll: st.and_then(|s| s.next_due_at).map(from_millis),
                failures: st.map_or(0, |s| s.consecutive_failures),
                articles: articles.get(&source.name).copied().unwrap_or(0),
                discarded: discarded.get(&source.name).copied().unwrap_or(0),
                problem: st.and_then(problem),
                push: push
                    .get(source.name.as_str())
                    .cloned()
                    .unwrap_or_else(|| "none".into()),
                full_text: full_text_words(source, full),
            }
        })
        .collect()
}

/// A source's full text in words: `off`, `on: N articles`, and the last error if the last
/// reading failed.
fn full_text_words(source: &Source, full: &[FullTextState]) -> String {
    if source.full_text.is_none() {
        return "off".into();
    }
    let state = full.iter().find(|f| f.source == source.name);
    let done = state.map_or(0, |f| f.done);
    match state.and_then(|f| f.error.as_deref()) {
        Some(error) => format!("{done} articles; last error: {error}"),
        None => format!("{done} articles"),
    }
}

/// A source's WebSub subscription in words: `pending`, `active until T`, `failed: why`,
/// `unsubscribing`, and what deliveries brought, if any came.
fn push_words(sub: &PushSubscription) -> String {
    let mut text = match (sub.state.as_str(), sub.lease_until) {
        ("active", Some(until)) => {
            format!(
                "active until {}",
                from_millis(until).format("%Y-%m-%d %H:%M:%SZ")
            )
        }
        ("failed", _) => format!("failed: {}", sub.error.as_deref().unwrap_or("unknown")),
        (state, _) => state.to_owned(),
    };
    if sub.pushes + sub.rejected + sub.missed > 0 {
        text.push_str(&format!(
            " (deliveries {}, new stories {}, missed by push {}, bad signatures {})",
            sub.pushes, sub.pushed_new, sub.missed, sub.rejected
        ));
    }
    text
}

/// What is wrong with a source whose stored state is `state`: why it is disabled, else its
/// last error, else where it moved (its config still names the old URL) or where its feed
/// was found (its url is a page), else what its feed held that was not read. `None` when
/// nothing is.
fn problem(state: &SourceState) -> Option<String> {
    state
        .disabled_reason
        .clone()
        .or_else(|| state.last_error.clone())
        .or_else(|| {
            let url = state.effective_url.as_deref()?;
            Some(match state.found_on_page {
                true => format!("polled at {url}, the feed its page advertises"),
                false => moved_permanently(url),
            })
        })
        .or_else(|| state.last_warning.clone())
}

/// What to tell the person running feedmerge about a source whose feed moved permanently to
/// `url`.
pub(crate) fn moved_permanently(url: &str) -> String {
    format!("moved permanently to {url}: update its url in the config")
}
