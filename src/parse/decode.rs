//! Bytes to clean UTF-8 for feed-rs: the character set found (BOM, XML declaration, HTTP
//! charset, a check of what the bytes are), characters XML forbids dropped, and the quirks of
//! real `<rss>` roots and Atom 0.3 made readable.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8};

/// Decodes a feed body to UTF-8 text ready for feed-rs: the character set is taken from the
/// BOM, else the XML declaration, else the HTTP `charset`, else UTF-8; bytes invalid in it
/// become U+FFFD; characters XML forbids are dropped; the XML declaration is removed (the
/// text is UTF-8 now, whatever it said), the `<rss>` root is made readable
/// ([`fix_rss_root`]) and Atom 0.3 is upgraded to 1.0 ([`upgrade_atom03`]).
pub(crate) fn decode(body: &[u8], content_type: Option<&str>) -> String {
    let (encoding, bom_len) = Encoding::for_bom(body).unwrap_or_else(|| {
        let named = declared_encoding(body).or_else(|| http_charset(content_type));
        (checked(body, named), 0)
    });
    let (text, _) = encoding.decode_without_bom_handling(&body[bom_len..]);
    let mut text: String = xml_safe(&text).into_owned();
    if encoding == UTF_8 {
        if let Some(undoubled) = undoubled(&text) {
            text = undoubled;
        }
    }
    if let Some((start, end)) = xml_declaration(&text) {
        text.replace_range(start..end, "");
    }
    // A second declaration further in is not XML, and the parser would act on its encoding
    // in the middle of the document (found by fuzzing: it panicked). The text is UTF-8 now.
    remove_stray_declarations(&mut text);
    fix_rss_root(&mut text);
    upgrade_atom03(&mut text);
    canonical_namespaces(&mut text);
    text
}

/// Decodes a web page to UTF-8 as a browser does: the BOM, else the HTTP `charset`, else a
/// `<meta charset>` (or `http-equiv` content type) in its first kilobytes, else what its
/// bytes are; characters XML forbids are dropped (the text may end up in a feed).
pub(crate) fn decode_html(body: &[u8], content_type: Option<&str>) -> String {
    let (encoding, bom_len) = Encoding::for_bom(body).unwrap_or_else(|| {
        let named = http_charset(content_type).or_else(|| meta_charset(body));
        (checked(body, named), 0)
    });
    let (text, _) = encoding.decode_without_bom_handling(&body[bom_len..]);
    xml_safe(&text).into_owned()
}

/// The character set a page's `<meta>` names in its first 4 KB.
fn meta_charset(body: &[u8]) -> Option<&'static Encoding> {
    let head = String::from_utf8_lossy(&body[..body.len().min(4096)]).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let value: String = head[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        .collect();
    Encoding::for_label(value.as_bytes())
}

/// `text` with its UTF-8 encoded twice decoded once more: text that was read as Latin-1 and
/// written as UTF-8 again shows each accented letter as two (`PolicÃ­a` for `Policía`). Each
/// run of characters from U+0080 to U+00FF whose bytes, taken as Latin-1, are UTF-8 is read
/// as UTF-8, as feedparser reads such feeds; a run that is not stays as it is. `None` if
/// nothing changed.
fn undoubled(text: &str) -> Option<String> {
    // A twice-encoded letter is a lead byte's character (U+00C2 to U+00F4, in UTF-8 `C3 82` to
    // `C3 B4`) followed by a continuation byte's (U+0080 to U+00BF, `C2 80` to `C2 BF`).
    let bytes = text.as_bytes();
    let doubled = |at: usize| {
        matches!(bytes.get(at + 1..at + 4), Some(&[lead, 0xC2, next])
            if (0x82..=0xB4).contains(&lead) && (0x80..=0xBF).contains(&next))
    };
    if !memchr::memchr_iter(0xC3, bytes).any(doubled) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut run: Vec<u8> = Vec::new();
    let flush = |run: &mut Vec<u8>, out: &mut String| {
        match std::str::from_utf8(run) {
            Ok(utf8) if run.len() > 1 => out.push_str(utf8),
            _ => out.extend(run.iter().map(|&b| char::from(b))),
        }
        run.clear();
    };
    for c in text.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) if b >= 0x80 => run.push(b),
            _ => {
                flush(&mut run, &mut out);
                out.push(c);
            }
        }
    }
    flush(&mut run, &mut out);
    (out != text).then_some(out)
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

