//! Taking elements out of an entry's (sanitised) HTML: those a rule's `remove` selects, and
//! by default the trackers no reader wants: 1×1 pictures, pictures on known counting hosts
//! (Nielsen's `imrworldwide.com`, WordPress's stats, comScore, Google Analytics, Feedsportal)
//! and FeedBurner's flare (the share links and their pictures at the foot of its entries).
//! The HTML is parsed only when it can hold one: most entries are not parsed at all.

use std::sync::LazyLock;

use dom_query::{Document, NodeRef};
use regex::Regex;
use url::Url;

use crate::config::Selector;

/// The base a rewritten entry's HTML is sanitised against: its addresses are absolute
/// already, the parser having resolved them.
pub(super) static BASE: LazyLock<Url> =
    LazyLock::new(|| Url::parse("https://feedmerge.invalid/").expect("a valid URL"));

/// Hosts (and their subdomains) whose pictures only count readers.
const COUNTING_HOSTS: [&str; 11] = [
    "imrworldwide.com",
    "pixel.wp.com",
    "stats.wordpress.com",
    "scorecardresearch.com",
    "google-analytics.com",
    "pixel.quantserve.com",
    "pi.feedsportal.com",
    "da.feedsportal.com",
    "ad.doubleclick.net",
    "pixel.mathtag.com",
    "feeds.wordpress.com",
];

/// What an entry's HTML holds if it may hold a tracker: a cheap test before any parsing.
static MAY_TRACK: LazyLock<Regex> = LazyLock::new(|| {
    let hosts: Vec<String> = COUNTING_HOSTS.iter().map(|h| regex::escape(h)).collect();
    Regex::new(&format!(
        r#"(?i)(?:width|height)="[01](?:px)?"|feedburner\.com|feedproxy\.google\.com|feedflare|{}"#,
        hosts.join("|")
    ))
    .expect("a valid pattern")
});

/// `html` without its trackers, if it had any.
pub(super) fn without_trackers(html: &str) -> Option<String> {
    if !MAY_TRACK.is_match(html) {
        return None;
    }
    let doc = Document::fragment(html);
    let mut found = Vec::new();
    for node in doc.select("img, a, div.feedflare").nodes() {
        if is_tracker(node) {
            found.push(*node);
        }
    }
    if found.is_empty() {
        return None;
    }
    for node in found {
        node.remove_from_parent();
    }
    Some(serialised(&doc))
}

/// `html` without what `selectors` select, if they select any. HTML that holds none of
/// what they need (a class name, a tag) is not parsed.
pub(super) fn without(html: &str, selectors: &[Selector]) -> Option<String> {
    let may = |s: &Selector| {
        s.needles
            .as_ref()
            .is_none_or(|n| n.iter().all(|n| html.contains(n.as_str())))
    };
    if !html.contains('<') || !selectors.iter().any(may) {
        return None;
    }
    let doc = Document::fragment(html);
    let mut removed = false;
    for selector in selectors {
        let selected = doc.select_matcher(&selector.matcher);
        if selected.exists() {
            selected.remove();
            removed = true;
        }
    }
    removed.then(|| serialised(&doc))
}

/// Whether `node` (a picture, a link, a flare box) is a tracker.
fn is_tracker(node: &NodeRef<'_>) -> bool {
    let attr = |name: &str| node.attr(name).map(|v| v.to_string());
    if node.has_class("feedflare") {
        return true;
    }
    let address = attr("src").or_else(|| attr("href")).unwrap_or_default();
    let Ok(url) = Url::parse(&address) else {
        return false;
    };
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let path = url.path();
    let picture = node.node_name().as_deref() == Some("img");
    // Flare's links and pictures (`~f`, `~ff`, `~a`), and the counting picture (`~r`); a
    // link to `~r` is the article itself, through FeedBurner's redirect, and stays.
    let feedburner = (host == "feeds.feedburner.com" || host == "feedproxy.google.com")
        && ["/~f/", "/~ff/", "/~a/"]
            .iter()
            .chain(if picture { &["/~r/"][..] } else { &[] })
            .any(|p| path.starts_with(p));
    if feedburner {
        return true;
    }
    if !picture {
        return false;
    }
    let tiny = |name: &str| {
        attr(name).is_some_and(|v| matches!(v.trim().trim_end_matches("px"), "0" | "1"))
    };
    (tiny("width") && tiny("height"))
        || COUNTING_HOSTS
            .iter()
            .any(|h| host == *h || host.ends_with(&format!(".{h}")))
}

/// The fragment's HTML.
fn serialised(doc: &Document) -> String {
    doc.html_root().inner_html().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trackers_go_and_the_rest_stays() {
        let html = r#"<p>Text <b>bold</b>.&nbsp;<a href="https://www.expansion.com/a.html">Leer</a><img src="http://secure-uk.imrworldwide.com/cgi-bin/m?cid=x&amp;cg=y" alt=""></p><div class="feedflare"><a href="http://feeds.feedburner.com/~f/Blog?a=AK"><img src="http://feeds.feedburner.com/~f/Blog?i=AK" border="0"></a></div><img src="http://feeds.feedburner.com/~r/Blog/~4/abc" height="1" width="1" alt=""><img src="https://example.com/photo.jpg" width="600" height="1"><a href="http://feeds.feedburner.com/~r/Blog/~3/123/post.html">Read on</a>"#;
        let out = without_trackers(html).unwrap_or_default();
        assert!(!out.contains("imrworldwide"), "{out}");
        assert!(!out.contains("~f/") && !out.contains("~4/"), "{out}");
        assert!(out.contains("~3/123/post.html\">Read on</a>"), "{out}");
        assert!(
            out.contains(r#"<a href="https://www.expansion.com/a.html">Leer</a>"#),
            "{out}"
        );
        assert!(out.contains("<b>bold</b>"), "{out}");
        assert!(out.contains("photo.jpg"), "{out}");
        assert_eq!(without_trackers("<p>No tracker here.</p>"), None);
    }

    #[test]
    fn selectors_take_out_what_they_select() {
        let html = r#"<p>Story.</p><div class="share-bar"><a href="https://x.example/s">Share</a></div><p class="read-more">Read more</p>"#;
        let selectors = |list: &[&str]| -> Vec<Selector> {
            list.iter().filter_map(|s| Selector::new(s)).collect()
        };
        let out = without(html, &selectors(&["div.share-bar", "p.read-more"]));
        assert_eq!(out.as_deref(), Some("<p>Story.</p>"));
        assert_eq!(without(html, &selectors(&["div.absent"])), None);
        // Not parsed: no element of theirs can be there.
        assert_eq!(
            without(html, &selectors(&["aside", "div.absent > p"])),
            None
        );
        assert!(without(html, &selectors(&["div > a[href]"])).is_some());
    }
}
