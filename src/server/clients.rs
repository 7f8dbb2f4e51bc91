//! Each client's share of the connections: no one address may hold more than
//! [`MAX_PER_CLIENT`] at once, so that a flood from one client (idle, slow or half-sent
//! requests) leaves places for everyone else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connections one client address may hold at once: a sixteenth of all the places. A
/// reverse proxy in front of feedmerge is one client: its pool of connections stays well
/// under this.
pub(super) const MAX_PER_CLIENT: usize = super::MAX_CONNECTIONS / 16;

/// The address of the client a request came from, among the request's extensions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

/// The router, serving one connection: it files the client's address with each request.
#[derive(Clone)]
pub(super) struct Served {
    pub(super) router: axum::Router,
    pub(super) client: IpAddr,
}

impl<B> tower_service::Service<axum::http::Request<B>> for Served
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = <axum::Router as tower_service::Service<axum::http::Request<B>>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tower_service::Service::<axum::http::Request<B>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(ClientAddr(self.client));
        self.router.call(request)
    }
}

/// Connections held, by client address.
#[derive(Debug, Clone, Default)]
pub(super) struct Clients(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection of a client, given back when dropped.
pub(super) struct Held {
    clients: Clients,
    ip: IpAddr,
}

impl Clients {
    /// A place for a connection from `ip`, unless it holds its share already.
    pub(super) fn admit(&self, ip: IpAddr) -> Option<Held> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(ip).or_insert(0);
        if *count >= MAX_PER_CLIENT {
            return None;
        }
        *count += 1;
        Some(Held {
            clients: self.clone(),
            ip,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.clients.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.ip);
            }
        }
    }
}
