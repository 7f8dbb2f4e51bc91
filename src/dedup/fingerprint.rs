//! Near-duplicate fingerprints: how one story is recognised under several outlets' headlines,
//! leads, boilerplate and truncations.
//!
//! The text of an article (title and body, HTML and boilerplate paragraphs stripped,
//! NFKC-normalised, lowercased) becomes a set of shingles: three consecutive words, or two
//! consecutive characters in Chinese, Japanese and Korean text, which has no spaces between
//! words. Only the title and the *lead* (the first [`WINDOW`] shingles of the body) count:
//! outlets that carry a summary carry the lead, re-runs keep most of it, and two different
//! stories of one agency often share a closing background paragraph, never the lead.
//!
//! The set is summarised by a MinHash [`Sketch`] of [`HASHES`] values, from which the
//! similarity of two articles is estimated ([`Sketch::similarity`]): the share of the smaller
//! text's shingles found in the larger, so that a truncated copy still matches its full text.
//! Articles are indexed under [`BANDS`] band keys, each two MinHash values; articles that
//! agree on a whole band are candidates (locality-sensitive hashing), so that finding a
//! story's other versions is a few index lookups, not a comparison with every stored article.
//! Half the bands come from the whole title and lead, which a re-run with a new lead
//! paragraph still mostly shares; half from the opening of the body alone, which a copy cut
//! to its first paragraphs shares whole.
//!
//! Everything here is a pure function with fixed constants and a fixed hash: sketches are
//! stored, and must compare equal across versions of feedmerge.

use unicode_normalization::{IsNormalized, UnicodeNormalization};

/// MinHash values per sketch.
pub(crate) const HASHES: usize = 64;
/// LSH bands: two articles are candidates when all values of one band agree.
pub(crate) const BANDS: usize = 24;
/// Values per band.
const ROWS: usize = 2;
/// Body shingles that count: the lead.
pub(crate) const WINDOW: usize = 150;
/// Body shingles that make the opening, for half the band keys.
const OPENING: usize = 50;
/// Fewer distinct shingles than this (a title-only entry, a one-line summary) is too little
/// text to tell stories apart: such articles are only matched by link or guid.
pub(crate) const MIN_SHINGLES: usize = 12;

/// Numbers of a title that are kept.
const TITLE_NUMBERS: usize = 4;

/// A paragraph this long or shorter that contains one of [`BOILERPLATE`] is not the story.
const BOILERPLATE_WORDS: usize = 40;

/// Phrases of the paragraphs outlets wrap syndicated copy in, in the languages of the feeds
/// we have seen: credits, calls to follow or subscribe, "read more" links, copyright lines.
const BOILERPLATE: &[&str] = &[
    "appeared first on",
    "first appeared on",
    "first appeared in",
    "originally published",
    "republished with permission",
    "all rights reserved",
    "copyright",
    "©",
    "follow us on",
    "subscribe to",
    "sign up for",
    "newsletter",
    "click here",
    "read more",
    "continue reading",
    "editor's note",
    "editor’s note",
    "advertisement",
    "listen to this article",
    "related:",
    "leer más",
    "síguenos",
    "suscríbete",
    "lesen sie auch",
    "weiterlesen",
    "leia mais",
    "читайте также",
    "подписывайтесь",
    "впервые опубликован",
    "при перепечатке",
    "责任编辑",
    "本文来源",
    "原标题",
    "关注我们",
    "微信公众号",
    "阅读全文",
];

/// Bytes of a stored sketch.
const STORED: usize = 2 * (1 + TITLE_NUMBERS + HASHES);

/// What is stored of an article's text: enough to estimate its similarity to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sketch {
    /// The top 16 bits of each MinHash value: two different values agree by chance once in
    /// 65,536 comparisons, and the sketch is a quarter of the size.
    values: [u16; HASHES],
    /// Distinct shingles in the text (title and lead).
    size: u16,
    /// 16-bit hashes of the numbers in the title (the least four, ascending; 0 pads).
    /// Recurring columns ("calendar, Aug. 9-16", "API v201509 sunset reminder") repeat their
    /// text under new numbers; a re-run keeps them.
    title_numbers: [u16; TITLE_NUMBERS],
}

