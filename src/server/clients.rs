//! Each client's share of the connections: no one address may hold more than
//! `[server].connections_per_client` at once (by default a sixteenth of all the places), so
//! that a flood from one client (idle, slow or half-sent requests) leaves places for
//! everyone else. A reverse proxy in front of feedmerge is one client: its pool of
//! connections must stay under that share, or the share be raised.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The address of the client a request came from, among the request's extensions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

/// The routes, serving one connection: a conditional request for a page served before is
/// answered at once (see `revalidate`); any other is routed, with the client's address
/// filed among its extensions.
#[derive(Clone)]
pub(super) struct Served {
    pub(super) routes: super::Routes,
    pub(super) client: IpAddr,
}

impl<B> tower_service::Service<axum::http::Request<B>> for Served
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Either<
        std::future::Ready<Result<Self::Response, Self::Error>>,
        <axum::Router as tower_service::Service<axum::http::Request<B>>>::Future,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tower_service::Service::<axum::http::Request<B>>::poll_ready(&mut self.routes.router, cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        let ctx = &self.routes.ctx;
        if let Some(answer) = ctx.revalidation.answer(&request, ctx.generation()) {
            return futures_util::future::Either::Left(std::future::ready(Ok(answer)));
        }
        request.extensions_mut().insert(ClientAddr(self.client));
        futures_util::future::Either::Right(self.routes.router.call(request))
    }
}

/// Connections held, by client address, and how many each may hold.
#[derive(Debug, Clone)]
pub(super) struct Clients {
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
    share: usize,
}

/// One connection of a client, given back when dropped.
pub(super) struct Held {
    clients: Clients,
    ip: IpAddr,
}

impl Clients {
    /// No connection held yet; each client may hold `share`.
    pub(super) fn new(share: usize) -> Clients {
        Clients {
            held: Default::default(),
            share,
        }
    }

    /// A place for a connection from `ip`, unless it holds its share already.
    pub(super) fn admit(&self, ip: IpAddr) -> Option<Held> {
        let mut held = super::lock(&self.held);
        let count = held.entry(ip).or_insert(0);
        if *count >= self.share {
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
        let mut held = super::lock(&self.clients.held);
        if let Some(count) = held.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.ip);
            }
        }
    }
}
