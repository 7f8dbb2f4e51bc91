//! `GET /entries/{id}`: a story's page, at the address that is its entry id in every feed,
//! and `/entries/{id}.json`, the same for programs. Cached and served like the feeds, apart
//! from them, so that a crawler walking every story cannot push the feeds out of the cache.

use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::cache::Page;
use super::{Context, HttpError};
use crate::publish;

pub(super) fn routes() -> Router<Context> {
    Router::new().route("/entries/{file}", get(entry))
}

async fn entry(
    State(ctx): State<Context>,
    Path(file): Path<String>,
    request: Request,
) -> Result<Response, HttpError> {
    let (request, _) = request.into_parts();
    let (id, json) = match file.strip_suffix(".json") {
        Some(id) => (id, true),
        None => (file.as_str(), false),
    };
    // Entry ids are 32 hex digits: anything else is answered without a query.
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HttpError::NoSuchStory);
    }
    let generation = ctx.generation();
    let rendered = ctx
        .pages
        .get_or_build(file.clone(), generation, || async {
            let story = ctx.store.story(id).await?.ok_or(HttpError::NoSuchStory)?;
            let config = ctx.config();
            let (body, content_type) = if json {
                let url = config
                    .feed
                    .base_url
                    .join(&format!("entries/{id}"))
                    .map(String::from)
                    .unwrap_or_default();
                let body = serde_json::to_string_pretty(&publish::story_json(&url, &story))
                    .unwrap_or_default();
                (body, "application/json; charset=utf-8")
            } else {
                let body = publish::story_page(&config.feed.title, &story);
                (body, "text/html; charset=utf-8")
            };
            Ok(Page::new(body, story.changed, content_type))
        })
        .await?;
    Ok(ctx.answer(&request, &rendered))
}
