//! One article page to its main text. The page is decoded, what the source's `remove`
//! selectors name is taken out, lazy pictures are made real, and the content is picked: by
//! the source's `content_selector`, else by dom_smoothie (a port of Readability.js, chosen on
//! 129 real pages: BENCHMARKS.md, "Full text"). It is sanitised exactly as feed HTML is,
//! relative addresses resolved against the page; the page's metadata (byline, lead picture,
//! published time, language) comes with it.

use chrono::{DateTime, Utc};
use dom_query::{Document, Matcher};
use url::Url;

use crate::config::ExtractOptions;
use crate::parse;

/// Elements of a page read at most: a larger page is refused, not parsed further.
const MAX_ELEMENTS: usize = 50_000;
/// Bytes of a page read at most (real article pages are well under 2 MB).
pub(crate) const MAX_PAGE: usize = 4 * 1024 * 1024;

/// An article as its page gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The main text, as sanitised HTML.
    pub content: String,
    /// The page's headline.
    pub title: String,
    /// Who wrote it, if the page says.
    pub byline: Option<String>,
    /// The lead picture's address, if the page names one.
    pub image: Option<String>,
    /// When it was published, if the page says.
    pub published: Option<DateTime<Utc>>,
    /// Its language (`en`, `fr-FR`), if the page says.
    pub language: Option<String>,
}

/// Why a page gave no article.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExtractError {
    /// A selector of the config that CSS does not read.
    #[error("{0:?} is not a CSS selector")]
    Selector(String),
    /// The page has no article text that extraction could find.
    #[error("no article text found on the page{0}")]
    NoArticle(&'static str),
    /// The page is larger than extraction reads.
    #[error(
        "the page is larger than extraction reads ({MAX_PAGE} bytes, {MAX_ELEMENTS} elements)"
    )]
    TooLarge,
    /// The page nests its elements deeper than a browser would read.
    #[error("the page nests its elements too deeply to be read")]
    TooDeep,
    /// The page's address is not one.
    #[error("{0:?} is not a web address")]
    Address(String),
}

/// The article of the page `body` (with its HTTP `content_type`, if any) found at `url`.
pub fn extract_article(
    body: &[u8],
    url: &str,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    extract_typed(body, None, url, options)
}

/// [`extract_article`], the page's character set read from `content_type` too.
pub(crate) fn extract_typed(
    body: &[u8],
    content_type: Option<&str>,
    url: &str,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let base = Url::parse(url).map_err(|_| ExtractError::Address(url.to_owned()))?;
    if body.len() > MAX_PAGE {
        return Err(ExtractError::TooLarge);
    }
    let html = parse::decode_html(body, content_type);
    // Deep nesting costs html5ever the square of its depth: such a page is not parsed.
    if parse::nests_too_deep(&html) {
        return Err(ExtractError::TooDeep);
    }
    let document = Document::from(html);
    for selector in &options.remove {
        let matcher =
            Matcher::new(selector).map_err(|_| ExtractError::Selector(selector.clone()))?;
        document.select_matcher(&matcher).remove();
    }
    make_lazy_pictures_real(&document);
    let picked = match &options.selector {
        Some(selector) => {
            let matcher =
                Matcher::new(selector).map_err(|_| ExtractError::Selector(selector.clone()))?;
            let found = document.select_matcher(&matcher);
            if found.is_empty() {
                return Err(ExtractError::NoArticle(
                    " (the content selector matched nothing)",
                ));
            }
            Some(found.html().to_string())
        }
        None => None,
    };
    let config = dom_smoothie::Config {
        max_elements_to_parse: MAX_ELEMENTS,
        ..Default::default()
    };
    let mut readability =
        dom_smoothie::Readability::with_document(document, Some(base.as_str()), Some(config))
            .map_err(|_| ExtractError::Address(url.to_owned()))?;
    // dom_smoothie counts the elements before it scores them: past the bound, the page is
    // refused whichever way its content is picked.
    let article = readability.parse();
    if let Err(dom_smoothie::ReadabilityError::TooManyElements(..)) = article {
        return Err(ExtractError::TooLarge);
    }
    let (content, meta) = match (picked, article) {
        (Some(picked), article) => (picked, article.ok()),
        (None, Ok(article)) => (article.content.to_string(), Some(article)),
        (None, Err(_)) => return Err(ExtractError::NoArticle("")),
    };
    let content = parse::clean_html(&content, &base);
    if parse::sanitised_text(&content).trim().is_empty() {
        return Err(ExtractError::NoArticle(""));
    }
    let plain = |s: Option<&String>| {
        s.map(|s| parse::sanitised_text(s).trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let Some(meta) = meta else {
        return Ok(Extracted {
            content,
            ..Default::default()
        });
    };
    Ok(Extracted {
        content,
        title: parse::sanitised_text(&meta.title).trim().to_owned(),
        byline: plain(meta.byline.as_ref()),
        image: meta
            .image
            .as_deref()
            .and_then(|i| base.join(i).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(String::from),
        published: meta.published_time.as_deref().and_then(parse::parse_date),
        language: plain(meta.lang.as_ref()).filter(|l| language_tag(l)),
    })
}

/// Whether `tag` has the shape of a language tag (BCP 47: `en`, `fr-FR`, `zh-Hant-TW`), as
/// `xml:lang` takes it.
fn language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    parts
        .next()
        .is_some_and(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()))
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Pictures that load their address from `data-src`, `data-original` or `data-srcset` by
/// script: the address put where a reader (who runs no script) finds it.
fn make_lazy_pictures_real(document: &Document) {
    let Ok(lazy) = Matcher::new("img[data-src], img[data-original], img[data-lazy-src], img[data-srcset], source[data-srcset]") else {
        return;
    };
    for node in document.select_matcher(&lazy).nodes() {
        let real = ["data-src", "data-original", "data-lazy-src"]
            .iter()
            .find_map(|a| node.attr(a).filter(|v| !v.trim().is_empty()));
        if let Some(src) = real {
            node.set_attr("src", &src);
        }
        if let Some(set) = node.attr("data-srcset").filter(|v| !v.trim().is_empty()) {
            node.set_attr("srcset", &set);
        }
    }
}
