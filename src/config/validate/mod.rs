//! Validation: every value of a [`RawConfig`] checked and turned into a [`Config`], every
//! problem found kept with its file, line, column and dotted key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use url::Url;

use crate::schedule::CronSchedule;

use super::raw::*;
use super::*;

/// Validates config text as if it had been read from `path`.
pub(super) fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut v = Validator {
        path,
        text,
        lines: std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
        doc: None,
        problems: Vec::new(),
    };
    let config = v.validate();
    v.problems.sort_by_key(|p| (p.line, p.column));
    match config {
        Some(config) if v.problems.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid(v.problems)),
    }
}

/// One segment of a key path: a table key or an array index.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn key(path: &str) -> Vec<Seg> {
    path.split('.').map(|k| Seg::Key(k.to_owned())).collect()
}

fn source_key(index: usize, field: &str) -> Vec<Seg> {
    vec![
        Seg::Key("sources".into()),
        Seg::Index(index),
        Seg::Key(field.into()),
    ]
}

pub(super) struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
    /// Where each line of `text` starts: a problem's line is found by a binary search, not a
    /// count from the top (a file of 20,000 duplicates once took 11 s to check).
    lines: Vec<usize>,
    doc: Option<toml::Spanned<DeTable<'a>>>,
    problems: Vec<Problem>,
}

