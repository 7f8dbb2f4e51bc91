//! Reading stories as the feeds publish them: each story's representative text with every
//! outlet that carries a version of it, in feed order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::engine::on_pool;
use super::{from_millis, millis, Store, StoreError};
use crate::parse::Article;

/// An outlet that carries an article.
#[derive(Debug, Clone, PartialEq)]
pub struct Outlet {
    /// The source's name in the config.
    pub name: String,
    /// Its feed URL.
    pub feed_url: String,
    /// Its web site, if the feed says.
    pub site_url: Option<String>,
    /// Its entry's link for this article.
    pub link: Option<String>,
}

/// A story as published: its representative article's text, with every outlet that carries
/// any version of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    /// Stable id for the published entry: the first version's, whichever versions join later.
    pub entry_id: String,
    /// Plain-text title.
    pub title: String,
    /// The article's web page.
    pub link: Option<String>,
    /// Sanitised HTML.
    pub summary: Option<String>,
    /// Sanitised HTML.
    pub content: Option<String>,
    /// Author names.
    pub authors: Vec<String>,
    /// Category terms.
    pub categories: Vec<String>,
    /// Publication time (the time first seen, for entries without one).
    pub published: DateTime<Utc>,
    /// The last change to the representative's text (not to the list of outlets).
    pub updated: DateTime<Utc>,
    /// The outlet whose version this is: the earliest published.
    pub source: Outlet,
    /// Every other outlet that carries the story, each once, in the order they were seen.
    pub also: Vec<Outlet>,
    /// The last time anything published about the story changed: its text, or an outlet
    /// joining. What `Last-Modified` is made of.
    pub changed: DateTime<Utc>,
}

impl Story {
    /// The story a single article would make, before it is stored: its text, credited to
    /// `outlet`, dated by the article (or `now`), under `entry_id`. What a feed looks like
    /// republished as it is (previews, tests, fuzzing).
    pub fn of_article(
        article: Article,
        entry_id: &str,
        outlet: Outlet,
        now: DateTime<Utc>,
    ) -> Story {
        Story {
            entry_id: entry_id.to_owned(),
            title: article.title,
            link: article.link,
            summary: article.summary,
            content: article.content,
            authors: article.authors,
            categories: article.categories,
            published: article.published.unwrap_or(now),
            updated: article.updated.unwrap_or(now),
            source: outlet,
            also: Vec::new(),
            changed: now,
        }
    }
}

#[derive(sqlx::FromRow)]
struct StoryRow {
    story_id: i64,
    source_id: i64,
    entry_id: String,
    title: String,
    link: Option<String>,
    summary: Option<String>,
    content: Option<String>,
    authors: String,
    categories: String,
    published: i64,
    updated: i64,
    source_name: String,
    source_url: String,
    site_url: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AppearanceRow {
    story_id: i64,
    source_id: i64,
    name: String,
    url: String,
    site_url: Option<String>,
    link: Option<String>,
    first_seen: i64,
}

impl Store {
    /// The newest `limit` stories, newest first, each with every outlet that carries it.
    pub async fn latest(&self, limit: u32) -> Result<Vec<Story>, StoreError> {
        self.stories(i64::MIN, 0, limit).await
    }

    /// `limit` stories after the newest `offset`, in feed order: newest first, each placed
    /// by its publication time, or by when it was first seen if it was dated in the future
    /// or back-dated.
    pub async fn stories_page(&self, offset: u32, limit: u32) -> Result<Vec<Story>, StoreError> {
        self.stories(i64::MIN, offset, limit).await
    }

    /// Stories published since `since` that more than one outlet carries, newest first.
    pub async fn multi_outlet(&self, since: DateTime<Utc>) -> Result<Vec<Story>, StoreError> {
        let mut stories = self.stories(millis(since), 0, u32::MAX).await?;
        stories.retain(|s| !s.also.is_empty());
        Ok(stories)
    }

    async fn stories(&self, since: i64, offset: u32, limit: u32) -> Result<Vec<Story>, StoreError> {
        let rows: Vec<StoryRow> = on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT st.id AS story_id, a.source_id, st.entry_id, a.title, a.link, a.summary,
                    a.content, a.authors, a.categories, st.published, st.updated,
                    s.name AS source_name, s.url AS source_url, s.site_url
             FROM stories st
             JOIN articles a ON a.id = st.representative
             JOIN sources s ON s.id = a.source_id
             WHERE st.sort_at >= $2
             ORDER BY st.sort_at DESC, st.id DESC
             LIMIT $1 OFFSET $3",
        )
        .bind(i64::from(limit))
        .bind(since)
        .bind(i64::from(offset))
        .fetch_all(p)
        .await)?;
        let ids = serde_json::Value::from(rows.iter().map(|r| r.story_id).collect::<Vec<_>>())
            .to_string();
        let appearances: Vec<AppearanceRow> = on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT a.story_id, ap.source_id, s.name, s.url, s.site_url, ap.link, ap.first_seen
             FROM articles a
             JOIN appearances ap ON ap.article_id = a.id
             JOIN sources s ON s.id = ap.source_id
             WHERE a.story_id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))
             ORDER BY ap.first_seen, s.name",
        )
        .bind(&ids)
        .fetch_all(p)
        .await)?;
        let mut by_story: HashMap<i64, Vec<AppearanceRow>> = HashMap::new();
        for a in appearances {
            by_story.entry(a.story_id).or_default().push(a);
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut seen = by_story.remove(&r.story_id).unwrap_or_default();
                let joined = seen.iter().map(|a| a.first_seen).max().unwrap_or(i64::MIN);
                let own_link = seen
                    .iter()
                    .find(|a| a.source_id == r.source_id)
                    .and_then(|a| a.link.clone())
                    .or_else(|| r.link.clone());
                // Each other outlet once, however many of its entries carry the story.
                let mut credited = std::collections::HashSet::from([r.source_id]);
                seen.retain(|a| credited.insert(a.source_id));
                Story {
                    entry_id: r.entry_id,
                    title: r.title,
                    link: r.link,
                    summary: r.summary,
                    content: r.content,
                    authors: serde_json::from_str(&r.authors).unwrap_or_default(),
                    categories: serde_json::from_str(&r.categories).unwrap_or_default(),
                    published: from_millis(r.published),
                    updated: from_millis(r.updated),
                    changed: from_millis(r.updated.max(joined)),
                    source: Outlet {
                        name: r.source_name,
                        feed_url: r.source_url,
                        site_url: r.site_url,
                        link: own_link,
                    },
                    also: seen
                        .into_iter()
                        .map(|a| Outlet {
                            name: a.name,
                            feed_url: a.url,
                            site_url: a.site_url,
                            link: a.link,
                        })
                        .collect(),
                }
            })
            .collect())
    }
}