/// An article's fingerprint: its sketch, and the band keys it is indexed under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// What is stored and compared.
    pub(crate) sketch: Sketch,
    /// One key per band, to find candidates with.
    pub(crate) bands: [i64; BANDS],
}

impl Fingerprint {
    /// The fingerprint of an article's title and HTML body, or `None` when there is too little
    /// text to tell it from other stories.
    pub fn of(title: &str, html: &str) -> Option<Fingerprint> {
        let title = normalise(title);
        let mut shingles = Vec::new();
        shingle(&title, &mut shingles);
        let title_len = shingles.len();
        for paragraph in paragraphs(html) {
            if shingles.len() - title_len >= WINDOW {
                break;
            }
            let text = normalise(&paragraph);
            if !is_boilerplate(&text) {
                shingle(&text, &mut shingles);
            }
        }
        shingles.truncate(title_len + WINDOW);
        // The opening of the body (or the title, for an entry with no body).
        let opening = if shingles.len() > title_len {
            &shingles[title_len..shingles.len().min(title_len + OPENING)]
        } else {
            &shingles[..]
        };
        let opening = minhash::<{ BANDS / 2 * ROWS }>(opening);
        shingles.sort_unstable();
        shingles.dedup();
        if shingles.len() < MIN_SHINGLES {
            return None;
        }
        let mut numbers: Vec<u16> = title
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().any(|c| c.is_ascii_digit()))
            .map(|w| (hash(w.as_bytes()) >> 48) as u16 | 1)
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        let mut title_numbers = [0u16; TITLE_NUMBERS];
        for (slot, n) in title_numbers.iter_mut().zip(numbers) {
            *slot = n;
        }
        let whole = minhash::<HASHES>(&shingles);
        let mut bands = [0i64; BANDS];
        let rows = whole
            .chunks(ROWS)
            .take(BANDS / 2)
            .chain(opening.chunks(ROWS));
        for (b, (key, values)) in bands.iter_mut().zip(rows).enumerate() {
            let mut h = FNV_OFFSET ^ b as u64;
            for v in values {
                h = mix(h ^ v);
            }
            *key = h as i64;
        }
        Some(Fingerprint {
            sketch: Sketch {
                values: whole.map(|v| (v >> 48) as u16),
                size: u16::try_from(shingles.len()).unwrap_or(u16::MAX),
                title_numbers,
            },
            bands,
        })
    }

    /// Whether two articles are versions of one story at the given similarity threshold: they
    /// share a band (the index would offer one as the other's candidate) and their similarity
    /// reaches the threshold.
    pub fn same_story(&self, other: &Fingerprint, threshold: f64) -> bool {
        self.shared_bands(other) > 0 && self.similarity(other) >= threshold
    }

    /// How similar the two articles' texts are, from 0 to 1 (see [`Fingerprint::same_story`]).
    pub fn similarity(&self, other: &Fingerprint) -> f64 {
        self.sketch.similarity(&other.sketch)
    }

    /// How many of their band keys two articles share: with none, the index never offers one
    /// as the other's candidate.
    pub fn shared_bands(&self, other: &Fingerprint) -> usize {
        self.bands
            .iter()
            .zip(&other.bands)
            .filter(|(a, b)| a == b)
            .count()
    }
}

impl Sketch {
    /// The estimated share of the smaller text's shingles that the larger also has, from 0
    /// to 1: 1 for a copy or a truncation of the other, near 0 for unrelated stories; 0 when
    /// both titles have numbers and neither title's numbers include the other's.
    pub(crate) fn similarity(&self, other: &Sketch) -> f64 {
        if !self.numbers_agree(other) {
            return 0.0;
        }
        let agree = self
            .values
            .iter()
            .zip(&other.values)
            .filter(|(a, b)| a == b)
            .count();
        let jaccard = agree as f64 / HASHES as f64;
        let (a, b) = (f64::from(self.size), f64::from(other.size));
        // |A ∩ B| = J·|A ∪ B| = J·(|A| + |B|)/(1 + J)
        let common = jaccard * (a + b) / (1.0 + jaccard);
        (common / a.min(b).max(1.0)).min(1.0)
    }

