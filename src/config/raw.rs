//! The config file as written: plain types with serde defaults, which `validate` turns into a
//! [`Config`](super::Config); and how a size is written ("16MiB").

use serde::Deserialize;

use super::{Dedup, OnRemove};

#[derive(Deserialize, Default)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) feed: RawFeed,
    #[serde(default)]
    pub(super) server: RawServer,
    #[serde(default)]
    pub(super) storage: RawStorage,
    #[serde(default)]
    pub(super) poll: RawPoll,
    #[serde(default)]
    pub(super) dedup: RawDedup,
    #[serde(default)]
    pub(super) websub: RawWebSub,
    #[serde(default)]
    pub(super) full_text: RawFullText,
    #[serde(default)]
    pub(super) sources: Vec<RawSource>,
    #[serde(default)]
    pub(super) views: Vec<RawView>,
    #[serde(default)]
    pub(super) rules: Vec<RawRule>,
    #[serde(default)]
    pub(super) notify: Vec<RawNotify>,
}

/// `[full_text]`: the default of every source's `full_text`, and how many pages are read at
/// once.
#[derive(Deserialize)]
#[serde(default)]
pub(super) struct RawFullText {
    pub(super) enabled: bool,
    pub(super) concurrency: usize,
}

impl Default for RawFullText {
    fn default() -> Self {
        RawFullText {
            enabled: false,
            concurrency: 4,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
pub(super) struct RawFeed {
    pub(super) title: String,
    pub(super) base_url: String,
    pub(super) max_entries: u32,
}

impl Default for RawFeed {
    fn default() -> Self {
        RawFeed {
            title: "feedmerge".into(),
            base_url: "http://127.0.0.1:8080".into(),
            max_entries: 100,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
pub(super) struct RawServer {
    pub(super) listen: String,
    pub(super) connections_per_client: usize,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "127.0.0.1:8080".into(),
            connections_per_client: 256,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
pub(super) struct RawStorage {
    pub(super) database: String,
    pub(super) on_remove: OnRemove,
    pub(super) max_age: Option<String>,
    pub(super) max_per_source: Option<u32>,
}

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage {
            database: "data/feedmerge.db".into(),
            on_remove: OnRemove::Keep,
            max_age: None,
            max_per_source: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
pub(super) struct RawPoll {
    pub(super) schedule: String,
    pub(super) concurrency: usize,
    pub(super) timeout: String,
    pub(super) user_agent: String,
    pub(super) timezone: String,
    pub(super) max_body: String,
    pub(super) max_items: usize,
    pub(super) per_host: usize,
    pub(super) backoff_cap: String,
    pub(super) degraded_share: f64,
    pub(super) proxy: Option<String>,
}

impl Default for RawPoll {
    fn default() -> Self {
        RawPoll {
            schedule: "*/15 * * * *".into(),
            concurrency: 16,
            timeout: "30s".into(),
            user_agent: default_user_agent(),
            timezone: "UTC".into(),
            max_body: "16MiB".into(),
            max_items: crate::parse::DEFAULT_MAX_ITEMS,
            per_host: 2,
            backoff_cap: "24h".into(),
            degraded_share: 0.5,
            proxy: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
pub(super) struct RawDedup {
    pub(super) threshold: f64,
    pub(super) window: String,
    pub(super) prefer: Vec<String>,
}

impl Default for RawDedup {
    fn default() -> Self {
        RawDedup {
            threshold: Dedup::default().threshold,
            window: "7d".into(),
            prefer: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
pub(super) struct RawWebSub {
    pub(super) subscribe: Option<bool>,
    pub(super) hub: Option<bool>,
    pub(super) allow_private_callbacks: bool,
    pub(super) lease: String,
    pub(super) safety_poll: String,
}

impl Default for RawWebSub {
    fn default() -> Self {
        RawWebSub {
            subscribe: None,
            hub: None,
            allow_private_callbacks: false,
            lease: "10d".into(),
            safety_poll: "6h".into(),
        }
    }
}

/// Identifies us to outlets, with a link they can follow to find out who is polling them.
pub(crate) fn default_user_agent() -> String {
    format!(
        "feedmerge/{} (+{})",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_REPOSITORY")
    )
}

#[derive(Deserialize)]
pub(super) struct RawSource {
    pub(super) name: String,
    pub(super) url: String,
    #[serde(default)]
    pub(super) categories: Vec<String>,
    pub(super) schedule: Option<String>,
    #[serde(default = "yes")]
    pub(super) enabled: bool,
    #[serde(default = "yes")]
    pub(super) respect_feed_hints: bool,
    #[serde(default)]
    pub(super) allow_private: bool,
    pub(super) full_text: Option<bool>,
    pub(super) content_selector: Option<String>,
    #[serde(default)]
    pub(super) remove: Vec<String>,
    pub(super) user_agent: Option<String>,
    #[serde(default)]
    pub(super) headers: std::collections::BTreeMap<String, String>,
    pub(super) basic_auth: Option<RawBasicAuth>,
    pub(super) cookie_env: Option<String>,
    pub(super) proxy: Option<String>,
    pub(super) html: Option<RawListing>,
    pub(super) json: Option<RawListing>,
}

/// A source's `html` or `json`: where its entries are on a page without a feed.
#[derive(Deserialize)]
pub(super) struct RawListing {
    pub(super) items: String,
    pub(super) title: String,
    pub(super) link: String,
    pub(super) date: Option<String>,
    pub(super) summary: Option<String>,
    pub(super) image: Option<String>,
    pub(super) author: Option<String>,
}

/// A source's `basic_auth`: a user, and the password from one of three places.
#[derive(Deserialize)]
pub(super) struct RawBasicAuth {
    pub(super) user: String,
    pub(super) password: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) password_file: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RawView {
    pub(super) name: String,
    pub(super) title: Option<String>,
    #[serde(default)]
    pub(super) categories: Vec<String>,
    #[serde(default)]
    pub(super) sources: Vec<String>,
    #[serde(default)]
    pub(super) include: Vec<String>,
    #[serde(default)]
    pub(super) exclude: Vec<String>,
    pub(super) query: Option<String>,
    pub(super) max_entries: Option<u32>,
}

#[derive(Deserialize)]
pub(super) struct RawRule {
    #[serde(default)]
    pub(super) sources: Vec<String>,
    #[serde(default)]
    pub(super) categories: Vec<String>,
    pub(super) discard: Option<String>,
    pub(super) keep_only: Option<String>,
    #[serde(default)]
    pub(super) remove: Vec<String>,
    #[serde(default)]
    pub(super) keep_trackers: bool,
    pub(super) rewrite_title: Option<RawRewrite>,
    pub(super) rewrite_text: Option<RawRewrite>,
}

#[derive(Deserialize)]
pub(super) struct RawRewrite {
    pub(super) pattern: String,
    #[serde(default)]
    pub(super) replace: String,
}

#[derive(Deserialize)]
pub(super) struct RawNotify {
    pub(super) name: String,
    pub(super) query: Option<String>,
    pub(super) view: Option<String>,
    pub(super) url: String,
    pub(super) secret_env: Option<String>,
    #[serde(default = "json_format")]
    pub(super) format: String,
    #[serde(default)]
    pub(super) allow_private: bool,
}

fn json_format() -> String {
    "json".into()
}

fn yes() -> bool {
    true
}

/// Parses sizes like "16MiB", "512 KiB", "1000000" (bytes).
pub(super) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}
