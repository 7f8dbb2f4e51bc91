//! The search query language: what a person types (`/search?q=…`, `feedmerge search`) to a
//! [`Query`] the store runs, or a [`QueryError`] that says what to fix. Its words become
//! search terms as the index's do (`parse::terms`).
//!
//! Words must all match, regardless of case and accents; `"exact phrases"`; `-excluded`;
//! `a OR b`; `title:word`, `author:name`, `link:part`, `source:name`, `category:name` (quoted
//! for spaces); `since:2d`. One language for search, alerts (`[[notify]]`) and rules
//! (`[[rules]]`): in a rule, which looks at one entry as its outlet sent it, `category:` is
//! one of the entry's own categories, and `since:` has no place. `matching.rs` tells whether
//! one story or entry in memory matches (rules, alerts); the store runs a search.
//! Chinese, Japanese and Korean text is searched by its characters: each is a term of its
//! own, and a run of them is a phrase. Everything else a query holds (FTS operators, SQL,
//! punctuation) is text to look for, never syntax of the engine.

mod matching;

use std::time::Duration;

use crate::parse::terms;

pub(crate) use matching::{Entry, Words};

/// The longest query taken, in characters.
pub(crate) const MAX_QUERY: usize = 500;
/// The most words, phrases and filters in one query.
pub(crate) const MAX_TERMS: usize = 32;

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    /// Every clause must hold (an excluded one must not).
    pub(crate) clauses: Vec<Clause>,
    /// Only stories published this recently.
    pub(crate) since: Option<Duration>,
}

/// One clause: any of its terms (`a OR b`), or none of them if it is excluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Clause {
    /// `-term`: the story must not match.
    pub(crate) excluded: bool,
    /// The alternatives.
    pub(crate) any: Vec<Term>,
}

/// What one term matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Term {
    /// These search terms, next to each other in this order (one word is a phrase of one).
    Text {
        /// The terms, as `parse::terms` gives them.
        terms: Vec<String>,
        /// `title:`: in the headline only.
        title_only: bool,
    },
    /// Carried by one of these sources (`source:`, or the sources of a `category:`).
    Sources(Vec<String>),
    /// `author:`: these terms next to each other in one of the author names.
    Author(Vec<String>),
    /// `link:`: this text (lowercased) in the link.
    Link(String),
    /// `category:` in a rule: these terms next to each other in one of the entry's own
    /// categories.
    Tag(Vec<String>),
}

/// What the names in a query refer to where it is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Names<'a> {
    /// The configured sources: each name and its categories.
    pub(crate) sources: &'a [(&'a str, &'a [String])],
    /// Sources no longer configured whose stories are still stored.
    pub(crate) stored: &'a [String],
    /// A rule's query, on one entry: `category:` is the entry's own, `since:` is refused.
    pub(crate) entry: bool,
}

impl<'a> Names<'a> {
    /// A search's or an alert's names: the configured `sources`, then the `stored` ones.
    pub(crate) fn search(sources: &'a [(&'a str, &'a [String])], stored: &'a [String]) -> Self {
        Names {
            sources,
            stored,
            entry: false,
        }
    }
}

