//! `feedmerge preview SOURCE`: the entries a source's config gives now — its feed, or its
//! page read by its `html` or `json` — fetched and read as a poll's, stored nowhere.

use reqwest::StatusCode;

use super::{PollError, Poller};
use crate::config::Source;
use crate::fetch::{FetchError, Validators};
use crate::parse::Article;
use crate::rules::Ruleset;

impl Poller {
    /// What a poll of `source` would read now.
    pub(crate) async fn preview(&self, source: &Source) -> Result<Vec<Article>, PollError> {
        let allow_private = source.allow_private;
        let outcome = self
            .fetcher
            .fetch(
                &source.url,
                &Validators::default(),
                allow_private,
                &source.http,
            )
            .await?;
        // Nothing was sent to validate against: a 304 is the server's mistake.
        let fetched = outcome.content.ok_or(FetchError::Status {
            status: StatusCode::NOT_MODIFIED,
            retry_after: None,
        })?;
        let listing = source.listing.as_ref();
        let rules = Ruleset::for_source(&self.live.current(), source);
        let read = self
            .reader
            .read(fetched, allow_private, listing, rules)
            .await?;
        Ok(read.articles.into_iter().map(|k| k.article).collect())
    }
}
