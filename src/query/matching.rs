//! Whether one entry or story, in memory, matches a query: what a rule asks of each entry as
//! it comes in, and an alert of each new story. The same terms as the index's
//! (`parse::terms`), so a query finds in memory what a search finds in the store. A phrase
//! is found within the headline or within the text, not across the two.

use std::cell::OnceCell;

use super::{Clause, Query, Term};
use crate::parse::indexed;

/// What a query looks at in one entry or story.
pub(crate) struct Entry<'a> {
    title: &'a str,
    text: &'a str,
    authors: &'a [String],
    link: Option<&'a str>,
    tags: &'a [String],
    sources: Vec<&'a str>,
    words: &'a Words,
}

/// The words of an entry's headline and text (its terms joined by spaces, as the index
/// holds them), worked out once, when a clause first needs them, however many queries ask;
/// forgotten when the headline or text changes.
#[derive(Debug, Default)]
pub(crate) struct Words {
    title: OnceCell<String>,
    text: OnceCell<String>,
}

impl Words {
    /// The headline changed.
    pub(crate) fn forget_title(&mut self) {
        self.title.take();
    }

    /// The text changed.
    pub(crate) fn forget_text(&mut self) {
        self.text.take();
    }
}

impl<'a> Entry<'a> {
    /// An entry with this headline and plain text, these authors, link and own categories,
    /// carried by `sources`, whose words are (or will be) in `words`.
    pub(crate) fn new(
        (title, text): (&'a str, &'a str),
        authors: &'a [String],
        link: Option<&'a str>,
        tags: &'a [String],
        sources: Vec<&'a str>,
        words: &'a Words,
    ) -> Entry<'a> {
        Entry {
            title,
            text,
            authors,
            link,
            tags,
            sources,
            words,
        }
    }

    fn title_terms(&self) -> &str {
        self.words.title.get_or_init(|| indexed(self.title))
    }

    fn text_terms(&self) -> &str {
        self.words.text.get_or_init(|| indexed(self.text))
    }

    /// Whether `term` holds of this entry.
    fn has(&self, term: &Term) -> bool {
        match term {
            Term::Text { terms, title_only } => {
                phrase_in(self.title_terms(), terms)
                    || (!title_only && phrase_in(self.text_terms(), terms))
            }
            Term::Sources(names) => self
                .sources
                .iter()
                .any(|s| names.iter().any(|n| n.eq_ignore_ascii_case(s))),
            Term::Author(wanted) => self.authors.iter().any(|a| phrase_in(&indexed(a), wanted)),
            Term::Link(part) => self
                .link
                .is_some_and(|l| l.to_lowercase().contains(part.as_str())),
            Term::Tag(wanted) => self.tags.iter().any(|t| phrase_in(&indexed(t), wanted)),
        }
    }

    fn holds(&self, clause: &Clause) -> bool {
        clause.any.iter().any(|t| self.has(t)) != clause.excluded
    }
}

/// Whether `phrase` occurs in `words` (terms joined by spaces), its terms next to each
/// other in order: found as text, at the start of a term and ending at the end of one.
fn phrase_in(words: &str, phrase: &[String]) -> bool {
    if phrase.is_empty() {
        return false;
    }
    let wanted = phrase.join(" ");
    let bytes = words.as_bytes();
    words.match_indices(&wanted).any(|(at, _)| {
        let end = at + wanted.len();
        (at == 0 || bytes[at - 1] == b' ') && (end == bytes.len() || bytes[end] == b' ')
    })
}

impl Query {
    /// Whether `entry` matches: every clause holds (`since:` is the caller's, by date).
    pub(crate) fn matches(&self, entry: &Entry<'_>) -> bool {
        self.clauses.iter().all(|c| entry.holds(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Names;

    fn query(text: &str) -> Query {
        let names = Names {
            sources: &[],
            stored: &[],
            entry: true,
        };
        match Query::parse(text, names) {
            Ok(q) => q,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn fields_words_phrases_and_exclusions() {
        let authors = vec!["John Gruber".to_owned()];
        let tags = vec!["Política Monetaria".to_owned()];
        let words = Words::default();
        let entry = Entry::new(
            (
                "[Sponsor] Timing — Automatic Time Tracking",
                "Track your time on the Mac, automatically.",
            ),
            &authors,
            Some("https://daringfireball.net/linked/2020/timing"),
            &tags,
            vec!["Daring Fireball"],
            &words,
        );
        for yes in [
            "title:sponsor",
            "\"time tracking\"",
            "mac -windows",
            "windows OR mac",
            "author:gruber",
            "author:\"john gruber\"",
            "link:/linked/",
            "category:\"politica monetaria\"",
        ] {
            assert!(query(yes).matches(&entry), "{yes} should match");
        }
        for no in [
            "title:mac",
            "\"tracking time\"",
            "mac -sponsor",
            "author:smith",
            "link:example.com",
            "category:deportes",
            "tracking \"your mac\"",
        ] {
            assert!(!query(no).matches(&entry), "{no} should not match");
        }
    }
}
