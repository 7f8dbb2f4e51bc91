//! The feeds service: which feeds are served (the merged feed, one per category, one per
//! `[[views]]` entry), which stories each page of each shows, and that page rendered. The HTTP
//! handlers, `feedmerge export` and retention (which keeps what the feeds show) all ask here,
//! so they cannot disagree.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{render, FeedLink, FeedMeta, Format, PublishError};
use crate::config::{categories, Config, View};
use crate::parse::sanitised_text;
use crate::query::{Entry, Query, Words};
use crate::store::{SearchOrder, Store, StoreError, Story};

/// `stories` as one page of a feed described by `meta`, in `format`, and when its content
/// last changed.
fn rendered(
    format: Format,
    meta: &FeedMeta,
    stories: &[Story],
) -> Result<(String, DateTime<Utc>), FeedError> {
    let last_modified = stories
        .iter()
        .map(|s| s.changed)
        .max()
        .unwrap_or_else(super::empty_since);
    Ok((render(format, meta, stories)?, last_modified))
}

/// Stories examined at most to fill one page of a filtered feed: a view that matches almost
/// nothing costs a bounded amount of work, once per change.
const SCAN_LIMIT: u32 = 20_000;
/// Stories read from the store at a time while filtering.
const CHUNK: u32 = 500;

/// A feed could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The feed could not be rendered.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// Which stories a feed holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    /// Every story: the merged feed.
    All,
    /// Stories carried by a source filed under this category.
    Category(&'a str),
    /// Stories that pass a view's filters.
    View(&'a View),
}

impl Scope<'_> {
    /// Whether `story` belongs in the feed, given each source's categories by name. A story
    /// counts as carried by every outlet that carries any version of it.
    pub(crate) fn admits(&self, story: &Story, categories: &HashMap<&str, &[String]>) -> bool {
        let outlets = || std::iter::once(&story.source).chain(&story.also);
        let filed_under = |category: &str| {
            outlets().any(|o| {
                categories
                    .get(o.name.as_str())
                    .is_some_and(|cs| cs.iter().any(|c| c.eq_ignore_ascii_case(category)))
            })
        };
        match self {
            Scope::All => true,
            Scope::Category(category) => filed_under(category),
            Scope::View(view) => {
                if !view.categories.is_empty() && !view.categories.iter().any(|c| filed_under(c)) {
                    return false;
                }
                if !view.sources.is_empty() && !outlets().any(|o| view.sources.contains(&o.name)) {
                    return false;
                }
                if view.include.is_empty() && view.exclude.is_empty() && view.query.is_none() {
                    return true;
                }
                let text = story_text(story);
                let matches = |re: &regex::Regex| re.is_match(&story.title) || re.is_match(&text);
                (view.include.is_empty() || view.include.iter().any(matches))
                    && !view.exclude.iter().any(matches)
                    && view
                        .query
                        .as_ref()
                        .is_none_or(|q| story_matches(q, story, &text))
            }
        }
    }
}

/// The plain text of `story`: the one stored with it, derived here only for the articles
/// stored before texts were kept.
pub(crate) fn story_text(story: &Story) -> std::borrow::Cow<'_, str> {
    match &story.text {
        Some(text) => std::borrow::Cow::Borrowed(text.as_str()),
        None => {
            let body = story.content.as_deref().or(story.summary.as_deref());
            std::borrow::Cow::Owned(sanitised_text(body.unwrap_or("")))
        }
    }
}

/// Whether `story`, whose plain text is `text`, matches `query`: every outlet carrying it
/// counts as its source.
pub(crate) fn story_matches(query: &Query, story: &Story, text: &str) -> bool {
    let outlets = std::iter::once(&story.source).chain(&story.also);
    let words = Words::default();
    let entry = Entry::new(
        (&story.title, text),
        &story.authors,
        story.link.as_deref(),
        &story.categories,
        outlets.map(|o| o.name.as_str()).collect(),
        &words,
    );
    query.matches(&entry)
}

/// The deepest page of a feed served (RFC 5005 archives): each page further costs the
/// database a longer scan, and a reader that wants more than this many pages back wants an
/// export (`feedmerge export`), not a feed.
pub(crate) const MAX_PAGE: u32 = 100;

/// One served feed: which stories it holds, and where.
#[derive(Debug, Clone)]
pub(crate) struct Feed<'a> {
    /// Which stories it holds.
    pub(crate) scope: Scope<'a>,
    /// Its path relative to the base URL, without extension (`feed`, `views/ukraine`).
    pub(crate) path: String,
}

