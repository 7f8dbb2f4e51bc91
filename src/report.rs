//! What polling one source came to: the report that the engine, `feedmerge fetch`, the log
//! and `/metrics` all read. Its own module so that `metrics`, which counts reports, does not
//! depend on `poll`, which writes them (and counts each in the metrics).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::publish::moved_permanently;
use crate::store::Counts;

/// What polling one source came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// The source's name.
    pub source: String,
    /// The HTTP status, if the server answered.
    pub status: Option<u16>,
    /// The outcome.
    pub outcome: Outcome,
    /// When it is next due; `None` once it is disabled.
    pub next_due: Option<DateTime<Utc>>,
    /// Where a permanent redirect led, to be written into the config.
    pub moved_to: Option<String>,
    /// Bytes of feed body received (after content decoding).
    pub bytes: u64,
    /// How long the request took, from sending it to having the whole body, if one was sent.
    pub fetch_time: Option<Duration>,
}

/// The outcome of a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server said the feed has not changed.
    NotModified,
    /// The feed was read and its articles stored.
    Stored(Counts),
    /// Something failed; the message is also stored as the source's last error.
    Failed(String),
    /// Not fetched: its host asked everyone to wait until then.
    Deferred(DateTime<Utc>),
    /// Not fetched: another replica polled it, or is polling it.
    Elsewhere,
    /// Shutdown came first; nothing was recorded.
    Cancelled,
}

impl PollReport {
    /// The report of a poll of `source` that has not got anywhere yet: cancelled, unless it
    /// goes on to say otherwise.
    pub(crate) fn new(source: &str) -> PollReport {
        PollReport {
            source: source.to_owned(),
            status: None,
            outcome: Outcome::Cancelled,
            next_due: None,
            moved_to: None,
            bytes: 0,
            fetch_time: None,
        }
    }
}

impl fmt::Display for PollReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status.map_or("-".to_owned(), |s| s.to_string());
        write!(f, "{:<28} {:>3}  ", self.source, status)?;
        match &self.outcome {
            Outcome::NotModified => f.write_str("not modified")?,
            Outcome::Stored(c) => write!(
                f,
                "{} new, {} updated, {} unchanged, {} merged",
                c.new, c.updated, c.unchanged, c.merged
            )?,
            Outcome::Failed(e) => write!(f, "error: {e}")?,
            Outcome::Deferred(until) => write!(
                f,
                "held back: its host asked to wait until {}",
                until.format("%H:%M:%SZ")
            )?,
            Outcome::Elsewhere => f.write_str("polled by another replica")?,
            Outcome::Cancelled => f.write_str("cancelled by shutdown")?,
        }
        if let Some(url) = &self.moved_to {
            write!(f, " ({})", moved_permanently(url))?;
        }
        Ok(())
    }
}

/// The target of the lines [`log`] writes: `feedmerge fetch`, which prints the same in its
/// table, leaves them out.
pub const POLL_LOG: &str = "feedmerge::polls";

/// Logs one poll: a failure as a warning, the rest for debugging; a permanent redirect as a
/// warning, since the config must change.
pub(crate) fn log(report: &PollReport) {
    let name = report.source.as_str();
    let status = report.status;
    let next_due = report
        .next_due
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string());
    match &report.outcome {
        Outcome::Failed(error) => {
            tracing::warn!(target: POLL_LOG, source = name, status, %error, next_due, "poll failed")
        }
        Outcome::Stored(c) => tracing::debug!(
            target: POLL_LOG,
            source = name,
            status,
            new = c.new,
            updated = c.updated,
            unchanged = c.unchanged,
            merged = c.merged,
            next_due,
            "polled"
        ),
        _ => tracing::debug!(target: POLL_LOG, source = name, status, next_due, "polled"),
    }
    if let Some(url) = &report.moved_to {
        tracing::warn!(
            target: POLL_LOG,
            source = name,
            problem = moved_permanently(url),
            "source moved"
        );
    }
}