    /// Whether the titles' numbers agree: one title's numbers are all among the other's (a
    /// title without numbers agrees with any). Articles whose numbers disagree are different
    /// stories however alike their texts (episode 31 and episode 32 of one show).
    pub(crate) fn numbers_agree(&self, other: &Sketch) -> bool {
        let within = |a: &[u16], b: &[u16]| a.iter().all(|n| *n == 0 || b.contains(n));
        let (a, b) = (&self.title_numbers, &other.title_numbers);
        within(a, b) || within(b, a)
    }

    /// The sketch as stored: the size, the title's numbers, then the values, little-endian.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(STORED);
        out.extend_from_slice(&self.size.to_le_bytes());
        for v in self.title_numbers.iter().chain(&self.values) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads a stored sketch; `None` if the bytes are not one.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Sketch> {
        if bytes.len() != STORED {
            return None;
        }
        let word = |i: usize| u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]);
        Some(Sketch {
            size: word(0),
            title_numbers: std::array::from_fn(|i| word(1 + i)),
            values: std::array::from_fn(|i| word(1 + TITLE_NUMBERS + i)),
        })
    }
}

/// The `N` MinHash values of a set of shingles: for each hash function, the least value it
/// takes on the set.
fn minhash<const N: usize>(shingles: &[u64]) -> [u64; N] {
    let mut mins = [u64::MAX; N];
    for &s in shingles {
        for (k, min) in mins.iter_mut().enumerate() {
            *min = (*min).min(mix(s ^ SEEDS[k]));
        }
    }
    mins
}

/// The text of each block of `html` (paragraphs, list items, headings, line breaks), with
/// tags dropped and entities decoded. The HTML is our own sanitised output, so tags are
/// well-formed and attribute values hold no `>`.
/// Read lazily: a fingerprint needs only the lead, and an article's content can be long.
pub(super) fn paragraphs(html: &str) -> impl Iterator<Item = String> + '_ {
    let mut rest = Some(html);
    let mut current = String::new();
    std::iter::from_fn(move || loop {
        let html = rest?;
        let ended = match html.find('<') {
            None => {
                push_text(&mut current, html);
                rest = None;
                true
            }
            Some(lt) => {
                push_text(&mut current, &html[..lt]);
                match html[lt..].find('>') {
                    None => {
                        push_text(&mut current, &html[lt..]);
                        rest = None;
                        true
                    }
                    Some(gt) => {
                        rest = Some(&html[lt + gt + 1..]);
                        let tag = html[lt + 1..lt + gt].trim_start_matches('/');
                        is_block(tag) && !current.is_empty()
                    }
                }
            }
        };
        if ended {
            let paragraph = std::mem::take(&mut current);
            if !paragraph.trim().is_empty() {
                return Some(paragraph);
            }
        }
    })
}

/// Whether the tag (its text between `<` or `</` and `>`) starts or ends a block.
fn is_block(tag: &str) -> bool {
    let end = tag
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(tag.len());
    let name = &tag[..end];
    [
        "p",
        "div",
        "br",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "tr",
        "figcaption",
        "section",
        "article",
    ]
    .iter()
    .any(|block| name.eq_ignore_ascii_case(block))
}

fn push_text(into: &mut String, text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        into.push_str(&rest[..amp]);
        let entity = rest[amp + 1..]
            .find(';')
            .filter(|&end| end <= 10)
            .map(|end| (&rest[amp + 1..amp + 1 + end], end));
        let decoded = entity.and_then(|(name, _)| match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        });
        match (decoded, entity) {
            (Some(c), Some((_, end))) => {
                into.push(c);
                rest = &rest[amp + end + 2..];
            }
            _ => {
                into.push('&');
                rest = &rest[amp + 1..];
            }
        }
    }
    into.push_str(rest);
    into.push(' ');
}

/// NFKC (full-width letters and digits, ligatures and compatibility forms to their plain
/// form), then lowercase.
pub(super) fn normalise(text: &str) -> String {
    if text.is_ascii() {
        // ASCII is its own NFKC form.
        return text.to_ascii_lowercase();
    }
    if unicode_normalization::is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        // Already its own NFKC form, as most text is (curly quotes, dashes, accents).
        return text.chars().flat_map(char::to_lowercase).collect();
    }
    text.nfkc().flat_map(char::to_lowercase).collect()
}

