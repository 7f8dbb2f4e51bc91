//! The integration tests, one module per area, built as one binary: one link instead of one
//! per file, and one process whose threads run every area's tests side by side (most of them
//! wait on a daemon, a server or a timer, not on the CPU). `cargo test --locked` runs it;
//! `cargo test --test suite polling::` runs one area.

mod add;
mod alerts;
mod browser;
mod common;
mod config;
mod corpus;
mod crash;
mod crashes;
mod daemon;
mod differential;
mod entries;
mod full_disk;
mod full_text;
mod headlines;
mod hostile;
mod hostile_hub;
mod hostile_input;
mod import;
mod ingest;
mod layout;
mod listings;
mod media;
mod metrics;
mod operators;
mod parse;
mod polling;
mod properties;
mod quick_start;
mod recorder;
mod reload;
mod replicas;
mod restart;
mod retention;
mod revalidation;
mod rules;
mod schedule;
mod search;
mod serving;
mod source_http;
mod stories;
mod story_pages;
mod validity;
mod websub;
