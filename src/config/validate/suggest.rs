//! A misspelt key's likely intended name. The keys each table knows are read from the
//! config's own types (the field names serde asks a table for), so the list is never out of
//! date; the suggestion is the closest of them, or the table where the key belongs.

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::super::raw::*;
use super::Seg;

/// The field names of `T`: what its derived `Deserialize` asks a table for.
fn fields<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    match T::deserialize(Probe) {
        Err(Stop(fields)) => fields,
        Ok(_) => &[],
    }
}

/// A deserializer that hands nothing over and stops at the first table, keeping its fields.
struct Probe;

#[derive(Debug)]
struct Stop(&'static [&'static str]);

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fields read")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop(&[])
    }
}

impl<'de> Deserializer<'de> for Probe {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop(&[]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        Err(Stop(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Every table of the file, as written, with its keys.
fn tables() -> [(&'static str, &'static [&'static str]); 9] {
    [
        ("the top level", fields::<RawConfig>()),
        ("[feed]", fields::<RawFeed>()),
        ("[server]", fields::<RawServer>()),
        ("[storage]", fields::<RawStorage>()),
        ("[poll]", fields::<RawPoll>()),
        ("[dedup]", fields::<RawDedup>()),
        ("[websub]", fields::<RawWebSub>()),
        ("[[sources]]", fields::<RawSource>()),
        ("[[views]]", fields::<RawView>()),
    ]
}

/// What to say of the unknown key at `path`: the known key of its table it most likely
/// meant, or the table it belongs in; `None` when nothing is close.
pub(super) fn suggestion(path: &[Seg]) -> Option<String> {
    let (Seg::Key(name), table) = path.split_last()? else {
        return None;
    };
    let here = match table.first() {
        None => "the top level".to_owned(),
        Some(Seg::Key(t)) if matches!(t.as_str(), "sources" | "views") => format!("[[{t}]]"),
        Some(Seg::Key(t)) => format!("[{t}]"),
        Some(Seg::Index(_)) => return None,
    };
    let tables = tables();
    let known = tables.iter().find(|(t, _)| *t == here)?.1;
    let closest = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&name.to_lowercase(), k), *k))
        .min()
        .filter(|(distance, k)| *distance <= (k.len() / 3).max(1));
    if let Some((_, key)) = closest {
        return Some(format!("did you mean {key:?}?"));
    }
    tables
        .iter()
        .find(|(t, keys)| *t != here && keys.contains(&name.as_str()))
        .map(|(t, _)| format!("{name:?} belongs in {t}"))
}
