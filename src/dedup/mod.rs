//! Stage 5 of the pipeline: the identity of an article.
//!
//! Owns the rules that decide when two entries are the same article, as pure functions over
//! plain values, so that `store` only has to look the results up:
//! - within one source, an entry is identified by its guid; lacking one, by its canonical
//!   link; lacking both, by a hash of its title and text ([`key`]); a link that several
//!   entries of the feed share, or a site's home page, identifies none of them;
//! - across sources, entries with the same canonical link are one article
//!   ([`canonical_link`]: tracking parameters and fragments dropped, scheme and host
//!   lowercased, http read as https, default port removed);
//! - an article changed when the hash of what readers see of it changed ([`content_hash`]).
//!
//! - across sources and links, articles whose text is nearly the same are versions of one
//!   story ([`Fingerprint`]), found among the stored ones through the [`Index`] of their
//!   band keys, which the store keeps in memory;
//! - an article with too little text for a fingerprint joins the story another outlet
//!   carries under the same long headline (or the same short headline over the same short
//!   text), published close by ([`headline_key`]), unless a source repeats that headline;
//! - once a story has versions, `story` says which represents it, where it is placed in the
//!   feed, and which outlet may edit an article.

mod fingerprint;
mod headline;
mod index;
mod keys;
mod slots;
pub(crate) mod story;

use std::collections::{HashMap, HashSet};

use url::Url;

use crate::parse::{Article, SearchTerms};

pub use fingerprint::Fingerprint;
pub(crate) use fingerprint::{Sketch, BANDS};
pub(crate) use headline::headline_key;
pub(crate) use index::{Entry, Index};

/// An article with its identity worked out, ready for `store`.
#[derive(Debug, Clone)]
pub struct Keyed {
    /// The parsed article.
    pub article: Article,
    /// Identity within its source: `guid:…`, `link:…` or `hash:…`.
    pub key: String,
    /// The link with tracking removed, for matching across sources.
    pub canonical_link: Option<String>,
    /// Hash of the title, summary and content, to notice edits.
    pub content_hash: String,
    /// The near-duplicate fingerprint of its title and text, to find the story it belongs
    /// to; `None` when it has too little text to tell.
    pub fingerprint: Option<Fingerprint>,
    /// The key of its headline, when the headline is long enough to identify a story (see
    /// the README: items with too little text join a story by their headline).
    pub headline: Option<i64>,
    /// Its search terms, for the full-text index.
    pub terms: SearchTerms,
}

/// Works out the identity of each article of one fetch, dropping repeats of an identity
/// within the same feed (the first occurrence wins, as feeds list newest first). `site` is
/// the outlet's home page as its feed names it.
pub fn identify(articles: Vec<Article>, site: Option<&str>) -> Vec<Keyed> {
    let links = identifying_links(&articles, site);
    let mut seen = HashSet::new();
    articles
        .into_iter()
        .zip(links)
        .filter_map(|(article, canonical_link)| {
            let key = key(&article, canonical_link.as_deref());
            if !seen.insert(key.clone()) {
                return None;
            }
            let content_hash = content_hash(&article);
            let body = article.content.as_deref().or(article.summary.as_deref());
            let fingerprint = Fingerprint::of(&article.title, body.unwrap_or(""));
            let short_text = fingerprint.is_none().then(|| body.unwrap_or(""));
            let headline = headline_key(&article.title, short_text);
            let terms = SearchTerms::of(&article.title, &article.text);
            Some(Keyed {
                terms,
                article,
                key,
                canonical_link,
                content_hash,
                fingerprint,
                headline,
            })
        })
        .collect()
}

/// The key of each of `articles` (see [`identify`]), in order.
pub(crate) fn keys(articles: &[Article], site: Option<&str>) -> Vec<String> {
    let links = identifying_links(articles, site);
    articles
        .iter()
        .zip(links)
        .map(|(article, link)| key(article, link.as_deref()))
        .collect()
}

/// The canonical link of each article where it identifies the article, in order: `None` for
/// a link that is a site's home page (`site`, or any site's root) or that several entries of
/// the feed share (a podcast whose every episode links the show's page). Links that only their
/// fragments tell apart (`26.html#a080605`, `26.html#a081012`) keep them: the feed uses them
/// to tell its entries apart.
fn identifying_links(articles: &[Article], site: Option<&str>) -> Vec<Option<String>> {
    let home = site.and_then(canonical_link);
    let mut links: Vec<Option<String>> = articles
        .iter()
        .map(|a| a.link.as_deref().and_then(canonical_link))
        .collect();
    let shared = |links: &[Option<String>]| {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for link in links.iter().flatten() {
            *count.entry(link).or_default() += 1;
        }
        links
            .iter()
            .map(|l| l.as_deref().is_some_and(|l| count[l] > 1))
            .collect::<Vec<bool>>()
    };
    for (i, shared) in shared(&links).into_iter().enumerate() {
        if shared {
            links[i] = articles[i].link.as_deref().and_then(with_fragment);
        }
    }
    for (i, shared) in shared(&links).into_iter().enumerate() {
        let is_home = links[i]
            .as_deref()
            .is_some_and(|l| Some(l) == home.as_deref() || is_site_root(l));
        if shared || is_home {
            links[i] = None;
        }
    }
    links
}

