//! `GET /`: a small page naming the merged feed's three formats, with autodiscovery links so
//! that pasting the server's address into a feed reader finds them. (The feeds link here as
//! their web page.)

use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;

use super::Context;
use crate::parse::escape_html;
use crate::publish::Format;

pub(super) fn routes() -> Router<Context> {
    Router::new().route("/", get(index))
}

async fn index(State(ctx): State<Context>) -> Html<String> {
    let title = escape_html(&ctx.config.feed.title);
    let formats = [
        (Format::Atom, "Atom"),
        (Format::Rss, "RSS"),
        (Format::Json, "JSON Feed"),
    ];
    let mut alternates = String::new();
    let mut items = String::new();
    for (format, name) in formats {
        let mime = format.content_type().split(';').next().unwrap_or_default();
        let path = format.path();
        alternates.push_str(&format!(
            "<link rel=\"alternate\" type=\"{mime}\" title=\"{title} ({name})\" href=\"/{path}\">\n"
        ));
        items.push_str(&format!("<li><a href=\"/{path}\">{name}</a></li>\n"));
    }
    Html(format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n{alternates}</head>\n<body>\n<h1>{title}</h1>\n\
         <p>Subscribe in any feed reader:</p>\n<ul>\n{items}</ul>\n\
         <p><a href=\"/healthz\">Status</a></p>\n</body>\n</html>\n"
    ))
}
