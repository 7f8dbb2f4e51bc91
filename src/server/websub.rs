//! The WebSub routes: `POST /websub`, our hub, where readers subscribe to our feeds; and
//! `GET`/`POST /websub/callback/{token}`, where outlets' hubs verify our subscriptions and
//! deliver their feeds. What they do is `websub`'s; a delivery is stored through `poll`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};

use super::{Context, HttpError};
use crate::poll::Poller;
use crate::websub::{Delivery, Hub, Request, Subscriber, Verification};

/// What the WebSub routes reach.
#[derive(Debug, Clone)]
pub(crate) struct WebSub {
    /// Our subscriptions at outlets' hubs.
    pub(crate) subscriber: Subscriber,
    /// Our own hub.
    pub(crate) hub: Hub,
    /// Stores what a hub pushes, as a poll's fetch is stored.
    pub(crate) poller: Poller,
    /// Deliveries read and stored at once.
    pub(crate) deliveries: std::sync::Arc<tokio::sync::Semaphore>,
}

/// How many deliveries are read and stored at once: each holds a body of up to
/// `[poll].max_body`.
pub(crate) const DELIVERIES_AT_ONCE: usize = 4;

pub(super) fn routes() -> Router<Context> {
    Router::new()
        .route("/websub", post(subscribe))
        .route("/websub/callback/{token}", get(verify).post(deliver))
}

fn answer(status: StatusCode, text: impl Into<String>) -> Response {
    let mut text = text.into();
    text.push('\n');
    (status, text).into_response()
}

/// No subscription at that callback.
const NO_SUCH_SUBSCRIPTION: HttpError = HttpError::NotFound("no such subscription");

/// The largest subscribe request read: a form of four short fields and a secret.
const MAX_SUBSCRIBE: usize = 8 * 1024;

/// A reader's subscribe or unsubscribe request: 202, its intent verified next. Nothing is
/// read of a request to a hub that is off; the form is read within [`super::BODY_DEADLINE`]
/// and [`MAX_SUBSCRIBE`] bytes.
async fn subscribe(
    State(ctx): State<Context>,
    request: axum::extract::Request,
) -> Result<Response, HttpError> {
    let off = HttpError::NotFound("this server runs no WebSub hub");
    let websub = ctx.websub.as_ref().ok_or(off)?;
    if !ctx.config().websub.hub {
        return Err(HttpError::NotFound("this server runs no WebSub hub"));
    }
    let (parts, body) = request.into_parts();
    let parts_client = parts.extensions.get::<super::ClientAddr>().copied();
    let body = super::read_body(body, MAX_SUBSCRIBE).await?;
    let request = axum::extract::Request::from_parts(parts, Body::from(body));
    let Form(form) =
        <Form<Request> as axum::extract::FromRequest<Context>>::from_request(request, &ctx)
            .await
            .map_err(|e| HttpError::BadRequest(e.body_text()))?;
    let client = parts_client.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0);
    match websub.hub.request(form, client).await {
        Ok(()) => Ok(answer(
            StatusCode::ACCEPTED,
            "accepted; the callback will be asked to verify",
        )),
        Err((status, why)) => Err(HttpError::Refused { status, why }),
    }
}

/// A hub verifying one of our subscriptions: the challenge echoed, or 404.
async fn verify(
    State(ctx): State<Context>,
    Path(token): Path<String>,
    query: Result<Query<Verification>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, HttpError> {
    let (Some(websub), Ok(Query(v))) = (&ctx.websub, query) else {
        return Err(NO_SUCH_SUBSCRIPTION);
    };
    let challenge = websub
        .subscriber
        .verify(&token, v)
        .await
        .ok_or(NO_SUCH_SUBSCRIPTION)?;
    let plain = [(header::CONTENT_TYPE, "text/plain")];
    Ok((StatusCode::OK, plain, challenge).into_response())
}

/// A hub delivering a source's feed: stored if its signature is good; acknowledged either
/// way (WebSub §8), so that a forger learns nothing.
async fn deliver(
    State(ctx): State<Context>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let websub = ctx.websub.as_ref().ok_or(NO_SUCH_SUBSCRIPTION)?;
    // Unknown callbacks are turned away before their bodies are read; known ones are read
    // within the deadline, then take turns to be stored.
    let subscription = websub
        .subscriber
        .receiving(&token)
        .await
        .ok_or(NO_SUCH_SUBSCRIPTION)?;
    // Read before taking a turn, within the deadline: a slow sender holds no turn.
    let limit = ctx.config().startup.limits.max_body;
    let body = super::read_body(body, usize::try_from(limit).unwrap_or(usize::MAX)).await?;
    let _turn = websub.deliveries.acquire().await;
    let delivery = websub.subscriber.delivery(subscription, &headers, &body);
    let (source, topic) = match delivery.await {
        Delivery::Rejected => return Ok(answer(StatusCode::ACCEPTED, "received")),
        Delivery::Accept { source, topic } => (source, topic),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match websub
        .poller
        .pushed(&source, &token, body.to_vec(), content_type, topic)
        .await
    {
        Ok(counts) => {
            tracing::info!(source = %source, new = counts.new, updated = counts.updated, merged = counts.merged, "stored a pushed feed");
            Ok(answer(StatusCode::OK, "stored"))
        }
        Err(why) => {
            // The hub cannot fix our storage or the outlet's feed: acknowledged, logged.
            tracing::warn!(source = %source, error = %why, "a pushed feed was not stored");
            Ok(answer(StatusCode::ACCEPTED, "received"))
        }
    }
}
