//! `GET /feed.atom`, `/feed.rss`, `/feed.json`: the merged feed.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::{Context, HttpError};
use crate::publish::{self, FeedMeta, Format};

pub(super) fn routes() -> Router<Context> {
    Router::new()
        .route("/feed.atom", get(|ctx| feed(ctx, Format::Atom)))
        .route("/feed.rss", get(|ctx| feed(ctx, Format::Rss)))
        .route("/feed.json", get(|ctx| feed(ctx, Format::Json)))
}

async fn feed(State(ctx): State<Context>, format: Format) -> Result<impl IntoResponse, HttpError> {
    let body = render(&ctx, format).await?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body))
}

/// The merged feed in `format`, as served: also what `feedmerge export` prints.
pub async fn render(ctx: &Context, format: Format) -> Result<String, HttpError> {
    let articles = ctx.store.latest(ctx.config.feed.max_entries).await?;
    let meta = FeedMeta {
        title: &ctx.config.feed.title,
        base_url: &ctx.config.feed.base_url,
    };
    Ok(publish::render(format, &meta, &articles)?)
}
