//! `GET /healthz`: whether the daemon is alive and polling, for container health checks and
//! monitoring.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{Context, HttpError};

pub(super) fn routes() -> Router<Context> {
    Router::new().route("/healthz", get(health))
}

async fn health(State(ctx): State<Context>) -> Result<Json<Value>, HttpError> {
    let totals = ctx.store.totals().await?;
    let config = ctx.config();
    let configured = config.sources.len();
    let enabled = config.sources.iter().filter(|s| s.enabled).count();
    let rejected = ctx.live.rejected();
    let unwritable = ctx.store.unwritable();
    Ok(Json(json!({
        // Still serving and polling on the config it had; the edit needs fixing.
        "status": if rejected.is_some() || unwritable.is_some() { "degraded" } else { "ok" },
        "config_error": rejected,
        // Polling is paused until the database can be written again; serving goes on.
        "storage_error": unwritable,
        "version": env!("CARGO_PKG_VERSION"),
        "sources": configured,
        "enabled_sources": enabled,
        "failing_sources": totals.failing,
        "articles": totals.articles,
        "stories": totals.stories,
        "last_poll": totals.last_poll.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    })))
}
