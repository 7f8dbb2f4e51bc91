//! Why a poll (or a push) stored no feed, typed until the moment it is recorded as words.

use std::time::Duration;

use crate::fetch::FetchError;
use crate::parse::ParseError;
use crate::store::StoreError;

/// Why a poll or a push stored no feed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PollError {
    /// The fetch failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The body is no feed we can read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Reading the feed took longer than the fetch timeout.
    #[error("reading the feed took longer than {} s (the [poll].timeout); it is too large or too complex", .0.as_secs())]
    TooSlowToRead(Duration),
    /// The parsing thread panicked or was cancelled.
    #[error("the feed parser failed: {0}")]
    ParserFailed(#[from] tokio::task::JoinError),
    /// The store did not take the result.
    #[error("could not store the result: {0}")]
    Store(#[from] StoreError),
}

impl PollError {
    /// The `Retry-After` the server sent with its error status, if it did.
    pub(super) fn retry_after(&self) -> Option<Duration> {
        match self {
            PollError::Fetch(FetchError::Status { retry_after, .. }) => *retry_after,
            _ => None,
        }
    }

    /// The message recorded, logged and shown for it: it is stored, logged and shown on
    /// every `/status`, and a hostile feed can make one of megabytes (a page naming 80,000
    /// feeds) or one that forges a log line.
    pub(crate) fn message(&self) -> String {
        crate::untrusted::printable(&self.to_string(), crate::untrusted::MAX_SAID)
    }
}
