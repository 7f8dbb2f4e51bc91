//! HTML as plain text, and text as HTML: the text of an outlet's raw HTML (a title, a name),
//! read by a real HTML parser; the text of HTML we sanitised, read by one linear scan; text
//! escaped for HTML; and a text's search terms, the one tokenisation that both the search
//! index and the queries use.

use unicode_normalization::UnicodeNormalization;

use super::bound::bound;

/// Whether `c` is written without spaces between words: Chinese, Japanese and Korean
/// characters (Han, kana, Hangul), each a unit of its own.
pub(crate) fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // hiragana, katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // hangul syllables
        | 0xF900..=0xFAFF    // compatibility ideographs
        | 0x20000..=0x2FFFF) // extensions B and later
}

/// The search terms of `text`, in order: words of letters and digits, lowercased and without
/// accents ("Café" is "cafe"), and each Chinese, Japanese or Korean character on its own.
pub(crate) fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    each_term(text, |term| out.push(term.to_owned()));
    out
}

/// [`terms`] joined by spaces: what the index stores for a text.
pub(crate) fn indexed(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    each_term(text, |term| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(term);
    });
    out
}

/// Calls `found` with each of [`terms`], in order.
///
/// NFKD splits accented letters from their accents (and full-width forms to plain ones); the
/// accents are then dropped. ASCII is its own NFKD form, and each ASCII character is a
/// starter, which ends the run of combining marks that NFKD puts in order: so the text is
/// read as runs, ASCII ones byte by byte and only the others through NFKD, with the same
/// result as NFKD over the whole (most feeds' text is mostly ASCII, and this is most of the
/// parse stage's time otherwise).
fn each_term(text: &str, mut found: impl FnMut(&str)) {
    fn end_word(word: &mut String, found: &mut impl FnMut(&str)) {
        if !word.is_empty() {
            found(word);
            word.clear();
        }
    }
    let mut word = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        for b in rest[..ascii].bytes() {
            if b.is_ascii_alphanumeric() {
                word.push(char::from(b.to_ascii_lowercase()));
            } else {
                end_word(&mut word, &mut found);
            }
        }
        rest = &rest[ascii..];
        let other = rest
            .bytes()
            .position(|b| b.is_ascii())
            .unwrap_or(rest.len());
        for c in rest[..other]
            .nfkd()
            .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        {
            if unspaced(c) {
                end_word(&mut word, &mut found);
                found(c.encode_utf8(&mut [0; 4]));
            } else if c.is_alphanumeric() {
                word.extend(c.to_lowercase());
            } else {
                end_word(&mut word, &mut found);
            }
        }
        rest = &rest[other..];
    }
    end_word(&mut word, &mut found);
}

/// An article's search terms, computed where it is parsed (off the writer's path).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchTerms {
    /// Its headline's, joined by spaces.
    pub title: String,
    /// Its text's.
    pub text: String,
}

impl SearchTerms {
    /// The terms of `title` and `text`.
    pub fn of(title: &str, text: &str) -> SearchTerms {
        SearchTerms {
            title: indexed(title),
            text: indexed(text),
        }
    }
}

