//! `GET /status`: every source's health, failing ones first (or sorted by any column with
//! `?sort=`), the totals, and articles per day over the last 30 days.

use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::{Context, HttpError};
use crate::publish::{self, Sort, SourceRow, StatusPage};
use crate::store::{from_millis, Health, SourceState};

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
    let push = ctx.store.push_states().await?;
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
    let mut rows: Vec<SourceRow> = config
        .sources
        .iter()
        .map(|source| {
            let st = states.get(&source.name);
            SourceRow {
                name: source.name.clone(),
                // The page is public: credentials in the address are not.
                url: publish::public_url(source.url.as_str()).unwrap_or_default(),
                health: Health::of(source, st),
                status: st.and_then(|s| s.last_status),
                last_success: st.and_then(|s| s.last_success_at).map(from_millis),
                next_poll: st.and_then(|s| s.next_due_at).map(from_millis),
                articles: articles.get(&source.name).copied().unwrap_or(0),
                problem: st.and_then(SourceState::problem),
                push: push
                    .get(&source.name)
                    .cloned()
                    .unwrap_or_else(|| "none".into()),
            }
        })
        .collect();
    publish::sort_rows(&mut rows, sort, reverse);
    let config_error = ctx.live.rejected();
    let storage_error = ctx.store.unwritable();
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
    })))
}
