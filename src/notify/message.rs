//! What an alert sends about one story, in its format: the story as `/entries/<id>.json`
//! gives it with the alert's name (`json`), or a chat message (`text` for ntfy and the like,
//! `slack` for Slack-compatible incoming webhooks, `discord`). Every body is signed when the
//! alert has a secret: `X-Feedmerge-Signature: sha256=<hex>`, the HMAC-SHA256 of the body,
//! as WebSub signs its deliveries.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use serde_json::json;

use crate::config::{Alert, AlertFormat};
use crate::publish::story_json;
use crate::store::Story;

/// The header that carries a body's signature.
const SIGNATURE: &str = "x-feedmerge-signature";

/// The longest chat message sent, in characters (Discord takes 2,000).
const MAX_MESSAGE: usize = 1_800;

/// The body `alert` sends about `story`, whose page is `url`.
pub(crate) fn body(alert: &Alert, url: &str, story: &Story) -> String {
    match alert.format {
        AlertFormat::Json => {
            let mut body = story_json(url, story);
            body["alert"] = json!(alert.name);
            body.to_string()
        }
        AlertFormat::Text => line(alert, story, url),
        AlertFormat::Slack => {
            json!({ "text": slack_escaped(&line(alert, story, url)) }).to_string()
        }
        AlertFormat::Discord => json!({ "content": line(alert, story, url) }).to_string(),
    }
}

/// The headers of a delivery of `body` for `alert`: its type, and its signature.
pub(crate) fn headers(alert: &Alert, body: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let kind = match alert.format {
        AlertFormat::Text => "text/plain; charset=utf-8",
        _ => "application/json",
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    if alert.format == AlertFormat::Text {
        // ntfy's title: the alert's name, where it is a header value.
        if let Ok(v) = HeaderValue::from_str(&format!("feedmerge: {}", alert.name)) {
            headers.insert(HeaderName::from_static("title"), v);
        }
    }
    if let Some(secret) = &alert.secret {
        let signed = crate::websub::sign(secret.0.as_bytes(), body.as_bytes());
        if let Ok(v) = HeaderValue::from_str(&signed) {
            headers.insert(HeaderName::from_static(SIGNATURE), v);
        }
    }
    headers
}

/// A chat message: the headline, the outlets that carry the story, and its link.
fn line(alert: &Alert, story: &Story, url: &str) -> String {
    let mut outlets = vec![story.source.name.as_str()];
    outlets.extend(story.also.iter().map(|o| o.name.as_str()));
    let link = story.link.as_deref().unwrap_or(url);
    let headline: String = story.title.chars().take(MAX_MESSAGE).collect();
    format!(
        "{headline}\n{} · {}\n{link}",
        outlets.join(", "),
        alert.name
    )
}

/// `text` as Slack's message format wants it: `&`, `<` and `>` escaped.
fn slack_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
