//! `GET /metrics`: the daemon's counters and the store's gauges in Prometheus text format.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::{Context, HttpError};
use crate::metrics::Gauges;

pub(super) fn routes() -> Router<Context> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(ctx): State<Context>) -> Result<impl IntoResponse, HttpError> {
    let counters = ctx.metrics.counters();
    let totals = ctx.store.totals().await?;
    let states = ctx.store.source_states().await?;
    let config = ctx.config();
    let push: std::collections::HashMap<String, _> = ctx
        .store
        .push_subscriptions()
        .await?
        .into_iter()
        .map(|s| (s.source.clone(), s))
        .collect();
    let gauges = Gauges {
        database_bytes: ctx.store.file_size().await?,
        stories: totals.stories,
        articles: totals.articles,
        last_success: config
            .sources
            .iter()
            .map(|s| {
                let at = states
                    .get(&s.name)
                    .and_then(|st| st.last_success_at)
                    .map(|ms| ms as f64 / 1000.0);
                (s.name.clone(), at)
            })
            .collect(),
        config_rejected: ctx.live.rejected().is_some(),
        push: config
            .sources
            .iter()
            .map(|s| match push.get(&s.name) {
                Some(p) => (s.name.clone(), p.state.clone(), p.pushes, p.missed),
                None => (s.name.clone(), "none".to_owned(), 0, 0),
            })
            .collect(),
        hub_load: ctx.websub.as_ref().map_or((0, 0), |w| w.hub.load()),
        alerts: alert_gauges(&config, ctx.store.alert_states().await?),
        discarded: {
            let counts = ctx.store.discarded_counts().await?;
            config
                .sources
                .iter()
                .map(|s| (s.name.clone(), counts.get(&s.name).copied().unwrap_or(0)))
                .collect()
        },
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        counters.render(&gauges),
    ))
}

/// Each configured alert's deliveries by state.
fn alert_gauges(
    config: &crate::config::Config,
    states: Vec<crate::store::AlertState>,
) -> Vec<(String, &'static str, i64)> {
    let mut out = Vec::new();
    for alert in &config.alerts {
        let s = states
            .iter()
            .find(|s| s.alert == alert.name)
            .cloned()
            .unwrap_or_default();
        out.push((alert.name.clone(), "pending", s.pending));
        out.push((alert.name.clone(), "delivered", s.delivered));
        out.push((alert.name.clone(), "failed", s.failed));
    }
    out
}
