//! Conditional requests answered before routing. A cached page that a route answered with
//! is remembered by the request's target (path and query); the next `GET` or `HEAD` of that
//! target whose validators match the page, while it is current, is answered 304 here: no
//! routing, no parameters read, no cache key made, no query. Anything else is routed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use axum::http::{header, Method, Request, Uri};
use axum::response::Response;

use super::cache::Rendered;
use super::lock;

/// Targets remembered at most (any search query is one); when full, those whose page the
/// cache dropped are forgotten, then all if that is not enough.
const TARGETS: usize = 4096;

/// The page each target was last answered with, weakly: what the cache dropped is not kept
/// alive here, and its target is routed again.
#[derive(Debug, Default)]
pub(crate) struct Revalidation(Mutex<HashMap<String, Weak<Rendered>>>);

impl Revalidation {
    /// The 304 for `request`, if it is a conditional `GET` or `HEAD` whose target was
    /// answered with a page still current at `generation`, and its validators match it.
    pub(super) fn answer<B>(&self, request: &Request<B>, generation: u64) -> Option<Response> {
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            return None;
        }
        let headers = request.headers();
        if !headers.contains_key(header::IF_NONE_MATCH)
            && !headers.contains_key(header::IF_MODIFIED_SINCE)
        {
            return None;
        }
        let target = request.uri().path_and_query()?.as_str();
        let rendered = lock(&self.0).get(target)?.upgrade()?;
        if !rendered.current(generation) {
            return None;
        }
        rendered.unchanged(headers)
    }

    /// Remembers that a request for `uri` was answered with `rendered`.
    pub(super) fn remember(&self, uri: &Uri, rendered: &Arc<Rendered>) {
        let Some(target) = uri.path_and_query().map(|t| t.as_str()) else {
            return;
        };
        let mut map = lock(&self.0);
        if map
            .get(target)
            .is_some_and(|r| r.as_ptr() == Arc::as_ptr(rendered))
        {
            return;
        }
        if map.len() >= TARGETS && !map.contains_key(target) {
            map.retain(|_, r| r.strong_count() > 0);
            if map.len() >= TARGETS {
                map.clear();
            }
        }
        map.insert(target.to_owned(), Arc::downgrade(rendered));
    }
}
