//! Items with too little text to compare join a story by their headline, through the CLI on
//! both engines: the headline-only copies of a wire story join it; a headline a source
//! repeats, and different texts under one headline, join nothing.

use crate::common::{stdout, ConfigBuilder, Engine, FeedServer, Resource, Setup, NEVER};

crate::on_both_engines!(
    headline_only_and_short_copies_join_the_story,
    a_headline_a_source_repeats_joins_nothing,
    different_texts_under_one_headline_stay_apart,
);

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An RSS 2.0 feed of (guid, title, link, RFC 2822 date, HTML description or none).
fn rss(items: &[(&str, &str, &str, &str, Option<&str>)]) -> Resource {
    let items: String = items
        .iter()
        .map(|(guid, title, link, date, html)| {
            let description = html
                .map(|h| format!("<description>{}</description>", esc(h)))
                .unwrap_or_default();
            format!(
                "<item><guid isPermaLink=\"false\">{guid}</guid><title>{}</title>\
                 <link>{link}</link><pubDate>{date}</pubDate>{description}</item>",
                esc(title)
            )
        })
        .collect();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
         <title>Outlet</title><link>https://outlet.example/</link><description>News</description>\
         {items}</channel></rss>"
    );
    Resource::new(body.into_bytes(), "application/rss+xml")
}

/// Every entry of the merged feed: (headline, links of the other outlets credited).
fn entries(setup: &Setup) -> Vec<(String, Vec<String>)> {
    let out = setup.feedmerge(&["export", "--format", "atom"]);
    assert!(out.status.success(), "{out:?}");
    let feed = atom_syndication::Feed::read_from(&out.stdout[..]).expect("valid Atom");
    let mut entries: Vec<(String, Vec<String>)> = feed
        .entries()
        .iter()
        .map(|e| {
            let mut related: Vec<String> = e
                .links()
                .iter()
                .filter(|l| l.rel() == "related")
                .map(|l| l.href().to_owned())
                .collect();
            related.sort();
            (e.title().as_str().to_owned(), related)
        })
        .collect();
    entries.sort();
    entries
}

fn fetch(setup: &Setup, source: &str) -> String {
    let out = setup.feedmerge(&["fetch", "--source", source]);
    assert!(out.status.success(), "{out:?}");
    stdout(&out)
}

const WIRE_TEXT: &str = "<p>The central bank raised its main interest rate by half a point on \
    Tuesday, the third increase this year, citing inflation that has stayed above target for \
    eighteen months and a labour market that shows few signs of cooling.</p><p>Markets had \
    expected the move; the currency barely changed after the announcement.</p>";

async fn headline_only_and_short_copies_join_the_story(engine: Engine) {
    let server = FeedServer::start();
    let date = "Tue, 03 Dec 2024 14:00:00 +0000";
    let later = "Tue, 03 Dec 2024 18:30:00 +0000";
    server.put(
        "/wire.rss",
        rss(&[(
            "w1",
            "Central bank raises rates by half a point",
            "https://wire.example/rates",
            date,
            Some(WIRE_TEXT),
        )]),
    );
    // Headline only, another link, hours later.
    server.put(
        "/brief.rss",
        rss(&[(
            "b1",
            "Central Bank raises rates by half a point",
            "https://brief.example/1",
            later,
            None,
        )]),
    );
    // A podcast-style item: a line of its own and a download link, far too short to compare,
    // the same in two outlets (the 394-character episode of the copies benchmark).
    let short =
        "<p>We interview Chris Matthieu of <a href=\"https://numly.example/\">Numly</a>.</p>\
                 <p><a href=\"https://show.example/31\">Click here for show notes.</a></p>\
                 <p><a href=\"https://show.example/31.mp3\">Download Podcast</a></p>";
    server.put(
        "/show.rss",
        rss(&[
            (
                "s31",
                "Episode 31 - Chris Matthieu",
                "https://show.example/31",
                date,
                Some(short),
            ),
            (
                "s32",
                "Episode 32 - Chris Matthieu",
                "https://show.example/32",
                date,
                Some(short),
            ),
            (
                "s2",
                "Central bank raises rates by half a point!",
                "https://show.example/rates",
                later,
                Some("<p>Rates: up.</p>"),
            ),
        ]),
    );
    server.put(
        "/mirror.rss",
        rss(&[(
            "m31",
            "Episode 31 - Chris Matthieu",
            "https://mirror.example/episodes/31",
            date,
            Some(short),
        )]),
    );
    let Some(setup) = ConfigBuilder::new()
        .schedule(NEVER)
        .source("Wire", &server.url("/wire.rss"))
        .source("Brief", &server.url("/brief.rss"))
        .source("Show", &server.url("/show.rss"))
        .source("Mirror", &server.url("/mirror.rss"))
        .on(engine)
        .await
    else {
        return;
    };
    for source in ["Wire", "Brief", "Show"] {
        fetch(&setup, source);
    }
    let out = fetch(&setup, "Mirror");
    assert!(
        out.contains("0 new, 0 updated, 0 unchanged, 1 merged"),
        "{out}"
    );
    assert_eq!(
        entries(&setup),
        [
            (
                "Central bank raises rates by half a point".to_owned(),
                vec![
                    "https://brief.example/1".to_owned(),
                    "https://show.example/rates".to_owned()
                ]
            ),
            (
                "Episode 31 - Chris Matthieu".to_owned(),
                vec!["https://mirror.example/episodes/31".to_owned()]
            ),
            // The title-number rule holds: another episode is another story.
            ("Episode 32 - Chris Matthieu".to_owned(), vec![]),
        ]
    );
    setup.assert_intact().await;
}

