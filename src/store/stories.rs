//! Reading stories as the feeds publish them: each story's representative text with every
//! outlet that carries a version of it, in feed order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::engine::on_pool;
use super::{from_millis, json, media_of, millis, Store, StoreError};
use crate::parse::{Article, Media};

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
    /// Its entry's own headline.
    pub title: String,
    /// When it says it published its entry (when it was first seen, if it does not say).
    pub published: DateTime<Utc>,
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
    /// The plain text of the content, else of the summary; `None` for articles stored before
    /// it was kept (their text is derived from the HTML when it is needed).
    pub text: Option<String>,
    /// Author names.
    pub authors: Vec<String>,
    /// Category terms.
    pub categories: Vec<String>,
    /// The representative's attached files and picture; if it has no picture, the first
    /// other version's that has one stands in.
    pub media: Media,
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
    /// The language of its text, where its page said (full text).
    pub language: Option<String>,
}

impl Story {
    /// The story a single article would make, before it is stored: its text, credited to
    /// `outlet` (whose headline and time become the article's), dated by the article (or
    /// `now`), under `entry_id`. What a feed looks like republished as it is (previews,
    /// tests, fuzzing).
    pub fn of_article(
        article: Article,
        entry_id: &str,
        mut outlet: Outlet,
        now: DateTime<Utc>,
    ) -> Story {
        let published = article.published.unwrap_or(now);
        outlet.title = article.title.clone();
        outlet.published = published;
        Story {
            entry_id: entry_id.to_owned(),
            title: article.title,
            link: article.link,
            summary: article.summary,
            content: article.content,
            text: Some(article.text),
            authors: article.authors,
            categories: article.categories,
            media: article.media,
            published,
            updated: article.updated.unwrap_or(now),
            source: outlet,
            also: Vec::new(),
            changed: now,
            language: None,
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
    plain_text: Option<String>,
    authors: String,
    categories: String,
    media: Option<String>,
    published: i64,
    updated: i64,
    source_name: String,
    source_url: String,
    site_url: Option<String>,
    /// The article's full text, read from its page, and what the page said of it.
    full_text: Option<String>,
    full_byline: Option<String>,
    full_image: Option<String>,
    full_language: Option<String>,
    full_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct AppearanceRow {
    story_id: i64,
    source_id: i64,
    name: String,
    url: String,
    site_url: Option<String>,
    link: Option<String>,
    title: String,
    published: i64,
    first_seen: i64,
    media: Option<String>,
}

/// Which stories to read.
enum Which<'a> {
    /// `limit` after the newest `offset`, of those placed at `since` or later.
    Page { since: i64, offset: u32, limit: u32 },
    /// The one published under this entry id.
    Entry(&'a str),
    /// These, by story id, in this order.
    Ids(&'a [i64]),
}

impl Store {
    /// The newest `limit` stories, newest first, each with every outlet that carries it.
    pub async fn latest(&self, limit: u32) -> Result<Vec<Story>, StoreError> {
        self.stories_page(0, limit).await
    }

    /// The story published under `entry_id`, if it is (still) stored.
    pub async fn story(&self, entry_id: &str) -> Result<Option<Story>, StoreError> {
        Ok(self.stories(Which::Entry(entry_id)).await?.pop())
    }

    /// `limit` stories after the newest `offset`, in feed order: newest first, each placed
    /// by its publication time, or by when it was first seen if it was dated in the future
    /// or back-dated.
    pub async fn stories_page(&self, offset: u32, limit: u32) -> Result<Vec<Story>, StoreError> {
        self.stories(Which::Page {
            since: i64::MIN,
            offset,
            limit,
        })
        .await
    }

    /// The stories `ids`, in that order (those no longer stored left out).
    pub(crate) async fn stories_by_id(&self, ids: &[i64]) -> Result<Vec<Story>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.stories(Which::Ids(ids)).await
    }

    /// Stories published since `since` that more than one outlet carries, newest first.
    pub async fn multi_outlet(&self, since: DateTime<Utc>) -> Result<Vec<Story>, StoreError> {
        let mut stories = self
            .stories(Which::Page {
                since: millis(since),
                offset: 0,
                limit: u32::MAX,
            })
            .await?;
        stories.retain(|s| !s.also.is_empty());
        Ok(stories)
    }

    /// The rows of the stories `which` names, in its order.
    async fn story_rows(&self, which: Which<'_>) -> Result<Vec<StoryRow>, StoreError> {
        const COLUMNS: &str = "SELECT st.id AS story_id, a.source_id, st.entry_id, a.title,
                    a.link, a.summary, a.content, a.plain_text, a.authors, a.categories, a.media, st.published,
                    st.updated, s.name AS source_name, s.url AS source_url, s.site_url,
                    f.content AS full_text, f.byline AS full_byline, f.image AS full_image,
                    f.language AS full_language, f.done_at AS full_at
             FROM stories st
             JOIN articles a ON a.id = st.representative
             JOIN sources s ON s.id = a.source_id
             LEFT JOIN full_texts f ON f.article_id = a.id AND f.done_at IS NOT NULL";
        Ok(match which {
            Which::Page {
                since,
                offset,
                limit,
            } => {
                let sql = format!(
                    "{COLUMNS} WHERE st.sort_at >= $2
                     ORDER BY st.sort_at DESC, st.id DESC LIMIT $1 OFFSET $3"
                );
                on_pool!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
                    sql.clone()
                ))
                .bind(i64::from(limit))
                .bind(since)
                .bind(i64::from(offset))
                .fetch_all(p)
                .await)?
            }
            Which::Entry(entry_id) => {
                let sql = format!("{COLUMNS} WHERE st.entry_id = $1");
                on_pool!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
                    sql.clone()
                ))
                .bind(entry_id)
                .fetch_all(p)
                .await)?
            }
            Which::Ids(ids) => {
                let sql = format!(
                    "{COLUMNS} WHERE st.id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))"
                );
                let list = json(ids);
                let mut rows: Vec<StoryRow> = on_pool!(&self.db, |p| sqlx::query_as(
                    sqlx::AssertSqlSafe(sql.clone())
                )
                .bind(&list)
                .fetch_all(p)
                .await)?;
                let place: HashMap<i64, usize> =
                    ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
                rows.sort_by_key(|r| place.get(&r.story_id).copied().unwrap_or(usize::MAX));
                rows
            }
        })
    }

    /// Every appearance of the stories of `rows`, by story, first seen first.
    async fn appearances(
        &self,
        rows: &[StoryRow],
    ) -> Result<HashMap<i64, Vec<AppearanceRow>>, StoreError> {
        let ids = json(&rows.iter().map(|r| r.story_id).collect::<Vec<_>>());
        let appearances: Vec<AppearanceRow> = on_pool!(&self.db, |p| sqlx::query_as(
            "SELECT a.story_id, ap.source_id, s.name, s.url, s.site_url, ap.link, ap.title,
                    COALESCE(ap.published, ap.first_seen) AS published, ap.first_seen, a.media
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
        Ok(by_story)
    }

    async fn stories(&self, which: Which<'_>) -> Result<Vec<Story>, StoreError> {
        let rows = self.story_rows(which).await?;
        let mut by_story = self.appearances(&rows).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut seen = by_story.remove(&r.story_id).unwrap_or_default();
                let joined = seen.iter().map(|a| a.first_seen).max().unwrap_or(i64::MIN);
                let own = seen.iter().find(|a| a.source_id == r.source_id);
                let source = Outlet {
                    link: own.and_then(|a| a.link.clone()).or_else(|| r.link.clone()),
                    title: own.map_or_else(|| r.title.clone(), |a| a.title.clone()),
                    published: from_millis(own.map_or(r.published, |a| a.published)),
                    name: r.source_name,
                    feed_url: r.source_url,
                    site_url: r.site_url,
                };
                let mut media = media_of(r.media.as_deref());
                if media.image.is_none() {
                    // Another version's picture stands in: the first seen that has one; else
                    // the lead picture of the article's page.
                    media.image = seen
                        .iter()
                        .find_map(|a| media_of(a.media.as_deref()).image)
                        .or_else(|| {
                            r.full_image.clone().map(|url| crate::parse::Image {
                                url,
                                width: None,
                                height: None,
                            })
                        });
                }
                // With the full text read from its page, that is the content, and the feed's
                // own text its summary.
                let (summary, content) = match r.full_text {
                    Some(full) => (r.summary.or(r.content), Some(full)),
                    None => (r.summary, r.content),
                };
                let mut authors: Vec<String> = serde_json::from_str(&r.authors).unwrap_or_default();
                if authors.is_empty() {
                    authors.extend(r.full_byline);
                }
                // Each other outlet once, however many of its entries carry the story.
                let mut credited = std::collections::HashSet::from([r.source_id]);
                seen.retain(|a| credited.insert(a.source_id));
                Story {
                    entry_id: r.entry_id,
                    title: r.title,
                    link: r.link,
                    summary,
                    content,
                    text: r.plain_text,
                    authors,
                    categories: serde_json::from_str(&r.categories).unwrap_or_default(),
                    media,
                    published: from_millis(r.published),
                    updated: from_millis(r.updated),
                    changed: from_millis(r.updated.max(joined).max(r.full_at.unwrap_or(i64::MIN))),
                    language: r.full_language,
                    source,
                    also: seen
                        .into_iter()
                        .map(|a| Outlet {
                            name: a.name,
                            feed_url: a.url,
                            site_url: a.site_url,
                            link: a.link,
                            title: a.title,
                            published: from_millis(a.published),
                        })
                        .collect(),
                }
            })
            .collect())
    }
}
