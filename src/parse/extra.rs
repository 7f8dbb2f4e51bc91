//! What an entry says that feed-rs does not read, from the same text, in one more pass over
//! the XML taken only when the feed has such elements and an entry lacks what they give:
//! - dates: Dublin Core terms' `created`, `issued`, `modified` and Atom 0.3's;
//! - bylines: `dc:author`, `itunes:author` (the item's, else the channel's: how podcasts name
//!   their host);
//! - bodies: `xhtml:body`, `dc:description`, `itunes:summary`, `itunes:subtitle`;
//! - whether an RSS `<guid>` is a permalink (`isPermaLink`), for items without a `<link>`;
//! - the `xml:base` in force at each entry and its link as written, which feed-rs resolves
//!   against the feed's address only.
//!
//! Entries are found as `media` finds them, and matched to feed-rs's by position.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use url::Url;

/// What one entry offers besides what feed-rs read.
#[derive(Debug, Default, Clone)]
pub(super) struct Extra {
    /// Its publication date as written (`dcterms:issued`/`created`, Atom 0.3's).
    pub(super) published: Option<String>,
    /// Its last change as written (`dcterms:modified`, Atom 0.3's `modified`).
    pub(super) updated: Option<String>,
    /// Its bylines (`dc:author`, `itunes:author`).
    pub(super) authors: Vec<String>,
    /// Its bodies: rank (the lowest is used), text, and whether it is markup (`xhtml:body`)
    /// rather than text that may hold some.
    bodies: Vec<(u8, String, bool)>,
    /// What its `<guid>` says of being a permalink (`isPermaLink`), if it says.
    pub(super) guid_permalink: Option<bool>,
    /// The `xml:base` in force at its `<guid>`.
    pub(super) guid_base: Option<Url>,
    /// The `xml:base` in force at the entry, resolved against the feed's address.
    pub(super) base: Option<Url>,
    /// Its alternate link as written, before any resolution.
    pub(super) link: Option<String>,
}

impl Extra {
    /// The best body it offers, and whether it is markup.
    pub(super) fn body(&self) -> Option<(&str, bool)> {
        let best = self.bodies.iter().min_by_key(|(rank, _, _)| *rank)?;
        Some((&best.1, best.2))
    }
}

/// What a feed offers outside its entries.
#[derive(Debug, Default)]
pub(super) struct FeedExtra {
    /// The channel's `itunes:author`: the byline of entries that name none.
    pub(super) author: Option<String>,
}

/// Whether `text` holds any element this pass reads: when it does not, the pass is skipped.
pub(super) fn worth_reading(text: &str) -> bool {
    const MARKERS: [&str; 9] = [
        "purl.org/dc/terms",
        "purl.org/atom/ns#",
        ":author>",
        "xhtml",
        "summary>",
        "subtitle>",
        "dc:description",
        "isPermaLink",
        "xml:base",
    ];
    MARKERS.iter().any(|m| text.contains(m))
}

const DCTERMS: &str = "http://purl.org/dc/terms/";
const DC: &str = "http://purl.org/dc/elements/1.1/";
const ATOM03: &str = "http://purl.org/atom/ns#";
const ATOM: &str = "http://www.w3.org/2005/Atom";
const XHTML: &str = "http://www.w3.org/1999/xhtml";
const RSS10: &str = "http://purl.org/rss/1.0/";

/// Which of an entry's children is being read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Published,
    Updated,
    Author,
    /// A body, with its rank (lower wins) and whether it is markup.
    Body(u8, bool),
    Link,
    ChannelAuthor,
}

/// The field an element of namespace `ns` gives, if this pass reads it.
fn field(ns: &str, local: &str, in_entry: bool) -> Option<Field> {
    let itunes = ns
        .trim_end_matches('/')
        .ends_with("itunes.com/dtds/podcast-1.0.dtd");
    if !in_entry {
        return (itunes && local == "author").then_some(Field::ChannelAuthor);
    }
    Some(match (ns, local) {
        (DCTERMS, "issued" | "created") | (ATOM03, "issued" | "created") => Field::Published,
        (DCTERMS, "modified") | (ATOM03, "modified") => Field::Updated,
        (DC, "author") => Field::Author,
        (XHTML, "body") => Field::Body(0, true),
        (DC, "description") => Field::Body(1, false),
        _ if itunes && local == "author" => Field::Author,
        _ if itunes && local == "summary" => Field::Body(2, false),
        _ if itunes && local == "subtitle" => Field::Body(3, false),
        ("" | RSS10, "link") => Field::Link,
        _ => return None,
    })
}

