//! The status page (`/status`): every source's health, the totals, and a chart of articles
//! per day, as one self-contained HTML page (inline CSS and SVG, no script, no external asset).

use chrono::{DateTime, NaiveDate, Utc};

use super::escape_html;
use super::health::{Health, SourceRow};
use crate::store::{AlertState, Totals};

/// The column the sources are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Sort {
    /// Failing first, then disabled, new, ok, off; by name within each.
    #[default]
    Health,
    /// By name.
    Name,
    /// By last success, longest ago first.
    LastSuccess,
    /// By articles, most first.
    Articles,
    /// By next poll, soonest first.
    NextPoll,
}

impl Sort {
    const ALL: [(Sort, &'static str, &'static str); 5] = [
        (Sort::Name, "name", "Source"),
        (Sort::Health, "health", "Health"),
        (Sort::LastSuccess, "last_success", "Last success"),
        (Sort::Articles, "articles", "Articles"),
        (Sort::NextPoll, "next_poll", "Next poll"),
    ];
}

/// Sorts `rows` by `sort`, in its natural order or `reversed`.
pub(crate) fn sort_rows(rows: &mut [SourceRow], sort: Sort, reversed: bool) {
    let name = |r: &SourceRow| r.name.to_lowercase();
    match sort {
        Sort::Health => rows.sort_by_key(|r| (r.health, name(r))),
        Sort::Name => rows.sort_by_key(name),
        // Never succeeded sorts first: the stalest of all.
        Sort::LastSuccess => rows.sort_by_key(|r| (r.last_success, name(r))),
        Sort::Articles => rows.sort_by_key(|r| (std::cmp::Reverse(r.articles), name(r))),
        Sort::NextPoll => rows.sort_by_key(|r| (r.next_poll.is_none(), r.next_poll, name(r))),
    }
    if reversed {
        rows.reverse();
    }
}

/// What the status page shows.
#[derive(Debug)]
pub(crate) struct StatusPage<'a> {
    /// The merged feed's title.
    pub(crate) title: &'a str,
    /// The time the page is rendered at.
    pub(crate) now: DateTime<Utc>,
    /// The totals.
    pub(crate) totals: &'a Totals,
    /// The config edit that was refused, if there is one.
    pub(crate) config_error: Option<&'a str>,
    /// Why the database cannot be written, while polling is paused for it.
    pub(crate) storage_error: Option<&'a str>,
    /// Articles first seen per day, oldest first (days without any left out).
    pub(crate) per_day: &'a [(NaiveDate, i64)],
    /// How many days the chart covers, ending today.
    pub(crate) days: u32,
    /// The sources, in the order shown.
    pub(crate) sources: &'a [SourceRow],
    /// The order they are in.
    pub(crate) sort: Sort,
    /// Whether that order is reversed.
    pub(crate) reversed: bool,
    /// Readers subscribed to our hub that are paused, every delivery to them having failed.
    pub(crate) paused_readers: &'a [Paused],
    /// The configured alerts and their deliveries.
    pub(crate) alerts: &'a [AlertRow],
}

/// An alert as `/status` shows it.
#[derive(Debug, Clone)]
pub(crate) struct AlertRow {
    /// Its name.
    pub(crate) name: String,
    /// Its target's scheme and host (the rest may hold a secret).
    pub(crate) target: String,
    /// Its deliveries.
    pub(crate) state: AlertState,
}

/// A reader subscribed to our hub that is paused, as `/status` shows it.
#[derive(Debug, Clone)]
pub(crate) struct Paused {
    /// Its callback's host (not the whole callback, which may hold a secret).
    pub(crate) host: String,
    /// Until when.
    pub(crate) until: DateTime<Utc>,
    /// Why its last delivery failed.
    pub(crate) error: String,
}

