//! Stage 3 of the pipeline: getting a feed's bytes over HTTP.
//!
//! Owns the HTTP client and everything about one request: the user agent, timeouts,
//! compression, the redirect limit, conditional GET (`If-None-Match` / `If-Modified-Since`
//! from the validators stored last time) and the cap on the body, which is enforced on the
//! *decompressed* stream as it arrives so that no server can make us hold more than the cap.
//! It knows nothing about feed formats or storage.
//!
//! Also owns the guard against server-side request forgery: a feed whose name resolves to,
//! or that redirects to, a loopback, private, link-local (cloud metadata at 169.254.169.254)
//! or otherwise non-public address (as `address` tells them) is refused, unless its source
//! sets `allow_private`. An IP address written in the config as the source's own host (and
//! port) is taken as meant. WebSub's requests to hubs and readers' callbacks go through the
//! same guard (`Fetcher::send`). The guard is `guard.rs`; requests through a source's proxy,
//! `proxy.rs`.

mod guard;
mod proxy;

use crate::address::non_public;
use crate::config::{Limits, Proxy, SourceHttp};
use guard::{NotPublic, PublicOnly};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use url::Url;

/// How long we wait for a TCP/TLS connection before giving up on a host.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed before a source is reported as a redirect loop.
const MAX_REDIRECTS: usize = 5;

/// The HTTP validators a server gave for the last copy we stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag` header, verbatim.
    pub etag: Option<String>,
    /// The `Last-Modified` header, verbatim.
    pub last_modified: Option<String>,
}

/// What a request that reached a feed produced.
#[derive(Debug)]
pub(crate) struct FetchOutcome {
    /// Where a chain of permanent redirects (301/308) from the requested URL led, if it did:
    /// the address to use from now on. Temporary redirects are followed but not remembered.
    pub(crate) moved_to: Option<Url>,
    /// The server's `Cache-Control: max-age`, a hint of how often the feed changes.
    pub(crate) max_age: Option<Duration>,
    /// The feed, or `None` for 304 (the copy we have is current).
    pub(crate) content: Option<Fetched>,
}

/// A feed body and what the server said about it.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// HTTP status (2xx).
    pub(crate) status: u16,
    /// The URL the body came from, after redirects: relative links resolve against it.
    pub(crate) url: Url,
    /// The `Content-Type` header, if any (its charset matters to decoding).
    pub(crate) content_type: Option<String>,
    /// The decompressed body.
    pub(crate) body: Vec<u8>,
    /// Validators to send next time.
    pub(crate) validators: Validators,
    /// The `Link` header's hub and self links (WebSub discovery), resolved.
    pub(crate) links: Links,
}

/// What a response's `Link` header says of the feed, for WebSub (RFC 8288).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Links {
    /// `rel="hub"`: the hubs that push the feed.
    pub(crate) hubs: Vec<Url>,
    /// `rel="self"`: the feed's own URL, as the hubs know it.
    pub(crate) this: Option<Url>,
}

impl Links {
    /// Reads every `Link` header value, resolving against `base`. Malformed parts are
    /// skipped: a bad header costs push, never the feed.
    pub(crate) fn read<'a>(values: impl Iterator<Item = &'a str>, base: &Url) -> Links {
        let mut links = Links::default();
        for value in values {
            // `<url>; rel="hub", <url>; rel=self`: a URL never holds `>`, and the parameters
            // after it end at the next `,<`.
            for part in value.split('<').skip(1) {
                let Some((target, params)) = part.split_once('>') else {
                    continue;
                };
                let Ok(url) = base.join(target.trim()) else {
                    continue;
                };
                let rels = params
                    .split(';')
                    .filter_map(|p| p.split_once('='))
                    .filter(|(k, _)| k.trim().eq_ignore_ascii_case("rel"))
                    .flat_map(|(_, v)| {
                        v.trim()
                            .trim_end_matches(',')
                            .trim()
                            .trim_matches('"')
                            .to_owned()
                            .split_whitespace()
                            .map(str::to_ascii_lowercase)
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>();
                if rels.iter().any(|r| r == "hub") && !links.hubs.contains(&url) {
                    links.hubs.push(url.clone());
                }
                if rels.iter().any(|r| r == "self") && links.this.is_none() {
                    links.this = Some(url);
                }
            }
        }
        links
    }
}

/// A request to send that is not a feed's fetch: WebSub's, to a hub (subscribe, unsubscribe)
/// or to a reader's callback (verification of intent, a delivery), and an alert's POST to
/// its target (`notify`).
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    /// GET or POST.
    pub(crate) method: reqwest::Method,
    /// Where to.
    pub(crate) url: &'a Url,
    /// Headers to send.
    pub(crate) headers: HeaderMap,
    /// The body (a POST's), if any.
    pub(crate) body: Option<Vec<u8>>,
    /// Whether `url` may be on a loopback, private or link-local address.
    pub(crate) allow_private: bool,
}

