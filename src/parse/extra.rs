//! What an entry says that feed-rs does not read, from the same text, in one more pass over
//! the XML taken only when the feed has such elements and an entry lacks what they give:
//! - dates: Dublin Core terms' `created`, `issued`, `modified` and Atom 0.3's `created`; and
//!   an RSS item's `pubDate` where it also has a `dc:date`, which feed-rs lets replace it
//!   (or erase it, where unreadable);
//! - titles: `dc:title`, for items without an RSS `<title>`;
//! - bylines: `dc:author`, `itunes:author` (the item's, else the channel's: how podcasts name
//!   their host);
//! - bodies: `xhtml:body`, `dc:description`, `itunes:summary`, `itunes:subtitle`; and an RSS
//!   `<description>` written as markup rather than escaped (Reddit's), of which feed-rs keeps
//!   only the text before its first element;
//! - whether an RSS `<guid>` is a permalink (`isPermaLink`), for items without a `<link>`;
//! - the `xml:base` in force at each entry and its link as written, which feed-rs resolves
//!   against the feed's address only.
//!
//! Entries are found as `media` finds them (`vocab`), and matched to feed-rs's by position.

use feed_rs::model::{Entry, Person};
use mediatype::names::{HTML, PLAIN, TEXT};
use quick_xml::events::{BytesStart, Event};
use url::Url;

use super::vocab::Ns;

/// What one entry offers besides what feed-rs read.
#[derive(Debug, Default, Clone)]
pub(super) struct Extra {
    /// Its publication date as written (`dcterms:issued`/`created`, Atom 0.3's).
    pub(super) published: Option<String>,
    /// Its last change as written (`dcterms:modified`, Atom 0.3's `modified`).
    pub(super) updated: Option<String>,
    /// Its `dc:title`.
    pub(super) title: Option<String>,
    /// Its RSS `<pubDate>` as written.
    pub(super) pub_date: Option<String>,
    /// Its bylines (`dc:author`, `itunes:author`).
    pub(super) authors: Vec<String>,
    /// Its bodies: rank (the lowest is used), text, and whether it is markup (`xhtml:body`)
    /// rather than text that may hold some.
    bodies: Vec<(u8, String, bool)>,
    /// Its RSS `<description>`, where it holds elements: their markup.
    description: Option<String>,
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

/// Whether this pass can give `entries` (feed-rs's reading of `text`) anything: the feed sets
/// `xml:base`, or an entry lacks what an element the text names would give. A look at the
/// text's namespaces and names, so that most feeds are read once.
pub(super) fn needed(text: &str, entries: &[Entry]) -> bool {
    let lacks = |lacking: fn(&Entry) -> bool| entries.iter().any(lacking);
    let names = |markers: &[&str]| markers.iter().any(|m| text.contains(m));
    let untitled = lacks(|e| e.title.is_none());
    let (undated, unsigned, empty, unlinked) = (
        lacks(|e| e.published.is_none() && e.updated.is_none()),
        lacks(|e| e.authors.is_empty()),
        lacks(|e| e.summary.is_none() && e.content.is_none()),
        lacks(|e| e.links.is_empty()),
    );
    text.contains("xml:base")
        || (undated && names(&["purl.org/dc/terms", "created>"]))
        || (unsigned && names(&["itunes.com/dtds", ":author>", "<author xmlns"]))
        || (empty && names(&["xhtml", "itunes.com/dtds", "purl.org/dc/elements"]))
        || (untitled && names(&["purl.org/dc/elements"]))
        || (unlinked && names(&["isPermaLink", "www.w3.org/2005/Atom"]))
        || (names(&["<pubDate>"]) && names(&["<dc:date>"]))
        || marked_up_description(text)
}

/// Whether an RSS `<description>` of `text` holds elements (`<description><table>…`) rather
/// than escaped or CDATA markup.
fn marked_up_description(text: &str) -> bool {
    text.match_indices("<description>").any(|(at, open)| {
        let inside = text[at + open.len()..].trim_start();
        inside.starts_with('<') && !inside.starts_with("<![CDATA[") && !inside.starts_with("</")
    })
}

/// Which of an entry's children is being read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Published,
    Updated,
    PubDate,
    Title,
    Author,
    /// A body, with its rank (lower wins) and whether it is markup.
    Body(u8, bool),
    Link,
    /// An RSS `<description>`, read for its markup.
    Description,
    /// An author given as a person (`<name>`, `<email>`), read for its name.
    Person,
    /// The channel's `itunes:author`, outside any entry.
    ChannelAuthor,
}

