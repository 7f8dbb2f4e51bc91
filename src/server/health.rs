//! `GET /healthz`: whether the daemon is alive and polling, for container health checks and
//! monitoring.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use std::time::Duration;

use super::{lock, Context, HttpError};

pub(super) fn routes() -> Router<Context> {
    Router::new().route("/healthz", get(health))
}

/// How long the health check waits for the database. A probe must answer even when every
/// connection is busy: it then gives the last totals it read, and says the database is busy.
const DATABASE_WAIT: Duration = Duration::from_millis(500);

async fn health(State(ctx): State<Context>) -> Result<Json<Value>, HttpError> {
    let (totals, busy) = match tokio::time::timeout(DATABASE_WAIT, ctx.store.totals()).await {
        Ok(totals) => {
            let totals = totals?;
            *lock(&ctx.last_totals) = Some(totals);
            (totals, false)
        }
        Err(_) => match *lock(&ctx.last_totals) {
            Some(totals) => (totals, true),
            None => return Err(HttpError::Busy),
        },
    };
    let config = ctx.config();
    let configured = config.sources.len();
    let enabled = config.sources.iter().filter(|s| s.enabled).count();
    let rejected = ctx.live.rejected();
    let unwritable = ctx.store.unwritable();
    Ok(Json(json!({
        // Still serving and polling on the config it had; the edit needs fixing.
        "status": if rejected.is_some() || unwritable.is_some() || busy { "degraded" } else { "ok" },
        // Every database connection was busy for longer than the check waits: the counts
        // below are the last ones read.
        "database_busy": busy,
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
