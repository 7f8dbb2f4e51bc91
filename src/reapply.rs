//! `feedmerge reapply`: the current `[[rules]]` applied to what is already stored, as they
//! are to entries coming in. A stored article a rule now discards is taken out (its story
//! re-formed without it) and remembered as discarded; one a rule now rewrites is stored again
//! as an outlet's edit is, under its own entry and story ids, so readers see an update.
//! Articles are read a batch at a time, and each batch is written in the store's own
//! transactions, beside a running daemon.

use crate::config::{Config, Source};
use crate::dedup;
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
}

/// Applies `config`'s rules to the stored articles of each of `sources`.
pub(crate) async fn reapply(
    store: &Store,
    config: &Config,
    sources: &[Source],
) -> Result<Vec<Reapplied>, StoreError> {
    let mut report = Vec::with_capacity(sources.len());
    for source in sources {
        report.push(one(store, &Ruleset::for_source(config, source), &source.name).await?);
    }
    Ok(report)
}

/// Applies `rules` to the stored articles of the source `name`.
async fn one(store: &Store, rules: &Ruleset, name: &str) -> Result<Reapplied, StoreError> {
    let mut done = Reapplied {
        source: name.to_owned(),
        ..Reapplied::default()
    };
    let mut after = 0;
    loop {
        let batch = store.stored_articles(name, after, BATCH).await?;
        let Some(last) = batch.last() else {
            break;
        };
        after = last.id;
        done.examined += batch.len() as u64;
        let mut discarded = Vec::new();
        let mut rewritten = Vec::new();
        for stored in batch {
            let mut article = stored.article.clone();
            match rules.shape(&mut article) {
                Err(rule) => discarded.push((
                    stored.id,
                    Discarded {
                        key: stored.key,
                        rule,
                    },
                )),
                Ok(()) => {
                    let before = &stored.article;
                    let changed = article.title != before.title
                        || article.summary != before.summary
                        || article.content != before.content;
                    if changed {
                        for mut keyed in dedup::identify(vec![article], None) {
                            keyed.key.clone_from(&stored.key);
                            rewritten.push(keyed);
                        }
                    }
                }
            }
        }
        done.discarded += discarded.len() as u64;
        done.rewritten += rewritten.len() as u64;
        store.discard_stored(name, &discarded).await?;
        if !rewritten.is_empty() {
            let attempt = Attempt::Reapplied {
                articles: rewritten,
            };
            store.record(name, attempt, Next::default()).await?;
        }
    }
    Ok(done)
}