/// The text of an HTML fragment, as a browser would read it (any HTML: entities, malformed
/// markup).
pub(crate) fn html_to_text(html: &str) -> String {
    // ammonia with no tags allowed keeps only text, serialised with &, <, > and U+00A0
    // escaped; undo exactly that.
    let text = ammonia::Builder::empty().clean(&bound(html)).to_string();
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// The plain text of sanitised HTML, its whitespace collapsed: an article's `text`.
pub(crate) fn text_of_html(html: &str) -> String {
    let text = sanitised_text(html);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of HTML that the parser wrote (an article's stored summary or content): exactly
/// [`html_to_text`]'s, without parsing it again. That HTML is html5ever's own serialisation
/// of a sanitised tree (every attribute value double-quoted, every text escaped with
/// `&amp;`, `&lt;`, `&gt;` and `&nbsp;`, no comment, script or other raw text left), or a
/// plain-text field through [`escape_html`]; so the text is what lies outside the tags,
/// unescaped. Bounded as `html_to_text` bounds it, so that the two agree on a text cut for
/// its size too.
pub(crate) fn sanitised_text(html: &str) -> String {
    let html = bound(html);
    let mut out = String::with_capacity(html.len());
    let mut rest = html.as_str();
    while let Some(open) = rest.find('<') {
        unescape_into(&rest[..open], &mut out);
        let tag = &rest[open..];
        // The tag ends at the first `>` outside a quoted attribute value.
        let mut quoted = false;
        let end = tag
            .bytes()
            .position(|b| {
                quoted ^= b == b'"';
                b == b'>' && !quoted
            })
            .map_or(tag.len(), |at| at + 1);
        rest = &tag[end..];
        // A parser drops the line end right after these start tags (the serialiser wrote
        // one more where the text began with one).
        let name = tag[1..].split([' ', '>', '/']).next().unwrap_or("");
        if ["pre", "listing", "textarea"].contains(&name) {
            rest = rest
                .strip_prefix("\r\n")
                .or_else(|| rest.strip_prefix(['\n', '\r']))
                .unwrap_or(rest);
        }
    }
    unescape_into(rest, &mut out);
    out
}

/// Appends `text` to `out` as `html_to_text` reads it: the serialiser's escapes undone and
/// [`escape_html`]'s (a plain-text field's), U+00A0 a space (however it was written), and
/// line ends made `\n` (a parser's first step).
fn unescape_into(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(at) = rest.find(['&', '\r', '\u{a0}']) {
        out.push_str(&rest[..at]);
        let special = &rest[at..];
        let (read, len) = [
            ("&amp;", '&'),
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&nbsp;", ' '),
            ("&quot;", '"'),
            ("\u{a0}", ' '),
            ("\r\n", '\n'),
            ("\r", '\n'),
        ]
        .into_iter()
        .find(|(written, _)| special.starts_with(written))
        .map_or(('&', 1), |(written, c)| (c, written.len()));
        out.push(read);
        rest = &special[len..];
    }
    out.push_str(rest);
}

/// Escapes text for inclusion in HTML.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every feed file under `dir`, recursively.
    fn feeds(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                feeds(&path, out);
            } else if !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("md" | "tsv" | "txt" | "gz")
            ) {
                out.push(path);
            }
        }
    }

    /// Every article the parser reads from the fixtures' feeds, with its file.
    fn fixture_articles() -> Vec<(std::path::PathBuf, crate::parse::Article)> {
        let mut files = Vec::new();
        feeds(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
            &mut files,
        );
        let url = url::Url::parse("https://feeds.example.com/feed.xml").unwrap();
        let mut articles = Vec::new();
        for file in files {
            let body = std::fs::read(&file).unwrap();
            if let Ok(feed) = crate::parse::parse_feed(&body, None, &url) {
                articles.extend(feed.articles.into_iter().map(|a| (file.clone(), a)));
            }
        }
        articles
    }

    /// `sanitised_text` reads exactly what `html_to_text` reads from every summary and content
    /// the parser writes from the fixtures' real feeds. (Measured once on the shared corpus
    /// of 552 real feeds too: 7,489 texts, all the same; its two files that showed a
    /// difference while this was written are among the fixtures.)
    #[test]
    fn the_scan_reads_sanitised_html_as_the_parser_does() {
        let mut compared = 0;
        for (file, a) in fixture_articles() {
            for html in [&a.summary, &a.content].into_iter().flatten() {
                assert_eq!(
                    sanitised_text(html),
                    html_to_text(html),
                    "{}",
                    file.display()
                );
                compared += 1;
            }
        }
        assert!(compared > 200, "{compared}");
    }

    /// [`terms`] as it was first written: NFKD over the whole text. Reading ASCII runs apart
    /// must not change a term (the index and the queries must agree with what was stored).
    fn terms_through_nfkd(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut word = String::new();
        for c in text
            .nfkd()
            .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        {
            if unspaced(c) {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                out.push(c.to_string());
            } else if c.is_alphanumeric() {
                word.extend(c.to_lowercase());
            } else if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
        if !word.is_empty() {
            out.push(word);
        }
        out
    }

    #[test]
    fn terms_read_by_runs_are_those_of_nfkd_over_the_whole() {
        for text in [
            "Café CAFE\u{301} cafe\u{323}\u{301}x",
            "ﬁnal ｆｕｌｌ－ｗｉｄｔｈ ２０２６ Straße İstanbul ΟΔΟΣ",
            "北京2026年 한국어 テスト ｶﾀｶﾅ",
            "a\u{301}\u{323}b \u{301}leading mark, \u{1100}\u{1161}\u{11a8}",
            "",
            "   ",
            "£5 — “quoted” and ‘single’…",
        ] {
            assert_eq!(terms(text), terms_through_nfkd(text), "{text:?}");
            assert_eq!(
                indexed(text),
                terms_through_nfkd(text).join(" "),
                "{text:?}"
            );
        }
        // Texts mixing the cases at random: ASCII beside accents, combining marks of several
        // classes (which NFKD reorders), CJK, Hangul jamo, compatibility forms.
        let pieces = proptest::collection::vec(
            proptest::sample::select(vec![
                "a", "Z", "9", " ", "-", ".", "e\u{301}", "\u{301}", "\u{323}", "\u{345}", "é",
                "Å", "ﬁ", "ｆ", "²", "北", "한", "\u{1100}", "\u{1161}", "ß", "İ", "Σ", "’",
            ]),
            0..40,
        );
        proptest::proptest!(|(pieces in pieces)| {
            let text = pieces.concat();
            proptest::prop_assert_eq!(terms(&text), terms_through_nfkd(&text));
        });
        // And every article of the fixtures' real feeds.
        let mut compared = 0;
        for (file, a) in fixture_articles() {
            for text in [&a.title, &a.text] {
                assert_eq!(terms(text), terms_through_nfkd(text), "{}", file.display());
                compared += 1;
            }
        }
        assert!(compared > 400, "{compared}");
    }

    #[test]
    fn quoted_brackets_escapes_and_line_ends() {
        // As the sanitiser writes HTML: `>` in a quoted value, the four escapes, and a `<pre>`
        // whose text began with a line end (which its reader drops).
        let sanitised = ammonia::Builder::default()
            .clean("<p title='a > b'>x &amp;lt; y&nbsp;&lt;z&gt;</p><pre>\n\ncode</pre>")
            .to_string();
        assert_eq!(sanitised_text(&sanitised), "x &lt; y <z>code");
        assert_eq!(sanitised_text(&sanitised), html_to_text(&sanitised));
        // A plain-text field, escaped: quotes, CR LF and U+00A0 as they come.
        let escaped = escape_html("say \"hi\"\r\nand\u{a0}bye\r");
        assert_eq!(sanitised_text(&escaped), "say \"hi\"\nand bye\n");
        assert_eq!(sanitised_text(&escaped), html_to_text(&escaped));
    }
}
