//! One entry read by feed-rs made our `Article`: its page and the base of its relative
//! addresses, its HTML sanitised and bounded, its plain text, its title (or a start of its
//! text, for an untitled one), bylines and categories as plain text, its writable dates.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use feed_rs::model::{Entry, Text};
use url::Url;

use super::bound::{bound, floor_boundary};
use super::media::Candidates;
use super::text::{escape_html, html_to_text, sanitised_text, text_of_html};
use super::{elements, is_web, xml_safe, Article, Media};

/// The article of `entry`, whose page is `link`, its HTML cleaned by `sanitiser` (which allows
/// only web addresses' schemes; the article's own base for relative ones is set here).
pub(super) fn article(
    entry: Entry,
    link: Option<String>,
    feed_url: &Url,
    mut media: Candidates,
    sanitiser: &mut ammonia::Builder<'static>,
) -> Article {
    let (link, content_base) = page_of(&entry, link, feed_url, &mut media);
    // Links and pictures in the text are web addresses, relative ones resolved against a web
    // address: nothing else is published.
    sanitiser.url_relative(ammonia::UrlRelative::RewriteWithBase(content_base.clone()));
    let sanitiser = &*sanitiser;
    let html = |t: &Text| -> Option<String> {
        let out = if is_html(t.content_type.as_ref()) {
            sanitiser.clean(&bound(&t.content)).to_string()
        } else {
            escape_html(&t.content)
        };
        let out = without_forbidden(out.trim().to_owned());
        (!out.is_empty()).then_some(out)
    };
    let content = entry.content.as_ref().and_then(|c| {
        let body = c.body.as_deref()?;
        html(&Text {
            content_type: c.content_type.clone(),
            src: None,
            content: body.to_owned(),
        })
    });
    // An entry whose only text is its media's description (a YouTube video's) has that text.
    let summary = entry.summary.as_ref().and_then(html).or_else(|| {
        let described = entry.media.iter().find_map(|m| m.description.as_ref());
        described.filter(|_| content.is_none()).and_then(html)
    });
    let text = content
        .as_deref()
        .or(summary.as_deref())
        .map(text_of_html)
        .unwrap_or_default();
    let title = title_of(&entry, summary.as_deref(), &text, link.as_deref());
    let guid = Some(without_forbidden(entry.id.trim().to_owned())).filter(|g| !g.is_empty());
    let media = Media::chosen(
        media,
        &content_base,
        &[content.as_deref(), summary.as_deref()],
    );
    let (authors, categories) = bylines_and_categories(&entry);
    Article {
        guid,
        link,
        title,
        summary,
        content,
        text,
        authors,
        categories,
        published: entry
            .published
            .filter(writable)
            .or(entry.updated.filter(writable)),
        updated: entry.updated.filter(writable),
        media,
    }
}

/// The page of `entry` (the page the feed names behind its `link`, if it names one) and the
/// base its text's relative addresses resolve against.
fn page_of(
    entry: &Entry,
    link: Option<String>,
    feed_url: &Url,
    media: &mut Candidates,
) -> (Option<String>, Url) {
    // An `xml:base` that is not a web address (`javascript:`) is no base: relative links
    // resolved against it would not be web addresses either.
    let explicit_base = entry
        .base
        .as_deref()
        .and_then(|b| feed_url.join(b).ok())
        .filter(is_web);
    let base = explicit_base.clone().unwrap_or_else(|| feed_url.clone());
    // Where the feed names the page behind its link (FeedBurner's `~r` redirects, whose
    // `origLink` is the outlet's page, or a canonical link), the page is the link: readers
    // skip the redirect, and the article is identified by the page, as other outlets link it.
    let original = media
        .original
        .take()
        .filter(|o| !o.trim().is_empty())
        .and_then(|o| base.join(o.trim()).ok())
        .filter(is_web)
        .map(String::from);
    let link = original.or(link);
    // Relative URLs in the text are the article page's: resolve them against an explicit
    // xml:base, else the article's link (the feed may live on another host), else the feed.
    let content_base = match (explicit_base, &link) {
        (None, Some(link)) => Url::parse(link).unwrap_or_else(|_| base.clone()),
        _ => base.clone(),
    };
    (link, content_base)
}

