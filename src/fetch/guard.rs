//! The guard against server-side request forgery: which client a request may use, and the
//! resolver that keeps names to public addresses. A feed (or a WebSub hub or callback) whose
//! name resolves to, or that redirects to, a non-public address (as `address` tells them) is
//! refused, unless its source allows it; an IP address written in the config as the source's
//! own host and port is taken as meant.

use std::net::{IpAddr, SocketAddr};

use url::Url;

use super::{FetchError, Fetcher};
use crate::address::non_public;

impl Fetcher {
    /// The client for an IP address written in a URL, if it is public.
    pub(super) fn literal(&self, ip: IpAddr) -> Result<&reqwest::Client, FetchError> {
        match non_public(ip) {
            Some(kind) => Err(FetchError::Private {
                host: ip.to_string(),
                address: ip,
                kind,
            }),
            None => Ok(&self.client),
        }
    }

    /// Whether `url` may be sent a WebSub request: its host is public (a name resolving
    /// only to public addresses), or `allow_private`. Checked before a subscription is taken,
    /// so that a reader hears at once why its callback is refused; each request checks again.
    pub(crate) async fn check_address(url: &Url, allow_private: bool) -> Result<(), FetchError> {
        if allow_private {
            return Ok(());
        }
        let host = match url.host() {
            Some(url::Host::Ipv4(ip)) => return Self::refuse(&ip.to_string(), IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => return Self::refuse(&ip.to_string(), IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => name.to_owned(),
            None => return Err(FetchError::Other("the URL has no host".into())),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let addresses = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| FetchError::Connect(format!("cannot resolve {host}: {e}")))?;
        for address in addresses {
            Self::refuse(&host, address.ip())?;
        }
        Ok(())
    }

    fn refuse(host: &str, ip: IpAddr) -> Result<(), FetchError> {
        match non_public(ip) {
            Some(kind) => Err(FetchError::Private {
                host: host.to_owned(),
                address: ip,
                kind,
            }),
            None => Ok(()),
        }
    }

    /// The client for a request to `current` on the way to `url`'s feed, or the refusal.
    /// `written` is the address the user wrote in the config, if this request started there
    /// (a feed's; not an article page's, which the feed names).
    pub(super) fn client_for(
        &self,
        current: &Url,
        written: Option<&Url>,
        allow_private: bool,
    ) -> Result<&reqwest::Client, FetchError> {
        let ip = match current.host() {
            _ if allow_private => return Ok(&self.client),
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            // A name: the resolver keeps to public addresses.
            _ => return Ok(&self.public),
        };
        match non_public(ip) {
            // The address the user wrote as the source's own is taken as meant: that host and
            // port, not the host's other ports.
            Some(_)
                if written.is_some_and(|url| {
                    current.host() == url.host()
                        && current.port_or_known_default() == url.port_or_known_default()
                }) =>
            {
                Ok(&self.client)
            }
            Some(kind) => Err(FetchError::Private {
                host: ip.to_string(),
                address: ip,
                kind,
            }),
            None => Ok(&self.client),
        }
    }
}

/// Why a name was not resolved: every address it has is not public. Raised by [`PublicOnly`]
/// and found again in the transport error's causes.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to non-public addresses, such as {address}")]
pub(super) struct NotPublic {
    pub(super) host: String,
    pub(super) address: IpAddr,
}

/// A resolver that hands out a name's public addresses only, and fails if it has none.
pub(super) struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all
                .iter()
                .filter(|a| non_public(a.ip()).is_none())
                .copied()
                .collect();
            match (public.is_empty(), all.first()) {
                (true, Some(first)) => Err(Box::new(NotPublic {
                    host,
                    address: first.ip(),
                })
                    as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}
