//! What polling knows of WebSub: the hub and topic a response names, and the narrow interface
//! through which a poll tells our subscriptions what it found and asks how often a source
//! that is pushed must still be polled. `websub` implements it; `poll` knows no more of it.

use std::time::Duration;

use futures_util::future::BoxFuture;
use url::Url;

use crate::config::Source;
use crate::fetch::Links;
use crate::parse::ParsedFeed;
use crate::store::Counts;

/// A source's WebSub hub and topic, as its feed or its response named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Discovered {
    /// The first hub named (HTTP `Link` headers before the feed's own links, as WebSub says).
    pub(crate) hub: Url,
    /// The feed's own URL: `rel="self"`.
    pub(crate) topic: Url,
}

impl Discovered {
    /// The hub and topic of a response whose `Link` headers were `links` and whose feed is
    /// `feed`: the headers' if they name a hub, else the feed's.
    pub(super) fn of(links: &Links, feed: &ParsedFeed) -> Option<Discovered> {
        let hub = links.hubs.first().or(feed.hubs.first())?.clone();
        let topic = links.this.clone().or_else(|| feed.topic.clone())?;
        Some(Discovered { hub, topic })
    }
}

/// Our subscriptions at sources' hubs, as a poll sees them.
pub(crate) trait Push: std::fmt::Debug + Send + Sync {
    /// How far apart polls of `source` must be at least because its hub pushes its feed.
    fn safety_net(&self, source: &str) -> Option<Duration>;

    /// After a stored poll of `source`, which `found` a hub (or none) and stored `counts`.
    fn polled<'a>(
        &'a self,
        source: &'a Source,
        found: Option<Discovered>,
        counts: Counts,
    ) -> BoxFuture<'a, ()>;
}
