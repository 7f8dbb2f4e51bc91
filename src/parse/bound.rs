//! Bounds on an outlet's HTML, applied in one linear pass before the sanitiser parses it: how
//! deep its elements nest and how long it is.
//!
//! html5ever's tree builder walks its stack of open elements for many tags (is there a `<p>`
//! to close? is this element in scope?), so HTML nested N deep costs N² (100,000 `<div>`:
//! 32 s), and so does a list of formatting elements it must reopen for every paragraph. This
//! pass tokenises the HTML as html5ever does (tags with quoted attributes, comments, raw
//! text), keeps a model of that stack, and drops any start tag that would take it past
//! [`MAX_DEPTH`]. The model pops an element only where html5ever surely does, and writes out
//! every end tag it implies, so that html5ever never closes a formatting element silently (and
//! reopens it later): the sanitiser's stack is never deeper than the model's.
//!
//! What the sanitiser would remove anyway is settled here, so that html5ever never switches
//! to reading raw text where the model reads tags: `<script>` and `<style>` go with their
//! text; `<textarea>`, `<title>`, `<xmp>`, `<iframe>`, `<noembed>`, `<noframes>` and
//! `<plaintext>` become their text; `<svg>`, `<math>` and `<noscript>` tags go and what they
//! hold stays (a `<noscript>` holds the picture a reader without scripts should see).
//!
//! Past [`MAX_HTML`] bytes the text is cut at the end of a block, what is open is closed, and
//! the cut is marked.

use std::ops::Range;

use super::elements::{closes_p, is_block, is_scope, is_special, is_void};

/// The deepest elements nest. Real articles stay under 30; browsers' parsers stop at 512.
pub(crate) const MAX_DEPTH: usize = 100;
/// Bytes of HTML kept per text. The longest article in the real corpus is 113 kB.
pub(crate) const MAX_HTML: usize = 256 * 1024;
/// How far past [`MAX_HTML`] a cut may wait for the end of a block.
const CUT_SLACK: usize = 16 * 1024;
/// Bytes of one tag kept: a longer one (a megabyte attribute) is dropped.
const MAX_TAG: usize = 16 * 1024;
/// What marks a cut: an elision, in any language.
const CUT_MARK: &str = "<p>[…]</p>";

