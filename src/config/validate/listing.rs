//! A source's `html` or `json`: the selectors (or pointers) that turn a page without a feed
//! into entries, each checked so that `check` names the one that cannot be read.

use super::super::raw::{RawListing, RawSource};
use super::{source_key, Seg, Validator};
use crate::parse::{Listing, Pick};

impl Validator<'_> {
    /// The `i`th source's listing, if it has one (`html` or `json`, not both).
    pub(super) fn listing(&mut self, i: usize, s: &RawSource) -> Option<Listing> {
        let (raw, json) = match (&s.html, &s.json) {
            (Some(_), Some(_)) => {
                self.problem(
                    &source_key(i, "json"),
                    "a source reads its page as html or as json, not both".into(),
                );
                return None;
            }
            (Some(raw), None) => (raw, false),
            (None, Some(raw)) => (raw, true),
            (None, None) => return None,
        };
        let table = if json { "json" } else { "html" };
        let pick = |this: &mut Self, field: &str, raw: &str| {
            let mut path = source_key(i, table);
            path.push(Seg::Key(field.into()));
            this.pick(&path, raw, json)
        };
        let RawListing {
            items,
            title,
            link,
            date,
            summary,
            image,
            author,
        } = raw;
        let items = pick(self, "items", items).map(|p| p.path);
        let title = pick(self, "title", title);
        let link = pick(self, "link", link);
        let optional = |this: &mut Self, field: &str, raw: &Option<String>| {
            raw.as_deref().and_then(|r| pick(this, field, r))
        };
        let date = optional(self, "date", date);
        let summary = optional(self, "summary", summary);
        let image = optional(self, "image", image);
        let author = optional(self, "author", author);
        Some(Listing {
            json,
            items: items?,
            title: title?,
            link: link?,
            date,
            summary,
            image,
            author,
        })
    }

    /// A field's place: a JSON pointer (`/data/items`, or empty for the whole), or a CSS
    /// selector with an optional `@attribute`.
    fn pick(&mut self, path: &[Seg], raw: &str, json: bool) -> Option<Pick> {
        let raw = raw.trim();
        if json {
            if !raw.is_empty() && !raw.starts_with('/') {
                self.problem(
                    path,
                    format!("{raw:?} is not a JSON pointer: it starts with \"/\" (\"/items\")"),
                );
                return None;
            }
            return Some(Pick {
                path: raw.to_owned(),
                attribute: None,
            });
        }
        let (selector, attribute) = match raw.rsplit_once('@') {
            Some((s, a))
                if !a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_:".contains(c)) =>
            {
                (s.trim(), Some(a.to_ascii_lowercase()))
            }
            _ => (raw, None),
        };
        if dom_query::Matcher::new(selector).is_err() {
            self.problem(path, format!("{selector:?} is not a CSS selector"));
            return None;
        }
        Some(Pick {
            path: selector.to_owned(),
            attribute,
        })
    }
}
