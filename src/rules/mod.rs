//! Between `parse` and `dedup`: the `[[rules]]` that apply to a source, applied in file
//! order to each entry as it comes in, before stories are formed. A rule discards entries
//! (`discard`, `keep_only`: search queries, `query`), rewrites headlines and text
//! (`rewrite_title`, `rewrite_text`: regular expressions), and takes elements out of the
//! entry's HTML (`remove`: CSS selectors). Tracking pixels and FeedBurner's flare are taken
//! out of every entry unless a rule in scope says `keep_trackers` (`html.rs`). What is left
//! of the HTML is sanitised again, as the parser sanitises it, and its plain text derived
//! again.

mod html;

use std::borrow::Cow;

use crate::config::{Config, Rewrite, Rule, Source};
use crate::parse::{clean_html, text_of_html, Article};
use crate::query::{Entry, Words};

/// The rules in force for one source: what `apply` does to its entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ruleset {
    /// The source's name, as `source:` in a rule's query matches it.
    source: String,
    /// The rules whose scope holds the source, in file order.
    rules: Vec<Rule>,
    /// Whether tracking pixels and flare stay (a rule in scope says `keep_trackers`).
    keep_trackers: bool,
}

/// What the rules made of one fetch's entries.
#[derive(Debug, Default)]
pub(crate) struct Shaped {
    /// The entries to store, as the rules left them, in feed order.
    pub(crate) kept: Vec<Article>,
    /// The entries a rule discarded, each with the number of that rule.
    pub(crate) discarded: Vec<(Article, usize)>,
}

/// An entry a rule discarded, as the store remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discarded {
    /// Its identity within its source (`dedup`'s entry key).
    pub key: String,
    /// The number of the rule that discarded it, from 1 in file order.
    pub rule: usize,
}

impl Ruleset {
    /// The rules of `rules` that apply to the source `name`, filed under `categories`.
    pub(crate) fn of(rules: &[Rule], name: &str, categories: &[String]) -> Ruleset {
        let rules: Vec<Rule> = rules
            .iter()
            .filter(|r| r.applies_to(name, categories))
            .cloned()
            .collect();
        Ruleset {
            source: name.to_owned(),
            keep_trackers: rules.iter().any(|r| r.keep_trackers),
            rules,
        }
    }

    /// The rules of `config` that apply to `source`.
    pub(crate) fn for_source(config: &Config, source: &Source) -> Ruleset {
        Ruleset::of(&config.rules, &source.name, &source.categories)
    }

    /// Applies the rules to each of `articles`.
    pub(crate) fn apply(&self, articles: Vec<Article>) -> Shaped {
        let mut shaped = Shaped::default();
        for mut article in articles {
            match self.shape(&mut article) {
                Ok(()) => shaped.kept.push(article),
                Err(rule) => shaped.discarded.push((article, rule)),
            }
        }
        shaped
    }

    /// Applies the rules to `article`, in order: `Err` with the number of the rule that
    /// discards it. What a rule asks of the entry is asked of it as the rules before it left
    /// it; its words are worked out once, and again only after a rule changes them.
    pub(crate) fn shape(&self, article: &mut Article) -> Result<(), usize> {
        if !self.keep_trackers && edit_html(article, html::without_trackers) {
            refresh_text(article);
        }
        let mut words = Words::default();
        for rule in &self.rules {
            if rule.discard.is_some() || rule.keep_only.is_some() {
                let entry = Entry::new(
                    (&article.title, &article.text),
                    &article.authors,
                    article.link.as_deref(),
                    &article.categories,
                    vec![self.source.as_str()],
                    &words,
                );
                let discarded = rule.discard.as_ref().is_some_and(|q| q.matches(&entry))
                    || rule.keep_only.as_ref().is_some_and(|q| !q.matches(&entry));
                if discarded {
                    return Err(rule.number);
                }
            }
            let (title, html) = edit(article, rule);
            if title {
                words.forget_title();
            }
            if html {
                refresh_text(article);
                words.forget_text();
            }
        }
        Ok(())
    }
}

/// Applies `rule`'s rewrites and removals to `article`: whether they changed its headline,
/// and its HTML.
fn edit(article: &mut Article, rule: &Rule) -> (bool, bool) {
    let mut title_changed = false;
    if let Some(rewrite) = &rule.rewrite_title {
        if let Some(title) = rewritten(rewrite, &article.title) {
            let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
            // A headline rewritten to nothing keeps what it was.
            if !title.is_empty() && title != article.title {
                article.title = title;
                title_changed = true;
            }
        }
    }
    let mut html_changed = false;
    if let Some(rewrite) = &rule.rewrite_text {
        html_changed |= edit_html(article, |html| rewritten(rewrite, html).map(resanitised));
    }
    if !rule.remove.is_empty() {
        html_changed |= edit_html(article, |html| html::without(html, &rule.remove));
    }
    (title_changed, html_changed)
}

/// The article's plain text, derived again from its HTML.
fn refresh_text(article: &mut Article) {
    let body = article.content.as_deref().or(article.summary.as_deref());
    article.text = body.map(text_of_html).unwrap_or_default();
}

/// `text` with `rewrite` applied, if it changes it.
fn rewritten(rewrite: &Rewrite, text: &str) -> Option<String> {
    match rewrite.pattern.replace_all(text, rewrite.replace.as_str()) {
        Cow::Borrowed(_) => None,
        Cow::Owned(new) => Some(new),
    }
}

/// HTML a rewrite changed, sanitised again: a replacement may have joined what was text
/// into markup.
fn resanitised(html: String) -> String {
    clean_html(&html, &html::BASE)
}

/// Applies `edit` to the article's summary and content; whether it changed either.
fn edit_html(article: &mut Article, edit: impl Fn(&str) -> Option<String>) -> bool {
    let mut changed = false;
    for field in [&mut article.summary, &mut article.content] {
        if let Some(new) = field.as_deref().and_then(&edit) {
            *field = Some(new).filter(|h| !h.trim().is_empty());
            changed = true;
        }
    }
    changed
}