/// Removes every `<?xml ...?>` declaration left in `text` (not `<?xml-stylesheet ...?>`), in
/// one pass: a body of nothing but `<?xml` must not cost a search to its end per occurrence.
fn remove_stray_declarations(text: &mut String) {
    if !text.contains("<?xml") {
        return;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("<?xml") {
        let after = &rest[at + 5..];
        let declaration = after
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || c == '?');
        if !declaration {
            out.push_str(&rest[..at + 5]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        match after.find("?>") {
            Some(len) => rest = &after[len + 2..],
            // Unterminated, and so is every later one: the rest stays as it is.
            None => {
                out.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    *text = out;
}

/// Whether XML 1.0 forbids `c` (most C0 controls, U+FFFE, U+FFFF; Rust strings hold no
/// surrogates).
fn xml_forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// `text` without the characters XML 1.0 does not allow (most C0 controls, U+FFFE, U+FFFF).
pub(crate) fn xml_safe(text: &str) -> Cow<'_, str> {
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
pub(super) fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    attribute_at(tag, name).map(|(_, value)| &tag[value])
}

/// Where attribute `name` starts in a start tag, and the byte range of its value.
pub(super) fn attribute_at(tag: &str, name: &str) -> Option<(usize, std::ops::Range<usize>)> {
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

/// The namespaces feed-rs knows, as it spells them: it compares the declared URI exactly.
const KNOWN_NAMESPACES: [&str; 8] = [
    "http://purl.org/rss/1.0/",
    "http://www.w3.org/2005/Atom",
    "http://purl.org/rss/1.0/modules/content/",
    "http://purl.org/dc/elements/1.1/",
    "http://search.yahoo.com/mrss/",
    "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "https://podcastindex.org/namespace/1.0",
    "http://wellformedweb.org/CommentAPI/",
];

/// The namespaces declared at the head of `text` as feed-rs spells them, where a feed spells
/// one otherwise (`…/modules/content` without its slash, `…/DTDs/Podcast-1.0.dtd`, `https`):
/// feedparser and readers take them for the same namespace, and feed-rs would skip every
/// element in it (a podcast's `content:encoded`, `dc:creator`).
fn canonical_namespaces(text: &mut String) {
    let loose = |uri: &str| {
        let uri = uri.trim().trim_end_matches('/').to_ascii_lowercase();
        let bare = uri
            .strip_prefix("http://")
            .or_else(|| uri.strip_prefix("https://"));
        bare.map(str::to_owned).unwrap_or(uri)
    };
    let head_end = (0..=text.len().min(4096))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let mut replacements = Vec::new();
    for (at, _) in text[..head_end].match_indices("xmlns") {
        let Some(open) = text[at..head_end].find(['"', '\'']).map(|i| at + i) else {
            continue;
        };
        let quote = &text[open..open + 1];
        let Some(len) = text[open + 1..head_end].find(quote) else {
            continue;
        };
        let declared = &text[open + 1..open + 1 + len];
        let known = KNOWN_NAMESPACES
            .iter()
            .find(|k| **k != declared && loose(k) == loose(declared));
        if let Some(known) = known {
            replacements.push((open + 1..open + 1 + len, *known));
        }
    }
    for (range, known) in replacements.into_iter().rev() {
        text.replace_range(range, known);
    }
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

#[cfg(test)]
mod tests {
    use super::undoubled;

    /// Twice-encoded letters (eldiario.es's feed) are read once more; single accented letters,
    /// signs and text that is not UTF-8 taken as Latin-1 are left as they are.
    #[test]
    fn twice_encoded_text_is_read_once_more() {
        assert_eq!(
            undoubled("PolicÃ\u{ad}a, Ã\u{81}gueda, IÃ±igo").as_deref(),
            Some("Policía, Águeda, Iñigo")
        );
        assert_eq!(undoubled("Policía « Iñigo » 5 °C"), None);
        // A run is read again whole or not at all.
        assert_eq!(undoubled("Ã© and «Ã©»").as_deref(), Some("é and «Ã©»"));
    }
}

#[cfg(test)]
mod namespaces {
    use super::canonical_namespaces;

    #[test]
    fn namespaces_are_spelled_as_feed_rs_knows_them() {
        let mut text = r#"<rss xmlns:content="http://purl.org/rss/1.0/modules/content" xmlns:itunes='http://www.itunes.com/DTDs/Podcast-1.0.dtd' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:x="http://example.com/ns">"#.to_owned();
        canonical_namespaces(&mut text);
        assert_eq!(
            text,
            r#"<rss xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:itunes='http://www.itunes.com/dtds/podcast-1.0.dtd' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:x="http://example.com/ns">"#
        );
    }
}
