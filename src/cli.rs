//! What the one-shot commands print: the `sources` table, the `stories` report, a search's
//! listing and what a cleanup removed, from what `App` reads. `main.rs` parses the command
//! line and prints these.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app::{App, AppError, Found};
use crate::fulltext::Extracted;
use crate::publish::{human, Format, Health, SourceRow};
use crate::store::{Outlet, Removed};
use crate::untrusted::{self, MAX_SAID};

/// Every configured source's state as a table: name, status, last success, next due,
/// consecutive failures, the WebSub subscription and the problem (why it is disabled, its
/// last error, or where it moved).
pub async fn sources_table(app: &App) -> Result<String, AppError> {
    Ok(table(&app.source_rows().await?, Utc::now()))
}

fn table(sources: &[SourceRow], now: DateTime<Utc>) -> String {
    let header = [
        "NAME",
        "STATUS",
        "LAST SUCCESS",
        "NEXT DUE",
        "FAILURES",
        "PUSH",
        "FULL TEXT",
        "DISCARDED",
        "PROBLEM",
    ];
    let mut rows = vec![header.map(String::from)];
    for s in sources {
        let word = s.health.word();
        let status = match (s.health, s.status) {
            (Health::Ok | Health::Failing, Some(code)) => format!("{word} {code}"),
            (Health::Ok | Health::Failing, None) => format!("{word} -"),
            _ => word.to_owned(),
        };
        let next_due = match s.next_poll {
            _ if matches!(s.health, Health::Off | Health::Disabled) => "-".to_owned(),
            Some(t) if t > now => format!("in {}", human(t - now)),
            _ => "now".to_owned(),
        };
        let last_success = s
            .last_success
            .map_or("never".to_owned(), |t| format!("{} ago", human(now - t)));
        rows.push([
            s.name.clone(),
            status,
            last_success,
            next_due,
            s.failures.to_string(),
            s.push.clone(),
            s.full_text.clone(),
            s.discarded.to_string(),
            s.problem.clone().unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            match c + 1 == header.len() {
                true => line.push_str(cell),
                false => line.push_str(&format!("{cell:<w$}  ", w = widths[c])),
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out
}

/// The stories published in the last `since` that more than one outlet carried, newest
/// first: when, how many outlets, the headline, then each outlet and its link.
pub async fn stories_report(app: &App, since: Duration) -> Result<String, AppError> {
    let (from, stories) = app.multi_outlet(since).await?;
    let from = from.format("%Y-%m-%d %H:%MZ");
    if stories.is_empty() {
        return Ok(format!(
            "no story carried by more than one outlet since {from}"
        ));
    }
    let mut out = String::new();
    for story in &stories {
        out.push_str(&format!(
            "{}  {} outlets  {}\n",
            story.published.format("%Y-%m-%d %H:%MZ"),
            1 + story.also.len(),
            story.title
        ));
        let outlets: Vec<&Outlet> = std::iter::once(&story.source).chain(&story.also).collect();
        let width = outlets
            .iter()
            .map(|o| o.name.chars().count())
            .max()
            .unwrap_or(0);
        for o in outlets {
            out.push_str(&format!(
                "    {:<width$}  {}\n",
                o.name,
                o.link.as_deref().unwrap_or("(no link)")
            ));
        }
    }
    out.push_str(&format!(
        "{} stories carried by more than one outlet since {from}",
        stories.len(),
    ));
    Ok(out)
}

/// The stories `text` finds (published within `since`, if given), newest first or, if
/// `relevance`, best match first: as a list for people, or as a feed in `format`.
pub async fn search(
    app: &App,
    text: &str,
    since: Option<Duration>,
    relevance: bool,
    format: Option<Format>,
) -> Result<String, AppError> {
    let (stories, more) = match app.search(text, since, relevance, format).await? {
        Found::Feed(feed) => return Ok(feed.trim_end().to_owned()),
        Found::Stories { stories, more } => (stories, more),
    };
    let mut out = String::new();
    for story in &stories {
        let outlets: Vec<&str> = std::iter::once(&story.source)
            .chain(&story.also)
            .map(|o| o.name.as_str())
            .collect();
        out.push_str(&format!(
            "{}  {}\n    {}  {}\n",
            story.published.format("%Y-%m-%d %H:%MZ"),
            story.title,
            outlets.join(", "),
            story.link.as_deref().unwrap_or("(no link)")
        ));
    }
    out.push_str(&match (stories.len(), more) {
        (0, _) => "no story matches".to_owned(),
        (n, false) => format!("{n} stories match"),
        (n, true) => {
            format!("the newest {n} matching stories; narrow the search to see others")
        }
    });
    Ok(out.trim_end().to_owned())
}

/// What a cleanup removed, in one line.
pub fn removed(r: &Removed) -> String {
    format!(
        "removed {} stories ({} articles); pruned {} tombstones; {} articles left the story index; {} bytes freed",
        r.stories, r.articles, r.tombstones, r.unindexed, r.bytes_freed
    )
}

/// What an article page gives as its full text, as `feedmerge extract` prints it: what the
/// page says of the article, then its text.
pub fn extracted(article: &Extracted) -> String {
    let field = |name: &str, value: Option<String>| {
        format!("{name:<10} {}\n", value.unwrap_or_else(|| "-".into()))
    };
    let mut out = String::new();
    out.push_str(&field(
        "title:",
        Some(untrusted::printable(&article.title, MAX_SAID)),
    ));
    out.push_str(&field(
        "byline:",
        article
            .byline
            .as_deref()
            .map(|b| untrusted::printable(b, MAX_SAID)),
    ));
    out.push_str(&field(
        "published:",
        article.published.map(|t| t.to_rfc3339()),
    ));
    out.push_str(&field("picture:", article.image.clone()));
    out.push_str(&field("language:", article.language.clone()));
    let text = crate::parse::sanitised_text(&article.content);
    let paragraphs: Vec<String> = text
        .split('\n')
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .map(|p| untrusted::printable(&p, usize::MAX))
        .collect();
    out.push('\n');
    out.push_str(&paragraphs.join("\n\n"));
    out
}

/// What `feedmerge add` did: the source, its feed, where the feed was found and the page's
/// other feeds.
pub fn added(config: &std::path::Path, added: &crate::Added) -> String {
    let name = untrusted::printable(&added.name, MAX_SAID);
    let mut out = if added.already {
        format!("already there as {name:?}: {}", added.feed)
    } else {
        format!("added {name:?}: {}", added.feed)
    };
    if let Some(page) = &added.found_on {
        let how = match added.advertised {
            true => "advertised by",
            false => "found beside",
        };
        out.push_str(&format!("\n  {how} {page}"));
    }
    for other in &added.others {
        out.push_str(&format!("\n  also advertised (not added): {other}"));
    }
    if !added.already {
        out.push_str(&format!("\n{}: 1 source added", config.display()));
    }
    out
}

/// What `feedmerge reapply` changed: a line per source it changed, and the sum.
pub fn reapplied(report: &[crate::Reapplied]) -> (String, Option<String>) {
    let (discarded, rewritten) = report
        .iter()
        .fold((0, 0), |(d, r), s| (d + s.discarded, r + s.rewritten));
    let summary = format!(
        "{discarded} stored articles discarded, {rewritten} rewritten, over {} sources",
        report.len()
    );
    let mut out = String::new();
    for r in report.iter().filter(|r| r.discarded + r.rewritten > 0) {
        out.push_str(&format!(
            "{}: {} of {} stored articles discarded, {} rewritten ({} placed in a story anew)\n",
            untrusted::printable(&r.source, MAX_SAID),
            r.discarded,
            r.examined,
            r.rewritten,
            r.moved
        ));
    }
    (out.trim_end().to_owned(), Some(summary))
}

/// The entries `feedmerge preview` found: each one's title, link, time, author, picture and
/// the start of its text.
pub fn previewed(entries: &[crate::Article]) -> String {
    let mut out = String::new();
    for (i, e) in entries.iter().enumerate() {
        let field = |name: &str, value: Option<String>| match value {
            Some(v) => format!("  {name:<8} {}\n", untrusted::printable(&v, MAX_SAID)),
            None => String::new(),
        };
        out.push_str(&format!(
            "{}. {}\n",
            i + 1,
            untrusted::printable(&e.title, MAX_SAID)
        ));
        out.push_str(&field("link:", e.link.clone()));
        out.push_str(&field("date:", e.published.map(|d| d.to_rfc3339())));
        out.push_str(&field("author:", e.authors.first().cloned()));
        out.push_str(&field(
            "picture:",
            e.media.image.as_ref().map(|i| i.url.clone()),
        ));
        let start: String = e.text.chars().take(120).collect();
        out.push_str(&field("text:", Some(start).filter(|s| !s.is_empty())));
    }
    out.trim_end().to_owned()
}
