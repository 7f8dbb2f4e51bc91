//! Sources polled through a proxy (`proxy`, `[poll].proxy`): a client per proxy, and the
//! guard kept although the proxy, not we, connects to the feed: the feed's address is checked
//! as a direct request's would be before each request (a name is resolved here and must lead
//! to public addresses only), so that a proxy reaches nothing a direct fetch could not.

use url::Url;

use super::{builder, FetchError, Fetcher};
use crate::config::Proxy;

impl Fetcher {
    /// The client for a request to `current` through `proxy`, once the guard allows it.
    pub(super) async fn through(
        &self,
        proxy: &Proxy,
        current: &Url,
        written: Option<&Url>,
        allow_private: bool,
    ) -> Result<reqwest::Client, FetchError> {
        match current.host() {
            _ if allow_private => {}
            Some(url::Host::Domain(_)) => Self::check_address(current, false).await?,
            // An IP address: refused unless public or written as the source's own.
            _ => {
                self.client_for(current, written, false)?;
            }
        }
        let mut clients = self.proxied.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(proxy) {
            return Ok(client.clone());
        }
        let client = reqwest::Proxy::all(proxy.0.as_str())
            .and_then(|p| builder(&self.user_agent, self.timeout).proxy(p).build())
            // Not the error's words: they may quote the proxy's address, password and all.
            .map_err(|_| FetchError::Other("cannot set up a client for the proxy".into()))?;
        clients.insert(proxy.clone(), client.clone());
        Ok(client)
    }
}
