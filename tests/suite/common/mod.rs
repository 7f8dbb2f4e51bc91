//! Shared test harness, by concern: `server` (the fixture feed server on 127.0.0.1),
//! `config` (config files, built), `cpu` (CPU time, for bounds on the shape of work), `daemon` (temp dirs holding a config, and the feedmerge
//! binary run on them), `database` (the engines, and reading the database), `websub` (a
//! WebSub hub and a reader's callback).

use std::path::Path;

mod config;
mod cpu;
mod daemon;
mod database;
mod server;
mod websub;

pub use config::*;
pub use cpu::*;
pub use daemon::*;
pub use database::*;
pub use server::*;
pub use websub::*;

/// How long a request may take before a test calls it a stall: generous, so that only a hang
/// exceeds it on a loaded 2-core machine running a debug build. Tests bound the shape of
/// work with counts or CPU time, never with a tight wall time.
pub const STALL: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads a file from `tests/fixtures/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}
