//! WebSub (W3C Recommendation, 2018) in both directions: news pushed to us by outlets' hubs
//! seconds after they publish it (`subscriber`), and our own feeds pushed to readers by our
//! hub (`hub`); `signature` signs and checks deliveries. The HTTP routes are `server`'s; what
//! a delivery brings goes through `poll`'s parse, dedup and store path.

mod hub;
mod signature;
mod subscriber;

pub(crate) use hub::{Hub, Request};
pub(crate) use subscriber::{Delivery, Subscriber, Verification};

use crate::poll::Poller;

/// What the server's WebSub routes reach.
#[derive(Debug, Clone)]
pub(crate) struct WebSub {
    /// Our subscriptions at outlets' hubs.
    pub(crate) subscriber: Subscriber,
    /// Our own hub.
    pub(crate) hub: Hub,
    /// Stores what a hub pushes, as a poll's fetch is stored.
    pub(crate) poller: Poller,
    /// Deliveries read and stored at once.
    pub(crate) deliveries: std::sync::Arc<tokio::sync::Semaphore>,
}

/// How many deliveries are read and stored at once: each holds a body of up to
/// `[poll].max_body`.
pub(crate) const DELIVERIES_AT_ONCE: usize = 4;
