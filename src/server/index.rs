//! `GET /`: the river page — the newest stories with their outlets, and every feed with
//! autodiscovery links, so that pasting the server's address into a feed reader finds them.
//! (The feeds link here as their web page.) Cached and served like the feeds.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::DateTime;

use super::cache::Page;
use super::{Context, HttpError};
use crate::publish::{self, Feeds};

/// Stories the river page lists: a screenful or few, whatever the feeds' page size.
const RIVER: u32 = 50;

pub(super) fn routes() -> Router<Context> {
    Router::new().route("/", get(river))
}

async fn river(State(ctx): State<Context>, headers: HeaderMap) -> Result<Response, HttpError> {
    let generation = ctx.generation();
    let page = ctx
        .feeds
        .get_or_build("river".into(), generation, || async {
            let stories = ctx.store.latest(RIVER).await?;
            let config = ctx.config();
            let feeds = Feeds::new(&ctx.store, &config).links();
            let changed = stories.iter().map(|s| s.changed).max();
            Ok(Page::new(
                publish::river(&config.feed.title, &stories, &feeds),
                changed.unwrap_or(DateTime::UNIX_EPOCH),
                "text/html; charset=utf-8",
            ))
        })
        .await?;
    Ok(page.respond(&headers))
}