pub(super) fn is_boilerplate(paragraph: &str) -> bool {
    paragraph
        .split_whitespace()
        .nth(BOILERPLATE_WORDS)
        .is_none()
        && BOILERPLATE.iter().any(|marker| paragraph.contains(marker))
}

pub(super) use crate::parse::unspaced as is_cjk;

/// Appends the shingles of normalised `text`: every three consecutive words (words are runs
/// of letters and digits), and every two consecutive CJK characters within a run of them.
fn shingle(text: &str, out: &mut Vec<u64>) {
    let mut words: Vec<&str> = Vec::new();
    let mut word_start = None;
    let mut prev_cjk: Option<char> = None;
    for (i, c) in text.char_indices() {
        let cjk = is_cjk(c);
        if c.is_alphanumeric() && !cjk {
            word_start.get_or_insert(i);
        } else if let Some(start) = word_start.take() {
            words.push(&text[start..i]);
        }
        if cjk {
            if let Some(p) = prev_cjk {
                let mut buf = [0u8; 8];
                p.encode_utf8(&mut buf[..4]);
                c.encode_utf8(&mut buf[4..]);
                out.push(hash(&buf));
            }
            prev_cjk = Some(c);
        } else if c.is_alphanumeric() || !c.is_whitespace() {
            prev_cjk = None;
        }
    }
    if let Some(start) = word_start {
        words.push(&text[start..]);
    }
    if words.len() < 3 {
        if !words.is_empty() {
            out.push(hash(words.join(" ").as_bytes()));
        }
        return;
    }
    for w in words.windows(3) {
        let mut h = FNV_OFFSET;
        for part in w {
            h = fnv(h, part.as_bytes());
            h = fnv(h, b" ");
        }
        out.push(mix(h));
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub(super) fn hash(bytes: &[u8]) -> u64 {
    mix(fnv(FNV_OFFSET, bytes))
}

/// SplitMix64's finaliser: a fixed bijection that spreads every input bit over the output.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One seed per MinHash function: `h_k(s) = mix(s ^ SEEDS[k])`.
const SEEDS: [u64; HASHES] = {
    let mut seeds = [0u64; HASHES];
    let mut k = 0;
    while k < HASHES {
        seeds[k] = mix(0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(k as u64 + 1));
        k += 1;
    }
    seeds
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_entities_and_boilerplate_do_not_count() {
        let body = "<p>Officials in the capital said on Monday that the new bridge across the \
                    river would open to traffic in the spring, two years behind schedule.</p>";
        let plain = Fingerprint::of("Bridge to open", body).expect("enough text");
        let dressed = Fingerprint::of(
            "Bridge to open",
            "<div><b>Officials</b> in the capital said on Monday that the new bridge \
             across the river would open to traffic in the spring, two years behind \
             schedule.</div><p>Follow us on Twitter &amp; subscribe to our newsletter.</p>",
        )
        .expect("enough text");
        assert_eq!(plain.sketch, dressed.sketch);
        assert_eq!(plain.sketch.similarity(&dressed.sketch), 1.0);
    }

    #[test]
    fn chinese_text_is_shingled_by_characters() {
        let text =
            "<p>上海海关周三发布数据显示，今年前十个月经上海港出口的新能源汽车超过五十万辆。</p>";
        let fp = Fingerprint::of("上海港新能源汽车出口量创新高", text).expect("enough text");
        assert!(fp.sketch.size > 30, "{}", fp.sketch.size);
    }

    #[test]
    fn too_little_text_has_no_fingerprint() {
        assert_eq!(Fingerprint::of("Breaking news", "<p>More soon.</p>"), None);
    }

    #[test]
    fn sketches_survive_storage() {
        let fp = Fingerprint::of(
            "A title of a few words",
            "<p>And a body long enough to make more than twelve distinct shingles of text.</p>",
        )
        .expect("enough text");
        let bytes = fp.sketch.to_bytes();
        assert_eq!(Sketch::from_bytes(&bytes), Some(fp.sketch));
        assert_eq!(Sketch::from_bytes(&bytes[1..]), None);
    }
}
