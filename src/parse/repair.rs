//! Feeds that break their format's rules in ways seen in the wild and harmless to read past:
//! each repair is tried only when feed-rs refuses the feed as written (RSS 0.90's namespace
//! always, as feed-rs would silently drop its items), so that one odd element or attribute
//! costs nothing of the rest of the feed.

use std::borrow::Cow;

use quick_xml::events::{BytesEnd, Event};

/// An XML feed refused as written, with every repair it needs: text constructs typed with a
/// media type, bare `&`s, elements not well nested. `None` if none applies.
pub(super) fn repaired_xml(text: &str) -> Option<String> {
    let typed = repaired_text_types(text);
    let text = typed.as_deref().unwrap_or(text);
    let escaped = escaped_ampersands(text);
    match well_nested(&escaped) {
        Some(nested) => Some(nested),
        None => match escaped {
            Cow::Owned(escaped) => Some(escaped),
            Cow::Borrowed(_) => typed,
        },
    }
}

/// `text` with each `&` that starts no entity or character reference (`?a=1&b=2`, `Q&A`)
/// written as `&amp;`, outside CDATA sections and comments.
fn escaped_ampersands(text: &str) -> Cow<'_, str> {
    let bare = |at: usize| {
        let rest = &text.as_bytes()[at + 1..];
        let digits = |from: usize, hex: bool| {
            let n = rest[from..]
                .iter()
                .take_while(|b| {
                    if hex {
                        b.is_ascii_hexdigit()
                    } else {
                        b.is_ascii_digit()
                    }
                })
                .count();
            (n > 0).then_some(from + n)
        };
        let reference = match rest.first() {
            Some(b'#') if matches!(rest.get(1), Some(b'x' | b'X')) => digits(2, true),
            Some(b'#') => digits(1, false),
            Some(b) if b.is_ascii_alphabetic() || *b == b'_' => Some(
                rest.iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
                    .count(),
            ),
            _ => None,
        };
        reference.is_none_or(|len| rest.get(len) != Some(&b';'))
    };
    let mut out = String::new();
    let (mut copied, mut at) = (0, 0);
    while let Some(found) = text[at..].find(['&', '<']).map(|i| i + at) {
        // CDATA sections and comments are copied as they are.
        let skip = [("<![CDATA[", "]]>"), ("<!--", "-->")]
            .iter()
            .find(|(open, _)| text[found..].starts_with(open));
        at = match skip {
            Some((_, close)) => text[found..]
                .find(close)
                .map_or(text.len(), |i| found + i + close.len()),
            None if text.as_bytes()[found] == b'&' && bare(found) => {
                out.push_str(&text[copied..found]);
                out.push_str("&amp;");
                copied = found + 1;
                found + 1
            }
            None => found + 1,
        };
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Elements open at once past which a document is not repaired: real feeds nest a few dozen
/// deep; a hostile one could open millions, each a name held here.
const MAX_DEPTH: usize = 512;

/// `text` with its elements well nested: an element left open is closed where its parent
/// closes (`<div><p>…</div>`) or, inside a channel or feed, where an entry starts; an end tag
/// that closes nothing is dropped; whatever is still open at the end is closed. `None` if it
/// was well nested, or cannot be read, or nests deeper than [`MAX_DEPTH`].
fn well_nested(text: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = false;
    reader.config_mut().allow_unmatched_ends = true;
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(text.len() + 64));
    let mut open: Vec<String> = Vec::new();
    let mut changed = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                let name = e.name().as_ref().to_owned();
                // An entry is a child of its feed's container: what is still open inside it
                // (a channel's `<itunes:category>` left open) closes first.
                if matches!(local(&name), "item" | "entry") {
                    let container = open
                        .iter()
                        .rposition(|n| matches!(local(n), "channel" | "feed" | "RDF"));
                    if let Some(at) = container.filter(|at| at + 1 < open.len()) {
                        changed = true;
                        for name in open.drain(at + 1..).rev() {
                            writer.write_event(Event::End(BytesEnd::new(name))).ok()?;
                        }
                    }
                }
                if open.len() == MAX_DEPTH {
                    return None;
                }
                open.push(name);
                writer.write_event(Event::Start(e)).ok()?;
            }
            Event::End(e) => match open.iter().rposition(|n| n == e.name().as_ref()) {
                None => changed = true,
                Some(at) => {
                    changed |= at + 1 != open.len();
                    for name in open.drain(at..).rev() {
                        writer.write_event(Event::End(BytesEnd::new(name))).ok()?;
                    }
                }
            },
            Event::Eof => break,
            event => writer.write_event(event).ok()?,
        }
    }
    changed |= !open.is_empty();
    for name in open.into_iter().rev() {
        writer.write_event(Event::End(BytesEnd::new(name))).ok()?;
    }
    changed
        .then(|| String::from_utf8(writer.into_inner()).ok())
        .flatten()
}

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
fn repaired_text_types(text: &str) -> Option<String> {
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

/// An element's name without its prefix.
fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::{escaped_ampersands, well_nested};

    #[test]
    fn bare_ampersands_are_escaped_and_references_kept() {
        let text =
            "<a href=\"?a=1&b=2\">Q&A &amp; &#38; &#x26; &nbsp;</a><![CDATA[x&y]]><!-- & -->";
        assert_eq!(
            escaped_ampersands(text),
            "<a href=\"?a=1&amp;b=2\">Q&amp;A &amp; &#38; &#x26; &nbsp;</a><![CDATA[x&y]]><!-- & -->"
        );
        assert!(matches!(
            escaped_ampersands("&lt;p&gt;"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn elements_are_closed_where_their_parents_close() {
        assert_eq!(
            well_nested("<feed><div><p>a</div></b><entry>x").as_deref(),
            Some("<feed><div><p>a</p></div><entry>x</entry></feed>")
        );
        assert_eq!(well_nested("<feed><entry/></feed>"), None);
        assert_eq!(
            well_nested("<rss><channel><itunes:category a='1'><item>i</item></channel></rss>")
                .as_deref(),
            Some("<rss><channel><itunes:category a='1'></itunes:category><item>i</item></channel></rss>")
        );
    }
}