/// The answer to an [`Outgoing`] request.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Its status.
    pub(crate) status: StatusCode,
    /// The first [`MAX_ANSWER`] bytes of its body.
    pub(crate) body: Vec<u8>,
}

/// Bytes of an answer to a WebSub request read at most: an echoed challenge, or a hub's
/// reason for refusing.
const MAX_ANSWER: usize = 64 * 1024;

/// Why a fetch failed, in words for the person who has to act on it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a status other than 2xx or 304.
    #[error("the server answered {status}{}", retry_after.map(|d| format!(" and asked to wait {}s", d.as_secs())).unwrap_or_default())]
    Status {
        /// The status it sent.
        status: StatusCode,
        /// Its `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// A redirect without a usable `Location`.
    #[error("a {status} redirect without a usable Location header")]
    BadRedirect {
        /// The redirect's status.
        status: StatusCode,
    },
    /// A redirect to something other than http or https (`file:`, `ftp:`, ...).
    #[error("refused a redirect to a {scheme}: URL; only http and https redirects are followed")]
    RedirectScheme {
        /// The scheme it named.
        scheme: String,
    },
    /// The body was larger than the configured cap.
    #[error("the feed is larger than {limit} bytes; raise [poll].max_body if it is legitimate")]
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// No complete answer within the timeout.
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    /// Too many redirects, or a loop.
    #[error("more than {MAX_REDIRECTS} redirects (a redirect loop?)")]
    Redirects,
    /// Could not connect (DNS, refused, TLS).
    #[error("could not connect: {0}")]
    Connect(String),
    /// The feed led to an address that is not on the public internet.
    #[error("refused: {host} {}a {kind} address, not a public one; set allow_private = true on the source if it is meant to reach it", if host == &address.to_string() { "is ".to_owned() } else { format!("is {address}, ") })]
    Private {
        /// The host name or address the request went to.
        host: String,
        /// The address it resolved to.
        address: IpAddr,
        /// What kind of address that is.
        kind: &'static str,
    },
    /// Anything else the transport reported.
    #[error("{0}")]
    Other(String),
}

impl FetchError {
    /// The HTTP status, where the failure had one.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } | FetchError::BadRedirect { status } => {
                Some(status.as_u16())
            }
            _ => None,
        }
    }
}

/// The HTTP client, shared by all sources so connections to one host are reused.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    /// For sources that may reach any address.
    client: reqwest::Client,
    /// For every other source: its resolver refuses names that resolve to non-public addresses.
    public: reqwest::Client,
    /// For sources polled through a proxy: a client per proxy, made when first needed.
    proxied: Arc<std::sync::Mutex<std::collections::HashMap<Proxy, reqwest::Client>>>,
    user_agent: String,
    timeout: Duration,
    max_body: u64,
}

/// A client as every fetch's: the user agent, the connect timeout within the whole one,
/// redirects left to [`Fetcher::fetch`], content codings decoded.
fn builder(user_agent: &str, timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(user_agent)
        // The whole-fetch timeout is one deadline in `fetch`, over redirects and body.
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        // Redirects are followed by hand, to tell permanent ones from temporary ones and to
        // check where each one leads.
        .redirect(reqwest::redirect::Policy::none())
        .gzip(true)
        .brotli(true)
        .deflate(true)
}

impl Fetcher {
    /// Builds the client. Fails only if the TLS backend cannot start.
    pub(crate) fn new(limits: &Limits) -> Result<Fetcher, FetchError> {
        let (user_agent, timeout, max_body) = (&limits.user_agent, limits.timeout, limits.max_body);
        let build =
            |b: reqwest::ClientBuilder| b.build().map_err(|e| FetchError::Other(describe(&e)));
        Ok(Fetcher {
            client: build(builder(user_agent, timeout))?,
            public: build(builder(user_agent, timeout).dns_resolver(Arc::new(PublicOnly)))?,
            proxied: Default::default(),
            user_agent: user_agent.clone(),
            timeout,
            max_body,
        })
    }

