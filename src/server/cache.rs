//! Rendered feeds, kept until the store changes, and the HTTP rules for serving them:
//! conditional GET (`ETag`, `Last-Modified`, 304), content coding (brotli, gzip) and
//! `Cache-Control`. A feed is rendered and compressed once per change, so serving one that
//! has not changed costs no query, no rendering and no compression; requests that miss at
//! once wait for one render. A page is built asynchronously (its queries wait on the
//! database, not on a thread) and compressed, the heavy part, on a blocking thread, so that a
//! large one never holds up other requests (`/healthz` above all).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::{lock, HttpError};

/// A rendered feed is rebuilt after this long even if the store saw no change (what another
/// process writes is seen within a second or two: `store::Db::listen`); readers may reuse it
/// for as long.
const MAX_AGE: Duration = Duration::from_secs(60);
/// Rendered feeds kept at most (every view, format and page is one).
const CAPACITY: usize = 512;
/// Bytes of rendered feeds kept at most in one cache (each body in its three codings): what
/// expired goes first, then the oldest. Any search query makes one; a render larger than a
/// quarter of this is served and not kept.
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// One feed, rendered, with everything needed to answer a request for it: the headers of
/// each coding's answer made once, so that answering (a 304 above all) formats nothing and
/// hashes no header name.
#[derive(Debug)]
pub(crate) struct Rendered {
    /// The body as it is, gzipped and in brotli (either empty if it could not be made).
    bodies: [Bytes; 3],
    /// Hash of the body: the strong validator, suffixed per content coding.
    tag: String,
    last_modified: SystemTime,
    /// The headers of a 304 in each coding: ETag, Last-Modified, the hub `Link` (WebSub
    /// discovery) if any, caching and `nosniff`.
    headers_304: [HeaderMap; 3],
    /// The same with the body's type and coding: the headers of a 200.
    headers_200: [HeaderMap; 3],
    /// The store generation it was built from, and when: it is current while both hold
    /// ([`Rendered::current`]).
    generation: u64,
    built: Instant,
}

/// The content codings, in the order of [`Rendered::bodies`].
const CODINGS: [Option<&str>; 3] = [None, Some("gzip"), Some("br")];

/// A page as built, before it is compressed.
pub(crate) struct Page {
    body: String,
    last_modified: DateTime<Utc>,
    content_type: &'static str,
    link: Option<String>,
}

impl Page {
    /// `body`, of `content_type`, last changed at `last_modified`.
    pub(crate) fn new(
        body: String,
        last_modified: DateTime<Utc>,
        content_type: &'static str,
    ) -> Page {
        Page {
            body,
            last_modified,
            content_type,
            link: None,
        }
    }

    /// This page, sent with a `Link` header of `link`.
    pub(crate) fn with_link(mut self, link: Option<String>) -> Page {
        self.link = link;
        self
    }
}

