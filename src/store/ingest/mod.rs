//! Storing the articles of one fetch inside its transaction: each recognised by its source's
//! entry key, else by its canonical link, else placed in the story it is a version of (by its
//! text, else by its headline), or a story of its own. The rules that decide (who may edit,
//! which version represents a story, where a story is placed) are `dedup`'s; this file
//! applies them to rows.
//!
//! Statements, not rows, are what storing costs (each is a round trip to the database's
//! thread or server), so a fetch is stored in three steps: its articles are placed in memory,
//! with ids handed out by the transaction; the stories they join are read in one query, which
//! decides the versions that represent them; then every new row is written in a few multi-row
//! statements, a handful for the whole feed instead of five per new article (its search
//! entries, sketches and headlines once for the whole write group: `group`); the last step
//! is `write.rs`'s.

mod write;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::engine::{on_tx, Table, Tx};
use super::group::GroupRows;
use super::known::{Existing, Known};
use super::search::{self, Indexed};
use super::story_index::{window_ms, Pending};
use super::Counts;
use super::{json, media_json, millis, StoreError};
use crate::config::Dedup;
use crate::dedup::story::{self, Version};
use crate::dedup::Keyed;

/// Stores the articles of one fetch, inside its transaction.
pub(super) struct Ingest<'a, 'i, 'k> {
    pub(super) tx: &'a mut Tx,
    pub(super) source: &'a str,
    pub(super) source_id: i64,
    /// Whether the source had been fetched before: its first fetch brings its backlog.
    pub(super) polled_before: bool,
    /// The date an entry without one is given (`dedup::story::undated_at`).
    pub(super) undated_at: DateTime<Utc>,
    pub(super) dedup: &'a Dedup,
    pub(super) pending: &'a mut Pending<'i>,
    pub(super) now: DateTime<Utc>,
    pub(super) counts: &'a mut Counts,
    /// The rows left to the end of the write group: the new articles' search index entries
    /// (a statement that writes to the index makes SQLite's FTS5 write what it holds as a
    /// segment of its own, to be merged later, so one small segment per fetch cost more than
    /// the articles' own rows), sketches and headlines.
    pub(super) group: &'a mut GroupRows<'k>,
}

/// A new article, placed: the row it will be.
struct NewArticle<'k> {
    id: i64,
    entry_id: String,
    /// The entry that placed it: its identity, fingerprint and headline.
    keyed: &'k Keyed,
    /// The entry whose text it has: the one that placed it, or a later entry of the same
    /// fetch, source and link that edited it.
    text: &'k Keyed,
    published: i64,
    updated: i64,
    /// Its story: one it starts, or one it joins (until [`Plan::resolve`], possibly one that
    /// proves to be gone).
    story: i64,
    starts: bool,
}

/// A new story: the row it will be.
struct NewStory {
    id: i64,
    entry_id: String,
    representative: i64,
    published: i64,
    updated: i64,
    sort_at: i64,
}

/// What one fetch writes, gathered while its articles are placed.
struct Plan<'k> {
    /// Ids the transaction handed out, taken in order.
    article_ids: std::vec::IntoIter<i64>,
    story_ids: std::vec::IntoIter<i64>,
    articles: Vec<NewArticle<'k>>,
    stories: Vec<NewStory>,
    /// (entry, stored or new article) that this source now carries.
    appearances: Vec<(&'k Keyed, i64)>,
    /// What happened to the articles, in feed order, for [`Ingest::resolve`] to replay.
    events: Vec<Event>,
}

/// One step of placing a fetch's articles.
enum Event {
    /// `plan.articles[i]` was placed.
    Placed(usize),
    /// An article (stored, or placed by this fetch) was edited at `updated`: its story's
    /// `updated` follows if it represents the story at that point.
    Edited {
        article: i64,
        story: Option<i64>,
        updated: i64,
    },
}

/// What [`Ingest::resolve`] decided of the stories of one fetch, beyond the new rows.
#[derive(Default)]
struct Settled {
    /// Stored stories whose representative changed: (story, article, published).
    represented: Vec<(i64, i64, i64)>,
    /// Stored stories whose representative was edited: (story, updated).
    edited: Vec<(i64, i64)>,
    /// Stored articles edited, whose story this fetch did not touch: (article, updated), for
    /// their story to follow if they represent it.
    edited_if_representing: Vec<(i64, i64)>,
}

impl<'k> Plan<'k> {
    /// The new story `id`, if this fetch starts it (ids are handed out, and rows pushed, in
    /// ascending order).
    fn story(&mut self, id: i64) -> Option<&mut NewStory> {
        let at = self.stories.binary_search_by_key(&id, |s| s.id).ok()?;
        Some(&mut self.stories[at])
    }

