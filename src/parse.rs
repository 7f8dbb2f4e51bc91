//! Stage 4 of the pipeline: bytes of a feed in, our own [`Article`]s out.
//!
//! Owns everything about feed formats. feed-rs reads RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and JSON
//! Feed, but it trusts the XML declaration alone for the character set (panicking on some
//! real ones), rejects `<rss>` versions it does not know, and mints a random id for entries
//! with neither guid nor link. So we decode the bytes ourselves first (BOM, then XML
//! declaration, then HTTP charset, then UTF-8, replacing undecodable bytes), hand feed-rs
//! clean UTF-8, contain any panic as an error, and leave identity to `dedup`.
//!
//! Every article leaves this stage normalised: plain-text title, HTML summary and content
//! sanitised (no scripts, handlers or `javascript:` links) with relative URLs made absolute
//! against the entry's `xml:base`, else the article's own page, else the feed's address.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::{DateTime, Utc};
use encoding_rs::{Encoding, UTF_8};
use feed_rs::model::{Entry, Feed, Text};
use url::Url;

/// One entry of a feed, normalised. `dedup` decides its identity, `store` its dates if the
/// feed gave none.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// The feed's own id for the entry (RSS guid, Atom id, JSON Feed id), if it has one.
    pub guid: Option<String>,
    /// The entry's web page, absolute.
    pub link: Option<String>,
    /// Plain text; never empty (an entry without a title gets one from its text or link).
    pub title: String,
    /// Sanitised HTML.
    pub summary: Option<String>,
    /// Sanitised HTML.
    pub content: Option<String>,
    /// Author names.
    pub authors: Vec<String>,
    /// Category terms.
    pub categories: Vec<String>,
    /// When the outlet says it was published.
    pub published: Option<DateTime<Utc>>,
    /// When the outlet says it last changed.
    pub updated: Option<DateTime<Utc>>,
}

/// A parsed feed: what it says about itself, and its articles in feed order.
#[derive(Debug, Clone)]
pub struct ParsedFeed {
    /// The feed's title.
    pub title: Option<String>,
    /// The outlet's web site, as the feed gives it.
    pub site_url: Option<String>,
    /// The entries.
    pub articles: Vec<Article>,
    /// How often the feed says it is worth polling, at most (RSS `<ttl>`,
    /// `sy:updatePeriod`/`sy:updateFrequency`; the larger if both).
    pub min_interval: Option<std::time::Duration>,
}

/// Why a body is not a feed we can read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is empty.
    #[error("the server sent an empty body instead of a feed")]
    Empty,
    /// It looks like a web page; it may advertise feeds of its own.
    #[error("this is an HTML page, not a feed{}", advertised(.feeds))]
    Html {
        /// The absolute URLs of the feeds the page links with `<link rel="alternate">`.
        feeds: Vec<String>,
    },
    /// feed-rs rejected it.
    #[error("not a readable RSS, Atom or JSON feed: {0}")]
    Invalid(String),
    /// feed-rs panicked on it (a bug there, contained here).
    #[error("the feed parser crashed on this feed ({0}); the feed is probably malformed")]
    Crashed(String),
}

/// Parses a feed body fetched from `url`, whose server sent `content_type`.
pub fn parse_feed(
    body: &[u8],
    content_type: Option<&str>,
    url: &Url,
) -> Result<ParsedFeed, ParseError> {
    let text = decode(body, content_type);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    if looks_like_html(trimmed) {
        return Err(ParseError::Html {
            feeds: advertised_feeds(trimmed, url),
        });
    }
    let min_interval = syndication_interval(trimmed);
    let parse = |text: &str| {
        let parser = feed_rs::parser::Builder::new()
            .base_uri(Some(url.as_str()))
            // An empty id marks "the feed gave none"; `dedup` gives such entries a stable key.
            .id_generator(|_, _, _| String::new())
            .build();
        catch_unwind(AssertUnwindSafe(|| parser.parse(text.as_bytes())))
            .map_err(|panic| ParseError::Crashed(panic_message(&panic)))?
            .map_err(|e| ParseError::Invalid(e.to_string()))
    };
    let feed = match parse(&rss_090_as_rss_10(trimmed)) {
        // Read as written first; a JSON Feed that breaks the spec in a known harmless way
        // is read again, repaired.
        Err(e) => match repaired_json_feed(trimmed) {
            Some(repaired) => parse(&repaired).map_err(|_| e)?,
            None => return Err(e),
        },
        Ok(feed) => feed,
    };
    let mut parsed = normalise(feed, url);
    parsed.min_interval = parsed.min_interval.max(min_interval);
    Ok(parsed)
}