impl<'a> Validator<'a> {
    /// The line and column (from 1, in characters) of byte `offset` of the text.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.lines.partition_point(|&start| start <= offset);
        let start = self.lines[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |t| t.chars().count())
            + 1;
        (line, column)
    }

    fn problem_at(&mut self, span: Range<usize>, key: String, message: String) {
        let (line, column) = self.line_col(span.start);
        self.problems.push(Problem {
            file: self.path.to_owned(),
            line,
            column,
            key,
            message,
        });
    }

    /// Records a problem with the value at `path` (or, when it is not in the file, with the
    /// table that would hold it, or the file's start).
    fn problem(&mut self, path: &[Seg], message: String) {
        let span = self.span_of(path, false);
        self.problem_at(span, display_path(path), message);
    }

    /// The span of the value (or with `want_key`, the key) at `path`, falling back to the
    /// nearest enclosing item present in the file.
    fn span_of(&self, path: &[Seg], want_key: bool) -> Range<usize> {
        let Some(doc) = &self.doc else { return 0..0 };
        let mut best = 0..0;
        let mut table: Option<&DeTable> = Some(doc.get_ref());
        let mut array: Option<&toml::de::DeArray> = None;
        for seg in path {
            let found = match (seg, table, array) {
                (Seg::Key(k), Some(t), _) => t
                    .iter()
                    .find(|(name, _)| name.get_ref().as_ref() == k.as_str())
                    .map(|(name, value)| (name.span(), value)),
                (Seg::Index(i), _, Some(a)) => a.get(*i).map(|v| (v.span(), v)),
                _ => None,
            };
            let Some((key_span, value)) = found else {
                break;
            };
            best = if want_key { key_span } else { value.span() };
            table = None;
            array = None;
            match value.get_ref() {
                DeValue::Table(t) => table = Some(t),
                DeValue::Array(a) => array = Some(a),
                _ => {}
            }
        }
        best
    }

    /// The key path of the innermost value whose span holds `span`. Every node is searched,
    /// since a table opened by a `[header]` has a span that does not cover its keys.
    fn path_at(&self, span: &Range<usize>) -> Vec<Seg> {
        fn walk(value: &DeValue, span: &Range<usize>, path: &mut Vec<Seg>, best: &mut Vec<Seg>) {
            let mut visit = |seg: Seg, v: &toml::Spanned<DeValue>, path: &mut Vec<Seg>| {
                path.push(seg);
                let vs = v.span();
                if vs.start <= span.start && span.end <= vs.end && path.len() > best.len() {
                    *best = path.clone();
                }
                walk(v.get_ref(), span, path, best);
                path.pop();
            };
            match value {
                DeValue::Table(t) => {
                    for (k, v) in t.iter() {
                        visit(Seg::Key(k.get_ref().to_string()), v, path);
                    }
                }
                DeValue::Array(a) => {
                    for (i, v) in a.iter().enumerate() {
                        visit(Seg::Index(i), v, path);
                    }
                }
                _ => {}
            }
        }
        let mut best = Vec::new();
        if let Some(doc) = &self.doc {
            walk(
                &DeValue::Table(doc.get_ref().clone()),
                span,
                &mut Vec::new(),
                &mut best,
            );
        }
        best
    }

    pub(super) fn validate(&mut self) -> Option<Config> {
        let (doc, syntax) = DeTable::parse_recoverable(self.text);
        if !syntax.is_empty() {
            for e in syntax {
                let span = e.span().unwrap_or(0..0);
                self.problem_at(
                    span,
                    String::new(),
                    format!("invalid TOML: {}", e.message()),
                );
            }
            return None;
        }
        self.doc = Some(doc);

        let mut unknown: Vec<Vec<Seg>> = Vec::new();
        let raw: Result<RawConfig, _> = toml::Deserializer::parse(self.text)
            .and_then(|de| serde_ignored::deserialize(de, |p| unknown.push(segments(&p))));
        for path in unknown {
            let span = self.span_of(&path, true);
            let name = display_path(&path);
            self.problem_at(
                span,
                name,
                "unknown key (check its spelling and the table it is in)".into(),
            );
        }
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let path = self.path_at(&span);
                self.problem_at(span, display_path(&path), e.message().to_owned());
                return None;
            }
        };
        self.check(raw)
    }

    fn check(&mut self, raw: RawConfig) -> Option<Config> {
        let base_url = match Url::parse(&raw.feed.base_url) {
            Ok(mut u) if matches!(u.scheme(), "http" | "https") => {
                // A base must end in '/', or joining "feed.atom" would replace its last segment.
                if !u.path().ends_with('/') {
                    let path = format!("{}/", u.path());
                    u.set_path(&path);
                }
                Some(u)
            }
            Ok(_) => {
                self.problem(
                    &key("feed.base_url"),
                    "must be an http:// or https:// address".into(),
                );
                None
            }
            Err(e) => {
                self.problem(&key("feed.base_url"), format!("not a valid URL: {e}"));
                None
            }
        };
        if raw.feed.max_entries == 0 {
            self.problem(&key("feed.max_entries"), "must be at least 1".into());
        }
        let listen_raw = std::env::var(ENV_LISTEN).unwrap_or(raw.server.listen);
        let listen = match listen_raw.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.problem(
                    &key("server.listen"),
                    format!("{listen_raw:?} is not an address and port like \"127.0.0.1:8080\""),
                );
                None
            }
        };
        let database = std::env::var(ENV_DATABASE).unwrap_or(raw.storage.database);
        let database = if database.trim().is_empty() {
            self.problem(
                &key("storage.database"),
                "must name a file or a postgres:// URL".into(),
            );
            Database::Sqlite(PathBuf::new())
        } else {
            Database::parse(&database, self.path.parent().unwrap_or(Path::new("")))
        };
        let max_age = match &raw.storage.max_age {
            Some(text) => self
                .duration(&key("storage.max_age"), text, "90d")
                .map(Some),
            None => Some(None),
        };
        if raw.storage.max_per_source == Some(0) {
            self.problem(&key("storage.max_per_source"), "must be at least 1".into());
        }

        let schedule = self.cron(&key("poll.schedule"), &raw.poll.schedule);
        if raw.poll.max_items == 0 {
            self.problem(&key("poll.max_items"), "must be at least 1".into());
        }
        if raw.poll.concurrency == 0 {
            self.problem(&key("poll.concurrency"), "must be at least 1".into());
        }
        let timeout = self.duration(&key("poll.timeout"), &raw.poll.timeout, "30s");
        let backoff_cap = self.duration(&key("poll.backoff_cap"), &raw.poll.backoff_cap, "24h");
        let degraded_share = raw.poll.degraded_share;
        if !(0.0..=1.0).contains(&degraded_share) {
            self.problem(
                &key("poll.degraded_share"),
                format!("{degraded_share} is not a share between 0 and 1"),
            );
        }
        if raw.poll.per_host == 0 {
            self.problem(&key("poll.per_host"), "must be at least 1".into());
        }
        let timezone = match raw.poll.timezone.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                self.problem(
                    &key("poll.timezone"),
                    format!(
                        "unknown time zone {:?}; use an IANA name like \"Europe/Berlin\"",
                        raw.poll.timezone
                    ),
                );
                None
            }
        };
        let max_body = match parse_size(&raw.poll.max_body) {
            Some(n) if n > 0 => Some(n),
            _ => {
                self.problem(&key("poll.max_body"), "not a size like \"16MiB\"".into());
                None
            }
        };
        if raw.poll.user_agent.trim().is_empty() {
            self.problem(&key("poll.user_agent"), "must not be empty".into());
        }

        let threshold = raw.dedup.threshold;
        if !(threshold > 0.0 && threshold <= 1.0) {
            self.problem(
                &key("dedup.threshold"),
                format!("{threshold} is not a similarity between 0 (exclusive) and 1"),
            );
        }
        let window = self.duration(&key("dedup.window"), &raw.dedup.window, "7d");

        let mut sources = Vec::with_capacity(raw.sources.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        if raw.sources.is_empty() {
            self.problem(
                &key("sources"),
                "no [[sources]] listed: add at least one feed".into(),
            );
        }
        for (i, s) in raw.sources.into_iter().enumerate() {
            let name = s.name.trim().to_owned();
            if name.is_empty() {
                self.problem(&source_key(i, "name"), "must not be empty".into());
            } else if let Some(&first) = seen.get(&name.to_lowercase()) {
                let (line, _) =
                    self.line_col(self.span_of(&source_key(first, "name"), false).start);
                self.problem(
                    &source_key(i, "name"),
                    format!("duplicate source name {name:?} (first used on line {line}); names must be unique"),
                );
            } else {
                seen.insert(name.to_lowercase(), i);
            }
            let url = match Url::parse(&s.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
                Ok(u) => {
                    self.problem(
                        &source_key(i, "url"),
                        format!(
                            "{:?}: only http:// and https:// feeds can be polled",
                            u.as_str()
                        ),
                    );
                    None
                }
                Err(e) => {
                    self.problem(
                        &source_key(i, "url"),
                        format!("{:?} is not a valid URL: {e}", s.url),
                    );
                    None
                }
            };
            let schedule = match &s.schedule {
                Some(expr) => self.cron(&source_key(i, "schedule"), expr).map(Some),
                None => Some(None),
            };
            if let (Some(url), Some(schedule)) = (url, schedule) {
                sources.push(Source {
                    name,
                    url,
                    categories: s.categories,
                    schedule,
                    enabled: s.enabled,
                    respect_feed_hints: s.respect_feed_hints,
                    allow_private: s.allow_private,
                });
            }
        }

        let views = self.views(&raw.views, &sources, raw.feed.max_entries);
        let mut prefer = Vec::new();
        for (j, name) in raw.dedup.prefer.iter().enumerate() {
            match sources
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
            {
                Some(source) => prefer.push(source.name.clone()),
                None => self.problem(
                    &[
                        Seg::Key("dedup".into()),
                        Seg::Key("prefer".into()),
                        Seg::Index(j),
                    ],
                    format!("{name:?} is not the name of any [[sources]] entry"),
                ),
            }
        }

        let lease = self.duration(&key("websub.lease"), &raw.websub.lease, "10d");
        let safety_poll = self.duration(&key("websub.safety_poll"), &raw.websub.safety_poll, "6h");
        let websub = base_url.as_ref().map(|base| {
            // Unset: on when a hub elsewhere could reach this server (see `WebSub`).
            let reachable = super::public_host(base);
            WebSub {
                subscribe: raw.websub.subscribe.unwrap_or(reachable),
                hub: raw.websub.hub.unwrap_or(reachable),
                allow_private_callbacks: raw.websub.allow_private_callbacks,
                lease: Duration::ZERO,
                safety_poll: Duration::ZERO,
            }
        });

        Some(Config {
            path: self.path.to_owned(),
            websub: WebSub {
                lease: lease?,
                safety_poll: safety_poll?,
                ..websub?
            },
            feed: FeedSettings {
                title: raw.feed.title,
                base_url: base_url?,
                max_entries: raw.feed.max_entries,
            },
            startup: Startup {
                listen: listen?,
                database,
                dedup: Dedup {
                    threshold,
                    window: window?,
                    prefer,
                },
                limits: Limits {
                    concurrency: raw.poll.concurrency,
                    per_host: raw.poll.per_host,
                    timeout: timeout?,
                    user_agent: raw.poll.user_agent,
                    max_body: max_body?,
                    max_items: raw.poll.max_items,
                },
            },
            storage: StorageSettings {
                on_remove: raw.storage.on_remove,
                max_age: max_age?,
                max_per_source: raw.storage.max_per_source,
            },
            poll: PollSettings {
                schedule: schedule?,
                timezone: timezone?,
                backoff_cap: backoff_cap?,
                degraded_share,
            },
            sources,
            views,
        })
    }

    /// Checks every `[[views]]` entry against the sources and categories that exist.
    fn views(&mut self, raw: &[RawView], sources: &[Source], max_entries: u32) -> Vec<View> {
        let key = |i: usize, field: &str| {
            vec![
                Seg::Key("views".into()),
                Seg::Index(i),
                Seg::Key(field.into()),
            ]
        };
        let item = |i: usize, field: &str, j: usize| {
            let mut k = key(i, field);
            k.push(Seg::Index(j));
            k
        };
        let categories: Vec<&str> = sources
            .iter()
            .flat_map(|s| s.categories.iter().map(String::as_str))
            .collect();
        let mut views = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, v) in raw.iter().enumerate() {
            let name = v.name.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                self.problem(
                    &key(i, "name"),
                    format!(
                        "{name:?}: a view's name is part of its URL: use letters, digits, - and _"
                    ),
                );
            } else if names.insert(name.to_lowercase(), i).is_some() {
                self.problem(&key(i, "name"), format!("duplicate view name {name:?}"));
            }
            let mut ok = true;
            let mut view_sources = Vec::new();
            for (j, s) in v.sources.iter().enumerate() {
                match sources
                    .iter()
                    .find(|src| src.name.eq_ignore_ascii_case(s.trim()))
                {
                    Some(src) => view_sources.push(src.name.clone()),
                    None => {
                        ok = false;
                        self.problem(
                            &item(i, "sources", j),
                            format!("{s:?} is not the name of any [[sources]] entry"),
                        );
                    }
                }
            }
            let mut view_categories = Vec::new();
            for (j, c) in v.categories.iter().enumerate() {
                match categories
                    .iter()
                    .find(|known| known.eq_ignore_ascii_case(c.trim()))
                {
                    Some(known) => view_categories.push((*known).to_owned()),
                    None => {
                        ok = false;
                        self.problem(
                            &item(i, "categories", j),
                            format!("no source is filed under category {c:?}"),
                        );
                    }
                }
            }
            let mut patterns = |field: &str, list: &[String]| -> Vec<regex::Regex> {
                let mut out = Vec::new();
                for (j, p) in list.iter().enumerate() {
                    match regex::RegexBuilder::new(p)
                        .case_insensitive(true)
                        .size_limit(1 << 20)
                        .build()
                    {
                        Ok(re) => out.push(re),
                        Err(e) => {
                            ok = false;
                            let why = e.to_string();
                            // The regex crate's message is several lines; its last one says why.
                            let why = why.lines().last().unwrap_or("invalid").trim();
                            self.problem(
                                &item(i, field, j),
                                format!("{p:?} is not a valid regular expression: {why}"),
                            );
                        }
                    }
                }
                out
            };
            let include = patterns("include", &v.include);
            let exclude = patterns("exclude", &v.exclude);
            if v.max_entries == Some(0) {
                self.problem(&key(i, "max_entries"), "must be at least 1".into());
            }
            if ok {
                views.push(View {
                    name: name.to_owned(),
                    title: v.title.clone().unwrap_or_else(|| name.to_owned()),
                    categories: view_categories,
                    sources: view_sources,
                    include,
                    exclude,
                    max_entries: v.max_entries.unwrap_or(max_entries).max(1),
                });
            }
        }
        views
    }

    fn duration(&mut self, path: &[Seg], text: &str, example: &str) -> Option<Duration> {
        match humantime::parse_duration(text) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.problem(path, "must be longer than zero".into());
                None
            }
            Err(e) => {
                self.problem(path, format!("not a duration like {example:?}: {e}"));
                None
            }
        }
    }

    fn cron(&mut self, path: &[Seg], expr: &str) -> Option<CronSchedule> {
        match CronSchedule::parse(expr) {
            Ok(s) => Some(s),
            Err(e) => {
                self.problem(path, e.to_string());
                None
            }
        }
    }
}

fn segments(path: &serde_ignored::Path) -> Vec<Seg> {
    use serde_ignored::Path as P;
    match path {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut v = segments(parent);
            v.push(Seg::Index(*index));
            v
        }
        P::Map { parent, key } => {
            let mut v = segments(parent);
            v.push(Seg::Key(key.clone()));
            v
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            segments(parent)
        }
    }
}