    /// The new article `id`, if this fetch placed it.
    fn article(&mut self, id: i64) -> Option<&mut NewArticle<'k>> {
        let at = self.articles.binary_search_by_key(&id, |a| a.id).ok()?;
        Some(&mut self.articles[at])
    }

    fn next_id(ids: &mut std::vec::IntoIter<i64>) -> Result<i64, StoreError> {
        // As many ids were handed out as there are entries that may be new.
        ids.next().ok_or_else(|| {
            StoreError::Query(sqlx::Error::Protocol(
                "more new rows than ids handed out".into(),
            ))
        })
    }
}

impl<'k> Ingest<'_, '_, 'k> {
    /// Stores `articles`, one fetch's, of which `known` says what is stored.
    pub(super) async fn articles(
        &mut self,
        articles: &'k [Keyed],
        mut known: Known,
    ) -> Result<(), StoreError> {
        let fresh = articles
            .iter()
            .filter(|k| !known.by_key.contains_key(&k.key) && !known.removed.contains(&k.key))
            .count();
        let mut plan = Plan {
            article_ids: self.tx.new_ids(Table::Articles, fresh).await?.into_iter(),
            story_ids: self.tx.new_ids(Table::Stories, fresh).await?.into_iter(),
            articles: Vec::new(),
            stories: Vec::new(),
            appearances: Vec::new(),
            events: Vec::new(),
        };
        for keyed in articles {
            self.place(keyed, &mut known, &mut plan).await?;
        }
        let settled = self.resolve(&mut plan).await?;
        // Entries found to be stored after all (by link, or earlier in the feed) leave ids.
        self.tx.unused_ids(Table::Articles, plan.article_ids.next());
        self.tx.unused_ids(Table::Stories, plan.story_ids.next());
        self.write(&plan, &settled).await
    }

    /// Places one article: recognised by this source's key, else by its canonical link from
    /// any source (both looked up beforehand, in `known`), else new — as a version of a stored
    /// story if its text is nearly the same as one's, else as a story of its own.
    async fn place(
        &mut self,
        keyed: &'k Keyed,
        known: &mut Known,
        plan: &mut Plan<'k>,
    ) -> Result<(), StoreError> {
        if known.removed.contains(&keyed.key) {
            self.counts.unchanged += 1;
            return Ok(());
        }
        let existing = match known.by_key.get(&keyed.key) {
            Some(e) => Some(e.clone()),
            None => {
                let by_link = keyed
                    .canonical_link
                    .as_ref()
                    .and_then(|l| known.by_link.get(l))
                    .cloned();
                if let Some(e) = &by_link {
                    let published = keyed.article.published.map_or(millis(self.now), millis);
                    if e.source_id != self.source_id && published < e.published {
                        // The same page, which this outlet dated earlier than the one whose
                        // copy is stored: stored as its own version of the story, so that the
                        // story can be published as the earliest version.
                        return self.insert(keyed, known, e.story_id, plan).await;
                    }
                    // Remember this source's entry, so its next poll finds it by key.
                    plan.appearances.push((keyed, e.id));
                    if e.source_id != self.source_id {
                        self.counts.merged += 1;
                        return Ok(());
                    }
                }
                by_link
            }
        };
        match existing {
            Some(e)
                if story::edits(
                    e.source_id,
                    &e.content_hash,
                    self.source_id,
                    &keyed.content_hash,
                ) =>
            {
                self.edit(keyed, &e, plan).await?
            }
            Some(_) => self.counts.unchanged += 1,
            None => self.insert(keyed, known, None, plan).await?,
        }
        Ok(())
    }

