//! WebSub (W3C Recommendation, 2018) in both directions: news pushed to us by outlets' hubs
//! seconds after they publish it (`subscriber`), and our own feeds pushed to readers by our
//! hub (`hub`, what it owes each subscriber in `owed`, the verifications in flight in
//! `verifying`); `signature` signs and checks deliveries. The HTTP routes are `server`'s; what
//! a delivery brings is stored by `poll` (`Poller::pushed`), which the server hands it to. The
//! subscriber implements `poll::Push`, all that polling knows of WebSub.

mod hub;
mod owed;
mod signature;
mod subscriber;
mod verifying;

pub(crate) use hub::{Hub, Request};
pub(crate) use signature::sign;
pub(crate) use subscriber::{Delivery, Subscriber, Verification};