/// [`canonical_link`], keeping the fragment.
fn with_fragment(link: &str) -> Option<String> {
    let fragment = Url::parse(link.trim()).ok()?.fragment().map(str::to_owned);
    let mut canonical = canonical_link(link)?;
    if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
        canonical.push('#');
        canonical.push_str(&fragment);
    }
    Some(canonical)
}

/// Whether a canonical link (as [`canonical_link`] serialises it) is the root of a site
/// (`https://example.com/`): a home page, never one article. Its only `/` after the scheme's
/// is the path's, at the end: no further path, query or fragment.
fn is_site_root(link: &str) -> bool {
    link.split_once("://")
        .and_then(|(_, rest)| rest.strip_suffix('/'))
        .is_some_and(|host| !host.contains('/'))
}

/// An article's identity within its source.
pub(crate) fn key(article: &Article, canonical_link: Option<&str>) -> String {
    if let Some(guid) = &article.guid {
        format!("guid:{guid}")
    } else if let Some(link) = canonical_link.or(article.link.as_deref()) {
        format!("link:{link}")
    } else {
        let body = article
            .content
            .as_deref()
            .or(article.summary.as_deref())
            .unwrap_or("");
        format!("hash:{}", hash(&[&article.title, body]))
    }
}

/// Hash of everything a reader sees of an article, to tell an edit from a repeat.
pub(crate) fn content_hash(article: &Article) -> String {
    hash(&[
        &article.title,
        article.summary.as_deref().unwrap_or(""),
        article.content.as_deref().unwrap_or(""),
    ])
}

fn hash(parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().to_hex()[..32].to_owned()
}

/// Query parameters that only track the reader and never select content.
fn is_tracking_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("utm_")
        || matches!(
            name.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "msclkid"
                | "mc_cid"
                | "mc_eid"
                | "yclid"
                | "_ga"
                | "igshid"
        )
}

/// The link as it identifies content: scheme and host lowercased, http read as https,
/// default port and fragment removed, tracking parameters dropped (the others kept in order).
/// `None` for anything that is not an absolute http(s) URL.
///
/// ```
/// use feedmerge::canonical_link;
/// assert_eq!(
///     canonical_link("http://WWW.GlobalTimes.cn:80/page/1.shtml?id=7&utm_source=rss&fbclid=x#top").as_deref(),
///     Some("https://www.globaltimes.cn/page/1.shtml?id=7"),
/// );
/// ```
pub fn canonical_link(link: &str) -> Option<String> {
    let mut url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    // `Url` already lowercases scheme and host and drops the scheme's default port. Outlets
    // link one page over http and https alike; as an identity (never published) they are one.
    if url.scheme() == "http" {
        let port = url.port();
        url.set_scheme("https").ok()?;
        url.set_port(port).ok()?;
    }
    url.set_fragment(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !is_tracking_param(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linked(links: &[&str]) -> Vec<Article> {
        links
            .iter()
            .map(|l| Article {
                guid: None,
                link: Some((*l).to_owned()),
                title: (*l).to_owned(),
                summary: None,
                content: None,
                text: String::new(),
                authors: Vec::new(),
                categories: Vec::new(),
                published: None,
                updated: None,
                media: Default::default(),
            })
            .collect()
    }

    /// A shared link and a home page identify nothing; fragments that tell entries apart stay;
    /// a link of its own is its canonical form.
    #[test]
    fn only_links_of_their_own_identify_entries() {
        let articles = linked(&[
            "http://show.example.com",
            "https://Show.example.com/",
            "https://blog.example.com/about",
            "https://news.example.com/26.html#a1",
            "https://news.example.com/26.html#a2",
            "https://news.example.com/story?id=7&utm_source=x#top",
            "https://dup.example.com/p",
            "https://dup.example.com/p",
        ]);
        let links = identifying_links(&articles, Some("https://blog.example.com/about"));
        assert_eq!(
            links,
            [
                None,
                None,
                None,
                Some("https://news.example.com/26.html#a1".to_owned()),
                Some("https://news.example.com/26.html#a2".to_owned()),
                Some("https://news.example.com/story?id=7".to_owned()),
                None,
                None,
            ]
        );
        assert!(is_site_root("https://example.com/"));
        assert!(!is_site_root("https://example.com/?p=1"));
        assert!(!is_site_root("https://example.com/a/"));
    }
}
