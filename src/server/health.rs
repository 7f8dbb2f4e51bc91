//! `GET /healthz`: whether the daemon is alive (it answers, 200) and whether it is well
//! (`"status"`: `ok`, or `degraded` with the reason), for container health checks, readiness
//! probes and monitoring.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use std::time::Duration;

use chrono::Utc;

use super::{lock, Context, HttpError};
use crate::store::{from_millis, Totals};

pub(super) fn routes() -> Router<Context> {
    Router::new().route("/healthz", get(health))
}

/// How long the health check waits for the database. A probe must answer even when every
/// connection is busy: it then gives the last totals it read, and says the database is busy.
const DATABASE_WAIT: Duration = Duration::from_millis(500);

/// A source that has not succeeded for this many of its intervals is stale.
const STALE_INTERVALS: i32 = 3;

/// What the health check read from the database, kept for when it cannot read it in time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    totals: Totals,
    /// Enabled sources whose last attempt failed.
    failing: usize,
    /// Enabled sources that have not succeeded for [`STALE_INTERVALS`] of their intervals.
    stale: usize,
}

async fn health(State(ctx): State<Context>) -> Result<Json<Value>, HttpError> {
    let config = ctx.config();
    let read = async {
        let totals = ctx.store.totals().await?;
        let states = ctx.store.source_states().await?;
        let now = Utc::now();
        let (mut failing, mut stale) = (0, 0);
        for source in config.sources.iter().filter(|s| s.enabled) {
            let Some(st) = states.get(&source.name) else {
                continue;
            };
            let interval = chrono::Duration::from_std(config.plan_of(source).interval(now))
                .unwrap_or_default();
            if st.last_error.is_some() {
                failing += 1;
            } else if st
                .last_success_at
                .is_some_and(|t| now - from_millis(t) > interval * STALE_INTERVALS)
            {
                stale += 1;
            }
        }
        Ok::<_, HttpError>(Seen {
            totals,
            failing,
            stale,
        })
    };
    let (seen, busy) = match tokio::time::timeout(DATABASE_WAIT, read).await {
        Ok(seen) => {
            let seen = seen?;
            *lock(&ctx.last_seen) = Some(seen);
            (seen, false)
        }
        Err(_) => match *lock(&ctx.last_seen) {
            Some(seen) => (seen, true),
            None => return Err(HttpError::Busy),
        },
    };
    let totals = seen.totals;
    let configured = config.sources.len();
    let enabled = config.sources.iter().filter(|s| s.enabled).count();
    let unhealthy = seen.failing + seen.stale;
    // More than the configured share of the enabled sources failing or stale.
    let sources_degraded =
        enabled > 0 && unhealthy as f64 > config.poll.degraded_share * enabled as f64;
    let rejected = ctx.live.rejected();
    let unwritable = ctx.store.unwritable();
    let degraded = rejected.is_some() || unwritable.is_some() || busy || sources_degraded;
    Ok(Json(json!({
        // Still serving: "degraded" says something needs a person (the fields below say
        // what). The answer is 200 either way: the daemon is alive.
        "status": if degraded { "degraded" } else { "ok" },
        // Every database connection was busy for longer than the check waits: the counts
        // below are the last ones read.
        "database_busy": busy,
        // Still serving and polling on the config it had; the edit needs fixing.
        "config_error": rejected,
        // Polling is paused until the database can be written again; serving goes on.
        "storage_error": unwritable,
        "version": env!("CARGO_PKG_VERSION"),
        "sources": configured,
        "enabled_sources": enabled,
        "failing_sources": seen.failing,
        "stale_sources": seen.stale,
        // Whether more than `[poll].degraded_share` of the enabled sources fail or are stale.
        "sources_degraded": sources_degraded,
        "articles": totals.articles,
        "stories": totals.stories,
        "last_poll": totals.last_poll.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    })))
}
