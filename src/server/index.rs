//! `GET /`: the river page — the newest stories with their outlets, a page at a time
//! (`?page=N`), a search box, and every feed with autodiscovery links, so that pasting the
//! server's address into a feed reader finds them. (The feeds link here as their web page.)
//! Cached and served like the feeds.

use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::DateTime;

use super::cache::Page;
use super::feeds::{page_of, Asked};
use super::{Context, HttpError};
use crate::publish::{self, Empty, Feeds, River};

/// Stories the river page lists: a screenful or few, whatever the feeds' page size.
const RIVER: u32 = 50;

pub(super) fn routes() -> Router<Context> {
    Router::new().route("/", get(river))
}

async fn river(
    State(ctx): State<Context>,
    paging: Asked,
    request: Request,
) -> Result<Response, HttpError> {
    let (request, _) = request.into_parts();
    let page = page_of(paging)?;
    let generation = ctx.generation();
    let rendered = ctx
        .feeds
        .get_or_build(format!("river {page}"), generation, || async {
            let mut stories = ctx
                .store
                .stories_page((page - 1) * RIVER, RIVER + 1)
                .await?;
            let more = stories.len() > RIVER as usize;
            stories.truncate(RIVER as usize);
            if stories.is_empty() && page > 1 {
                return Err(HttpError::NotFound("no such page"));
            }
            let empty = match stories.is_empty() {
                true => why_empty(&ctx).await?,
                false => Empty::NothingCarried,
            };
            let config = ctx.config();
            let feeds = Feeds::new(&ctx.store, &config).links();
            let changed = stories.iter().map(|s| s.changed).max();
            let river = River {
                stories: &stories,
                page,
                more,
                empty,
            };
            Ok(Page::new(
                publish::river(&config.feed.title, &river, &feeds),
                changed.unwrap_or(DateTime::UNIX_EPOCH),
                "text/html; charset=utf-8",
            ))
        })
        .await?;
    Ok(ctx.answer(&request, &rendered))
}

/// Why no story is stored: no source polled yet, every one polled failing, or none carried
/// any.
async fn why_empty(ctx: &Context) -> Result<Empty, HttpError> {
    let states = ctx.store.source_states().await?;
    let polled = states.values().filter(|s| s.last_attempt_at.is_some());
    Ok(match polled.clone().count() {
        0 => Empty::NotPolled,
        _ if polled.clone().all(|s| s.last_success_at.is_none()) => Empty::AllFailing,
        _ => Empty::NothingCarried,
    })
}
