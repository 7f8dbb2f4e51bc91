//! `feedmerge reapply`: the current `[[rules]]` applied to what is already stored, as they
//! are to entries coming in. A stored article a rule now discards is taken out (its story
//! re-formed without it) and remembered as discarded. One a rule now rewrites is stored again
//! as an outlet's edit is, under its own entry and story ids, so readers see an update; unless
//! the rewrite changed it so much that it is no longer a version of its story (by `dedup`'s
//! rule): then it is taken out of that story and placed anew, as a new entry is, in the story
//! it is a version of now or in one of its own. Articles are read a batch at a time, and each
//! batch is written in the store's own transactions, beside a running daemon.

use crate::config::{Config, Source};
use crate::dedup::{self, Keyed};
use crate::rules::{Discarded, Ruleset};
use crate::store::{Attempt, Next, Store, StoreError};

/// Stored articles read, shaped and written at a time.
const BATCH: u32 = 500;

/// What reapplying the rules changed for one source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reapplied {
    /// The source.
    pub source: String,
    /// Stored articles the rules were applied to (those the source carries first).
    pub examined: u64,
    /// Articles now discarded, and taken out.
    pub discarded: u64,
    /// Articles whose headline or text the rules changed.
    pub rewritten: u64,
    /// Of those, the articles changed so much that they were placed in a story anew.
    pub moved: u64,
}

/// Applies `config`'s rules to the stored articles of each of `sources`.
pub(crate) async fn reapply(
    store: &Store,
    config: &Config,
    sources: &[Source],
) -> Result<Vec<Reapplied>, StoreError> {
    let mut report = Vec::with_capacity(sources.len());
    for source in sources {
        let rules = Ruleset::for_source(config, source);
        let threshold = config.startup.dedup.threshold;
        report.push(one(store, &rules, threshold, &source.name).await?);
    }
    Ok(report)
}

/// Applies `rules` to the stored articles of the source `name`; a rewritten article is a
/// version of its story still if it is as similar to what it was as `threshold` asks.
async fn one(
    store: &Store,
    rules: &Ruleset,
    threshold: f64,
    name: &str,
) -> Result<Reapplied, StoreError> {
    let mut done = Reapplied {
        source: name.to_owned(),
        ..Reapplied::default()
    };
    // Only what is stored now: an article placed anew comes back under a later id.
    let upto = store.newest_article().await?;
    let mut after = 0;
    loop {
        let batch = store.stored_articles(name, (after, upto), BATCH).await?;
        let Some(last) = batch.last() else {
            break;
        };
        after = last.id;
        done.examined += batch.len() as u64;
        let mut discarded = Vec::new();
        let mut rewritten = Vec::new();
        let mut moved: Vec<(i64, Keyed)> = Vec::new();
        for stored in batch {
            let mut article = stored.article.clone();
            match rules.shape(&mut article) {
                Err(rule) => discarded.push((
                    stored.id,
                    Some(Discarded {
                        key: stored.key,
                        rule,
                    }),
                )),
                Ok(()) => {
                    let before = &stored.article;
                    let changed = article.title != before.title
                        || article.summary != before.summary
                        || article.content != before.content;
                    if !changed {
                        continue;
                    }
                    let was = dedup::identify(vec![before.clone()], None);
                    for mut keyed in dedup::identify(vec![article], None) {
                        keyed.key.clone_from(&stored.key);
                        match was
                            .first()
                            .is_some_and(|w| same_story(w, &keyed, threshold))
                        {
                            true => rewritten.push(keyed),
                            false => moved.push((stored.id, keyed)),
                        }
                    }
                }
            }
        }
        done.discarded += discarded.len() as u64;
        done.rewritten += (rewritten.len() + moved.len()) as u64;
        done.moved += moved.len() as u64;
        store.take_out(name, &discarded).await?;
        // Taken out of their stories, remembered as nothing, then stored as new entries are.
        let out: Vec<(i64, Option<Discarded>)> = moved.iter().map(|(id, _)| (*id, None)).collect();
        store.take_out(name, &out).await?;
        rewritten.extend(moved.into_iter().map(|(_, keyed)| keyed));
        if !rewritten.is_empty() {
            let attempt = Attempt::Reapplied {
                articles: rewritten,
            };
            store.record(name, attempt, Next::default()).await?;
        }
    }
    Ok(done)
}

/// Whether `new`, an article rewritten, is still a version of the story `was`, what it was,
/// belongs to: their texts as similar as `threshold` asks, or (one too short to tell by its
/// text) the same headline.
fn same_story(was: &Keyed, new: &Keyed, threshold: f64) -> bool {
    match (&was.fingerprint, &new.fingerprint) {
        (Some(a), Some(b)) => a.same_story(b, threshold),
        _ => was.article.title == new.article.title,
    }
}