/// Why a query cannot be run: for the person who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Nothing was written.
    #[error("the query is empty: write the words to find")]
    Empty,
    /// Too long.
    #[error("the query is longer than {MAX_QUERY} characters")]
    TooLong,
    /// Too many terms.
    #[error("the query has more than {MAX_TERMS} words, phrases and filters")]
    TooManyTerms,
    /// A `"` that is not closed.
    #[error("a phrase opened by the quote at character {0} is not closed; add a closing \"")]
    UnbalancedQuote(usize),
    /// `OR` without a term on one side.
    #[error("OR needs a word or phrase on each side")]
    DanglingOr,
    /// Nothing a search could look for: only excluded terms, or no letters or digits.
    #[error("nothing to look for: {0}")]
    NothingToFind(&'static str),
    /// `since:` without a duration.
    #[error("since: takes a duration like 2d, 12h or 30min, not {0:?}")]
    Since(String),
    /// A filter used where it cannot be.
    #[error("{0}")]
    Misplaced(&'static str),
    /// `source:` naming no source.
    #[error("no source is named {name:?}; the sources are: {known}")]
    UnknownSource {
        /// What was written.
        name: String,
        /// Some of the sources that exist.
        known: String,
    },
    /// `category:` naming no category.
    #[error("no source is filed under the category {name:?}; the categories are: {known}")]
    UnknownCategory {
        /// What was written.
        name: String,
        /// The categories that exist.
        known: String,
    },
}

/// A piece of a query as written, before it is understood.
#[derive(Debug)]
struct Piece {
    excluded: bool,
    /// `field:`, lowercased, if one was written.
    field: Option<String>,
    /// The text, without its quotes.
    text: String,
}

/// Splits a query into pieces and `OR`s (`None`).
fn pieces(query: &str) -> Result<Vec<Option<Piece>>, QueryError> {
    let chars: Vec<char> = query.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let excluded = chars[i] == '-' && chars.get(i + 1).is_some_and(|c| !c.is_whitespace());
        if excluded {
            i += 1;
        }
        // `field:` before the value.
        let mut field = None;
        let word_end = (i..chars.len())
            .find(|&j| chars[j].is_whitespace() || chars[j] == '"' || chars[j] == ':')
            .unwrap_or(chars.len());
        if chars.get(word_end) == Some(&':') {
            let name: String = chars[i..word_end].iter().collect::<String>().to_lowercase();
            if matches!(
                name.as_str(),
                "title" | "source" | "category" | "since" | "author" | "link"
            ) {
                field = Some(name);
                i = word_end + 1;
            }
        }
        let (text, quoted) = if chars.get(i) == Some(&'"') {
            let close = (i + 1..chars.len())
                .find(|&j| chars[j] == '"')
                .ok_or(QueryError::UnbalancedQuote(i + 1))?;
            let text = chars[i + 1..close].iter().collect();
            i = close + 1;
            (text, true)
        } else {
            let end = (i..chars.len())
                .find(|&j| chars[j].is_whitespace())
                .unwrap_or(chars.len());
            let text: String = chars[i..end].iter().collect();
            if text.contains('"') {
                let at = i + text.find('"').map_or(0, |b| text[..b].chars().count()) + 1;
                return Err(QueryError::UnbalancedQuote(at));
            }
            i = end;
            (text, false)
        };
        if !excluded && field.is_none() && !quoted && text == "OR" {
            out.push(None);
        } else {
            out.push(Some(Piece {
                excluded,
                field,
                text,
            }));
        }
    }
    Ok(out)
}

impl Query {
    /// Reads `text` as a query over the sources and categories `names` gives.
    pub(crate) fn parse(text: &str, names: Names<'_>) -> Result<Query, QueryError> {
        if text.chars().count() > MAX_QUERY {
            return Err(QueryError::TooLong);
        }
        if text.trim().is_empty() {
            return Err(QueryError::Empty);
        }
        let pieces = pieces(text)?;
        if pieces.len() > MAX_TERMS * 2 {
            return Err(QueryError::TooManyTerms);
        }
        let mut query = Query {
            clauses: Vec::new(),
            since: None,
        };
        let mut or_pending = false;
        let mut terms_seen = 0;
        for piece in pieces {
            let Some(piece) = piece else {
                // `OR` joins the next term to the last clause.
                if or_pending || query.clauses.is_empty() {
                    return Err(QueryError::DanglingOr);
                }
                or_pending = true;
                continue;
            };
            terms_seen += 1;
            if terms_seen > MAX_TERMS {
                return Err(QueryError::TooManyTerms);
            }
            if piece.field.as_deref() == Some("since") {
                if names.entry {
                    return Err(QueryError::Misplaced(
                        "since: has no place in a rule, which looks at each entry as it comes in",
                    ));
                }
                if piece.excluded || or_pending {
                    return Err(QueryError::Misplaced(
                        "since: cannot be excluded or joined by OR; write it on its own",
                    ));
                }
                let duration = humantime::parse_duration(piece.text.trim())
                    .map_err(|_| QueryError::Since(piece.text.clone()))?;
                query.since = Some(duration);
                continue;
            }
            let Some(term) = term_of(&piece, names)? else {
                // Punctuation alone (`*`, `&&`): nothing to find, nothing to fail.
                if or_pending {
                    return Err(QueryError::DanglingOr);
                }
                continue;
            };
            match query.clauses.last_mut() {
                Some(last) if or_pending => {
                    if last.excluded || piece.excluded {
                        return Err(QueryError::Misplaced(
                            "an excluded term cannot be joined by OR; write -a -b to exclude both",
                        ));
                    }
                    last.any.push(term);
                }
                _ => query.clauses.push(Clause {
                    excluded: piece.excluded,
                    any: vec![term],
                }),
            }
            or_pending = false;
        }
        if or_pending {
            return Err(QueryError::DanglingOr);
        }
        if query.clauses.iter().all(|c| c.excluded) && !query.clauses.is_empty() {
            return Err(QueryError::NothingToFind(
                "the query only excludes; add a word to find",
            ));
        }
        if query.clauses.is_empty() && query.since.is_none() {
            return Err(QueryError::NothingToFind(
                "the query has no letters or digits to look for",
            ));
        }
        Ok(query)
    }

