//! The HTML pages made of stories: the river page (`/`) and each story's page
//! (`/entries/<id>`, with its JSON at `/entries/<id>.json`). Plain HTML and a little CSS, no
//! script: readable on a phone. Links are relative, so the pages work wherever the server is
//! mounted. Pictures load lazily, sized before they arrive, and without telling the outlet's
//! server which page showed them.

use serde_json::json;

use super::{byline, file_type, main_file, outlet_html, Format};
use crate::parse::{escape_html, sanitised_text, Enclosure, Image};
use crate::store::{Outlet, Story};

/// A feed the river page links to: its title and its path without extension.
#[derive(Debug, Clone)]
pub(crate) struct FeedLink {
    /// What the feed is called.
    pub(crate) title: String,
    /// Its path relative to the base URL, without extension (`feed`, `views/ukraine`).
    pub(crate) path: String,
}

const STYLE: &str = "body{max-width:46rem;margin:0 auto;padding:0 1rem;\
    font:16px/1.5 system-ui,sans-serif;color:#222}\n\
    h1{font-size:1.5rem} h2{font-size:1.1rem;margin:0} a{color:#0645ad}\n\
    article{border-top:1px solid #ddd;padding:.8rem 0;overflow:hidden} article p{margin:.3rem 0}\n\
    .thumb{float:right;margin:0 0 .4rem .8rem;object-fit:cover;border-radius:4px;background:#eee}\n\
    .picture{max-width:100%;height:auto} .text img{max-width:100%;height:auto}\n\
    .meta{color:#555;font-size:.875rem} footer ul{padding-left:1.2rem} footer{padding:1rem 0;color:#555}\n\
    header form{display:flex;gap:.4rem;margin:.5rem 0} header input{flex:1;min-width:0;font:inherit;padding:.2rem .4rem}\n\
    .pages{display:flex;justify-content:space-between;border-top:1px solid #ddd;padding:.8rem 0}\n";

/// A whole page: `head` goes in `<head>` after the title, `body` in `<body>`.
pub(super) fn page(title: &str, head: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title}</title>\n{head}<style>\n{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

pub(super) fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        t.format("%Y-%m-%d %H:%M UTC")
    )
}

/// `<img>` for `image` in a box `width` pixels wide, its height following the picture's
/// shape where known.
fn img(image: &Image, width: u32, class: &str) -> String {
    let height = match (image.width, image.height) {
        (Some(w), Some(h)) if w > 0 => (u64::from(width) * u64::from(h) / u64::from(w))
            .clamp(u64::from(width) / 3, u64::from(width) * 4 / 3),
        _ => u64::from(width) * 2 / 3,
    };
    format!(
        "<img class=\"{class}\" src=\"{}\" alt=\"\" width=\"{width}\" height=\"{height}\" \
         loading=\"lazy\" referrerpolicy=\"no-referrer\">",
        escape_html(&image.url)
    )
}

/// A link to a file, named by its kind, with its size and length where known.
fn file_link(e: &Enclosure) -> String {
    let kind = file_type(e);
    let what = match kind.split('/').next() {
        Some("audio") => "Listen",
        Some("video") => "Watch",
        Some("image") => "Picture",
        _ => "File",
    };
    let mut details = vec![kind.to_owned()];
    if let Some(d) = e.duration {
        details.push(format!("{}:{:02}:{:02}", d / 3600, d / 60 % 60, d % 60));
    }
    if let Some(l) = e.length {
        details.push(format!("{:.1} MB", l as f64 / 1_000_000.0));
    }
    format!(
        "<a href=\"{}\">{what}</a> ({})",
        escape_html(&e.url),
        escape_html(&details.join(", "))
    )
}

/// Characters of a story's text an excerpt shows.
const EXCERPT: usize = 320;

/// The start of a story's text, as plain text.
pub(super) fn excerpt(story: &Story) -> String {
    clipped(&summary_text(story), 0)
}

/// A story's summary (or, without one, its text) as plain text on one line.
pub(super) fn summary_text(story: &Story) -> String {
    let text = match (&story.summary, &story.text) {
        (Some(summary), _) => sanitised_text(summary),
        (None, Some(text)) => text.clone(),
        (None, None) => sanitised_text(story.content.as_deref().unwrap_or("")),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// [`EXCERPT`] characters of `text` from character `start`, marked with an ellipsis where
/// they were cut.
pub(super) fn clipped(text: &str, start: usize) -> String {
    let excerpt: String = text.chars().skip(start).take(EXCERPT).collect();
    let before = if start > 0 { "…" } else { "" };
    if start + excerpt.chars().count() < text.chars().count() {
        format!("{before}{}…", excerpt.trim_end())
    } else {
        format!("{before}{excerpt}")
    }
}

/// Why the river page has no story to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Empty {
    /// No source has been polled yet.
    NotPolled,
    /// Every source polled so far failed.
    AllFailing,
    /// The sources were read, and carried nothing (or nothing kept).
    NothingCarried,
}

/// One page of the river: its stories, its number (from 1), whether older ones follow, and
/// why it is empty if it is.
pub(crate) struct River<'a> {
    pub(crate) stories: &'a [Story],
    pub(crate) page: u32,
    pub(crate) more: bool,
    pub(crate) empty: Empty,
}

