//! The sources as OPML 2.0, for importing into a feed reader.

use super::{escape_html, x};

/// The sources as an OPML 2.0 subscription list, for importing into a feed reader: one
/// outline per category holding its sources (a source under several is in each), then the
/// sources filed under none.
pub(crate) fn opml(title: &str, sources: &[crate::config::Source]) -> String {
    let outline = |s: &crate::config::Source| {
        format!(
            "<outline type=\"rss\" text=\"{0}\" title=\"{0}\" xmlUrl=\"{1}\"/>",
            x(&escape_html(&s.name)),
            x(&escape_html(
                &super::public_url(s.url.as_str()).unwrap_or_default()
            ))
        )
    };
    let categories = crate::config::categories(sources);
    let mut body = String::new();
    for c in categories {
        body.push_str(&format!(
            "<outline text=\"{0}\" title=\"{0}\">\n",
            x(&escape_html(c))
        ));
        for s in sources
            .iter()
            .filter(|s| s.categories.iter().any(|sc| sc.eq_ignore_ascii_case(c)))
        {
            body.push_str(&format!("  {}\n", outline(s)));
        }
        body.push_str("</outline>\n");
    }
    for s in sources.iter().filter(|s| s.categories.is_empty()) {
        body.push_str(&format!("{}\n", outline(s)));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n<head>\n\
         <title>{}</title>\n</head>\n<body>\n{body}</body>\n</opml>\n",
        x(&escape_html(title))
    )
}
