//! Every input that ever crashed feedmerge (found by the fuzzer, the property tests or the
//! corpus test) is kept in `tests/fixtures/crashes/` and goes through the whole
//! decode → parse → normalise → render path here: a result or an error, and well-formed feeds
//! from whatever parses.

use chrono::Utc;
use feedmerge::ParseError;
use feedmerge::{render, FeedMeta, Format};
use feedmerge::{Outlet, Story};

#[test]
fn every_input_that_ever_crashed_is_handled() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crashes");
    let base = url::Url::parse("https://feeds.example.com/feed.xml").expect("url");
    let site = url::Url::parse("https://merged.example/").expect("url");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("crashes folder") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        seen += 1;
        // The parser runs behind a panic guard, which would turn a crash into an error:
        // a crash must not come back even as that.
        let feed = match feedmerge::parse_feed(&bytes, None, &base) {
            Ok(feed) => feed,
            Err(ParseError::Crashed(e)) => panic!("{}: the parser crashed: {e}", path.display()),
            Err(_) => continue,
        };
        let stories: Vec<Story> = feed
            .articles
            .into_iter()
            .map(|a| {
                let outlet = Outlet {
                    name: "Outlet".into(),
                    feed_url: base.to_string(),
                    site_url: None,
                    link: a.link.clone(),
                    title: String::new(),
                    published: Utc::now(),
                };
                Story::of_article(a, "https://merged.example/entries/1", outlet, Utc::now())
            })
            .collect();
        let meta = FeedMeta {
            hubs: &[],
            query: None,
            title: "Merged",
            base_url: &site,
            path: "feed",
            page: 1,
            has_next: false,
        };
        for format in Format::ALL {
            let out = render(format, &meta, &stories)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let back = feed_rs::parser::parse(out.as_bytes());
            assert!(back.is_ok(), "{} as {format:?}: {back:?}", path.display());
        }
    }
    assert!(seen >= 1, "the crashes folder is empty");
}