/// The river page: a search box and the merged feed's subscribe line, then the newest
/// stories, each with its picture, time, outlets (linking to the story's page) and the start
/// of its text, a link to its audio or video; links to newer and older stories; every feed
/// in every format (folded, with autodiscovery links for all) and the status page.
pub(crate) fn river(title: &str, river: &River, feeds: &[FeedLink]) -> String {
    let title = escape_html(title);
    let mut head = String::new();
    let mut nav = String::new();
    for feed in feeds {
        let name = escape_html(&feed.title);
        let mut formats = Vec::new();
        for format in Format::ALL {
            let mime = format.content_type().split(';').next().unwrap_or_default();
            let href = escape_html(&format!("{}.{}", feed.path, format.extension()));
            head.push_str(&format!(
                "<link rel=\"alternate\" type=\"{mime}\" title=\"{name} ({})\" href=\"{href}\">\n",
                format.name()
            ));
            formats.push(format!("<a href=\"{href}\">{}</a>", format.name()));
        }
        nav.push_str(&format!("<li>{name}: {}</li>\n", formats.join(" · ")));
    }
    let subscribe: Vec<String> = Format::ALL
        .iter()
        .map(|f| format!("<a href=\"feed.{}\">{}</a>", f.extension(), f.name()))
        .collect();
    let items = river_items(river);
    let newer = match river.page {
        1 => String::new(),
        2 => "<a href=\"./\" rel=\"prev\">← Newer stories</a>".to_owned(),
        p => format!(
            "<a href=\"?page={}\" rel=\"prev\">← Newer stories</a>",
            p - 1
        ),
    };
    let older = match river.more {
        true => format!(
            "<a href=\"?page={}\" rel=\"next\">Older stories →</a>",
            river.page + 1
        ),
        false => String::new(),
    };
    let pages = match newer.is_empty() && older.is_empty() {
        true => String::new(),
        false => format!("<nav class=\"pages\"><span>{newer}</span><span>{older}</span></nav>\n"),
    };
    let body = format!(
        "<header>\n<h1>{title}</h1>\n<form action=\"search\" role=\"search\">\
         <input type=\"search\" name=\"q\" aria-label=\"Search the stories\" \
         placeholder=\"Search the stories\"><button>Search</button></form>\n\
         <p class=\"meta\">Subscribe in any feed reader: {} · <a href=\"#feeds\">other feeds</a></p>\n\
         </header>\n<main>\n{items}</main>\n{pages}<footer>\n<details id=\"feeds\"><summary>Every feed \
         ({})</summary>\n<ul>\n{nav}</ul></details>\n<p><a href=\"status\">Status of the sources</a> · \
         <a href=\"sources.opml\">Sources (OPML)</a> · <a href=\"healthz\">Health (JSON)</a></p>\n</footer>\n",
        subscribe.join(" · "),
        feeds.len(),
    );
    page(&title, &head, &body)
}

/// The river's stories as HTML, or why there are none.
fn river_items(river: &River) -> String {
    let mut items = String::new();
    for story in river.stories {
        let page = format!("entries/{}", story.entry_id);
        let headline = escape_html(&story.title);
        let headline = format!(
            "<a href=\"{}\">{headline}</a>",
            escape_html(story.link.as_deref().unwrap_or(&page))
        );
        let mut outlets = outlet_html(&story.source);
        if !story.also.is_empty() {
            let others: Vec<String> = story.also.iter().map(outlet_html).collect();
            outlets.push_str(&format!(", also {}", others.join(", ")));
        }
        let count = 1 + story.also.len();
        let plural = if count == 1 { "" } else { "s" };
        let picture = story
            .media
            .image
            .as_ref()
            .map(|i| img(i, 120, "thumb"))
            .unwrap_or_default();
        let play = main_file(story)
            .filter(|e| !file_type(e).starts_with("image/"))
            .map(|e| format!("<p>{}</p>\n", file_link(e)))
            .unwrap_or_default();
        items.push_str(&format!(
            "<article>\n{picture}<h2>{headline}</h2>\n<p class=\"meta\">{} · {outlets} · \
             <a href=\"{page}\">{count} outlet{plural}</a></p>\n<p>{}</p>\n{play}</article>\n",
            time(story.published),
            escape_html(&excerpt(story)),
        ));
    }
    if items.is_empty() {
        items.push_str(match river.empty {
            Empty::NotPolled => "<p>No stories yet: the sources have not been polled yet.</p>\n",
            Empty::AllFailing => {
                "<p>No stories yet: every source failed when it was polled. \
                 <a href=\"status\">The status page</a> says why.</p>\n"
            }
            Empty::NothingCarried => {
                "<p>No stories: the sources were read and carried none. \
                 <a href=\"status\">The status page</a> lists them.</p>\n"
            }
        });
    }
    items
}

