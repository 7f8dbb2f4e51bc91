//! The checks of `[[rules]]` and `[[notify]]`: scopes that exist, queries that read (in the
//! search language, `query`), selectors and regular expressions that compile, a target that
//! is a web address (public unless allowed) with its secret in the environment.

use url::Url;

use super::super::raw::{RawNotify, RawRewrite, RawRule};
use super::super::rules::{
    Alert, AlertFormat, AlertMatch, Rewrite, Rule, Secret, Selector, Target,
};
use super::super::{categories, public_host, Source, View};
use super::{Seg, Validator};
use crate::query::{Names, Query};

/// The path of `field` of the `i`th entry of `table`.
fn key(table: &str, i: usize, field: &str) -> Vec<Seg> {
    vec![
        Seg::Key(table.into()),
        Seg::Index(i),
        Seg::Key(field.into()),
    ]
}

impl Validator<'_> {
    /// Checks every `[[rules]]` entry.
    pub(super) fn rules(&mut self, raw: &[RawRule], sources: &[Source]) -> Vec<Rule> {
        let names = sources_and_categories(sources);
        let all_categories = categories(sources);
        let mut rules = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            let scope_sources = self.known_names(
                |j| item(key("rules", i, "sources"), j),
                &r.sources,
                sources.iter().map(|s| s.name.as_str()),
                |s| format!("{s:?} is not the name of any [[sources]] entry"),
            );
            let scope_categories = self.known_names(
                |j| item(key("rules", i, "categories"), j),
                &r.categories,
                all_categories.iter().copied(),
                |c| format!("no source is filed under category {c:?}"),
            );
            let entry = Names {
                sources: &names,
                stored: &[],
                entry: true,
            };
            let discard = self.query(&key("rules", i, "discard"), r.discard.as_deref(), entry);
            let keep_only =
                self.query(&key("rules", i, "keep_only"), r.keep_only.as_deref(), entry);
            let mut remove = Vec::with_capacity(r.remove.len());
            for (j, selector) in r.remove.iter().enumerate() {
                match Selector::new(selector) {
                    Some(s) => remove.push(s),
                    None => self.problem(
                        &item(key("rules", i, "remove"), j),
                        format!("{selector:?} is not a CSS selector"),
                    ),
                }
            }
            let rewrite_title = self.rewrite(i, "rewrite_title", r.rewrite_title.as_ref());
            let rewrite_text = self.rewrite(i, "rewrite_text", r.rewrite_text.as_ref());
            let does_nothing = r.discard.is_none()
                && r.keep_only.is_none()
                && r.remove.is_empty()
                && !r.keep_trackers
                && r.rewrite_title.is_none()
                && r.rewrite_text.is_none();
            if does_nothing {
                self.problem(
                    &[Seg::Key("rules".into()), Seg::Index(i)],
                    "this rule does nothing: give it discard, keep_only, remove, keep_trackers, \
                     rewrite_title or rewrite_text"
                        .into(),
                );
            }
            let (Some(sources), Some(categories), Ok(discard), Ok(keep_only)) =
                (scope_sources, scope_categories, discard, keep_only)
            else {
                continue;
            };
            let (Ok(rewrite_title), Ok(rewrite_text)) = (rewrite_title, rewrite_text) else {
                continue;
            };
            rules.push(Rule {
                number: i + 1,
                sources,
                categories,
                discard,
                keep_only,
                remove,
                keep_trackers: r.keep_trackers,
                rewrite_title,
                rewrite_text,
            });
        }
        rules
    }

    /// Checks every `[[notify]]` entry against the views that exist.
    pub(super) fn alerts(
        &mut self,
        raw: &[RawNotify],
        sources: &[Source],
        views: &[View],
    ) -> Vec<Alert> {
        let names = sources_and_categories(sources);
        let mut alerts: Vec<Alert> = Vec::with_capacity(raw.len());
        for (i, n) in raw.iter().enumerate() {
            let name = n.name.trim();
            if name.is_empty() || name.chars().any(char::is_control) {
                self.problem(&key("notify", i, "name"), "must be a name to show".into());
            } else if raw[..i]
                .iter()
                .any(|o| o.name.trim().eq_ignore_ascii_case(name))
            {
                self.problem(
                    &key("notify", i, "name"),
                    format!("duplicate alert {name:?}"),
                );
            }
            let matches = match (&n.query, &n.view) {
                (Some(q), None) => self
                    .query(
                        &key("notify", i, "query"),
                        Some(q),
                        Names::search(&names, &[]),
                    )
                    .ok()
                    .flatten()
                    .map(AlertMatch::Query),
                (None, Some(v)) => match views.iter().find(|w| w.name.eq_ignore_ascii_case(v)) {
                    Some(w) => Some(AlertMatch::View(w.name.clone())),
                    None => {
                        self.problem(
                            &key("notify", i, "view"),
                            format!("no [[views]] entry is named {v:?}"),
                        );
                        None
                    }
                },
                _ => {
                    self.problem(
                        &[Seg::Key("notify".into()), Seg::Index(i)],
                        "give either query (a search) or view (a view's name)".into(),
                    );
                    None
                }
            };
            let target = self.target(i, n);
            let secret = n.secret_env.as_ref().and_then(|var| {
                let value = std::env::var(var).ok().filter(|v| !v.is_empty());
                if value.is_none() {
                    self.problem(
                        &key("notify", i, "secret_env"),
                        format!("the environment variable {var} is not set"),
                    );
                }
                value.map(Secret)
            });
            let format = AlertFormat::NAMES
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n.format.trim()))
                .map(|(_, f)| *f);
            if format.is_none() {
                self.problem(
                    &key("notify", i, "format"),
                    format!("{:?}: use json, text, slack or discord", n.format),
                );
            }
            let (Some(matches), Some(target), Some(format)) = (matches, target, format) else {
                continue;
            };
            if n.secret_env.is_some() && secret.is_none() {
                continue;
            }
            alerts.push(Alert {
                name: name.to_owned(),
                matches,
                target,
                secret,
                format,
                allow_private: n.allow_private,
            });
        }
        alerts
    }

    /// The `i`th alert's `url`: http(s), and on a public host unless `allow_private`.
    fn target(&mut self, i: usize, n: &RawNotify) -> Option<Target> {
        let path = key("notify", i, "url");
        match Url::parse(n.url.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                if !n.allow_private && !public_host(&u) {
                    self.problem(
                        &path,
                        "is on a private or loopback address; set allow_private = true if it \
                         is meant to be"
                            .into(),
                    );
                    return None;
                }
                Some(Target(u))
            }
            _ => {
                self.problem(&path, "must be an http:// or https:// address".into());
                None
            }
        }
    }

    /// The query at `path`, if one is written: `Err` when it does not read (said).
    pub(super) fn query(
        &mut self,
        path: &[Seg],
        text: Option<&str>,
        names: Names<'_>,
    ) -> Result<Option<Query>, ()> {
        let Some(text) = text else {
            return Ok(None);
        };
        Query::parse(text, names).map(Some).map_err(|e| {
            self.problem(
                path,
                format!("{text:?} is not a query that can be read: {e}"),
            );
        })
    }

    /// The `field` rewrite of the `i`th rule: `Err` when its pattern does not compile (said).
    fn rewrite(
        &mut self,
        i: usize,
        field: &str,
        raw: Option<&RawRewrite>,
    ) -> Result<Option<Rewrite>, ()> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let mut path = key("rules", i, field);
        path.push(Seg::Key("pattern".into()));
        match regex::RegexBuilder::new(&raw.pattern)
            .size_limit(1 << 20)
            .build()
        {
            Ok(pattern) => Ok(Some(Rewrite {
                pattern,
                replace: raw.replace.clone(),
            })),
            Err(e) => {
                let why = e.to_string();
                // The regex crate's message is several lines; its last one says why.
                let why = why.lines().last().unwrap_or("invalid").trim().to_owned();
                self.problem(
                    &path,
                    format!("{:?} is not a valid regular expression: {why}", raw.pattern),
                );
                Err(())
            }
        }
    }
}

/// `path` with the index `j` after it.
fn item(mut path: Vec<Seg>, j: usize) -> Vec<Seg> {
    path.push(Seg::Index(j));
    path
}

/// Each source's name and categories, as a query reads them.
fn sources_and_categories(sources: &[Source]) -> Vec<(&str, &[String])> {
    sources
        .iter()
        .map(|s| (s.name.as_str(), s.categories.as_slice()))
        .collect()
}
