//! The last step of storing one fetch's articles: every row planned and settled written in
//! as few statements as it takes (see `ingest`).

use std::collections::HashSet;

use super::{media_json, NewArticle, Plan, Settled};
use crate::store::engine::{on_tx, write_rows};
use crate::store::search::Indexed;
use crate::store::{json, millis, StoreError};

impl<'k> super::Ingest<'_, '_, 'k> {
    /// Writes the planned rows: articles, the stories they start, the representatives that
    /// changed and appearances, each in as few statements as it takes; and leaves the
    /// articles' search entries, sketches and headlines to the group's end.
    pub(super) async fn write(
        &mut self,
        plan: &Plan<'k>,
        settled: &Settled,
    ) -> Result<(), StoreError> {
        let now = millis(self.now);
        let source_id = self.source_id;
        // Articles and stories point at each other. Written in an order where every row's
        // references exist when it is (a new story's articles first, without their story,
        // then the story, then the articles' story): while a deferred reference is missing,
        // SQLite checks every new row against the tables that refer to it, some of which
        // have no index for that.
        let started: HashSet<i64> = plan.stories.iter().map(|s| s.id).collect();
        let is_new = |n: &NewArticle| started.contains(&n.story);
        write_rows!(
            self.tx,
            "INSERT INTO articles (id, entry_id, source_id, canonical_link, link, title,
                 summary, content, authors, categories, published, updated, first_seen,
                 content_hash, story_id, media, plain_text) ",
            plan.articles,
            |b, n| {
                let a = &n.text.article;
                let link = n.text.canonical_link.as_ref();
                b.push_bind(n.id)
                    .push_bind(&n.entry_id)
                    .push_bind(source_id)
                    .push_bind(link.or(n.keyed.canonical_link.as_ref()))
                    .push_bind(&a.link)
                    .push_bind(&a.title)
                    .push_bind(&a.summary)
                    .push_bind(&a.content)
                    .push_bind(json(&a.authors))
                    .push_bind(json(&a.categories))
                    .push_bind(n.published)
                    .push_bind(n.updated)
                    .push_bind(now)
                    .push_bind(&n.text.content_hash)
                    .push_bind((!is_new(n)).then_some(n.story))
                    .push_bind(media_json(&a.media))
                    .push_bind(&a.text);
            }
        );
        self.group.index(
            plan.articles
                .iter()
                .map(|n| Indexed::terms(n.id, n.story, &n.text.terms)),
        );
        write_rows!(
            self.tx,
            "INSERT INTO stories (id, entry_id, representative, published, updated, first_seen,
                 sort_at) ",
            plan.stories,
            |b, s| {
                b.push_bind(s.id)
                    .push_bind(&s.entry_id)
                    .push_bind(s.representative)
                    .push_bind(s.published)
                    .push_bind(s.updated)
                    .push_bind(now)
                    .push_bind(s.sort_at);
            }
        );
        let in_new: Vec<&NewArticle> = plan.articles.iter().filter(|n| is_new(n)).collect();
        write_rows!(
            self.tx,
            "UPDATE articles SET story_id = v.column2 FROM (",
            ") AS v WHERE articles.id = v.column1",
            in_new,
            |b, n| {
                b.push_bind(n.id).push_bind(n.story);
            }
        );
        self.settle(settled).await?;
        // Left to the group's end: nothing of the group reads them (see `GroupRows`).
        for n in &plan.articles {
            self.group
                .placed(n.id, n.story, n.published, source_id, n.keyed);
        }
        write_rows!(
            self.tx,
            "INSERT INTO appearances (source_id, entry_key, article_id, link, title, first_seen,
                 published) ",
            plan.appearances,
            |b, row| {
                let (keyed, article) = row;
                b.push_bind(source_id)
                    .push_bind(&keyed.key)
                    .push_bind(*article)
                    .push_bind(&keyed.article.link)
                    .push_bind(&keyed.article.title)
                    .push_bind(now)
                    .push_bind(keyed.article.published.map(millis));
            }
        );
        Ok(())
    }

    /// Writes what the fetch changed of stories already stored (see [`Settled`]): the
    /// versions that now represent them, and when they were last edited.
    async fn settle(&mut self, settled: &Settled) -> Result<(), StoreError> {
        for &(story, article, published) in &settled.represented {
            on_tx!(self.tx, |e| sqlx::query(
                "UPDATE stories SET representative = $2, published = $3 WHERE id = $1",
            )
            .bind(story)
            .bind(article)
            .bind(published)
            .execute(e)
            .await
            .map(drop))?;
        }
        for &(story, updated) in &settled.edited {
            on_tx!(self.tx, |e| sqlx::query(
                "UPDATE stories SET updated = CASE WHEN updated > $2 THEN updated ELSE $2 END
                 WHERE id = $1",
            )
            .bind(story)
            .bind(updated)
            .execute(e)
            .await
            .map(drop))?;
        }
        for &(article, updated) in &settled.edited_if_representing {
            on_tx!(self.tx, |e| sqlx::query(
                "UPDATE stories SET updated = CASE WHEN updated > $2 THEN updated ELSE $2 END
                 WHERE id = (SELECT story_id FROM articles WHERE id = $1)
                     AND representative = $1",
            )
            .bind(article)
            .bind(updated)
            .execute(e)
            .await
            .map(drop))?;
        }
        Ok(())
    }
}
