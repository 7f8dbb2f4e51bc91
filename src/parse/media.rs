//! What an entry brings besides its text: the files attached to it (a podcast's audio, a
//! video) and one picture that stands for it; and, read in the same pass, the page the entry
//! names as its own when its link is a redirect (`feedburner:origLink`, `link rel="canonical"`).
//!
//! feed-rs drops a Media RSS thumbnail given without `media:content` (the BBC's every item),
//! a JSON Feed item's `image` and an attachment's duration, so media are read here, from the
//! same text feed-rs parses: one pass over the XML (`xml_media`) or the JSON (`json_media`),
//! one list of candidates per entry, in document order. [`Media::chosen`] then keeps what a
//! reader can use: absolute `http`/`https` URLs only, each file once, the best picture.

use quick_xml::events::{BytesStart, Event};
use serde::{Deserialize, Serialize};
use url::Url;

use super::decode::attribute;
use super::vocab::Ns;

/// A file attached to an article: a podcast episode's audio, a video, a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enclosure {
    /// Absolute `http`/`https` URL.
    pub url: String,
    /// Its media type (`audio/mpeg`), if the feed says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Its size in bytes, if the feed says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// How long it plays, in seconds, if the feed says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
}

/// A picture: a thumbnail, or the picture an article's text shows first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Absolute `http`/`https` URL.
    pub url: String,
    /// Width in pixels, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// An article's media.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// The one picture that represents the article.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// The files attached to it, each once, in feed order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enclosures: Vec<Enclosure>,
}

/// Files kept per article: a hostile feed could list thousands.
const MAX_ENCLOSURES: usize = 16;
/// A picture in an article's text smaller than this (declared width or height, in pixels)
/// is an icon or a tracking pixel, not the article's picture.
const SIZEABLE: u32 = 100;

/// What an entry's markup offers, before it is checked.
#[derive(Debug, Default)]
pub(super) struct Candidates {
    enclosures: Vec<Enclosure>,
    images: Vec<Image>,
    /// `itunes:duration`: the episode's, so its audio's.
    duration: Option<u64>,
    /// The page itself, where the feed names it besides a redirecting link: FeedBurner's
    /// `origLink`, or a `link rel="canonical"` (the first given).
    pub(super) original: Option<String>,
}

impl Media {
    /// What `found` holds that a reader can use, URLs resolved against `base`: the files,
    /// each once; the largest picture given (the first if none says its size), else the first
    /// sizeable `<img>` of `html` (the article's sanitised text).
    pub(super) fn chosen(found: Candidates, base: &Url, html: &[Option<&str>]) -> Media {
        let absolute = |url: &str| {
            let mut url = base.join(url.trim()).ok()?;
            // Credentials are the outlet's, not every reader's.
            let _ = (url.set_username(""), url.set_password(None));
            (matches!(url.scheme(), "http" | "https")
                && public_host(&url)
                && url.as_str().len() <= super::MAX_URL)
                .then(|| String::from(url))
        };
        let mut enclosures: Vec<Enclosure> = Vec::new();
        for e in found.enclosures {
            let Some(url) = absolute(&e.url) else {
                continue;
            };
            let mime_type = e.mime_type.as_deref().and_then(media_type);
            if let Some(kept) = enclosures.iter_mut().find(|kept| kept.url == url) {
                // The same file twice (`media:content` and `<enclosure>`): one, with what
                // either says of it.
                kept.mime_type = kept.mime_type.take().or(mime_type);
                kept.length = kept.length.or(e.length);
                kept.duration = kept.duration.or(e.duration);
            } else if enclosures.len() < MAX_ENCLOSURES {
                enclosures.push(Enclosure {
                    url,
                    mime_type,
                    ..e
                });
            }
        }
        if let Some(duration) = found.duration {
            if let Some(e) = enclosures
                .iter_mut()
                .find(|e| e.duration.is_none() && plays(e))
            {
                e.duration = Some(duration);
            }
        }
        let images: Vec<Image> = found
            .images
            .into_iter()
            .filter_map(|i| {
                Some(Image {
                    url: absolute(&i.url)?,
                    ..i
                })
            })
            .collect();
        let area = |i: &Image| Some(u64::from(i.width?) * u64::from(i.height?));
        let largest = images
            .iter()
            .filter(|i| area(i).is_some())
            .max_by_key(|i| area(i))
            .or(images.first())
            .cloned();
        let image = largest.or_else(|| {
            html.iter()
                .flatten()
                .find_map(|h| first_picture(h, &absolute))
        });
        Media { image, enclosures }
    }
}