impl Rendered {
    /// Compresses `page`, built at `generation`, once for every coding it may be served in.
    fn new(page: Page, generation: u64) -> Rendered {
        let Page {
            body,
            last_modified,
            content_type,
            link,
        } = page;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing to a Vec cannot fail.
        let gzip = gz
            .write_all(body.as_bytes())
            .and_then(|()| gz.finish())
            .unwrap_or_default();
        let mut brotli = Vec::new();
        let params = brotli::enc::BrotliEncoderParams {
            quality: 9,
            ..Default::default()
        };
        if brotli::BrotliCompress(&mut body.as_bytes(), &mut brotli, &params).is_err() {
            brotli.clear();
        }
        let tag = blake3::hash(body.as_bytes()).to_hex()[..24].to_owned();
        let seconds = u64::try_from(last_modified.timestamp()).unwrap_or(0);
        let last_modified = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        let modified = HeaderValue::from_str(&httpdate::fmt_http_date(last_modified)).ok();
        let link = link.and_then(|l| HeaderValue::from_str(&l).ok());
        let headers_304 = ["", "-gz", "-br"].map(|suffix| {
            let mut h = HeaderMap::with_capacity(8);
            if let Ok(etag) = HeaderValue::from_str(&format!("\"{tag}{suffix}\"")) {
                h.insert(header::ETAG, etag);
            }
            if let Some(v) = &modified {
                h.insert(header::LAST_MODIFIED, v.clone());
            }
            if let Some(v) = &link {
                h.insert(header::LINK, v.clone());
            }
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=60"),
            );
            h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            super::harden(&mut h);
            h
        });
        let headers_200 = std::array::from_fn(|i| {
            let mut h = headers_304[i].clone();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Some(coding) = CODINGS[i] {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
            }
            super::harden(&mut h);
            h
        });
        Rendered {
            bodies: [Bytes::from(body), Bytes::from(gzip), Bytes::from(brotli)],
            tag,
            last_modified,
            headers_304,
            headers_200,
            generation,
            built: Instant::now(),
        }
    }

    /// Whether it still shows what the store holds at `generation`: built from it, and not
    /// longer than [`MAX_AGE`] ago.
    pub(super) fn current(&self, generation: u64) -> bool {
        self.generation == generation && self.built.elapsed() < MAX_AGE
    }

    /// Bytes it holds: its body in every coding.
    fn size(&self) -> usize {
        self.bodies.iter().map(Bytes::len).sum()
    }

    /// The 304 for a request with `headers`, if the client's copy is current.
    pub(super) fn unchanged(&self, headers: &HeaderMap) -> Option<Response> {
        if !self.not_modified(headers) {
            return None;
        }
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        *r.headers_mut() = self.headers_304[self.coding(headers)].clone();
        Some(r)
    }

    /// The response to a request with `headers`: 304 if the client's copy is current, else
    /// the body in the best coding the client accepts.
    pub(super) fn respond(&self, headers: &HeaderMap) -> Response {
        if let Some(r) = self.unchanged(headers) {
            return r;
        }
        let i = self.coding(headers);
        let mut r = Response::new(Body::from(self.bodies[i].clone()));
        *r.headers_mut() = self.headers_200[i].clone();
        r
    }

    /// RFC 9110 §13.2.2: If-None-Match decides when present (weak comparison, any coding of
    /// this body matches); otherwise If-Modified-Since.
    fn not_modified(&self, headers: &HeaderMap) -> bool {
        if let Some(list) = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
        {
            let tag = self.tag.as_str();
            return list.split(',').any(|t| {
                let t = t.trim();
                let t = t.strip_prefix("W/").unwrap_or(t).trim_matches('"');
                // This body's tag, alone or with a coding's suffix ("-gz").
                t == "*"
                    || (t.starts_with(tag)
                        && matches!(t.as_bytes().get(tag.len()), None | Some(b'-')))
            });
        }
        headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| self.last_modified <= since)
    }

    /// Which of [`Rendered::bodies`] to answer with: brotli, then gzip, by the client's
    /// Accept-Encoding (a coding with `q=0` is refused), where it could be made; else the
    /// body as it is. One pass over the header, allocating nothing: this runs for every
    /// request, 304s included.
    fn coding(&self, headers: &HeaderMap) -> usize {
        let (mut br, mut gzip) = (false, false);
        let items = headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for item in items {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=")?.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 {
                let any = name == "*";
                br |= any || name.eq_ignore_ascii_case("br");
                gzip |=
                    any || name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip");
            }
        }
        let [_, gzipped, brotli] = &self.bodies;
        if br && !brotli.is_empty() {
            2
        } else if gzip && !gzipped.is_empty() {
            1
        } else {
            0
        }
    }
}

/// Rendered feeds by key (scope, format, page), each with the store generation it was built
/// from.
#[derive(Debug, Default)]
pub(crate) struct FeedCache {
    entries: Mutex<HashMap<String, Arc<Rendered>>>,
    /// A turn per key being rendered: who misses while it is rendered waits for that render.
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl FeedCache {
    /// The feed under `key`, rendered by `build` unless a copy built at `generation` (and not
    /// older than [`MAX_AGE`]) is kept. One `build` at a time per key: requests that miss
    /// together get the first one's render. `build` runs here; the compression of what it
    /// built, on a blocking thread.
    pub(crate) async fn get_or_build<F, Fut>(
        &self,
        key: String,
        generation: u64,
        build: F,
    ) -> Result<Arc<Rendered>, HttpError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Page, HttpError>>,
    {
        if let Some(kept) = self.fresh(&key, generation) {
            return Ok(kept);
        }
        let turn = lock(&self.building).entry(key.clone()).or_default().clone();
        let _turn = turn.lock().await;
        if let Some(kept) = self.fresh(&key, generation) {
            return Ok(kept);
        }
        let built = match build().await {
            Ok(page) => tokio::task::spawn_blocking(move || Rendered::new(page, generation))
                .await
                .map_err(HttpError::from),
            Err(e) => Err(e),
        };
        lock(&self.building).remove(&key);
        let rendered = Arc::new(built?);
        let size = rendered.size();
        if size > MAX_BYTES / 4 {
            return Ok(rendered);
        }
        let mut entries = self.lock();
        let held: usize = entries.values().map(|r| r.size()).sum();
        if entries.len() >= CAPACITY || held + size > MAX_BYTES {
            entries.retain(|_, r| r.current(generation));
            let mut by_age: Vec<(Instant, String, usize)> = entries
                .iter()
                .map(|(k, r)| (r.built, k.clone(), r.size()))
                .collect();
            by_age.sort();
            let mut held: usize = by_age.iter().map(|(_, _, n)| n).sum();
            for (_, oldest, n) in by_age {
                if entries.len() < CAPACITY && held + size <= MAX_BYTES {
                    break;
                }
                entries.remove(&oldest);
                held -= n;
            }
        }
        entries.insert(key, rendered.clone());
        Ok(rendered)
    }

    /// The copy kept under `key`, if it was built at `generation` less than [`MAX_AGE`] ago.
    fn fresh(&self, key: &str, generation: u64) -> Option<Arc<Rendered>> {
        let entries = self.lock();
        let rendered = entries.get(key)?;
        rendered.current(generation).then(|| rendered.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Rendered>>> {
        lock(&self.entries)
    }
}