/// The field an entry's child `local` of vocabulary `ns` gives, if this pass reads it.
fn field(ns: Ns, local: &str) -> Option<Field> {
    Some(match (ns, local) {
        // Atom 0.3's `created` (`decode` renames its `issued` and `modified` as Atom 1.0's).
        (Ns::DcTerms, "issued" | "created") | (Ns::Atom, "created") => Field::Published,
        (Ns::DcTerms, "modified") => Field::Updated,
        (Ns::Plain, "pubDate") => Field::PubDate,
        (Ns::Dc | Ns::ITunes, "author") => Field::Author,
        // An Atom person in an RSS item (`<a10:author><a10:name>`), or RSS's `<author>` written
        // as one: feed-rs reads neither's name.
        (Ns::Plain | Ns::Atom, "author") => Field::Person,
        (Ns::Xhtml, "body") => Field::Body(0, true),
        (Ns::Dc, "description") => Field::Body(1, false),
        (Ns::Dc, "title") => Field::Title,
        (Ns::ITunes, "summary") => Field::Body(2, false),
        (Ns::ITunes, "subtitle") => Field::Body(3, false),
        (Ns::Plain, "link") => Field::Link,
        (Ns::Plain, "description") => Field::Description,
        _ => return None,
    })
}

fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .map(|v| v.trim().to_owned())
}

/// The element being read as text: its field, depth, where its content starts, and whether
/// it holds elements.
struct Reading {
    field: Field,
    depth: usize,
    start: usize,
    text: String,
    elements: bool,
}

/// Each entry's extras in document order, and the feed's; `None` if the document cannot be
/// read to its end.
pub(super) fn xml_extras(text: &str, feed_url: &Url) -> Option<(FeedExtra, Vec<Extra>)> {
    let mut reader = quick_xml::NsReader::from_str(text);
    reader.config_mut().check_end_names = false;
    let (mut feed, mut entries) = (FeedExtra::default(), Vec::new());
    let mut current: Option<(usize, Extra)> = None;
    let mut reading: Option<Reading> = None;
    // The `xml:base` set by each open element that sets one, with its depth.
    let mut bases: Vec<(usize, Url)> = Vec::new();
    let mut depth = 0usize;
    loop {
        let (resolved, event) = reader.read_resolved_event().ok()?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) if reading.is_none() => {
                let (ns, local) = (Ns::of(&resolved), e.local_name().into_inner());
                // The base in force here: the element's own, else its parent's.
                let parent = bases.last().map(|(_, b)| b);
                let own =
                    attr(&e, "xml:base").and_then(|b| parent.unwrap_or(feed_url).join(&b).ok());
                let base = own.as_ref().or(parent).cloned();
                let field = match &mut current {
                    None if ns.is_entry(local) => {
                        let extra = Extra {
                            base,
                            ..Extra::default()
                        };
                        match empty {
                            true => entries.push(extra),
                            false => current = Some((depth, extra)),
                        }
                        None
                    }
                    None => (ns == Ns::ITunes && local == "author").then_some(Field::ChannelAuthor),
                    Some((d, extra)) if *d + 1 == depth => child(extra, &e, ns, local, base),
                    Some(_) => None,
                };
                if let Some(field) = field.filter(|_| !empty) {
                    let start = reader.buffer_position() as usize;
                    reading = Some(Reading {
                        field,
                        depth,
                        start,
                        text: String::new(),
                        elements: false,
                    });
                }
                if !empty {
                    bases.extend(own.map(|b| (depth, b)));
                    depth += 1;
                }
            }
            Event::Start(_) | Event::Empty(_) => {
                if let Some(r) = &mut reading {
                    r.elements = true;
                }
                depth += usize::from(!empty);
            }
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
                    push_reference(&mut reading.text, &r);
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

/// Appends to `text` what the reference `r` stands for: a character, a predefined entity, or
/// else the reference as written.
fn push_reference(text: &mut String, r: &quick_xml::events::BytesRef) {
    let name = r.xml10_content();
    match r.resolve_char_ref().ok().flatten() {
        Some(c) => text.push(c),
        None => match quick_xml::escape::resolve_predefined_entity(&name) {
            Some(s) => text.push_str(s),
            None => text.push_str(&format!("&{name};")),
        },
    }
}

/// Notes what an entry's child element `e` says in its attributes (an RSS `<guid>`'s
/// `isPermaLink`, an Atom `<link>`'s address), `base` being the `xml:base` in force at it;
/// and returns the field its text gives, if it is read.
fn child(
    extra: &mut Extra,
    e: &BytesStart,
    ns: Ns,
    local: &str,
    base: Option<Url>,
) -> Option<Field> {
    match (ns, local) {
        (Ns::Plain, "guid") => {
            extra.guid_permalink = attr(e, "isPermaLink").map(|v| !v.eq_ignore_ascii_case("false"));
            extra.guid_base = base;
            None
        }
        (Ns::Atom, "link") => {
            let alternate = attr(e, "rel").is_none_or(|r| r == "alternate");
            if alternate && extra.link.is_none() {
                extra.link = attr(e, "href");
                extra.base = base;
            }
            None
        }
        _ => {
            let field = field(ns, local)?;
            if field == Field::Link {
                extra.base = base;
            }
            Some(field)
        }
    }
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
        Field::Description if r.elements && !raw.trim().is_empty() => {
            entry.description = Some(raw.trim().to_owned());
        }
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
        Field::PubDate => {
            entry.pub_date.get_or_insert(text);
        }
        Field::Title => {
            entry.title.get_or_insert(text);
        }
        Field::Person if r.elements => {
            if let Some(name) = child_text(raw, "name").filter(|n| !entry.authors.contains(n)) {
                entry.authors.push(name);
            }
        }
        Field::Author if !entry.authors.contains(&text) => entry.authors.push(text),
        Field::Body(rank, markup) => entry.bodies.push((rank, text, markup)),
        Field::Link => {
            entry.link.get_or_insert(text);
        }
        _ => {}
    }
}