/// One token of HTML, as html5ever's tokeniser reads it.
enum Token<'a> {
    Text(&'a str),
    /// A comment, doctype or other markup declaration, kept as it is.
    Other(&'a str),
    Start(&'a str, String),
    End(&'a str, String),
}

/// `html` with its nesting bounded by [`MAX_DEPTH`] and its length by [`MAX_HTML`] (see the
/// module's comment).
pub(crate) fn bound(html: &str) -> String {
    bounded(html, MAX_HTML).0
}

/// Whether a whole web page nests deeper than [`MAX_DEPTH`] anywhere, as html5ever would
/// build it: such a page costs html5ever the square of its depth to parse, and is refused.
pub(crate) fn nests_too_deep(page: &str) -> bool {
    bounded(page, page.len()).1
}

/// `html` bounded by [`MAX_DEPTH`] and `max_html` bytes, and whether a start tag was dropped
/// for the depth.
fn bounded(html: &str, max_html: usize) -> (String, bool) {
    let mut model = Model {
        out: String::with_capacity(html.len().min(max_html + CUT_SLACK)),
        open: Vec::new(),
        deep: false,
    };
    let mut at = 0;
    while at < html.len() {
        let (token, end) = next_token(html, at);
        at = end;
        let closed_block = match token {
            Token::Text(text) => {
                let room = (max_html + CUT_SLACK).saturating_sub(model.out.len());
                if text.len() > room {
                    model.out.push_str(&text[..floor_boundary(text, room)]);
                    let deep = model.deep;
                    return (model.cut(), deep);
                }
                model.out.push_str(text);
                false
            }
            Token::Other(raw) => {
                model.out.push_str(raw);
                false
            }
            // A tag of more than [`MAX_TAG`] bytes is no markup worth keeping.
            Token::Start(raw, _) | Token::End(raw, _) if raw.len() > MAX_TAG => false,
            Token::Start(raw, name) => match name.as_str() {
                "script" | "style" => {
                    at = raw_text_end(html, at, &name).end;
                    false
                }
                "textarea" | "title" | "xmp" | "iframe" | "noembed" | "noframes" | "plaintext" => {
                    let text = if name == "plaintext" {
                        at..html.len()
                    } else {
                        raw_text_end(html, at, &name)
                    };
                    // Character references stay what they are in RCDATA, the rest is RAWTEXT.
                    let rcdata = name == "textarea" || name == "title";
                    escape_into(&mut model.out, &html[at..text.start], !rcdata);
                    at = text.end;
                    false
                }
                "html" | "head" | "body" | "svg" | "math" | "noscript" => false,
                _ if is_void(&name) => {
                    model.out.push_str(raw);
                    name == "br" || name == "hr"
                }
                _ => {
                    model.start(raw, name);
                    false
                }
            },
            Token::End(raw, name) => match name.as_str() {
                "html" | "head" | "body" | "svg" | "math" | "noscript" => false,
                _ => {
                    model.end(raw, &name);
                    is_block(&name)
                }
            },
        };
        if model.out.len() >= max_html && (closed_block || model.out.len() >= max_html + CUT_SLACK)
        {
            let deep = model.deep;
            return (model.cut(), deep);
        }
    }
    model.close_all();
    (model.out, model.deep)
}

/// The model of html5ever's stack of open elements, and the HTML written so far.
struct Model {
    out: String,
    open: Vec<Open>,
    /// Whether a start tag was dropped for the depth.
    deep: bool,
}

/// An open element of the model, classified once (an end tag may look at every one).
struct Open {
    name: String,
    special: bool,
    scope: bool,
}

impl Model {
    /// A start tag (not void): written, with the end tags of what it closes, unless it would
    /// nest past [`MAX_DEPTH`].
    fn start(&mut self, raw: &str, name: String) {
        let mut keep = self.open.len();
        if closes_p(&name) {
            if let Some(p) = self.in_scope("p") {
                keep = p;
            }
        }
        let closes_itself = matches!(
            name.as_str(),
            "li" | "dd"
                | "dt"
                | "option"
                | "tr"
                | "td"
                | "th"
                | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
        );
        if closes_itself && keep > 0 && self.open[keep - 1].name == name {
            keep -= 1;
        }
        if keep >= MAX_DEPTH {
            self.deep = true;
            return;
        }
        self.close_to(keep);
        self.out.push_str(raw);
        self.open.push(Open {
            special: is_special(&name),
            scope: is_scope(&name),
            name,
        });
    }

    /// An end tag: the elements it surely closes are closed, each by its own end tag, then it
    /// is written (html5ever may still act on one the model ignores; that only makes its
    /// stack shallower than the model's).
    fn end(&mut self, raw: &str, name: &str) {
        let target = match name {
            // `</form>` takes the form out from under what it holds; `</br>` is a `<br>`.
            "form" | "br" => None,
            _ if is_special(name) => self.in_scope(name),
            _ => self
                .open
                .iter()
                .rposition(|o| o.name == name || o.special)
                .filter(|&i| self.open[i].name == name),
        };
        if let Some(i) = target {
            self.close_to(i + 1);
            self.open.pop();
        }
        self.out.push_str(raw);
    }

    /// Where the innermost open `name` is, if no scope boundary is open inside it.
    fn in_scope(&self, name: &str) -> Option<usize> {
        self.open
            .iter()
            .rposition(|o| o.name == name || o.scope)
            .filter(|&i| self.open[i].name == name)
    }

    /// Closes the open elements past the first `keep`, innermost first.
    fn close_to(&mut self, keep: usize) {
        while self.open.len() > keep {
            if let Some(open) = self.open.pop() {
                self.out.push_str("</");
                self.out.push_str(&open.name);
                self.out.push('>');
            }
        }
    }

    fn close_all(&mut self) {
        self.close_to(0);
    }

    fn cut(mut self) -> String {
        self.close_all();
        self.out.push_str(CUT_MARK);
        self.out
    }
}

/// The token starting at byte `at` of `html`, and where it ends.
fn next_token(html: &str, at: usize) -> (Token<'_>, usize) {
    let rest = &html[at..];
    let bytes = rest.as_bytes();
    if bytes[0] != b'<' {
        let len = rest.find('<').unwrap_or(rest.len());
        return (Token::Text(&rest[..len]), at + len);
    }
    let text = |len: usize| (Token::Text(&rest[..len]), at + len);
    match bytes.get(1) {
        Some(b'!') if rest.starts_with("<!--") => {
            let body = &rest[4..];
            let len = if body.starts_with('>') {
                5
            } else if body.starts_with("->") {
                6
            } else {
                match (body.find("-->"), body.find("--!>")) {
                    (Some(a), Some(b)) if b < a => 4 + b + 4,
                    (Some(a), _) => 4 + a + 3,
                    (None, Some(b)) => 4 + b + 4,
                    // Unterminated: a comment to the end.
                    (None, None) => rest.len(),
                }
            };
            (Token::Other(&rest[..len]), at + len)
        }
        Some(b'!' | b'?') => {
            let len = rest.find('>').map_or(rest.len(), |i| i + 1);
            (Token::Other(&rest[..len]), at + len)
        }
        Some(b'/') => match bytes.get(2) {
            Some(c) if c.is_ascii_alphabetic() => match tag(rest, 2) {
                Some((name, len)) => (Token::End(&rest[..len], name), at + len),
                // A tag cut off by the end of the text is dropped.
                None => (Token::Other(""), html.len()),
            },
            Some(b'>') => (Token::Other(""), at + 3),
            Some(_) => {
                let len = rest.find('>').map_or(rest.len(), |i| i + 1);
                (Token::Other(""), at + len)
            }
            None => text(2),
        },
        Some(c) if c.is_ascii_alphabetic() => match tag(rest, 1) {
            Some((name, len)) => (Token::Start(&rest[..len], name), at + len),
            None => (Token::Other(""), html.len()),
        },
        _ => text(1),
    }
}

/// The lower-case name of the tag whose name starts at byte `from` of `rest`, and the length of
/// the whole tag, its attributes read as html5ever reads them (a `>` in a quoted value does
/// not end the tag); `None` if the text ends first.
fn tag(rest: &str, from: usize) -> Option<(String, usize)> {
    let bytes = rest.as_bytes();
    let space = |b: u8| matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ');
    let mut i = from;
    while i < bytes.len() && !space(bytes[i]) && bytes[i] != b'/' && bytes[i] != b'>' {
        i += 1;
    }
    let name = rest[from..i].to_ascii_lowercase();
    loop {
        // Before an attribute's name.
        while i < bytes.len() && (space(bytes[i]) || bytes[i] == b'/') {
            i += 1;
        }
        match *bytes.get(i)? {
            b'>' => return Some((name, i + 1)),
            // The first character of a name is never its end, whatever it is.
            _ => i += 1,
        }
        while i < bytes.len() && !space(bytes[i]) && !matches!(bytes[i], b'/' | b'>' | b'=') {
            i += 1;
        }
        while i < bytes.len() && space(bytes[i]) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < bytes.len() && space(bytes[i]) {
            i += 1;
        }
        match *bytes.get(i)? {
            q @ (b'"' | b'\'') => i += 1 + rest[i + 1..].find(q as char)? + 1,
            b'>' => {}
            _ => {
                while i < bytes.len() && !space(bytes[i]) && bytes[i] != b'>' {
                    i += 1;
                }
            }
        }
    }
}

/// Where the raw text of element `name` that starts at `at` ends (before its end tag), and
/// where its end tag ends; the end of `html` for both if it has none.
fn raw_text_end(html: &str, at: usize, name: &str) -> Range<usize> {
    let lower_name = format!("</{name}");
    let mut from = at;
    while let Some(i) = find_ascii_ci(&html[from..], &lower_name).map(|i| i + from) {
        let after = i + lower_name.len();
        match html.as_bytes().get(after) {
            Some(b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' | b'/' | b'>') | None => {
                let end = html[after..]
                    .find('>')
                    .map_or(html.len(), |j| after + j + 1);
                return i..end;
            }
            _ => from = after,
        }
    }
    html.len()..html.len()
}

/// Where `needle` (lower-case ASCII) first occurs in `haystack`, ignoring ASCII case.
fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let first = n.first()?;
    let mut from = 0;
    while let Some(i) = h[from..].iter().position(|b| b == first).map(|i| i + from) {
        if h.len() - i >= n.len() && h[i..i + n.len()].eq_ignore_ascii_case(n) {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// Appends `text` as HTML text: `<` escaped, and `&` if `ampersands`.
fn escape_into(out: &mut String, text: &str, ampersands: bool) {
    for c in text.chars() {
        match c {
            '&' if ampersands => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            c => out.push(c),
        }
    }
}

/// The largest char boundary of `text` at or before `at`.
pub(super) fn floor_boundary(text: &str, at: usize) -> usize {
    (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How deep the tree html5ever builds of `html` nests: the sanitiser's output, which is
    /// well-formed, counted tag by tag.
    fn built_depth(html: &str) -> usize {
        let tree = ammonia::Builder::default()
            .add_tags(["form", "textarea"])
            .clean(html)
            .to_string();
        let (mut depth, mut deepest) = (0usize, 0usize);
        let mut at = 0;
        while at < tree.len() {
            let (token, end) = next_token(&tree, at);
            at = end;
            match token {
                Token::Start(_, name) if !is_void(&name) => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                Token::End(..) => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        deepest
    }

    #[test]
    fn text_of_any_script_passes() {
        assert_eq!(
            bound("“Quoted” 建国 ¿Sí? <p>¡Olé!</p>"),
            "“Quoted” 建国 ¿Sí? <p>¡Olé!</p>"
        );
    }

    #[test]
    fn ordinary_html_keeps_its_markup() {
        let html = r#"<p>One <a href="/x?a=1&amp;b=2" title="a > b">link</a>.</p><ul><li>a<li>b</ul><br><img src="p.png">"#;
        assert_eq!(
            bound(html),
            r#"<p>One <a href="/x?a=1&amp;b=2" title="a > b">link</a>.</p><ul><li>a</li><li>b</li></ul><br><img src="p.png">"#
        );
    }

    #[test]
    fn nesting_stops_at_the_limit_and_the_text_stays() {
        let html = format!("{}deep", "<div>".repeat(100_000));
        let bounded = bound(&html);
        assert!(bounded.contains("deep"));
        assert_eq!(built_depth(&bounded), MAX_DEPTH);
    }

    #[test]
    fn implied_closes_are_written_so_nothing_reopens() {
        assert_eq!(
            bound("<p><b class=a>x</p><p>y"),
            "<p><b class=a>x</b></p><p>y</p>"
        );
        assert_eq!(bound("<p>a<div>b</div>"), "<p>a</p><div>b</div>");
    }

    #[test]
    fn what_html5ever_would_read_as_raw_text_is_settled_here() {
        assert_eq!(bound("a<script>x</div>y</script>b"), "ab");
        assert_eq!(bound("<title>1 < 2</title>"), "1 &lt; 2");
        assert_eq!(
            bound("<noscript><img src=\"a.png\"></noscript>"),
            "<img src=\"a.png\">"
        );
        // Nor does an end tag in a quoted value or a raw text, an end tag html5ever ignores,
        // or a `</form>`: each of these nests deeper at every repeat.
        for unit in [
            "<div title=\"x></div>\">",
            "<div><textarea></div></textarea>",
            "<span><div></span>",
            "<form><div></form>",
        ] {
            let html = unit.repeat(300);
            assert!(built_depth(&html) > MAX_DEPTH, "{unit} is no attack");
            assert!(built_depth(&bound(&html)) <= MAX_DEPTH, "{unit}");
        }
        // Formatting elements closed by a paragraph's end are reopened in each paragraph
        // after it, unless the model writes their end tags.
        let html: String = (0..300)
            .map(|i| format!("<p><b class=c{i}>a</p>"))
            .collect();
        assert!(built_depth(&html) > MAX_DEPTH);
        assert!(built_depth(&bound(&html)) <= 3);
    }

    #[test]
    fn long_html_is_cut_after_a_block_and_closed() {
        let html = "<div><p>".to_owned() + &"<p>a paragraph of text</p>".repeat(20_000);
        let bounded = bound(&html);
        assert!(bounded.len() <= MAX_HTML + CUT_SLACK + 64);
        assert!(bounded.ends_with(&format!("</p></div>{CUT_MARK}")));
        let text = "x".repeat(MAX_HTML * 2);
        assert_eq!(bound(&text).len(), MAX_HTML + CUT_SLACK + CUT_MARK.len());
    }
}
