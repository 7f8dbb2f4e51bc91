//! The validated `[[rules]]` (what is done to entries as they come in) and `[[notify]]`
//! (whom to tell of a new story): the types the `rules` and `notify` stages are given.

use std::fmt;

use url::Url;

use crate::query::Query;

/// One `[[rules]]` entry, applied in file order to each entry of the sources in its scope.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// Its place among the rules, from 1: how `/status`, `sources` and `reapply` name it.
    pub(crate) number: usize,
    /// The sources it applies to, and those filed under `categories`; every source when both
    /// are empty.
    pub(crate) sources: Vec<String>,
    /// See `sources`.
    pub(crate) categories: Vec<String>,
    /// Entries that match are not stored.
    pub(crate) discard: Option<Query>,
    /// Entries that do not match are not stored.
    pub(crate) keep_only: Option<Query>,
    /// CSS selectors of elements taken out of the entry's HTML, compiled.
    pub(crate) remove: Vec<Selector>,
    /// Tracking pixels and FeedBurner's flare are left in (they are taken out by default).
    pub(crate) keep_trackers: bool,
    /// A replacement in the headline.
    pub(crate) rewrite_title: Option<Rewrite>,
    /// A replacement in the entry's HTML (summary and content).
    pub(crate) rewrite_text: Option<Rewrite>,
}

impl Rule {
    /// Whether the rule applies to the source `name`, filed under `categories`.
    pub(crate) fn applies_to(&self, name: &str, categories: &[String]) -> bool {
        (self.sources.is_empty() && self.categories.is_empty())
            || self.sources.iter().any(|s| s == name)
            || self
                .categories
                .iter()
                .any(|c| categories.iter().any(|k| k.eq_ignore_ascii_case(c)))
    }
}

/// A CSS selector of a rule's `remove`, compiled, with pieces of text that any HTML holding
/// an element it selects holds (its tag as `<tag`, its class names), where it is simple
/// enough to tell: HTML without them is not parsed.
#[derive(Debug, Clone)]
pub(crate) struct Selector {
    /// The selector.
    pub(crate) matcher: dom_query::Matcher,
    /// What the HTML must hold, all of it, for the selector to select anything.
    pub(crate) needles: Option<Vec<String>>,
}

impl Selector {
    /// `text` compiled, if it is a CSS selector.
    pub(crate) fn new(text: &str) -> Option<Selector> {
        let matcher = dom_query::Matcher::new(text).ok()?;
        Some(Selector {
            matcher,
            needles: needles(text),
        })
    }
}

/// What HTML holding an element that `selector` selects holds: the tag and classes of its
/// last compound (`figure.ad` needs `<figure` and `ad`). `None` for a list of alternatives
/// or anything but tags, classes and combinators.
fn needles(selector: &str) -> Option<Vec<String>> {
    let simple = |c: char| c.is_alphanumeric() || " \t.>+~-_".contains(c);
    if !selector.chars().all(simple) {
        return None;
    }
    let last = selector
        .trim()
        .rsplit(|c: char| c.is_whitespace() || matches!(c, '>' | '+' | '~'))
        .next()?;
    let mut parts = last.split('.');
    let tag = parts.next().unwrap_or_default();
    let mut out: Vec<String> = parts.filter(|c| !c.is_empty()).map(str::to_owned).collect();
    if !tag.is_empty() {
        out.push(format!("<{}", tag.to_ascii_lowercase()));
    }
    (!out.is_empty()).then_some(out)
}

/// A regular expression and what its matches become (`$1`, `${name}` for groups).
#[derive(Debug, Clone)]
pub(crate) struct Rewrite {
    /// The pattern.
    pub(crate) pattern: regex::Regex,
    /// The replacement.
    pub(crate) replace: String,
}

/// One `[[notify]]` entry: the new stories a query or a view finds, sent to a target.
#[derive(Debug, Clone)]
pub(crate) struct Alert {
    /// Its name: sent with each story, and shown on `/status`.
    pub(crate) name: String,
    /// What a story must match: a search query, or the filter of a view.
    pub(crate) matches: AlertMatch,
    /// Where the stories go.
    pub(crate) target: Target,
    /// The key each body is signed with (`X-Feedmerge-Signature: sha256=<hex>`).
    pub(crate) secret: Option<Secret>,
    /// What the body is.
    pub(crate) format: AlertFormat,
    /// Whether the target may be on a private or loopback address.
    pub(crate) allow_private: bool,
}

/// What an alert's stories match.
#[derive(Debug, Clone)]
pub(crate) enum AlertMatch {
    /// A search query.
    Query(Query),
    /// The view of this name.
    View(String),
}

/// The body an alert sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AlertFormat {
    /// The story as `/entries/<id>.json` gives it, with the alert's name.
    Json,
    /// A line of text (headline, outlet, link) as the body: ntfy and the like.
    Text,
    /// `{"text": …}`: Slack's, Mattermost's and Discord's (`…/slack`) incoming webhooks.
    Slack,
    /// `{"content": …}`: Discord's own webhooks.
    Discord,
}

impl AlertFormat {
    /// The formats, as the config names them.
    pub(crate) const NAMES: [(&'static str, AlertFormat); 4] = [
        ("json", AlertFormat::Json),
        ("text", AlertFormat::Text),
        ("slack", AlertFormat::Slack),
        ("discord", AlertFormat::Discord),
    ];
}

/// A webhook's address. Many hold their secret in the path (Slack's, Discord's): `Debug`
/// and [`Target::shown`] give only the scheme and host.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Target(pub(crate) Url);

impl Target {
    /// What may be shown of the address: `https://hooks.example.org/…`.
    pub(crate) fn shown(&self) -> String {
        format!(
            "{}://{}/…",
            self.0.scheme(),
            self.0.host_str().unwrap_or_default()
        )
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({})", self.shown())
    }
}

/// A secret read from the environment: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}
