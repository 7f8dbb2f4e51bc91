//! `GET /status`: every source's health, failing ones first (or sorted by any column with
//! `?sort=`), the totals, and articles per day over the last 30 days.

use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::{Context, HttpError};
use crate::config::Config;
use crate::publish::{self, Sort, StatusPage};
use crate::store::AlertState;

/// Days the chart covers.
const DAYS: u32 = 30;

pub(super) fn routes() -> Router<Context> {
    Router::new().route("/status", get(status))
}

/// `?sort=health|name|last_success|articles|next_poll&reverse=true`.
#[derive(Debug, Deserialize)]
struct Order {
    #[serde(default)]
    sort: Sort,
    #[serde(default)]
    reverse: bool,
}

async fn status(
    State(ctx): State<Context>,
    order: Result<Query<Order>, axum::extract::rejection::QueryRejection>,
) -> Result<Html<String>, HttpError> {
    // An unknown `sort` falls back to the default order rather than failing the page.
    let Order { sort, reverse } = order.map_or(
        Order {
            sort: Sort::default(),
            reverse: false,
        },
        |Query(o)| o,
    );
    let now = chrono::Utc::now();
    let config = ctx.config();
    let totals = ctx.store.totals().await?;
    let states = ctx.store.source_states().await?;
    let articles = ctx.store.articles_by_source().await?;
    let push = ctx.store.push_subscriptions().await?;
    let since = now - chrono::Days::new(u64::from(DAYS - 1));
    let per_day = ctx
        .store
        .articles_per_day(
            since
                .date_naive()
                .and_time(chrono::NaiveTime::MIN)
                .and_utc(),
        )
        .await?;
    let full = ctx.store.full_text_states().await?;
    let discarded = ctx.store.discarded_counts().await?;
    let mut rows = publish::source_rows(
        &config.sources,
        &states,
        &articles,
        &discarded,
        &push,
        &full,
    );
    publish::sort_rows(&mut rows, sort, reverse);
    let config_error = ctx.live.rejected();
    let storage_error = ctx.store.unwritable();
    let paused_readers = ctx
        .websub
        .as_ref()
        .map(|w| w.hub.paused())
        .unwrap_or_default();
    Ok(Html(publish::status(&StatusPage {
        title: &config.feed.title,
        now,
        totals: &totals,
        config_error: config_error.as_deref(),
        storage_error: storage_error.as_deref(),
        per_day: &per_day,
        days: DAYS,
        sources: &rows,
        sort,
        reversed: reverse,
        paused_readers: &paused_readers,
        alerts: &alert_rows(&config, ctx.store.alert_states().await?),
    })))
}

/// Each configured alert with its deliveries (none yet, for an alert that matched nothing).
fn alert_rows(config: &Config, states: Vec<AlertState>) -> Vec<publish::AlertRow> {
    config
        .alerts
        .iter()
        .map(|a| publish::AlertRow {
            name: a.name.clone(),
            target: a.target.shown(),
            state: states
                .iter()
                .find(|s| s.alert == a.name)
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}
