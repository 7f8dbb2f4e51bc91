//! Headlines as the identity of last resort: an item with too little text for a
//! [`Fingerprint`](super::Fingerprint) — a headline-only item, a one-line summary, a podcast
//! episode's two sentences — joins the story another outlet carries under the same headline.
//!
//! A wire headline carried by several outlets, some of which publish headlines only, is the
//! commonest duplicate a reader sees; a headline is also the commonest thing two different
//! stories share ("Morning briefing"). So the key is strict, and the [`Index`](super::Index)
//! applies it only where the texts cannot decide (see `Index::find_by_headline`):
//! - the headline, NFKC-normalised and lowercased, as its words (runs of letters and digits;
//!   each Chinese, Japanese or Korean character one word), punctuation and spacing ignored;
//! - at least [`MIN_WORDS`] words and [`MIN_CHARS`] letters and digits, or [`MIN_CJK`] CJK
//!   characters: "Morning briefing" or "Live updates" never identify a story;
//! - exact: numbers included, so a recurring column under a new number is another story.

use super::fingerprint::{hash, is_cjk, normalise};

/// Fewest words a headline needs to identify a story.
pub(crate) const MIN_WORDS: usize = 4;
/// Fewest letters and digits a headline needs to identify a story.
pub(crate) const MIN_CHARS: usize = 20;
/// Fewest characters a Chinese, Japanese or Korean headline needs (each is about a word).
pub(crate) const MIN_CJK: usize = 8;
/// How far apart two outlets may date the same headline and still be one story: a wire
/// story is re-run within hours; the same headline a week later is news again.
pub(crate) const WINDOW_MS: i64 = 2 * 24 * 3600 * 1000;

/// The key of `title` (plain text) if it is long enough to identify a story; never 0.
pub(crate) fn headline_key(title: &str) -> Option<i64> {
    let text = normalise(title);
    let (mut words, mut chars, mut cjk) = (Vec::new(), 0, 0);
    let mut word = String::new();
    for c in text.chars() {
        if is_cjk(c) {
            words.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
            words.push(c.to_string());
            cjk += 1;
        } else if c.is_alphanumeric() {
            word.push(c);
            chars += 1;
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    words.extend((!word.is_empty()).then_some(word));
    let long = (words.len() >= MIN_WORDS && chars + cjk >= MIN_CHARS) || cjk >= MIN_CJK;
    long.then(|| (hash(words.join(" ").as_bytes()) | 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_punctuation_and_spacing_do_not_count() {
        assert_eq!(
            headline_key("La Sirena eleva las ventas un 8% por el impulso del 'delivery'"),
            headline_key("la sirena eleva las ventas un 8 % por el impulso del «delivery»"),
        );
        assert_ne!(
            headline_key("Episode 31 - Chris Matthieu"),
            headline_key("Episode 32 - Chris Matthieu"),
        );
        assert!(headline_key("Episode 31 - Chris Matthieu").is_some());
    }

    #[test]
    fn short_headlines_identify_nothing() {
        for generic in [
            "Morning briefing",
            "Live updates",
            "What you need to know",
            "Ｎｅｗｓ",
        ] {
            assert_eq!(headline_key(generic), None, "{generic}");
        }
        assert!(headline_key("上海港新能源汽车出口量创新高").is_some());
        assert_eq!(headline_key("上海港出口"), None);
    }
}