/// RSS 0.90 is RSS 1.0's RDF layout under Netscape's namespace, which feed-rs does not know:
/// under RSS 1.0's namespace its items are read instead of silently dropped.
fn rss_090_as_rss_10(text: &str) -> Cow<'_, str> {
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

/// A JSON Feed whose item `tags` is one string instead of a list (seen in the wild), with the
/// string split at commas into the list the spec asks for; `None` if there is nothing to
/// repair.
fn repaired_json_feed(text: &str) -> Option<String> {
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

fn advertised(feeds: &[String]) -> String {
    if feeds.is_empty() {
        String::new()
    } else {
        format!("; the page links to these feeds: {}", feeds.join(", "))
    }
}

/// The feeds a web page advertises: `<link rel="alternate">` with a feed type, made absolute.
fn advertised_feeds(html: &str, page: &Url) -> Vec<String> {
    const FEED_TYPES: [&str; 5] = [
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/json",
        "application/rdf+xml",
    ];
    let mut feeds = Vec::new();
    let lower = html.to_ascii_lowercase();
    for (start, _) in lower.match_indices("<link") {
        let Some(len) = lower[start..].find('>') else {
            break;
        };
        // Attribute names are matched in lower case, values taken from the original text.
        let (tag, original) = (&lower[start..start + len], &html[start..start + len]);
        let rel = attribute(tag, "rel").unwrap_or_default();
        let kind = attribute(tag, "type").unwrap_or_default();
        if !rel.split_whitespace().any(|r| r == "alternate") || !FEED_TYPES.contains(&kind.trim()) {
            continue;
        }
        let href = attribute_at(tag, "href").map(|(_, r)| original[r].trim().replace("&amp;", "&"));
        if let Some(url) = href.and_then(|h| page.join(&h).ok()) {
            if !feeds.contains(&url.to_string()) {
                feeds.push(url.to_string());
            }
        }
    }
    feeds
}

/// The RSS syndication module's `sy:updatePeriod` / `sy:updateFrequency` as an interval.
fn syndication_interval(text: &str) -> Option<std::time::Duration> {
    let element = |name: &str| {
        let open = format!("<sy:{name}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find('<')?;
        Some(text[start..start + len].trim().to_ascii_lowercase())
    };
    let period: u64 = match element("updatePeriod")?.as_str() {
        "hourly" => 3600,
        "daily" => 86_400,
        "weekly" => 7 * 86_400,
        "monthly" => 30 * 86_400,
        "yearly" => 365 * 86_400,
        _ => return None,
    };
    let frequency: u64 = element("updateFrequency")
        .and_then(|f| f.parse().ok())
        .filter(|f| *f > 0)
        .unwrap_or(1);
    Some(std::time::Duration::from_secs(period / frequency))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Decodes a feed body to UTF-8 text ready for feed-rs: the character set is taken from the
/// BOM, else the XML declaration, else the HTTP `charset`, else UTF-8; bytes invalid in it
/// become U+FFFD; characters XML forbids are dropped; the XML declaration is removed (the
/// text is UTF-8 now, whatever it said), the `<rss>` root is made readable
/// ([`fix_rss_root`]) and Atom 0.3 is upgraded to 1.0 ([`upgrade_atom03`]).
pub fn decode(body: &[u8], content_type: Option<&str>) -> String {
    let (encoding, bom_len) = Encoding::for_bom(body).unwrap_or_else(|| {
        let named = declared_encoding(body).or_else(|| http_charset(content_type));
        (checked(body, named), 0)
    });
    let (text, _) = encoding.decode_without_bom_handling(&body[bom_len..]);
    let mut text: String = xml_safe(&text).into_owned();
    if let Some((start, end)) = xml_declaration(&text) {
        text.replace_range(start..end, "");
    }
    // A second declaration further in is not XML, and the parser would act on its encoding
    // in the middle of the document (found by fuzzing: it panicked). The text is UTF-8 now.
    remove_stray_declarations(&mut text);
    fix_rss_root(&mut text);
    upgrade_atom03(&mut text);
    text
}

/// The encoding to read `body` in, given the one its declaration or HTTP header names, if any.
///
/// Outlets get this wrong both ways: a GBK or windows-1251 feed declared as UTF-8, and a feed
/// converted to UTF-8 that still declares the legacy encoding it used to be in. Non-ASCII text
/// that is valid UTF-8 is UTF-8, whatever is named (legacy text is practically never valid
/// UTF-8 by chance). Text named UTF-8, or nothing, whose non-ASCII bytes are mostly not valid
/// UTF-8 is in some legacy encoding, which `chardetng` (Firefox's detector) guesses, given
/// enough of it. A few stray bytes in UTF-8 text stay what they are: replacement characters.
fn checked(body: &[u8], named: Option<&'static Encoding>) -> &'static Encoding {
    // Non-ASCII bytes needed before an encoding is guessed rather than assumed.
    const MIN_EVIDENCE: usize = 32;
    let (mut rest, mut invalid, non_ascii) =
        (body, 0usize, body.iter().filter(|b| !b.is_ascii()).count());
    while let Err(e) = std::str::from_utf8(rest) {
        invalid += 1;
        let skip = e.valid_up_to() + e.error_len().unwrap_or(rest.len() - e.valid_up_to());
        rest = &rest[skip..];
    }
    match named {
        _ if invalid == 0 && non_ascii > 0 => UTF_8,
        Some(e) if e != UTF_8 => e,
        // Too little to guess from, or mostly valid: UTF-8, with replacement characters.
        _ if non_ascii < MIN_EVIDENCE || invalid * 20 <= non_ascii => UTF_8,
        _ => {
            let mut detector =
                chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
            detector.feed(body, true);
            detector.guess(None, chardetng::Utf8Detection::Deny)
        }
    }
}

/// Removes every `<?xml ...?>` declaration left in `text` (not `<?xml-stylesheet ...?>`).
fn remove_stray_declarations(text: &mut String) {
    let mut from = 0;
    while let Some(at) = text[from..].find("<?xml").map(|i| i + from) {
        let after = text[at + 5..].chars().next();
        match text[at..].find("?>") {
            Some(len) if after.is_none_or(|c| c.is_whitespace() || c == '?') => {
                text.replace_range(at..at + len + 2, "");
                from = at;
            }
            _ => from = at + 5,
        }
    }
}

/// Whether XML 1.0 forbids `c` (most C0 controls, U+FFFE, U+FFFF; Rust strings hold no
/// surrogates).
pub fn xml_forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// `text` without the characters XML 1.0 does not allow (most C0 controls, U+FFFE, U+FFFF).
pub fn xml_safe(text: &str) -> Cow<'_, str> {
    if text.contains(xml_forbidden) {
        Cow::Owned(text.chars().filter(|&c| !xml_forbidden(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// The byte range of `<?xml ... ?>` if it opens the document (after whitespace).
fn xml_declaration(text: &str) -> Option<(usize, usize)> {
    let start = text.len() - text.trim_start().len();
    if !text[start..].starts_with("<?xml") {
        return None;
    }
    let end = text[start..].find("?>")? + start + 2;
    Some((start, end))
}

/// The encoding named in the XML declaration, read from the raw bytes (every encoding a feed
/// might use is ASCII-compatible in its declaration, bar UTF-16, which has a BOM).
fn declared_encoding(body: &[u8]) -> Option<&'static Encoding> {
    let head = &body[..body.len().min(1024)];
    let head = String::from_utf8_lossy(head);
    let (start, end) = xml_declaration(&head)?;
    let decl = &head[start..end];
    let value = attribute(decl, "encoding")?;
    Encoding::for_label(value.as_bytes())
}

fn http_charset(content_type: Option<&str>) -> Option<&'static Encoding> {
    let ct = content_type?;
    let value = ct
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))?
        .1;
    Encoding::for_label(value.trim().trim_matches('"').as_bytes())
}

/// The value of attribute `name` in a start tag or declaration (either quote style).
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    attribute_at(tag, name).map(|(_, value)| &tag[value])
}

/// Where attribute `name` starts in a start tag, and the byte range of its value.
fn attribute_at(tag: &str, name: &str) -> Option<(usize, std::ops::Range<usize>)> {
    let mut from = 0;
    while let Some(i) = tag[from..].find(name).map(|i| i + from) {
        from = i + name.len();
        if !tag[..i].ends_with(char::is_whitespace) {
            continue;
        }
        let after = tag[from..].trim_start();
        let Some(after) = after.strip_prefix('=') else {
            continue;
        };
        let after = after.trim_start();
        let quote = after.chars().next().filter(|q| *q == '"' || *q == '\'')?;
        let value_start = tag.len() - after.len() + 1;
        let value_len = tag[value_start..].find(quote)?;
        return Some((i, value_start..value_start + value_len));
    }
    None
}

/// Makes an `<rss>` root readable by feed-rs: a version it does not know becomes 2.0 (every
/// RSS 0.9x/2.x feed reads as 2.0), and a default namespace is dropped (RSS has none, but
/// real feeds declare UserLand's, which makes feed-rs skip every element).
fn fix_rss_root(text: &mut String) {
    let head_end = (0..=text.len().min(4096))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let Some(start) = text[..head_end]
        .match_indices("<rss")
        .map(|(i, _)| i)
        .find(|&i| text[i + 4..].starts_with(|c: char| c.is_whitespace() || c == '>'))
    else {
        return;
    };
    let Some(tag_len) = text[start..].find('>') else {
        return;
    };
    let mut tag = text[start..start + tag_len].to_owned();
    if let Some((name, value)) = attribute_at(&tag, "xmlns") {
        tag.replace_range(name..value.end + 1, "");
    }
    match attribute_at(&tag, "version") {
        Some((_, r)) if matches!(&tag[r.clone()], "2.0" | "0.91" | "0.92") => {}
        Some((_, r)) => tag.replace_range(r, "2.0"),
        None => tag.insert_str(4, " version=\"2.0\""),
    }
    text.replace_range(start..start + tag_len, &tag);
}

/// Makes an Atom 0.3 document readable by feed-rs, which knows only Atom 1.0: the 0.3
/// namespace becomes 1.0's and the elements 1.0 renamed get their new names.
fn upgrade_atom03(text: &mut String) {
    const ATOM03: &str = "http://purl.org/atom/ns#";
    let head_end = (0..=text.len().min(4096))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    if !text[..head_end].contains(ATOM03) {
        return;
    }
    let mut upgraded = text.replace(ATOM03, "http://www.w3.org/2005/Atom");
    for (old, new) in [
        ("issued", "published"),
        ("modified", "updated"),
        ("tagline", "subtitle"),
        ("copyright", "rights"),
    ] {
        for open in ["<", "</"] {
            for end in [">", " "] {
                upgraded =
                    upgraded.replace(&format!("{open}{old}{end}"), &format!("{open}{new}{end}"));
            }
        }
    }
    *text = upgraded;
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    let head = head.trim_start();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

fn normalise(feed: Feed, url: &Url) -> ParsedFeed {
    let site_url = feed
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .and_then(|l| url.join(&l.href).ok())
        .map(String::from);
    let title = feed
        .title
        .as_ref()
        .map(plain_text)
        .filter(|t| !t.is_empty());
    let articles = feed.entries.into_iter().map(|e| article(e, url)).collect();
    ParsedFeed {
        title,
        site_url,
        articles,
        min_interval: feed
            .ttl
            .map(|minutes| std::time::Duration::from_secs(u64::from(minutes) * 60)),
    }
}

fn article(entry: Entry, feed_url: &Url) -> Article {
    let base = entry
        .base
        .as_deref()
        .and_then(|b| feed_url.join(b).ok())
        .unwrap_or_else(|| feed_url.clone());
    let link = entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .and_then(|l| base.join(l.href.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(String::from);
    // Relative URLs in the text are the article page's: resolve them against an explicit
    // xml:base, else the article's link (the feed may live on another host), else the feed.
    let content_base = match (&entry.base, &link) {
        (None, Some(link)) => Url::parse(link).unwrap_or_else(|_| base.clone()),
        _ => base.clone(),
    };
    let sanitiser = {
        let mut b = ammonia::Builder::default();
        b.url_relative(ammonia::UrlRelative::RewriteWithBase(content_base));
        b
    };
    let html = |t: &Text| -> Option<String> {
        let out = if is_html(t.content_type.as_ref()) {
            sanitiser.clean(&t.content).to_string()
        } else {
            escape_html(&t.content)
        };
        let out = without_forbidden(out.trim().to_owned());
        (!out.is_empty()).then_some(out)
    };
    let summary = entry.summary.as_ref().and_then(html);
    let content = entry.content.as_ref().and_then(|c| {
        let body = c.body.as_deref()?;
        html(&Text {
            content_type: c.content_type.clone(),
            src: None,
            content: body.to_owned(),
        })
    });
    let title = entry
        .title
        .as_ref()
        .map(plain_text)
        .filter(|t| !t.is_empty())
        .or_else(|| {
            // An untitled entry (allowed in RSS) is titled by the start of its text.
            let text = html_to_text(summary.as_deref().or(content.as_deref())?);
            let words: Vec<&str> = text.split_whitespace().take(12).collect();
            (!words.is_empty()).then(|| words.join(" "))
        })
        .or_else(|| link.clone())
        .map(|t| clip(&t, MAX_TITLE))
        .unwrap_or_else(|| "(untitled)".to_owned());
    let guid = Some(without_forbidden(entry.id.trim().to_owned())).filter(|g| !g.is_empty());
    Article {
        guid,
        link,
        title,
        summary,
        content,
        authors: entry
            .authors
            .iter()
            .filter_map(|p| {
                let name = plain(p.name.as_deref().or(p.email.as_deref())?, false);
                (!name.is_empty()).then(|| clip(&name, MAX_NAME))
            })
            .collect(),
        categories: entry
            .categories
            .iter()
            .map(|c| {
                clip(
                    &plain(c.label.as_deref().unwrap_or(&c.term), false),
                    MAX_NAME,
                )
            })
            .filter(|c| !c.is_empty())
            .collect(),
        published: entry
            .published
            .filter(writable)
            .or(entry.updated.filter(writable)),
        updated: entry.updated.filter(writable),
    }
}

/// Whether a date can be written in every output format (RFC 3339 and RFC 822 have four-digit
/// years) and is not before the web: anything else is a broken date, as if none were given.
fn writable(date: &DateTime<Utc>) -> bool {
    (1970..=9999).contains(&chrono::Datelike::year(date))
}

/// Characters of a title kept: a headline is a line, and a 10 MB one would be copied into every
/// feed that shows it.
const MAX_TITLE: usize = 1_000;
/// Characters of an author's name or a category kept.
const MAX_NAME: usize = 200;

/// `text` cut to at most `max` characters, marked with an ellipsis where it was cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", text[..end].trim_end()),
        None => text.to_owned(),
    }
}

fn is_html(media_type: &str) -> bool {
    media_type.contains("html")
}

/// A text field as plain text: markup removed, entities decoded, whitespace collapsed.
fn plain_text(t: &Text) -> String {
    plain(&t.content, is_html(t.content_type.as_ref()))
}

/// `raw` as plain text. Whatever looks like markup is treated as markup, even in a field
/// declared as text: many feeds escape HTML into titles and names, and a reader may show
/// them as HTML.
fn plain(raw: &str, html: bool) -> String {
    let text = if html || raw.contains('<') || raw.contains('&') {
        html_to_text(raw)
    } else {
        raw.to_owned()
    };
    without_forbidden(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// `text` without the characters XML forbids. An XML feed's text is rid of them before it is
/// parsed ([`decode`]); a JSON Feed's strings may still hold them as escapes (`\u0000`), which
/// no output format may carry and PostgreSQL will not store.
fn without_forbidden(text: String) -> String {
    match xml_safe(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(safe) => safe,
    }
}

/// The text of an HTML fragment.
pub fn html_to_text(html: &str) -> String {
    // ammonia with no tags allowed keeps only text, serialised with &, <, > and U+00A0
    // escaped; undo exactly that.
    let text = ammonia::Builder::empty().clean(html).to_string();
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// Escapes text for inclusion in HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}