/// Whether a URL's host is one anybody could reach: a domain name with a dot, or an IPv4
/// address. A single label (`https://media/`) names a machine on the outlet's own network,
/// which no reader of the merged feed can fetch (and which RSS validators reject).
fn public_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.trim_end_matches('.').contains('.'),
        Some(url::Host::Ipv4(_)) => true,
        _ => false,
    }
}

/// Whether `url` names a non-public IP address (in any of the forms an IPv4 address can be
/// written: the URL parser has read them all as one).
pub(crate) fn on_non_public_address(url: &str) -> bool {
    use crate::address::non_public;
    match Url::parse(url).ok().as_ref().and_then(Url::host) {
        Some(url::Host::Ipv4(ip)) => non_public(std::net::IpAddr::V4(ip)).is_some(),
        Some(url::Host::Ipv6(ip)) => non_public(std::net::IpAddr::V6(ip)).is_some(),
        _ => false,
    }
}

impl Media {
    /// This media without its pictures and files on non-public addresses (the cloud's
    /// metadata service, a router's admin page): published, they would have each reader's
    /// software reach into its own network. Kept for a source allowed private addresses,
    /// whose readers share its network.
    pub(crate) fn drop_non_public(&mut self) {
        self.enclosures.retain(|e| !on_non_public_address(&e.url));
        if self
            .image
            .as_ref()
            .is_some_and(|i| on_non_public_address(&i.url))
        {
            self.image = None;
        }
    }
}

/// Whether an enclosure is something to play (audio or video), as far as its type tells.
fn plays(e: &Enclosure) -> bool {
    e.mime_type
        .as_deref()
        .is_none_or(|m| m.starts_with("audio/") || m.starts_with("video/"))
}

/// `raw` as a media type (`type/subtype`, lower case, parameters dropped), if it is one.
fn media_type(raw: &str) -> Option<String> {
    let essence = raw.split(';').next()?.trim().to_ascii_lowercase();
    let (kind, sub) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (token(kind) && token(sub)).then_some(essence)
}

/// The first `<img>` of `html` that is not declared smaller than [`SIZEABLE`].
fn first_picture(html: &str, absolute: &impl Fn(&str) -> Option<String>) -> Option<Image> {
    let lower = html.to_ascii_lowercase();
    lower.match_indices("<img").find_map(|(start, _)| {
        let len = lower[start..].find('>')?;
        let (tag, original) = (&lower[start..start + len], &html[start..start + len]);
        let size = |name| attribute(tag, name).and_then(|v| v.trim().parse::<u32>().ok());
        let (width, height) = (size("width"), size("height"));
        if width.is_some_and(|w| w < SIZEABLE) || height.is_some_and(|h| h < SIZEABLE) {
            return None;
        }
        // Attribute names are matched in lower case, the value taken from the original.
        let at = super::decode::attribute_at(tag, "src")?.1;
        let url = absolute(&original[at].replace("&amp;", "&"))?;
        Some(Image { url, width, height })
    })
}

/// An element's attributes by local name, values unescaped.
fn attributes(e: &BytesStart) -> Vec<(String, String)> {
    e.attributes()
        .flatten()
        .filter_map(|a| {
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()?;
            let key = a.key.local_name().into_inner().to_lowercase();
            Some((key, value.trim().to_owned()))
        })
        .collect()
}

fn get<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn number<T: std::str::FromStr>(attrs: &[(String, String)], name: &str) -> Option<T> {
    get(attrs, name)?.parse().ok()
}