fn namespace(resolved: &ResolveResult) -> String {
    match resolved {
        ResolveResult::Bound(ns) => ns.as_ref().to_owned(),
        _ => String::new(),
    }
}

fn is_entry(ns: &str, local: &str) -> bool {
    match ns {
        "" | RSS10 => local == "item" || local == "entry",
        ATOM | ATOM03 => local == "entry",
        _ => false,
    }
}

fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .map(|v| v.trim().to_owned())
}

/// The element being read as text: its field, depth, and where its content starts.
struct Reading {
    field: Field,
    depth: usize,
    start: usize,
    text: String,
}

/// Each entry's extras in document order, and the feed's; `None` if the document cannot be
/// read to its end.
pub(super) fn xml_extras(text: &str, feed_url: &Url) -> Option<(FeedExtra, Vec<Extra>)> {
    let mut reader = quick_xml::NsReader::from_str(text);
    reader.config_mut().check_end_names = false;
    let (mut feed, mut entries) = (FeedExtra::default(), Vec::new());
    let mut current: Option<(usize, Extra)> = None;
    let mut reading: Option<Reading> = None;
    // The `xml:base` in force at each open element's depth.
    let mut bases: Vec<(usize, Url)> = Vec::new();
    let mut depth = 0usize;
    loop {
        let (resolved, event) = reader.read_resolved_event().ok()?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) if reading.is_none() => {
                let ns = namespace(&resolved);
                let local = e.local_name().into_inner().to_owned();
                if let Some(base) = attr(&e, "xml:base") {
                    let parent = bases.last().map_or(feed_url, |(_, b)| b);
                    if let Ok(base) = parent.join(&base) {
                        bases.push((depth, base));
                    }
                }
                match &mut current {
                    None if is_entry(&ns, &local) => {
                        let extra = Extra {
                            base: bases.last().map(|(_, b)| b.clone()),
                            ..Extra::default()
                        };
                        if empty {
                            entries.push(extra);
                        } else {
                            current = Some((depth, extra));
                        }
                    }
                    Some((d, extra)) if *d + 1 == depth => {
                        if local == "guid" {
                            extra.guid_permalink =
                                attr(&e, "isPermaLink").map(|v| !v.eq_ignore_ascii_case("false"));
                            extra.guid_base = bases.last().map(|(_, b)| b.clone());
                        }
                        if ns == ATOM && local == "link" && extra.link.is_none() {
                            let rel = attr(&e, "rel");
                            if rel.as_deref().is_none_or(|r| r == "alternate") {
                                extra.link = attr(&e, "href");
                                extra.base = bases.last().map(|(_, b)| b.clone());
                            }
                        } else if let Some(field) = field(&ns, &local, true).filter(|_| !empty) {
                            if field == Field::Link {
                                extra.base = bases.last().map(|(_, b)| b.clone());
                            }
                            let start = reader.buffer_position() as usize;
                            reading = Some(Reading {
                                field,
                                depth,
                                start,
                                text: String::new(),
                            });
                        }
                    }
                    None if !empty && field(&ns, &local, false).is_some() => {
                        let start = reader.buffer_position() as usize;
                        let field = Field::ChannelAuthor;
                        reading = Some(Reading {
                            field,
                            depth,
                            start,
                            text: String::new(),
                        });
                    }
                    _ => {}
                }
                depth += usize::from(!empty);
            }
            Event::Start(_) => depth += 1,
            Event::Text(t) => {
                if let Some(r) = &mut reading {
                    r.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(r) = &mut reading {
                    r.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(reading) = &mut reading {
                    let name = r.xml10_content();
                    match r.resolve_char_ref().ok().flatten() {
                        Some(c) => reading.text.push(c),
                        None => match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => reading.text.push_str(s),
                            None => reading.text.push_str(&format!("&{name};")),
                        },
                    }
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                while bases.last().is_some_and(|(d, _)| *d >= depth) {
                    bases.pop();
                }
                if reading.as_ref().is_some_and(|r| r.depth == depth) {
                    let r = reading.take()?;
                    let end = text[..reader.buffer_position() as usize].rfind("</")?;
                    let raw = text.get(r.start..end).unwrap_or_default();
                    let entry = current.as_mut().map(|(_, e)| e);
                    finish(r, raw, entry, &mut feed);
                }
                if current.as_ref().is_some_and(|(d, _)| *d == depth) {
                    entries.extend(current.take().map(|(_, e)| e));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Some((feed, entries))
}

/// Files what was read of one element.
fn finish(r: Reading, raw: &str, entry: Option<&mut Extra>, feed: &mut FeedExtra) {
    let text = r.text.trim().to_owned();
    let Some(entry) = entry else {
        if feed.author.is_none() && !text.is_empty() {
            feed.author = Some(text);
        }
        return;
    };
    match r.field {
        Field::Body(rank, true) if !raw.trim().is_empty() => {
            entry.bodies.push((rank, raw.trim().to_owned(), true));
        }
        _ if text.is_empty() => {}
        Field::Published => {
            entry.published.get_or_insert(text);
        }
        Field::Updated => {
            entry.updated.get_or_insert(text);
        }
        Field::Author if !entry.authors.contains(&text) => entry.authors.push(text),
        Field::Body(rank, markup) => entry.bodies.push((rank, text, markup)),
        Field::Link => {
            entry.link.get_or_insert(text);
        }
        _ => {}
    }
}

/// The entry's page: its alternate link (not an attached file: feed-rs lists a JSON Feed's
/// attachments among the links, typed and without a `rel`), resolved against the `xml:base` in
/// force; else its guid (or Atom id) where that is a permalink: a web address not marked
/// `isPermaLink="false"`, or a relative one marked `isPermaLink="true"`.
pub(super) fn link(entry: &feed_rs::model::Entry, extra: &Extra, feed_url: &Url) -> Option<String> {
    let written = entry.links.iter().find(|l| {
        l.rel.as_deref().is_none_or(|r| r == "alternate")
            && l.media_type.as_deref().is_none_or(|t| t.contains("html"))
    });
    let link = match (&extra.base, &extra.link) {
        (Some(base), Some(raw)) if written.is_some() => base.join(raw.trim()).ok(),
        _ => {
            let base = entry.base.as_deref().and_then(|b| feed_url.join(b).ok());
            let base = base.as_ref().unwrap_or(feed_url);
            written.and_then(|l| base.join(l.href.trim()).ok())
        }
    };
    // A relative guid is a link only where the feed says it is a permalink.
    let permalink = || match extra.guid_permalink {
        Some(false) => None,
        Some(true) => extra
            .guid_base
            .as_ref()
            .unwrap_or(feed_url)
            .join(entry.id.trim())
            .ok(),
        None => Url::parse(entry.id.trim()).ok(),
    };
    link.filter(super::is_web)
        .or_else(|| permalink().filter(super::is_web))
        .map(String::from)
}

/// Gives `entry` what `extra` offers where feed-rs read nothing: dates, bylines (else the
/// channel's `author`), a body.
pub(super) fn fill(entry: &mut feed_rs::model::Entry, extra: Extra, author: Option<&str>) {
    use super::date::parse_date;
    if entry.published.is_none() {
        entry.published = extra.published.as_deref().and_then(parse_date);
    }
    if entry.updated.is_none() {
        entry.updated = extra.updated.as_deref().and_then(parse_date);
    }
    if entry.authors.is_empty() {
        let names = match extra.authors.is_empty() {
            true => author.map(str::to_owned).into_iter().collect(),
            false => extra.authors.clone(),
        };
        entry.authors = names
            .into_iter()
            .map(|name| feed_rs::model::Person {
                name: Some(name),
                uri: None,
                email: None,
                role: None,
            })
            .collect();
    }
    let described = entry.media.iter().any(|m| m.description.is_some());
    if entry.summary.is_none() && entry.content.is_none() && !described {
        if let Some((body, markup)) = extra.body() {
            let html = markup || body.contains('<') || body.contains('&');
            let kind = if html { "text/html" } else { "text/plain" };
            entry.summary = Some(feed_rs::model::Text {
                content_type: mediatype::MediaTypeBuf::from_string(kind.to_owned()).unwrap_or_else(
                    |_| {
                        mediatype::MediaTypeBuf::new(
                            mediatype::names::TEXT,
                            mediatype::names::PLAIN,
                        )
                    },
                ),
                src: None,
                content: body.to_owned(),
            });
        }
    }
}