/// A duration as a person reads it: "45s", "12m", "3h", "2d".
pub(crate) fn human(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The status page as HTML.
pub(crate) fn status(page: &StatusPage) -> String {
    let t = page.totals;
    let title = escape_html(page.title);
    let failing = page
        .sources
        .iter()
        .filter(|s| s.health == Health::Failing)
        .count();
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Status: {title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <header><h1>Status: {title}</h1><p><a href=\"./\">The merged feed</a> · \
         <a href=\"metrics\">metrics</a> · <a href=\"healthz\">healthz</a></p></header>\n"
    );
    if let Some(error) = page.config_error {
        out.push_str(&format!(
            "<section class=\"alert\" role=\"alert\"><h2>The config file was edited, but the \
             edit is not valid; the previous config is still running</h2><pre>{}</pre></section>\n",
            escape_html(error)
        ));
    }
    if let Some(error) = page.storage_error {
        out.push_str(&format!(
            "<section class=\"alert\" role=\"alert\"><h2>The database cannot be written; \
             polling is paused until it can, and what is stored is still served</h2><pre>{}</pre></section>\n",
            escape_html(error)
        ));
    }
    paused_readers(&mut out, page);
    let last_poll = t.last_poll.map_or("never".to_owned(), |at| {
        format!("{} ago", human(page.now - at))
    });
    out.push_str(&format!(
        "<ul class=\"totals\">\
         <li><b>{}</b> sources</li><li class=\"{}\"><b>{failing}</b> failing</li>\
         <li><b>{}</b> stories</li><li><b>{}</b> articles</li><li>last poll <b>{last_poll}</b></li></ul>\n",
        page.sources.len(),
        if failing > 0 { "bad" } else { "good" },
        t.stories,
        t.articles,
    ));
    out.push_str(&chart(page));
    alerts(&mut out, page);
    out.push_str("<table>\n<thead><tr>");
    for (sort, key, label) in Sort::ALL {
        let (reverse, mark) = match (sort == page.sort, page.reversed) {
            (true, false) => (true, " ▾"),
            (true, true) => (false, " ▴"),
            (false, _) => (false, ""),
        };
        let href = if reverse {
            format!("?sort={key}&amp;reverse=true")
        } else {
            format!("?sort={key}")
        };
        out.push_str(&format!("<th><a href=\"{href}\">{label}{mark}</a></th>"));
    }
    out.push_str(
        "<th>Status</th><th>Push</th><th>Full text</th><th title=\"Entries its rules discarded\">Discarded</th>\
         <th>Problem</th></tr></thead>\n<tbody>\n",
    );
    for s in page.sources {
        let when = |at: Option<DateTime<Utc>>, future: bool| match at {
            None => "—".to_owned(),
            Some(at) if future && at <= page.now => "now".to_owned(),
            Some(at) if future => format!("in {}", human(at - page.now)),
            Some(at) => format!(
                "<time datetime=\"{}\">{} ago</time>",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                human(page.now - at)
            ),
        };
        let next = match s.health {
            Health::Off | Health::Disabled => "—".to_owned(),
            _ => when(s.next_poll, true),
        };
        out.push_str(&format!(
            "<tr class=\"{class}\" data-health=\"{class}\"><td><a href=\"{url}\">{name}</a></td>\
             <td><span class=\"badge\">{word}</span></td><td data-label=\"Last success\">{success}</td>\
             <td class=\"n\" data-label=\"Articles\">{articles}</td><td data-label=\"Next poll\">{next}</td>\
             <td class=\"n\" data-label=\"Status\">{status}</td><td data-label=\"Push\">{push}</td>\
             <td data-label=\"Full text\">{full_text}</td>\
             <td class=\"n\" data-label=\"Discarded\">{discarded}</td><td class=\"problem\">{problem}</td></tr>\n",
            class = s.health.word().split(' ').next().unwrap_or_default(),
            url = escape_html(&s.url),
            name = escape_html(&s.name),
            word = s.health.word(),
            success = when(s.last_success, false),
            articles = s.articles,
            discarded = s.discarded,
            status = s.status.map_or("—".to_owned(), |c| c.to_string()),
            problem = escape_html(s.problem.as_deref().unwrap_or_default()),
            push = escape_html(&s.push),
            full_text = escape_html(&s.full_text),
        ));
    }
    out.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    out
}

/// Articles per day over the last `days` days as an inline SVG bar chart.
fn chart(page: &StatusPage) -> String {
    const WIDTH: u32 = 600;
    const HEIGHT: u32 = 100;
    let today = page.now.date_naive();
    let days: Vec<(NaiveDate, i64)> = (0..page.days)
        .rev()
        .map(|back| {
            let day = today - chrono::Days::new(u64::from(back));
            let n = page
                .per_day
                .iter()
                .find(|(d, _)| *d == day)
                .map_or(0, |(_, n)| *n);
            (day, n)
        })
        .collect();
    let most = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let total: i64 = days.iter().map(|(_, n)| n).sum();
    let bar = WIDTH / page.days.max(1);
    let mut bars = String::new();
    for (i, (day, n)) in days.iter().enumerate() {
        let h = (*n as f64 / most as f64 * f64::from(HEIGHT)).round() as u32;
        bars.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\"><title>{day}: {n} articles</title></rect>",
            i as u32 * bar + 1,
            HEIGHT - h,
            bar.saturating_sub(2).max(1),
        ));
    }
    format!(
        "<figure><figcaption>Articles per day, last {} days ({total} in all; most in a day: {most})</figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" height=\"{HEIGHT}\" role=\"img\" \
         aria-label=\"articles per day\" preserveAspectRatio=\"none\">{bars}</svg></figure>\n",
        page.days
    )
}