    /// Stores the new text of an article its source edited: a stored one at once (rare), one
    /// placed by this fetch in its planned row. Whether the story's `updated` follows (only if
    /// this article is the one the story publishes) is settled in feed order by `resolve`.
    async fn edit(
        &mut self,
        keyed: &'k Keyed,
        e: &Existing,
        plan: &mut Plan<'k>,
    ) -> Result<(), StoreError> {
        let a = &keyed.article;
        let updated = a
            .updated
            .map(millis)
            .filter(|u| *u > e.updated)
            .unwrap_or_else(|| millis(self.now).max(e.updated + 1));
        match plan.article(e.id) {
            Some(planned) => {
                planned.text = keyed;
                planned.updated = updated;
            }
            None => on_tx!(self.tx, |c| sqlx::query(
                "UPDATE articles SET title = $2, link = $3, summary = $4, content = $5,
                     authors = $6, categories = $7, updated = $8, content_hash = $9,
                     canonical_link = COALESCE($10, canonical_link), media = $11,
                     plain_text = $12
                 WHERE id = $1",
            )
            .bind(e.id)
            .bind(&a.title)
            .bind(&a.link)
            .bind(&a.summary)
            .bind(&a.content)
            .bind(json(&a.authors))
            .bind(json(&a.categories))
            .bind(updated)
            .bind(&keyed.content_hash)
            .bind(&keyed.canonical_link)
            .bind(media_json(&a.media))
            .bind(&a.text)
            .execute(c)
            .await
            .map(drop))?,
        }
        if plan.article(e.id).is_none() {
            // Written above: its index entry is rewritten with it, after those waiting (it
            // may be among them, stored by an earlier result of this transaction).
            self.group.index_now(self.tx).await?;
            let story = e.story_id.unwrap_or(e.id);
            let list = format!("[{}]", e.id);
            search::unindex(self.tx, &list).await?;
            search::index(self.tx, &[Indexed::terms(e.id, story, &keyed.terms)]).await?;
        }
        plan.events.push(Event::Edited {
            article: e.id,
            story: e.story_id,
            updated,
        });
        self.counts.updated += 1;
        Ok(())
    }

    /// Places an article seen for the first time in `story` if given, else in the story it
    /// is a version of (found in the story index, which learns of it at once, so that a later
    /// entry of this same fetch finds it too), else in a new one.
    async fn insert(
        &mut self,
        keyed: &'k Keyed,
        known: &mut Known,
        story: Option<i64>,
        plan: &mut Plan<'k>,
    ) -> Result<(), StoreError> {
        let a = &keyed.article;
        // An entry without a date is dated once, when first seen (or, in a backlog, with it).
        let published = millis(a.published.unwrap_or(self.undated_at));
        let updated = a.updated.map_or(published, millis).max(published);
        let entry_id = blake3::hash(format!("{}\n{}", self.source, keyed.key).as_bytes()).to_hex()
            [..32]
            .to_owned();
        let id = Plan::next_id(&mut plan.article_ids)?;
        let story = match story {
            Some(story) => Some(story),
            None => {
                let index = self.pending.index().await?;
                let by_text = keyed.fingerprint.as_ref().and_then(|fp| {
                    index.find(fp, published, window_ms(self.dedup), self.dedup.threshold)
                });
                by_text.or_else(|| {
                    let headline = keyed
                        .headline
                        .filter(|h| !known.repeated_headlines.contains(h))?;
                    let has_text = keyed.fingerprint.is_some();
                    index.find_by_headline(headline, self.source_id, published, has_text)
                })
            }
        };
        let (story, starts) = match story {
            Some(story) => (story, false),
            None => {
                let story = Plan::next_id(&mut plan.story_ids)?;
                plan.stories
                    .push(self.new_story(story, &entry_id, id, published, updated));
                (story, true)
            }
        };
        if keyed.fingerprint.is_some() || keyed.headline.is_some() {
            self.pending
                .insert(id, story, published, self.source_id, keyed)
                .await?;
        }
        if let Some(link) = &keyed.canonical_link {
            // A later entry of this same feed with the same link is this article.
            known.by_link.entry(link.clone()).or_insert(Existing {
                matched: link.clone(),
                id,
                published,
                story_id: Some(story),
                source_id: self.source_id,
                content_hash: keyed.content_hash.clone(),
                updated,
            });
        }
        plan.events.push(Event::Placed(plan.articles.len()));
        plan.articles.push(NewArticle {
            id,
            entry_id,
            keyed,
            text: keyed,
            published,
            updated,
            story,
            starts,
        });
        plan.appearances.push((keyed, id));
        Ok(())
    }

    /// The story that `article` starts.
    fn new_story(
        &self,
        id: i64,
        entry_id: &str,
        article: i64,
        published: i64,
        updated: i64,
    ) -> NewStory {
        let now = millis(self.now);
        NewStory {
            id,
            entry_id: entry_id.to_owned(),
            representative: article,
            published,
            updated,
            sort_at: story::placed_at(published, now, self.polled_before),
        }
    }