async fn a_headline_a_source_repeats_joins_nothing(engine: Engine) {
    let server = FeedServer::start();
    let headline = "Morning briefing: the five stories you need today";
    let (monday, tuesday) = (
        "Mon, 02 Dec 2024 06:00:00 +0000",
        "Tue, 03 Dec 2024 06:00:00 +0000",
    );
    // One outlet's daily column, the same headline every morning, headline only.
    server.put(
        "/daily.rss",
        rss(&[
            ("d2", headline, "https://daily.example/2", tuesday, None),
            ("d1", headline, "https://daily.example/1", monday, None),
        ]),
    );
    // Another outlet's own briefing under the same words, before and after the column was
    // first seen.
    for (path, guid, link) in [
        ("/before.rss", "x1", "https://before.example/briefing"),
        ("/after.rss", "y1", "https://after.example/briefing"),
    ] {
        server.put(path, rss(&[(guid, headline, link, tuesday, None)]));
    }
    let Some(setup) = ConfigBuilder::new()
        .schedule(NEVER)
        .source("Before", &server.url("/before.rss"))
        .source("Daily", &server.url("/daily.rss"))
        .source("After", &server.url("/after.rss"))
        .on(engine)
        .await
    else {
        return;
    };
    for source in ["Before", "Daily", "After"] {
        let out = fetch(&setup, source);
        assert!(out.contains(" 0 merged"), "{source}: {out}");
    }
    // The next morning's column, alone in its feed: still the column, not the others' story.
    let wednesday = "Wed, 04 Dec 2024 06:00:00 +0000";
    server.put(
        "/daily.rss",
        rss(&[("d3", headline, "https://daily.example/3", wednesday, None)]),
    );
    let out = fetch(&setup, "Daily");
    assert!(
        out.contains("1 new, 0 updated, 0 unchanged, 0 merged"),
        "{out}"
    );
    let all = entries(&setup);
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(all.iter().all(|(_, also)| also.is_empty()), "{all:?}");
}

async fn different_texts_under_one_headline_stay_apart(engine: Engine) {
    let server = FeedServer::start();
    let headline = "What we know so far about the investigation";
    let date = "Tue, 03 Dec 2024 14:00:00 +0000";
    let fire = "<p>Investigators said on Tuesday that the fire which destroyed the riverside \
        warehouse began in an electrical cabinet on the ground floor, and that no one was \
        inside when the roof collapsed shortly after midnight.</p>";
    let fraud = "<p>Prosecutors in the capital have questioned four former directors of the \
        collapsed lender about loans worth two billion that were approved without the board's \
        knowledge in the months before the bank failed last spring.</p>";
    server.put(
        "/a.rss",
        rss(&[("a1", headline, "https://a.example/fire", date, Some(fire))]),
    );
    server.put(
        "/b.rss",
        rss(&[("b1", headline, "https://b.example/fraud", date, Some(fraud))]),
    );
    let Some(setup) = ConfigBuilder::new()
        .schedule(NEVER)
        .source("A", &server.url("/a.rss"))
        .source("B", &server.url("/b.rss"))
        .on(engine)
        .await
    else {
        return;
    };
    fetch(&setup, "A");
    let out = fetch(&setup, "B");
    assert!(
        out.contains("1 new, 0 updated, 0 unchanged, 0 merged"),
        "{out}"
    );
    assert_eq!(entries(&setup).len(), 2);
}