const CSS: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem;color:#222}\
h1{font-size:1.4rem;margin:.2rem 0}header p{margin:0 0 1rem;color:#555}\
.totals{list-style:none;display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;padding:0}\
.totals .bad b{color:#b00020}.alert{border:2px solid #b00020;padding:.5rem 1rem;margin:1rem 0}\
.alert h2{font-size:1rem;color:#b00020;margin:.2rem 0}.alert pre{white-space:pre-wrap}\
figure{margin:1rem 0}figcaption{color:#555;font-size:.9rem}svg{background:#f6f6f6}svg rect{fill:#3367d6}\
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}\
th a{color:inherit}td.n{text-align:right}.problem{color:#b00020;min-width:10rem;overflow-wrap:anywhere}\
.badge{border-radius:.6rem;padding:0 .5rem;background:#ddd}.failing .badge{background:#b00020;color:#fff}\
.ok .badge{background:#1e7e34;color:#fff}.disabled .badge{background:#795548;color:#fff}\
@media (max-width:40rem){table,tbody,tr,td{display:block}thead tr{display:flex;flex-wrap:wrap;gap:0 .8rem}\
th{border:0;padding:.2rem 0}tbody tr{border-bottom:1px solid #ddd;padding:.4rem 0}td{border:0;padding:.1rem 0}\
td.n{text-align:left}td[data-label]::before{content:attr(data-label) \": \";color:#555}.problem{min-width:0}}";

/// The readers of our hub that are paused, if any, as an alert section of `out`.
/// The alerts' table: each one's target, and its deliveries pending, taken and given up.
fn alerts(out: &mut String, page: &StatusPage) {
    if page.alerts.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Alerts</h2>\n<table class=\"alerts\">\n<thead><tr><th>Alert</th><th>Target</th>\
         <th>Pending</th><th>Delivered</th><th>Given up</th><th>Last delivered</th>\
         <th>Problem</th></tr></thead>\n<tbody>\n",
    );
    for a in page.alerts {
        let last = a.state.last_delivered.map_or("never".to_owned(), |at| {
            format!("{} ago", human(page.now - at))
        });
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td>{last}</td><td class=\"problem\">{}</td></tr>\n",
            escape_html(&a.name),
            escape_html(&a.target),
            a.state.pending,
            a.state.delivered,
            a.state.failed,
            escape_html(a.state.error.as_deref().unwrap_or_default()),
        ));
    }
    out.push_str("</tbody>\n</table>\n");
}

fn paused_readers(out: &mut String, page: &StatusPage) {
    if page.paused_readers.is_empty() {
        return;
    }
    out.push_str(
        "<section class=\"alert\"><h2>Readers our hub cannot reach; each is sent the \
         latest change when its pause ends</h2><ul>\n",
    );
    for p in page.paused_readers {
        out.push_str(&format!(
            "<li>{}: paused for {}; {}</li>\n",
            escape_html(&p.host),
            human(p.until - page.now),
            escape_html(&p.error)
        ));
    }
    out.push_str("</ul></section>\n");
}
