//! `GET /sources.opml`: the configured sources as OPML 2.0, grouped by category.

use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::DateTime;

use super::cache::Page;
use super::{Context, HttpError};
use crate::publish;

pub(super) fn routes() -> Router<Context> {
    Router::new().route("/sources.opml", get(opml))
}

async fn opml(State(ctx): State<Context>, request: Request) -> Result<Response, HttpError> {
    let (request, _) = request.into_parts();
    let generation = ctx.generation();
    let page = ctx
        .feeds
        .get_or_build("sources.opml".into(), generation, || async {
            let config = ctx.config();
            let title = format!("{}: sources", config.feed.title);
            let edited = std::fs::metadata(&config.path)
                .and_then(|m| m.modified())
                .map(DateTime::<chrono::Utc>::from)
                .unwrap_or(DateTime::UNIX_EPOCH);
            Ok(Page::new(
                publish::opml(&title, &config.sources),
                edited,
                "text/x-opml; charset=utf-8",
            ))
        })
        .await?;
    Ok(ctx.answer(&request, &page))
}
