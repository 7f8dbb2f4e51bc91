//! Search: `GET /search?q=…` (a page of the stories found, `&sort=relevance` for best match
//! first, `&page=N`) and `/search.{atom,rss,json}?q=…`, the same search as feeds, cached,
//! conditional and paged like every feed. A query that cannot be run is a 400 that says why;
//! beyond a few searches rendered at once, a 503 asks to try again.

use axum::extract::{Query as Params, Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::cache::Page;
use super::{Context, HttpError};
use crate::config::Config;
use crate::publish::{self, Feeds, Format, Results};
use crate::query::{Names, Query, QueryError};
use crate::store::SearchOrder;

pub(super) fn routes() -> Router<Context> {
    Router::new()
        .route("/search", get(page))
        .route("/search.atom", get(|c, p, h| feed(c, p, h, Format::Atom)))
        .route("/search.rss", get(|c, p, h| feed(c, p, h, Format::Rss)))
        .route("/search.json", get(|c, p, h| feed(c, p, h, Format::Json)))
}

/// `?q=…&sort=newest|relevance&page=N`.
#[derive(Debug, Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: SearchOrder,
    page: Option<String>,
}

/// What the 400 for parameters that are not a search's says.
const TAKES: &str = "a search takes q=, sort=newest|relevance and page=N";

/// The parameters, or the 400 for parameters that are not what a search takes.
type Asked = Result<Params<Search>, axum::extract::rejection::QueryRejection>;

/// The search asked for and its page, or the 400 (or 404, past the last page) for parameters
/// that are not a search's.
fn search_of(asked: Asked) -> Result<(Search, u32), HttpError> {
    let Params(mut search) = asked.map_err(|_| HttpError::BadRequest(TAKES.into()))?;
    // Queries that differ only in spaces are one search, rendered and kept once.
    search.q = search.q.split_whitespace().collect::<Vec<_>>().join(" ");
    let page = super::page_number(search.page.as_deref())?;
    Ok((search, page))
}

async fn page(
    State(ctx): State<Context>,
    asked: Asked,
    request: Request,
) -> Result<Response, HttpError> {
    let (request, _) = request.into_parts();
    let (search, page) = search_of(asked)?;
    let config = ctx.config();
    let sort = (search.sort == SearchOrder::Relevance).then_some("relevance");
    let results = Results {
        site: &config.feed.title,
        query: &search.q,
        sort,
        terms: &[],
        stories: &[],
        page,
        more: false,
    };
    let query = match parsed(&ctx, &search.q, &config).await? {
        Ok(query) => query,
        Err(e) => {
            let page = publish::results(&results, Some(&e.to_string()));
            return Err(HttpError::BadSearch(page));
        }
    };
    let key = format!("page {page} {sort:?} {}", search.q);
    let rendered = ctx
        .searches
        .get_or_build(key, ctx.generation(), || async {
            let _turn = ctx
                .searching
                .try_acquire()
                .map_err(|_| HttpError::Overloaded)?;
            let feeds = Feeds::new(&ctx.store, &config);
            let (stories, more) = feeds.found(&query, search.sort, page).await?;
            let terms = query.highlights();
            let found = Results {
                terms: &terms,
                stories: &stories,
                more,
                ..results
            };
            let changed = stories.iter().map(|s| s.changed).max();
            Ok(Page::new(
                publish::results(&found, None),
                changed.unwrap_or(chrono::DateTime::UNIX_EPOCH),
                "text/html; charset=utf-8",
            ))
        })
        .await?;
    Ok(ctx.answer(&request, &rendered))
}

async fn feed(
    State(ctx): State<Context>,
    asked: Asked,
    request: Request,
    format: Format,
) -> Result<Response, HttpError> {
    let (request, _) = request.into_parts();
    let (search, page) = search_of(asked)?;
    let config = ctx.config();
    let query = parsed(&ctx, &search.q, &config)
        .await?
        .map_err(|e| HttpError::BadRequest(e.to_string()))?;
    let key = format!(
        "{} {page} {:?} {}",
        format.extension(),
        search.sort,
        search.q
    );
    let rendered = ctx
        .searches
        .get_or_build(key, ctx.generation(), || async {
            let _turn = ctx
                .searching
                .try_acquire()
                .map_err(|_| HttpError::Overloaded)?;
            let feeds = Feeds::new(&ctx.store, &config);
            let (body, changed) = feeds
                .search_feed(&query, &search.q, search.sort, format, page)
                .await?;
            Ok(Page::new(body, changed, format.content_type()))
        })
        .await?;
    Ok(ctx.answer(&request, &rendered))
}

/// `text` as a query over the configured sources, or, when it names another, over the
/// sources whose stories are still stored too (a source taken out of the config keeps them):
/// the store is asked only then.
async fn parsed(
    ctx: &Context,
    text: &str,
    config: &Config,
) -> Result<Result<Query, QueryError>, HttpError> {
    let sources = config.source_names();
    match Query::parse(text, Names::search(&sources, &[])) {
        Err(QueryError::UnknownSource { .. }) => {
            let stored: Vec<String> = ctx.store.source_states().await?.into_keys().collect();
            Ok(Query::parse(text, Names::search(&sources, &stored)))
        }
        other => Ok(other),
    }
}