    /// Fetches `url`, sending `validators` so an unchanged feed costs a 304, and the
    /// source's own user agent and headers (`own`), following up to five redirects. Unless
    /// `allow_private`, every address on the way must be public, except an IP address that
    /// is `url`'s own host (written so in the config).
    pub(crate) async fn fetch(
        &self,
        url: &Url,
        validators: &Validators,
        allow_private: bool,
        own: &SourceHttp,
    ) -> Result<FetchOutcome, FetchError> {
        // Boxed: a poll waiting for its places holds a pointer, not the whole request's state
        // (thousands of polls may wait at once).
        let headers = request_headers(validators);
        let written = Some(url);
        let request = (headers, own);
        Box::pin(self.fetch_unboxed(url, written, request, allow_private, self.max_body)).await
    }

    /// Fetches a web page (an article's, for its full text) as a feed is fetched (the same
    /// guard, redirects, deadline and decompression), asking for HTML, its body at most
    /// `max_body` bytes. The page's address comes from a feed, not from the config: an IP
    /// address is not taken as meant, and must be public unless `allow_private`.
    pub(crate) async fn fetch_page(
        &self,
        url: &Url,
        allow_private: bool,
        max_body: u64,
    ) -> Result<Fetched, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html, application/xhtml+xml;q=0.9, */*;q=0.5"),
        );
        let max_body = max_body.min(self.max_body);
        let outcome = Box::pin(self.fetch_unboxed(
            url,
            None,
            (headers, &SourceHttp::default()),
            allow_private,
            max_body,
        ))
        .await?;
        outcome.content.ok_or(FetchError::Status {
            status: StatusCode::NOT_MODIFIED,
            retry_after: None,
        })
    }

    async fn fetch_unboxed(
        &self,
        url: &Url,
        written: Option<&Url>,
        request: (HeaderMap, &SourceHttp),
        allow_private: bool,
        max_body: u64,
    ) -> Result<FetchOutcome, FetchError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let (mut response, moved_to) = self
            .follow(url, written, request, allow_private, deadline)
            .await?;
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let max_age = header(header::CACHE_CONTROL).as_deref().and_then(max_age);
        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome {
                moved_to,
                max_age,
                content: None,
            });
        }
        if !status.is_success() {
            let retry_after = header(header::RETRY_AFTER).as_deref().and_then(retry_after);
            return Err(FetchError::Status {
                status,
                retry_after,
            });
        }
        let content_type = header(header::CONTENT_TYPE);
        let validators = Validators {
            etag: header(header::ETAG),
            last_modified: header(header::LAST_MODIFIED),
        };
        let final_url = response.url().clone();
        let links = Links::read(
            response
                .headers()
                .get_all(header::LINK)
                .iter()
                .filter_map(|v| v.to_str().ok()),
            &final_url,
        );
        let mut body = Vec::new();
        loop {
            // One deadline for the whole fetch: redirects and a slowly trickling body included.
            let chunk = tokio::time::timeout_at(deadline, response.chunk())
                .await
                .map_err(|_| FetchError::Timeout(self.timeout))?
                .map_err(|e| self.classify(e))?;
            let Some(chunk) = chunk else { break };
            if body.len() as u64 + chunk.len() as u64 > max_body {
                return Err(FetchError::TooLarge { limit: max_body });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchOutcome {
            moved_to,
            max_age,
            content: Some(Fetched {
                status: status.as_u16(),
                url: final_url,
                content_type,
                body,
                validators,
                links,
            }),
        })
    }

    /// Requests `url` with `headers`, following up to [`MAX_REDIRECTS`] redirects (each
    /// checked by the guard), by `deadline`: the final response, and where permanent
    /// redirects led if every one on the way was permanent.
    async fn follow(
        &self,
        url: &Url,
        written: Option<&Url>,
        (headers, own): (HeaderMap, &SourceHttp),
        allow_private: bool,
        deadline: tokio::time::Instant,
    ) -> Result<(reqwest::Response, Option<Url>), FetchError> {
        let mut current = url.clone();
        let mut moved_to = None;
        let mut all_permanent = true;
        let mut redirects = 0;
        loop {
            let client = match &own.proxy {
                Some(proxy) => {
                    self.through(proxy, &current, written, allow_private)
                        .await?
                }
                None => self.client_for(&current, written, allow_private)?.clone(),
            };
            let mut request = client.get(current.clone()).headers(headers.clone());
            if let Some(agent) = &own.user_agent {
                request = request.header(header::USER_AGENT, agent.clone());
            }
            // The source's headers (its credentials among them) go to its own host only,
            // and never from https down to http.
            let downgraded = url.scheme() == "https" && current.scheme() == "http";
            if current.host_str() == url.host_str() && !downgraded {
                request = request.headers(own.headers.clone());
            }
            let request = request.send();
            let response = tokio::time::timeout_at(deadline, request)
                .await
                .map_err(|_| FetchError::Timeout(self.timeout))?
                .map_err(|e| self.classify(e))?;
            let status = response.status();
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                return Ok((response, moved_to));
            }
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(FetchError::Redirects);
            }
            let next = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| current.join(l).ok())
                .ok_or(FetchError::BadRedirect { status })?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(FetchError::RedirectScheme {
                    scheme: next.scheme().to_owned(),
                });
            }
            all_permanent &= matches!(
                status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
            );
            if all_permanent {
                moved_to = Some(next.clone());
            }
            current = next;
        }
    }

    /// Sends a WebSub request or an alert, within the fetch timeout, following no redirect,
    /// refusing a non-public address unless the request allows it (the address a name
    /// resolves to is checked as for feeds). Only an answer's first [`MAX_ANSWER`] bytes are
    /// read.
    pub(crate) async fn send(&self, request: Outgoing<'_>) -> Result<Answer, FetchError> {
        let client = match request.url.host() {
            _ if request.allow_private => &self.client,
            Some(url::Host::Ipv4(ip)) => self.literal(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.literal(IpAddr::V6(ip))?,
            _ => &self.public,
        };
        let mut builder = client
            .request(request.method, request.url.clone())
            .headers(request.headers);
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut response = tokio::time::timeout_at(deadline, builder.send())
            .await
            .map_err(|_| FetchError::Timeout(self.timeout))?
            .map_err(|e| self.classify(e))?;
        let status = response.status();
        let mut body = Vec::new();
        while body.len() < MAX_ANSWER {
            let chunk = tokio::time::timeout_at(deadline, response.chunk())
                .await
                .map_err(|_| FetchError::Timeout(self.timeout))?
                .map_err(|e| self.classify(e))?;
            let Some(chunk) = chunk else { break };
            body.extend_from_slice(&chunk[..chunk.len().min(MAX_ANSWER - body.len())]);
        }
        Ok(Answer { status, body })
    }

    fn classify(&self, e: reqwest::Error) -> FetchError {
        // The URL may hold credentials, and these messages are logged and stored; the
        // source's name says which feed it was.
        let e = e.without_url();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if let Some(p) = c.downcast_ref::<NotPublic>() {
                return FetchError::Private {
                    host: p.host.clone(),
                    address: p.address,
                    kind: non_public(p.address).unwrap_or("non-public"),
                };
            }
            cause = c.source();
        }
        if e.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if e.is_connect() {
            // The root cause ("Connection refused", a DNS or TLS failure) is what matters here.
            let mut root: &(dyn std::error::Error + 'static) = &e;
            while let Some(next) = root.source() {
                root = next;
            }
            FetchError::Connect(root.to_string())
        } else {
            FetchError::Other(describe(&e))
        }
    }
}

/// The headers of a feed's request: what it accepts, and the `validators` it has, so that an
/// unchanged feed costs a 304.
fn request_headers(validators: &Validators) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static(
            "application/atom+xml, application/rss+xml, application/feed+json, \
                 application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5",
        ),
    );
    // Validators come from servers; one that is not a legal header value is not sent.
    if let Some(v) = validators
        .etag
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::IF_NONE_MATCH, v);
    }
    if let Some(v) = validators
        .last_modified
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::IF_MODIFIED_SINCE, v);
    }
    headers
}

/// `max-age` from a `Cache-Control` header (`no-cache`/`no-store` say nothing about interval).
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .filter_map(|d| d.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("max-age"))
        .and_then(|(_, v)| v.trim().trim_matches('"').parse().ok())
        .map(Duration::from_secs)
}

/// A `Retry-After` header: seconds, or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

/// The error and its causes on one line: reqwest's own message alone is often just
/// "error sending request", and the cause is what the user needs.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}
