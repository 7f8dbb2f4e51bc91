//! The feeds: `GET /feed.{atom,rss,json}` (every story), `/categories/{name}.{ext}` (stories
//! carried by a source filed under the category) and `/views/{name}.{ext}` (the `[[views]]`
//! of the config), each paged with `?page=N` (RFC 5005). Rendered feeds are cached until the
//! store changes (see `cache`).

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::cache::{Page, Rendered};
use super::{Context, HttpError};
use crate::publish::{Feed, Feeds, Format};

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
    page: Option<String>,
}

/// The paging asked for, or the 400 for a query string that cannot be read.
pub(super) type Asked = Result<Query<Paging>, axum::extract::rejection::QueryRejection>;

/// The page `asked` names (see [`super::page_number`]).
pub(super) fn page_of(asked: Asked) -> Result<u32, HttpError> {
    let Query(paging) = asked.map_err(|_| HttpError::BadRequest("a feed takes page=N".into()))?;
    super::page_number(paging.page.as_deref())
}

// Each handler takes the request itself last, and reads its headers there: extracting a
// `HeaderMap` would copy them all, for every request. Its body is set aside at once: what
// is held across an await must be shareable, which a body is not.

async fn all(
    State(ctx): State<Context>,
    paging: Asked,
    request: Request,
    format: Format,
) -> Result<Response, HttpError> {
    let config = ctx.config();
    let feeds = Feeds::new(&ctx.store, &config);
    let (request, _) = request.into_parts();
    serve(&ctx, &feeds, &feeds.merged(), format, paging, &request).await
}

async fn category(
    State(ctx): State<Context>,
    Path(file): Path<String>,
    paging: Asked,
    request: Request,
) -> Result<Response, HttpError> {
    let (request, _) = request.into_parts();
    named(&ctx, &file, paging, &request, |f, n| f.category(n)).await
}

async fn view(
    State(ctx): State<Context>,
    Path(file): Path<String>,
    paging: Asked,
    request: Request,
) -> Result<Response, HttpError> {
    let (request, _) = request.into_parts();
    named(&ctx, &file, paging, &request, |f, n| f.view(n)).await
}

/// The feed that `file` (`name.atom`) names, found among the feeds by `find`; 404 if none.
async fn named(
    ctx: &Context,
    file: &str,
    paging: Asked,
    request: &Parts,
    find: impl for<'a> Fn(&Feeds<'a>, &str) -> Option<Feed<'a>>,
) -> Result<Response, HttpError> {
    let config = ctx.config();
    let feeds = Feeds::new(&ctx.store, &config);
    match split(file).and_then(|(name, format)| Some((find(&feeds, name)?, format))) {
        Some((feed, format)) => serve(ctx, &feeds, &feed, format, paging, request).await,
        None => Err(HttpError::NotFound("no such feed")),
    }
}

/// `name.atom` → (`name`, Atom).
fn split(file: &str) -> Option<(&str, Format)> {
    let (name, ext) = file.rsplit_once('.')?;
    let format = Format::ALL.into_iter().find(|f| f.extension() == ext)?;
    Some((name, format))
}

/// A page of `feed` (one of `feeds`), from the cache or rendered now, answered as the
/// request's headers ask (a 304 for a current conditional GET).
async fn serve(
    ctx: &Context,
    feeds: &Feeds<'_>,
    feed: &Feed<'_>,
    format: Format,
    paging: Asked,
    request: &Parts,
) -> Result<Response, HttpError> {
    let page = page_of(paging)?;
    let key = format!("{}.{}?{page}", feed.path, format.extension());
    let generation = ctx.generation();
    let rendered: Arc<Rendered> = ctx
        .feeds
        .get_or_build(key, generation, || async move {
            let (body, last_modified) = feeds.page(feed, format, page).await?;
            // WebSub discovery (§4): our hub, and the topic (the first page) it pushes.
            let link = feeds.link_header(&feeds.topic_url(feed, format));
            Ok(Page::new(body, last_modified, format.content_type()).with_link(link))
        })
        .await?;
    Ok(ctx.answer(request, &rendered))
}
