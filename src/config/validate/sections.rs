//! The checks of each section of the config, and the [`Config`] made of what they accept.
//! Every section is checked even after a problem, so that one run reports every problem.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use url::Url;

use super::super::raw::*;
use super::super::*;
use super::{key, source_key, Seg, Validator};

impl Validator<'_> {
    pub(super) fn check(&mut self, raw: RawConfig) -> Option<Config> {
        let base_url = self.base_url(&raw.feed.base_url);
        if raw.feed.max_entries == 0 {
            self.problem(&key("feed.max_entries"), "must be at least 1".into());
        }
        let listen = self.listen(std::env::var(ENV_LISTEN).unwrap_or(raw.server.listen));
        let per_client = raw.server.connections_per_client;
        if !(1..=MAX_CONNECTIONS).contains(&per_client) {
            self.problem(
                &key("server.connections_per_client"),
                format!("must be from 1 to {MAX_CONNECTIONS}, the connections served at once"),
            );
        }
        let database = std::env::var(ENV_DATABASE).unwrap_or_else(|_| raw.storage.database.clone());
        let database = self.database(&database);
        let storage = self.storage(&raw.storage);
        let poll = self.poll(&raw.poll);
        let limits = self.limits(&raw.poll);
        let poll_proxy = raw
            .poll
            .proxy
            .as_deref()
            .and_then(|p| self.proxy(&key("poll.proxy"), p));
        let sources = self.sources(raw.sources, raw.full_text.enabled, poll_proxy);
        if raw.full_text.concurrency == 0 {
            self.problem(&key("full_text.concurrency"), "must be at least 1".into());
        }
        let views = self.views(&raw.views, &sources, raw.feed.max_entries);
        let rules = self.rules(&raw.rules, &sources);
        let alerts = self.alerts(&raw.notify, &sources, &views);
        let dedup = self.dedup(&raw.dedup, &sources);
        let websub = self.websub(&raw.websub, base_url.as_ref());
        Some(Config {
            path: self.path.to_owned(),
            websub: websub?,
            feed: FeedSettings {
                title: raw.feed.title,
                base_url: base_url?,
                max_entries: raw.feed.max_entries,
            },
            startup: Startup {
                listen: listen?,
                connections_per_client: per_client.clamp(1, MAX_CONNECTIONS),
                database,
                dedup: dedup?,
                limits: limits?,
            },
            storage: storage?,
            poll: poll?,
            sources,
            views,
            rules,
            alerts,
            full_text_concurrency: raw.full_text.concurrency.max(1),
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    /// `[feed].base_url`: an http(s) address, ending in `/`.
    fn base_url(&mut self, raw: &str) -> Option<Url> {
        match Url::parse(raw) {
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
        }
    }

    /// `[server].listen` (or the environment's), an address and port.
    fn listen(&mut self, raw: String) -> Option<SocketAddr> {
        match raw.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.problem(
                    &key("server.listen"),
                    format!("{raw:?} is not an address and port like \"127.0.0.1:8080\""),
                );
                None
            }
        }
    }

    /// The database the environment names, else `[storage].database`: a file (relative to
    /// the config's folder) or a PostgreSQL URL.
    fn database(&mut self, database: &str) -> Database {
        if database.trim().is_empty() {
            self.problem(
                &key("storage.database"),
                "must name a file or a postgres:// URL".into(),
            );
            return Database::Sqlite(PathBuf::new());
        }
        Database::parse(database, self.path.parent().unwrap_or(Path::new("")))
    }

    /// `[storage]`'s retention.
    fn storage(&mut self, raw: &RawStorage) -> Option<StorageSettings> {
        let max_age = match &raw.max_age {
            Some(text) => self
                .duration(&key("storage.max_age"), text, "90d")
                .map(Some),
            None => Some(None),
        };
        if raw.max_per_source == Some(0) {
            self.problem(&key("storage.max_per_source"), "must be at least 1".into());
        }
        Some(StorageSettings {
            on_remove: raw.on_remove,
            max_age: max_age?,
            max_per_source: raw.max_per_source,
        })
    }

    /// `[poll]`'s schedule and what it may reload.
    fn poll(&mut self, raw: &RawPoll) -> Option<PollSettings> {
        let schedule = self.cron(&key("poll.schedule"), &raw.schedule);
        let backoff_cap = self.duration(&key("poll.backoff_cap"), &raw.backoff_cap, "24h");
        let degraded_share = raw.degraded_share;
        if !(0.0..=1.0).contains(&degraded_share) {
            self.problem(
                &key("poll.degraded_share"),
                format!("{degraded_share} is not a share between 0 and 1"),
            );
        }
        let timezone = match raw.timezone.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                self.problem(
                    &key("poll.timezone"),
                    format!(
                        "unknown time zone {:?}; use an IANA name like \"Europe/Berlin\"",
                        raw.timezone
                    ),
                );
                None
            }
        };
        Some(PollSettings {
            schedule: schedule?,
            timezone: timezone?,
            backoff_cap: backoff_cap?,
            degraded_share,
        })
    }

    /// `[poll]`'s limits, fixed at start.
    pub(super) fn limits(&mut self, raw: &RawPoll) -> Option<Limits> {
        for (name, value) in [
            ("poll.max_items", raw.max_items),
            ("poll.concurrency", raw.concurrency),
            ("poll.per_host", raw.per_host),
        ] {
            if value == 0 {
                self.problem(&key(name), "must be at least 1".into());
            }
        }
        let timeout = self.duration(&key("poll.timeout"), &raw.timeout, "30s");
        let max_body = match parse_size(&raw.max_body) {
            Some(n) if n > 0 => Some(n),
            _ => {
                self.problem(&key("poll.max_body"), "not a size like \"16MiB\"".into());
                None
            }
        };
        if raw.user_agent.trim().is_empty() {
            self.problem(&key("poll.user_agent"), "must not be empty".into());
        }
        Some(Limits {
            concurrency: raw.concurrency,
            per_host: raw.per_host,
            timeout: timeout?,
            user_agent: raw.user_agent.clone(),
            max_body: max_body?,
            max_items: raw.max_items,
        })
    }

    /// `[dedup]`, its preferred outlets among `sources`.
    fn dedup(&mut self, raw: &RawDedup, sources: &[Source]) -> Option<Dedup> {
        let threshold = raw.threshold;
        if !(threshold > 0.0 && threshold <= 1.0) {
            self.problem(
                &key("dedup.threshold"),
                format!("{threshold} is not a similarity between 0 (exclusive) and 1"),
            );
        }
        let window = self.duration(&key("dedup.window"), &raw.window, "7d");
        let prefer = self.known_names(
            |j| {
                vec![
                    Seg::Key("dedup".into()),
                    Seg::Key("prefer".into()),
                    Seg::Index(j),
                ]
            },
            &raw.prefer,
            sources.iter().map(|s| s.name.as_str()),
            |name| format!("{name:?} is not the name of any [[sources]] entry"),
        );
        Some(Dedup {
            threshold,
            window: window?,
            prefer: prefer?,
        })
    }

    /// Each of `wanted` (at `path_of` its index) as spelled among `known` (compared without
    /// case), or the problem `unknown` says for each that is none of them; `None` if any was
    /// not.
    pub(super) fn known_names<'k>(
        &mut self,
        path_of: impl Fn(usize) -> Vec<Seg>,
        wanted: &[String],
        known: impl Iterator<Item = &'k str> + Clone,
        unknown: impl Fn(&str) -> String,
    ) -> Option<Vec<String>> {
        let mut names = Some(Vec::with_capacity(wanted.len()));
        for (j, name) in wanted.iter().enumerate() {
            let found = known.clone().find(|k| k.eq_ignore_ascii_case(name.trim()));
            match (found, &mut names) {
                (Some(k), Some(names)) => names.push(k.to_owned()),
                (Some(_), None) => {}
                (None, _) => {
                    self.problem(&path_of(j), unknown(name));
                    names = None;
                }
            }
        }
        names
    }

    /// `[[sources]]`: each named once, at an http(s) address, on a valid schedule.
    /// `[[sources]]`; `full_text` is `[full_text].enabled`, their default.
    fn sources(
        &mut self,
        raw: Vec<RawSource>,
        full_text: bool,
        poll_proxy: Option<Proxy>,
    ) -> Vec<Source> {
        let mut sources = Vec::with_capacity(raw.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        if raw.is_empty() {
            self.problem(
                &key("sources"),
                "no [[sources]] listed: add at least one feed".into(),
            );
        }
        for (i, s) in raw.into_iter().enumerate() {
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
            let url = self.source_url(i, &s.url);
            let extract = self.extract_options(i, &s, full_text);
            let http = self.source_http(i, &s, poll_proxy.as_ref());
            let listing = self.listing(i, &s);
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
                    full_text: extract,
                    http,
                    listing,
                });
            }
        }
        sources
    }

    /// How the `i`th source's pages are read for their full text, if they are (`full_text`,
    /// else the default `enabled`): its CSS selectors checked.
    fn extract_options(
        &mut self,
        i: usize,
        s: &RawSource,
        enabled: bool,
    ) -> Option<ExtractOptions> {
        let check = |this: &mut Self, path: Vec<Seg>, selector: &str| {
            if dom_query::Matcher::new(selector).is_err() {
                this.problem(&path, format!("{selector:?} is not a CSS selector"));
            }
        };
        if let Some(selector) = &s.content_selector {
            check(self, source_key(i, "content_selector"), selector);
        }
        for (j, selector) in s.remove.iter().enumerate() {
            let mut path = source_key(i, "remove");
            path.push(Seg::Index(j));
            check(self, path, selector);
        }
        s.full_text.unwrap_or(enabled).then(|| ExtractOptions {
            selector: s.content_selector.clone(),
            remove: s.remove.clone(),
        })
    }

    /// The feed address of the `i`th source: http or https, with a host.
    fn source_url(&mut self, i: usize, raw: &str) -> Option<Url> {
        match Url::parse(raw) {
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
                    format!("{raw:?} is not a valid URL: {e}"),
                );
                None
            }
        }
    }

    /// `[websub]`, its defaults following whether a hub elsewhere could reach `base_url`.
    fn websub(&mut self, raw: &RawWebSub, base_url: Option<&Url>) -> Option<WebSub> {
        let lease = self.duration(&key("websub.lease"), &raw.lease, "10d");
        let safety_poll = self.duration(&key("websub.safety_poll"), &raw.safety_poll, "6h");
        // Unset: on when a hub elsewhere could reach this server (see `WebSub`).
        let reachable = super::super::public_host(base_url?);
        Some(WebSub {
            subscribe: raw.subscribe.unwrap_or(reachable),
            hub: raw.hub.unwrap_or(reachable),
            allow_private_callbacks: raw.allow_private_callbacks,
            lease: lease?,
            safety_poll: safety_poll?,
        })
    }
}