/// Seconds from `itunes:duration` (`10475`, `62:03`, `1:02:03`, fractions ignored) or a
/// Media RSS `duration`.
fn seconds(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let parts: Vec<&str> = text.trim().split(':').collect();
    if parts.len() > 3 {
        return None;
    }
    for part in parts {
        let whole = part.split('.').next()?.trim();
        total = total.checked_mul(60)?.checked_add(whole.parse().ok()?)?;
    }
    (total > 0).then_some(total)
}

/// The media of each item or entry of an XML feed, in document order; `None` if the
/// document cannot be read to its end (feed-rs's reading then stands alone).
pub(super) fn xml_media(text: &str) -> Option<Vec<Candidates>> {
    let mut reader = quick_xml::NsReader::from_str(text);
    reader.config_mut().check_end_names = false;
    let mut entries = Vec::new();
    // The entry being read, with the depth of its element.
    let mut current: Option<(usize, Candidates)> = None;
    // Inside a `media:group`: its alternatives, of which one is kept.
    let mut group: Option<Vec<(bool, Enclosure)>> = None;
    let mut in_duration = false;
    let mut in_original = false;
    let mut depth = 0usize;
    loop {
        let (resolved, event) = reader.read_resolved_event().ok()?;
        let space = Ns::of(&resolved);
        let (element, empty) = match &event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::Text(t) if in_duration => {
                if let Some((_, c)) = &mut current {
                    c.duration = c.duration.or(seconds(&t.xml10_content()));
                }
                continue;
            }
            Event::Text(t) if in_original => {
                if let Some(original) = current.as_mut().and_then(|(_, c)| c.original.as_mut()) {
                    original.push_str(&t.xml10_content());
                }
                continue;
            }
            Event::GeneralRef(r) if in_original => {
                let name = r.xml10_content();
                let c = r.resolve_char_ref().ok().flatten().or_else(|| {
                    quick_xml::escape::resolve_predefined_entity(&name)?
                        .chars()
                        .next()
                });
                let original = current.as_mut().and_then(|(_, c)| c.original.as_mut());
                if let (Some(original), Some(c)) = (original, c) {
                    original.push(c);
                }
                continue;
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                in_duration = false;
                in_original = false;
                let local = e.local_name().into_inner();
                if space == Ns::MediaRss && local == "group" {
                    if let (Some((_, c)), Some(alternatives)) = (&mut current, group.take()) {
                        let default = alternatives.iter().position(|(d, _)| *d).unwrap_or(0);
                        c.enclosures
                            .extend(alternatives.into_iter().nth(default).map(|(_, e)| e));
                    }
                }
                if current.as_ref().is_some_and(|(d, _)| *d == depth) {
                    entries.extend(current.take().map(|(_, c)| c));
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let local = element.local_name().into_inner().to_owned();
        let Some((_, found)) = &mut current else {
            let entry = space.is_entry(&local);
            if entry && empty {
                entries.push(Candidates::default());
            } else if entry {
                current = Some((depth, Candidates::default()));
            }
            depth += usize::from(!empty);
            continue;
        };
        depth += usize::from(!empty);
        match child(found, &mut group, space, &local, element, empty) {
            Text::Duration => in_duration = true,
            Text::Original => in_original = true,
            Text::None => {}
        }
    }
    Some(entries)
}

/// Which text of an entry's child element is read next.
enum Text {
    None,
    /// `itunes:duration`'s.
    Duration,
    /// FeedBurner's `origLink`.
    Original,
}

/// Notes in `found` (or among the alternatives of the `media:group` being read) what the
/// entry's child `element`, named `local` in vocabulary `space`, says in its attributes; and
/// says whose text is to be read next.
fn child(
    found: &mut Candidates,
    group: &mut Option<Vec<(bool, Enclosure)>>,
    space: Ns,
    local: &str,
    element: &BytesStart,
    empty: bool,
) -> Text {
    let attrs = || attributes(element);
    match (space, local) {
        (Ns::Plain, "enclosure") => {
            let a = attrs();
            if let Some(e) = enclosure(&a, "url", "type", "length") {
                add_image_file(found, &e);
                found.enclosures.push(e);
            }
        }
        (Ns::Atom | Ns::Plain, "link") => {
            let a = attrs();
            match get(&a, "rel") {
                Some("enclosure") => {
                    if let Some(e) = enclosure(&a, "href", "type", "length") {
                        add_image_file(found, &e);
                        found.enclosures.push(e);
                    }
                }
                Some("canonical") if found.original.is_none() => {
                    found.original = get(&a, "href").map(str::to_owned);
                }
                _ => {}
            }
        }
        (Ns::MediaRss, "group") if !empty => *group = Some(Vec::new()),
        (Ns::MediaRss, "content") => {
            let a = attrs();
            let Some(mut e) = enclosure(&a, "url", "type", "filesize") else {
                return Text::None;
            };
            e.duration = get(&a, "duration").and_then(seconds);
            let image = get(&a, "medium") == Some("image")
                || e.mime_type
                    .as_deref()
                    .is_some_and(|m| m.starts_with("image/"));
            if image {
                found.images.push(Image {
                    url: e.url,
                    width: number(&a, "width"),
                    height: number(&a, "height"),
                });
            } else if let Some(alternatives) = group {
                alternatives.push((get(&a, "isdefault") == Some("true"), e));
            } else {
                found.enclosures.push(e);
            }
        }
        (Ns::MediaRss, "thumbnail") => {
            let a = attrs();
            if let Some(url) = get(&a, "url") {
                found.images.push(Image {
                    url: url.to_owned(),
                    width: number(&a, "width"),
                    height: number(&a, "height"),
                });
            }
        }
        (Ns::ITunes, "image") => {
            if let Some(url) = get(&attrs(), "href") {
                found.images.push(Image {
                    url: url.to_owned(),
                    width: None,
                    height: None,
                });
            }
        }
        (Ns::ITunes, "duration") if !empty => return Text::Duration,
        (Ns::FeedBurner, "origLink") if !empty && found.original.is_none() => {
            found.original = Some(String::new());
            return Text::Original;
        }
        _ => {}
    }
    Text::None
}

/// An enclosure from attributes named `url`, `kind` and `length`; `None` without a URL.
fn enclosure(attrs: &[(String, String)], url: &str, kind: &str, length: &str) -> Option<Enclosure> {
    Some(Enclosure {
        url: get(attrs, url)?.to_owned(),
        mime_type: get(attrs, kind).map(str::to_owned),
        length: number(attrs, length).filter(|l| *l > 0),
        duration: None,
    })
}

/// A picture attached as a file is also a picture of the article.
fn add_image_file(found: &mut Candidates, e: &Enclosure) {
    if e.mime_type
        .as_deref()
        .is_some_and(|m| m.starts_with("image/"))
    {
        found.images.push(Image {
            url: e.url.clone(),
            width: None,
            height: None,
        });
    }
}

/// The media of each item of a JSON Feed: `attachments`, `image` and `banner_image`.
pub(super) fn json_media(text: &str) -> Option<Vec<Candidates>> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let items = doc.get("items")?.as_array()?;
    Some(
        items
            .iter()
            .map(|item| {
                let string = |v: &serde_json::Value, key| v.get(key)?.as_str().map(str::to_owned);
                let mut found = Candidates::default();
                for key in ["image", "banner_image"] {
                    if let Some(url) = string(item, key) {
                        found.images.push(Image {
                            url,
                            width: None,
                            height: None,
                        });
                    }
                }
                let attachments = item.get("attachments").and_then(|a| a.as_array());
                for a in attachments.into_iter().flatten() {
                    let Some(url) = string(a, "url") else {
                        continue;
                    };
                    let e = Enclosure {
                        url,
                        mime_type: string(a, "mime_type"),
                        length: a.get("size_in_bytes").and_then(|s| s.as_u64()),
                        duration: a
                            .get("duration_in_seconds")
                            .and_then(|s| s.as_f64())
                            .filter(|s| s.is_finite() && *s >= 1.0)
                            .map(|s| s as u64),
                    };
                    add_image_file(&mut found, &e);
                    found.enclosures.push(e);
                }
                found
            })
            .collect(),
    )
}