/// The feeds of one config over one store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Feeds<'a> {
    store: &'a Store,
    config: &'a Config,
}

impl<'a> Feeds<'a> {
    /// The feeds `config` defines, of the stories in `store`.
    pub(crate) fn new(store: &'a Store, config: &'a Config) -> Feeds<'a> {
        Feeds { store, config }
    }

    /// The merged feed: every story.
    pub(crate) fn merged(&self) -> Feed<'a> {
        Feed {
            scope: Scope::All,
            path: "feed".into(),
        }
    }

    /// The feed of the category `name` (matched case-insensitively), if a source is filed
    /// under it.
    pub(crate) fn category(&self, name: &str) -> Option<Feed<'a>> {
        let c = categories(&self.config.sources)
            .into_iter()
            .find(|c| c.eq_ignore_ascii_case(name))?;
        Some(category_feed(c))
    }

    /// The view `name` (matched case-insensitively), if the config has it.
    pub(crate) fn view(&self, name: &str) -> Option<Feed<'a>> {
        let v = self
            .config
            .views
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))?;
        Some(view_feed(v))
    }

    /// Every served feed: the merged feed, then the categories, then the views.
    pub(crate) fn all(&self) -> Vec<Feed<'a>> {
        let categories = categories(&self.config.sources);
        std::iter::once(self.merged())
            .chain(categories.into_iter().map(category_feed))
            .chain(self.config.views.iter().map(view_feed))
            .collect()
    }

    /// Our WebSub hub, `<base_url>/websub`, if `[websub].hub` serves it.
    pub(crate) fn hub_url(&self) -> Option<String> {
        let base = &self.config.feed.base_url;
        let url = base
            .join("websub")
            .map_or_else(|_| base.to_string(), String::from);
        self.config.websub.hub.then_some(url)
    }

    /// The `Link` header of our feed at `topic` (WebSub discovery): our hub and the feed
    /// itself, if the hub is served.
    pub(crate) fn link_header(&self, topic: &str) -> Option<String> {
        let hub = self.hub_url()?;
        Some(format!("<{hub}>; rel=\"hub\", <{topic}>; rel=\"self\""))
    }

    /// The address of `feed`'s first page in `format`: its WebSub topic.
    pub(crate) fn topic_url(&self, feed: &Feed<'_>, format: Format) -> String {
        let base = &self.config.feed.base_url;
        base.join(&format!("{}.{}", feed.path, format.extension()))
            .map_or_else(|_| base.to_string(), String::from)
    }

    /// The feed and format whose first page's address is `url`: a WebSub topic of ours.
    pub(crate) fn topic(&self, url: &str) -> Option<(Feed<'a>, Format)> {
        self.all().into_iter().find_map(|feed| {
            Format::ALL
                .into_iter()
                .find(|format| self.topic_url(&feed, *format) == url)
                .map(|format| (feed, format))
        })
    }

    /// Every served feed as the river page lists it.
    pub(crate) fn links(&self) -> Vec<FeedLink> {
        let title = &self.config.feed.title;
        self.all()
            .into_iter()
            .map(|f| FeedLink {
                title: match f.scope {
                    Scope::All => title.clone(),
                    Scope::Category(c) => format!("Category: {c}"),
                    Scope::View(v) => v.title.clone(),
                },
                path: f.path,
            })
            .collect()
    }

    /// Page `page` (from 1) of `feed` in `format`, and when its content last changed.
    pub(crate) async fn page(
        &self,
        feed: &Feed<'_>,
        format: Format,
        page: u32,
    ) -> Result<(String, DateTime<Utc>), FeedError> {
        let per_page = self.page_size(feed.scope);
        let (stories, has_next) = self.select(feed.scope, page, per_page).await?;
        let has_next = has_next && page < MAX_PAGE;
        let title = match feed.scope {
            Scope::All => self.config.feed.title.clone(),
            Scope::Category(c) => format!("{}: {c}", self.config.feed.title),
            Scope::View(v) => v.title.clone(),
        };
        let hubs: Vec<String> = self.hub_url().into_iter().collect();
        let meta = FeedMeta {
            title: &title,
            hubs: &hubs,
            query: None,
            base_url: &self.config.feed.base_url,
            path: &feed.path,
            page,
            has_next,
        };
        rendered(format, &meta, &stories)
    }

    /// Page `page` of the stories `query` finds, in `order`, and whether more follow.
    pub(crate) async fn found(
        &self,
        query: &Query,
        order: SearchOrder,
        page: u32,
    ) -> Result<(Vec<Story>, bool), FeedError> {
        let per_page = self.config.feed.max_entries.max(1);
        let offset = (page.max(1) - 1).saturating_mul(per_page);
        let (stories, more) = self
            .store
            .search(query, order, offset, per_page, Utc::now())
            .await?;
        Ok((stories, more && page < MAX_PAGE))
    }

    /// Page `page` of the feed of a search (`written`: the query as typed) in `format`, and
    /// when its content last changed.
    pub(crate) async fn search_feed(
        &self,
        query: &Query,
        written: &str,
        order: SearchOrder,
        format: Format,
        page: u32,
    ) -> Result<(String, DateTime<Utc>), FeedError> {
        let (stories, has_next) = self.found(query, order, page).await?;
        // Each story's start, not its whole text: any query makes a feed, and thirty stories
        // of the longest texts made one of megabytes.
        let stories: Vec<Story> = stories
            .into_iter()
            .map(|mut story| {
                story.summary = Some(super::escape_html(&super::pages::excerpt(&story)));
                (story.content, story.text) = (None, None);
                story
            })
            .collect();
        let title = format!("{}: {written}", self.config.feed.title);
        let mut link_query = format!("q={}", super::encoded(written));
        if order == SearchOrder::Relevance {
            link_query.push_str("&sort=relevance");
        }
        let meta = FeedMeta {
            title: &title,
            hubs: &[],
            query: Some(&link_query),
            base_url: &self.config.feed.base_url,
            path: "search",
            page,
            has_next,
        };
        rendered(format, &meta, &stories)
    }

    /// The entry ids of every story on the first page of a served feed: what readers
    /// subscribed to see now, which retention keeps.
    pub(crate) async fn shown(&self) -> Result<HashSet<String>, FeedError> {
        let mut ids = HashSet::new();
        for feed in self.all() {
            let (stories, _) = self
                .select(feed.scope, 1, self.page_size(feed.scope))
                .await?;
            ids.extend(stories.into_iter().map(|s| s.entry_id));
        }
        Ok(ids)
    }

    /// Entries per page of the feed of `scope`.
    fn page_size(&self, scope: Scope<'_>) -> u32 {
        match scope {
            Scope::View(v) => v.max_entries,
            _ => self.config.feed.max_entries,
        }
        .max(1)
    }

    /// Page `page` of the stories in `scope`, and whether an older page follows.
    async fn select(
        &self,
        scope: Scope<'_>,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<Story>, bool), StoreError> {
        let skip = (page.max(1) - 1).saturating_mul(per_page);
        if let Scope::All = scope {
            let mut stories = self.store.stories_page(skip, per_page + 1).await?;
            let has_next = stories.len() > per_page as usize;
            stories.truncate(per_page as usize);
            return Ok((stories, has_next));
        }
        let categories: HashMap<&str, &[String]> = self
            .config
            .sources
            .iter()
            .map(|s| (s.name.as_str(), s.categories.as_slice()))
            .collect();
        let wanted = skip as usize + per_page as usize + 1;
        let mut matched = Vec::new();
        let mut offset = 0;
        while matched.len() < wanted && offset < SCAN_LIMIT {
            let chunk = self.store.stories_page(offset, CHUNK).await?;
            let exhausted = chunk.len() < CHUNK as usize;
            matched.extend(chunk.into_iter().filter(|s| scope.admits(s, &categories)));
            offset += CHUNK;
            if exhausted {
                break;
            }
        }
        let has_next = matched.len() >= wanted;
        let stories = matched
            .into_iter()
            .skip(skip as usize)
            .take(per_page as usize)
            .collect();
        Ok((stories, has_next))
    }
}

fn category_feed(c: &str) -> Feed<'_> {
    Feed {
        scope: Scope::Category(c),
        path: format!("categories/{}", segment(c)),
    }
}

fn view_feed(v: &View) -> Feed<'_> {
    Feed {
        scope: Scope::View(v),
        path: format!("views/{}", v.name),
    }
}

/// `text` as one URL path segment: everything but RFC 3986's unreserved characters escaped.
fn segment(text: &str) -> String {
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, ESCAPED).to_string()
}
