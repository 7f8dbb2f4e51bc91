//! The cap on entries per feed, applied before feed-rs reads the text: feed-rs builds every
//! entry it finds, and a 7 MB body of 1,000,000 empty `<item/>` once took 777 MB. Feeds list
//! their newest entries first, so the first ones are kept (`[poll].max_items`, by default
//! [`DEFAULT_MAX_ITEMS`]). A feed within the cap costs one scan and no copy.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Entries read from one feed unless `[poll].max_items` says otherwise. Real feeds hold a few
/// hundred; the longest podcasts, a few thousand episodes.
pub const DEFAULT_MAX_ITEMS: usize = 5_000;

/// `text` (XML) with every entry after the first `max` removed, and how many were; `None` if
/// it has no more than that. The entries removed run from the start of the first
/// one past the cap to the end tag of the element that holds the entries (`</channel>`,
/// `</rdf:RDF>`, `</feed>`), so what is left is as well-formed as it was.
pub(crate) fn capped_xml(text: &str, max: usize) -> Option<(String, usize)> {
    let mut starts = entry_starts(text);
    let first_cut = starts.nth(max)?;
    let removed = 1 + starts.count();
    let end = ["</channel>", "</rdf:RDF>", "</feed>"]
        .iter()
        .filter_map(|close| text.rfind(close))
        .filter(|&at| at > first_cut)
        .min()
        .unwrap_or(text.len());
    Some((format!("{}{}", &text[..first_cut], &text[end..]), removed))
}

/// Where each `<item` and `<entry` start tag of `text` begins, in order.
fn entry_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.match_indices('<').map(|(i, _)| i).filter(|&i| {
        let rest = &text.as_bytes()[i + 1..];
        ["item", "entry"].iter().any(|name| {
            rest.starts_with(name.as_bytes())
                && rest
                    .get(name.len())
                    .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'))
        })
    })
}

/// A JSON Feed `text` with its `items` cut to the first `max`, and how many were removed;
/// `None` if it has no more than that or is not a JSON object. The items are counted first,
/// without building them; only a feed past the cap is read again, its first `max` items
/// built and the rest skipped.
pub(crate) fn capped_json(text: &str, max: usize) -> Option<(String, usize)> {
    let count = |keep: usize| {
        let mut de = serde_json::Deserializer::from_str(text);
        TopLevel(keep).deserialize(&mut de).ok()
    };
    let (_, items) = count(0)?;
    if items <= max {
        return None;
    }
    let (doc, removed) = count(max)?;
    Some((Value::Object(doc).to_string(), removed))
}

/// Reads a JSON object, its `items` through [`Items`] (keeping as many as it holds).
struct TopLevel(usize);

impl<'de> DeserializeSeed<'de> for TopLevel {
    type Value = (Map<String, Value>, usize);

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel {
    type Value = (Map<String, Value>, usize);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON Feed object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut doc, mut removed) = (Map::new(), 0);
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                let (items, skipped) = map.next_value_seed(Items(self.0))?;
                removed = skipped;
                doc.insert(key, Value::Array(items));
            } else {
                doc.insert(key, map.next_value()?);
            }
        }
        Ok((doc, removed))
    }
}

/// Reads an array, keeping as many of its first values as it holds and counting the rest.
struct Items(usize);

impl<'de> DeserializeSeed<'de> for Items {
    type Value = (Vec<Value>, usize);

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items {
    type Value = (Vec<Value>, usize);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while items.len() < self.0 {
            match seq.next_element()? {
                Some(item) => items.push(item),
                None => return Ok((items, 0)),
            }
        }
        let mut skipped = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            skipped += 1;
        }
        Ok((items, skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_past_the_cap_is_cut_to_the_container_end() {
        let text = format!(
            "<rss><channel><title>t</title>{}<itemCount>1</itemCount></channel></rss>",
            "<item><title>x</title></item>".repeat(DEFAULT_MAX_ITEMS + 3)
        );
        let (capped, removed) = capped_xml(&text, DEFAULT_MAX_ITEMS).expect("capped");
        assert_eq!(removed, 3);
        assert_eq!(capped.matches("<item>").count(), DEFAULT_MAX_ITEMS);
        assert!(capped.ends_with("</item></channel></rss>"));
        assert!(capped_xml(&"<item/>".repeat(DEFAULT_MAX_ITEMS), DEFAULT_MAX_ITEMS).is_none());
    }

    #[test]
    fn json_items_past_the_cap_are_skipped() {
        let items: Vec<String> = (0..DEFAULT_MAX_ITEMS + 2)
            .map(|i| format!("{{\"id\":\"{i}\"}}"))
            .collect();
        let text = format!(
            "{{\"version\":\"v\",\"items\":[{}],\"title\":\"t\"}}",
            items.join(",")
        );
        let (capped, removed) = capped_json(&text, DEFAULT_MAX_ITEMS).expect("capped");
        assert_eq!(removed, 2);
        let doc: Value = serde_json::from_str(&capped).expect("valid JSON");
        let items = doc["items"].as_array().expect("a list of items");
        assert_eq!(items.len(), DEFAULT_MAX_ITEMS);
        assert_eq!(doc["title"], "t");
    }
}
