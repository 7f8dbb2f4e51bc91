//! Stage 3 of the pipeline: getting a feed's bytes over HTTP.
//!
//! Owns the HTTP client and everything about one request: the user agent, timeouts,
//! compression, the redirect limit, conditional GET (`If-None-Match` / `If-Modified-Since`
//! from the validators stored last time) and the cap on the body, which is enforced on the
//! *decompressed* stream as it arrives so that no server can make us hold more than the cap.
//! It knows nothing about feed formats or storage.

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

/// What a successful request produced.
#[derive(Debug)]
pub enum FetchOutcome {
    /// 304: the copy we have is current.
    NotModified,
    /// A new copy of the feed.
    Fetched(Fetched),
}

/// A feed body and what the server said about it.
#[derive(Debug)]
pub struct Fetched {
    /// HTTP status (2xx).
    pub status: u16,
    /// The URL the body came from, after redirects: relative links resolve against it.
    pub url: Url,
    /// The `Content-Type` header, if any (its charset matters to decoding).
    pub content_type: Option<String>,
    /// The decompressed body.
    pub body: Vec<u8>,
    /// Validators to send next time.
    pub validators: Validators,
}

/// Why a fetch failed, in words for the person who has to act on it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a status other than 2xx or 304.
    #[error("the server answered {status}")]
    Status {
        /// The status it sent.
        status: StatusCode,
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
    /// Anything else the transport reported.
    #[error("{0}")]
    Other(String),
}

impl FetchError {
    /// The HTTP status, where the failure had one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status } => Some(status.as_u16()),
            _ => None,
        }
    }
}

/// The HTTP client, shared by all sources so connections to one host are reused.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    max_body: u64,
}

impl Fetcher {
    /// Builds the client. Fails only if the TLS backend cannot start.
    pub fn new(user_agent: &str, timeout: Duration, max_body: u64) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .build()
            .map_err(|e| FetchError::Other(describe(&e)))?;
        Ok(Fetcher {
            client,
            timeout,
            max_body,
        })
    }

    /// Fetches `url`, sending `validators` so an unchanged feed costs a 304.
    pub async fn fetch(
        &self,
        url: &Url,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
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
        let mut response = self
            .client
            .get(url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified);
        }
        if !status.is_success() {
            return Err(FetchError::Status { status });
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(header::CONTENT_TYPE);
        let validators = Validators {
            etag: header(header::ETAG),
            last_modified: header(header::LAST_MODIFIED),
        };
        let final_url = response.url().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if body.len() as u64 + chunk.len() as u64 > self.max_body {
                return Err(FetchError::TooLarge {
                    limit: self.max_body,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchOutcome::Fetched(Fetched {
            status: status.as_u16(),
            url: final_url,
            content_type,
            body,
            validators,
        }))
    }

    fn classify(&self, e: reqwest::Error) -> FetchError {
        // The URL may hold credentials, and these messages are logged and stored; the
        // source's name says which feed it was.
        let e = e.without_url();
        if e.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if e.is_redirect() {
            FetchError::Redirects
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
