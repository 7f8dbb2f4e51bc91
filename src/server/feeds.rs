//! The feeds: `GET /feed.{atom,rss,json}` (every story), `/categories/{name}.{ext}` (stories
//! carried by a source filed under the category) and `/views/{name}.{ext}` (the `[[views]]`
//! of the config), each paged with `?page=N` (RFC 5005). Rendered feeds are cached until the
//! store changes (see `cache`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::DateTime;
use serde::Deserialize;

use super::cache::Rendered;
use super::{Context, HttpError};
use crate::publish::{self, FeedMeta, Format, Scope};
use crate::store::Story;

/// Stories examined at most to fill one page of a filtered feed: a view that matches almost
/// nothing costs a bounded amount of work, once per change.
const SCAN_LIMIT: u32 = 20_000;
/// Stories read from the store at a time while filtering.
const CHUNK: u32 = 500;

pub(super) fn routes() -> Router<Context> {
    Router::new()
        .route("/feed.atom", get(|ctx, q, h| all(ctx, q, h, Format::Atom)))
        .route("/feed.rss", get(|ctx, q, h| all(ctx, q, h, Format::Rss)))
        .route("/feed.json", get(|ctx, q, h| all(ctx, q, h, Format::Json)))
        .route("/categories/{file}", get(category))
        .route("/views/{file}", get(view))
}

/// `?page=N`.
#[derive(Debug, Deserialize)]
pub(super) struct Paging {
    page: Option<u32>,
}

async fn all(
    State(ctx): State<Context>,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
    format: Format,
) -> Result<Response, HttpError> {
    serve(&ctx, Scope::All, "feed", format, paging, &headers).await
}

async fn category(
    State(ctx): State<Context>,
    Path(file): Path<String>,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let Some((name, format)) = split(&file) else {
        return Ok(not_found());
    };
    let config = ctx.config();
    let known = crate::config::categories(&config.sources)
        .into_iter()
        .find(|c| c.eq_ignore_ascii_case(name));
    match known {
        Some(c) => {
            let path = format!("categories/{}", super::segment(c));
            serve(&ctx, Scope::Category(c), &path, format, paging, &headers).await
        }
        None => Ok(not_found()),
    }
}

async fn view(
    State(ctx): State<Context>,
    Path(file): Path<String>,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let Some((name, format)) = split(&file) else {
        return Ok(not_found());
    };
    let config = ctx.config();
    match config
        .views
        .iter()
        .find(|v| v.name.eq_ignore_ascii_case(name))
    {
        Some(v) => {
            let path = format!("views/{}", v.name);
            serve(&ctx, Scope::View(v), &path, format, paging, &headers).await
        }
        None => Ok(not_found()),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such feed\n").into_response()
}

/// `name.atom` → (`name`, Atom).
fn split(file: &str) -> Option<(&str, Format)> {
    let (name, ext) = file.rsplit_once('.')?;
    let format = Format::ALL.into_iter().find(|f| f.extension() == ext)?;
    Some((name, format))
}

async fn serve(
    ctx: &Context,
    scope: Scope<'_>,
    path: &str,
    format: Format,
    paging: Paging,
    headers: &HeaderMap,
) -> Result<Response, HttpError> {
    let page = paging.page.unwrap_or(1).max(1);
    let rendered = feed(ctx, scope, path, format, page).await?;
    Ok(rendered.respond(headers))
}

/// A feed, from the cache or rendered now.
async fn feed(
    ctx: &Context,
    scope: Scope<'_>,
    path: &str,
    format: Format,
    page: u32,
) -> Result<Arc<Rendered>, HttpError> {
    let key = format!("{path}.{}?{page}", format.extension());
    let generation = ctx.store.generation();
    ctx.feeds
        .get_or_build(key, generation, || async move {
            let (body, last_modified) = render_page(ctx, scope, path, format, page).await?;
            Ok(Rendered::new(body, last_modified, format.content_type()))
        })
        .await
}

/// Renders one page of a feed, and says when its content last changed.
async fn render_page(
    ctx: &Context,
    scope: Scope<'_>,
    path: &str,
    format: Format,
    page: u32,
) -> Result<(String, DateTime<chrono::Utc>), HttpError> {
    let config = ctx.config();
    let per_page = page_size(&config, scope);
    let (stories, has_next) = select(ctx, scope, page, per_page).await?;
    let title = match scope {
        Scope::All => config.feed.title.clone(),
        Scope::Category(c) => format!("{}: {c}", config.feed.title),
        Scope::View(v) => v.title.clone(),
    };
    let meta = FeedMeta {
        title: &title,
        base_url: &config.feed.base_url,
        path,
        page,
        has_next,
    };
    let last_modified = stories
        .iter()
        .map(|s| s.changed)
        .max()
        .unwrap_or(DateTime::UNIX_EPOCH);
    Ok((publish::render(format, &meta, &stories)?, last_modified))
}

/// Entries per page of the feed of `scope`.
fn page_size(config: &crate::config::Config, scope: Scope<'_>) -> u32 {
    match scope {
        Scope::View(v) => v.max_entries,
        _ => config.feed.max_entries,
    }
    .max(1)
}

/// Page `page` of the stories in `scope`, and whether an older page follows.
async fn select(
    ctx: &Context,
    scope: Scope<'_>,
    page: u32,
    per_page: u32,
) -> Result<(Vec<Story>, bool), HttpError> {
    let skip = (page - 1).saturating_mul(per_page);
    if let Scope::All = scope {
        let mut stories = ctx.store.stories_page(skip, per_page + 1).await?;
        let has_next = stories.len() > per_page as usize;
        stories.truncate(per_page as usize);
        return Ok((stories, has_next));
    }
    let config = ctx.config();
    let categories: HashMap<&str, &[String]> = config
        .sources
        .iter()
        .map(|s| (s.name.as_str(), s.categories.as_slice()))
        .collect();
    let wanted = skip as usize + per_page as usize + 1;
    let mut matched = Vec::new();
    let mut offset = 0;
    while matched.len() < wanted && offset < SCAN_LIMIT {
        let chunk = ctx.store.stories_page(offset, CHUNK).await?;
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

/// The merged feed's first page in `format`, as served: also what `feedmerge export` prints.
pub async fn render(ctx: &Context, format: Format) -> Result<String, HttpError> {
    Ok(render_page(ctx, Scope::All, "feed", format, 1).await?.0)
}

/// The entry ids of every story on the first page of a served feed (the merged feed, each
/// category and each view): what readers subscribed to see now, which retention keeps.
pub async fn shown(ctx: &Context) -> Result<std::collections::HashSet<String>, HttpError> {
    let config = ctx.config();
    let categories = crate::config::categories(&config.sources);
    let scopes = std::iter::once(Scope::All)
        .chain(categories.into_iter().map(Scope::Category))
        .chain(config.views.iter().map(Scope::View));
    let mut ids = std::collections::HashSet::new();
    for scope in scopes {
        let (stories, _) = select(ctx, scope, 1, page_size(&config, scope)).await?;
        ids.extend(stories.into_iter().map(|s| s.entry_id));
    }
    Ok(ids)
}
