//! feedmerge: a self-hosted news aggregator.
//!
//! It polls the RSS, Atom and JSON feeds of many outlets on cron schedules, stores their
//! articles once however many outlets carry them (in SQLite, or PostgreSQL for replicas),
//! recognises the versions of one story under different links and headlines, and republishes
//! one merged feed, and filtered views of it, with one entry per story.
//!
//! The modules are the stages of that pipeline, data flowing one way:
//!
//! | stage | module | owns |
//! |---|---|---|
//! | 1 | `config` | the TOML file, validated; what is fixed at start apart from what reloads |
//! | 2 | `schedule` | cron expressions and where each source's next poll goes |
//! | 3 | `fetch` | one HTTP request: conditional GET, redirects, limits, address checks |
//! | 4 | `parse` | bytes to articles: decoding, feed-rs, normalising, sanitising |
//! | 5 | `dedup` | identity: entry keys, canonical links, fingerprints, the story rules |
//! | 6 | `store` | the database, and the only SQL, split by entity |
//! | 7 | `publish` | which stories each feed shows (`publish::feeds`), and rendering them |
//! | 8 | `server` | the HTTP routes |
//!
//! Between `parse` and `dedup`, `rules` shapes each entry as it comes in (`[[rules]]`:
//! discard, keep only, rewrite, remove elements and trackers); `reapply` applies the rules
//! again to what is stored. Beside the hub after `publish`, `notify` tells each alert's target
//! (`[[notify]]`) of the new stories that match it.
//!
//! Around them: `poll` runs one source through fetch, parse, dedup and store, and says what
//! came of it in a `report`; `engine` runs every source on its schedule; `reload` holds the
//! config in force and replaces it when the file changes; `metrics` counts the reports;
//! `import` adds an OPML file's feeds to the config, `discover` a site's feed found from its address; `query` reads a search query into what
//! the store runs; `websub` has news pushed to us by
//! outlets' hubs and pushes our feeds to readers; `app` wires the stages into the commands, and `cli` renders what the one-shot ones print;
//! `shutdown` is the stop signal they share; `address` tells public IP addresses from the
//! others; `untrusted` makes outside text fit to store, log and print; `memory` keeps the allocator near what is live;
//! `priority` has parsing yield the cores to the writer and to serving.
//!
//! The modules are private. What the binary, the tests, the benchmarks and the fuzz target
//! use is re-exported here.

#![warn(unreachable_pub)]

mod address;
mod app;
pub mod cli;
mod config;
mod dedup;
mod discover;
mod engine;
mod fetch;
mod fulltext;
mod import;
mod memory;
mod metrics;
mod notify;
mod parse;
mod poll;
mod priority;
mod publish;
mod query;
mod reapply;
mod reload;
mod report;
mod rules;
mod schedule;
mod server;
mod shutdown;
mod store;
mod untrusted;
mod websub;

pub use app::{shutdown_on_signals, App, AppError};
pub use config::{
    locate, Config, ConfigError, Database, Dedup, ExtractOptions, FeedSettings, Limits, OnRemove,
    PollSettings, Problem, Source, Startup, StorageSettings, View, WebSub,
};
pub use dedup::{canonical_link, identify, Fingerprint, Keyed};
pub use discover::{add, AddError, AddOptions, Added};
pub use fetch::{FetchError, Validators};
pub use fulltext::{extract_article, ExtractError, Extracted, Read};
pub use import::{import, ImportError, Imported};
pub use memory::tune_allocator;
pub use parse::{
    parse_feed, parse_feed_upto, Article, Enclosure, Image, Listing, Media, ParseError, ParsedFeed,
    Pick, SearchTerms, DEFAULT_MAX_ITEMS,
};
pub use publish::{render, FeedError, FeedMeta, Format, PublishError};
pub use query::QueryError;
pub use reapply::Reapplied;
pub use report::{Outcome, PollReport, POLL_LOG};
pub use rules::Discarded;
pub use schedule::{CronSchedule, Ended, Plan, ScheduleError};
pub use shutdown::{channel as shutdown_channel, Shutdown, ShutdownTrigger};
pub use store::{Attempt, Counts, Next, Outlet, Removed, Store, StoreError, Story, Totals};
