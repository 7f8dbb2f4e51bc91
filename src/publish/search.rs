//! Search results as a page: the stories a query found, river-style, with the words that
//! matched marked, a search box, and the same search as Atom, RSS and JSON Feed (linked for
//! autodiscovery). The feeds themselves are rendered as every feed is (`render`), with the
//! query in their links (`FeedMeta::query`).

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::pages::{clipped, page, summary_text, time};
use super::{outlet_html, Format};
use crate::parse::escape_html;
use crate::store::Story;

/// `text` escaped for HTML, each word whose search term is one of `terms` marked. Words are
/// found as the index finds them (`parse::terms`), so "Café" is marked for "cafe", and a
/// Chinese character for itself.
pub(crate) fn marked(text: &str, terms: &[&str]) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let hit = crate::parse::terms(word)
            .iter()
            .any(|t| terms.contains(&t.as_str()));
        match hit {
            true => out.push_str(&format!("<mark>{}</mark>", escape_html(word))),
            false => out.push_str(&escape_html(word)),
        }
        word.clear();
    };
    for c in text.chars() {
        if crate::parse::unspaced(c) {
            flush(&mut word, &mut out);
            word.push(c);
            flush(&mut word, &mut out);
        } else if c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push_str(&escape_html(c.encode_utf8(&mut [0; 4])));
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Characters of text shown before the first matching word of an excerpt.
const LEAD: usize = 80;

/// The part of a story's text that matched: from a little before the first word whose term
/// is one of `terms`, in its summary or else in its whole text; the start of its summary
/// when no word of its text matched (the headline did).
fn matching_excerpt(story: &Story, terms: &[&str]) -> String {
    let summary = summary_text(story);
    let whole = story
        .text
        .as_deref()
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "));
    for text in std::iter::once(&summary).chain(whole.as_ref()) {
        if let Some(at) = first_match(text, terms) {
            // From the start of a word, a little before the match.
            let start = at.saturating_sub(LEAD);
            let start = match start {
                0 => 0,
                s => text
                    .chars()
                    .skip(s)
                    .position(char::is_whitespace)
                    .map_or(s, |p| s + p + 1)
                    .min(at),
            };
            return clipped(text, start);
        }
    }
    clipped(&summary, 0)
}

/// The character offset of the first word of `text` whose search term is one of `terms`.
fn first_match(text: &str, terms: &[&str]) -> Option<usize> {
    let mut offset = 0;
    for word in text.split(' ') {
        if crate::parse::terms(word)
            .iter()
            .any(|t| terms.contains(&t.as_str()))
        {
            return Some(offset);
        }
        offset += word.chars().count() + 1;
    }
    None
}

/// `text` for a URL's query string.
pub(crate) fn encoded(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// What a results page shows.
#[derive(Debug)]
pub(crate) struct Results<'a> {
    /// The site's title.
    pub(crate) site: &'a str,
    /// The query as written.
    pub(crate) query: &'a str,
    /// `relevance`, or `None` for newest first.
    pub(crate) sort: Option<&'a str>,
    /// The terms to mark.
    pub(crate) terms: &'a [&'a str],
    /// The stories found, this page's.
    pub(crate) stories: &'a [Story],
    /// Which page, from 1.
    pub(crate) page: u32,
    /// Whether more follow.
    pub(crate) more: bool,
}

/// The results page; `problem` instead of results if the query could not be run.
pub(crate) fn results(r: &Results, problem: Option<&str>) -> String {
    let q = encoded(r.query);
    let sort = r.sort.map(|s| format!("&amp;sort={s}")).unwrap_or_default();
    let shown = escape_html(r.query);
    let title = format!("{}: {shown}", escape_html(r.site));
    let mut head = String::new();
    let mut formats = Vec::new();
    for format in Format::ALL {
        let mime = format.content_type().split(';').next().unwrap_or_default();
        let href = format!("search.{}?q={q}{sort}", format.extension());
        head.push_str(&format!(
            "<link rel=\"alternate\" type=\"{mime}\" title=\"{shown} ({})\" href=\"{href}\">\n",
            format.name()
        ));
        formats.push(format!("<a href=\"{href}\">{}</a>", format.name()));
    }
    let form = format!(
        "<form action=\"search\" method=\"get\" role=\"search\"><input name=\"q\" value=\"{shown}\" \
         size=\"40\" aria-label=\"Search\"> <button>Search</button></form>\n"
    );
    let mut items = String::new();
    if let Some(problem) = problem {
        items.push_str(&format!(
            "<p><strong>{}</strong></p>\n",
            escape_html(problem)
        ));
    }
    for story in r.stories {
        let link = format!("entries/{}", story.entry_id);
        let mut outlets = outlet_html(&story.source);
        if !story.also.is_empty() {
            let others: Vec<String> = story.also.iter().map(outlet_html).collect();
            outlets.push_str(&format!(", also {}", others.join(", ")));
        }
        items.push_str(&format!(
            "<article>\n<h2><a href=\"{}\">{}</a></h2>\n<p class=\"meta\">{} · {outlets} · \
             <a href=\"{link}\">story</a></p>\n<p>{}</p>\n</article>\n",
            escape_html(story.link.as_deref().unwrap_or(&link)),
            marked(&story.title, r.terms),
            time(story.published),
            marked(&matching_excerpt(story, r.terms), r.terms),
        ));
    }
    if problem.is_none() && r.stories.is_empty() {
        items.push_str("<p>No story matches.</p>\n");
    }
    let mut paging = Vec::new();
    if r.page > 1 {
        paging.push(format!(
            "<a href=\"search?q={q}{sort}&amp;page={}\">Newer</a>",
            r.page - 1
        ));
    }
    if r.more {
        paging.push(format!(
            "<a href=\"search?q={q}{sort}&amp;page={}\">Older</a>",
            r.page + 1
        ));
    }
    let order = match r.sort {
        Some(_) => format!("<a href=\"search?q={q}\">newest first</a> · best match first"),
        None => format!(
            "newest first · <a href=\"search?q={q}&amp;sort=relevance\">best match first</a>"
        ),
    };
    let body = format!(
        "<header>\n<h1>{title}</h1>\n{form}<p class=\"meta\">{order}. Follow this search in a \
         feed reader: {}</p>\n</header>\n<main>\n{items}</main>\n<footer>{}</footer>\n",
        formats.join(" · "),
        paging.join(" · ")
    );
    page(&title, &head, &body)
}