/// The title of `entry`, as plain text: its own; else (an untitled entry, allowed in RSS) the
/// start of its `summary` or `text`; else its `link`.
fn title_of(entry: &Entry, summary: Option<&str>, text: &str, link: Option<&str>) -> String {
    entry
        .title
        .as_ref()
        .map(plain_text)
        .filter(|t| !t.is_empty())
        .or_else(|| {
            let start = match summary {
                Some(summary) => sanitised_text(summary),
                None => text.to_owned(),
            };
            let words: Vec<&str> = start.split_whitespace().take(12).collect();
            (!words.is_empty()).then(|| words.join(" "))
        })
        .or_else(|| link.map(str::to_owned))
        .map(|t| clip(&t, MAX_TITLE))
        .unwrap_or_else(|| "(untitled)".to_owned())
}

/// The bylines and the outlet's own categories of `entry`, as plain text.
fn bylines_and_categories(entry: &Entry) -> (Vec<String>, Vec<String>) {
    let authors = entry
        .authors
        .iter()
        .filter_map(|p| {
            let name = plain(p.name.as_deref().or(p.email.as_deref())?, false);
            let name = rss_byline(&name);
            (!name.is_empty()).then(|| clip(name, MAX_NAME))
        })
        .collect();
    let categories = entry
        .categories
        .iter()
        .map(|c| {
            clip(
                &plain(c.label.as_deref().unwrap_or(&c.term), false),
                MAX_NAME,
            )
        })
        .filter(|c| !c.is_empty())
        .collect();
    (authors, categories)
}

/// The name in a byline as RSS writes it, `email (Name)` (or, once the address is taken
/// apart, `(Name)`); any other byline as it is, `Ann Lee (Reuters)` included.
fn rss_byline(byline: &str) -> &str {
    let byline = byline.trim();
    let Some((before, inside)) = byline.strip_suffix(')').and_then(|b| b.split_once('(')) else {
        return byline;
    };
    let before = before.trim();
    match before.is_empty() || (before.contains('@') && !before.contains(char::is_whitespace)) {
        true => inside.trim(),
        false => byline,
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
pub(super) fn plain_text(t: &Text) -> String {
    plain(&t.content, is_html(t.content_type.as_ref()))
}

/// `raw` as plain text. Whatever looks like markup is treated as markup, even in a field
/// declared as text: many feeds escape HTML into titles and names, and a reader may show
/// them as HTML.
///
/// HTML that decoding reveals (a title escaped twice, `&amp;lt;script&amp;gt;`) is markup
/// too, and goes: a title is text wherever it is shown.
fn plain(raw: &str, html: bool) -> String {
    let mut text = if html || raw.contains('<') || raw.contains('&') {
        html_to_text(&raw[..floor_boundary(raw, MAX_PLAIN)])
    } else {
        raw.to_owned()
    };
    for _ in 0..2 {
        if !reveals_markup(&text) {
            break;
        }
        text = html_to_text(&text);
    }
    without_forbidden(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Bytes of a title's or name's markup read: far more than is kept ([`MAX_TITLE`]).
const MAX_PLAIN: usize = 64 * 1024;

/// Whether `text` holds an HTML tag or comment (`<b>`, `</script>`, `<!--`; not a word in
/// angle brackets, `<balanced>`).
fn reveals_markup(text: &str) -> bool {
    text.match_indices('<').any(|(i, _)| {
        let after = &text[i + 1..];
        if after.starts_with("!--") {
            return true;
        }
        let name: String = after
            .strip_prefix('/')
            .unwrap_or(after)
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        elements::is_html_element(&name.to_ascii_lowercase())
    })
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