/// The text of the first child element `name` (in any namespace) of the markup `raw`, its
/// entities decoded.
fn child_text(raw: &str, name: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(raw);
    let mut inside = false;
    let mut text = String::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if e.local_name().into_inner() == name => inside = true,
            Event::Text(t) if inside => text.push_str(&t.xml10_content()),
            Event::CData(t) if inside => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if inside => {
                let c = r.resolve_char_ref().ok().flatten();
                let named = quick_xml::escape::resolve_predefined_entity(&r.xml10_content());
                text.extend(c.map(String::from).or(named.map(str::to_owned)));
            }
            Event::End(_) if inside => break,
            Event::Eof => break,
            _ => {}
        }
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
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
        // A link feed-rs did not read (an Atom `<link>` in an RSS item).
        (base, Some(raw)) if written.is_none() => {
            base.as_ref().unwrap_or(feed_url).join(raw.trim()).ok()
        }
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

/// Gives `entry` what `extra` offers where feed-rs read nothing: dates, bylines (else
/// `byline`, the feed's), a body; and the markup of an RSS description that holds elements,
/// of which feed-rs read only the first text; a `dc:title` where it read no title. A readable `pubDate` is the publication date
/// even where a later `dc:date` replaced it.
pub(super) fn fill(entry: &mut feed_rs::model::Entry, mut extra: Extra, byline: &[Person]) {
    use super::date::parse_date;
    if let Some(date) = extra.pub_date.as_deref().and_then(parse_date) {
        entry.published = Some(date);
    }
    if entry.title.is_none() {
        entry.title = extra.title.take().map(|title| text_of(title, PLAIN));
    }
    if entry.published.is_none() {
        entry.published = extra.published.as_deref().and_then(parse_date);
    }
    if entry.updated.is_none() {
        entry.updated = extra.updated.as_deref().and_then(parse_date);
    }
    if entry.authors.is_empty() {
        entry.authors = match extra.authors.is_empty() {
            true => byline.to_vec(),
            false => extra.authors.drain(..).map(person).collect(),
        };
    }
    if let Some(markup) = extra.description.take() {
        entry.summary = Some(html_text(markup));
    }
    let described = entry.media.iter().any(|m| m.description.is_some());
    if entry.summary.is_none() && entry.content.is_none() && !described {
        if let Some((body, markup)) = extra.body() {
            let html = markup || body.contains('<') || body.contains('&');
            entry.summary = Some(text_of(body.to_owned(), if html { HTML } else { PLAIN }));
        }
    }
}

/// A person known by name only.
pub(super) fn person(name: String) -> Person {
    Person {
        name: Some(name),
        uri: None,
        email: None,
        role: None,
    }
}

/// `markup` as a text feed-rs would have read as HTML.
pub(super) fn html_text(markup: String) -> feed_rs::model::Text {
    text_of(markup, HTML)
}

/// `content` as a text feed-rs would have read as `text/{subtype}`.
fn text_of(content: String, subtype: mediatype::Name<'static>) -> feed_rs::model::Text {
    feed_rs::model::Text {
        content_type: mediatype::MediaTypeBuf::new(TEXT, subtype),
        src: None,
        content,
    }
}
