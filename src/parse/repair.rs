//! Feeds that break their format's rules in ways seen in the wild and harmless to read past:
//! each repair is tried only when feed-rs refuses the feed as written (RSS 0.90's namespace
//! always, as feed-rs would silently drop its items), so that one odd element or attribute
//! costs nothing of the rest of the feed.

use std::borrow::Cow;

/// RSS 0.90 is RSS 1.0's RDF layout under Netscape's namespace, which feed-rs does not know:
/// under RSS 1.0's namespace its items are read instead of silently dropped.
pub(super) fn rss_090_as_rss_10(text: &str) -> Cow<'_, str> {
    const NETSCAPE: [&str; 2] = [
        "http://my.netscape.com/rdf/simple/0.9/",
        "http://channel.netscape.com/rdf/simple/0.9/",
    ];
    let mut end = text.len().min(2048);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    match NETSCAPE.iter().find(|ns| head.contains(*ns)) {
        Some(ns) => Cow::Owned(text.replacen(ns, "http://purl.org/rss/1.0/", 1)),
        None => Cow::Borrowed(text),
    }
}

/// An Atom feed whose text constructs give a media type as their `type` (`text/plain`,
/// `application/xhtml+xml`: Atom 0.3's way, kept by some generators), which feed-rs refuses
/// for the whole feed, with each such type as Atom 1.0 names it (`text`, `html`, `xhtml`);
/// `None` if there is none.
pub(super) fn repaired_text_types(text: &str) -> Option<String> {
    static TYPED: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(<(?:[A-Za-z_][\w.-]*:)?(?:title|subtitle|tagline|summary|rights|copyright)\b[^>]*?\btype\s*=\s*)(["'])([^"']*/[^"']*)(["'])"#,
        )
        .ok()
    });
    let typed = TYPED.as_ref()?;
    typed.is_match(text).then(|| {
        typed
            .replace_all(text, |c: &regex::Captures<'_>| {
                let kind = c[3].to_ascii_lowercase();
                let named = if kind.contains("xhtml") {
                    "xhtml"
                } else if kind.contains("html") {
                    "html"
                } else {
                    "text"
                };
                format!("{}{}{named}{}", &c[1], &c[2], &c[4])
            })
            .into_owned()
    })
}

/// A JSON Feed whose item `tags` is one string instead of a list (seen in the wild), with the
/// string split at commas into the list the spec asks for; `None` if there is nothing to
/// repair.
pub(super) fn repaired_json_feed(text: &str) -> Option<String> {
    let mut doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut repaired = false;
    for item in doc.get_mut("items")?.as_array_mut()? {
        if let Some(tags) = item.get_mut("tags") {
            if let Some(one) = tags.as_str() {
                *tags = one
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(serde_json::Value::from)
                    .collect();
                repaired = true;
            }
        }
    }
    repaired.then(|| doc.to_string())
}
