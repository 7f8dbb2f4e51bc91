//! The daemon's counters since it started, for `/metrics` (Prometheus text format).
//!
//! Owns the counting and the text format: every finished poll's report is handed to
//! [`Metrics::observe`]; the server takes a copy of the counters ([`Metrics::counters`]) and
//! has them render themselves ([`Counters::render`]) beside the gauges it reads from the
//! store (database size, stories, each source's last success).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::report::{Outcome, PollReport};

/// Upper bounds of the fetch-duration histogram's buckets, in seconds.
const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Counters since start, shared by the engine and the server.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Counters {
    /// By (source, outcome).
    fetches: BTreeMap<(String, &'static str), u64>,
    /// By source.
    bytes: BTreeMap<String, u64>,
    /// By (source, kind): new stories, updated articles, versions merged into a story.
    articles: BTreeMap<(String, &'static str), u64>,
    /// Article pages read for their full text, by (source, outcome): stored, failed.
    full_texts: BTreeMap<(String, &'static str), u64>,
    /// Fetch durations: count per bucket (not cumulative), then the sum and count.
    buckets: [u64; BUCKETS.len()],
    duration_sum: f64,
    duration_count: u64,
}

/// Gauges read from the store when `/metrics` is scraped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gauges {
    /// The database file's size in bytes.
    pub(crate) database_bytes: u64,
    /// Stories stored.
    pub(crate) stories: i64,
    /// Articles stored.
    pub(crate) articles: i64,
    /// Each source's last successful poll, as a Unix time, if it had one.
    pub(crate) last_success: Vec<(String, Option<f64>)>,
    /// Whether the config file holds an edit that was refused.
    pub(crate) config_rejected: bool,
    /// Each source's WebSub subscription: its state (`none`, `pending`, `active`, `failed`,
    /// `unsubscribing`), signed deliveries stored, new stories polls found that no push had.
    pub(crate) push: Vec<(String, String, i64, i64)>,
    /// Our hub's tasks delivering to subscribers, and the bytes of the changes they hold.
    pub(crate) hub_load: (usize, usize),
    /// Each alert's deliveries by state (`pending`, `delivered`, `failed`).
    pub(crate) alerts: Vec<(String, &'static str, i64)>,
    /// Entries each source's rules discarded.
    pub(crate) discarded: Vec<(String, i64)>,
}

impl Metrics {
    /// Counts one finished poll.
    pub(crate) fn observe(&self, report: &PollReport) {
        let outcome = match &report.outcome {
            Outcome::NotModified => "not_modified",
            Outcome::Stored(_) => "stored",
            Outcome::Failed(_) => "failed",
            Outcome::Deferred(_) => "deferred",
            Outcome::Elsewhere => "elsewhere",
            Outcome::Cancelled => return,
        };
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *c.fetches
            .entry((report.source.clone(), outcome))
            .or_default() += 1;
        if report.bytes > 0 {
            *c.bytes.entry(report.source.clone()).or_default() += report.bytes;
        }
        if let Outcome::Stored(counts) = &report.outcome {
            for (kind, n) in [
                ("new", counts.new),
                ("updated", counts.updated),
                ("merged", counts.merged),
            ] {
                *c.articles.entry((report.source.clone(), kind)).or_default() += u64::from(n);
            }
        }
        if let Some(took) = report.fetch_time {
            c.observe_duration(took);
        }
    }

    /// Counts one article page read for its full text, its text stored or not.
    pub(crate) fn page_read(&self, source: &str, stored: bool) {
        let outcome = if stored { "stored" } else { "failed" };
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *c.full_texts
            .entry((source.to_owned(), outcome))
            .or_default() += 1;
    }

    /// The counters as they stand. Taken before the gauges are read, so that a scrape's
    /// gauges include at least what its counters report (a poll is counted once it is stored).
    pub(crate) fn counters(&self) -> Counters {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Counters {
    /// These counters and `gauges` in the Prometheus text exposition format (version 0.0.4).
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        let c = self;
        let mut out = String::new();
        family(
            &mut out,
            "feedmerge_fetches_total",
            "counter",
            "Polls finished, by source and outcome (stored, not_modified, failed, deferred).",
            c.fetches.iter().map(|((source, outcome), n)| {
                format!("{{source=\"{}\",outcome=\"{outcome}\"}} {n}", label(source))
            }),
        );
        family(
            &mut out,
            "feedmerge_full_texts_total",
            "counter",
            "Article pages read for their full text, by source and outcome (stored, failed).",
            c.full_texts.iter().map(|((source, outcome), n)| {
                format!("{{source=\"{}\",outcome=\"{outcome}\"}} {n}", label(source))
            }),
        );
        family(
            &mut out,
            "feedmerge_fetch_body_bytes_total",
            "counter",
            "Bytes of feed bodies received (after content decoding), by source.",
            c.bytes
                .iter()
                .map(|(source, n)| format!("{{source=\"{}\"}} {n}", label(source))),
        );
        family(
            &mut out,
            "feedmerge_articles_total",
            "counter",
            "Articles stored, by source and kind: new (a new story), updated (an edit), \
             merged (a version joining a story).",
            c.articles.iter().map(|((source, kind), n)| {
                format!("{{source=\"{}\",kind=\"{kind}\"}} {n}", label(source))
            }),
        );
        let mut cumulative = 0;
        let mut buckets: Vec<String> = BUCKETS
            .iter()
            .zip(c.buckets)
            .map(|(bound, n)| {
                cumulative += n;
                format!("_bucket{{le=\"{bound}\"}} {cumulative}")
            })
            .collect();
        buckets.push(format!("_bucket{{le=\"+Inf\"}} {}", c.duration_count));
        buckets.push(format!("_sum {}", c.duration_sum));
        buckets.push(format!("_count {}", c.duration_count));
        family(
            &mut out,
            "feedmerge_fetch_duration_seconds",
            "histogram",
            "Time from sending a request to having the whole feed body.",
            buckets,
        );
        gauge_families(&mut out, gauges);
        out
    }
}

/// The store's gauges (and the WebSub counters it keeps) as metric families, onto `out`.
fn gauge_families(out: &mut String, gauges: &Gauges) {
    for (name, help, value) in [
        (
            "feedmerge_database_bytes",
            "Size of the SQLite database: its pages, some of which may still be in the write-ahead log.",
            gauges.database_bytes as f64,
        ),
        (
            "feedmerge_stories",
            "Stories stored: entries of the merged feed.",
            gauges.stories as f64,
        ),
        (
            "feedmerge_articles",
            "Articles stored: every version of every story.",
            gauges.articles as f64,
        ),
        (
            "feedmerge_hub_delivery_tasks",
            "Tasks our WebSub hub runs to deliver to subscribers: one per subscriber owed a change, at most.",
            gauges.hub_load.0 as f64,
        ),
        (
            "feedmerge_hub_owed_bytes",
            "Bytes of the changes our WebSub hub holds for subscribers: each one's latest undelivered one, shared.",
            gauges.hub_load.1 as f64,
        ),
        (
            "feedmerge_config_rejected",
            "1 if the config file holds an edit that did not validate (the previous config runs).",
            f64::from(u8::from(gauges.config_rejected)),
        ),
    ] {
        family(out, name, "gauge", help, [format!(" {value}")]);
    }
    family(
        out,
        "feedmerge_source_last_success_timestamp_seconds",
        "gauge",
        "When each source was last polled successfully (Unix time).",
        gauges.last_success.iter().filter_map(|(source, at)| {
            at.map(|at| format!("{{source=\"{}\"}} {at}", label(source)))
        }),
    );
    family(
        out,
        "feedmerge_alert_deliveries",
        "gauge",
        "Each alert's deliveries: pending (to send or send again), delivered, failed (given up).",
        gauges.alerts.iter().map(|(alert, state, n)| {
            format!("{{alert=\"{}\",state=\"{state}\"}} {n}", label(alert))
        }),
    );
    family(
        out,
        "feedmerge_source_discarded_entries",
        "gauge",
        "Entries each source's rules discarded (each counted once however often its feed carries it).",
        gauges
            .discarded
            .iter()
            .map(|(source, n)| format!("{{source=\"{}\"}} {n}", label(source))),
    );
    family(
        out,
        "feedmerge_source_push_state",
        "gauge",
        "Each source's WebSub subscription: 1 for its state (none, pending, active, failed, unsubscribing).",
        gauges.push.iter().map(|(source, state, _, _)| {
            format!("{{source=\"{}\",state=\"{}\"}} 1", label(source), label(state))
        }),
    );
    family(
        out,
        "feedmerge_source_pushes_total",
        "counter",
        "Signed WebSub deliveries stored, per source, since its subscription began.",
        gauges
            .push
            .iter()
            .map(|(source, _, pushes, _)| format!("{{source=\"{}\"}} {pushes}", label(source))),
    );
    family(
        out,
        "feedmerge_source_push_missed_total",
        "counter",
        "New stories a poll found while the source's push was active: what its hub did not push.",
        gauges
            .push
            .iter()
            .map(|(source, _, _, missed)| format!("{{source=\"{}\"}} {missed}", label(source))),
    );
}

impl Counters {
    fn observe_duration(&mut self, took: Duration) {
        let seconds = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.duration_sum += seconds;
        self.duration_count += 1;
    }
}

/// Writes one metric family: its help and type, then each sample (the name's suffix, labels
/// and value).
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = String>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for sample in samples {
        let _ = writeln!(out, "{name}{sample}");
    }
}

/// A label value escaped as the text format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