    /// Every term a story matched, for highlighting: the positive text terms.
    pub(crate) fn highlights(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for clause in self.clauses.iter().filter(|c| !c.excluded) {
            for term in &clause.any {
                if let Term::Text { terms, .. } = term {
                    out.extend(terms.iter().map(String::as_str));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// What `piece` looks for, read with `names`; `None` for punctuation alone.
fn term_of(piece: &Piece, names: Names<'_>) -> Result<Option<Term>, QueryError> {
    Ok(Some(match piece.field.as_deref() {
        Some("source") => Term::Sources(vec![source(names, &piece.text)?]),
        Some("category") if names.entry => Term::Tag(named(piece)?),
        Some("category") => Term::Sources(category(names, &piece.text)?),
        Some("author") => Term::Author(named(piece)?),
        Some("link") if piece.text.trim().is_empty() => {
            return Err(QueryError::Misplaced(
                "link: needs the text to find in links",
            ))
        }
        Some("link") => Term::Link(piece.text.trim().to_lowercase()),
        field => {
            let terms = terms(&piece.text);
            if terms.is_empty() {
                return Ok(None);
            }
            Term::Text {
                terms,
                title_only: field == Some("title"),
            }
        }
    }))
}

/// The terms of a name after `author:` or a rule's `category:`.
fn named(piece: &Piece) -> Result<Vec<String>, QueryError> {
    let terms = terms(&piece.text);
    if terms.is_empty() {
        return Err(QueryError::Misplaced(
            "author: and category: need a name with letters or digits",
        ));
    }
    Ok(terms)
}

/// The source named `name` (case-insensitively), configured or among the stored ones, or
/// the error listing some.
fn source(names: Names<'_>, name: &str) -> Result<String, QueryError> {
    let name = name.trim();
    let configured = names.sources.iter().map(|(s, _)| *s);
    configured
        .chain(names.stored.iter().map(String::as_str))
        .find(|s| s.eq_ignore_ascii_case(name))
        .map(str::to_owned)
        .ok_or_else(|| QueryError::UnknownSource {
            name: name.to_owned(),
            known: listed(names.sources.iter().map(|(s, _)| *s)),
        })
}

/// The sources filed under the category `name`, or the error listing the categories.
fn category(names: Names<'_>, name: &str) -> Result<Vec<String>, QueryError> {
    let name = name.trim();
    let sources: Vec<String> = names
        .sources
        .iter()
        .filter(|(_, c)| c.iter().any(|c| c.eq_ignore_ascii_case(name)))
        .map(|(s, _)| (*s).to_owned())
        .collect();
    if sources.is_empty() {
        let all = names.sources.iter().flat_map(|(_, c)| c.iter());
        return Err(QueryError::UnknownCategory {
            name: name.to_owned(),
            known: listed(distinct(all.map(String::as_str)).into_iter()),
        });
    }
    Ok(sources)
}

/// Each of `names` once (ignoring case), in alphabetical order.
pub(crate) fn distinct<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut all: Vec<&str> = Vec::new();
    for c in names {
        if !all.iter().any(|seen| seen.eq_ignore_ascii_case(c)) {
            all.push(c);
        }
    }
    all.sort_by_key(|c| c.to_lowercase());
    all
}

/// Up to ten names, quoted, and how many more there are.
fn listed<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    let mut out: Vec<String> = names.iter().take(10).map(|n| format!("{n:?}")).collect();
    if names.len() > 10 {
        out.push(format!("and {} more", names.len() - 10));
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(", ")
    }
}