/// Every outlet that carried `story`, the earliest first.
fn carriers(story: &Story) -> Vec<&Outlet> {
    let mut outlets: Vec<&Outlet> = std::iter::once(&story.source).chain(&story.also).collect();
    outlets.sort_by_key(|o| o.published);
    outlets
}

/// A story's page: the published version's headline, time, byline, picture, text and files,
/// then every outlet that carried the story, with its own headline, time and link.
pub(crate) fn story_page(site_title: &str, story: &Story) -> String {
    let headline = escape_html(&story.title);
    let linked = match &story.link {
        Some(link) => format!("<a href=\"{}\">{headline}</a>", escape_html(link)),
        None => headline.clone(),
    };
    let picture = story
        .media
        .image
        .as_ref()
        .map(|i| {
            let width = i.width.unwrap_or(640).min(1280);
            format!("<p>{}</p>\n", img(i, width, "picture"))
        })
        .unwrap_or_default();
    // Sanitised when it was stored.
    let text = story
        .content
        .as_deref()
        .or(story.summary.as_deref())
        .unwrap_or("");
    let files: String = story
        .media
        .enclosures
        .iter()
        .map(|e| format!("<li>{}</li>\n", file_link(e)))
        .collect();
    let files = if files.is_empty() {
        files
    } else {
        format!("<ul>\n{files}</ul>\n")
    };
    let outlets = carriers(story);
    let rows: String = outlets
        .iter()
        .map(|o| {
            let title = escape_html(&o.title);
            let title = match &o.link {
                Some(link) => format!("<a href=\"{}\">{title}</a>", escape_html(link)),
                None => title,
            };
            format!(
                "<li>{title}<br><span class=\"meta\">{} · {}</span></li>\n",
                escape_html(&o.name),
                time(o.published)
            )
        })
        .collect();
    let plural = if outlets.len() == 1 { "" } else { "s" };
    let lang = story
        .language
        .as_deref()
        .map(|l| format!(" lang=\"{}\"", escape_html(l)))
        .unwrap_or_default();
    let body = format!(
        "<header><p><a href=\"../\">{}</a></p></header>\n<main>\n<article>\n<h1>{linked}</h1>\n\
         <p class=\"meta\">{} · {}</p>\n{picture}<div class=\"text\"{lang}>{text}</div>\n{files}\
         </article>\n<section>\n<h2>Carried by {} outlet{plural}</h2>\n<ol>\n{rows}</ol>\n\
         </section>\n</main>\n<footer><a href=\"{}.json\">This story as JSON</a></footer>\n",
        escape_html(site_title),
        time(story.published),
        escape_html(&byline(story).join(", ")),
        outlets.len(),
        escape_html(&story.entry_id),
    );
    page(&headline, "", &body)
}

/// A story's page as JSON: the same as [`story_page`], for programs.
pub(crate) fn story_json(id: &str, story: &Story) -> serde_json::Value {
    let when =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "id": id,
        "url": story.link,
        "title": story.title,
        "date_published": when(story.published),
        "date_modified": when(story.updated),
        "authors": byline(story),
        "content_html": story.content.as_deref().or(story.summary.as_deref()),
        "image": story.media.image,
        "attachments": story.media.enclosures.iter().map(|e| json!({
            "url": e.url,
            "mime_type": file_type(e),
            "size_in_bytes": e.length,
            "duration_in_seconds": e.duration,
        })).collect::<Vec<_>>(),
        "outlets": carriers(story).into_iter().map(|o| json!({
            "name": o.name,
            "title": o.title,
            "url": o.link,
            "date_published": when(o.published),
            "feed_url": o.public_feed_url(),
            "home_page_url": o.public_site_url(),
        })).collect::<Vec<_>>(),
    })
}
