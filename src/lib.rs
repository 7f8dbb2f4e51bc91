//! feedmerge: a self-hosted news aggregator.
//!
//! It polls the RSS, Atom and JSON feeds of many outlets on cron schedules, stores their
//! articles in SQLite once however many outlets carry them, recognises the versions of one
//! story under different links and headlines, and republishes one merged feed with one entry
//! per story.
//! The modules are the stages of that pipeline, data flowing one way:
//!
//! `config` → `schedule` → `fetch` → `parse` → `dedup` → `store` → `publish` → `server`
//!
//! `poll` runs one source through fetch, parse, dedup and store; `reload` holds the config in
//! force and replaces it when the file changes; `import` adds an OPML file's feeds to it; `metrics` counts what the engine does; `app` wires the stages into the commands;
//! `shutdown` is the stop signal they share.

pub mod app;
pub mod config;
pub mod dedup;
pub mod fetch;
pub mod import;
pub mod metrics;
pub mod parse;
pub mod poll;
pub mod publish;
pub mod reload;
pub mod schedule;
pub mod server;
pub mod shutdown;
pub mod store;
