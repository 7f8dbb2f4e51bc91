//! The checks of `[[views]]`: names fit for a URL and used once, sources and categories that
//! exist, patterns that are regular expressions.

use std::collections::HashMap;

use super::super::raw::RawView;
use super::super::{Source, View};
use super::{Seg, Validator};

/// The path of `field` of the `i`th view.
fn key(i: usize, field: &str) -> Vec<Seg> {
    vec![
        Seg::Key("views".into()),
        Seg::Index(i),
        Seg::Key(field.into()),
    ]
}

/// The path of the `j`th item of `field` of the `i`th view.
fn item(i: usize, field: &str, j: usize) -> Vec<Seg> {
    let mut k = key(i, field);
    k.push(Seg::Index(j));
    k
}

impl Validator<'_> {
    /// Checks every `[[views]]` entry against the sources and categories that exist.
    pub(super) fn views(
        &mut self,
        raw: &[RawView],
        sources: &[Source],
        max_entries: u32,
    ) -> Vec<View> {
        let categories: Vec<&str> = sources
            .iter()
            .flat_map(|s| s.categories.iter().map(String::as_str))
            .collect();
        let mut views = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, v) in raw.iter().enumerate() {
            let name = v.name.trim();
            let url_safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
            if name.is_empty() || !name.chars().all(url_safe) {
                self.problem(
                    &key(i, "name"),
                    format!(
                        "{name:?}: a view's name is part of its URL: use letters, digits, - and _"
                    ),
                );
            } else if names.insert(name.to_lowercase(), i).is_some() {
                self.problem(&key(i, "name"), format!("duplicate view name {name:?}"));
            }
            let view_sources = self.known_names(
                |j| item(i, "sources", j),
                &v.sources,
                sources.iter().map(|s| s.name.as_str()),
                |s| format!("{s:?} is not the name of any [[sources]] entry"),
            );
            let view_categories = self.known_names(
                |j| item(i, "categories", j),
                &v.categories,
                categories.iter().copied(),
                |c| format!("no source is filed under category {c:?}"),
            );
            let names: Vec<(&str, &[String])> = sources
                .iter()
                .map(|s| (s.name.as_str(), s.categories.as_slice()))
                .collect();
            let query = self.query(
                &key(i, "query"),
                v.query.as_deref(),
                crate::query::Names::search(&names, &[]),
            );
            let include = self.patterns(i, "include", &v.include);
            let exclude = self.patterns(i, "exclude", &v.exclude);
            if v.max_entries == Some(0) {
                self.problem(&key(i, "max_entries"), "must be at least 1".into());
            }
            let (Some(sources), Some(categories), Some(include), Some(exclude), Ok(query)) =
                (view_sources, view_categories, include, exclude, query)
            else {
                continue;
            };
            views.push(View {
                name: name.to_owned(),
                title: v.title.clone().unwrap_or_else(|| name.to_owned()),
                categories,
                sources,
                include,
                exclude,
                query,
                max_entries: v.max_entries.unwrap_or(max_entries).max(1),
            });
        }
        views
    }

    /// The regular expressions of `field` of the `i`th view (matched without case); `None`
    /// if one is not a regular expression (each such said).
    fn patterns(&mut self, i: usize, field: &str, list: &[String]) -> Option<Vec<regex::Regex>> {
        let mut out = Some(Vec::with_capacity(list.len()));
        for (j, p) in list.iter().enumerate() {
            let built = regex::RegexBuilder::new(p)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build();
            match (built, &mut out) {
                (Ok(re), Some(out)) => out.push(re),
                (Ok(_), None) => {}
                (Err(e), _) => {
                    let why = e.to_string();
                    // The regex crate's message is several lines; its last one says why.
                    let why = why.lines().last().unwrap_or("invalid").trim();
                    self.problem(
                        &item(i, field, j),
                        format!("{p:?} is not a valid regular expression: {why}"),
                    );
                    out = None;
                }
            }
        }
        out
    }
}
