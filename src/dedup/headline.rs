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
//! - exact: numbers included, so a recurring column under a new number is another story;
//! - a headline too short to name a story alone ("El Roto", "DALL·E 2") names one with the
//!   short text under it, when the two together have [`MIN_TEXT_WORDS`] words and
//!   [`MIN_TEXT_CHARS`] letters and digits: then only the same headline over the same text
//!   (boilerplate paragraphs left out) joins.

use super::fingerprint::{hash, is_boilerplate, is_cjk, normalise, paragraphs};

/// Fewest words a headline needs to identify a story.
pub(crate) const MIN_WORDS: usize = 4;
/// Fewest letters and digits a headline needs to identify a story.
pub(crate) const MIN_CHARS: usize = 20;
/// Fewest characters a Chinese, Japanese or Korean headline needs (each is about a word).
pub(crate) const MIN_CJK: usize = 8;
/// Fewest words a short headline and its text need together.
pub(crate) const MIN_TEXT_WORDS: usize = 6;
/// Fewest letters and digits a short headline and its text need together.
pub(crate) const MIN_TEXT_CHARS: usize = 24;
/// Words of a short text that count (it has too few to fingerprint, unless it is all
/// boilerplate).
const TEXT_WORDS: usize = 200;
/// How far apart two outlets may date the same headline and still be one story: a wire
/// story is re-run within hours; the same headline a week later is news again.
pub(crate) const WINDOW_MS: i64 = 2 * 24 * 3600 * 1000;

/// The words of normalised `text`, with how many letters and digits and CJK characters.
fn words(text: &str, into: &mut Vec<String>) -> (usize, usize) {
    let (mut chars, mut cjk) = (0, 0);
    let mut word = String::new();
    for c in normalise(text).chars() {
        if is_cjk(c) {
            into.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
            into.push(c.to_string());
            cjk += 1;
        } else if c.is_alphanumeric() {
            word.push(c);
            chars += 1;
        } else if !word.is_empty() {
            into.push(std::mem::take(&mut word));
        }
    }
    into.extend((!word.is_empty()).then_some(word));
    (chars, cjk)
}

/// The key of `title` (plain text) if it is long enough to identify a story; else, given the
/// HTML `short_text` of an article too short to fingerprint, the key of the two together if
/// they are long enough. Never 0.
pub(crate) fn headline_key(title: &str, short_text: Option<&str>) -> Option<i64> {
    let mut all = Vec::new();
    let (chars, cjk) = words(title, &mut all);
    if (all.len() >= MIN_WORDS && chars + cjk >= MIN_CHARS) || cjk >= MIN_CJK {
        return Some((hash(all.join(" ").as_bytes()) | 1) as i64);
    }
    let (mut chars, mut cjk) = (chars, cjk);
    // A separator no word holds: "a b" over "c" is not "a" over "b c".
    all.push("\u{0}".to_owned());
    for paragraph in paragraphs(short_text?) {
        if all.len() > TEXT_WORDS {
            break;
        }
        if !is_boilerplate(&normalise(&paragraph)) {
            let (c, k) = words(&paragraph, &mut all);
            (chars, cjk) = (chars + c, cjk + k);
        }
    }
    all.truncate(TEXT_WORDS);
    let count = all.len() - 1;
    let long = (count >= MIN_TEXT_WORDS && chars + cjk >= MIN_TEXT_CHARS) || cjk >= 2 * MIN_CJK;
    long.then(|| (hash(all.join(" ").as_bytes()) | 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_punctuation_and_spacing_do_not_count() {
        assert_eq!(
            headline_key(
                "La Sirena eleva las ventas un 8% por el impulso del 'delivery'",
                None
            ),
            headline_key(
                "la sirena eleva las ventas un 8 % por el impulso del «delivery»",
                None
            ),
        );
        assert_ne!(
            headline_key("Episode 31 - Chris Matthieu", None),
            headline_key("Episode 32 - Chris Matthieu", None),
        );
        assert!(headline_key("Episode 31 - Chris Matthieu", None).is_some());
    }

    #[test]
    fn short_headlines_identify_nothing() {
        for generic in [
            "Morning briefing",
            "Live updates",
            "What you need to know",
            "Ｎｅｗｓ",
        ] {
            assert_eq!(headline_key(generic, None), None, "{generic}");
        }
        assert!(headline_key("上海港新能源汽车出口量创新高", None).is_some());
        assert_eq!(headline_key("上海港出口", None), None);
    }

    #[test]
    fn a_short_headline_counts_with_its_short_text() {
        let cartoon = "<p>Viñeta de El Roto del 9 de marzo de 2020</p>";
        let key = headline_key("El Roto", Some(cartoon));
        assert!(key.is_some());
        assert_ne!(
            key,
            headline_key(
                "El Roto",
                Some("<p>Viñeta de El Roto del 10 de marzo de 2020</p>")
            )
        );
        // Boilerplate is not the text; a headline alone over nothing is too short.
        assert_eq!(
            key,
            headline_key("El Roto", Some(&format!("{cartoon}<p>Read more</p>")))
        );
        assert_eq!(headline_key("El Roto", Some("<p>Read more</p>")), None);
        assert_eq!(headline_key("El Roto", None), None);
        assert_ne!(
            key,
            headline_key(
                "El Roto viñeta",
                Some("<p>de El Roto del 9 de marzo de 2020</p>")
            )
        );
    }
}
