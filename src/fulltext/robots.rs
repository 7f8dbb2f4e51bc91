//! robots.txt, honoured for article pages (never for feeds, which are published to be
//! polled): fetched once a day per site, through the same guard, deadline and limits as
//! every fetch, and read with texting_robots for feedmerge's product token. As RFC 9309 has
//! it, a site without one (4xx) allows everything, and one that cannot be read (5xx, no
//! answer) disallows everything until it can.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use texting_robots::Robot;
use tokio::sync::Mutex;
use url::Url;

use crate::fetch::{FetchError, Fetcher};

/// The token of our user agent that robots.txt groups name.
const AGENT: &str = "feedmerge";
/// How long what a site's robots.txt said is kept.
const KEEP: Duration = Duration::from_secs(24 * 3600);
/// How long a robots.txt that could not be read holds the site's pages back.
const KEEP_FAILURE: Duration = Duration::from_secs(3600);
/// Bytes of a robots.txt read (RFC 9309 asks parsers to read at least 500 KiB).
const MAX_ROBOTS: u64 = 512 * 1024;
/// Sites remembered at most: past it, the oldest is forgotten.
const MAX_SITES: usize = 10_000;

/// What a site's robots.txt lets us read.
enum Rules {
    /// Everything (no robots.txt).
    All,
    /// Nothing, for now (it could not be read).
    Nothing,
    /// What its rules say.
    Some(Box<Robot>),
}

/// The sites' robots.txt, as last read.
pub(super) struct Robots {
    fetcher: Fetcher,
    sites: Mutex<HashMap<String, (Instant, Rules)>>,
}

impl Robots {
    pub(super) fn new(fetcher: Fetcher) -> Robots {
        Robots {
            fetcher,
            sites: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the site's robots.txt lets feedmerge read `page` (reading it first if it was
    /// not read lately; the other sites' pages do not wait for it).
    pub(super) async fn allow(&self, page: &Url, allow_private: bool) -> bool {
        let site = page.origin().ascii_serialization();
        let fresh = {
            let sites = self.sites.lock().await;
            sites
                .get(&site)
                .is_some_and(|(until, _)| *until > Instant::now())
        };
        if !fresh {
            let (keep, rules) = self.read(page, allow_private).await;
            let mut sites = self.sites.lock().await;
            if sites.len() >= MAX_SITES {
                let oldest = sites
                    .iter()
                    .min_by_key(|(_, (t, _))| *t)
                    .map(|(s, _)| s.clone());
                if let Some(oldest) = oldest {
                    sites.remove(&oldest);
                }
            }
            sites.insert(site.clone(), (Instant::now() + keep, rules));
        }
        let sites = self.sites.lock().await;
        match sites.get(&site).map(|(_, r)| r) {
            Some(Rules::All) => true,
            Some(Rules::Some(robot)) => robot.allowed(page.as_str()),
            Some(Rules::Nothing) | None => false,
        }
    }

    /// The robots.txt of `page`'s site, and how long to keep what it says.
    async fn read(&self, page: &Url, allow_private: bool) -> (Duration, Rules) {
        let Ok(robots) = page.join("/robots.txt") else {
            return (KEEP, Rules::All);
        };
        match self
            .fetcher
            .fetch_page(&robots, allow_private, MAX_ROBOTS)
            .await
        {
            Ok(fetched) => match Robot::new(AGENT, &fetched.body) {
                Ok(robot) => (KEEP, Rules::Some(Box::new(robot))),
                // Rules that cannot be read restrict nothing.
                Err(_) => (KEEP, Rules::All),
            },
            Err(FetchError::Status { status, .. }) if status.is_client_error() => {
                (KEEP, Rules::All)
            }
            // The site is not one we may reach: the page's own fetch says so.
            Err(FetchError::Private { .. }) => (KEEP_FAILURE, Rules::All),
            Err(_) => (KEEP_FAILURE, Rules::Nothing),
        }
    }
}