    /// Settles the stories of the fetch, replaying its events in feed order: which version
    /// represents each story the new articles join (read in one query for the stored ones),
    /// whether an edited article represented its story when it was edited, and how many
    /// articles are new or merged. A stored story that proves gone (another process's
    /// retention, while this process's index still held it) is started again by the first
    /// article that joined it, and the others join that one.
    async fn resolve(&mut self, plan: &mut Plan<'k>) -> Result<Settled, StoreError> {
        // Each story's representative: (article, source, published).
        let (mut reps, settled_stories) = self.representatives(plan).await?;
        let mut settled = Settled::default();
        let mut restarted: HashMap<i64, i64> = HashMap::new();
        let mut changed: HashSet<i64> = HashSet::new();
        for event in std::mem::take(&mut plan.events) {
            let i = match event {
                Event::Placed(i) => i,
                Event::Edited {
                    article,
                    story: Some(story),
                    updated,
                } => {
                    let story = restarted.get(&story).copied().unwrap_or(story);
                    match reps.get(&story) {
                        Some(rep) if rep.0 != article => {}
                        Some(_) => match plan.story(story) {
                            Some(new) => new.updated = new.updated.max(updated),
                            None => settled.edited.push((story, updated)),
                        },
                        None => settled.edited_if_representing.push((article, updated)),
                    }
                    continue;
                }
                Event::Edited { story: None, .. } => continue,
            };
            let a = &plan.articles[i];
            if a.starts {
                reps.insert(a.story, (a.id, self.source.to_owned(), a.published));
                self.counts.new += 1;
                continue;
            }
            let (id, published, placed) = (a.id, a.published, a.story);
            let story = restarted.get(&placed).copied().unwrap_or(placed);
            let story = match reps.get_mut(&story) {
                Some(rep) => {
                    // Its `updated` stays whichever version represents it: readers already
                    // have the story, and a re-run is not news.
                    let mine = Version {
                        article: id,
                        source: self.source,
                        published,
                    };
                    let theirs = Version {
                        article: rep.0,
                        source: &rep.1,
                        published: rep.2,
                    };
                    let prefer = &self.dedup.prefer;
                    let wins = match settled_stories.contains(&story) {
                        true => story::takes_over(prefer, &mine, &theirs),
                        false => story::represents(prefer, &mine, &theirs),
                    };
                    if wins {
                        *rep = (id, self.source.to_owned(), published);
                        changed.insert(story);
                    }
                    self.counts.merged += 1;
                    story
                }
                None => {
                    let new = Plan::next_id(&mut plan.story_ids)?;
                    let started = self.new_story(new, &a.entry_id, id, published, a.updated);
                    plan.stories.push(started);
                    reps.insert(new, (id, self.source.to_owned(), published));
                    restarted.insert(placed, new);
                    plan.articles[i].starts = true;
                    self.counts.new += 1;
                    new
                }
            };
            if story != placed {
                plan.articles[i].story = story;
                self.pending.refile(id, story);
            }
        }
        // Stories started here are written with their final representative; stored ones
        // are updated.
        for story in changed {
            let (article, _, published) = reps[&story];
            match plan.story(story) {
                Some(s) => (s.representative, s.published) = (article, published),
                None => settled.represented.push((story, article, published)),
            }
        }
        Ok(settled)
    }

    /// The representative of each stored story the articles of `plan` join: (article,
    /// source, published), by story; and which of those stories have settled (were first
    /// stored [`story::SETTLED_MS`] ago or more: readers have been served them).
    async fn representatives(
        &mut self,
        plan: &Plan<'k>,
    ) -> Result<(HashMap<i64, (i64, String, i64)>, HashSet<i64>), StoreError> {
        let started: HashSet<i64> = plan.stories.iter().map(|s| s.id).collect();
        let stored: HashSet<i64> = plan
            .articles
            .iter()
            .filter(|a| !a.starts && !started.contains(&a.story))
            .map(|a| a.story)
            .collect();
        let mut reps: HashMap<i64, (i64, String, i64)> = HashMap::new();
        let mut settled = HashSet::new();
        if !stored.is_empty() {
            let ids = json(&stored.into_iter().collect::<Vec<_>>());
            let rows: Vec<(i64, i64, String, i64, i64)> = on_tx!(self.tx, |e| sqlx::query_as(
                "SELECT st.id, st.representative, s.name, st.published, st.first_seen
                 FROM stories st
                 JOIN articles a ON a.id = st.representative
                 JOIN sources s ON s.id = a.source_id
                 WHERE st.id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))",
            )
            .bind(&ids)
            .fetch_all(e)
            .await)?;
            let now = millis(self.now);
            for (id, rep, source, published, first_seen) in rows {
                if first_seen <= now - story::SETTLED_MS {
                    settled.insert(id);
                }
                reps.insert(id, (rep, source, published));
            }
        }
        Ok((reps, settled))
    }
}
